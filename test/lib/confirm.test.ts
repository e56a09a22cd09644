/**
 * Double opt-in end to end, without n8n: the confirmation mail goes over real SMTP (parsed with
 * mailparser), its link is opened in headless Chromium against a node:http server wrapping the
 * Marketing Webhook handler; GET (a person or a link scanner looking) changes nothing, the page's
 * POST button confirms and keeps the proof. Bad, altered and expired links answer 400.
 */
import { createServer, type Server } from 'http';
import { chromium, type Browser } from 'playwright-core';
import { closeAllStores } from '../../lib/redis/pool';
import { acquireMailer, Campaigns, closeAllMailers, type CampaignSpec, type SendOutcome } from '../../lib/campaigns';
import { ROUTES, routeOfParams, routePattern, WebhookHandler, type Route } from '../../lib/tracking';
import type { Result } from '../../lib';
import { openStore, topologies } from '../harness/store';
import { startSmtp, type SmtpSink } from '../harness/smtp';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureChromium } = require('../../scripts/ensure-chromium.js');

const SECRET = 'confirm-signing-secret-0123456789';
const DAY = 86_400_000;

function routeOf(path: string): { route: Route; params: Record<string, string> } | null {
	for (const route of Object.keys(ROUTES) as Route[]) {
		const [prefix, param] = routePattern(route).split('/:');
		const m = new RegExp(`^/${prefix}${param ? '/([^/]+)' : ''}$`).exec(path);
		if (m) return routeOfParams(param ? { [param]: decodeURIComponent(m[1]) } : {});
	}
	return null;
}

function value<T>(result: Result<T>): T {
	if (!result.ok) throw result.error;
	return result.value;
}

let smtp: SmtpSink;
let browser: Browser;
beforeAll(async () => {
	smtp = await startSmtp();
	browser = await chromium.launch({
		executablePath: ensureChromium(),
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
	});
}, 60_000);
afterAll(async () => {
	await browser?.close();
	closeAllMailers();
	await smtp.stop();
	await closeAllStores();
});

describe.each(topologies)('double opt-in on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	const campaigns = new Campaigns(store);
	const handler = new WebhookHandler(store, { signingSecret: SECRET, secrets: {}, senderName: 'Shop' });
	let server: Server;
	let base = '';

	beforeAll(async () => {
		server = createServer((req, res) => {
			const chunks: Buffer[] = [];
			req.on('data', (c: Buffer) => chunks.push(c));
			req.on('end', async () => {
				const url = new URL(req.url ?? '/', 'http://x');
				const match = routeOf(url.pathname);
				if (!match) return void res.writeHead(404).end();
				const out = await handler.handle(match.route, {
					method: req.method ?? 'GET',
					headers: req.headers,
					rawBody: Buffer.concat(chunks),
					params: match.params,
					ip: req.socket.remoteAddress,
				});
				res.writeHead(out.status, out.headers).end(out.body);
			});
		});
		await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
		base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
	});
	afterAll(async () => {
		await new Promise<void>((r) => server.close(() => r()));
		ctx.release();
	});
	beforeEach(() => {
		smtp.mails.length = 0;
		clock.ms = Date.UTC(2026, 0, 15, 12, 0);
	});

	let n = 0;
	const pending = async () => {
		const id = `d${++n}-${topology}`;
		value(
			(
				await store.contacts.upsert([
					{ id, email: `${id}@example.com`, subscription: { status: 'pending', source: 'signup form' } },
				])
			)[0],
		);
		return id;
	};
	const status = async (id: string) => (await store.contacts.getOne(id))?.subscription?.status;
	const confirmation: CampaignSpec = {
		id: 'confirm-signup',
		fromEmail: 'news@shop.example',
		subject: 'Please confirm your subscription',
		html: '<p>Click to confirm: <a href="{{ confirmUrl }}">Yes, subscribe me</a></p>',
		transactional: true,
		policy: 'workspace',
		trackClicks: true,
		signingSecret: SECRET,
		trackingBaseUrl: '',
	};
	const newsletter = (): CampaignSpec => ({
		...confirmation,
		id: `news-${++n}`,
		subject: 'News',
		html: '<p>News</p>',
		transactional: false,
	});
	const sendTo = async (id: string, spec: CampaignSpec): Promise<SendOutcome> =>
		value(
			(
				await campaigns.send({ ...spec, trackingBaseUrl: base }, [{ contactId: id }], {
					mode: 'smtp',
					mailer: acquireMailer({ host: '127.0.0.1', port: smtp.port, secure: false, starttls: 'never' }).mailer,
				})
			)[0],
		);
	/** Sends the confirmation mail over SMTP and reads the link out of the received mail. */
	const confirmLink = async (id: string): Promise<string> => {
		smtp.mails.length = 0;
		expect(await sendTo(id, confirmation)).toMatchObject({ status: 'sent' });
		const [mail] = await smtp.waitFor(1);
		expect(mail.envelope.to).toEqual([`${id}@example.com`]);
		const link = /href="([^"]+)"/.exec(String(mail.parsed.html))?.[1] as string;
		// Not rewritten by click tracking: the link goes straight to the confirmation route.
		expect(link.startsWith(`${base}/${ROUTES.confirm.path}/`)).toBe(true);
		return link;
	};

	it('GET in Chromium shows a button and changes nothing; its POST confirms, keeps the proof, and marketing mail follows', async () => {
		const id = await pending();
		const link = await confirmLink(id);
		expect(await sendTo(id, newsletter())).toMatchObject({ status: 'skipped', reason: 'no_consent' });

		// A link scanner's GET and HEAD.
		const scanner = await fetch(link, { headers: { 'user-agent': 'Mimecast link scanner' } });
		expect(scanner.status).toBe(200);
		expect((await fetch(link, { method: 'HEAD' })).status).toBe(200);
		expect(await status(id)).toBe('pending');

		const page = await browser.newPage();
		try {
			await page.goto(link);
			await expect(page.locator('h1').textContent()).resolves.toBe('Confirm your subscription');
			expect(await status(id)).toBe('pending');
			const userAgent = (await page.evaluate('navigator.userAgent')) as string;
			await Promise.all([
				page.waitForNavigation(),
				page.getByRole('button', { name: 'Confirm my subscription' }).click(),
			]);
			await expect(page.locator('h1').textContent()).resolves.toBe('Subscription confirmed');

			const contact = await store.contacts.getOne(id);
			expect(contact?.subscription).toEqual({
				status: 'subscribed',
				source: 'double-opt-in:confirm-signup',
				at: new Date(clock.ms).toISOString(),
				confirmation: {
					source: 'double-opt-in:confirm-signup',
					at: new Date(clock.ms).toISOString(),
					ip: expect.stringMatching(/127\.0\.0\.1$/),
					userAgent,
				},
			});
		} finally {
			await page.close();
		}
		// GDPR art. 7: the export carries the proof.
		const [exported] = await store.contacts.export([id]);
		expect(value(exported)).toMatchObject({
			consent: { status: 'subscribed', confirmation: { source: 'double-opt-in:confirm-signup' } },
		});
		expect(await sendTo(id, newsletter())).toMatchObject({ status: 'sent' });

		// Confirming again changes nothing and logs no second change.
		const again = await fetch(link, { method: 'POST', body: 'confirm=yes' });
		expect(again.status).toBe(200);
		expect(await again.text()).toContain('already confirmed');
		// The contact was created pending (its $contact_created says so); the confirmation is the one change.
		const changes = (await store.events.history(id, 50)).filter((e) => e.name === '$subscription_changed');
		expect(changes.map((e) => e.properties)).toEqual([
			{ from: 'pending', to: 'subscribed', source: 'double-opt-in:confirm-signup' },
		]);
	});

	it('answers 400 for a tampered, wrong-kind or expired link, and a POST without confirm=yes; nothing changes', async () => {
		const id = await pending();
		const link = await confirmLink(id);
		const token = link.slice(link.lastIndexOf('/') + 1);
		const flipped = token.slice(0, 20) + (token[20] === 'A' ? 'B' : 'A') + token.slice(21);
		const post = (url: string, body = 'confirm=yes') =>
			fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
		for (const bad of [flipped, token.slice(0, -4), 'not-a-token']) {
			const r = await post(`${base}/${ROUTES.confirm.path}/${bad}`);
			expect(r.status).toBe(400);
			expect(await r.text()).toContain('not valid');
		}
		// The unsubscribe link of a mail is not a confirmation link.
		const unsubscribeToken = /\/u\/([\w-]+)>/.exec(smtp.mails[0].headerLines['list-unsubscribe'] ?? '')?.[1];
		expect(unsubscribeToken).toBeTruthy();
		expect((await post(`${base}/${ROUTES.confirm.path}/${unsubscribeToken}`)).status).toBe(400);
		// An empty POST (a scanner) is not a confirmation.
		const empty = await post(link, '');
		expect(empty.status).toBe(400);
		expect(await empty.text()).toContain('<form method="post">');
		expect(await status(id)).toBe('pending');

		clock.advance(7 * DAY + 1);
		const expired = await post(link);
		expect(expired.status).toBe(400);
		expect(await expired.text()).toContain('expired');
		expect(await status(id)).toBe('pending');
		expect((await store.contacts.getOne(id))?.subscription?.confirmation).toBeUndefined();
	});

	it('does not turn an unsubscribed contact back into a subscriber with an old link (409)', async () => {
		const id = await pending();
		const link = await confirmLink(id);
		value(
			(await store.contacts.change([{ id, subscription: { status: 'unsubscribed', source: 'reply' } }], 'update'))[0],
		);
		const r = await fetch(link, { method: 'POST', body: 'confirm=yes' });
		expect(r.status).toBe(409);
		expect(await status(id)).toBe('unsubscribed');
	});
});
