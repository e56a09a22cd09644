import {
	type ICredentialTestFunctions,
	type ICredentialsDecrypted,
	type IDataObject,
	type INodeCredentialTestResult,
	type INodeExecutionData,
	type IWebhookFunctions,
	type IWebhookResponseData,
} from 'n8n-workflow';
import {
	parseOrigins,
	routeOfParams,
	WebhookHandler,
	webhookSecretsProblems,
	type WebhookConfig,
	type WebhookSecrets,
} from '../../lib';
import { CREDENTIAL_NAME, leaseStore } from '../shared/store';

const EMIT_OF: Record<string, (event: IDataObject) => boolean> = {
	events: (e) => e.source === 'events',
	browser: (e) => e.source === 'browser',
	esp: (e) => e.source === 'esp',
	unsubscribes: (e) => e.source === 'tracking' && e.type === 'unsubscribed',
	opens: (e) => e.source === 'tracking' && e.type === 'opened',
	clicks: (e) => e.source === 'tracking' && e.type === 'clicked',
	confirmations: (e) => e.source === 'tracking' && e.type === 'confirmed',
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
		snsTopicArns: (s('snsTopicArns') ?? '')
			.split(',')
			.map((a) => a.trim())
			.filter(Boolean),
	};
}

/** The settings are only used to check incoming requests, so the test checks them, not a connection. */
export async function testMarketingWebhookCredential(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const problems = webhookSecretsProblems(secretsFrom(credential.data));
	return problems.length > 0
		? { status: 'Error', message: problems.join('. ') }
		: { status: 'OK', message: 'Settings are valid' };
}

type RawRequest = {
	method: string;
	headers: Record<string, string | string[] | undefined>;
	params?: Record<string, string>;
	query?: Record<string, unknown>;
	body?: unknown;
	rawBody?: Buffer;
	readRawBody?: () => Promise<void>;
	/** Express's client address (honours n8n's N8N_PROXY_HOPS). */
	ip?: string;
	originalUrl?: string;
	url?: string;
};

function browserConfigFrom(p: IDataObject): WebhookConfig['browser'] {
	const list = (v: unknown) =>
		String(v ?? '')
			.split(',')
			.map((s) => s.trim())
			.filter(Boolean);
	return {
		siteKey: String(p.siteKey ?? '').trim(),
		origins: parseOrigins(String(p.allowedOrigins ?? '')),
		allowedEvents: list(p.allowedEvents),
		perIpPerMinute: p.perIpPerMinute === undefined ? undefined : Number(p.perIpPerMinute),
		perVisitorPerMinute: p.perVisitorPerMinute === undefined ? undefined : Number(p.perVisitorPerMinute),
		maxBodyBytes: p.maxBodyBytes === undefined ? undefined : Number(p.maxBodyBytes),
	};
}

/** Answers the request (tracking, unsubscribe page, events) and starts the workflow for the hits chosen in "Start the Workflow For". */
export async function webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
	const req = this.getRequestObject() as unknown as RawRequest;
	const res = this.getResponseObject();
	const { route, params } = routeOfParams((req.params ?? {}) as Record<string, string>, req.originalUrl ?? req.url);
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
	const rawBody =
		req.rawBody ??
		Buffer.from(req.body === undefined ? '' : typeof req.body === 'string' ? req.body : JSON.stringify(req.body));

	const lease = await leaseStore(this);
	try {
		const config: WebhookConfig = {
			// Checked per route: events and ESP webhooks work without it, tracking answers 500.
			signingSecret: String(storeCredentials.signingSecret ?? ''),
			secrets: secretsFrom(webhookCredentials),
			machineWindowMs: Number(options.machineWindowSeconds ?? 5) * 1000,
			botPatterns: String(options.botPatterns ?? '')
				.split(',')
				.map((p) => p.trim())
				.filter(Boolean),
			maxBatch: Number(options.maxBatch ?? 1000),
			senderName: (options.senderName as string) || undefined,
			confirmLinkTtlMs: Number(options.confirmLinkDays ?? 7) * 86_400_000,
			browser: browserConfigFrom(this.getNodeParameter('browserEvents', {}) as IDataObject),
		};
		const out = await new WebhookHandler(lease.store, config).handle(route, {
			method: req.method,
			headers: req.headers,
			rawBody,
			params,
			query: req.query,
			ip: req.ip,
		});
		// n8n sets CORS headers allowing any origin before the node runs: the browser route's are its own.
		if (route === 'browser')
			for (const name of res.getHeaderNames()) if (name.startsWith('access-control-')) res.removeHeader(name);
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
