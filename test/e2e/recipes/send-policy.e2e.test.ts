/**
 * The examples as published, with a workspace send policy in force: recipe 26's broadcast under
 * quiet hours and a frequency cap, in real n8n with a real SMTP server. A contact in its allowed
 * hours is mailed at once; one in its quiet hours waits (in an execution of its own, until its local
 * quiet hours end); a deferred mail goes out after its Wait, exactly once. Recipe 26 has a key prefix
 * of its own (tweaks.ts ISOLATED), so the policy set here reaches no other test; it is removed after.
 */
import { acquireMailer, Campaigns, POLICY_CACHE_MS, SendPolicies } from '../../../lib/campaigns';
import { acquireStore } from '../../../lib';
import {
	expectNoFailedExecutions,
	expectNoMoreMails,
	n8n,
	runNow,
	seedContacts,
	sleep,
	state,
	storeConfig,
	subjectsOf,
	uid,
	waitFor,
	waitForMails,
	workflow,
} from '../support/env';

const HOUR = 3_600_000;
const email = (id: string) => `${id}@example.com`;
const subscribed = { status: 'subscribed', source: 'e2e: confirmed sign-up' };

describe('recipe 26 under the workspace send policy (quiet hours, frequency cap)', () => {
	const wf = () => workflow('26-language');
	const withStore = async <T>(fn: (store: ReturnType<typeof acquireStore>['store']) => Promise<T>): Promise<T> => {
		const lease = acquireStore(storeConfig(wf().keyPrefix));
		try {
			return await fn(lease.store);
		} finally {
			lease.release();
		}
	};

	afterAll(async () => {
		await withStore((store) => store.call((r) => r.del(new SendPolicies(store).key)));
	});

	it('mails each contact in its own allowed hours, and a capped mail after its Wait, once', async () => {
		const s = state();
		// Quiet for two hours from the hour UTC+12 is in now: UTC contacts are in their allowed hours,
		// UTC+12 contacts in their quiet hours until the UTC hour after next.
		const now = Date.now();
		const utcHour = new Date(now).getUTCHours();
		await withStore((store) =>
			new SendPolicies(store).set({
				consent: 'doubleOptIn',
				quietHours: { startHour: (utcHour + 12) % 24, endHour: (utcHour + 14) % 24, fallbackZone: 'UTC' },
				frequencyCap: { max: 1, windowMs: 60_000 },
			}),
		);
		const quietEnd = new Date(Math.floor(now / HOUR) * HOUR + 2 * HOUR).toISOString();

		const day = uid('policy-day');
		const night = uid('policy-night');
		const capped = uid('policy-capped');
		const pending = uid('policy-pending');
		await seedContacts(wf(), [
			{ id: day, email: email(day), timezone: 'UTC', subscription: subscribed, fields: { language: 'en' } },
			{ id: night, email: email(night), timezone: 'Etc/GMT-12', subscription: subscribed, fields: { language: 'de' } },
			{ id: capped, email: email(capped), timezone: 'UTC', subscription: subscribed, fields: { language: 'de' } },
			{ id: pending, email: email(pending), subscription: { status: 'pending', source: 'e2e form' } },
		]);
		// The capped contact got another marketing mail just now: the cap (1 a minute) defers its newsletter.
		const mailer = acquireMailer({ host: '127.0.0.1', port: s.smtpPort, secure: false, starttls: 'never' });
		try {
			const [earlier] = await withStore((store) =>
				new Campaigns(store).send(
					{
						id: uid('policy-earlier'),
						fromEmail: 'news@example.com',
						subject: 'An earlier offer',
						html: '<p>Hi</p>',
						trackingBaseUrl: `${s.webhookUrl}/webhook/ma-tracking`,
						signingSecret: s.signingSecret,
					},
					[{ contactId: capped }],
					{ mode: 'smtp', mailer: mailer.mailer },
				),
			);
			expect(earlier).toMatchObject({ ok: true, value: { status: 'sent' } });
		} finally {
			mailer.release();
		}
		const cappedUntil = Date.now() + 60_000;
		// n8n holds the policy it read for at most POLICY_CACHE_MS.
		await sleep(POLICY_CACHE_MS + 500);

		await runNow('ma-run-newsletter');
		const [dayMail] = await waitForMails(email(day), 1, { wf: wf(), timeoutMs: 30000 });
		expect(dayMail.parsed.subject).toBe('New this week at Example Shop');

		// Deferred by the cap to about a minute after the earlier mail, then sent by the same node after its Wait.
		const cappedMails = await waitForMails(email(capped), 2, { wf: wf(), timeoutMs: 150000 });
		expect(cappedMails.map((m) => m.parsed.subject)).toEqual(['An earlier offer', 'Neu diese Woche bei Example Shop']);
		expect(cappedMails[1].parsed.date!.getTime()).toBeGreaterThanOrEqual(cappedUntil - 2000);

		// The quiet-hours contact: no mail yet, and an execution waits until its quiet hours end.
		const waiting = await waitFor(
			'an execution waiting for the quiet-hours contact',
			async () => {
				const list: Array<{ id: string; status: string; waitTill?: string }> = await n8n.listExecutions(
					s.baseUrl,
					s.cookie,
					{ workflowId: wf().id, limit: 100 },
				);
				return list.find(
					(e) => e.status === 'waiting' && e.waitTill && new Date(e.waitTill).toISOString() === quietEnd,
				);
			},
			30000,
		);
		expect(await subjectsOf(email(night))).toEqual([]);
		await expectNoMoreMails(email(pending), 0, 0);
		for (const [id, count] of [
			[day, 1],
			[capped, 2],
		] as const)
			await expectNoMoreMails(email(id), count, 0);
		await expectNoFailedExecutions(wf());
		// Tidy: the waiting execution would mail in up to two hours.
		await n8n.rest(s.baseUrl, s.cookie, 'POST', `/rest/executions/${waiting.id}/stop`);
	});
});
