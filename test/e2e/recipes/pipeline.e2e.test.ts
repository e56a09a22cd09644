/** The basic pipeline: a site event over the Marketing Webhook Trigger reaches Send Campaign and a real SMTP server. */
import { expectNoFailedExecutions, sendEvents, state, uid, waitForMails, workflow, contactOf } from '../support/env';

describe('pipeline (fixture): webhook event -> Send Campaign -> SMTP', () => {
	it('creates the contact and sends one mail with merge fields and List-Unsubscribe', async () => {
		const wf = workflow('fixture-pipeline');
		const id = uid('pipe');
		const email = `${id}@example.com`;
		const res = await sendEvents(wf, {
			contactId: id,
			event: 'signed_up',
			email,
			fields: { firstName: 'Ada' },
			idempotencyKey: `${id}-1`,
		});
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ received: 1, recorded: 1 });
		const [mail] = await waitForMails(email, 1, { wf, timeoutMs: 30000 });
		expect(mail.parsed.subject).toBe('Hello Ada');
		expect(mail.parsed.from?.text).toContain('hello@shop.example');
		expect(String(mail.parsed.html)).toContain('Hi Ada, thanks for signing up.');
		expect(mail.headerLines['list-unsubscribe']).toContain(`${state().webhookUrl}/webhook/e2e-pipeline-hook/u/`);
		expect(mail.headerLines['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
		const contact = await contactOf(wf, id);
		expect(contact?.email).toBe(email);
		expect(contact?.events.signed_up?.count).toBe(1);
		await expectNoFailedExecutions(wf);
	});
});
