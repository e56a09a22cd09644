/**
 * Browser events and anonymous visitors (lib/visitors, the browser route of lib/tracking) on real
 * Redis, standalone and cluster: the history an anonymous visitor collects, its merge into the
 * contact (once, whatever is repeated, seen by the log, counters and segments), the refusal to tie
 * a visitor to a second contact, erase, the click's identify token, and every refusal of the
 * public route: a 4xx that stores nothing.
 */
import type { Cluster, Redis } from 'ioredis';
import { closeAllStores } from '../../lib/redis/pool';
import { Visitors, VISITOR_LIMITS, WebhookHandler, signToken, type WebhookRequest } from '../../lib';
import { Segments } from '../../lib/segments';
import { openStore, topologies } from '../harness/store';

const SECRET = 'visitor-test-signing-secret-0123456789';
const HUMAN = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const SITE = 'https://shop.example.com';
const SITE_KEY = 'pk_test_shop';
const visitorId = () => `v${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`.padEnd(20, 'x');

afterAll(() => closeAllStores());

/** Every key under the prefix on every master, rate counters aside. */
async function keysOf(redis: Redis | Cluster, prefix: string): Promise<string[]> {
	const nodes = (redis as Cluster).isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
	const out: string[] = [];
	for (const node of nodes) {
		let cursor = '0';
		do {
			const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
			cursor = next;
			out.push(...keys.filter((k) => !k.includes(':rate:')));
		} while (cursor !== '0');
	}
	return out.sort();
}

describe.each(topologies)('browser visitors on %s Redis', (topology) => {
	const open = () => openStore(topology);

	it('keeps an anonymous history (bounded), merges it into the contact once, then records straight on it', async () => {
		const { store, release, config } = open();
		try {
			const visitors = new Visitors(store);
			const vid = visitorId();
			const seen = await visitors.collect(vid, [
				{ id: 'e1', name: 'page_viewed', properties: { path: '/pricing' } },
				{ id: 'e2', name: 'page_viewed', properties: { path: '/blog' } },
			]);
			expect(seen).toEqual({ kept: 2, recorded: 0 });
			// Retried beacon: kept twice in the history, merged once (same event id).
			await visitors.collect(vid, [{ id: 'e2', name: 'page_viewed', properties: { path: '/blog' } }]);
			expect(await keysOf(store.redis, config.keyPrefix)).toHaveLength(2);

			const first = await visitors.identify(vid, { email: 'Ada@Example.com' });
			expect(first).toMatchObject({ status: 'merged', merged: 2, contactCreated: true });
			const contactId = (first as { contactId: string }).contactId;
			const again = await visitors.identify(vid, { email: 'ada@example.com' });
			expect(again).toEqual({ status: 'merged', contactId, merged: 0, contactCreated: false });

			const contact = await store.contacts.getOne(contactId);
			expect(contact?.events.page_viewed?.count).toBe(2);
			const history = await store.events.history(contactId);
			expect(history.filter((e) => e.name === 'page_viewed').map((e) => e.properties)).toEqual(
				expect.arrayContaining([{ path: '/pricing' }, { path: '/blog' }]),
			);
			expect(history.every((e) => e.name !== 'page_viewed' || e.source === 'browser')).toBe(true);
			// The shard's log (what Contact Triggers read) got each merged event once.
			const log = await store.call((r) => r.xrange(store.keys.log(store.keys.shardOfContact(contactId)), '-', '+'));
			expect(log.filter(([, f]) => f.includes('page_viewed'))).toHaveLength(2);
			// Segments see the merged events.
			const segments = new Segments(store);
			const [match] = await segments.evaluate(
				{ type: 'event', operator: 'didAtLeast', event: 'page_viewed', count: 2, days: 1 },
				[contactId],
			);
			expect(match.ok && match.value.matched).toBe(true);

			// Tied: new events go straight to the contact (and a repeated event id is recorded once).
			const later = await visitors.collect(vid, [{ id: 'e3', name: 'page_viewed', properties: { path: '/pricing' } }]);
			expect(later).toEqual({ contactId, recorded: 1 });
			expect(
				(await visitors.collect(vid, [{ id: 'e3', name: 'page_viewed', properties: { path: '/pricing' } }])).recorded,
			).toBe(0);
			expect((await store.contacts.getOne(contactId))?.events.page_viewed?.count).toBe(3);
		} finally {
			release();
		}
	});

	it(`keeps at most ${VISITOR_LIMITS.historyEvents} events per anonymous visitor, for ${VISITOR_LIMITS.historyTtlMs / 86_400_000} days`, async () => {
		const { store, release } = open();
		try {
			const visitors = new Visitors(store);
			const vid = visitorId();
			const batch = (from: number) =>
				Array.from({ length: 20 }, (_, i) => ({
					id: `n${from + i}`,
					name: 'page_viewed',
					properties: { n: from + i },
				}));
			let kept = 0;
			for (let i = 0; i < 6; i++) kept = (await visitors.collect(vid, batch(i * 20))).kept as number;
			expect(kept).toBe(VISITOR_LIMITS.historyEvents);
			const ttl = await store.call((r) => r.pttl(`${store.keys.visitor(vid)}:h`));
			expect(ttl).toBeGreaterThan(VISITOR_LIMITS.historyTtlMs - 60_000);
			const merged = await visitors.identify(vid, { email: `bounded-${vid}@example.com` });
			expect(merged).toMatchObject({ status: 'merged', merged: VISITOR_LIMITS.historyEvents });
			// The oldest went first.
			const history = await store.events.history((merged as { contactId: string }).contactId, 200);
			expect(history.some((e) => (e.properties as { n?: number }).n === 0)).toBe(false);
			expect(history.some((e) => (e.properties as { n?: number }).n === 119)).toBe(true);
		} finally {
			release();
		}
	});

	it('never ties a visitor to a second contact: refused, nothing stored, not even a new contact', async () => {
		const { store, release } = open();
		try {
			const visitors = new Visitors(store);
			const vid = visitorId();
			await store.contacts.upsert([
				{ id: 'known-x', email: 'x@example.com' },
				{ id: 'known-y', email: 'y@example.com' },
			]);
			await visitors.collect(vid, [{ id: 'a', name: 'page_viewed' }]);
			expect(await visitors.identify(vid, { email: 'x@example.com' })).toMatchObject({ status: 'merged', merged: 1 });
			expect(await visitors.identify(vid, { email: 'y@example.com' })).toEqual({ status: 'conflict' });
			expect(await visitors.identify(vid, { contactId: 'known-y' })).toEqual({ status: 'conflict' });
			expect(await visitors.identify(vid, { email: 'new@example.com' })).toEqual({ status: 'conflict' });
			expect(await store.contacts.idForEmail('new@example.com')).toBeNull();
			expect((await store.contacts.getOne('known-y'))?.events.page_viewed).toBeUndefined();
			expect((await store.contacts.getOne('known-x'))?.events.page_viewed?.count).toBe(1);
		} finally {
			release();
		}
	});

	it('erase unlinks the visitors (export lists them first); the visitor starts over as anonymous', async () => {
		const { store, release, config } = open();
		try {
			const visitors = new Visitors(store);
			const vid = visitorId();
			await visitors.collect(vid, [{ id: 'a', name: 'page_viewed', properties: { path: '/' } }]);
			const r = await visitors.identify(vid, { email: 'erase-me@example.com' });
			const contactId = (r as { contactId: string }).contactId;
			const [exported] = await store.contacts.export([contactId]);
			expect(exported.ok && (exported.value?.storedKeys as Record<string, unknown>).vis).toEqual([
				vid,
				expect.any(String),
			]);
			await store.contacts.erase([contactId]);
			const left = await keysOf(store.redis, config.keyPrefix);
			expect(left.filter((k) => k.includes(vid) || k.includes(contactId))).toEqual([]);
			expect(await visitors.collect(vid, [{ id: 'b', name: 'page_viewed' }])).toEqual({ kept: 1, recorded: 0 });
			expect(await store.contacts.getOne(contactId)).toBeNull();
		} finally {
			release();
		}
	});
});

describe.each(topologies)('the browser route on %s Redis', (topology) => {
	const setup = (browser: Record<string, unknown> = {}) => {
		const lease = openStore(topology);
		const handler = new WebhookHandler(lease.store, {
			signingSecret: SECRET,
			secrets: {},
			machineWindowMs: 0,
			browser: { siteKey: SITE_KEY, origins: [SITE], ...browser },
		});
		const post = (body: unknown, headers: Record<string, string | undefined> = {}, ip = '203.0.113.9') =>
			handler.handle('browser', {
				method: 'POST',
				headers: { origin: SITE, 'user-agent': HUMAN, 'content-type': 'text/plain;charset=UTF-8', ...headers },
				rawBody: typeof body === 'string' ? body : JSON.stringify(body),
				params: {},
				ip,
			} as WebhookRequest);
		return { ...lease, handler, post };
	};
	const view = (vid: string, extra: Record<string, unknown> = {}) => ({
		siteKey: SITE_KEY,
		visitorId: vid,
		events: [
			{ id: `p${Math.random().toString(36).slice(2, 8)}`, name: 'page_viewed', properties: { path: '/pricing' } },
		],
		...extra,
	});

	it('records a page view with CORS for the configured origin, and identifies by e-mail', async () => {
		const { store, release, post } = setup();
		try {
			const vid = visitorId();
			const res = await post(view(vid));
			expect(res.status).toBe(200);
			expect(res.headers['access-control-allow-origin']).toBe(SITE);
			expect(JSON.parse(String(res.body))).toEqual({ recorded: 0, kept: 1 });
			const id = await post({
				siteKey: SITE_KEY,
				visitorId: vid,
				events: [{ id: 'f1', name: 'form_submitted', properties: { form: 'demo' } }],
				identify: { email: 'lead@example.com' },
			});
			expect(id.status).toBe(200);
			expect(JSON.parse(String(id.body))).toEqual({ identified: true, merged: 2 });
			expect(id.events).toEqual([expect.objectContaining({ source: 'browser', type: 'identified', merged: 2 })]);
			const contactId = (await store.contacts.idForEmail('lead@example.com')) as string;
			const contact = await store.contacts.getOne(contactId);
			expect(contact?.events.page_viewed?.count).toBe(1);
			expect(contact?.events.form_submitted?.count).toBe(1);
		} finally {
			release();
		}
	});

	it('answers a preflight for a configured origin only, and serves the snippet on GET', async () => {
		const { release, handler } = setup();
		try {
			const preflight = (origin: string) =>
				handler.handle('browser', { method: 'OPTIONS', headers: { origin }, rawBody: '', params: {} });
			const ok = await preflight(SITE);
			expect(ok.status).toBe(204);
			expect(ok.headers).toMatchObject({ 'access-control-allow-origin': SITE, 'access-control-allow-methods': 'POST' });
			const bad = await preflight('https://evil.example.net');
			expect(bad.status).toBe(403);
			expect(bad.headers['access-control-allow-origin']).toBeUndefined();
			const js = await handler.handle('browser', { method: 'GET', headers: {}, rawBody: '', params: {} });
			expect(js.headers['content-type']).toContain('javascript');
			expect(Buffer.byteLength(String(js.body))).toBeLessThan(4096);
		} finally {
			release();
		}
	});

	it('refuses bad input with a clear 4xx and stores nothing', async () => {
		const { store, release, config, post } = setup({ allowedEvents: ['page_viewed', 'form_submitted'] });
		try {
			const vid = visitorId();
			const cases: Array<
				[string, Promise<{ status: number; body: string | Buffer; headers: Record<string, string> }>, number, RegExp]
			> = [
				['wrong origin', post(view(vid), { origin: 'https://evil.example.net' }), 403, /Origin .* not allowed/],
				['no origin', post(view(vid), { origin: undefined }), 403, /Origin \(none\)/],
				['wrong site key', post(view(vid, { siteKey: 'pk_other' })), 403, /siteKey/],
				['no user agent', post(view(vid), { 'user-agent': undefined }), 403, /bots/],
				['a bot', post(view(vid), { 'user-agent': 'Googlebot/2.1 (+http://www.google.com/bot.html)' }), 403, /bots/],
				['oversized', post(view(vid, { pad: 'x'.repeat(9000) })), 413, /limit is 8192/],
				['malformed', post('{"siteKey":'), 400, /not a JSON object/],
				['bad visitor id', post(view('short')), 400, /visitor id/],
				[
					'privileged name',
					post({ siteKey: SITE_KEY, visitorId: vid, events: [{ name: '$email_clicked' }] }),
					403,
					/pack's own/,
				],
				[
					'not allow-listed',
					post({ siteKey: SITE_KEY, visitorId: vid, events: [{ name: 'purchase', properties: { author: 'x' } }] }),
					403,
					/Allowed Event Names/,
				],
				['bad e-mail', post({ siteKey: SITE_KEY, visitorId: vid, identify: { email: 'nope' } }), 400, /e-mail/],
				['forged click token', post({ siteKey: SITE_KEY, visitorId: vid, identify: { token: 'abc' } }), 403, /token/],
				['nothing to do', post({ siteKey: SITE_KEY, visitorId: vid }), 400, /Nothing to record/],
			];
			for (const [label, pending, status, message] of cases) {
				const res = await pending;
				expect({ label, status: res.status }).toEqual({ label, status });
				expect(JSON.parse(String(res.body)).error).toMatch(message);
			}
			expect(await keysOf(store.redis, config.keyPrefix)).toEqual([]);
		} finally {
			release();
		}
	});

	it('limits requests per visitor and per IP address (429, nothing stored past the limit)', async () => {
		const { store, release, post } = setup({ perVisitorPerMinute: 3, perIpPerMinute: 5 });
		try {
			const vid = visitorId();
			const statuses = [];
			for (let i = 0; i < 5; i++) statuses.push((await post(view(vid))).status);
			expect(statuses).toEqual([200, 200, 200, 429, 429]);
			const other = visitorId();
			// The IP has used 5; a new visitor from it is refused, from another IP accepted.
			expect((await post(view(other))).status).toBe(429);
			expect((await post(view(other), {}, '198.51.100.7')).status).toBe(200);
			const history = await store.call((r) => r.llen(`${store.keys.visitor(vid)}:h`));
			expect(history).toBe(3);
		} finally {
			release();
		}
	});

	it('identifies a visitor from a tracked click: the click to the site carries a token the snippet sends', async () => {
		const { store, release, post, handler, clock } = setup();
		try {
			await store.contacts.upsert([{ id: 'clicker', email: 'clicker@example.com' }]);
			const vid = visitorId();
			await post(view(vid));
			const token = signToken(SECRET, {
				kind: 'c',
				contactId: 'clicker',
				campaignId: 'news',
				url: `${SITE}/books?x=1`,
				issuedAt: clock.ms - 60_000,
			});
			const click = await handler.handle('click', {
				method: 'GET',
				headers: { 'user-agent': HUMAN },
				rawBody: '',
				params: { token },
			});
			expect(click.status).toBe(302);
			const target = new URL(click.headers.location);
			expect(target.origin + target.pathname).toBe(`${SITE}/books`);
			const identifyToken = target.searchParams.get('ma_vt') as string;
			expect(identifyToken).toBeTruthy();
			expect(identifyToken).not.toContain('clicker');
			const res = await post({ siteKey: SITE_KEY, visitorId: vid, identify: { token: identifyToken } });
			expect(res.status).toBe(200);
			expect((await store.contacts.getOne('clicker'))?.events.page_viewed?.count).toBe(1);
			// An hour later the token no longer works; a link elsewhere gets none.
			clock.advance(61 * 60_000);
			expect(
				(await post({ siteKey: SITE_KEY, visitorId: visitorId(), identify: { token: identifyToken } })).status,
			).toBe(403);
			const elsewhere = signToken(SECRET, {
				kind: 'c',
				contactId: 'clicker',
				campaignId: 'news',
				url: 'https://other.example.org/',
				issuedAt: clock.ms - 60_000,
			});
			const out = await handler.handle('click', {
				method: 'GET',
				headers: { 'user-agent': HUMAN },
				rawBody: '',
				params: { token: elsewhere },
			});
			expect(out.headers.location).toBe('https://other.example.org/');
		} finally {
			release();
		}
	});
});
