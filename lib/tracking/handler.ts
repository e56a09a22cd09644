/**
 * The request handling of the Marketing Webhook Trigger, without n8n: each route takes
 * {method, headers, rawBody, params, query} and returns {status, headers, body, events}.
 */
import { createHmac } from 'crypto';
import { ValidationError } from '../errors';
import type { ContactStore } from '../store';
import { settleAll } from '../results';
import { Campaigns, type OutcomeInput } from '../campaigns';
import { checkName, checkProperties, LIMITS, parseJson, toEventTime } from '../values';
import type { Route } from './routes';
import { checkSigningSecret, signToken, verifyToken, type TrackingClaims } from './tokens';
import { escapeHtml, preferenceForms, readPreferencePost } from './preferences';
import { BrowserRoute, CLICK_IDENTIFY_PARAM, isSiteUrl, type BrowserEventsConfig } from './browser';
import { Topics, topicsOf } from '../topics';
import {
	fetchSnsCertificate,
	httpsText,
	isSnsUrl,
	parseBrevo,
	parseMailgun,
	parsePostmark,
	parseSendGrid,
	parseSes,
	PROVIDERS,
	safeEqual,
	verifyMailgun,
	verifySendGrid,
	verifySns,
	type CertificateFetcher,
	type NormalisedOutcome,
	type Provider,
} from './esp';

export interface WebhookRequest {
	method: string;
	/** Lower-case header names, as Node's http module gives them. */
	headers: Record<string, string | string[] | undefined>;
	rawBody: Buffer | string;
	params: Record<string, string | undefined>;
	query?: Record<string, unknown>;
	/** The client's address as n8n sees it (kept as proof of a double opt-in confirmation). */
	ip?: string;
}

/** What the trigger emits into its own workflow, one item each. */
export interface EmittedEvent {
	source: 'events' | 'tracking' | 'esp' | 'browser';
	[key: string]: unknown;
}

export interface WebhookResponse {
	status: number;
	headers: Record<string, string>;
	body: string | Buffer;
	events: EmittedEvent[];
}

export interface WebhookSecrets {
	/** Events route: this value in `sharedSecretHeader` authenticates a request. */
	sharedSecret?: string;
	sharedSecretHeader?: string;
	/** Events route: hex HMAC-SHA256 of the raw body in `hmacHeader` (optionally "sha256=" prefixed). */
	hmacSecret?: string;
	hmacHeader?: string;
	/** SendGrid "Signed Event Webhook" verification key (base64 DER or PEM). */
	sendgridPublicKey?: string;
	mailgunSigningKey?: string;
	postmarkUser?: string;
	postmarkPassword?: string;
	/** Brevo: `Authorization: Bearer <token>`. */
	brevoToken?: string;
	/** Amazon SES: topic ARNs allowed to post (empty: any verified SNS message). */
	snsTopicArns?: string[];
}

export interface WebhookConfig {
	signingSecret: string;
	secrets: WebhookSecrets;
	/** Opens and clicks within this time of the send are a scanner's (default 5 s). */
	machineWindowMs?: number;
	/** Extra user-agent fragments that mark scanners. */
	botPatterns?: string[];
	/** Events per request (default 1000). */
	maxBatch?: number;
	/** Signed timestamps (SendGrid, Mailgun) older than this are refused as replays (default 15 min). */
	signatureToleranceMs?: number;
	/** Test hooks: how SNS certificates are fetched and subscriptions confirmed. */
	fetchSnsCertificate?: CertificateFetcher;
	confirmSnsSubscription?: (url: string) => Promise<void>;
	/** Shown on the unsubscribe pages. */
	senderName?: string;
	/** An unsubscribe link older than this answers 400 and changes nothing (default 400 days). */
	unsubscribeLinkMaxAgeMs?: number;
	/** How long a double opt-in confirmation link stays valid (default 7 days). */
	confirmLinkTtlMs?: number;
	/** The browser route (lib/tracking/browser); off when absent. */
	browser?: BrowserEventsConfig;
}

// 1x1 transparent GIF.
export const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const SCANNERS =
	/bot\b|bot\/|crawler|spider|preview|scanner|barracuda|mimecast|proofpoint|safelinks|microsoft office existence|ms-office|python-requests|python-urllib|curl\/|wget|go-http-client|java\/|okhttp|axios|node-fetch|libwww|headless|phantomjs|slackbot|facebookexternalhit|linkedinbot|twitterbot|whatsapp|skypeuripreview|googlebot|bingbot|yahoo! slurp|trendmicro|forcepoint|symantec|fortinet|sophos|cisco|ironport|messagelabs/i;

const NO_STORE = { 'cache-control': 'no-store, max-age=0', 'x-robots-tag': 'noindex, nofollow' };

function header(req: WebhookRequest, name: string): string | undefined {
	const v = req.headers[name.toLowerCase()];
	return Array.isArray(v) ? v[0] : v;
}

function text(status: number, body: string): WebhookResponse {
	return { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...NO_STORE }, body, events: [] };
}

function json(status: number, body: unknown, events: EmittedEvent[] = []): WebhookResponse {
	return {
		status,
		headers: { 'content-type': 'application/json; charset=utf-8', ...NO_STORE },
		body: JSON.stringify(body),
		events,
	};
}

function page(status: number, title: string, inner: string): WebhookResponse {
	const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#2b6cb0;color:#fff;cursor:pointer}</style></head><body><h1>${escapeHtml(title)}</h1>${inner}</body></html>`;
	return {
		status,
		headers: {
			'content-type': 'text/html; charset=utf-8',
			'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
			'referrer-policy': 'no-referrer',
			...NO_STORE,
		},
		body,
		events: [],
	};
}

/** Long enough for any mail still read; the law asks for at least 30 days (CAN-SPAM). */
const UNSUBSCRIBE_LINK_MAX_AGE_MS = 400 * 86_400_000;
const CONFIRM_FORM =
	'<form method="post"><input type="hidden" name="confirm" value="yes"><button type="submit">Confirm my subscription</button></form>';

/**
 * RFC 8058: a one-click unsubscribe POST carries List-Unsubscribe=One-Click, form-urlencoded (as
 * mail providers and our page send it) or multipart; any other POST (an empty one from a scanner,
 * say) unsubscribes nobody.
 */
function isOneClick(rawBody: Buffer | string): boolean {
	const body = (Buffer.isBuffer(rawBody) ? rawBody.toString('utf8') : rawBody).slice(0, 10_000);
	if (new URLSearchParams(body.trim()).get('List-Unsubscribe') === 'One-Click') return true;
	if (/name="?List-Unsubscribe"?\r?\n(?:[^\r\n]+\r?\n)*\r?\nOne-Click\r?\n/i.test(body)) return true;
	// A form n8n parsed without keeping its bytes reaches the handler as its JSON.
	const parsed = parseJson(body);
	return parsed.ok && (parsed.value as Record<string, unknown> | null)?.['List-Unsubscribe'] === 'One-Click';
}

function basicAuth(req: WebhookRequest): { user: string; password: string } | null {
	const auth = header(req, 'authorization');
	if (!auth || !/^basic /i.test(auth)) return null;
	const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
	const at = decoded.indexOf(':');
	return at < 0 ? null : { user: decoded.slice(0, at), password: decoded.slice(at + 1) };
}

function toMs(value: unknown): unknown {
	// Unix seconds (as CRMs and ESPs send them) become milliseconds; ISO strings pass through.
	return typeof value === 'number' && value > 0 && value < 1e11 ? Math.round(value * 1000) : value;
}

export class WebhookHandler {
	private readonly campaigns: Campaigns;
	private readonly bots: RegExp[];

	constructor(
		private readonly store: ContactStore,
		private readonly config: WebhookConfig,
	) {
		this.campaigns = new Campaigns(store);
		this.bots = (config.botPatterns ?? [])
			.filter(Boolean)
			.map((p) => new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i'));
	}

	private get machineWindowMs(): number {
		return this.config.machineWindowMs ?? 5000;
	}

	isBot = (userAgent?: string): boolean => {
		if (!userAgent) return false;
		return SCANNERS.test(userAgent) || this.bots.some((b) => b.test(userAgent));
	};

	async handle(route: Route, req: WebhookRequest): Promise<WebhookResponse> {
		try {
			return await this.route(route, req);
		} catch (error) {
			// Redis down: 503 makes ESPs and CRMs deliver again later instead of losing the events.
			if ((error as Error).name === 'StoreUnavailableError')
				return text(503, 'The contact store is unavailable; try again later');
			throw error;
		}
	}

	private async route(route: Route, req: WebhookRequest): Promise<WebhookResponse> {
		const method = req.method.toUpperCase();
		if (route === 'browser')
			return new BrowserRoute(this.store, this.config.browser, this.config.signingSecret, this.isBot).handle(
				req,
				method,
			);
		if (route !== 'events' && route !== 'esp') {
			try {
				checkSigningSecret(this.config.signingSecret);
			} catch (error) {
				return text(500, `Tracking is not configured: ${(error as Error).message}`);
			}
		}
		const bytes = Buffer.byteLength(req.rawBody);
		if (bytes > LIMITS.bodyBytes)
			return json(413, { error: `The body is ${bytes} bytes; the limit is ${LIMITS.bodyBytes} bytes (1 MB)` });
		switch (route) {
			case 'events':
				return method === 'POST' ? this.ingest(req) : text(405, 'Method not allowed');
			case 'open':
				return method === 'GET' || method === 'HEAD' ? this.open(req, method) : text(405, 'Method not allowed');
			case 'click':
				return method === 'GET' || method === 'HEAD' ? this.click(req, method) : text(405, 'Method not allowed');
			case 'unsubscribe':
				return this.unsubscribe(req, method);
			case 'esp':
				return method === 'POST' ? this.esp(req) : text(405, 'Method not allowed');
			case 'confirm':
				return this.confirm(req, method);
		}
		return text(404, 'Not found');
	}

	// ---------- events from a CRM, site or form ----------

	private authenticateEvents(req: WebhookRequest): boolean {
		const { sharedSecret, hmacSecret } = this.config.secrets;
		if (sharedSecret) {
			const given = header(req, this.config.secrets.sharedSecretHeader || 'x-webhook-secret');
			if (given && safeEqual(given, sharedSecret)) return true;
		}
		if (hmacSecret) {
			const given = (header(req, this.config.secrets.hmacHeader || 'x-signature') ?? '')
				.replace(/^sha256=/i, '')
				.toLowerCase();
			const expected = createHmac('sha256', hmacSecret).update(req.rawBody).digest('hex');
			if (given && safeEqual(given, expected)) return true;
		}
		return false;
	}

	private async ingest(req: WebhookRequest): Promise<WebhookResponse> {
		const { sharedSecret, hmacSecret } = this.config.secrets;
		if (!sharedSecret && !hmacSecret)
			return json(401, {
				error:
					'Authentication is not configured: set a shared secret or an HMAC secret in the Marketing Webhook credential',
			});
		if (!this.authenticateEvents(req)) return json(401, { error: 'Missing or wrong secret / signature' });
		const parsed = parseJson(req.rawBody);
		if (!parsed.ok) return json(400, { error: 'The body is not valid JSON' });
		const body = parsed.value as unknown;
		const list = Array.isArray(body)
			? body
			: body && typeof body === 'object' && Array.isArray((body as { events?: unknown }).events)
				? (body as { events: unknown[] }).events
				: [body];
		const max = this.config.maxBatch ?? 1000;
		if (list.length > max) return json(413, { error: `At most ${max} events per request, got ${list.length}` });
		if (list.length === 0) return json(400, { error: 'No events in the body' });

		const now = this.store.now();
		const prepared = list.map((raw, index) => {
			try {
				return readEvent(raw, index, now);
			} catch (error) {
				return error as Error;
			}
		});
		// Contacts given by e-mail, or with fields or tags: one upsert batch resolves and updates them.
		const upserts = await settleAll(prepared, async (p) => {
			if (p instanceof Error) throw p;
			if (!p.email && !p.fields && !p.tags) return p.contactId as string;
			const [r] = await this.store.contacts.upsert(
				[{ id: p.contactId, email: p.email, fields: p.fields, addTags: p.tags }],
				{ source: 'webhook' },
			);
			if (!r.ok) throw r.error;
			return r.value.contactId;
		});
		const recorded = await settleAll(prepared, async (p, i) => {
			const id = upserts[i];
			if (!id.ok) throw id.error;
			const e = p as ReadEvent;
			const [r] = await this.store.events.record([
				{
					contactId: id.value,
					name: e.name,
					properties: e.properties,
					time: e.time,
					idempotencyKey: e.idempotencyKey,
					source: 'webhook',
				},
			]);
			if (!r.ok) throw r.error;
			return { ...r.value, event: e };
		});

		const events: EmittedEvent[] = [];
		const errors: Array<{ index: number; field?: string; error: string }> = [];
		let duplicates = 0;
		recorded.forEach((r, index) => {
			if (!r.ok) {
				if (r.error.name === 'StoreUnavailableError') throw r.error;
				errors.push({ index, field: (r.error as ValidationError).field, error: r.error.message });
				return;
			}
			if (r.value.duplicate) {
				duplicates++;
				return;
			}
			const e = r.value.event;
			events.push({
				source: 'events',
				contactId: r.value.contactId,
				event: e.name,
				properties: e.properties ?? {},
				time: new Date(
					typeof e.time === 'number' ? e.time : e.time ? Date.parse(String(e.time)) : this.store.now(),
				).toISOString(),
				eventId: r.value.eventId,
				contactCreated: Boolean(r.value.contactCreated),
			});
		});
		const status = errors.length === list.length ? 400 : 200;
		return json(status, { received: list.length, recorded: events.length, duplicates, errors }, events);
	}

	// ---------- our own tracking links ----------

	private claims(req: WebhookRequest, kind: 'o' | 'c' | 'u' | 'd'): TrackingClaims | null {
		return verifyToken(this.config.signingSecret, req.params.token, kind);
	}

	/** A hit on our own link: mail clients and browsers always send a User-Agent, scripts may not. */
	private machine(req: WebhookRequest, method: string, claims: TrackingClaims): boolean {
		const userAgent = header(req, 'user-agent');
		return (
			method === 'HEAD' ||
			!userAgent ||
			this.isBot(userAgent) ||
			this.store.now() - claims.issuedAt < this.machineWindowMs
		);
	}

	private async track(input: OutcomeInput, extra: Record<string, unknown>): Promise<EmittedEvent[]> {
		const [r] = await this.campaigns.recordOutcomes([input], { source: 'tracking' });
		if (!r.ok) throw r.error;
		if (!r.value.recorded) return [];
		return [
			{
				source: 'tracking',
				type: input.kind,
				contactId: input.contactId,
				campaignId: input.campaignId,
				machine: r.value.machine,
				first: r.value.first,
				...extra,
			},
		];
	}

	private async open(req: WebhookRequest, method: string): Promise<WebhookResponse> {
		const claims = this.claims(req, 'o');
		if (!claims) return text(400, 'Invalid tracking link');
		const machine = this.machine(req, method, claims);
		const events = await this.track(
			{
				contactId: claims.contactId,
				campaignId: claims.campaignId,
				kind: 'opened',
				machine,
				messageId: claims.messageId,
			},
			{},
		);
		return {
			status: 200,
			headers: { 'content-type': 'image/gif', 'content-length': String(PIXEL_GIF.length), ...NO_STORE },
			body: method === 'HEAD' ? '' : PIXEL_GIF,
			events,
		};
	}

	private async click(req: WebhookRequest, method: string): Promise<WebhookResponse> {
		const claims = this.claims(req, 'c');
		// Never redirect anywhere but the signed target: a bad token is an error page, not a redirect.
		if (!claims || !claims.url) return text(400, 'Invalid or tampered link');
		const machine = this.machine(req, method, claims);
		const events = await this.track(
			{
				contactId: claims.contactId,
				campaignId: claims.campaignId,
				kind: 'clicked',
				url: claims.url,
				machine,
				messageId: claims.messageId,
			},
			{ url: claims.url },
		);
		return {
			status: 302,
			headers: {
				location: this.withIdentifyToken(claims, machine),
				'content-type': 'text/plain; charset=utf-8',
				'referrer-policy': 'no-referrer',
				...NO_STORE,
			},
			body: method === 'HEAD' ? '' : `Redirecting to ${claims.url}`,
			events,
		};
	}

	/**
	 * A person's click to a page of the site (Browser Events' origins) carries a short-lived identify
	 * token, sealed like the link's: the snippet there ties its visitor to the contact with it.
	 */
	private withIdentifyToken(claims: TrackingClaims, machine: boolean): string {
		const url = claims.url as string;
		if (machine || !isSiteUrl(this.config.browser, url)) return url;
		const target = new URL(url);
		target.searchParams.set(
			CLICK_IDENTIFY_PARAM,
			signToken(this.config.signingSecret, {
				kind: 'i',
				contactId: claims.contactId,
				campaignId: claims.campaignId,
				issuedAt: this.store.now(),
			}),
		);
		return target.toString();
	}

	/**
	 * The preference centre (lib/tracking/preferences). GET and HEAD only show it: link scanners
	 * follow GET links. A POST of its forms saves the topics or unsubscribes from everything; an
	 * RFC 8058 one-click POST unsubscribes from the mail's topic, or from everything when the mail
	 * had none. A bad or expired link, or an unknown topic, answers 400 and changes nothing.
	 */
	private async unsubscribe(req: WebhookRequest, method: string): Promise<WebhookResponse> {
		const claims = this.claims(req, 'u');
		if (!claims)
			return page(
				400,
				'Link not valid',
				'<p>This unsubscribe link is not valid or has been altered. Use the link from the e-mail as it is, or reply to the e-mail to unsubscribe.</p>',
			);
		if (this.store.now() - claims.issuedAt > (this.config.unsubscribeLinkMaxAgeMs ?? UNSUBSCRIBE_LINK_MAX_AGE_MS))
			return page(
				400,
				'Link expired',
				'<p>This unsubscribe link has expired, so nothing changed. Use the link of a recent e-mail, or reply to the e-mail to unsubscribe.</p>',
			);
		if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return text(405, 'Method not allowed');
		const sender = this.config.senderName ? ` from ${escapeHtml(this.config.senderName)}` : '';
		const topics = new Topics(this.store);
		const centre = async (status: number, title: string, intro: string): Promise<WebhookResponse> => {
			const [declared, contact] = await Promise.all([topics.list(), this.store.contacts.getOne(claims.contactId)]);
			const note =
				contact?.subscription?.status === 'unsubscribed' ? '<p>You are unsubscribed from all our e-mails.</p>' : '';
			return page(status, title, `${intro}${note}${preferenceForms(declared, contact ? topicsOf(contact) : {})}`);
		};
		if (method !== 'POST')
			return centre(200, 'Your e-mail preferences', `<p>Choose the e-mails you want${sender}.</p>`);

		const body = (Buffer.isBuffer(req.rawBody) ? req.rawBody.toString('utf8') : req.rawBody).slice(0, 10_000);
		const form = readPreferencePost(body);
		if (form?.action === 'save') {
			const declared = (await topics.list()).map((t) => t.name);
			const unknown = form.topics.filter((t) => !declared.includes(t));
			if (unknown.length > 0)
				return centre(
					400,
					'Your e-mail preferences',
					`<p>Unknown topic "${escapeHtml(unknown[0])}": nothing changed.</p>`,
				);
			const [r] = await topics.set(
				[
					{
						contactId: claims.contactId,
						subscribe: form.topics,
						unsubscribe: declared.filter((t) => !form.topics.includes(t)),
					},
				],
				{ source: 'preference_centre' },
			);
			if (!r.ok && r.error.name !== 'NotFoundError') throw r.error;
			return centre(200, 'Your choices are saved', '');
		}
		if (form?.action !== 'everything' && !isOneClick(req.rawBody)) {
			return centre(
				400,
				'Your e-mail preferences',
				`<p>This request did not say List-Unsubscribe=One-Click, so nothing changed. Choose the e-mails you want${sender}.</p>`,
			);
		}
		const topic = form ? undefined : claims.topic;
		if (topic && (await topics.list()).some((t) => t.name === topic)) {
			const [r] = await topics.set([{ contactId: claims.contactId, unsubscribe: [topic] }], {
				source: 'one_click',
			});
			if (!r.ok && r.error.name !== 'NotFoundError') throw r.error;
			return {
				...page(200, 'You are unsubscribed', `<p>You will not receive these e-mails${sender} any more.</p>`),
				events:
					r.ok && r.value.changed.length > 0
						? [
								{
									source: 'tracking',
									type: 'unsubscribed',
									contactId: claims.contactId,
									campaignId: claims.campaignId,
									topic,
								},
							]
						: [],
			};
		}
		// No topic (or one no longer declared): the person wants these mails to stop, so all of them stop.
		const events = await this.track(
			{ contactId: claims.contactId, campaignId: claims.campaignId, kind: 'unsubscribed', messageId: claims.messageId },
			{},
		);
		return {
			...page(200, 'You are unsubscribed', `<p>You will not receive these e-mails${sender} any more.</p>`),
			events,
		};
	}

	/**
	 * Double opt-in: GET shows a page with a button (link scanners follow GET links, so showing it
	 * changes nothing); the button's POST turns "pending" into "subscribed" and keeps the proof.
	 */
	private async confirm(req: WebhookRequest, method: string): Promise<WebhookResponse> {
		const claims = this.claims(req, 'd');
		const age = claims ? this.store.now() - claims.issuedAt : 0;
		if (!claims || age > (this.config.confirmLinkTtlMs ?? 7 * 86_400_000))
			return page(
				400,
				'Link not valid',
				'<p>This confirmation link is not valid, has been altered or has expired. Sign up again to get a new one.</p>',
			);
		const sender = this.config.senderName ? ` from ${escapeHtml(this.config.senderName)}` : '';
		if (method === 'GET' || method === 'HEAD')
			return page(
				200,
				'Confirm your subscription',
				`<p>Do you want to receive our e-mails${sender}?</p>${CONFIRM_FORM}`,
			);
		if (method !== 'POST') return text(405, 'Method not allowed');
		const body = (Buffer.isBuffer(req.rawBody) ? req.rawBody.toString('utf8') : req.rawBody).slice(0, 10_000);
		const form = new URLSearchParams(body.trim());
		const parsed = parseJson(body);
		const confirmed =
			form.get('confirm') === 'yes' ||
			(parsed.ok && (parsed.value as Record<string, unknown> | null)?.confirm === 'yes');
		if (!confirmed)
			return page(
				400,
				'Confirm your subscription',
				`<p>Nothing changed. Do you want to receive our e-mails${sender}?</p>${CONFIRM_FORM}`,
			);
		const [change] = await this.store.contacts.change(
			[
				{
					id: claims.contactId,
					subscription: {
						status: 'subscribed',
						from: 'pending',
						source: `double-opt-in:${claims.campaignId}`,
						proof: { ip: req.ip ?? '', userAgent: header(req, 'user-agent') ?? '' },
					},
				},
			],
			'update',
			{ source: 'tracking' },
		);
		if (!change.ok) {
			if (change.error.name === 'NotFoundError')
				return page(404, 'Link not valid', '<p>This address is no longer on our list.</p>');
			throw change.error;
		}
		if (change.value.events.some((e) => e.name === '$subscription_changed'))
			return {
				...page(200, 'Subscription confirmed', `<p>Thank you: you will receive our e-mails${sender}.</p>`),
				events: [{ source: 'tracking', type: 'confirmed', contactId: claims.contactId, campaignId: claims.campaignId }],
			};
		const contact = await this.store.contacts.getOne(claims.contactId);
		if (contact?.subscription?.status === 'subscribed')
			return page(200, 'Subscription confirmed', '<p>Your subscription was already confirmed.</p>');
		// Unsubscribed (or bounced) since the link was sent: an old link does not undo that.
		return page(
			409,
			'Not confirmed',
			'<p>This address is not waiting for a confirmation any more, so nothing changed. Sign up again to subscribe.</p>',
		);
	}

	// ---------- ESP event webhooks ----------

	private async esp(req: WebhookRequest): Promise<WebhookResponse> {
		const provider = String(req.params.provider ?? '').toLowerCase() as Provider;
		if (!PROVIDERS.includes(provider))
			return json(404, { error: `Unknown provider "${req.params.provider}"; use one of ${PROVIDERS.join(', ')}` });
		const parsed = parseJson(req.rawBody);
		if (!parsed.ok) return json(400, { error: 'The body is not valid JSON' });
		const body = parsed.value;
		const s = this.config.secrets;
		const now = this.store.now();
		const tolerance = this.config.signatureToleranceMs ?? 15 * 60_000;
		const raw = Buffer.isBuffer(req.rawBody) ? req.rawBody : Buffer.from(req.rawBody, 'utf8');
		let outcomes: NormalisedOutcome[];
		switch (provider) {
			case 'sendgrid': {
				if (!s.sendgridPublicKey) return json(401, { error: 'The SendGrid verification key is not configured' });
				const ts = header(req, 'x-twilio-email-event-webhook-timestamp');
				if (!verifySendGrid(s.sendgridPublicKey, raw, header(req, 'x-twilio-email-event-webhook-signature'), ts))
					return json(401, { error: 'Bad SendGrid signature' });
				if (Math.abs(now - Number(ts) * 1000) > tolerance)
					return json(401, { error: 'SendGrid timestamp outside the allowed window (replay?)' });
				outcomes = parseSendGrid(body, this.isBot);
				break;
			}
			case 'mailgun': {
				if (!s.mailgunSigningKey) return json(401, { error: 'The Mailgun signing key is not configured' });
				const check = verifyMailgun(s.mailgunSigningKey, body);
				if (!check.ok) return json(401, { error: 'Bad Mailgun signature' });
				if (Math.abs(now - (check.timestamp as number)) > tolerance)
					return json(401, { error: 'Mailgun timestamp outside the allowed window (replay?)' });
				outcomes = parseMailgun(body, this.isBot);
				break;
			}
			case 'postmark': {
				if (!s.postmarkUser || !s.postmarkPassword)
					return json(401, { error: 'Postmark basic auth is not configured' });
				const auth = basicAuth(req);
				if (!auth || !safeEqual(auth.user, s.postmarkUser) || !safeEqual(auth.password, s.postmarkPassword)) {
					return {
						...json(401, { error: 'Wrong Postmark credentials' }),
						headers: { 'content-type': 'application/json; charset=utf-8', 'www-authenticate': 'Basic realm="esp"' },
					};
				}
				outcomes = parsePostmark(body, this.isBot);
				break;
			}
			case 'brevo': {
				if (!s.brevoToken) return json(401, { error: 'The Brevo token is not configured' });
				const bearer = (header(req, 'authorization') ?? '').replace(/^bearer\s+/i, '');
				if (!bearer || !safeEqual(bearer, s.brevoToken)) return json(401, { error: 'Wrong Brevo token' });
				outcomes = parseBrevo(body, this.isBot);
				break;
			}
			case 'ses': {
				const message = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
				if (!(await verifySns(message, this.config.fetchSnsCertificate ?? fetchSnsCertificate)))
					return json(401, { error: 'Bad SNS signature or certificate URL' });
				if (s.snsTopicArns && s.snsTopicArns.length > 0 && !s.snsTopicArns.includes(String(message.TopicArn)))
					return json(403, { error: 'SNS topic not allowed' });
				if (message.Type === 'SubscriptionConfirmation') {
					if (!isSnsUrl(message.SubscribeURL, false)) return json(400, { error: 'SubscribeURL is not an SNS URL' });
					await (this.config.confirmSnsSubscription ?? (async (url: string) => void (await httpsText(url, 64 * 1024))))(
						String(message.SubscribeURL),
					);
					return json(200, { confirmed: true });
				}
				if (message.Type !== 'Notification') return json(200, { ignored: message.Type });
				const inner = parseJson(String(message.Message ?? ''));
				if (!inner.ok) return json(400, { error: 'The SNS Message is not JSON' });
				outcomes = parseSes(inner.value, this.isBot);
				break;
			}
		}
		return this.recordEsp(provider, outcomes);
	}

	private async recordEsp(provider: Provider, outcomes: NormalisedOutcome[]): Promise<WebhookResponse> {
		// Resolve each outcome: our ids from metadata, else the Message-ID index, else the e-mail index.
		const byMessage = await this.campaigns.lookupMessages(
			outcomes.map((o) => (o.contactId ? '' : (o.messageId ?? ''))),
		);
		const resolved = await settleAll(outcomes, async (o, i) => {
			const found = byMessage[i].ok ? byMessage[i].value : null;
			if (o.contactId) return { contactId: o.contactId, campaignId: o.campaignId };
			if (found) return { contactId: found.contactId, campaignId: o.campaignId ?? found.campaignId };
			if (!o.email) return null;
			const id = await this.store.contacts
				.idForEmail(o.email)
				.catch((e: Error) => (e instanceof ValidationError ? null : Promise.reject(e)));
			return id ? { contactId: id, campaignId: o.campaignId } : null;
		});
		const inputs: OutcomeInput[] = [];
		const kept: NormalisedOutcome[] = [];
		resolved.forEach((r, i) => {
			if (!r.ok) throw r.error;
			if (!r.value) return;
			const o = outcomes[i];
			kept.push(o);
			inputs.push({
				contactId: r.value.contactId,
				campaignId: r.value.campaignId,
				kind: o.kind,
				time: o.time,
				machine: o.machine,
				machineWindowMs: this.machineWindowMs,
				url: o.url,
				bounceType: o.bounceType,
				status: o.status,
				diagnostic: o.diagnostic,
				messageId: o.messageId,
				provider,
			});
		});
		const results = await this.campaigns.recordOutcomes(inputs, { source: provider });
		const events: EmittedEvent[] = [];
		results.forEach((r, i) => {
			if (!r.ok) {
				if (r.error.name === 'StoreUnavailableError') throw r.error;
				return;
			}
			if (!r.value.recorded) return;
			const input = inputs[i];
			events.push({
				source: 'esp',
				provider,
				type: input.kind,
				contactId: input.contactId,
				...(input.campaignId ? { campaignId: input.campaignId } : {}),
				email: kept[i].email,
				...(input.bounceType
					? { bounceType: input.bounceType, status: input.status ?? '', diagnostic: input.diagnostic ?? '' }
					: {}),
				...(input.url ? { url: input.url } : {}),
				machine: r.value.machine,
				first: r.value.first,
				...(r.value.suppressed ? { suppressed: r.value.suppressed } : {}),
				time: new Date(input.time ?? this.store.now()).toISOString(),
			});
		});
		return json(
			200,
			{ received: outcomes.length, recorded: events.length, ignored: outcomes.length - events.length },
			events,
		);
	}
}

interface ReadEvent {
	contactId?: string;
	email?: string;
	name: string;
	properties?: unknown;
	time?: unknown;
	idempotencyKey?: string;
	fields?: Record<string, unknown>;
	tags?: string[];
}

/** An event of the body, checked whole before its contact is created or changed. */
function readEvent(raw: unknown, index: number, now: number): ReadEvent {
	if (!raw || typeof raw !== 'object' || Array.isArray(raw))
		throw new ValidationError(`events[${index}]`, `Event ${index} is not a JSON object`);
	const e = raw as Record<string, unknown>;
	const name = e.event ?? e.name ?? e.type;
	if (typeof name !== 'string' || name.trim() === '')
		throw new ValidationError(`events[${index}].event`, `Event ${index} has no "event" name`);
	checkName(`events[${index}].event`, name, LIMITS.eventNameLength, 'Event name');
	const contactId = e.contactId ?? e.userId;
	const email = e.email;
	if ((contactId === undefined || contactId === '') && (typeof email !== 'string' || email === '')) {
		throw new ValidationError(
			`events[${index}].contactId`,
			`Event ${index} names no contact: give "contactId" or "email"`,
		);
	}
	const fields = e.fields ?? e.traits;
	if (fields !== undefined && (typeof fields !== 'object' || fields === null || Array.isArray(fields)))
		throw new ValidationError(`events[${index}].fields`, `Event ${index}: "fields" must be an object`);
	const tags = e.tags;
	if (tags !== undefined && !Array.isArray(tags))
		throw new ValidationError(`events[${index}].tags`, `Event ${index}: "tags" must be a list`);
	const key = e.idempotencyKey ?? e.messageId ?? e.id;
	const properties = e.properties ?? e.data;
	checkProperties(properties, `events[${index}].properties`);
	const time = toMs(e.time ?? e.timestamp);
	if (time !== undefined && time !== '') toEventTime(time, `events[${index}].time`, now);
	return {
		contactId: contactId === undefined || contactId === '' ? undefined : String(contactId),
		email: typeof email === 'string' && email !== '' ? email : undefined,
		name,
		properties,
		time,
		idempotencyKey: key === undefined || key === '' ? undefined : String(key),
		fields: fields as Record<string, unknown> | undefined,
		tags: tags as string[] | undefined,
	};
}
