#!/usr/bin/env node
'use strict';
// `npm run bench:csv-import`: the example CSV import (examples/workflows/import-csv*.json) in a
// real n8n, on files of MA_CSV_ROWS rows (default "100000,1000000", comma-separated, each on an
// empty store). Prints per file: rows/s, total time, chunks, n8n's peak RSS during the import
// (VmHWM, reset before each file) against its RSS at idle, Redis memory, and the contacts in the
// store at the end, which must equal the rows minus the deliberately bad ones (the import reports
// those). Equal peaks for both files show that n8n's memory does not grow with the file, and so
// does a flat RSS over the import (its highest value per tenth of the time, also printed).
// MA_CSV_CHUNK: rows per chunk (default: the example's). MA_BENCH_NO_BUILD=1 reuses dist/,
// MA_BENCH_KEEP=1 keeps the scratch folder (harness.js).
// MA_CSV_CPU_PROF=<dir>: n8n runs with --cpu-prof, its profile written to <dir> when it stops.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Redis = require('ioredis');
const n8n = require('../../tools/n8n/index.js');
const examples = require('../../examples/index.js');
const { prepareBench, cpuProfileEnv } = require('./harness.js');
const { importResult, waitForImport, writeContactsCsv } = require('./csv-contacts.js');
const { procStatus, resetPeak } = require('./proc.js');

const SIZES = String(process.env.MA_CSV_ROWS || '100000,1000000')
	.split(',')
	.map(Number);
const CHUNK = process.env.MA_CSV_CHUNK ? Number(process.env.MA_CSV_CHUNK) : undefined;
const KEY_PREFIX = 'csv:';
const MB = 1024 * 1024;

/** A few refused rows: first row, a chunk's first row, somewhere inside, the last row. */
function badRows(rows) {
	const at = [0, 10_000, 54_321, 250_123, 500_000, rows - 1].filter((n) => n < rows);
	const kinds = ['email', 'timezone', 'date'];
	return Object.fromEntries(at.map((n, i) => [n, kinds[i % kinds.length]]));
}

async function contactsInStore(redis) {
	const { Keys, SHARD_COUNT, SHARD_INDEXES } = require('../../dist/lib/keys');
	const keys = new Keys(KEY_PREFIX);
	let total = 0;
	for (let s = 0; s < SHARD_COUNT; s++) total += await redis.zcard(keys.index(s, SHARD_INDEXES.all));
	return total;
}

async function main() {
	const bench = await prepareBench('csv');
	const filesDir = path.join(bench.root, 'files');
	fs.mkdirSync(filesDir);
	const redis = new Redis(bench.redisPort, { lazyConnect: true });
	try {
		await redis.connect();
		const flows = examples.loadExamples().filter((e) => e.slug.startsWith('import-csv'));
		const { instance, cookie } = await bench.startN8n({
			credentials: bench.credentials({ keyPrefix: KEY_PREFIX }),
			workflows: flows.map((f) => f.workflow),
			env: { N8N_RESTRICT_FILE_ACCESS_TO: filesDir, ...cpuProfileEnv(process.env.MA_CSV_CPU_PROF) },
			webhooks: ['ma-csv-import'],
		});
		const parentId = flows.find((f) => f.slug === 'import-csv').workflow.id;

		console.log(
			`CSV import through n8n ${n8n.N8N_VERSION} (examples/workflows/import-csv*.json), rows per chunk ${CHUNK ?? 'as in the example'}; n8n pid ${instance.pid}`,
		);
		for (const rows of SIZES) {
			await redis.flushdb();
			const file = path.join(filesDir, `contacts-${rows}.csv`);
			const spoiled = await writeContactsCsv(file, rows, { bad: badRows(rows) });
			const [before] = await n8n.listExecutions(instance.baseUrl, cookie, { limit: 1, workflowId: parentId });
			await new Promise((r) => setTimeout(r, 2000));
			const idle = procStatus(instance.pid).rss;
			resetPeak(instance.pid);
			const load = os.loadavg()[0].toFixed(1);
			const t0 = Date.now();
			const res = await n8n.callWebhook(instance.baseUrl, 'ma-csv-import', {
				filePath: file,
				...(CHUNK ? { rowsPerChunk: CHUNK } : {}),
			});
			if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${res.text.slice(0, 200)}`);
			// RSS every second: the highest per tenth of the import shows whether memory grows with the rows done.
			const samples = [];
			const sampler = setInterval(() => samples.push({ at: Date.now(), rss: procStatus(instance.pid).rss }), 1000);
			const done = await waitForImport(n8n, instance.baseUrl, cookie, parentId, before ? before.id : 0).finally(() =>
				clearInterval(sampler),
			);
			const seconds = (Date.now() - t0) / 1000;
			const tenths = Array.from({ length: 10 }, () => 0);
			for (const { at, rss } of samples) {
				const tenth = Math.min(9, Math.floor(((at - t0) / 1000 / seconds) * 10));
				tenths[tenth] = Math.max(tenths[tenth], rss);
			}
			const peak = procStatus(instance.pid).hwm;
			const { report, rejected } = await importResult(n8n, instance.baseUrl, cookie, done.id);
			const stored = await contactsInStore(redis);
			const usedMemory = Number((await redis.info('memory')).match(/^used_memory:(\d+)/m)[1]);
			const expected = rows - spoiled.length;
			const sameLines = JSON.stringify(rejected.map((r) => r.line)) === JSON.stringify(spoiled.map((s) => s.line));
			const mb = (b) => `${(b / MB).toFixed(0)} MB`;
			console.log(`  ${rows.toLocaleString('en')} rows (${mb(fs.statSync(file).size)} file), load average ${load}:`);
			console.log(
				`    ${(rows / seconds).toFixed(0)} rows/s, ${seconds.toFixed(1)} s in all, ${report.chunks} chunks; execution ${done.status}`,
			);
			console.log(
				`    n8n RSS: idle ${mb(idle)}, peak during the import ${mb(peak)} (+${mb(peak - idle)}); Redis used_memory ${mb(usedMemory)}`,
			);
			console.log(
				`    n8n RSS, highest per tenth of the import: ${tenths.map((b) => (b / MB).toFixed(0)).join(', ')} MB`,
			);
			console.log(
				`    contacts in the store ${stored.toLocaleString('en')} (expected ${expected.toLocaleString('en')}: ${stored === expected ? 'ok' : 'MISMATCH'}); report: ${report.imported} imported, ${report.failed} failed; refused lines ${rejected.map((r) => r.line).join(', ')} (${sameLines ? 'exactly the bad rows' : `MISMATCH, bad rows at lines ${spoiled.map((s) => s.line).join(', ')}`})`,
			);
			fs.rmSync(file);
		}
	} finally {
		redis.disconnect();
		await bench.stop();
	}
}

main().catch((e) => {
	console.error(e && e.stack ? e.stack : e);
	process.exit(1);
});
