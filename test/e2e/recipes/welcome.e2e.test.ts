/** Recipe 4 (welcome series) and the RFC 8058 one-click unsubscribe, through the hub webhook. */
import {
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

describe('recipe 4: welcome series', () => {
	const wf = () => workflow('04-welcome');

	it('records consent, tags newsletter, then sends the three welcome mails in order, a few seconds apart', async () => {
		const id = uid('welcome');
		const email = `${id}@example.com`;
		const res = await sendEvents(wf(), signUp(id, email, 'Ada'));
		expect(res.status).toBe(200);
		const got = await waitForMails(email, 3, { wf: wf(), timeoutMs: 60000 });
		expect(got.map((m) => m.parsed.subject)).toEqual([
			'Welcome to our newsletter, Ada',
			'The story behind Example Shop',
			'Your first-order gift',
		]);
		expect(got[0].parsed.from?.value[0]).toMatchObject({ address: 'news@example.com', name: 'Example Shop' });
		expect(String(got[0].parsed.html)).toContain('Thanks for subscribing!');
		expect(String(got[0].parsed.text)).toContain('Thanks for subscribing!');
		// Waits are 2 s and 3 s in the test copy (2 and 3 days in the example).
		const at = got.map((m) => m.parsed.date!.getTime());
		expect(at[1] - at[0]).toBeGreaterThanOrEqual(1000);
		expect(at[2] - at[1]).toBeGreaterThanOrEqual(2000);
		for (const m of got) {
			expect(m.headerLines['list-unsubscribe']).toContain(`${state().webhookUrl}/webhook/ma-tracking/u/`);
			expect(m.headerLines['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
			expect(m.parsed.messageId).toBeTruthy();
		}
		expect(new Set(got.map((m) => m.parsed.messageId)).size).toBe(3);
		const contact = await contactOf(wf(), id);
		expect(contact?.subscription).toMatchObject({ status: 'subscribed', source: 'footer-form' });
		expect(contact?.tags).toContain('newsletter');
		await expectNoMoreMails(email, 3, 2000);
		await expectNoFailedExecutions(wf());
	});

	it('a one-click unsubscribe (List-Unsubscribe POST) after the first mail stops every later mail', async () => {
		const id = uid('unsub');
		const email = `${id}@example.com`;
		await sendEvents(wf(), signUp(id, email, 'Bea'));
		const [first] = await waitForMails(email, 1, { wf: wf() });
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
		await expectNoMoreMails(email, 1, 7000);
		// A new sign-up event for an unsubscribed contact must not mail either... unless it re-subscribes:
		// the welcome flow records consent again, which is the contact's own new opt-in.
	});
});
