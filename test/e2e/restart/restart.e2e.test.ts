/**
 * n8n restarted in the middle of a stream of events: the sender (a CRM) retries failed posts with
 * the same idempotency key, as webhooks senders do. No event is lost, none is processed twice:
 * every contact gets exactly one mail (the NPS offer campaign allows resends, so a second
 * processing would show as a second mail) and one recorded event. Runs last (restarts n8n).
 */
import { contactOf, mails, n8n, sendEvents, sleep, state, subscribe, uid, waitFor, workflow } from '../support/env';

const N = 30;

describe('restart n8n in the middle of a stream of events', () => {
	it(`${N} events, n8n stopped and started after the 10th: each processed exactly once`, async () => {
		const s = state();
		const wf = workflow('19-nps-split');
		const ids = Array.from({ length: N }, (_, i) => uid(`restart${i}`));
		// Confirmed subscribers: the default policy (double opt-in) mails no one else.
		await subscribe(wf, ids);
		let restarted = false;
		let markStopped = () => {};
		const stopped = new Promise<void>((resolve) => (markStopped = resolve));
		const restart = (async () => {
			while (!restarted) await sleep(50);
			await n8n.stop({ userFolder: s.userFolder });
			markStopped();
			await n8n.start({ userFolder: s.userFolder, port: s.port });
		})();
		let failedPosts = 0;
		for (let i = 0; i < N; i++) {
			const event = {
				contactId: ids[i],
				email: `${ids[i]}@example.com`,
				event: 'nps_submitted',
				properties: { score: 9 },
				idempotencyKey: `${ids[i]}-nps`,
			};
			for (;;) {
				const res = await sendEvents(wf, event).catch(() => ({ status: 0, body: undefined }));
				if (res.status === 200 && res.body?.errors?.length === 0) break;
				failedPosts++;
				await sleep(300);
			}
			if (i === 9) {
				// The next events are posted while n8n is down (a quick machine could post them all
				// before the shutdown begins): the sender retries them until n8n is back.
				restarted = true;
				await stopped;
			}
			await sleep(150);
		}
		await restart;
		expect(failedPosts).toBeGreaterThan(0);
		await waitFor(
			`${N} offer mails`,
			async () => {
				const counts = await Promise.all(ids.map(async (id) => (await mails(`${id}@example.com`)).length));
				return counts.every((c) => c >= 1);
			},
			240000,
			1000,
		);
		await sleep(5000);
		for (const id of ids) {
			const got = await mails(`${id}@example.com`);
			expect({ id, subjects: got.map((m) => m.parsed.subject) }).toEqual({
				id,
				subjects: ['Thank you! A little something for you'],
			});
			expect((await contactOf(wf, id))?.events.nps_submitted?.count).toBe(1);
		}
		// A restart takes 15 s on an idle machine and several times that on a loaded one.
	}, 480000);
});
