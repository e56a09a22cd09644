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
// The kinds take turns in rounds, so that other load on the machine slows them alike.
// Sizes: MA_BENCH_EVENTS (default 2000 per kind), MA_BENCH_CONCURRENCY (default 16 clients).
// MA_BENCH_NO_BUILD=1 reuses dist/ as it is.

const os = require('node:os');
const n8n = require('../../tools/n8n/index.js');
const examples = require('../../examples/index.js');
const { prepareBench, redisCli } = require('./harness.js');

const EVENTS = Number(process.env.MA_BENCH_EVENTS || 2000);
const CONCURRENCY = Number(process.env.MA_BENCH_CONCURRENCY || 16);
const ROUNDS = 4;
const ORIGIN = 'https://www.example.com';
const SITE_KEY = 'pk_bench';
const SECRET = 'bench-shared-secret';
const HOOK = 'bench-browser';
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
				typeVersion: 1,
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
			workflows: [workflowJson()],
			env: { EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'none', EXECUTIONS_DATA_SAVE_ON_PROGRESS: 'false' },
			webhooks: [`${HOOK}/events`],
		});
		const browserUrl = `${instance.baseUrl}/webhook/${HOOK}/browser`;
		const eventsUrl = `${instance.baseUrl}/webhook/${HOOK}/events`;
		const browserHeaders = { origin: ORIGIN, 'user-agent': UA, 'content-type': 'text/plain;charset=UTF-8' };
		const signedHeaders = { 'x-webhook-secret': SECRET, 'content-type': 'application/json' };

		// Half the visitors identified before the timed rounds: their page views go to their contact.
		for (let v = 0; v < VISITORS / 2; v++)
			await postOk(
				browserUrl,
				browserHeaders,
				JSON.stringify({ siteKey: SITE_KEY, visitorId: visitorId(v), identify: { email: `reader${v}@example.com` } }),
			);

		const perRound = Math.ceil(EVENTS / ROUNDS);
		const kinds = {
			browser: (round) =>
				Array.from({ length: perRound }, (_, i) => () => {
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
				Array.from({ length: perRound }, (_, i) => () => {
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
				Array.from({ length: Math.ceil(perRound / 100) }, (_, b) => () => {
					const events = Array.from({ length: 100 }, (_, j) => {
						const k = round * perRound + b * 100 + j;
						return { contactId: `c${k % VISITORS}`, event: 'page_viewed', properties: { path: `/books/${k % 50}` } };
					});
					return postOk(eventsUrl, signedHeaders, JSON.stringify({ events }));
				}),
		};
		const totals = Object.fromEntries(Object.keys(kinds).map((k) => [k, { ms: 0, events: 0 }]));
		for (let round = 0; round < ROUNDS; round++) {
			for (const [kind, make] of Object.entries(kinds)) {
				const requests = make(round);
				totals[kind].ms += await drive(requests);
				totals[kind].events += kind === 'signed100' ? requests.length * 100 : requests.length;
			}
		}
		const load = os.loadavg()[0].toFixed(1);
		console.log(
			`browser-event ingest in n8n ${n8n.N8N_VERSION}: ${EVENTS} events per kind, ${CONCURRENCY} clients, ${ROUNDS} rounds, ${VISITORS} visitors (half identified); load average ${load} on ${os.cpus().length} cores`,
		);
		const rate = (t) => (t.events / (t.ms / 1000)).toFixed(0);
		console.log(`  browser route, 1 page view per request:      ${rate(totals.browser)} events/s`);
		console.log(`  signed events route, 1 event per request:     ${rate(totals.signed)} events/s`);
		console.log(`  signed events route, 100 events per request:  ${rate(totals.signed100)} events/s`);
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
