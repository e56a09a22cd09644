import type { INodeProperties, IWebhookDescription } from 'n8n-workflow';
import { PROVIDERS, ROUTES, routePattern, type Route } from '../../lib';

/**
 * Every path sits under <n8n>/webhook/<webhookId>/<Path parameter>/; that prefix is the tracking base
 * URL Send Campaign needs. The route parameter name tells the routes apart.
 */
// n8n 2.x routes ":param" paths only when registered as full paths: it stores the evaluated path
// (primary key: path + method) with the node's webhook id and matches requests on
// <webhookId>/<path>. Prefixing the Path parameter keeps each trigger's stored paths its own, the
// way n8n's Webhook node does; with an empty Path n8n drops the leading "/".
const PATH_PREFIX = '={{$parameter["path"]}}/';
/**
 * n8n-workflow's WEBHOOK_RESOLVERS (a registered symbol, so no import: older n8n ignores it). n8n 2.x
 * resolves a field carrying its exact template this way instead of in an expression isolate, once
 * per webhook description on every request; with N8N_EXPRESSION_ENGINE_LAZY_ACQUIRE=true a request
 * then builds no isolate at all (docs/production.md).
 */
const WEBHOOK_RESOLVERS = Symbol.for('n8n.webhookDescriptionResolvers');
const hook = (httpMethod: string, path: string): IWebhookDescription => {
	const template = PATH_PREFIX + path;
	return {
		name: 'default',
		httpMethod,
		responseMode: 'onReceived',
		path: template,
		...(path.includes(':') ? { isFullPath: true } : {}),
		[WEBHOOK_RESOLVERS]: {
			path: { template, resolve: (parameters: { path?: unknown }) => `${String(parameters.path ?? '')}/${path}` },
		},
	};
};

export const MARKETING_WEBHOOKS: IWebhookDescription[] = (Object.keys(ROUTES) as Route[]).flatMap((route) =>
	ROUTES[route].methods.map((method) => hook(method, routePattern(route))),
);

export const properties: INodeProperties[] = [
	{
		displayName: `Paths under this node's production URL (…/webhook/&lt;webhook ID&gt;/&lt;Path&gt;): <b>${ROUTES.events.path}</b> (POST CRM/site/form events), <b>${ROUTES.browser.path}</b> (the page snippet and its events: Browser Events below), ${PROVIDERS.map((p) => `<b>${ROUTES.esp.path}/${p}</b>`).join(', ')}, the tracking paths ${ROUTES.open.path}, ${ROUTES.click.path}, ${ROUTES.unsubscribe.path}, and ${ROUTES.confirm.path} (double opt-in confirmation). Use …/webhook/&lt;webhook ID&gt;/&lt;Path&gt; as Send Campaign's Tracking Base URL.`,
		name: 'notice',
		type: 'notice',
		default: '',
	},
	{
		displayName: 'Path',
		name: 'path',
		type: 'string',
		default: '',
		placeholder: 'shop-eu',
		description:
			'Prefix of every path of this trigger, so several Marketing Webhook Triggers (one per workspace) each get their own tracking URLs. n8n keeps one trigger per path, so give each trigger a different one. Letters, digits, "-" and "_", no slashes at the ends; empty serves the paths directly under the webhook ID.',
	},
	{
		displayName: 'Start the Workflow For',
		name: 'emit',
		type: 'multiOptions',
		default: ['events', 'esp', 'unsubscribes'],
		description:
			'Which hits start this workflow. Every hit is recorded in the contact store either way, so Contact Triggers see all of them.',
		options: [
			{
				name: 'Browser Events',
				value: 'browser',
				description: 'Identifications, and events of identified visitors, from the page snippet',
			},
			{ name: 'Clicks', value: 'clicks', description: 'Tracked link clicks (one execution per click)' },
			{
				name: 'Confirmations',
				value: 'confirmations',
				description: 'Double opt-in confirmations (a pending contact became subscribed)',
			},
			{ name: 'CRM, Site and Form Events', value: 'events' },
			{
				name: 'ESP Events',
				value: 'esp',
				description: 'Delivered, bounced, complained, opened, clicked, unsubscribed from the ESP',
			},
			{ name: 'Opens', value: 'opens', description: 'Open pixel hits (one execution per open)' },
			{ name: 'Unsubscribes', value: 'unsubscribes', description: 'One-click and confirmed unsubscribes' },
		],
	},
	{
		// In the node, not the credential: none of it is secret (the site key is in every page), and it
		// belongs to this trigger's site.
		displayName: 'Browser Events',
		name: 'browserEvents',
		type: 'collection',
		placeholder: 'Add Setting',
		default: {},
		description: `Page views and form sign-ups straight from your site, through the snippet served at <b>${ROUTES.browser.path}</b>. Off until Site Key and Allowed Origins are set.`,
		options: [
			{
				displayName: 'Allowed Event Names',
				name: 'allowedEvents',
				type: 'string',
				default: '',
				placeholder: 'page_viewed, form_submitted',
				description:
					'Comma-separated: the only event names pages may send. Empty: any name not reserved by the pack ("$…").',
			},
			{
				displayName: 'Allowed Origins',
				name: 'allowedOrigins',
				type: 'string',
				default: '',
				placeholder: 'https://www.example.com, https://shop.example.com',
				description: 'Comma-separated origins whose pages may send events; any other origin is refused',
			},
			{
				displayName: 'Max Body Size (Bytes)',
				name: 'maxBodyBytes',
				type: 'number',
				default: 8192, // BROWSER_DEFAULTS (the linter wants a literal)
				typeOptions: { minValue: 256 },
			},
			{
				displayName: 'Requests per Minute per IP',
				name: 'perIpPerMinute',
				type: 'number',
				default: 300, // BROWSER_DEFAULTS (the linter wants a literal)
				typeOptions: { minValue: 1 },
			},
			{
				displayName: 'Requests per Minute per Visitor',
				name: 'perVisitorPerMinute',
				type: 'number',
				default: 60, // BROWSER_DEFAULTS (the linter wants a literal)
				typeOptions: { minValue: 1 },
			},
			{
				displayName: 'Site Key',
				name: 'siteKey',
				type: 'string',
				default: '',
				placeholder: 'pk_shop_eu',
				description:
					"A public key the snippet sends (data-site-key); not a secret, it is in your pages. Tells your site's requests from stray ones.",
			},
		],
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Confirmation Link Validity (Days)',
				name: 'confirmLinkDays',
				type: 'number',
				default: 7,
				typeOptions: { minValue: 0.01 },
				description: 'How long a double opt-in confirmation link works after its mail was sent',
			},
			{
				displayName: 'Extra Scanner User Agents',
				name: 'botPatterns',
				type: 'string',
				default: '',
				description: 'Comma-separated user-agent fragments treated as link scanners, on top of the built-in list',
			},
			{
				displayName: 'Machine Window (Seconds)',
				name: 'machineWindowSeconds',
				type: 'number',
				default: 5,
				typeOptions: { minValue: 0 },
				description: 'Opens and clicks this soon after the send are counted as machine hits',
			},
			{
				displayName: 'Max Events per Request',
				name: 'maxBatch',
				type: 'number',
				default: 1000,
				typeOptions: { minValue: 1 },
			},
			{
				displayName: 'Sender Name',
				name: 'senderName',
				type: 'string',
				default: '',
				description: 'Shown on the unsubscribe pages',
			},
		],
	},
];
