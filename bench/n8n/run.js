#!/usr/bin/env node
'use strict';
// `npm run bench:n8n`: the hot-lead recipe (score events, grade, flag the leads that turn hot)
// inside a real n8n, built with this pack's Lead Score node vs the same logic from n8n core nodes
// only (Webhook, Split Out, Redis, Code, If), in the same run on the same Redis.
//
// Events arrive in batches of BATCH per webhook call, one execution per batch: CRMs and site
// trackers batch their webhooks (HubSpot and Salesforce send up to 100 notifications per call,
// Segment-style trackers flush every few seconds), so 100 is the default; `npm run bench:n8n`
// then runs again with 1000 per call (the most the Marketing Webhook Trigger takes per call), for
// bulk imports and busy trackers. n8n's own cost per execution weighs less per event there.
// Both flows split the batch with the Split Out node (in-process; a Code node would add a task
// runner round trip to both).
//
// The flows take turns in rounds (a block of batches each), so that other load on the machine
// slows them alike.
// Besides the two flows it measures, in the same run:
// - "n8n floor": Webhook -> Split Out alone, the fixed cost n8n adds to every execution (HTTP,
//   webhook lookup, execution start/finish, splitting); no flow can be faster per call.
// - per-node times of a few executions of each flow saved with their run data (not timed).
// - Redis server time (INFO commandstats) spent per execution of each flow.
// - the library call alone (Scoring.score on batches like ours, from this process), to split the
//   Lead Score node's time into n8n-side work and the scoring round trips.
//
// Sizes: MA_BENCH_EVENTS (default 10000), MA_BENCH_BATCH (default 100; there are as many contacts
// as events in a batch, at least 500, so a batch never holds a contact twice: the core flow reads
// all scores before writing any). MA_BENCH_NO_BUILD=1 reuses dist/ as it is.
// MA_BENCH_CPU_PROF=<dir>: n8n writes a V8 CPU profile there on exit (open it in Chrome DevTools).
// MA_BENCH_N8N_ENV='{"NAME":"value"}': extra n8n settings (e.g. its expression engine's), for both flows.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Redis = require('ioredis');
const n8n = require('../../tools/n8n/index.js');
const examples = require('../../examples/index.js');
const { prepareBench, cpuProfileEnv, redisCli } = require('./harness.js');

const EVENTS = Number(process.env.MA_BENCH_EVENTS || 10000);
const BATCH = Number(process.env.MA_BENCH_BATCH || 100);
const CONTACTS = Math.max(500, BATCH);
const PROBES = 10;
const ROUNDS = 5;
const N8N_ENV = JSON.parse(process.env.MA_BENCH_N8N_ENV || '{}');
if (!(BATCH >= 1)) throw new Error('MA_BENCH_BATCH must be 1 or more');

const hot = JSON.parse(fs.readFileSync(path.join(examples.EXAMPLES_DIR, '21-hot-lead.json'), 'utf8'));
const scoreNode = hot.nodes.find((n) => n.name === 'Score');
const cs = { contactStoreApi: { id: 'benchContactStore', name: 'Contact Store (bench)' } };
const rc = { redis: { id: 'benchRedis000001', name: 'Redis (bench)' } };

const webhook = (p) => ({
	name: 'Webhook',
	type: 'n8n-nodes-base.webhook',
	typeVersion: 2.1,
	position: [0, 0],
	webhookId: `bench-${p}`,
	parameters: { httpMethod: 'POST', path: p, responseMode: 'lastNode', responseData: 'noData', options: {} },
});
const splitOut = {
	name: 'Split',
	type: 'n8n-nodes-base.splitOut',
	typeVersion: 1,
	position: [200, 0],
	parameters: { fieldToSplitOut: 'body.events', include: 'noOtherFields', options: {} },
};
const chain = (names) =>
	Object.fromEntries(
		names.slice(0, -1).map((n, i) => [n, { main: [[{ node: names[i + 1], type: 'main', index: 0 }]] }]),
	);
const flow = (id, name, hookPath, nodes) => ({
	id,
	name,
	nodes: [webhook(hookPath), splitOut, ...nodes],
	connections: chain(['Webhook', 'Split', ...nodes.map((n) => n.name)]),
	settings: { executionOrder: 'v1' },
	hookPath,
});

// The Redis node's Get returns only the value, so the Code node takes the events from Split,
// read once (not per item). Same event rules as the Score node of 21-hot-lead, without decay or
// once-per-day: only cheaper for core.
const points = `const rules = { page_viewed: 5, demo_requested: 40, form_submitted: 15, $email_clicked: 5 };
const events = $('Split').all();
return $input.all().map((item, i) => {
  const e = events[i].json;
  let add = rules[e.event] || 0;
  if (e.event === 'page_viewed' && String((e.properties || {}).path || '').includes('/pricing')) add += 20;
  const before = Number(item.json.score || 0);
  const score = before + add;
  return { json: { contactId: e.contactId, score, turnedHot: before < 50 && score >= 50 } };
});`;

const flows = {
	floor: flow('benchFloorSplit1', 'Bench: n8n floor (webhook, split)', 'bench-floor', []),
	noop: flow('benchFloorNoOp01', 'Bench: n8n floor plus a node doing nothing', 'bench-noop', [
		{ name: 'Nothing', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [400, 0], parameters: {} },
	]),
	ours: flow('benchOursHotLead', 'Bench: hot lead with Lead Score', 'bench-ours', [
		{ ...scoreNode, position: [400, 0], credentials: cs },
	]),
	core: flow('benchCoreHotLead', 'Bench: hot lead with core nodes', 'bench-core', [
		{
			name: 'Get Score',
			type: 'n8n-nodes-base.redis',
			typeVersion: 1,
			position: [400, 0],
			credentials: rc,
			parameters: {
				operation: 'get',
				propertyName: 'score',
				key: '=bench:score:{{ $json.contactId }}',
				keyType: 'string',
				options: {},
			},
		},
		{
			name: 'Add Points',
			type: 'n8n-nodes-base.code',
			typeVersion: 2,
			position: [600, 0],
			parameters: { jsCode: points },
		},
		{
			name: 'Set Score',
			type: 'n8n-nodes-base.redis',
			typeVersion: 1,
			position: [800, 0],
			credentials: rc,
			parameters: {
				operation: 'set',
				key: '=bench:score:{{ $json.contactId }}',
				value: '={{ $json.score }}',
				keyType: 'string',
				expire: false,
			},
		},
		{
			name: 'Turned Hot?',
			type: 'n8n-nodes-base.if',
			typeVersion: 2.2,
			position: [1000, 0],
			parameters: {
				conditions: {
					options: { caseSensitive: true, leftValue: '', typeValidation: 'strict', version: 2 },
					conditions: [
						{
							id: 'c1',
							leftValue: '={{ $json.turnedHot }}',
							rightValue: true,
							operator: { type: 'boolean', operation: 'true', singleValue: true },
						},
					],
					combinator: 'and',
				},
				options: {},
			},
		},
		{
			name: 'Flag Hot',
			type: 'n8n-nodes-base.redis',
			typeVersion: 1,
			position: [1200, 0],
			credentials: rc,
			parameters: {
				operation: 'set',
				key: '=bench:hot:{{ $json.contactId }}',
				value: '1',
				keyType: 'string',
				expire: false,
			},
		},
	]),
};
const PREFIX = { floor: 'f', noop: 'n', ours: 'o', core: 'c', lib: 'l' };

// A copy that saves its run data, for per-node times (the timed flows save nothing).
const probeOf = (wf) => ({
	...wf,
	id: `${wf.id.slice(0, 11)}Probe`,
	name: `${wf.name} (probe)`,
	nodes: wf.nodes.map((n) => (n.name === 'Webhook' ? webhook(`${wf.hookPath}-probe`) : n)),
	settings: { ...wf.settings, saveDataSuccessExecution: 'all', saveManualExecutions: false },
	hookPath: `${wf.hookPath}-probe`,
});

function batches(prefix) {
	const out = [];
	for (let i = 0; i < EVENTS; i += BATCH) {
		out.push(
			Array.from({ length: Math.min(BATCH, EVENTS - i) }, (_, j) => {
				const k = i + j;
				const kind = k % 10 === 0 ? 'demo_requested' : 'page_viewed';
				return {
					contactId: `${prefix}${k % CONTACTS}`,
					event: kind,
					properties: { path: k % 7 === 0 ? '/pricing' : '/blog' },
				};
			}),
		);
	}
	return out;
}

/** Microseconds Redis has spent in commands so far (INFO commandstats, the INFO calls left out). */
async function redisUsec(redis) {
	let usec = 0;
	for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_(\w+):calls=\d+,usec=(\d+)/gm))
		if (m[1] !== 'info') usec += Number(m[2]);
	return usec;
}

async function post(baseUrl, cookie, hookPath, events) {
	const r = await n8n.callWebhook(baseUrl, hookPath, { events }, { timeoutMs: 120000 });
	if (r.status === 200) return;
	const [last] = await n8n.listExecutions(baseUrl, cookie, { limit: 1 });
	const detail = last ? await n8n.getExecution(baseUrl, cookie, last.id) : { data: '' };
	// Run data is a flatted array: its long strings hold the error message.
	let why = r.text.slice(0, 300);
	try {
		why = JSON.parse(String(detail.data))
			.filter((x) => typeof x === 'string' && / /.test(x) && x.length > 20)
			.slice(0, 3)
			.join(' | ');
	} catch {
		// no run data: the response's start says why
	}
	throw new Error(`${hookPath}: ${r.status} ${why}`);
}

/**
 * The library call alone: Scoring.score on a batch, built as the Lead Score node builds it (same
 * model translation, same inputs), over a connection this process holds.
 */
function libScorer(redisPort) {
	const lib = require('../../dist/lib');
	const { readModel, eventOf } = require('../../dist/nodes/shared/scoreModel');
	const params = scoreNode.parameters;
	const model = lib.compileModel(readModel({ getNodeParameter: (name, _i, fallback) => params[name] ?? fallback }));
	const lease = lib.acquireStore({ host: '127.0.0.1', port: redisPort, keyPrefix: 'bench:' });
	const scoring = new lib.Scoring(lease.store);
	const score = async (events) => {
		const results = await scoring.score(
			model,
			events.map((e) => ({
				contactId: e.contactId,
				source: 'lead-score',
				chain: [{ workflowId: 'bench', executionId: '1' }],
				event: eventOf(e),
			})),
		);
		if (!results.every((r) => r.ok))
			throw new Error(`Scoring.score failed: ${results.find((r) => !r.ok).error.message}`);
	};
	return { score, close: async () => (lease.release(), await lib.closeAllStores()) };
}

/**
 * Runs every flow over all batches in ROUNDS blocks: each round, every flow runs its next share of
 * batches in a row (who goes first rotates). Blocks, not one batch each in turn: n8n finishes part
 * of an execution's work after answering, and that work must fall on the same flow's next call.
 * Rounds: load from anything else on the machine falls on all flows alike. Times each call.
 */
async function driveInRounds(ctx, callers) {
	const keys = Object.keys(callers);
	const all = Object.fromEntries(keys.map((k) => [k, batches(PREFIX[k])]));
	const executions = all[keys[0]].length;
	const rounds = Math.min(ROUNDS, executions);
	// Warm-up (loads nodes, opens connections), not measured.
	for (const k of keys) await callers[k](all[k][0].map((e) => ({ ...e, contactId: `warm-${e.contactId}` })));
	const totals = Object.fromEntries(keys.map((k) => [k, { ns: 0n, redisUsec: 0 }]));
	for (let round = 0; round < rounds; round++) {
		const from = Math.floor((round * executions) / rounds);
		const to = Math.floor(((round + 1) * executions) / rounds);
		for (let j = 0; j < keys.length; j++) {
			const k = keys[(round + j) % keys.length];
			const usec0 = await redisUsec(ctx.redis);
			const t0 = process.hrtime.bigint();
			for (let i = from; i < to; i++) await callers[k](all[k][i]);
			totals[k].ns += process.hrtime.bigint() - t0;
			totals[k].redisUsec += (await redisUsec(ctx.redis)) - usec0;
		}
	}
	return Object.fromEntries(
		keys.map((k) => {
			const s = Number(totals[k].ns) / 1e9;
			return [
				k,
				{
					seconds: s,
					execPerSec: executions / s,
					msPerExec: (s * 1000) / executions,
					msPerEvent: (s * 1000) / EVENTS,
					redisMsPerExec: totals[k].redisUsec / 1000 / executions,
				},
			];
		}),
	);
}

/** Mean time per node (ms) over a few saved executions of a probe copy. */
async function nodeTimes({ baseUrl, cookie }, wf, prefix) {
	const { parse } = require('flatted');
	const all = batches(`p${prefix}`);
	let client = 0;
	for (let i = 0; i < PROBES; i++) {
		const t0 = process.hrtime.bigint();
		await post(baseUrl, cookie, wf.hookPath, all[i % all.length]);
		client += Number(process.hrtime.bigint() - t0) / 1e6;
	}
	const done = await n8n.waitForExecutions(baseUrl, cookie, { workflowId: wf.id, count: PROBES });
	const sums = {};
	let total = 0;
	for (const e of done.slice(0, PROBES)) {
		const detail = await n8n.getExecution(baseUrl, cookie, e.id);
		const runData = parse(detail.data).resultData.runData;
		for (const [node, runs] of Object.entries(runData))
			sums[node] = (sums[node] || 0) + runs.reduce((t, r) => t + r.executionTime, 0);
		total += new Date(detail.stoppedAt) - new Date(detail.startedAt);
	}
	return {
		nodes: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / PROBES])),
		execution: total / PROBES,
		client: client / PROBES,
	};
}

async function seedContacts(redisPort) {
	// The recipe scores contacts the store already knows (its events come through the store).
	const { acquireStore, closeAllStores } = require('../../dist/lib');
	const lease = acquireStore({ host: '127.0.0.1', port: redisPort, keyPrefix: 'bench:' });
	try {
		for (const prefix of [PREFIX.ours, PREFIX.lib, `p${PREFIX.ours}`]) {
			for (const id of [prefix, `warm-${prefix}`]) {
				const r = await lease.store.contacts.upsert(
					Array.from({ length: CONTACTS }, (_, i) => ({ id: `${id}${i}`, email: `${id}${i}@example.com` })),
				);
				if (!r.every((x) => x.ok)) throw new Error('seeding contacts failed');
			}
		}
	} finally {
		lease.release();
		await closeAllStores();
	}
}

async function main() {
	const bench = await prepareBench('n8n');
	try {
		const { redisPort } = bench;
		const [store] = bench.credentials({ keyPrefix: 'bench:' });
		const probes = Object.fromEntries(Object.entries(flows).map(([k, wf]) => [k, probeOf(wf)]));
		const all = [...Object.values(flows), ...Object.values(probes)];
		const { instance, cookie } = await bench.startN8n({
			credentials: [
				{ ...store, id: cs.contactStoreApi.id, name: cs.contactStoreApi.name },
				{
					id: rc.redis.id,
					name: rc.redis.name,
					type: 'redis',
					data: { host: '127.0.0.1', port: redisPort, database: 0, password: '' },
				},
			],
			workflows: all.map(({ hookPath, ...wf }) => wf),
			env: {
				EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'none',
				EXECUTIONS_DATA_SAVE_ON_PROGRESS: 'false',
				...cpuProfileEnv(process.env.MA_BENCH_CPU_PROF),
				...N8N_ENV,
			},
			webhooks: all.map((wf) => wf.hookPath),
		});
		await seedContacts(redisPort);

		const executions = Math.ceil(EVENTS / BATCH);
		console.log(
			`hot-lead recipe in n8n ${n8n.N8N_VERSION}: ${EVENTS} events, ${BATCH} per webhook call (${executions} executions per flow), ${CONTACTS} contacts${Object.keys(N8N_ENV).length ? `, n8n env ${JSON.stringify(N8N_ENV)}` : ''}`,
		);
		const redis = new Redis(redisPort);
		const lib = libScorer(redisPort);
		const ctx = { baseUrl: instance.baseUrl, cookie, redis };
		const load = () => os.loadavg()[0].toFixed(1);
		const loadBefore = load();
		const r = await driveInRounds(ctx, {
			ours: (events) => post(ctx.baseUrl, cookie, flows.ours.hookPath, events),
			core: (events) => post(ctx.baseUrl, cookie, flows.core.hookPath, events),
			floor: (events) => post(ctx.baseUrl, cookie, flows.floor.hookPath, events),
			noop: (events) => post(ctx.baseUrl, cookie, flows.noop.hookPath, events),
			lib: lib.score,
		});
		const loadAfter = load();
		await lib.close();
		redis.disconnect();
		const times = {};
		for (const k of ['ours', 'core', 'floor', 'noop']) times[k] = await nodeTimes(ctx, probes[k], PREFIX[k]);

		const row = (name, x) =>
			console.log(
				`  ${name.padEnd(30)} ${x.seconds.toFixed(1).padStart(6)} s ${x.execPerSec.toFixed(1).padStart(7)} executions/s ${x.msPerExec.toFixed(1).padStart(7)} ms/execution ${x.msPerEvent.toFixed(3).padStart(7)} ms/event`,
			);
		row('Lead Score node (this pack)', r.ours);
		row('core nodes (Redis, Code, If)', r.core);
		row('n8n floor (Webhook, Split Out)', r.floor);
		row('floor + No Operation node', r.noop);
		console.log(`  ratio: ours ${(r.core.seconds / r.ours.seconds).toFixed(2)}x faster per event (goal 20x)`);
		console.log(
			`    bound by n8n's fixed cost per execution: even a node taking no time would be ${(r.core.msPerExec / r.floor.msPerExec).toFixed(1)}x (core vs the floor flow)`,
		);
		console.log(
			`    the nodes alone (floor subtracted from both): ${((r.core.msPerExec - r.floor.msPerExec) / (r.ours.msPerExec - r.floor.msPerExec)).toFixed(1)}x, what very large batches tend to`,
		);

		const ms = (x) => `${x.toFixed(1)} ms`;
		const line = (label, x, note = '') => console.log(`    ${label.padEnd(44)} ${ms(x).padStart(9)}${note}`);
		console.log(`  per execution of ours, ${ms(r.ours.msPerExec)} from the client:`);
		line('n8n floor (Webhook, Split Out)', r.floor.msPerExec);
		line('one more node in n8n (No Operation - floor)', r.noop.msPerExec - r.floor.msPerExec);
		line('Lead Score node beyond that (ours - No Op)', r.ours.msPerExec - r.noop.msPerExec);
		line(
			'Scoring.score alone from this process',
			r.lib.msPerExec,
			` (lib + Redis; Redis server time in ours ${ms(r.ours.redisMsPerExec)}, in lib alone ${ms(r.lib.redisMsPerExec)})`,
		);
		line(
			'Score node time in saved runs',
			times.ours.nodes.Score,
			` (n8n's own timing; minus lib alone, ${ms(times.ours.nodes.Score - r.lib.msPerExec)}, is the node's n8n-side work, within noise)`,
		);
		for (const k of ['ours', 'core', 'floor', 'noop']) {
			const nodes = Object.entries(times[k].nodes)
				.map(([n, t]) => `${n} ${t.toFixed(1)}`)
				.join(', ');
			console.log(
				`  ${k} saved runs: ${ms(times[k].client)} from the client, execution ${ms(times[k].execution)}; per node (ms): ${nodes}; Redis server ${ms(r[k].redisMsPerExec)} per execution`,
			);
		}
		console.log(
			`  load average (1 min) ${loadBefore} before, ${loadAfter} after: other work on this ${os.cpus().length}-core machine slows all flows alike (run in rounds)`,
		);
		console.log(
			`  core flagged ${redisCli(redisPort, 'eval', "return #redis.call('keys', 'bench:hot:c*')", '0')} hot leads`,
		);
	} finally {
		await bench.stop();
	}
}

main().catch((e) => {
	console.error(e && e.stack ? e.stack : e);
	process.exit(1);
});
