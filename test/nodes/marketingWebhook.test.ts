/**
 * The Marketing Webhook Trigger through n8n-core's real WebhookContext (parameters, credentials,
 * request/response objects) behind a real HTTP server that routes the way n8n registers the node's
 * webhooks (NodeHelpers.getNodeWebhookPath: <webhookId>/<path>, ":param" segments).
 * Not covered here (the e2e suite must): n8n's own HTTP server, body parsing and rawBody capture,
 * production webhook registration on activation, and the executions started by workflowData.
 */
import { createHmac, generateKeyPairSync } from 'crypto';
import { createServer, type IncomingMessage, type Server } from 'http';
import { WebhookContext } from 'n8n-core';
import {
	ICredentialsHelper,
	NodeHelpers,
	Workflow,
	type ICredentialDataDecryptedObject,
	type ICredentialTestFunctions,
	type ICredentials,
	type IHttpRequestOptions,
	type INode,
	type INodeProperties,
	type INodeType,
	type INodeTypes,
	type IWebhookData,
	type IWebhookResponseData,
	type IWorkflowExecuteAdditionalData,
	resolveWebhookDescriptionField,
	webhookDescriptionIsNativelyResolvable,
} from 'n8n-workflow';
import { MarketingWebhookTrigger } from '../../nodes/MarketingWebhookTrigger/MarketingWebhookTrigger.node';
import { MARKETING_WEBHOOKS } from '../../nodes/MarketingWebhookTrigger/description';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { Campaigns } from '../../lib/campaigns';
import { storeConfig } from '../harness/store';
import { contactStoreCredentials } from '../harness/n8n';

type Creds = Record<string, ICredentialDataDecryptedObject>;

class Credentials extends ICredentialsHelper {
	constructor(private readonly byType: Creds) {
		super();
	}
	getParentTypes() {
		return [];
	}
	isCredentialUsableByNode() {
		return true;
	}
	async authenticate(_c: ICredentialDataDecryptedObject, _t: string, r: IHttpRequestOptions) {
		return r;
	}
	async preAuthentication() {
		return undefined;
	}
	async runPreAuthentication() {
		return undefined;
	}
	async getCredentials(): Promise<ICredentials> {
		throw new Error('decrypted only');
	}
	async getDecrypted(_a: IWorkflowExecuteAdditionalData, _n: unknown, type: string) {
		const data = this.byType[type];
		if (!data) throw new Error(`No credentials of type "${type}"`);
		return { ...data };
	}
	async updateCredentials() {}
	async updateCredentialsOauthTokenData() {}
	getCredentialsProperties(): INodeProperties[] {
		return [];
	}
}

const WEBHOOK_ID = '6f1d5c2e-1111-4a2b-9c3d-abcdefabcdef';
const nodeType = new MarketingWebhookTrigger();
const storeCreds = contactStoreCredentials('standalone');
const lease = acquireStore(storeConfig('standalone', String(storeCreds.contactStoreApi.keyPrefix)));
const { store } = lease;

let server: Server;
let base = '';
let lastResult: IWebhookResponseData | undefined;

function makeWorkflow(parameters: Record<string, unknown>, withWebhookCredential: boolean) {
	const node: INode = {
		id: 'n1',
		name: 'Marketing Webhook Trigger',
		type: 'test.marketingWebhookTrigger',
		typeVersion: 1,
		position: [0, 0],
		webhookId: WEBHOOK_ID,
		parameters: parameters as INode['parameters'],
		credentials: {
			contactStoreApi: { id: 'c1', name: 'Store' },
			...(withWebhookCredential ? { marketingWebhookApi: { id: 'c2', name: 'Hook' } } : {}),
		},
	};
	const nodeTypes: INodeTypes = {
		getByName: () => nodeType,
		getByNameAndVersion: () => nodeType as INodeType,
		getKnownTypes: () => ({}),
	} as unknown as INodeTypes;
	const workflow = new Workflow({
		id: 'wf-hook',
		name: 'hooks',
		nodes: [node],
		connections: {},
		active: true,
		nodeTypes,
		settings: {},
	});
	return { node, workflow };
}

let setup = makeWorkflow({ emit: ['events', 'esp', 'unsubscribes', 'clicks'], options: { senderName: 'Shop' } }, true);
const credentials: Creds = {
	...storeCreds,
	marketingWebhookApi: {
		sharedSecret: 'crm-secret',
		sharedSecretHeader: 'X-Webhook-Secret',
		hmacSecret: '',
		hmacHeader: 'X-Signature',
		brevoToken: 'brevo-token',
	},
};

/** The URL path n8n serves a webhook on: its path expression evaluated and trimmed as n8n's
 * WebhookService.getNodeWebhooks does, then <webhookId>/<path> (how ":param" full paths are looked up). */
function servedPath(s: typeof setup, description: (typeof MARKETING_WEBHOOKS)[number]): string {
	const evaluated = String(s.workflow.expression.getSimpleParameterValue(s.node, description.path, 'internal', {}))
		.trim()
		.replace(/^\//, '')
		.replace(/\/$/, '');
	return NodeHelpers.getNodeWebhookUrl('', s.workflow.id, s.node, evaluated, Boolean(description.isFullPath)).slice(1);
}

function match(
	path: string,
	method: string,
): { description: (typeof MARKETING_WEBHOOKS)[number]; params: Record<string, string>; registered: string } | null {
	for (const description of MARKETING_WEBHOOKS) {
		if (description.httpMethod !== method) continue;
		const registered = servedPath(setup, description);
		const want = registered.split('/');
		const got = path.split('/');
		if (want.length !== got.length) continue;
		const params: Record<string, string> = {};
		if (
			want.every((seg, i) =>
				seg.startsWith(':') ? ((params[seg.slice(1)] = decodeURIComponent(got[i])), true) : seg === got[i],
			)
		)
			return { description, params, registered };
	}
	return null;
}

beforeAll(async () => {
	server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', async () => {
			const url = new URL(req.url ?? '/', 'http://x');
			const found = match(url.pathname.replace(/^\/webhook\//, ''), req.method ?? 'GET');
			if (!found) return void res.writeHead(404).end('no webhook');
			const rawBody = Buffer.concat(chunks);
			// What n8n's webhook server hands the node: express-like params, query, parsed body, rawBody.
			Object.assign(req as IncomingMessage & Record<string, unknown>, {
				params: found.params,
				query: Object.fromEntries(url.searchParams),
				rawBody,
				body: /json/.test(String(req.headers['content-type'])) ? JSON.parse(rawBody.toString() || '{}') : {},
			});
			const additionalData = {
				credentialsHelper: new Credentials(credentials),
				httpRequest: req,
				httpResponse: res,
				restApiUrl: 'http://localhost:5678/rest',
				instanceBaseUrl: 'http://localhost:5678',
				webhookBaseUrl: 'http://localhost:5678/webhook',
				webhookWaitingBaseUrl: 'http://localhost:5678/webhook-waiting',
				webhookTestBaseUrl: 'http://localhost:5678/webhook-test',
				variables: {},
			} as unknown as IWorkflowExecuteAdditionalData;
			const webhookData = {
				httpMethod: found.description.httpMethod,
				node: setup.node.name,
				path: found.registered,
				webhookDescription: found.description,
				workflowId: setup.workflow.id,
				workflowExecuteAdditionalData: additionalData,
				webhookId: WEBHOOK_ID,
			} as unknown as IWebhookData;
			try {
				const context = new WebhookContext(
					setup.workflow,
					setup.node,
					additionalData,
					'webhook',
					webhookData,
					[],
					null,
				);
				lastResult = await (nodeType.webhook as (this: WebhookContext) => Promise<IWebhookResponseData>).call(context);
				if (!lastResult.noWebhookResponse) res.writeHead(200).end('n8n default response');
			} catch (error) {
				lastResult = undefined;
				if (!res.headersSent) res.writeHead(500).end(String((error as Error).message));
			}
		});
	});
	await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
	base = `http://127.0.0.1:${(server.address() as { port: number }).port}/webhook/${WEBHOOK_ID}`;
	await store.contacts.upsert([
		{ id: 'ada', email: 'ada@example.com', subscription: { status: 'subscribed', source: 'form' } },
	]);
});

afterAll(async () => {
	await new Promise<void>((r) => server.close(() => r()));
	lease.release();
	await closeAllStores();
});

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
	lastResult = undefined;
	const res = await fetch(base + path, { method, body, headers, redirect: 'manual' });
	return { status: res.status, headers: Object.fromEntries(res.headers.entries()), text: await res.text() };
}

async function mail(campaignId: string) {
	const [r] = await new Campaigns(store).send(
		{
			id: campaignId,
			fromEmail: 'news@shop.example',
			subject: 'Hi',
			html: '<a href="https://shop.example/">x</a>',
			trackingBaseUrl: base,
			signingSecret: String(storeCreds.contactStoreApi.signingSecret),
			trackClicks: true,
			trackOpens: true,
		},
		[{ contactId: 'ada' }],
		{ mode: 'render' },
	);
	if (!r.ok || r.value.status !== 'sent' || !r.value.message) throw new Error('send failed');
	const html = r.value.message.html;
	const unsub = r.value.message.headers['List-Unsubscribe'];
	return {
		click: (/\/t\/c\/([\w.-]+)/.exec(html) as RegExpExecArray)[1],
		open: (/\/t\/o\/([\w.-]+)/.exec(html) as RegExpExecArray)[1],
		unsubscribe: (/\/u\/([\w.-]+)/.exec(unsub) as RegExpExecArray)[1],
	};
}

describe('Marketing Webhook Trigger through n8n-core WebhookContext', () => {
	it('declares its webhooks under the node webhook id and the Path parameter, as n8n serves them', () => {
		const served = (path: string) => {
			const s = makeWorkflow({ path }, true);
			return MARKETING_WEBHOOKS.map((d) => `${d.httpMethod} ${servedPath(s, d)}`);
		};
		const routes = [
			'POST events',
			'GET browser',
			'HEAD browser',
			'POST browser',
			'GET t/o/:openToken',
			'HEAD t/o/:openToken',
			'GET t/c/:clickToken',
			'HEAD t/c/:clickToken',
			'GET u/:unsubscribeToken',
			'HEAD u/:unsubscribeToken',
			'POST u/:unsubscribeToken',
			'GET confirm/:confirmToken',
			'HEAD confirm/:confirmToken',
			'POST confirm/:confirmToken',
			'POST esp/:provider',
		];
		const under = (prefix: string) => routes.map((r) => r.replace(' ', ` ${prefix}`));
		// Empty Path (the default): the URLs of existing workflows, <webhookId>/t/o/:openToken.
		expect(served('')).toEqual(under(`${WEBHOOK_ID}/`));
		expect(served('shop-eu')).toEqual(under(`${WEBHOOK_ID}/shop-eu/`));
		// n8n stores full paths by (path, method): two triggers with different Paths never collide.
		const stored = (path: string) => {
			const s = makeWorkflow({ path }, true);
			return MARKETING_WEBHOOKS.filter((d) => d.isFullPath).map((d) =>
				String(s.workflow.expression.getSimpleParameterValue(s.node, d.path, 'internal', {})),
			);
		};
		expect(stored('shop-eu')).toContain('shop-eu/t/o/:openToken');
		expect(stored('shop-eu').filter((p) => stored('shop-us').includes(p))).toEqual([]);
		expect(NodeHelpers.getNodeWebhookUrl('https://n8n.example.com/webhook', 'wf', setup.node, 't/c/:clickToken')).toBe(
			`https://n8n.example.com/webhook/${WEBHOOK_ID}/t/c/:clickToken`,
		);
	});

	it('resolves every webhook path without the expression engine, to what the engine makes of it', () => {
		// n8n 2.x builds an expression isolate per request for each path it must evaluate; a field
		// with a native resolver for its exact template is resolved without one.
		for (const path of ['', 'shop-eu']) {
			const s = makeWorkflow({ path }, true);
			const node = s.workflow.getNode(s.node.name)!;
			for (const description of MARKETING_WEBHOOKS) {
				expect(webhookDescriptionIsNativelyResolvable(description)).toBe(true);
				expect(resolveWebhookDescriptionField(node, description, 'path')).toEqual({
					resolved: true,
					value: s.workflow.expression.getSimpleParameterValue(node, description.path, 'internal', {}),
				});
			}
		}
		// A path parameter holding an expression goes to the engine, as n8n's own nodes do.
		const dynamic = makeWorkflow({ path: '={{ "shop" }}' }, true);
		const node = dynamic.workflow.getNode(dynamic.node.name)!;
		expect(resolveWebhookDescriptionField(node, MARKETING_WEBHOOKS[0], 'path')).toEqual({ resolved: false });
	});

	it('records CRM events and starts the workflow with one item per event', async () => {
		const body = JSON.stringify([
			{ email: 'lead@example.com', event: 'demo_booked', properties: { plan: 'pro' } },
			{ contactId: 'ada', event: 'page_viewed' },
		]);
		expect((await call('POST', '/events', body, { 'content-type': 'application/json' })).status).toBe(401);
		expect(lastResult?.workflowData).toBeUndefined();
		const r = await call('POST', '/events', body, {
			'content-type': 'application/json',
			'x-webhook-secret': 'crm-secret',
		});
		expect(r.status).toBe(200);
		expect(JSON.parse(r.text)).toMatchObject({ received: 2, recorded: 2 });
		expect(lastResult?.noWebhookResponse).toBe(true);
		expect(lastResult?.workflowData?.[0].map((i) => [i.json.contactId, i.json.event])).toEqual([
			['lead@example.com', 'demo_booked'],
			['ada', 'page_viewed'],
		]);
		expect(await store.events.countSince('lead@example.com', 'demo_booked', 0)).toBe(1);
	});

	it('serves the tracking routes under its Path parameter, and not the unprefixed ones', async () => {
		const t = await mail('node-path');
		const before = setup;
		setup = makeWorkflow({ path: 'shop-eu', emit: ['opens', 'clicks'] }, true);
		try {
			const open = await call('GET', `/shop-eu/t/o/${t.open}`, undefined, { 'user-agent': 'Mozilla/5.0' });
			expect(open.status).toBe(200);
			expect(open.headers['content-type']).toBe('image/gif');
			const click = await call('GET', `/shop-eu/t/c/${t.click}`, undefined, { 'user-agent': 'Mozilla/5.0' });
			expect(click.status).toBe(302);
			expect(click.headers.location).toBe('https://shop.example/');
			expect((await call('GET', `/t/c/${t.click}`)).status).toBe(404);
		} finally {
			setup = before;
		}
	});

	it('serves the open pixel (no execution for opens unless chosen), the click redirect and the unsubscribe pages', async () => {
		const t = await mail('node-track');
		await new Promise((r) => setTimeout(r, 10));
		const open = await call('GET', `/t/o/${t.open}`, undefined, { 'user-agent': 'Mozilla/5.0' });
		expect(open.status).toBe(200);
		expect(open.headers['content-type']).toBe('image/gif');
		expect(lastResult).toEqual({ noWebhookResponse: true });

		const click = await call('GET', `/t/c/${t.click}`, undefined, { 'user-agent': 'Mozilla/5.0' });
		expect(click.status).toBe(302);
		expect(click.headers.location).toBe('https://shop.example/');
		expect(lastResult?.workflowData?.[0][0].json).toMatchObject({
			source: 'tracking',
			type: 'clicked',
			contactId: 'ada',
			campaignId: 'node-track',
			url: 'https://shop.example/',
		});
		const tampered = await call('GET', `/t/c/${t.click.slice(0, -3)}abc`);
		expect(tampered.status).toBe(400);
		expect(tampered.headers.location).toBeUndefined();

		const page = await call('GET', `/u/${t.unsubscribe}`);
		expect(page.status).toBe(200);
		expect(page.text).toContain('<form method="post">');
		expect((await store.contacts.getOne('ada'))?.subscription?.status).toBe('subscribed');
		const done = await call('POST', `/u/${t.unsubscribe}`, 'List-Unsubscribe=One-Click', {
			'content-type': 'application/x-www-form-urlencoded',
		});
		expect(done.status).toBe(200);
		expect((await store.contacts.getOne('ada'))?.subscription?.status).toBe('unsubscribed');
		expect(lastResult?.workflowData?.[0][0].json).toMatchObject({ type: 'unsubscribed', contactId: 'ada' });
	});

	it('ingests an ESP webhook with its token and answers 401 when the webhook credential is missing', async () => {
		const body = JSON.stringify({
			event: 'delivered',
			email: 'ada@example.com',
			'message-id': '<x@y>',
			ts_epoch: Date.now(),
		});
		const ok = await call('POST', '/esp/brevo', body, {
			'content-type': 'application/json',
			authorization: 'Bearer brevo-token',
		});
		expect(JSON.parse(ok.text)).toMatchObject({ recorded: 1 });
		expect(lastResult?.workflowData?.[0][0].json).toMatchObject({
			source: 'esp',
			provider: 'brevo',
			type: 'delivered',
			contactId: 'ada',
		});
		setup = makeWorkflow({ emit: ['events'], options: {} }, false);
		const denied = await call('POST', '/events', JSON.stringify({ contactId: 'ada', event: 'x' }), {
			'content-type': 'application/json',
			'x-webhook-secret': 'crm-secret',
		});
		expect(denied.status).toBe(401);
		expect(denied.text).toContain('not configured');
	});

	it('verifies an HMAC over the raw bytes n8n captured', async () => {
		credentials.marketingWebhookApi = { ...credentials.marketingWebhookApi, hmacSecret: 'hmac-key' };
		setup = makeWorkflow({ emit: ['events'], options: {} }, true);
		// Whitespace and key order matter: the signature covers the bytes, not the parsed JSON.
		const body = '{ "contactId": "ada",  "event": "signed_up" }';
		const signature = createHmac('sha256', 'hmac-key').update(body).digest('hex');
		expect(
			(await call('POST', '/events', body, { 'content-type': 'application/json', 'x-signature': signature })).status,
		).toBe(200);
		expect(
			(
				await call('POST', '/events', JSON.stringify(JSON.parse(body)), {
					'content-type': 'application/json',
					'x-signature': signature,
				})
			).status,
		).toBe(401);
	});
});

describe('Marketing Webhook credential test', () => {
	const node = new MarketingWebhookTrigger();
	const test = (data: ICredentialDataDecryptedObject) =>
		node.methods.credentialTest.marketingWebhookSettingsTest.call({} as ICredentialTestFunctions, {
			id: '1',
			name: 'Marketing Webhook',
			type: 'marketingWebhookApi',
			data,
		});
	const sendgridKey = (
		generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' }) as Buffer
	).toString('base64');

	it('is the test n8n runs for the credential (testedBy on the node)', () => {
		const declared = node.description.credentials?.find((c) => c.name === 'marketingWebhookApi');
		expect(declared?.testedBy).toBe('marketingWebhookSettingsTest');
	});

	it('accepts settings every sender can use', async () => {
		const data = {
			sharedSecret: 'crm-secret',
			sharedSecretHeader: 'X-Webhook-Secret',
			hmacHeader: 'X-Signature',
			sendgridPublicKey: sendgridKey,
			postmarkUser: 'pm',
			postmarkPassword: 'pm-pass',
			snsTopicArns: 'arn:aws:sns:us-east-1:123456789012:ses-events, arn:aws:sns:eu-west-1:123456789012:ses.fifo',
		};
		expect(await test(data)).toEqual({ status: 'OK', message: 'Settings are valid' });
	});

	it.each([
		['nothing set', { sharedSecretHeader: 'X-Webhook-Secret' }, /Nothing is set/],
		[
			'a header name with a space',
			{ sharedSecret: 's', sharedSecretHeader: 'X Webhook Secret' },
			/Shared secret header "x webhook secret" is not a valid HTTP header name/,
		],
		[
			'a header name with a colon',
			{ sharedSecret: 's', hmacHeader: 'X-Signature:' },
			/Signature header "x-signature:" is not a valid HTTP header name/,
		],
		[
			'a SendGrid key that is not a public key',
			{ sendgridPublicKey: 'not-a-key' },
			/SendGrid verification key is not a public key/,
		],
		['a Postmark user without password', { postmarkUser: 'pm' }, /Postmark needs both the webhook user and password/],
		['a topic that is not an SNS ARN', { snsTopicArns: 'ses-events' }, /"ses-events" is not an Amazon SNS topic ARN/],
	])('names what is wrong: %s', async (_case, data, message) => {
		const result = await test(data);
		expect(result.status).toBe('Error');
		expect(result.message).toMatch(message);
	});
});
