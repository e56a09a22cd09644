import {
	NodeConnectionTypes,
	type ICredentialTestFunctions,
	type ICredentialsDecrypted,
	type IDataObject,
	type INodeCredentialTestResult,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
	type IWebhookDescription,
	type IWebhookFunctions,
	type IWebhookResponseData,
} from 'n8n-workflow';
import { PROVIDERS, ROUTES, routeOfParams, routePattern, WebhookHandler, webhookSecretsProblems, type Route, type WebhookConfig, type WebhookSecrets } from '../../lib';
import { CREDENTIAL_NAME, leaseStore, testContactStoreCredential } from '../shared/store';

/**
 * Every path sits under <n8n>/webhook/<webhookId>/<Path parameter>/; that prefix is the tracking base
 * URL Send Campaign needs. The route parameter name tells the routes apart.
 */
// n8n 2.x routes ":param" paths only when registered as full paths: it stores the evaluated path
// (primary key: path + method) with the node's webhook id and matches requests on
// <webhookId>/<path>. Prefixing the Path parameter keeps each trigger's stored paths its own, the
// way n8n's Webhook node does; with an empty Path n8n drops the leading "/".
const PATH_PREFIX = '={{$parameter["path"]}}/';
const hook = (httpMethod: string, path: string): IWebhookDescription => ({
	name: 'default',
	httpMethod,
	responseMode: 'onReceived',
	path: PATH_PREFIX + path,
	...(path.includes(':') ? { isFullPath: true } : {}),
});

export const MARKETING_WEBHOOKS: IWebhookDescription[] = (Object.keys(ROUTES) as Route[]).flatMap((route) =>
	ROUTES[route].methods.map((method) => hook(method, routePattern(route))),
);

const EMIT_OF: Record<string, (event: IDataObject) => boolean> = {
	events: (e) => e.source === 'events',
	esp: (e) => e.source === 'esp',
	unsubscribes: (e) => e.source === 'tracking' && e.type === 'unsubscribed',
	opens: (e) => e.source === 'tracking' && e.type === 'opened',
	clicks: (e) => e.source === 'tracking' && e.type === 'clicked',
};

function secretsFrom(c: IDataObject | undefined): WebhookSecrets {
	if (!c) return {};
	const s = (name: string) => (typeof c[name] === 'string' && c[name] !== '' ? (c[name] as string) : undefined);
	return {
		sharedSecret: s('sharedSecret'),
		sharedSecretHeader: s('sharedSecretHeader')?.toLowerCase(),
		hmacSecret: s('hmacSecret'),
		hmacHeader: s('hmacHeader')?.toLowerCase(),
		sendgridPublicKey: s('sendgridPublicKey'),
		mailgunSigningKey: s('mailgunSigningKey'),
		postmarkUser: s('postmarkUser'),
		postmarkPassword: s('postmarkPassword'),
		brevoToken: s('brevoToken'),
		snsTopicArns: (s('snsTopicArns') ?? '').split(',').map((a) => a.trim()).filter(Boolean),
	};
}

/** The settings are only used to check incoming requests, so the test checks them, not a connection. */
async function testMarketingWebhookCredential(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
	const problems = webhookSecretsProblems(secretsFrom(credential.data));
	return problems.length > 0 ? { status: 'Error', message: problems.join('. ') } : { status: 'OK', message: 'Settings are valid' };
}

type RawRequest = {
	method: string;
	headers: Record<string, string | string[] | undefined>;
	params?: Record<string, string>;
	query?: Record<string, unknown>;
	body?: unknown;
	rawBody?: Buffer;
	readRawBody?: () => Promise<void>;
};

export class MarketingWebhookTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Marketing Webhook Trigger',
		name: 'marketingWebhookTrigger',
		icon: { light: 'file:marketingWebhookTrigger.svg', dark: 'file:marketingWebhookTrigger.dark.svg' },
		group: ['trigger'],
		version: 1,
		subtitle: '={{ "path: /" + ($parameter["path"] || "") }}',
		description: 'Receive CRM, site and form events, ESP delivery events, and the open, click and unsubscribe hits of your campaigns',
		defaults: { name: 'Marketing Webhook Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{ name: 'contactStoreApi', required: true, testedBy: 'contactStoreConnectionTest' },
			{ name: 'marketingWebhookApi', required: false, testedBy: 'marketingWebhookSettingsTest' },
		],
		webhooks: MARKETING_WEBHOOKS,
		properties: [
			{
				displayName:
					`Paths under this node's production URL (…/webhook/&lt;webhook ID&gt;/&lt;Path&gt;): <b>${ROUTES.events.path}</b> (POST CRM/site/form events), ${PROVIDERS.map((p) => `<b>${ROUTES.esp.path}/${p}</b>`).join(', ')}, and the tracking paths ${ROUTES.open.path}, ${ROUTES.click.path}, ${ROUTES.unsubscribe.path}. Use …/webhook/&lt;webhook ID&gt;/&lt;Path&gt; as Send Campaign's Tracking Base URL.`,
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
				description: 'Which hits start this workflow. Every hit is recorded in the contact store either way, so Contact Triggers see all of them.',
				options: [
					{ name: 'Clicks', value: 'clicks', description: 'Tracked link clicks (one execution per click)' },
					{ name: 'CRM, Site and Form Events', value: 'events' },
					{ name: 'ESP Events', value: 'esp', description: 'Delivered, bounced, complained, opened, clicked, unsubscribed from the ESP' },
					{ name: 'Opens', value: 'opens', description: 'Open pixel hits (one execution per open)' },
					{ name: 'Unsubscribes', value: 'unsubscribes', description: 'One-click and confirmed unsubscribes' },
				],
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{ displayName: 'Extra Scanner User Agents', name: 'botPatterns', type: 'string', default: '', description: 'Comma-separated user-agent fragments treated as link scanners, on top of the built-in list' },
					{ displayName: 'Machine Window (Seconds)', name: 'machineWindowSeconds', type: 'number', default: 5, typeOptions: { minValue: 0 }, description: 'Opens and clicks this soon after the send are counted as machine hits' },
					{ displayName: 'Max Events per Request', name: 'maxBatch', type: 'number', default: 1000, typeOptions: { minValue: 1 } },
					{ displayName: 'Sender Name', name: 'senderName', type: 'string', default: '', description: 'Shown on the unsubscribe pages' },
				],
			},
		],
	};

	methods = {
		credentialTest: { contactStoreConnectionTest: testContactStoreCredential, marketingWebhookSettingsTest: testMarketingWebhookCredential },
	};

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const req = this.getRequestObject() as unknown as RawRequest;
		const res = this.getResponseObject();
		const { route, params } = routeOfParams((req.params ?? {}) as Record<string, string>);
		const options = this.getNodeParameter('options', {}) as IDataObject;
		const emit = this.getNodeParameter('emit', []) as string[];

		const storeCredentials = await this.getCredentials(CREDENTIAL_NAME);
		let webhookCredentials: IDataObject | undefined;
		try {
			webhookCredentials = await this.getCredentials<IDataObject>('marketingWebhookApi');
		} catch {
			// Optional: without it the events and ESP paths answer 401 "not configured".
		}
		if (!req.rawBody && typeof req.readRawBody === 'function') await req.readRawBody();
		// n8n keeps the raw bytes for signature checks; a parsed body is a fallback that may not verify.
		const rawBody = req.rawBody ?? Buffer.from(req.body === undefined ? '' : typeof req.body === 'string' ? req.body : JSON.stringify(req.body));

		const lease = await leaseStore(this);
		try {
			const config: WebhookConfig = {
				// Checked per route: events and ESP webhooks work without it, tracking answers 500.
				signingSecret: String(storeCredentials.signingSecret ?? ''),
				secrets: secretsFrom(webhookCredentials),
				machineWindowMs: Number(options.machineWindowSeconds ?? 5) * 1000,
				botPatterns: String(options.botPatterns ?? '').split(',').map((p) => p.trim()).filter(Boolean),
				maxBatch: Number(options.maxBatch ?? 1000),
				senderName: (options.senderName as string) || undefined,
			};
			const out = await new WebhookHandler(lease.store, config).handle(route, { method: req.method, headers: req.headers, rawBody, params, query: req.query });
			res.writeHead(out.status, out.headers);
			res.end(out.body);
			const items: INodeExecutionData[] = out.events
				.filter((e) => emit.some((kind) => EMIT_OF[kind]?.(e as IDataObject)))
				.map((e) => ({ json: e as IDataObject }));
			return items.length > 0 ? { noWebhookResponse: true, workflowData: [items] } : { noWebhookResponse: true };
		} finally {
			lease.release();
		}
	}
}
