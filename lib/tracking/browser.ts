/**
 * The browser route of the Marketing Webhook Trigger (docs/browser-events.md): page views, events
 * and identifications straight from a web page, which can hold no secret. What stands in for one:
 * a public site key, the configured origins, user event names only (and an allow-list), rate limits
 * per IP and per visitor, a bot filter and a small body limit. Every refusal is a 4xx that stores
 * nothing (the rate counters aside).
 */
import { createHash } from 'crypto';
import { ValidationError } from '../errors';
import type { ContactStore } from '../store';
import { parseJson } from '../values';
import {
	checkVisitorEvent,
	checkVisitorId,
	ForbiddenInputError,
	Visitors,
	withinRate,
	type VisitorEvent,
} from '../visitors';
import { BROWSER_SNIPPET } from './snippet';
import { verifyToken } from './tokens';
import type { EmittedEvent, WebhookRequest, WebhookResponse } from './handler';

export interface BrowserEventsConfig {
	/** Public: it is in the page. Tells this site's requests from stray ones. */
	siteKey: string;
	/** Exact origins ("https://www.example.com") whose pages may send. */
	origins: string[];
	/** When not empty, the only event names pages may send. */
	allowedEvents?: string[];
	/** Requests per minute from one IP address (default 300). */
	perIpPerMinute?: number;
	/** Requests per minute of one visitor id (default 60). */
	perVisitorPerMinute?: number;
	/** Body limit in bytes (default 8192). */
	maxBodyBytes?: number;
}

export const BROWSER_DEFAULTS = { perIpPerMinute: 300, perVisitorPerMinute: 60, maxBodyBytes: 8192 } as const;
/** Events in one request: the snippet sends one or two. */
const MAX_EVENTS = 20;
const MINUTE = 60_000;
/** How long the identify token a click adds to its target URL works (the page it opens uses it at once). */
export const CLICK_IDENTIFY_TTL_MS = 60 * 60_000;
/** The query parameter of that token (the snippet reads it and takes it out of the address bar). */
export const CLICK_IDENTIFY_PARAM = 'ma_vt';

function header(req: WebhookRequest, name: string): string | undefined {
	const v = req.headers[name];
	return Array.isArray(v) ? v[0] : v;
}

/** The origins of a comma-separated list, each as the Origin header spells it. */
export function parseOrigins(list: string): string[] {
	return list
		.split(',')
		.map((o) => o.trim())
		.filter(Boolean)
		.map((o) => {
			try {
				return new URL(o).origin;
			} catch {
				throw new ValidationError('allowedOrigins', `"${o}" is not an origin like https://www.example.com`);
			}
		});
}

/** Whether a click's target is a page of this site, so that it may carry an identify token. */
export function isSiteUrl(config: BrowserEventsConfig | undefined, url: string): boolean {
	if (!config?.siteKey) return false;
	try {
		return config.origins.includes(new URL(url).origin);
	} catch {
		return false;
	}
}

export class BrowserRoute {
	private readonly visitors: Visitors;

	constructor(
		private readonly store: ContactStore,
		private readonly config: BrowserEventsConfig | undefined,
		private readonly signingSecret: string,
		private readonly isBot: (userAgent?: string) => boolean,
	) {
		this.visitors = new Visitors(store);
	}

	private reply(status: number, body: unknown, origin?: string, events: EmittedEvent[] = []): WebhookResponse {
		return {
			status,
			headers: {
				'content-type': 'application/json; charset=utf-8',
				'cache-control': 'no-store, max-age=0',
				vary: 'Origin',
				...(origin ? { 'access-control-allow-origin': origin } : {}),
			},
			body: JSON.stringify(body),
			events,
		};
	}

	async handle(req: WebhookRequest, method: string): Promise<WebhookResponse> {
		const config = this.config;
		if (method === 'GET' || method === 'HEAD')
			return {
				status: 200,
				headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=3600' },
				body: method === 'HEAD' ? '' : BROWSER_SNIPPET,
				events: [],
			};
		if (!config?.siteKey || config.origins.length === 0)
			return this.reply(404, {
				error: 'Browser events are not enabled on this trigger: set its Site Key and Allowed Origins',
			});
		const origin = header(req, 'origin');
		const allowed = origin !== undefined && config.origins.includes(origin) ? origin : undefined;
		if (method === 'OPTIONS') {
			// n8n answers preflights itself before the node runs; this serves other hosts of the handler.
			if (!allowed) return this.reply(403, { error: `Origin ${origin ?? '(none)'} is not allowed` });
			const preflight = this.reply(204, '', allowed);
			return {
				...preflight,
				body: '',
				headers: {
					...preflight.headers,
					'access-control-allow-methods': 'POST',
					'access-control-allow-headers': 'content-type',
					'access-control-max-age': '600',
				},
			};
		}
		if (method !== 'POST') return this.reply(405, { error: 'Method not allowed' });
		if (!allowed)
			return this.reply(403, {
				error: `Origin ${origin ?? '(none)'} is not allowed: add it to the trigger's Allowed Origins`,
			});
		const bytes = Buffer.byteLength(req.rawBody);
		const maxBody = config.maxBodyBytes ?? BROWSER_DEFAULTS.maxBodyBytes;
		if (bytes > maxBody)
			return this.reply(413, { error: `The body is ${bytes} bytes; the limit is ${maxBody}` }, allowed);
		const userAgent = header(req, 'user-agent');
		// As for clicks: browsers always send a User-Agent, scripts may not.
		if (!userAgent || this.isBot(userAgent))
			return this.reply(403, { error: 'Requests from bots (or without a User-Agent) are not recorded' }, allowed);
		const parsed = parseJson(req.rawBody);
		if (!parsed.ok || !parsed.value || typeof parsed.value !== 'object' || Array.isArray(parsed.value))
			return this.reply(400, { error: 'The body is not a JSON object' }, allowed);
		const body = parsed.value as Record<string, unknown>;
		if (body.siteKey !== config.siteKey) return this.reply(403, { error: 'Wrong or missing siteKey' }, allowed);

		let visitorId: string;
		let events: VisitorEvent[];
		let identify: { email?: string; contactId?: string } | undefined;
		try {
			visitorId = checkVisitorId(body.visitorId);
			events = this.readEvents(body.events);
			identify = this.readIdentify(body.identify);
		} catch (error) {
			if (!(error instanceof ValidationError)) throw error;
			const status = error instanceof ForbiddenInputError ? 403 : 400;
			return this.reply(status, { error: error.message, field: error.field }, allowed);
		}
		if (events.length === 0 && !identify)
			return this.reply(400, { error: 'Nothing to record: give "events" or "identify"' }, allowed);

		const ip = createHash('sha256')
			.update(`${config.siteKey}|${req.ip ?? ''}`)
			.digest('base64url')
			.slice(0, 22);
		const [ipOk, visitorOk] = await Promise.all([
			withinRate(this.store, `b:ip:${ip}`, config.perIpPerMinute ?? BROWSER_DEFAULTS.perIpPerMinute, MINUTE),
			withinRate(
				this.store,
				`b:v:${visitorId}`,
				config.perVisitorPerMinute ?? BROWSER_DEFAULTS.perVisitorPerMinute,
				MINUTE,
			),
		]);
		if (!ipOk || !visitorOk) {
			const limited = this.reply(
				429,
				{ error: `Too many requests from this ${ipOk ? 'visitor' : 'address'}; try again in a minute` },
				allowed,
			);
			return { ...limited, headers: { ...limited.headers, 'retry-after': '60' } };
		}

		const collected = events.length > 0 ? await this.visitors.collect(visitorId, events) : undefined;
		const emitted: EmittedEvent[] = [];
		if (collected?.contactId)
			for (const e of events)
				emitted.push({
					source: 'browser',
					type: 'event',
					contactId: collected.contactId,
					event: e.name,
					properties: e.properties,
				});
		if (!identify)
			return this.reply(200, { recorded: collected?.recorded ?? 0, kept: collected?.kept ?? 0 }, allowed, emitted);
		const who = await this.visitors.identify(visitorId, identify);
		if (who.status === 'conflict')
			return this.reply(
				409,
				{ error: 'This visitor is already identified as another contact; start a new visitor id' },
				allowed,
				emitted,
			);
		if (who.status === 'notFound') return this.reply(404, { error: 'The contact no longer exists' }, allowed, emitted);
		emitted.push({
			source: 'browser',
			type: 'identified',
			contactId: who.contactId,
			merged: who.merged,
			contactCreated: who.contactCreated,
		});
		return this.reply(200, { identified: true, merged: who.merged }, allowed, emitted);
	}

	private readEvents(raw: unknown): VisitorEvent[] {
		if (raw === undefined) return [];
		if (!Array.isArray(raw)) throw new ValidationError('events', '"events" must be a list');
		if (raw.length > MAX_EVENTS)
			throw new ValidationError('events', `At most ${MAX_EVENTS} events per request, got ${raw.length}`);
		const allowList = this.config?.allowedEvents ?? [];
		return raw.map((e, i) => {
			const event = checkVisitorEvent(e, `events[${i}]`);
			if (allowList.length > 0 && !allowList.includes(event.name))
				throw new ForbiddenInputError(
					`events[${i}].name`,
					`"${event.name}" is not one of the trigger's Allowed Event Names`,
				);
			return event;
		});
	}

	private readIdentify(raw: unknown): { email?: string; contactId?: string } | undefined {
		if (raw === undefined) return undefined;
		const who = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
		if (typeof who.email === 'string' && who.email !== '') {
			if (who.email.length > 254 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(who.email))
				throw new ValidationError('identify.email', 'identify.email is not an e-mail address');
			return { email: who.email };
		}
		if (typeof who.token === 'string') {
			// A click's token: proves the contact without naming it in the page's address.
			const claims = verifyToken(this.signingSecret, who.token, 'i');
			if (!claims || this.store.now() - claims.issuedAt > CLICK_IDENTIFY_TTL_MS)
				throw new ForbiddenInputError('identify.token', 'The identify token is not valid or has expired');
			return { contactId: claims.contactId };
		}
		throw new ValidationError('identify', 'identify needs "email" (or the "token" of a tracked click)');
	}
}
