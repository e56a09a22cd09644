/**
 * The preference centre behind a mail's unsubscribe link, served over real HTTP by WebhookHandler
 * and used by a person in headless Chromium: GET (what link scanners do) changes nothing, the form
 * POST saves the topics or unsubscribes from everything. The RFC 8058 one-click POST leaves the
 * mail's topic only. Bad, altered and expired links, and unknown topics, answer 400 and change nothing.
 */
import { createServer, type Server } from 'http';
import type { Page } from 'playwright-core';
import { closeAllStores } from '../../lib/redis/pool';
import { Campaigns, type CampaignSpec } from '../../lib/campaigns';
import { WebhookHandler } from '../../lib/tracking';
import { Topics } from '../../lib/topics';
import { launch } from '../e2e/support/editor';
import { openStore } from '../harness/store';

const SECRET = 'preferences-signing-secret-0123456789';
const DAY = 86_400_000;

afterAll(() => closeAllStores());

describe('preference centre', () => {
	const { store, clock } = openStore();
	const topics = new Topics(store);
	const campaigns = new Campaigns(store);
	const handler = new WebhookHandler(store, {
		signingSecret: SECRET,
		secrets: {},
		senderName: 'Shop',
		unsubscribeLinkMaxAgeMs: 30 * DAY,
	});
	let server: Server;
	let base = '';
	let browser: Awaited<ReturnType<typeof launch>>;

	beforeAll(async () => {
		server = createServer((req, res) => {
			const chunks: Buffer[] = [];
			req.on('data', (c: Buffer) => chunks.push(c));
			req.on('end', async () => {
				const token = /^\/u\/([^/?]+)$/.exec(req.url ?? '')?.[1];
				if (!token) return void res.writeHead(404).end();
				try {
					const out = await handler.handle('unsubscribe', {
						method: req.method ?? 'GET',
						headers: req.headers,
						rawBody: Buffer.concat(chunks),
						params: { token },
					});
					res.writeHead(out.status, out.headers).end(out.body);
				} catch (error) {
					res.writeHead(500).end(String(error));
				}
			});
		});
		await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
		base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
		await topics.declare([
			{ name: 'newsletter', label: 'Monthly newsletter' },
			{ name: 'offers', label: 'Offers & deals' },
			{ name: 'product-updates', label: 'Product updates' },
		]);
		await store.contacts.upsert(
			['reader', 'clicker', 'leaver', 'scanned', 'late'].map((id) => ({
				id,
				email: `${id}@example.com`,
				subscription: { status: 'subscribed' as const, source: 'form' },
			})),
		);
		browser = await launch();
	}, 60_000);
	afterAll(async () => {
		await browser?.close();
		await new Promise<void>((r) => server.close(() => r()));
	});

	const spec = (id: string, topic?: string): CampaignSpec => ({
		id,
		fromEmail: 'news@shop.example',
		subject: 'Hi',
		html: '<p>Hi</p>',
		trackingBaseUrl: base,
		signingSecret: SECRET,
		topic,
	});

	/** The unsubscribe URL of a mail sent (rendered) to the contact. */
	async function unsubscribeUrl(contactId: string, campaignId: string, topic?: string): Promise<string> {
		const [r] = await campaigns.send(spec(campaignId, topic), [{ contactId }], { mode: 'render' });
		if (!r.ok || r.value.status !== 'sent' || !r.value.message) throw new Error(`send failed: ${JSON.stringify(r)}`);
		return (/<(http[^>]+\/u\/[^>]+)>/.exec(r.value.message.headers['List-Unsubscribe']) as RegExpExecArray)[1];
	}

	/** What a test may see change: the contact's core hash, its topic events and the topic indexes. */
	async function state(id: string) {
		const { keys } = store;
		const shard = keys.shardOfContact(id);
		const indexes = await Promise.all(
			['newsletter', 'offers', 'product-updates'].map((t) =>
				store.call((r) => r.sismember(keys.index(shard, `topic:${t}`), id)),
			),
		);
		const core = await store.call((r) => r.hgetall(keys.contact(id)));
		const events = (await store.events.history(id, 100))
			.filter((e) => e.name === '$topic_changed' || e.name === '$email_unsubscribed')
			.map((e) => [e.name, e.properties]);
		return { core, indexes, events };
	}

	async function openPage(url: string): Promise<Page> {
		const page = await browser.context.newPage();
		const response = await page.goto(url, { waitUntil: 'domcontentloaded' });
		expect(response?.status()).toBe(200);
		return page;
	}

	it('a person unticks a topic and saves: only that topic changes; opening the page changed nothing', async () => {
		const url = await unsubscribeUrl('reader', 'pc-save', 'newsletter');
		const before = await state('reader');
		const page = await openPage(url);
		// Every topic ticked: a contact who never chose gets them all.
		expect(await page.locator('input[type=checkbox]').count()).toBe(3);
		expect(await page.getByLabel('Offers & deals').isChecked()).toBe(true);
		await page.reload();
		expect(await state('reader')).toEqual(before);

		await page.getByLabel('Offers & deals').uncheck();
		await Promise.all([page.waitForURL(url), page.getByRole('button', { name: 'Save my choices' }).click()]);
		expect(await page.locator('h1').textContent()).toBe('Your choices are saved');
		expect(await page.getByLabel('Offers & deals').isChecked()).toBe(false);
		expect(await page.getByLabel('Monthly newsletter').isChecked()).toBe(true);
		await page.close();

		const after = await state('reader');
		expect(after.core).toMatchObject({
			'topic:newsletter': '1',
			'topic:offers': '0',
			'topic:product-updates': '1',
			status: 'subscribed',
		});
		expect(after.indexes).toEqual([1, 0, 1]);
		expect(after.events.map(([, p]) => p)).toEqual(
			expect.arrayContaining([
				{ topic: 'offers', from: null, to: 'unsubscribed' },
				{ topic: 'newsletter', from: null, to: 'subscribed' },
				{ topic: 'product-updates', from: null, to: 'subscribed' },
			]),
		);
		expect(after.events).toHaveLength(3);
	});

	it('takes the form as n8n hands it on when it parsed the body (JSON of the fields)', async () => {
		const url = await unsubscribeUrl('reader', 'pc-json', 'newsletter');
		const post = (body: unknown) =>
			fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
		expect((await post({ action: 'save-topics', topic: ['offers', 'newsletter'] })).status).toBe(200);
		expect((await state('reader')).core).toMatchObject({ 'topic:offers': '1', 'topic:product-updates': '0' });
		expect((await post({ action: 'save-topics', topic: 'newsletter' })).status).toBe(200);
		expect((await state('reader')).core).toMatchObject({ 'topic:offers': '0', 'topic:newsletter': '1' });
		expect((await post({ action: 'save-topics', topic: ['sports'] })).status).toBe(400);
		expect((await state('reader')).core).toMatchObject({ 'topic:offers': '0', 'topic:newsletter': '1' });
	});

	it('"Unsubscribe from everything" sets the global status; the page says so afterwards', async () => {
		const url = await unsubscribeUrl('clicker', 'pc-all', 'offers');
		const page = await openPage(url);
		await Promise.all([
			page.waitForURL(url),
			page.getByRole('button', { name: 'Unsubscribe from everything' }).click(),
		]);
		expect(await page.locator('h1').textContent()).toBe('You are unsubscribed');
		await page.close();
		expect((await store.contacts.getOne('clicker'))?.subscription?.status).toBe('unsubscribed');
		const again = await openPage(url);
		expect(await again.locator('body').textContent()).toContain('You are unsubscribed from all our e-mails.');
		await again.close();
	});

	it('one-click POST (RFC 8058) on a topic mail leaves that topic only; without a topic, everything', async () => {
		const url = await unsubscribeUrl('leaver', 'pc-oneclick', 'product-updates');
		const oneClick = () =>
			fetch(url, {
				method: 'POST',
				body: 'List-Unsubscribe=One-Click',
				headers: { 'content-type': 'application/x-www-form-urlencoded' },
			});
		expect((await oneClick()).status).toBe(200);
		const after = await state('leaver');
		expect(after.core).toMatchObject({ 'topic:product-updates': '0', status: 'subscribed' });
		expect(after.core['topic:newsletter']).toBeUndefined();
		expect(after.events).toEqual([['$topic_changed', { topic: 'product-updates', from: null, to: 'unsubscribed' }]]);
		// A repeat (mail providers retry) changes nothing more.
		expect((await oneClick()).status).toBe(200);
		expect((await state('leaver')).events).toHaveLength(1);

		const plain = await unsubscribeUrl('leaver', 'pc-oneclick-plain');
		await fetch(plain, { method: 'POST', body: 'List-Unsubscribe=One-Click' });
		expect((await store.contacts.getOne('leaver'))?.subscription?.status).toBe('unsubscribed');
	});

	it('answers 400 and changes nothing: altered or expired link, unknown topic, a POST of neither form nor one-click', async () => {
		const url = await unsubscribeUrl('scanned', 'pc-bad', 'offers');
		const before = await state('scanned');
		const token = url.slice(url.lastIndexOf('/') + 1);
		const altered = `${base}/u/${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
		const post = (to: string, body: string) =>
			fetch(to, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });

		for (const method of ['GET', 'POST'])
			expect(
				(await fetch(altered, { method, body: method === 'POST' ? 'List-Unsubscribe=One-Click' : undefined })).status,
			).toBe(400);
		expect((await post(altered, 'action=save-topics&topic=newsletter')).status).toBe(400);
		const unknown = await post(url, 'action=save-topics&topic=newsletter&topic=sports');
		expect(unknown.status).toBe(400);
		expect(await unknown.text()).toContain('Unknown topic "sports": nothing changed.');
		// What the request names is shown escaped, never as markup.
		expect(await (await post(url, 'action=save-topics&topic=%3Cb%3Ex')).text()).toContain('"&#60;b&#62;x"');
		expect((await post(url, 'hello=1')).status).toBe(400);
		expect((await post(url, '')).status).toBe(400);
		expect(await state('scanned')).toEqual(before);

		const lateUrl = await unsubscribeUrl('late', 'pc-expired', 'offers');
		const lateBefore = await state('late');
		clock.advance(31 * DAY);
		const expired = await post(lateUrl, 'List-Unsubscribe=One-Click');
		expect(expired.status).toBe(400);
		expect(await expired.text()).toContain('Link expired');
		expect((await post(lateUrl, 'action=unsubscribe-all')).status).toBe(400);
		expect((await fetch(lateUrl)).status).toBe(400);
		expect(await state('late')).toEqual(lateBefore);
		clock.advance(-31 * DAY);
	});
});
