/**
 * The pack in n8n's queue mode (test/e2e/queue/globalSetup.ts): triggers on main, executions on the
 * 2 workers, production webhooks on the webhook processor, the contact store on a Redis Cluster.
 * Counted at the SMTP sink, in n8n's executions and in Redis.
 */
import { acquireStore, Campaigns } from '../../../lib';
import { mails, n8n, sendEvents, sleep, state, storeConfig, uid, waitFor, workflow } from '../support/env';
import { executionsRunBy, finishedExecutions, mailCounts, mainLog, probe, workerLog } from './helpers';

describe('queue mode: who serves what', () => {
	it('main serves no production webhook; the webhook processor does; 2 workers are ready', async () => {
		const s = state();
		const event = (id: string) => ({
			contactId: id,
			email: `${id}@example.com`,
			event: 'page_viewed',
			idempotencyKey: id,
		});
		// A keep-alive connection left from the setup may be closed under the first request: ask again then.
		const onMain = await n8n
			.callWebhook(s.baseUrl, 'ma-tracking/events', event(uid('main')), {
				headers: { 'x-webhook-secret': s.sharedSecret },
			})
			.catch(() =>
				n8n.callWebhook(s.baseUrl, 'ma-tracking/events', event(uid('main')), {
					headers: { 'x-webhook-secret': s.sharedSecret },
				}),
			);
		expect(onMain.status).toBe(404);
		expect(onMain.text).toContain('Cannot POST /webhook/ma-tracking/events');
		const onWebhook = await n8n.callWebhook(s.webhookUrl, 'ma-tracking/events', event(uid('hook')), {
			headers: { 'x-webhook-secret': s.sharedSecret },
		});
		expect(onWebhook.status).toBe(200);
		expect(onWebhook.body).toMatchObject({ received: 1, recorded: 1 });
		expect(s.queue!.folders.workers).toHaveLength(2);
		for (let i = 0; i < 2; i++) expect(workerLog(i)).toContain('n8n worker is now ready');
	});
});

describe('queue mode: Contact Trigger', () => {
	it('delivers each event exactly once; its executions run on the workers, not on main', async () => {
		const wf = workflow('fixture-queue-stream');
		const before = new Set((await finishedExecutions(wf.id)).map((e) => e.id));
		const ids = Array.from({ length: 40 }, (_, i) => uid(`once${i}`));
		const res = await sendEvents(
			wf,
			ids.map((id, i) => probe(id, i)),
		);
		expect(res.body).toMatchObject({ received: 40, recorded: 40 });
		const addresses = ids.map((id) => `${id}@example.com`);
		await waitFor(
			'a mail to each of the 40 contacts',
			async () => [...(await mailCounts(addresses)).values()].every((n) => n >= 1),
			90000,
			500,
		);
		await sleep(3000);
		const counts = await mailCounts(addresses);
		expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);

		const mine = (await finishedExecutions(wf.id)).filter((e) => !before.has(e.id));
		expect(mine.map((e) => e.status).filter((st) => st !== 'success')).toEqual([]);
		expect(mine).toHaveLength(40);
		// One execution per event: each execution's data names exactly one of the contacts, each once.
		const s = state();
		const perContact = new Map<string, number>();
		for (const e of mine) {
			const data = String((await n8n.getExecution(s.baseUrl, s.cookie, e.id)).data);
			const named = ids.filter((id) => data.includes(`"${id}"`));
			expect(named).toHaveLength(1);
			perContact.set(named[0], (perContact.get(named[0]) ?? 0) + 1);
		}
		expect(ids.every((id) => perContact.get(id) === 1)).toBe(true);

		const ranOn = [0, 1].map((i) => executionsRunBy(workerLog(i)));
		expect(mine.every((e) => ranOn[0].has(e.id) || ranOn[1].has(e.id))).toBe(true);
		expect(executionsRunBy(mainLog()).size).toBe(0);
		expect(mainLog()).toContain('Enqueued execution');
	});
});

describe('queue mode: throughput (printed for docs/production.md, not asserted)', () => {
	it('400 events, one mail each, on 2 workers: events per second end to end', async () => {
		const wf = workflow('fixture-queue-stream');
		const ids = Array.from({ length: 400 }, (_, i) => uid(`tp${i}`));
		const addresses = ids.map((id) => `${id}@example.com`);
		const t0 = Date.now();
		for (let b = 0; b < 400; b += 100)
			expect(
				(
					await sendEvents(
						wf,
						ids.slice(b, b + 100).map((id, i) => probe(id, b + i)),
					)
				).status,
			).toBe(200);
		const sentMs = Date.now() - t0;
		await waitFor(
			'400 mails',
			async () => [...(await mailCounts(addresses)).values()].every((n) => n >= 1),
			180000,
			250,
		);
		const doneMs = Date.now() - t0;
		const counts = await mailCounts(addresses);
		expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
		const perSecond = 400 / (doneMs / 1000);
		process.stdout.write(
			`queue throughput: 400 events accepted in ${sentMs} ms; all 400 executions (Contact Trigger -> Send Campaign -> SMTP) done in ${doneMs} ms: ${perSecond.toFixed(1)} events/s on 2 workers x concurrency ${state().queue!.concurrency}, ${(perSecond / 2).toFixed(1)} per worker\n`,
		);
	});
});

// The fixture's trigger has Path "send", so its tracking paths do not collide with the hub's.
describe('queue mode: Marketing Webhook Trigger on the webhook processor', () => {
	it("takes events, and serves the mail's open pixel, click redirect and one-click unsubscribe", async () => {
		const s = state();
		const wf = workflow('fixture-queue-send');
		const id = uid('track');
		const email = `${id}@example.com`;
		const res = await n8n.callWebhook(
			s.webhookUrl,
			`${wf.eventsHook}/events`,
			{ contactId: id, email, event: 'spring_sale', fields: { firstName: 'Tia' }, idempotencyKey: `${id}-sale` },
			{ headers: { 'x-webhook-secret': s.sharedSecret } },
		);
		expect(res.status).toBe(200);
		const [mail] = await waitFor('the campaign mail', async () => {
			const got = await mails(email);
			return got.length > 0 && got;
		});
		const html = String(mail.parsed.html);
		const pixel = /<img[^>]+src="([^"]+\/t\/o\/[^"]+)"/.exec(html)?.[1];
		const click = /href="([^"]+\/t\/c\/[^"]+)"/.exec(html)?.[1];
		const unsubscribe = /<(http[^>]+\/u\/[^>]+)>/.exec(mail.headerLines['list-unsubscribe'])?.[1];
		for (const url of [pixel, click, unsubscribe])
			expect(url?.startsWith(`${s.webhookUrl}/webhook/ma-tracking/`)).toBe(true);

		// Opens and clicks in the first 5 s after the send count as a mail scanner's.
		await sleep(Math.max(0, mail.parsed.date!.getTime() + 6000 - Date.now()));
		const open = await fetch(pixel!.replace(/&amp;/g, '&'));
		expect(open.status).toBe(200);
		expect(open.headers.get('content-type')).toContain('image/gif');
		const redirect = await fetch(click!.replace(/&amp;/g, '&'), {
			redirect: 'manual',
			headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0' },
		});
		expect(redirect.status).toBe(302);
		expect(redirect.headers.get('location')).toBe('https://shop.example.com/spring');
		// The same link on main: not served there (main answers a GET with its editor page, no redirect).
		const mainClick = await fetch(click!.replace(/&amp;/g, '&').replace(s.webhookUrl, s.baseUrl), {
			redirect: 'manual',
		});
		expect(mainClick.status).not.toBe(302);
		expect(mainClick.headers.get('location')).toBeNull();

		const unsub = await fetch(unsubscribe!, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded' },
			body: 'List-Unsubscribe=One-Click',
		});
		expect(unsub.status).toBe(200);
		const lease = acquireStore(storeConfig('ma:'));
		try {
			await waitFor(
				'the unsubscribe recorded',
				async () => (await lease.store.contacts.getOne(id))?.subscription?.status === 'unsubscribed',
				15000,
			);
			const record = await new Campaigns(lease.store).sendRecord(id, 'queue-send');
			expect(record).toMatchObject({ clickedAt: expect.anything(), unsubscribedAt: expect.anything() });
		} finally {
			lease.release();
		}
	});
});

describe('queue mode: Send Campaign', () => {
	it('8 executions at once on 2 workers, all sending one campaign to the same 50 contacts: one mail each', async () => {
		const s = state();
		const wf = workflow('fixture-queue-send');
		const before = new Set((await finishedExecutions(wf.id)).map((e) => e.id));
		const ids = Array.from({ length: 50 }, (_, i) => uid(`conc${i}`));
		const addresses = ids.map((id) => `${id}@example.com`);
		// Each request is a different batch of events (own idempotency keys) for the same contacts.
		const responses = await Promise.all(
			Array.from({ length: 8 }, (_, r) =>
				n8n.callWebhook(
					s.webhookUrl,
					`${wf.eventsHook}/events`,
					ids.map((id) => ({
						contactId: id,
						email: `${id}@example.com`,
						event: 'spring_sale',
						idempotencyKey: `${id}-r${r}`,
					})),
					{ headers: { 'x-webhook-secret': s.sharedSecret } },
				),
			),
		);
		expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
		const mine = await waitFor(
			'8 finished executions',
			async () => {
				const list = (await finishedExecutions(wf.id)).filter(
					(e) => !before.has(e.id) && e.status !== 'running' && e.status !== 'new',
				);
				return list.length >= 8 && list;
			},
			90000,
			500,
		);
		expect(mine.map((e) => e.status)).toEqual(Array(8).fill('success'));
		await sleep(2000);
		const counts = await mailCounts(addresses);
		expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
		// Both workers took some of them.
		const ranOn = [0, 1].map((i) => executionsRunBy(workerLog(i)));
		expect(mine.filter((e) => ranOn[0].has(e.id)).length).toBeGreaterThan(0);
		expect(mine.filter((e) => ranOn[1].has(e.id)).length).toBeGreaterThan(0);
		expect(mine.filter((e) => ranOn[0].has(e.id) || ranOn[1].has(e.id))).toHaveLength(8);
	});
});
