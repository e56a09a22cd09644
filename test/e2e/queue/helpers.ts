/** Helpers of the queue-mode tests: worker logs, mails per recipient, campaign counts in Redis, executions. */
import { readFileSync } from 'fs';
import { join } from 'path';
import { acquireStore, Campaigns } from '../../../lib';
import { mails, n8n, state, storeConfig } from '../support/env';

export const probe = (contactId: string, n: number) => ({
	contactId,
	email: `${contactId}@example.com`,
	event: 'queue_probe',
	properties: { n },
	idempotencyKey: `${contactId}-probe`,
});

export const workerLog = (i: number) => readFileSync(join(state().queue!.folders.workers[i], 'n8n.log'), 'utf8');
export const mainLog = () => readFileSync(join(state().queue!.folders.main, 'n8n.log'), 'utf8');
/** Execution ids a process's log says it ran ("Worker started execution 12 (job 7)"). */
export const executionsRunBy = (log: string) =>
	new Set([...log.matchAll(/Worker started execution (\d+)/g)].map((m) => m[1]));

/** Mails per recipient among `addresses`. */
export async function mailCounts(addresses: string[]): Promise<Map<string, number>> {
	const wanted = new Set(addresses);
	const counts = new Map(addresses.map((a) => [a, 0]));
	for (const m of await mails())
		for (const to of m.envelope.to) if (wanted.has(to)) counts.set(to, counts.get(to)! + 1);
	return counts;
}

export async function campaignSent(campaignId: string): Promise<number> {
	const lease = acquireStore(storeConfig('ma:'));
	try {
		const [report] = await new Campaigns(lease.store).report([campaignId]);
		if (!report.ok) throw report.error;
		return report.value.sent;
	} finally {
		lease.release();
	}
}

export async function finishedExecutions(wfId: string) {
	const s = state();
	const all: Array<{ id: string; status: string; startedAt: string; stoppedAt: string }> = [];
	// Newest first, in pages of at most 100 (n8n 2.41 pages with an opaque cursor).
	let cursor: string | undefined;
	for (let page = 0; page < 100; page++) {
		const q = new URLSearchParams({
			limit: '100',
			filter: JSON.stringify({ workflowId: wfId }),
			...(cursor ? { cursor } : {}),
		});
		const data = await n8n.rest(s.baseUrl, s.cookie, 'GET', `/rest/executions?${q}`);
		all.push(...data.results);
		cursor = data.nextCursor ?? undefined;
		if (!cursor) break;
	}
	return all;
}
