// Lead Score over a 10,000-item batch: the node's execute (through n8n's real engine) against the
// same scoring done one Redis call at a time, as a flow built from n8n's Redis node does it, in
// the same run on the same Redis. Two baselines:
// - "Redis-node flow" (the goal's baseline): n8n's Redis node runs one awaited command per item
//   per node, and its Get with key type "automatic" asks TYPE first. The same logic from Redis,
//   If and Code nodes needs per item: INCR of the event id (retries), Get of the contact (its job
//   title), Push of the award, Get of the awards (decay: only the last 30 days count), Get of the
//   grade, Set of the score, and Set of the grade plus Push of a grade event when it moves.
// - "one lib call per item": this pack's own script called once per item, awaited in turn: the
//   most a single call per item can do, so the ratio to it is the batching alone.
// Every loopback figure is the median of three runs, the five measured in turns (samplesInTurn),
// so that both sides of a ratio see the same load on a shared machine; the proxy's are one run.
import { acquireStore, closeAllStores } from '../lib/redis/pool';
import { compileModel, Scoring, type ScoreModel } from '../lib/scoring';
import type { LeadScore as LeadScoreNode } from '../nodes/LeadScore/LeadScore.node';
import { contactStoreCredentials, runNode } from '../test/harness/n8n';
import { freePort } from '../tools/ports';
import { startRedis } from '../test/harness/redis';
import { spawn, type ChildProcess } from 'child_process';
import type { RedisClient } from '../lib/redis/connection';

// Explicit extension: beside LeadScore.node.ts lies the codex LeadScore.node.json, which Node's
// resolver would pick first under ts-node.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { LeadScore } = require('../nodes/LeadScore/LeadScore.node.ts') as { LeadScore: typeof LeadScoreNode };

const ITEMS = 10_000;
const CONTACTS = 2_000;

const model: ScoreModel = {
	rules: [
		{
			name: 'pricing',
			event: 'page_viewed',
			where: [{ property: 'path', operator: 'equals', value: '/pricing' }],
			points: 10,
		},
		{
			name: 'careers',
			event: 'page_viewed',
			where: [{ property: 'path', operator: 'startsWith', value: '/careers' }],
			points: -5,
		},
		{ name: 'daily visit', event: 'page_viewed', points: 1, frequency: 'oncePerDay' },
		{ name: 'director', field: { field: 'jobTitle', operator: 'contains', value: 'Director' }, points: 15 },
	],
	decay: { mode: 'expire', days: 30 },
};

/** The hot-lead logic as a flow of n8n Redis nodes runs it: one awaited command at a time. */
async function redisNodeFlow(
	redis: RedisClient,
	i: number,
	run: string,
	now: number,
): Promise<{ score: number; grade: string }> {
	const input = item(i, run);
	const get = async (key: string) => {
		const type = await redis.type(key);
		if (type === 'hash') return redis.hgetall(key);
		if (type === 'list') return redis.lrange(key, 0, -1);
		return type === 'none' ? null : redis.get(key);
	};
	const id = input.contactId;
	if ((await redis.incr(`rn:seen:${input.event.id}`)) > 1) return { score: NaN, grade: '' };
	const contact = (await get(`rn:contact:${id}`)) as Record<string, string> | null;
	const path = input.event.properties.path;
	let points = path === '/pricing' ? 10 : path.startsWith('/careers') ? -5 : 0;
	if ((await redis.incr(`rn:${run}:daily:${id}:${new Date(now).toISOString().slice(0, 10)}`)) === 1) points += 1;
	if (points !== 0) await redis.rpush(`rn:${run}:awards:${id}`, JSON.stringify({ points, at: now }));
	const awards = ((await get(`rn:${run}:awards:${id}`)) as string[] | null) ?? [];
	let score = contact?.jobTitle?.includes('Director') ? 15 : 0;
	for (const award of awards) {
		const a = JSON.parse(award) as { points: number; at: number };
		if (now - a.at < 30 * 86_400_000) score += a.points;
	}
	const previous = ((await get(`rn:${run}:grade:${id}`)) as string | null) ?? 'cold';
	const grade = score >= 50 ? 'hot' : score >= 20 ? 'warm' : 'cold';
	await redis.set(`rn:${run}:score:${id}`, String(score));
	if (grade !== previous) {
		await redis.set(`rn:${run}:grade:${id}`, grade);
		await redis.rpush(`rn:${run}:events:${id}`, JSON.stringify({ name: 'grade_changed', from: previous, to: grade }));
	}
	return { score, grade };
}

const item = (i: number, run: string, contacts = CONTACTS) => ({
	contactId: `c${i % contacts}`,
	event: { id: `${run}-${i}`, name: 'page_viewed', properties: { path: ['/pricing', '/blog', '/careers/x'][i % 3] } },
});

/**
 * A TCP proxy in its own process that holds every chunk for `oneWayMs` in each direction, to
 * show the same comparison at a network round trip instead of loopback (Redis on another host).
 */
export async function startLatencyProxy(targetPort: number, oneWayMs: number): Promise<{ port: number; stop(): void }> {
	const port = await freePort();
	const code = `
const net = require('net');
const delay = ${oneWayMs};
const pipe = (from, to) => from.on('data', (chunk) => setTimeout(() => to.write(chunk), delay));
net.createServer((client) => {
  const server = net.connect(${targetPort}, '127.0.0.1');
  pipe(client, server); pipe(server, client);
  const close = () => { client.destroy(); server.destroy(); };
  client.on('error', close); server.on('error', close); client.on('close', close); server.on('close', close);
}).listen(${port}, '127.0.0.1', () => process.stdout.write('ready'));`;
	const child: ChildProcess = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
	await new Promise<void>((resolve) => child.stdout?.once('data', () => resolve()));
	return { port, stop: () => child.kill() };
}

/**
 * Milliseconds of three runs of each, sorted (the median is [1]), the runs taken in turns (a, b, c,
 * a, b, c, a, b, c): the samples of the figures compared in a ratio spread over the same seconds,
 * so a load spike on a shared machine falls on both sides, not on the one measured at that moment.
 */
export async function samplesInTurn(runs: Array<(round: number) => Promise<void>>): Promise<number[][]> {
	const times: number[][] = runs.map(() => []);
	for (let round = 0; round < 3; round++) {
		for (let r = 0; r < runs.length; r++) {
			const start = performance.now();
			await runs[r](round);
			times[r].push(performance.now() - start);
		}
	}
	return times.map((t) => t.sort((a, b) => a - b));
}

/** Median PING round trip in ms. */
export async function pingMs(store: { redis: { ping(): Promise<string> } }): Promise<string> {
	const times: number[] = [];
	for (let i = 0; i < 50; i++) {
		const t = performance.now();
		await store.redis.ping();
		times.push(performance.now() - t);
	}
	return times.sort((a, b) => a - b)[25].toFixed(2);
}

export async function run(): Promise<void> {
	const server = await startRedis();
	process.env.MA_TEST_REDIS_PORT = String(server.port);
	const prefix = 'bench:';
	const lease = acquireStore({ host: '127.0.0.1', port: server.port, keyPrefix: prefix });
	const { store } = lease;
	try {
		for (let start = 0; start < ITEMS; start += 1000) {
			const batch = Array.from({ length: 1000 }, (_, k) => ({
				id: `c${start + k}`,
				fields: { jobTitle: (start + k) % 4 === 0 ? 'IT Director' : 'Engineer' },
			}));
			for (const r of await store.contacts.upsert(batch)) if (!r.ok) throw r.error;
		}
		const seed = store.redis.pipeline();
		for (let c = 0; c < CONTACTS; c++)
			seed.hset(`rn:contact:c${c}`, 'id', `c${c}`, 'jobTitle', c % 4 === 0 ? 'IT Director' : 'Engineer');
		await seed.exec();
		const credentials = contactStoreCredentials('standalone', prefix);
		const parameters = {
			operation: 'scoreEvent',
			rulesInput: 'json',
			rulesJson: JSON.stringify(model.rules),
			decay: 'expire',
			decayDays: 30,
		};
		console.log(`items: ${ITEMS} over ${CONTACTS} contacts, ${model.rules.length} rules, redis-server on loopback`);
		// Each with new event ids per round.
		const runScoreNode = async (run: string, contacts = CONTACTS) => {
			const [out] = await runNode({
				nodeType: new LeadScore(),
				parameters,
				items: Array.from({ length: ITEMS }, (_, i) => item(i, run, contacts)),
				credentials,
			});
			if (out.length !== ITEMS || out.some((o) => o.json.error)) throw new Error('node run failed');
		};
		// A contact's first scoring creates its score keys and costs more than the next ones: done
		// once for every contact here, not in the first of the three rounds, whose median would then
		// be the slower of the other two (one load spike on either set it).
		const firstStart = performance.now();
		await runScoreNode('first', ITEMS);
		const firstMs = performance.now() - firstStart;
		// The items of a contact share one read and one write of its state: the same batch with
		// every item a different contact shows the cost without that.
		const compiled = compileModel(model);
		const scoring = new Scoring(store);
		const now = Date.now();
		// Medians of three, the five taken in turns: both sides of a ratio see the same load
		// (bench/segments.bench.ts). Each flow round starts from keys of its own, as one run did.
		const samples = await samplesInTurn([
			(round) => runScoreNode(`node${round}`),
			(round) => runScoreNode(`distinct${round}`, ITEMS),
			async (round) => {
				const batch = await scoring.score(
					compiled,
					Array.from({ length: ITEMS }, (_, i) => item(i, `batch${round}`)),
				);
				if (batch.some((r) => !r.ok)) throw new Error('lib batch failed');
			},
			async (round) => {
				for (let i = 0; i < ITEMS; i++) await redisNodeFlow(store.redis, i, `flow${round}`, now);
			},
			async (round) => {
				for (let i = 0; i < ITEMS; i++) {
					const [r] = await scoring.score(compiled, [item(i, `seq${round}`)]);
					if (!r.ok) throw r.error;
				}
			},
		]);
		const [nodeMs, distinctMs, libMs, flowMs, seqMs] = samples.map((sorted) => sorted[1]);

		const rate = (ms: number, n = ITEMS) => Math.round((n / ms) * 1000);
		console.log(`Lead Score node execute (one batch):       ${rate(nodeMs)} items/s (${nodeMs.toFixed(0)} ms)`);
		console.log(
			`  the same, every item a different contact:  ${rate(distinctMs)} items/s (${distinctMs.toFixed(0)} ms), ratio to the Redis-node flow ${(flowMs / distinctMs).toFixed(1)}x`,
		);
		console.log(
			`  before the rounds, one run: its first scoring (${ITEMS.toLocaleString('en')} contacts never scored; the node's first run here too): ${rate(firstMs)} items/s (${firstMs.toFixed(0)} ms), ${(flowMs / firstMs).toFixed(1)}x the flow`,
		);
		const ms = (sorted: number[]) => sorted.map((x) => x.toFixed(0)).join(', ');
		console.log(
			`  its three runs: ${ms(samples[1])} ms; the Redis-node flow's, taken in turns with them: ${ms(samples[3])} ms`,
		);
		console.log(`lib Scoring.score (one batch, no n8n):     ${rate(libMs)} items/s (${libMs.toFixed(0)} ms)`);
		console.log(`baseline, Redis-node flow (commands in turn): ${rate(flowMs)} items/s (${flowMs.toFixed(0)} ms)`);
		console.log(`baseline, one lib call per item in turn:     ${rate(seqMs)} items/s (${seqMs.toFixed(0)} ms)`);
		console.log(
			`ratio to the Redis-node flow: node ${(flowMs / nodeMs).toFixed(1)}x (goal 20x), lib ${(flowMs / libMs).toFixed(1)}x`,
		);
		console.log(
			`ratio to one lib call per item: node ${(seqMs / nodeMs).toFixed(1)}x, lib ${(seqMs / libMs).toFixed(1)}x`,
		);

		// The same through a proxy holding each chunk 0.5 ms each way (timers round that up to about
		// 1 ms: the round trip is printed), as with Redis on another host.
		const proxy = await startLatencyProxy(server.port, 0.5);
		const far = acquireStore({ host: '127.0.0.1', port: proxy.port, keyPrefix: prefix });
		try {
			const farCredentials = { contactStoreApi: { ...credentials.contactStoreApi, port: proxy.port } };
			let t = performance.now();
			const [farOut] = await runNode({
				nodeType: new LeadScore(),
				parameters,
				items: Array.from({ length: ITEMS }, (_, i) => item(i, 'far-node')),
				credentials: farCredentials,
			});
			const farNodeMs = performance.now() - t;
			if (farOut.length !== ITEMS || farOut.some((o) => o.json.error))
				throw new Error('node run over the proxy failed');
			const farScoring = new Scoring(far.store);
			const SEQ = 1000;
			t = performance.now();
			for (let i = 0; i < SEQ; i++) {
				const [r] = await farScoring.score(compiled, [item(i, 'far-seq')]);
				if (!r.ok) throw r.error;
			}
			const farSeqMs = performance.now() - t;
			const FLOW = 200;
			t = performance.now();
			for (let i = 0; i < FLOW; i++) await redisNodeFlow(far.store.redis, i, 'far-flow', now);
			const farFlowMs = performance.now() - t;
			console.log(
				`measured PING round trip: loopback ${await pingMs(store)} ms, through the proxy ${await pingMs(far.store)} ms`,
			);
			console.log(
				`through the proxy: node ${rate(farNodeMs)} items/s; Redis-node flow ${rate(farFlowMs, FLOW)} items/s (${FLOW} items), ratio ${(rate(farNodeMs) / rate(farFlowMs, FLOW)).toFixed(1)}x; ` +
					`one lib call per item ${rate(farSeqMs, SEQ)} items/s (${SEQ} items), ratio ${(rate(farNodeMs) / rate(farSeqMs, SEQ)).toFixed(1)}x`,
			);
		} finally {
			far.release();
			proxy.stop();
		}
	} finally {
		lease.release();
		await closeAllStores();
		await server.stop();
	}
}
