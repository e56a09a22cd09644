/**
 * Recipe 4 (welcome series, double opt-in) and the RFC 8058 one-click unsubscribe, through the hub
 * webhook: a sign-up gets the confirmation mail only; the welcome series starts when the contact
 * confirms (the button's POST on the confirmation page, as a browser sends it).
 */
import {
	confirmSignUp,
	contactOf,
	expectNoFailedExecutions,
	expectNoMoreMails,
	sendEvents,
	state,
	uid,
	waitForMails,
	workflow,
} from '../support/env';

const signUp = (id: string, email: string, firstName: string) => ({
	contactId: id,
	email,
	event: 'newsletter_signup',
	properties: { form: 'footer-form' },
	fields: { firstName },
	idempotencyKey: `${id}-signup`,
});

const CONFIRM_SUBJECT = 'Please confirm your newsletter subscription';

describe('recipe 4: welcome series after a confirmed sign-up', () => {
	const wf = () => workflow('04-welcome');

	it('records a pending sign-up and sends only the confirmation; once confirmed, the three welcome mails in order', async () => {
		const id = uid('welcome');
		const email = `${id}@example.com`;
		const res = await sendEvents(wf(), signUp(id, email, 'Ada'));
		expect(res.status).toBe(200);
		const [confirmation] = await waitForMails(email, 1, { wf: wf() });
		expect(confirmation.parsed.subject).toBe(CONFIRM_SUBJECT);
		const pending = await contactOf(wf(), id);
		expect(pending?.subscription).toMatchObject({ status: 'pending', source: 'footer-form' });
		expect(pending?.tags).toContain('newsletter');
		// Unconfirmed: nothing else, though the series' Waits are seconds long in the test copy.
		await expectNoMoreMails(email, 1, 6000);

		await confirmSignUp(email);
		const got = await waitForMails(email, 4, { wf: wf(), timeoutMs: 60000 });
		expect(got.map((m) => m.parsed.subject)).toEqual([
			CONFIRM_SUBJECT,
			'Welcome to our newsletter, Ada',
			'The story behind Example Shop',
			'Your first-order gift',
		]);
		const welcome = got.slice(1);
		expect(welcome[0].parsed.from?.value[0]).toMatchObject({ address: 'news@example.com', name: 'Example Shop' });
		expect(String(welcome[0].parsed.html)).toContain('Thanks for subscribing!');
		expect(String(welcome[0].parsed.text)).toContain('Thanks for subscribing!');
		// Waits are 2 s and 3 s in the test copy (2 and 3 days in the example).
		const at = welcome.map((m) => m.parsed.date!.getTime());
		expect(at[1] - at[0]).toBeGreaterThanOrEqual(1000);
		expect(at[2] - at[1]).toBeGreaterThanOrEqual(2000);
		for (const m of welcome) {
			expect(m.headerLines['list-unsubscribe']).toContain(`${state().webhookUrl}/webhook/ma-tracking/u/`);
			expect(m.headerLines['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
			expect(m.parsed.messageId).toBeTruthy();
		}
		expect(new Set(got.map((m) => m.parsed.messageId)).size).toBe(4);
		const contact = await contactOf(wf(), id);
		expect(contact?.subscription).toMatchObject({
			status: 'subscribed',
			source: 'double-opt-in:welcome-confirmation',
			confirmation: { source: 'double-opt-in:welcome-confirmation' },
		});
		await expectNoMoreMails(email, 4, 2000);
		await expectNoFailedExecutions(wf());
	});

	it('a one-click unsubscribe (List-Unsubscribe POST) after the first welcome mail stops every later mail', async () => {
		const id = uid('unsub');
		const email = `${id}@example.com`;
		await sendEvents(wf(), signUp(id, email, 'Bea'));
		await confirmSignUp(email);
		const [, first] = await waitForMails(email, 2, { wf: wf() });
		expect(first.parsed.subject).toBe('Welcome to our newsletter, Bea');
		const url = /<(http[^>]+\/u\/[^>]+)>/.exec(first.headerLines['list-unsubscribe'])![1];
		// What a mailbox provider does for RFC 8058: POST with this exact body, no cookies.
		const res = await fetch(url, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded' },
			body: 'List-Unsubscribe=One-Click',
		});
		if (res.status !== 200) throw new Error(`POST ${url} -> ${res.status}: ${(await res.text()).slice(0, 300)}`);
		const contact = await contactOf(wf(), id);
		expect(contact?.subscription?.status).toBe('unsubscribed');
		// Mails 2 and 3 would have come 2 s and 5 s after the first.
		await expectNoMoreMails(email, 2, 7000);
	});
});
