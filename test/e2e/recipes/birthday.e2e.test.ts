/**
 * Recipe 1: the birthday greeting at the contact's local hour. As the sticky note says, the
 * trigger's Local Hour / Minute are set (over n8n's REST API, then republished) to the next minute
 * in Tokyo; three contacts share that birthday date: only the one in Tokyo is greeted now, the
 * ones in New York and without a zone (UTC) reach that local time hours later.
 */
import {
	expectNoFailedExecutions,
	mails,
	n8n,
	sleep,
	state,
	SUBSCRIBED,
	uid,
	waitForMails,
	workflow,
} from '../support/env';
import { birthdayOn } from '../support/dates';

function localParts(ms: number, timeZone: string) {
	const parts = Object.fromEntries(
		new Intl.DateTimeFormat('en-CA', {
			timeZone,
			year: 'numeric',
			month: '2-digit',
			day: '2-digit',
			hour: '2-digit',
			minute: '2-digit',
			hourCycle: 'h23',
		})
			.formatToParts(new Date(ms))
			.map((p) => [p.type, p.value]),
	);
	return { date: `${parts.month}-${parts.day}`, hour: Number(parts.hour), minute: Number(parts.minute) };
}

describe('recipe 1: birthday at 9:00 local time (here: the next minute in Tokyo)', () => {
	it('greets the Tokyo contact at its local hour and minute, not the New York or UTC ones', async () => {
		const s = state();
		const wf = workflow('01-birthday');
		const target = Math.ceil((Date.now() + 40000) / 60000) * 60000;
		const tokyo = localParts(target, 'Asia/Tokyo');
		const stored = await n8n.rest(s.baseUrl, s.cookie, 'GET', `/rest/workflows/${wf.id}`);
		const trigger = stored.nodes.find((n: { type: string }) => n.type.endsWith('.contactTrigger'));
		trigger.parameters.hour = tokyo.hour;
		trigger.parameters.minute = tokyo.minute;
		await n8n.rest(s.baseUrl, s.cookie, 'PATCH', `/rest/workflows/${wf.id}`, {
			name: stored.name,
			nodes: stored.nodes,
			connections: stored.connections,
			settings: stored.settings,
			versionId: stored.versionId,
		});
		await n8n.publishWorkflowRest(s.baseUrl, s.cookie, wf.id);

		const birthday = birthdayOn(tokyo.date);
		const [inTokyo, inNewYork, noZone] = ['bday-tokyo', 'bday-newyork', 'bday-utc'].map(uid);
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const { acquireStore } = require('../../../lib') as typeof import('../../../lib');
		const lease = acquireStore({ host: '127.0.0.1', port: s.redisPort, keyPrefix: wf.keyPrefix });
		try {
			const r = await lease.store.contacts.upsert([
				{
					id: inTokyo,
					email: `${inTokyo}@example.com`,
					timezone: 'Asia/Tokyo',
					subscription: SUBSCRIBED,
					fields: { birthday, firstName: 'Taro' },
				},
				{
					id: inNewYork,
					email: `${inNewYork}@example.com`,
					timezone: 'America/New_York',
					subscription: SUBSCRIBED,
					fields: { birthday, firstName: 'Nia' },
				},
				{
					id: noZone,
					email: `${noZone}@example.com`,
					subscription: SUBSCRIBED,
					fields: { birthday, firstName: 'Uli' },
				},
			] as any);
			expect(r.every((x) => x.ok)).toBe(true);
		} finally {
			lease.release();
		}
		// Not before the local minute comes.
		await sleep(Math.max(0, target - Date.now() - 5000));
		expect(await mails(`${inTokyo}@example.com`)).toHaveLength(0);
		const [mail] = await waitForMails(`${inTokyo}@example.com`, 1, { wf, timeoutMs: 90000 });
		expect(mail.parsed.subject).toBe('Happy birthday, Taro!');
		expect(mail.parsed.date!.getTime()).toBeGreaterThanOrEqual(target - 1000);
		await sleep(3000);
		expect(await mails(`${inNewYork}@example.com`)).toHaveLength(0);
		expect(await mails(`${noZone}@example.com`)).toHaveLength(0);
		await expectNoFailedExecutions(wf);
	}, 240000);
});
