/**
 * The CSV import example (import-csv.json calling import-csv-chunk.json per chunk) in a real n8n:
 * a 3,000-row file in chunks of 1,200 (two full chunks, then a short one), with bad rows on both
 * sides of a chunk boundary. Every good row lands in the store once with its fields and tags; the
 * bad ones are reported with their line and are not stored.
 */
import { join } from 'path';
import { n8n, state, storeConfig, uid, workflow } from './support/env';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { contactRow, importResult, waitForImport, writeContactsCsv } = require('../../bench/n8n/csv-contacts.js');

const ROWS = 3000;
const ROWS_PER_CHUNK = 1200;
/** Row number -> what spoils it: the first row, both sides of the first chunk boundary, the last row. */
const BAD = { 0: 'email', 1199: 'timezone', 1200: 'date', 2999: 'email' };

describe('CSV import example in a real n8n', () => {
	it('imports every good row once with its fields and tags, in chunks, and reports the bad rows by line', async () => {
		const s = state();
		const parent = workflow('import-csv');
		const prefix = uid('csv');
		const file = join(s.filesDir, `${prefix}.csv`);
		const spoiled: Array<{ n: number; line: number; id: string }> = await writeContactsCsv(file, ROWS, {
			bad: BAD,
			prefix,
		});
		const [before] = await n8n.listExecutions(s.baseUrl, s.cookie, { workflowId: parent.id, limit: 1 });
		const res = await n8n.callWebhook(s.webhookUrl, 'ma-csv-import', { filePath: file, rowsPerChunk: ROWS_PER_CHUNK });
		expect(res.status).toBe(200);
		const done = await waitForImport(n8n, s.baseUrl, s.cookie, parent.id, before ? before.id : 0);
		expect(done.status).toBe('success');
		const { report, chunks, rejected } = await importResult(n8n, s.baseUrl, s.cookie, done.id);
		expect(report).toEqual({ filePath: file, chunks: 3, rows: ROWS, imported: ROWS - 4, failed: 4 });
		expect(chunks.map((c: any) => c.chunkRows)).toEqual([1200, 1200, 600]);
		expect(rejected.map((r: any) => r.line)).toEqual(spoiled.map((b) => b.line));
		expect(rejected.map((r: any) => r.line)).toEqual([2, 1201, 1202, 3001]);
		expect(rejected[0]).toMatchObject({ email: `not-an-address-${prefix}-0000000` });
		expect(rejected[0].error).toMatch(/e-mail/);
		expect(rejected[1].error).toMatch(/time zone|timezone/i);
		expect(rejected[2].error).toMatch(/signupDate/);

		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const { acquireStore } = require('../../lib') as typeof import('../../lib');
		const lease = acquireStore(storeConfig(parent.keyPrefix));
		try {
			const ids = Array.from({ length: ROWS }, (_, n) => contactRow(n, prefix).id);
			const found = await lease.store.contacts.get(ids);
			const missing: number[] = [];
			const wrong: number[] = [];
			found.forEach((r, n) => {
				const bad = n in BAD;
				const c = r.ok ? r.value : null;
				if (bad) {
					if (c !== null) wrong.push(n);
					return;
				}
				if (!c) {
					missing.push(n);
					return;
				}
				const row = contactRow(n, prefix);
				const same =
					c.email === row.email &&
					c.timezone === row.timezone &&
					c.lifecycleStage === row.stage &&
					c.subscription?.status === row.consent &&
					c.fields.firstName === row.firstName &&
					c.fields.lastName === row.lastName &&
					c.fields.city === row.city &&
					c.fields.employees === Number(row.employees) &&
					c.fieldTypes.signupDate === 'date' &&
					String(c.fields.signupDate).startsWith(row.signupDate) &&
					[...c.tags].sort().join(';') === row.tags.split(';').sort().join(';');
				if (!same) wrong.push(n);
			});
			expect({ missing, wrong }).toEqual({ missing: [], wrong: [] });
			// Once: one `$contact_created` per imported row, none for a row imported twice.
			const created = await Promise.all(
				[1, 1198, 1201, 2400, 2998].map(async (n) => {
					const history = await lease.store.events.history(contactRow(n, prefix).id, 50);
					return history.filter((e) => e.name === '$contact_created').length;
				}),
			);
			expect(created).toEqual([1, 1, 1, 1, 1]);
		} finally {
			lease.release();
		}
		// Seconds on a quiet machine; minutes on a loaded one.
	}, 600000);
});
