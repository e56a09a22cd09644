// `npm run bench backlog`: n8n restarted with a backlog. A real n8n runs Contact Trigger -> Lead
// Score -> Contact (record "processed") with the trigger's default options; n8n is stopped, 10,000
// events for 1,000 contacts are recorded, and n8n is started again with them waiting. Prints the
// peak RSS of the n8n process group (n8n and its task runner) while it drains them and the drain
// time, against the same group's RSS when idle with the workflow active (measured first, same run).
// Then counts: every contact must have exactly as many "processed" events as events it was sent
// (0 lost, 0 twice), nothing left pending, no dead letter.
//
// Sizes: MA_BENCH_EVENTS (default 10000). Trigger options: MA_BENCH_CONCURRENCY, MA_BENCH_BATCH
// (default: the node's defaults). MA_BENCH_NO_BUILD=1 reuses dist/ as it is. Executions are not
// saved (EXECUTIONS_DATA_SAVE_ON_SUCCESS=none), as in bench/n8n.
import { readdirSync, readFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir, cpus, loadavg } from 'os';
import { join } from 'path';
import { acquireStore, closeAllStores } from '../lib/redis/pool';
import { DeadLetters } from '../lib/triggers';
import { SHARD_COUNT } from '../lib/keys';
import { startRedis } from '../test/harness/redis';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const n8n = require('../tools/n8n/index.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const examples = require('../examples/index.js');

const EVENTS = Number(process.env.MA_BENCH_EVENTS ?? 10_000);
const CONTACTS = Math.min(1000, EVENTS);
const PREFIX = 'backlog:';
const EVENT = 'page_viewed';
const STALL_MS = 180_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;

/** RSS (kB) of every process in the group led by `pid` (n8n and its task runner). */
function groupRssKb(pid: number): number {
	let total = 0;
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			// Field 5 of /proc/<pid>/stat is the process group; the name (field 2) may hold spaces.
			const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
			const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
			if (pgrp !== pid) continue;
			const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'));
			total += rss ? Number(rss[1]) : 0;
		} catch {
			// the process ended meanwhile
		}
	}
	return total;
}

/** Samples the group's RSS every 250 ms until stopped; returns the peak and the mean. */
function sampleRss(pid: number): { stop(): { peakKb: number; meanKb: number } } {
	let peakKb = 0;
	let sum = 0;
	let n = 0;
	const take = () => {
		const kb = groupRssKb(pid);
		peakKb = Math.max(peakKb, kb);
		sum += kb;
		n++;
	};
	take();
	const timer = setInterval(take, 250);
	return {
		stop() {
			clearInterval(timer);
			take();
			return { peakKb, meanKb: sum / n };
		},
	};
}

function workflow(options: Record<string, number>) {
	const hot = JSON.parse(readFileSync(join(examples.EXAMPLES_DIR, '21-hot-lead.json'), 'utf8'));
	const score = hot.nodes.find((n: { name: string }) => n.name === 'Score');
	const credentials = { contactStoreApi: { id: 'benchBacklogStore', name: 'Contact Store (backlog bench)' } };
	return {
		id: 'benchBacklogDrain',
		name: 'Bench: backlog drain',
		nodes: [
			{
				name: 'Contact Trigger',
				type: 'n8n-nodes-marketing-automation.contactTrigger',
				typeVersion: 1,
				position: [0, 0],
				id: 'b0a1c2d3-0000-4000-8000-000000000001',
				credentials,
				parameters: { mode: 'eventRecorded', eventNames: EVENT, options },
			},
			{ ...score, position: [220, 0], credentials },
			{
				name: 'Mark Processed',
				type: 'n8n-nodes-marketing-automation.contact',
				typeVersion: 1,
				position: [440, 0],
				credentials,
				// No idempotency key: an event processed twice shows as a second "processed".
				parameters: {
					resource: 'event',
					operation: 'record',
					identifyBy: 'id',
					contactId: "={{ $('Contact Trigger').item.json.contactId }}",
					eventName: 'processed',
					properties: '={}',
					options: {},
				},
			},
		],
		connections: {
			'Contact Trigger': { main: [[{ node: 'Score', type: 'main', index: 0 }]] },
			Score: { main: [[{ node: 'Mark Processed', type: 'main', index: 0 }]] },
		},
		settings: { executionOrder: 'v1' },
	};
}

export async function run(): Promise<void> {
	n8n.install();
	const root = mkdtempSync(join(tmpdir(), 'ma-bench-backlog-'));
	const userFolder = join(root, 'n8n');
	const redis = await startRedis();
	const lease = acquireStore({ host: '127.0.0.1', port: redis.port, keyPrefix: PREFIX });
	const { store } = lease;
	let instance: { pid: number; baseUrl: string; stop(o?: object): Promise<void> } | undefined;
	const env = { EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'none', EXECUTIONS_DATA_SAVE_ON_PROGRESS: 'false' };
	try {
		const options: Record<string, number> = {};
		if (process.env.MA_BENCH_CONCURRENCY) options.concurrency = Number(process.env.MA_BENCH_CONCURRENCY);
		if (process.env.MA_BENCH_BATCH) options.batchSize = Number(process.env.MA_BENCH_BATCH);
		const tarball = n8n.packPackage(n8n.REPO_DIR, {
			outDir: join(root, 'pack'),
			build: !process.env.MA_BENCH_NO_BUILD,
		});
		n8n.prepareUserFolder({ userFolder, tarball });
		const [cred] = examples.credentials({
			redis: { port: redis.port, keyPrefix: PREFIX },
			smtp: { port: 25 },
			webhook: { sharedSecret: 'x' },
			signingSecret: 'bench-signing-secret-0123456789abcdef',
		});
		n8n.importCredentials(userFolder, [{ ...cred, id: 'benchBacklogStore', name: 'Contact Store (backlog bench)' }]);
		const wf = workflow(options);
		const wfDir = join(root, 'workflows');
		mkdirSync(wfDir);
		writeFileSync(join(wfDir, `${wf.id}.json`), JSON.stringify(wf));
		n8n.importWorkflows(userFolder, wfDir, { publish: false });

		// Idle baseline: n8n with the workflow active and nothing to do.
		instance = await n8n.start({ userFolder, env });
		const cookie = await n8n.ensureOwner(instance!.baseUrl);
		await n8n.publishWorkflowRest(instance!.baseUrl, cookie, wf.id);
		const group = 'ct:benchBacklogDrain:b0a1c2d3-0000-4000-8000-000000000001';
		for (let i = 0; i < 240; i++) {
			const groups = (await store.call((r) => r.xinfo('GROUPS', store.keys.log(0))).catch(() => [])) as unknown[][];
			if (groups.some((g) => g.includes(group))) break;
			await sleep(250);
		}
		await sleep(5000);
		const idleSampler = sampleRss(instance!.pid);
		await sleep(10_000);
		const idle = idleSampler.stop();
		await instance!.stop();
		instance = undefined;

		// The backlog: recorded while n8n is down.
		const perContact = new Map<string, number>();
		for (let i = 0; i < EVENTS; i += 1000) {
			const batch = Array.from({ length: Math.min(1000, EVENTS - i) }, (_, k) => {
				const contactId = `bl-${(i + k) % CONTACTS}`;
				perContact.set(contactId, (perContact.get(contactId) ?? 0) + 1);
				return { contactId, name: EVENT, properties: { path: '/blog' } };
			});
			const results = await store.events.record(batch);
			if (!results.every((r) => r.ok)) throw new Error('recording the backlog failed');
		}
		// The contact's counter of "processed" events (count|first|last in its core hash).
		const processedBy = async (id: string) => (await store.contacts.getOne(id))?.events.processed?.count ?? 0;
		const processed = async () => {
			const counts = await Promise.all([...perContact.keys()].map((id) => processedBy(id)));
			return counts.reduce((sum, c) => sum + c, 0);
		};

		console.log(
			`n8n ${n8n.N8N_VERSION} restarted with ${EVENTS} events waiting for ${CONTACTS} contacts; Contact Trigger options ${JSON.stringify(options)} (empty: the defaults)`,
		);
		const loadBefore = loadavg()[0].toFixed(1);
		const t0 = Date.now();
		instance = await n8n.start({ userFolder, env });
		const ready = Date.now() - t0;
		const drainSampler = sampleRss(instance!.pid);
		let done = await processed();
		let lastProgress = Date.now();
		while (done < EVENTS && Date.now() - lastProgress < STALL_MS) {
			await sleep(1000);
			const now = await processed();
			if (now > done) lastProgress = Date.now();
			done = now;
		}
		const drainMs = Date.now() - t0;
		const drain = drainSampler.stop();
		await sleep(3000);

		const counts = await Promise.all(
			[...perContact].map(async ([id, sent]) => ({
				id,
				sent,
				got: await processedBy(id),
			})),
		);
		const lost = counts.filter((c) => c.got < c.sent).reduce((s, c) => s + c.sent - c.got, 0);
		const twice = counts.filter((c) => c.got > c.sent).reduce((s, c) => s + c.got - c.sent, 0);
		const pending = (
			await Promise.all(
				Array.from({ length: SHARD_COUNT }, (_, s) => store.call((r) => r.xpending(store.keys.log(s), group))),
			)
		).reduce((sum, p) => sum + Number((p as [number])[0]), 0);
		const dead = await new DeadLetters(store, group).count();

		console.log(`  idle, workflow active:   RSS ${mb(idle.meanKb)} (n8n and its task runner)`);
		console.log(
			`  draining the backlog:    peak RSS ${mb(drain.peakKb)} (${(drain.peakKb / idle.meanKb).toFixed(2)}x idle), mean ${mb(drain.meanKb)}`,
		);
		console.log(
			`  drain: ${(drainMs / 1000).toFixed(1)} s from starting n8n (ready after ${(ready / 1000).toFixed(1)} s), ${(done / ((drainMs - ready) / 1000)).toFixed(1)} events/s once ready`,
		);
		console.log(
			`  counted per contact: ${done} of ${EVENTS} processed, ${lost} lost, ${twice} processed twice; ${pending} pending, ${dead} dead letters`,
		);
		console.log(
			`  load average (1 min) ${loadBefore} before, ${loadavg()[0].toFixed(1)} after, on this ${cpus().length}-core machine`,
		);
		if (lost > 0 || twice > 0 || pending > 0 || dead > 0)
			throw new Error(`backlog drain: ${lost} lost, ${twice} twice, ${pending} pending, ${dead} dead letters`);
	} finally {
		if (instance) await instance.stop();
		lease.release();
		await closeAllStores();
		await redis.stop();
		rmSync(root, { recursive: true, force: true });
	}
}
