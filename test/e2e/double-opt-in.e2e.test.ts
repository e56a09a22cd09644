/**
 * The double opt-in recipe (examples/workflows/gdpr-double-opt-in.json) in real n8n, as published:
 * a sign-up through the hub webhook gets the confirmation mail (real SMTP), the link served by the
 * Marketing Webhook Trigger is opened in headless Chromium (GET changes nothing), the button
 * confirms, and only then does the welcome mail come, under the default workspace policy.
 */
import { chromium } from 'playwright-core';
import {
	contactOf,
	expectNoFailedExecutions,
	expectNoMoreMails,
	sendEvents,
	uid,
	waitForMails,
	workflow,
} from './support/env';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureChromium } = require('../../scripts/ensure-chromium.js');

describe('double opt-in recipe', () => {
	const wf = () => workflow('gdpr-double-opt-in');

	it('mails the confirmation, confirms only on the button, then sends the welcome mail', async () => {
		const id = uid('doi');
		const email = `${id}@example.com`;
		const res = await sendEvents(
			wf(),
			{
				contactId: id,
				email,
				event: 'newsletter_optin_requested',
				properties: { form: 'footer-form' },
				fields: { firstName: 'Ada' },
				idempotencyKey: `${id}-signup`,
			},
			// The event has an idempotency key: sending it again when n8n drops the connection is safe.
			{ retries: 3 },
		);
		expect(res.status).toBe(200);
		const [confirmation] = await waitForMails(email, 1, { wf: wf() });
		expect(confirmation.parsed.subject).toBe('Please confirm your subscription');
		expect((await contactOf(wf(), id))?.subscription).toMatchObject({ status: 'pending', source: 'footer-form' });
		const link = /href="([^"]+\/webhook\/ma-tracking\/confirm\/[^"]+)"/.exec(String(confirmation.parsed.html))?.[1];
		expect(link).toBeTruthy();

		// No marketing mail while pending, and a scanner's GET confirms nothing.
		expect((await fetch(link as string, { headers: { 'user-agent': 'Mimecast link scanner' } })).status).toBe(200);
		await expectNoMoreMails(email, 1, 2000);
		expect((await contactOf(wf(), id))?.subscription?.status).toBe('pending');

		const browser = await chromium.launch({
			executablePath: ensureChromium(),
			headless: true,
			args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
		});
		try {
			const page = await browser.newPage();
			await page.goto(link as string);
			expect(await page.locator('h1').textContent()).toBe('Confirm your subscription');
			expect((await contactOf(wf(), id))?.subscription?.status).toBe('pending');
			await Promise.all([
				page.waitForNavigation(),
				page.getByRole('button', { name: 'Confirm my subscription' }).click(),
			]);
			expect(await page.locator('h1').textContent()).toBe('Subscription confirmed');
		} finally {
			await browser.close();
		}
		const contact = await contactOf(wf(), id);
		expect(contact?.subscription).toMatchObject({
			status: 'subscribed',
			source: 'double-opt-in:double-opt-in-confirmation',
			confirmation: { source: 'double-opt-in:double-opt-in-confirmation', ip: expect.stringMatching(/127\.0\.0\.1$/) },
		});
		expect(contact?.subscription?.confirmation?.userAgent).toContain('HeadlessChrome');

		const got = await waitForMails(email, 2, { wf: wf() });
		expect(got[1].parsed.subject).toBe('Welcome, Ada: you are subscribed');
		await expectNoMoreMails(email, 2, 2000);
		await expectNoFailedExecutions(wf());
	});
});
