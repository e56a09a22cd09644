'use strict';
// Contact rows for the CSV import (examples/workflows/import-csv*.json), shared by its bench
// (bench/n8n/csv-import.js) and its e2e test (test/e2e/csv-import.e2e.test.ts). Same contact shape
// as bench/storage.bench.ts: e-mail, time zone, stage, consent, 5 fields (one a date), 2 tags.
// Also: waiting for an import and reading its report from the execution. `n8n`: tools/n8n.

const fs = require('node:fs');

const COLUMNS = [
	'id',
	'email',
	'timezone',
	'stage',
	'consent',
	'firstName',
	'lastName',
	'city',
	'employees',
	'signupDate',
	'tags',
];
const TIME_ZONES = ['Europe/Berlin', 'America/New_York', 'Europe/Paris', 'Asia/Tokyo', 'America/Los_Angeles'];
const STAGES = ['lead', 'marketing_qualified', 'sales_qualified', 'customer'];
const TAGS = ['newsletter', 'webinar', 'customer', 'trial', 'partner'];
const CITIES = ['Berlin', 'Lyon', 'Porto', 'Austin', 'Osaka'];
const DAY = 86_400_000;

/** Row n (0-based) of the file, as an object keyed by COLUMNS. */
function contactRow(n, prefix = 'crm') {
	return {
		id: `${prefix}-${String(n).padStart(7, '0')}`,
		email: `first${n}.last@${prefix}.example.com`,
		timezone: TIME_ZONES[n % TIME_ZONES.length],
		stage: STAGES[n % STAGES.length],
		consent: n % 10 === 9 ? 'unsubscribed' : 'subscribed',
		firstName: `First${n}`,
		lastName: `Last${n}`,
		city: CITIES[n % CITIES.length],
		employees: String(10 + (n % 490)),
		signupDate: new Date(Date.UTC(2024, 0, 1) + (n % 700) * DAY).toISOString().slice(0, 10),
		tags: `${TAGS[n % TAGS.length]};${TAGS[(n + 2) % TAGS.length]}`,
	};
}

/** What spoils a deliberately bad row, by kind: each is refused by the contact store. */
const SPOIL = {
	email: (row) => ({ ...row, email: `not-an-address-${row.id}` }),
	timezone: (row) => ({ ...row, timezone: 'Mars/Olympus_Mons' }),
	date: (row) => ({ ...row, signupDate: '2024-13-45' }),
};

/**
 * Writes a CSV of `rows` contacts (header line first) to `file`, streaming, and returns the bad
 * rows: `bad` maps a row number to a SPOIL kind. Returns [{ n, line, id, kind }].
 */
async function writeContactsCsv(file, rows, { bad = {}, prefix = 'crm' } = {}) {
	const out = fs.createWriteStream(file);
	const write = (text) => (out.write(text) ? undefined : new Promise((r) => out.once('drain', r)));
	await write(`${COLUMNS.join(',')}\n`);
	const spoiled = [];
	let buffer = '';
	for (let n = 0; n < rows; n++) {
		let row = contactRow(n, prefix);
		if (bad[n]) {
			row = SPOIL[bad[n]](row);
			spoiled.push({ n, line: n + 2, id: row.id, kind: bad[n] });
		}
		buffer += `${COLUMNS.map((c) => row[c]).join(',')}\n`;
		if (buffer.length > 1 << 16) {
			await write(buffer);
			buffer = '';
		}
	}
	await write(buffer);
	await new Promise((resolve, reject) => out.end((e) => (e ? reject(e) : resolve())));
	return spoiled;
}

/** The import's execution (of the parent workflow, newer than afterId) once it ended; n8n answering 503 now and then under load is waited out. */
async function waitForImport(n8n, baseUrl, cookie, workflowId, afterId, timeoutMs = 4 * 3600 * 1000) {
	for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
		const last = await n8n.listExecutions(baseUrl, cookie, { workflowId, limit: 1 }).then(
			([e]) => e,
			() => undefined,
		);
		if (last && Number(last.id) > Number(afterId) && !['new', 'running'].includes(last.status)) return last;
		await new Promise((r) => setTimeout(r, 2000));
	}
	throw new Error(`the import did not end within ${timeoutMs / 1000} s`);
}

/** The import's report and the rows it refused, from the parent execution's run data. */
async function importResult(n8n, baseUrl, cookie, id) {
	const { parse } = require('flatted');
	const detail = await n8n.getExecution(baseUrl, cookie, id);
	const { runData, error } = parse(detail.data).resultData;
	if (error) throw new Error(`the import failed: ${error.message}`);
	const report = runData['Import Report'][0].data.main[0][0].json;
	const chunks = runData['Import One Chunk'].map((run) => run.data.main[0][0].json);
	return { report, chunks, rejected: chunks.flatMap((c) => c.rejected || []) };
}

module.exports = { COLUMNS, contactRow, writeContactsCsv, waitForImport, importResult };
