/**
 * Browser events in real n8n and headless Chromium (docs/browser-events.md): pages of a test site
 * (a local HTTP server at E2E_SITE_ORIGIN) load the snippet from the hub's Marketing Webhook
 * Trigger, send page views anonymously, and identify by a form (recipe 10: a CRM-known lead on the
 * pricing page alerts sales once identified) or by maTrack.identify (recipe 23: three views of an
 * author's pages, then the author's best books by mail). Bad input gets a 4xx and stores nothing.
 */
import { createServer } from 'http';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Redis } from 'ioredis';
import {
	contactOf,
	expectNoFailedExecutions,
	expectNoMoreMails,
	redisClient,
	seedContacts,
	sinkRequests,
	sleep,
	state,
	subscribe,
	uid,
	waitFor,
	waitForMails,
	workflow,
} from './support/env';
import type { PreparedWorkflow } from './support/prepare';
import { E2E_SITE_ORIGIN, E2E_SITE_PORT, E2E_VISITOR_RATE } from './support/tweaks';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureChromium } = require('../../scripts/ensure-chromium.js');

const SITE_KEY = 'pk_example_shop';
// Headless Chromium says "HeadlessChrome", which the bot filter refuses (as it should).
const HUMAN_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const endpoint = (wf: PreparedWorkflow) => `${state().webhookUrl}/webhook/${wf.eventsHook}/browser`;

/** A page of the test site: the snippet, optional page properties, a form that identifies. */
function sitePage(wf: PreparedWorkflow, body: string, pageProps?: Record<string, unknown>): string {
	return `<!doctype html><html><head><meta charset="utf-8"><title>Test shop</title>
${pageProps ? `<script>window.maPage = ${JSON.stringify(pageProps)};</script>` : ''}
<script src="${endpoint(wf)}" data-site-key="${SITE_KEY}" async></script></head><body>${body}</body></html>`;
}

// The page stays (no navigation), so the test sees the identify request through.
const CONTACT_FORM = `<form id="demo" data-ma-identify="demo-request" onsubmit="event.preventDefault()">
<input type="email" name="email" aria-label="E-mail"><button type="submit">Request a demo</button></form>`;

let browser: Browser;
let redis: Redis;

beforeAll(async () => {
	browser = await chromium.launch({
		executablePath: ensureChromium(),
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
	});
	redis = redisClient();
});
afterAll(async () => {
	await browser?.close();
	redis?.disconnect();
});

/**
 * A fresh visitor (own localStorage) on a test site at 127.0.0.1:<port>, whose pages `routes`
 * gives by path; closing it stops the site.
 */
async function visitor(
	routes: (path: string) => string | undefined,
	port = E2E_SITE_PORT,
): Promise<Pick<BrowserContext, 'newPage' | 'close'>> {
	const server = createServer((req, res) => {
		const html = routes(new URL(req.url ?? '/', 'http://site').pathname);
		res.writeHead(html === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
		res.end(html ?? 'not found');
	});
	await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
	const context = await browser.newContext({ userAgent: HUMAN_UA });
	return {
		newPage: () => context.newPage(),
		close: async () => {
			await context.close();
			await new Promise((resolve) => server.close(resolve));
		},
	};
}

/** The keys the workflow's store holds for a visitor id (its history and tie). */
async function visitorKeys(wf: PreparedWorkflow, visitorId: string): Promise<string[]> {
	return (await redis.keys(`${wf.keyPrefix}*`)).filter((k) => k.includes(visitorId) && !k.includes(':rate:'));
}

/** How many events the anonymous visitor's history holds. */
async function kept(wf: PreparedWorkflow, visitorId: string): Promise<number> {
	const history = (await visitorKeys(wf, visitorId)).find((k) => k.endsWith(':h'));
	return history ? redis.llen(history) : 0;
}

/** The snippet's visitor id, once the snippet has run. */
async function visitorIdOf(page: Page): Promise<string> {
	const id = await page.waitForFunction(() => (globalThis as any).maTrack?.visitorId(), undefined, { timeout: 20000 });
	return (await id.jsonValue()) as string;
}

/**
 * Opens a page and waits until its page view is in the visitor's history (sendBeacon requests
 * do not show as responses in Playwright, so the store is watched).
 */
async function view(page: Page, wf: PreparedWorkflow, url: string, historyLength: number): Promise<string> {
	await page.goto(url);
	const visitorId = await visitorIdOf(page);
	await waitFor(
		`${historyLength} events kept for the visitor`,
		async () => (await kept(wf, visitorId)) >= historyLength,
		20000,
	);
	return visitorId;
}

describe('recipe 10 from the browser: a known lead looks at pricing anonymously, then fills in a form', () => {
	it('alerts sales once the form identifies the visitor, with the merged page view', async () => {
		const wf = workflow('10-pricing-page');
		const lead = uid('browser-lead');
		const email = `${lead}@example.com`;
		await seedContacts(wf, [{ id: lead, email, lifecycleStage: 'lead' }]);
		const alerts = async () =>
			(await sinkRequests('/10-pricing-page-alert/')).filter((r) => r.body?.contactId === lead);

		const context = await visitor((path) =>
			path === '/pricing'
				? sitePage(wf, '<h1>Pricing</h1>')
				: path === '/contact'
					? sitePage(wf, CONTACT_FORM)
					: undefined,
		);
		try {
			const page = await context.newPage();
			const visitorId = await view(page, wf, `${E2E_SITE_ORIGIN}/pricing`, 1);
			expect(visitorId).toMatch(/^[A-Za-z0-9_-]{22}$/);
			// Anonymous: kept for the visitor, nothing on the lead yet, so no alert.
			expect(await visitorKeys(wf, visitorId)).toHaveLength(2);
			expect((await contactOf(wf, lead))?.events.page_viewed).toBeUndefined();

			// The same visitor id on the next page (first-party storage).
			expect(await view(page, wf, `${E2E_SITE_ORIGIN}/contact`, 2)).toBe(visitorId);
			await page.getByRole('textbox', { name: 'E-mail' }).fill(email);
			const identified = page.waitForResponse(
				(r) => r.url() === endpoint(wf) && (r.request().postData() ?? '').includes('"identify"'),
			);
			await page.getByRole('button', { name: 'Request a demo' }).click();
			expect((await identified).status()).toBe(200);
			// Merged: the history is cleared.
			expect(await kept(wf, visitorId)).toBe(0);
		} finally {
			await context.close();
		}
		const [alert] = await waitFor('the sales alert', async () => {
			const got = await alerts();
			return got.length > 0 && got;
		});
		expect(alert.body).toMatchObject({ contactId: lead, email, page: '/pricing', recipe: 'pricing-page' });
		const contact = await contactOf(wf, lead);
		expect(contact?.events.page_viewed?.count).toBe(2);
		expect(contact?.events.form_submitted?.count).toBe(1);
		await sleep(2000);
		expect(await alerts()).toHaveLength(1);
		await expectNoFailedExecutions(wf);
	});
});

describe('recipe 23 from the browser: an anonymous reader of one author, identified by maTrack.identify', () => {
	it("mails the author's best books once, after the merged views count 3", async () => {
		const wf = workflow('23-bookshop');
		// A subscriber (the default policy mails confirmed contacts only) reading without being logged in.
		const reader = uid('book-reader');
		const email = `${reader}@example.com`;
		await subscribe(wf, [reader]);
		const author = 'Ursula K. Le Guin';
		const context = await visitor((path) => {
			const n = /^\/authors\/le-guin\/(\d)$/.exec(path)?.[1];
			return n ? sitePage(wf, `<h1>${author} ${n}</h1>`, { author, authorSlug: 'le-guin', n: Number(n) }) : undefined;
		});
		try {
			const page = await context.newPage();
			for (const n of [1, 2, 3]) await view(page, wf, `${E2E_SITE_ORIGIN}/authors/le-guin/${n}`, n);
			const result = await page.evaluate((address) => (globalThis as any).maTrack.identify(address), email);
			expect(result).toBe(true);
		} finally {
			await context.close();
		}
		const [mail] = await waitForMails(email, 1, { wf, timeoutMs: 60000 });
		expect(mail.parsed.subject).toBe(`The best of ${author}`);
		expect(String(mail.parsed.html)).toContain('https://books.example.com/authors/le-guin');
		await expectNoMoreMails(email, 1, 4000);
		await expectNoFailedExecutions(wf);
	});
});

describe('the public browser endpoint refuses what a page may not do', () => {
	const wf = () => workflow('10-pricing-page');
	const post = (body: unknown, headers: Record<string, string> = {}) =>
		fetch(endpoint(wf()), {
			method: 'POST',
			headers: { origin: E2E_SITE_ORIGIN, 'user-agent': HUMAN_UA, 'content-type': 'text/plain', ...headers },
			body: typeof body === 'string' ? body : JSON.stringify(body),
		});
	const pageView = (visitorId: string, extra: Record<string, unknown> = {}) => ({
		siteKey: SITE_KEY,
		visitorId,
		events: [{ name: 'page_viewed', properties: { path: '/pricing' } }],
		...extra,
	});

	it('answers 4xx for a wrong origin, site key, bot, oversized, malformed or privileged request, and stores nothing', async () => {
		const v = uid('refused-visitor').replace(/[^A-Za-z0-9_-]/g, '');
		const cases: Array<[string, Response, number]> = [
			['wrong origin', await post(pageView(v), { origin: 'https://evil.example.net' }), 403],
			['wrong site key', await post(pageView(v, { siteKey: 'pk_other' })), 403],
			['bot', await post(pageView(v), { 'user-agent': 'curl/8.5.0' }), 403],
			['oversized', await post(pageView(v, { pad: 'x'.repeat(10_000) })), 413],
			['malformed', await post('{"siteKey": "pk_example_shop", '), 400],
			['privileged name', await post(pageView(v, { events: [{ name: '$email_clicked' }] })), 403],
			['not allow-listed', await post(pageView(v, { events: [{ name: 'purchase' }] })), 403],
		];
		for (const [label, res, status] of cases) {
			expect({ label, status: res.status }).toEqual({ label, status });
			expect(((await res.json()) as { error: string }).error).toBeTruthy();
		}
		expect(await visitorKeys(wf(), v)).toEqual([]);
	});

	it('refuses a flood from one visitor with 429 past the per-visitor limit', async () => {
		const v = uid('flood-visitor').replace(/[^A-Za-z0-9_-]/g, '');
		// The test copy allows E2E_VISITOR_RATE requests per visitor and minute (the default is 60).
		const statuses = await Promise.all(
			Array.from({ length: E2E_VISITOR_RATE + 3 }, async () => (await post(pageView(v))).status),
		);
		expect(statuses.filter((s) => s === 200)).toHaveLength(E2E_VISITOR_RATE);
		expect(statuses.filter((s) => s === 429)).toHaveLength(3);
		expect(await kept(wf(), v)).toBe(E2E_VISITOR_RATE);
	});

	it('a page of another origin: the browser gets no CORS grant and nothing is stored', async () => {
		const other = `http://127.0.0.1:${E2E_SITE_PORT + 1}`;
		const context = await visitor(() => sitePage(wf(), '<h1>Elsewhere</h1>'), E2E_SITE_PORT + 1);
		try {
			const page = await context.newPage();
			await page.goto(`${other}/`);
			const visitorId = await visitorIdOf(page);
			// A plain POST as the snippet sends it, and a JSON one (preflighted, which n8n answers):
			// either way the page cannot read the answer.
			const outcome = (contentType: string) =>
				page.evaluate(
					async ([url, key, id, type]) => {
						try {
							await fetch(url, {
								method: 'POST',
								headers: { 'content-type': type },
								body: JSON.stringify({ siteKey: key, visitorId: id, events: [{ name: 'page_viewed' }] }),
							});
							return 'read';
						} catch {
							return 'blocked';
						}
					},
					[endpoint(wf()), SITE_KEY, visitorId, contentType],
				);
			expect(await outcome('text/plain')).toBe('blocked');
			expect(await outcome('application/json')).toBe('blocked');
			// The snippet's own page view (sendBeacon) was refused too.
			await sleep(1500);
			expect(await visitorKeys(wf(), visitorId)).toEqual([]);
		} finally {
			await context.close();
		}
	});
});
