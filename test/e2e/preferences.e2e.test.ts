/**
 * The preference centre through a real n8n: the unsubscribe link of a topic mail, served by the
 * hub's Marketing Webhook Trigger (n8n's own HTTP server and body parsing), used in headless
 * Chromium. Opening it changes nothing; the form POST saves the topics; the one-click POST leaves
 * the mail's topic only.
 */
import { acquireStore } from '../../lib/redis/pool';
import { signToken } from '../../lib/tracking';
import { Topics } from '../../lib/topics';
import { launch } from './support/editor';
import { state, storeConfig, uid, workflow } from './support/env';

describe('preference centre in real n8n', () => {
	// The welcome recipe's workspace: its mails' unsubscribe links go to the hub webhook.
	const lease = acquireStore(storeConfig(workflow('04-welcome').keyPrefix));
	const { store } = lease;
	const topics = new Topics(store);
	let browser: Awaited<ReturnType<typeof launch>>;

	beforeAll(async () => {
		await topics.declare([
			{ name: 'e2e-news', label: 'E2E newsletter' },
			{ name: 'e2e-offers', label: 'E2E offers' },
		]);
		browser = await launch();
	});
	afterAll(async () => {
		await browser?.close();
		await topics.remove(['e2e-news', 'e2e-offers']);
		lease.release();
	});

	/** The unsubscribe link Send Campaign puts in a mail on `topic` (same token, same route). */
	const linkFor = (contactId: string, topic: string) =>
		`${state().webhookUrl}/webhook/ma-tracking/u/${signToken(state().signingSecret, {
			kind: 'u',
			contactId,
			campaignId: 'e2e-preferences',
			topic,
			issuedAt: Date.now(),
		})}`;
	const core = (id: string) => store.call((r) => r.hgetall(store.keys.contact(id)));

	it('GET changes nothing; the form POST saves the topics; one-click leaves the mail topic only', async () => {
		const id = uid('prefs');
		await store.contacts.upsert([
			{ id, email: `${id}@example.com`, subscription: { status: 'subscribed', source: 'e2e' } },
		]);
		const url = linkFor(id, 'e2e-offers');
		const before = await core(id);

		const page = await browser.context.newPage();
		const shown = await page.goto(url, { waitUntil: 'domcontentloaded' });
		expect(shown?.status()).toBe(200);
		expect(await page.getByLabel('E2E offers').isChecked()).toBe(true);
		await page.reload();
		expect(await core(id)).toEqual(before);

		await page.getByLabel('E2E offers').uncheck();
		await Promise.all([page.waitForURL(url), page.getByRole('button', { name: 'Save my choices' }).click()]);
		expect(await page.locator('h1').textContent()).toBe('Your choices are saved');
		await page.close();
		expect(await core(id)).toMatchObject({ 'topic:e2e-news': '1', 'topic:e2e-offers': '0', status: 'subscribed' });

		// One-click from a mail on e2e-news, as a mailbox provider sends it.
		const res = await fetch(linkFor(id, 'e2e-news'), {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded' },
			body: 'List-Unsubscribe=One-Click',
		});
		expect(res.status).toBe(200);
		expect(await core(id)).toMatchObject({ 'topic:e2e-news': '0', 'topic:e2e-offers': '0', status: 'subscribed' });
	});
});
