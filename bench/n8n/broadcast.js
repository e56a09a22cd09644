#!/usr/bin/env node
'use strict';
// `npm run bench:broadcast`: n8n's memory during a broadcast, recipe 26 (newsletter per language,
// examples/workflows/26-language-targeting.json) to MA_BROADCAST_CONTACTS subscribed contacts
// (default 100000) in a real n8n. Send Campaign renders instead of mailing (Delivery: Render Only:
// the policy checks and the recording of each send stay the same), so no SMTP server is needed.
// Prints the time, the Run Now execution's status and its last item (pages, contacts, sent...),
// n8n's RSS at idle and its peak during the broadcast (VmHWM, reset before), and the highest RSS
// per tenth of the broadcast: flat when memory does not grow with the pages done.
// MA_BROADCAST_WORKFLOW=<file>: another version of the workflow (e.g. the one-execution design of
// an older commit, `git show <commit>:examples/workflows/26-language-targeting.json`), to compare.
// MA_BENCH_NO_BUILD=1 reuses dist/, MA_BENCH_KEEP=1 keeps the scratch folder (harness.js).
// Known limit: with the one-execution design, reading the ended execution back over n8n's REST API
// (its status, its last item) fails at 100,000 contacts (about 180 MB of run data): take its end
// from n8n's database (MA_BENCH_KEEP=1, execution_entity) and its RSS from the samples.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const n8n = require('../../tools/n8n/index.js');
const examples = require('../../examples/index.js');
const { prepareBench } = require('./harness.js');
const { procStatus, resetPeak } = require('./proc.js');

const CONTACTS = Number(process.env.MA_BROADCAST_CONTACTS || 100000);
const FILE = process.env.MA_BROADCAST_WORKFLOW || path.join(examples.EXAMPLES_DIR, '26-language-targeting.json');
const KEY_PREFIX = 'broadcast:';
const MB = 1024 * 1024;

async function seed(keyPrefix, redisPort) {
	const { acquireStore, closeAllStores } = require('../../dist/lib');
	const lease = acquireStore({ host: '127.0.0.1', port: redisPort, keyPrefix });
	try {
		for (let start = 0; start < CONTACTS; start += 1000) {
			const batch = Array.from({ length: Math.min(1000, CONTACTS - start) }, (_, i) => {
				const n = start + i;
				return {
					id: `c${n}`,
					email: `c${n}@example.com`,
					subscription: { status: 'subscribed', source: 'bench' },
					fields: { language: n % 3 === 0 ? 'de' : 'en', firstName: 'Bench' },
				};
			});
			const failed = (await lease.store.contacts.upsert(batch)).find((r) => !r.ok);
			if (failed) throw failed.error;
		}
	} finally {
		lease.release();
		await closeAllStores();
	}
}

/** Whether process `pid` runs (not gone, not a zombie waiting to be reaped). */
function running(pid) {
	try {
		return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
	} catch {
		return false;
	}
}

/**
 * The execution Run Now started (mode webhook, the first after `afterId`): its id, then, polled, its
 * end; or `exited` if the n8n process `pid` is gone meanwhile.
 */
async function runNowExecution(baseUrl, cookie, workflowId, afterId, pid, timeoutMs = 4 * 3600 * 1000) {
	const deadline = Date.now() + timeoutMs;
	let id;
	while (!id && Date.now() < deadline) {
		// Newest first, at most 100: look while the broadcast's page executions are still few.
		const list = await n8n.listExecutions(baseUrl, cookie, { workflowId, limit: 100 });
		id = list.find((e) => e.mode === 'webhook' && Number(e.id) > afterId)?.id;
		if (!id) await new Promise((r) => setTimeout(r, 200));
	}
	while (Date.now() < deadline) {
		const { status } = await n8n.getExecution(baseUrl, cookie, id).catch(async (error) => {
			// An n8n that exited (out of memory, say) refuses connections; give its process time to end.
			await new Promise((r) => setTimeout(r, 3000));
			if (running(pid)) throw error;
			return { status: 'exited' };
		});
		if (!['new', 'running', 'waiting'].includes(status)) return { id, status };
		await new Promise((r) => setTimeout(r, 2000));
	}
	throw new Error(`the broadcast did not end within ${timeoutMs / 1000} s`);
}

/** The last item of the last node the execution ran (the paged design: its running counts). */
async function lastItem(baseUrl, cookie, id) {
	const { parse } = require('flatted');
	const { resultData } = parse((await n8n.getExecution(baseUrl, cookie, id)).data);
	const runs = resultData.runData[resultData.lastNodeExecuted] || [];
	const items = runs.length ? (runs[runs.length - 1].data?.main?.[0] ?? []) : [];
	return { node: resultData.lastNodeExecuted, item: items.length ? items[items.length - 1].json : undefined };
}

async function main() {
	const workflow = JSON.parse(fs.readFileSync(FILE, 'utf8'));
	for (const node of workflow.nodes) if (node.type.endsWith('.sendCampaign')) node.parameters.delivery = 'render';
	const bench = await prepareBench('broadcast');
	try {
		const t = Date.now();
		await seed(KEY_PREFIX, bench.redisPort);
		console.log(
			`seeded ${CONTACTS.toLocaleString('en')} subscribed contacts in ${((Date.now() - t) / 1000).toFixed(1)} s`,
		);
		const { instance, cookie } = await bench.startN8n({
			credentials: bench.credentials({ keyPrefix: KEY_PREFIX }),
			workflows: [workflow],
			webhooks: ['ma-run-newsletter'],
		});
		console.log(`broadcast through n8n ${n8n.N8N_VERSION} (${FILE}); n8n pid ${instance.pid}`);
		const [before] = await n8n.listExecutions(instance.baseUrl, cookie, { limit: 1, workflowId: workflow.id });
		await new Promise((r) => setTimeout(r, 2000));
		const idle = procStatus(instance.pid).rss;
		resetPeak(instance.pid);
		const load = os.loadavg()[0].toFixed(1);
		const t0 = Date.now();
		const res = await n8n.callWebhook(instance.baseUrl, 'ma-run-newsletter', {});
		if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${res.text.slice(0, 200)}`);
		const samples = [];
		const sampler = setInterval(() => {
			// Once n8n has exited there is nothing to read (a zombie has no VmRSS).
			const rss = running(instance.pid) ? procStatus(instance.pid).rss : NaN;
			if (rss > 0) samples.push({ at: Date.now(), rss });
		}, 1000);
		const done = await runNowExecution(
			instance.baseUrl,
			cookie,
			workflow.id,
			before ? Number(before.id) : 0,
			instance.pid,
		).finally(() => clearInterval(sampler));
		const seconds = (Date.now() - t0) / 1000;
		const exited = done.status === 'exited';
		// Once n8n is gone its peak is the highest sample.
		const peak = exited ? Math.max(...samples.map((x) => x.rss)) : procStatus(instance.pid).hwm;
		const tenths = Array.from({ length: 10 }, () => 0);
		for (const { at, rss } of samples) {
			const tenth = Math.min(9, Math.floor(((at - t0) / 1000 / seconds) * 10));
			tenths[tenth] = Math.max(tenths[tenth], rss);
		}
		const mb = (b) => `${(b / MB).toFixed(0)} MB`;
		console.log(`  ${CONTACTS.toLocaleString('en')} contacts, load average ${load}:`);
		if (exited) {
			const log = fs.readFileSync(instance.logFile, 'utf8').split('\n').slice(-15).join('\n');
			console.log(`    n8n exited after ${seconds.toFixed(1)} s; the end of its log:\n${log}`);
		} else {
			const last = await lastItem(instance.baseUrl, cookie, done.id);
			console.log(
				`    ${seconds.toFixed(1)} s; Run Now execution ${done.status}, last node "${last.node}": ${JSON.stringify(last.item)}`,
			);
		}
		console.log(`    n8n RSS: idle ${mb(idle)}, peak during the broadcast ${mb(peak)} (+${mb(peak - idle)})`);
		console.log(
			`    n8n RSS, highest per tenth of the broadcast: ${tenths.map((b) => (b / MB).toFixed(0)).join(', ')} MB`,
		);
	} finally {
		await bench.stop();
	}
}

main().catch((e) => {
	console.error(e && e.stack ? e.stack : e);
	process.exit(1);
});
