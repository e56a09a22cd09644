/**
 * kill -9 of one worker while 1,000 events stream in. n8n 2.41 runs Bull with maxStalledCount 0: a
 * job whose worker died is failed once its lease runs out, not run again, and the execution ends in
 * status error. The Contact Trigger delivers those events again after a back-off (and entries a dead
 * process held, after the claim timeout, 60 s); Send Campaign's per-contact, per-campaign record
 * makes the second delivery send only what did not go out. n8n hears of a job's end only through a
 * Redis message; an execution it never reports is delivered again after the trigger's Execution
 * Timeout (60 s in the fixture). Counted at the SMTP sink and in Redis.
 */
import { readFileSync } from 'fs';
import { Campaigns, SHARD_COUNT, acquireStore } from '../../../lib';
import { n8n, sendEvents, sleep, state, storeConfig, uid, waitFor, workflow } from '../support/env';
import { campaignSent, executionsRunBy, finishedExecutions, mailCounts, mainLog, probe, workerLog } from './helpers';

const EVENTS = 1000;
const BATCH = 50;
const TRIGGER_NODE_ID = '9e000000-0000-4000-8000-000000000001';

/** What a stuck run leaves to look at: the trigger's pending entries (who holds them, how long) and n8n's complaints. */
async function diagnose(workflowId: string, missing: string[]): Promise<string> {
	const s = state();
	const runs: string[] = [];
	for (const e of missing.length > 0 ? await finishedExecutions(workflowId) : []) {
		const full = await n8n.rest(s.baseUrl, s.cookie, 'GET', `/rest/executions/${e.id}`);
		const data = String(full?.data ?? '');
		if (!missing.some((id) => data.includes(id))) continue;
		const words = [
			...new Set(
				data.match(
					/"(send_in_progress|already_sent|no_consent|frequency_cap|outside_send_window|sent|skipped|deferred|failed|error)"/g,
				),
			),
		];
		runs.push(`execution ${e.id} ${e.status} ${e.startedAt}..${e.stoppedAt} ${words.join(' ')}`);
	}
	const lease = acquireStore(storeConfig('ma:'));
	try {
		const group = `ct:${workflowId}:${TRIGGER_NODE_ID}`;
		const pending: unknown[] = [];
		for (let shard = 0; shard < SHARD_COUNT; shard++)
			pending.push(
				...((await lease.store.call((r) => r.xpending(lease.store.keys.log(shard), group, '-', '+', 10))) as unknown[]),
			);
		const complaints = mainLog()
			.split('\n')
			.filter((l) => /stalled|Problem with execution|Contact Trigger|error/i.test(l))
			.slice(-30);
		return `executions of the missing: ${runs.join('; ')}\npending [id, consumer, idle ms, deliveries]: ${JSON.stringify(pending)}\nmain log:\n${complaints.join('\n')}`;
	} finally {
		lease.release();
	}
}

describe('queue mode: a worker killed mid-stream', () => {
	it(`kill -9 of one worker while ${EVENTS} events stream in: every contact gets its mail exactly once`, async () => {
		const s = state();
		const wf = workflow('fixture-queue-stream');
		const sentBefore = await campaignSent('queue-stream');
		const executedBefore = new Set((await finishedExecutions(wf.id)).map((e) => e.id));
		const run = uid('kill');
		const ids = Array.from({ length: EVENTS }, (_, i) => `${run}-${i}`);
		const addresses = ids.map((id) => `${id}@example.com`);
		const victim = 0;
		const victimFolder = s.queue!.folders.workers[victim];
		const victimPid: number = JSON.parse(readFileSync(`${victimFolder}/harness-state.json`, 'utf8')).pid;

		let killedAt = 0;
		let ranOnVictimBeforeKill = 0;
		const t0 = Date.now();
		for (let b = 0; b < EVENTS / BATCH; b++) {
			const res = await sendEvents(
				wf,
				ids.slice(b * BATCH, (b + 1) * BATCH).map((id, i) => probe(id, b * BATCH + i)),
				{ retries: 3 },
			);
			expect(res.status).toBe(200);
			// Once the victim is busy with this stream: kill it, its task runner too, as a dying container would.
			if (!killedAt && b >= 5) {
				await waitFor(
					'the victim running executions',
					async () => executionsRunBy(workerLog(victim)).size > 0,
					30000,
					100,
				);
				ranOnVictimBeforeKill = executionsRunBy(workerLog(victim)).size;
				process.kill(-victimPid, 'SIGKILL');
				killedAt = Date.now();
			}
			await sleep(100);
		}
		const streamedMs = Date.now() - t0;
		// A supervisor starts the worker again; the restarted one takes jobs as before.
		await waitFor(
			'the victim gone',
			async () => {
				try {
					process.kill(victimPid, 0);
					return false;
				} catch {
					return true;
				}
			},
			10000,
			100,
		);
		await n8n.start({
			userFolder: victimFolder,
			command: 'worker',
			args: [`--concurrency=${s.queue!.concurrency}`],
			env: s.queue!.env,
		});

		// On a busy machine the backlog alone takes minutes: wait while mails keep coming, and give up
		// only when none came for longer than the recovery takes (or after 10 minutes in all).
		const waitStarted = Date.now();
		let lastCount = -1;
		let lastProgressAt = Date.now();
		for (;;) {
			const counts = await mailCounts(addresses);
			const mailed = [...counts.values()].filter((n) => n >= 1).length;
			if (mailed === EVENTS) break;
			if (mailed !== lastCount) [lastCount, lastProgressAt] = [mailed, Date.now()];
			if (Date.now() - lastProgressAt > 180000 || Date.now() - waitStarted > 600000) {
				const missing = ids.filter((_, i) => counts.get(addresses[i]) === 0);
				throw new Error(
					`${missing.length} of ${EVENTS} contacts without mail after ${Date.now() - waitStarted} ms, e.g. ${missing.slice(0, 5).join(', ')}\n` +
						(await diagnose(wf.id!, missing)),
				);
			}
			await sleep(1000);
		}
		const deliveredMs = Date.now() - t0;
		// In Redis: no event of the trigger is left pending. An execution the kill failed is delivered
		// again after its back-off (n8n reports a stalled job late), so wait for that, bounded; the
		// mails are counted after it, so a retry that sent again would show.
		const lease = acquireStore(storeConfig('ma:'));
		try {
			const group = `ct:${wf.id}:${TRIGGER_NODE_ID}`;
			const pendingNow = async () => {
				let pending = 0;
				for (let shard = 0; shard < SHARD_COUNT; shard++) {
					const [count] = (await lease.store.call((r) => r.xpending(lease.store.keys.log(shard), group))) as [number];
					pending += Number(count);
				}
				return pending;
			};
			const settleBy = Date.now() + 180_000;
			let pending = await pendingNow();
			while (pending > 0 && Date.now() < settleBy) {
				await sleep(2000);
				pending = await pendingNow();
			}
			if (pending > 0) throw new Error(`${pending} entries still pending\n${await diagnose(wf.id!, [])}`);
			await sleep(5000);
			const counts = await mailCounts(addresses);
			const notOnce = [...counts].filter(([, n]) => n !== 1);
			expect(notOnce).toEqual([]);
			// Each contact's send record says one send.
			const records = await Promise.all(ids.map((id) => new Campaigns(lease.store).sendRecord(id, 'queue-stream')));
			expect(records.filter((r) => r?.sends !== 1)).toEqual([]);
		} finally {
			lease.release();
		}
		// The campaign's report counts each send with the contact's record: no kill loses one.
		const aggregate = (await campaignSent('queue-stream')) - sentBefore;
		expect(aggregate).toBe(EVENTS);
		const executions = (await finishedExecutions(wf.id)).filter((e) => !executedBefore.has(e.id));
		const failed = executions.filter((e) => e.status !== 'success').length;
		const unreported = mainLog().match(/no report that the execution finished/g)?.length ?? 0;
		process.stdout.write(
			`worker kill: ${EVENTS} events streamed in ${streamedMs} ms, killed after ${killedAt - t0} ms with ${ranOnVictimBeforeKill} executions started on it; ` +
				`all mails in ${deliveredMs} ms; ${executions.length} executions, ${failed} not successful (the killed worker's, their events delivered again); ${unreported} never reported by n8n (delivered again after the Execution Timeout); campaign report counts ${aggregate} sends\n`,
		);
		// Recovery takes the lease (10 s here), n8n's 30 s grace for a stalled job, then the trigger's 60 s claim timeout.
	}, 900000);
});
