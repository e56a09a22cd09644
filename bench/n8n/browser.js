#!/usr/bin/env node
'use strict';
// `npm run bench:browser`: browser-event ingest through a real n8n, in the same run against the
// signed server endpoint of the same Marketing Webhook Trigger (docs/browser-events.md).
// - browser: POST …/browser, one page view per request, as the snippet sends them: checks
//   (origin, site key, bot filter, names), two rate counters, then the visitor's history.
//   Half the visitors are anonymous (history kept), half identified first (recorded on the contact).
// - signed: POST …/events with the shared secret, one event per request (the same unit of work a
//   page view is), and with 100 per request (a CRM's batch) for scale.
// The workflow starts for nothing (Start the Workflow For empty): this is the ingest itself.
// The kinds take turns in short rounds, each round in the other order, after an untimed warm-up, so
// that other load on the machine slows them alike; each round prints its rates and the load average
// as it ends, and the result is the total and the spread of the per-round rates.
// Sizes: MA_BENCH_EVENTS (default 2,000 per kind: a few minutes on a 2-core machine),
// MA_BENCH_ROUNDS (default 6), MA_BENCH_CONCURRENCY (default 16 clients). n8n runs with
// N8N_EXPRESSION_ENGINE_LAZY_ACQUIRE=true, as every n8n the project starts (MA_BENCH_LAZY_ACQUIRE=0:
// n8n's default, an expression isolate per request). MA_BENCH_NO_BUILD=1 reuses dist/ as it is. MA_BENCH_CPU_PROF=<dir>: n8n writes a V8 CPU profile there when it stops.

const os = require('node:os');
const n8n = require('../../tools/n8n/index.js');
const examples = require('../../examples/index.js');
const { prepareBench, cpuProfileEnv, redisCli } = require('./harness.js');

const EVENTS = Number(process.env.MA_BENCH_EVENTS || 2000);
const CONCURRENCY = Number(process.env.MA_BENCH_CONCURRENCY || 16);
const ROUNDS = Number(process.env.MA_BENCH_ROUNDS || 6);
/** Requests per kind before the timed rounds (n8n's and the node's code paths warmed alike). */
const WARMUP = 32;
const ORIGIN = 'https://www.example.com';
const SITE_KEY = 'pk_bench';
const SECRET = 'bench-shared-secret';
const HOOK = 'bench-browser';
const N8N_HOOK = 'bench-n8n-webhook';
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const VISITORS = 400;
const visitorId = (i) => `benchvisitor${String(i % VISITORS).padStart(10, '0')}`;

function workflowJson() {
	return {
		id: 'benchBrowserIngest',
		name: 'Bench: browser ingest',
		active: false,
		nodes: [
			{
				name: 'Marketing Webhook Trigger',
				type: 'n8n-nodes-marketing-automation.marketingWebhookTrigger',
				typeVersion: 1.1,
				position: [0, 0],
				webhookId: HOOK,
				parameters: {
					emit: [],
					browserEvents: {
						siteKey: SITE_KEY,
						allowedOrigins: ORIGIN,
						// Every request of the bench comes from 127.0.0.1.
						perIpPerMinute: 1e9,
						perVisitorPerMinute: 1e9,
					},
					options: {},
				},
				credentials: {
					contactStoreApi: { id: examples.CREDENTIAL_IDS.contactStore, name: 'Contact Store' },
					marketingWebhookApi: { id: examples.CREDENTIAL_IDS.webhook, name: 'Marketing Webhook' },
				},
			},
		],
		connections: {},
		settings: { executionOrder: 'v1' },
	};
}

/**
 * The reference: n8n's own Webhook node answering at once. n8n 2.x evaluates expressions in a fresh
 * isolated-vm isolate per webhook request, and skips that only for this node with static
 * parameters (live-webhooks.js webhookPhaseNeedsIsolate); every other trigger, this pack's too, pays
 * for the isolate. It starts a one-node execution per request, which the pack's trigger (starting
 * nothing here) does not.
 */
function n8nWebhookJson() {
	return {
		id: 'benchN8nWebhook',
		name: "Bench: n8n's Webhook node",
		active: false,
		nodes: [
			{
				name: 'Webhook',
				type: 'n8n-nodes-base.webhook',
				typeVersion: 2,
				position: [0, 0],
				webhookId: N8N_HOOK,
				parameters: { httpMethod: 'POST', path: N8N_HOOK, responseMode: 'onReceived', options: {} },
			},
		],
		connections: {},
		settings: { executionOrder: 'v1' },
	};
}

async function postOk(url, headers, body) {
	const r = await fetch(url, { method: 'POST', headers, body });
	if (r.status !== 200) throw new Error(`${url}: ${r.status} ${(await r.text()).slice(0, 300)}`);
}

/** Sends `requests` (functions returning a promise) with CONCURRENCY in flight; returns ms. */
async function drive(requests) {
	const started = process.hrtime.bigint();
	let next = 0;
	await Promise.all(
		Array.from({ length: CONCURRENCY }, async () => {
			while (next < requests.length) await requests[next++]();
		}),
	);
	return Number(process.hrtime.bigint() - started) / 1e6;
}

async function main() {
	const bench = await prepareBench('browser');
	try {
		const { redisPort } = bench;
		const [store, , webhook] = bench.credentials({ keyPrefix: 'bench:', sharedSecret: SECRET });
		const { instance } = await bench.startN8n({
			credentials: [
				{ ...store, name: 'Contact Store' },
				{ ...webhook, name: 'Marketing Webhook' },
			],
			workflows: [workflowJson(), n8nWebhookJson()],
			env: {
				EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'none',
				EXECUTIONS_DATA_SAVE_ON_PROGRESS: 'false',
				...(process.env.MA_BENCH_LAZY_ACQUIRE === '0' ? { N8N_EXPRESSION_ENGINE_LAZY_ACQUIRE: 'false' } : {}),
				...cpuProfileEnv(process.env.MA_BENCH_CPU_PROF),
			},
			webhooks: [`${HOOK}/events`, N8N_HOOK],
		});
		const browserUrl = `${instance.baseUrl}/webhook/${HOOK}/browser`;
		const eventsUrl = `${instance.baseUrl}/webhook/${HOOK}/events`;
		const n8nWebhookUrl = `${instance.baseUrl}/webhook/${N8N_HOOK}`;
		const browserHeaders = { origin: ORIGIN, 'user-agent': UA, 'content-type': 'text/plain;charset=UTF-8' };
		const signedHeaders = { 'x-webhook-secret': SECRET, 'content-type': 'application/json' };

		const load = () => os.loadavg()[0];
		const started = Date.now();
		const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
		console.log(
			`n8n ${n8n.N8N_VERSION} ready; identifying ${VISITORS / 2} visitors, then ${EVENTS} events per kind in ${ROUNDS} rounds, ${CONCURRENCY} clients`,
		);
		// Half the visitors identified before the timed rounds: their page views go to their contact.
		await drive(
			Array.from(
				{ length: VISITORS / 2 },
				(_, v) => () =>
					postOk(
						browserUrl,
						browserHeaders,
						JSON.stringify({
							siteKey: SITE_KEY,
							visitorId: visitorId(v),
							identify: { email: `reader${v}@example.com` },
						}),
					),
			),
		);

		const perRound = Math.ceil(EVENTS / ROUNDS);
		/** A round's requests of each kind; the warm-up is round ROUNDS: ids of its own, fewer requests. */
		const warm = (round) => round === ROUNDS;
		const kinds = {
			browser: (round) =>
				Array.from({ length: warm(round) ? WARMUP : perRound }, (_, i) => () => {
					const k = round * perRound + i;
					return postOk(
						browserUrl,
						browserHeaders,
						JSON.stringify({
							siteKey: SITE_KEY,
							visitorId: visitorId(k),
							events: [{ id: `r${round}e${i}`, name: 'page_viewed', properties: { path: `/books/${k % 50}` } }],
						}),
					);
				}),
			signed: (round) =>
				Array.from({ length: warm(round) ? WARMUP : perRound }, (_, i) => () => {
					const k = round * perRound + i;
					return postOk(
						eventsUrl,
						signedHeaders,
						JSON.stringify({
							contactId: `c${k % VISITORS}`,
							event: 'page_viewed',
							properties: { path: `/books/${k % 50}` },
						}),
					);
				}),
			signed100: (round) =>
				Array.from({ length: warm(round) ? 1 : Math.ceil(perRound / 100) }, (_, b) => () => {
					const events = Array.from({ length: 100 }, (_, j) => {
						const k = round * perRound + b * 100 + j;
						return { contactId: `c${k % VISITORS}`, event: 'page_viewed', properties: { path: `/books/${k % 50}` } };
					});
					return postOk(eventsUrl, signedHeaders, JSON.stringify({ events }));
				}),
			n8nWebhook: (round) =>
				Array.from({ length: warm(round) ? WARMUP : perRound }, (_, i) => () => {
					const k = round * perRound + i;
					return postOk(
						n8nWebhookUrl,
						{ 'content-type': 'application/json' },
						JSON.stringify({
							contactId: `c${k % VISITORS}`,
							event: 'page_viewed',
							properties: { path: `/books/${k % 50}` },
						}),
					);
				}),
		};
		const eventsIn = (kind, requests) => (kind === 'signed100' ? requests.length * 100 : requests.length);
		const rate = (events, ms) => events / (ms / 1000);
		// Two significant digits below 100: a heavily loaded machine manages a few requests per second.
		const shown = (value) => (value >= 100 ? value.toFixed(0) : value.toPrecision(2));
		const order = Object.keys(kinds);
		for (const kind of order) await drive(kinds[kind](ROUNDS));
		console.log(
			`identified and warmed up (${WARMUP} requests per kind) at ${elapsed()}; load average ${load().toFixed(1)}`,
		);

		const totals = Object.fromEntries(order.map((k) => [k, { ms: 0, events: 0, rates: [] }]));
		const loads = [];
		for (let round = 0; round < ROUNDS; round++) {
			const line = [];
			// Every other round in the other order: no kind always runs first, or right after another.
			for (const kind of round % 2 === 0 ? order : [...order].reverse()) {
				const requests = kinds[kind](round);
				const ms = await drive(requests);
				const events = eventsIn(kind, requests);
				Object.assign(totals[kind], { ms: totals[kind].ms + ms, events: totals[kind].events + events });
				totals[kind].rates.push(rate(events, ms));
				line.push(`${kind} ${shown(rate(events, ms))}/s`);
			}
			loads.push(load());
			console.log(
				`round ${round + 1}/${ROUNDS} at ${elapsed()}: ${line.join(', ')} (events/s); load average ${load().toFixed(1)}`,
			);
		}
		const spread = (rates) => `${shown(Math.min(...rates))}-${shown(Math.max(...rates))}`;
		const overall = (kind) => rate(totals[kind].events, totals[kind].ms);
		console.log(
			`browser-event ingest in n8n ${n8n.N8N_VERSION}: ${EVENTS} events per kind, ${CONCURRENCY} clients, ${ROUNDS} rounds, ${VISITORS} visitors (half identified); load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} on ${os.cpus().length} cores, ${elapsed()}`,
		);
		console.log('                                                 events/s   per round');
		const row = (label, kind) =>
			console.log(`  ${label.padEnd(46)} ${shown(overall(kind)).padStart(8)}   ${spread(totals[kind].rates)}`);
		row('browser route, 1 page view per request', 'browser');
		row('signed events route, 1 event per request', 'signed');
		row('signed events route, 100 events per request', 'signed100');
		row("n8n's Webhook node, 1 request (no isolate)", 'n8nWebhook');
		console.log(
			`  browser / signed, 1 per request: ${(overall('browser') / overall('signed')).toFixed(2)} (per round ${spread(totals.browser.rates.map((r, i) => (100 * r) / totals.signed.rates[i]))} %)`,
		);
		console.log(
			`  signed (1 per request) / n8n's Webhook node: ${(overall('signed') / overall('n8nWebhook')).toFixed(2)} (per round ${spread(totals.signed.rates.map((r, i) => (100 * r) / totals.n8nWebhook.rates[i]))} %)`,
		);
		console.log(
			`  anonymous histories kept: ${redisCli(redisPort, 'eval', "return #redis.call('keys', 'bench:*:v:*:h')", '0')}`,
		);
	} finally {
		await bench.stop();
	}
}

main().catch((e) => {
	console.error(e && e.stack ? e.stack : e);
	process.exit(1);
});
