// Bounce classification against the reference: sisimai's public corpus (github sisimai/set-of-emails,
// maildir/bsd) with the answers of sisimai's own test tables (github sisimai/go-sisimai, fact/*_test.go).
// (and rb-sisimai, test/public/*.rb, which answers a few samples more). None is in this repository;
// fetch them and point the bench at them (docs/bounces.md):
//   BOUNCE_CORPUS=<set-of-emails>/maildir/bsd BOUNCE_LABELS=<go-sisimai>/fact:<rb-sisimai>/test/public npm run bench bounces
// Prints the confusion matrix of classes, the dangerous errors with example files, the recipient
// accuracy, the agreement per MTA family, and the parse time per sample (to keep the parser's cost in check).
import { existsSync, readdirSync, readFileSync, statSync } from 'fs';
import { basename, join } from 'path';
import { parseInbound, type InboundKind } from '../lib/inbound';

/** One row of a sisimai table: the answer for one recipient of one sample file. */
export interface ExpectedFact {
	file: string;
	index: number;
	status: string;
	replyCode: string;
	reason: string;
	hardBounce: boolean;
	/** The Feedback-Type of a complaint, when the table names it. */
	another: string;
}

type Class = 'hard' | 'soft' | 'complaint' | 'auto-reply' | 'not-a-bounce';
const CLASSES: Class[] = ['hard', 'soft', 'complaint', 'auto-reply', 'not-a-bounce'];

/** sisimai's answer as one of our classes: hard only where sisimai says hardbounce, "delivered" is no bounce. */
export function expectedClass(fact: ExpectedFact): Class {
	if (fact.reason === 'feedback') return 'complaint';
	if (fact.reason === 'vacation') return 'auto-reply';
	if (fact.reason === 'delivered') return 'not-a-bounce';
	return fact.hardBounce ? 'hard' : 'soft';
}

/** Our kind as a class; an opt-out report (ARF opt-out, Apple Mail's unsubscribe) is our unsubscribe request. */
function ourClass(kind: InboundKind, expected: ExpectedFact): Class {
	if (kind === 'unsubscribe' && expected.reason === 'feedback' && expected.another === 'opt-out') return 'complaint';
	if (kind === 'hard_bounce') return 'hard';
	if (kind === 'soft_bounce') return 'soft';
	if (kind === 'complaint') return 'complaint';
	if (kind === 'auto_reply') return 'auto-reply';
	return 'not-a-bounce';
}

/**
 * Reads go-sisimai's fact/*_test.go tables: each test function holds a `publiclist` of rows
 * `{"01", 1, "5.1.1", "550", "userunknown", true, ""}` and names its engine in
 * `EngineTest(t, "Exim", publiclist, true)`; the sample is maildir/bsd/<lhost-|rhost-|><engine>-<label>.eml.
 * The `secretlist` rows are for sisimai's private samples and are skipped.
 */
export function parseGoSisimaiTables(source: string): ExpectedFact[] {
	const facts: ExpectedFact[] = [];
	const tests = source.split(/^func Test/m).slice(1);
	for (const test of tests) {
		const kind = /^(Lhost|Rhost)/.exec(test)?.[1]?.toLowerCase();
		const lists = test.split(/EngineTest\(/);
		for (let i = 0; i < lists.length - 1; i++) {
			const call = /^\s*t\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*(true|false)\s*\)/.exec(lists[i + 1]);
			if (!call || call[3] !== 'true') continue;
			const prefix = `${kind ? `${kind}-` : ''}${call[1].toLowerCase()}`;
			const body = lists[i].slice(lists[i].lastIndexOf(`${call[2]} :=`));
			for (const row of body.matchAll(
				/\{\s*"([^"]+)"\s*,\s*(\d+)\s*,\s*"([^"]*)"\s*,\s*"([^"]*)"\s*,\s*"([^"]*)"\s*,\s*(true|false)\s*,\s*"([^"]*)"\s*\}/g,
			)) {
				facts.push({
					file: `${prefix}-${row[1]}.eml`,
					index: Number(row[2]),
					status: row[3],
					replyCode: row[4],
					reason: row[5],
					hardBounce: row[6] === 'true',
					another: row[7],
				});
			}
		}
	}
	return facts;
}

/**
 * Reads rb-sisimai's test/public/<sample prefix>.rb tables: `'02' => [['5.1.1', '550', 'userunknown', true],
 * ['5.2.1', '550', 'userunknown', true]],` (a fifth value is the Feedback-Type of a complaint).
 */
export function parseRbSisimaiTable(source: string, prefix: string): ExpectedFact[] {
	const facts: ExpectedFact[] = [];
	const chunks = source.split(/'(\w+)'\s*=>/);
	for (let i = 1; i < chunks.length - 1; i += 2) {
		let index = 0;
		for (const row of chunks[i + 1].matchAll(
			/\[\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*(true|false)\s*(?:,\s*'([^']*)'\s*)?\]/g,
		)) {
			facts.push({
				file: `${prefix}-${chunks[i]}.eml`,
				index: ++index,
				status: row[1],
				replyCode: row[2],
				reason: row[3],
				hardBounce: row[4] === 'true',
				another: row[5] ?? '',
			});
		}
	}
	return facts;
}

function tableFacts(file: string): ExpectedFact[] {
	if (file.endsWith('_test.go')) return parseGoSisimaiTables(readFileSync(file, 'utf8'));
	if (/\/(lhost-|rhost-)?[a-z0-9]+\.rb$/.test(file) && !/-test\.rb$/.test(file))
		return parseRbSisimaiTable(readFileSync(file, 'utf8'), basename(file, '.rb'));
	return [];
}

/** Tables from one or more paths (a directory, or a file), separated by ":"; the first answer for a sample wins. */
function readLabels(paths: string): Map<string, ExpectedFact[]> {
	const files = paths
		.split(':')
		.filter(Boolean)
		.flatMap((path) =>
			statSync(path).isDirectory()
				? readdirSync(path)
						.sort()
						.map((f) => join(path, f))
				: [path],
		);
	const byFile = new Map<string, ExpectedFact[]>();
	const answeredBefore = new Set<string>();
	for (const file of files) {
		const facts = tableFacts(file);
		for (const name of new Set(facts.map((f) => f.file)))
			if (answeredBefore.has(name)) facts.splice(0, facts.length, ...facts.filter((f) => f.file !== name));
		for (const fact of facts) {
			const rows = byFile.get(fact.file) ?? [];
			// Some tables list the same row twice; the first of each index counts.
			if (!rows.some((r) => r.index === fact.index)) rows.push(fact);
			byFile.set(fact.file, rows);
		}
		for (const name of byFile.keys()) answeredBefore.add(name);
	}
	return byFile;
}

// The local part in RFC 5322's atext (an RFC 2047 encoded word that a sender put there, "=?utf-8?B?...?=", included).
const ADDRESS = /<?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)>?/g;

/**
 * The addresses that may be "who bounced", read from the sample independently of the classifier.
 * sisimai's tables do not list recipients, so this is the set a careful reader would accept: the
 * DSN's Final-/Original-Recipient, X-Failed-Recipients, the returned message's To/Cc, and any other
 * address the report names except the report's own sender and receivers, postmaster/mailer-daemon,
 * and Message-IDs. A recipient outside it is wrong (a Message-ID, postmaster, the sender, a source
 * route); samples that name none are left out of the ratio.
 */
export function referenceRecipients(raw: string): Set<string> {
	const headerEnd = raw.search(/\r?\n\r?\n/);
	const head = headerEnd < 0 ? raw : raw.slice(0, headerEnd);
	const own = new Set<string>();
	for (const m of head.matchAll(
		/^(?:From|To|Return-Path|Sender|Reply-To|Delivered-To)\s*:\s*(.+(?:\r?\n[ \t].+)*)$/gim,
	))
		for (const a of m[1].matchAll(ADDRESS)) own.add(a[1].toLowerCase());
	const ids = new Set<string>();
	for (const m of raw.matchAll(
		/^(?:Message-ID|References|In-Reply-To|X-Original-Message-ID)\s*:\s*(.+(?:\r?\n[ \t].+)*)$/gim,
	))
		for (const a of m[1].matchAll(ADDRESS)) ids.add(a[1].toLowerCase());
	const out = new Set<string>();
	for (const m of raw.slice(Math.max(0, headerEnd)).matchAll(ADDRESS)) {
		const address = m[1].toLowerCase();
		if (!own.has(address) && !ids.has(address) && !/^(postmaster|mailer-daemon|mail-daemon)@/.test(address))
			out.add(address);
	}
	// The DSN's own fields and X-Failed-Recipients count even when they repeat a header address.
	for (const m of raw.matchAll(
		/^(?:Final-Recipient|Original-Recipient|X-Failed-Recipients|X-Actual-Recipient)\s*:\s*(.+)$/gim,
	)) {
		for (const a of m[1].replace(/^\s*(rfc822|utf-8)\s*;/i, '').matchAll(ADDRESS)) out.add(a[1].toLowerCase());
	}
	return out;
}

const isBounce = (c: Class) => c === 'hard' || c === 'soft';

interface Row {
	file: string;
	family: string;
	expected: Class;
	alternatives: Class[];
	got: Class;
	status: string | null;
	recipient: string | null;
	recipientRight: boolean | null;
}

export async function run(): Promise<void> {
	const corpus = process.env.BOUNCE_CORPUS;
	const labels = process.env.BOUNCE_LABELS;
	if (!corpus || !labels || !existsSync(corpus) || !labels.split(':').every((p) => existsSync(p))) {
		console.log(
			'skipped: set BOUNCE_CORPUS to sisimai/set-of-emails maildir/bsd and BOUNCE_LABELS to go-sisimai fact/ and/or rb-sisimai test/public (":" between several); see docs/bounces.md',
		);
		return;
	}
	const expected = readLabels(labels);
	const files = readdirSync(corpus)
		.filter((f) => f.endsWith('.eml'))
		.sort();
	const rows: Row[] = [];
	const unlabelled: string[] = [];
	const parseMs: number[] = [];
	for (const file of files) {
		const facts = expected.get(file);
		if (!facts || facts.length === 0) {
			unlabelled.push(file);
			continue;
		}
		const raw = readFileSync(join(corpus, file));
		const started = process.hrtime.bigint();
		const message = await parseInbound(raw);
		parseMs.push(Number(process.hrtime.bigint() - started) / 1e6);
		facts.sort((a, b) => a.index - b.index);
		const got = ourClass(message.kind, facts[0]);
		const classes = facts.map(expectedClass);
		const reference = referenceRecipients(raw.toString('latin1'));
		rows.push({
			file,
			family: basename(file).replace(/-\d+\.eml$/, ''),
			expected: classes[0],
			alternatives: classes,
			got,
			status: message.status,
			recipient: message.recipient,
			recipientRight: reference.size === 0 ? null : message.recipient !== null && reference.has(message.recipient),
		});
	}

	const pct = (n: number, d: number) => (d === 0 ? '-' : `${((100 * n) / d).toFixed(1)}%`);
	// A sample with several recipients agrees with its first row (sisimai's Index 1).
	const agree = rows.filter((r) => r.got === r.expected);
	console.log(
		`samples: ${files.length}, with an answer in the tables: ${rows.length} (no answer: ${unlabelled.length}${unlabelled.length ? `, e.g. ${unlabelled.slice(0, 5).join(' ')}` : ''})`,
	);
	console.log(`class agreement: ${agree.length}/${rows.length} = ${pct(agree.length, rows.length)}`);
	const mixed = rows.filter((r) => new Set(r.alternatives).size > 1);
	if (mixed.length)
		console.log(
			`samples whose recipients differ in class (first one counts): ${mixed.length} (${mixed.map((r) => r.file).join(' ')})`,
		);

	console.log('\nconfusion matrix (rows: sisimai, columns: ours)');
	const width = 14;
	console.log(''.padEnd(width) + CLASSES.map((c) => c.padStart(width)).join('') + 'total'.padStart(8));
	for (const e of CLASSES) {
		const line = rows.filter((r) => r.expected === e);
		console.log(
			e.padEnd(width) +
				CLASSES.map((c) => String(line.filter((r) => r.got === c).length).padStart(width)).join('') +
				String(line.length).padStart(8),
		);
	}

	const examples = (list: Row[]) =>
		list
			.slice(0, 8)
			.map((r) => `${r.file}${r.status ? ` (${r.status})` : ''}`)
			.join(', ');
	const danger = (title: string, list: Row[], of: number) =>
		console.log(`${title}: ${list.length} of ${of}${list.length ? `, e.g. ${examples(list)}` : ''}`);
	const soft = rows.filter((r) => r.expected === 'soft');
	const hard = rows.filter((r) => r.expected === 'hard');
	const complaints = rows.filter((r) => r.expected === 'complaint');
	const delivered = rows.filter((r) => r.expected === 'not-a-bounce');
	console.log('\ndangerous errors');
	danger(
		'  soft bounces called hard',
		soft.filter((r) => r.got === 'hard'),
		soft.length,
	);
	console.log(
		`    = ${pct(soft.filter((r) => r.got === 'hard').length, soft.length)} of soft bounces (goal: at most 1%)`,
	);
	danger(
		'  hard bounces called soft',
		hard.filter((r) => r.got === 'soft'),
		hard.length,
	);
	danger(
		'  hard bounces called no bounce',
		hard.filter((r) => !isBounce(r.got)),
		hard.length,
	);
	danger(
		'  soft bounces called no bounce',
		soft.filter((r) => !isBounce(r.got)),
		soft.length,
	);
	danger(
		'  complaints missed',
		complaints.filter((r) => r.got !== 'complaint'),
		complaints.length,
	);
	danger(
		'  delivered reports called bounces',
		delivered.filter((r) => isBounce(r.got)),
		delivered.length,
	);
	const bounces = rows.filter((r) => isBounce(r.expected));
	const missed = bounces.filter((r) => !isBounce(r.got));
	// The examples are the bounces not found, not the found ones.
	console.log(
		`  bounces found at all: ${bounces.length - missed.length} of ${bounces.length}${missed.length ? `, not found e.g. ${examples(missed)}` : ''}`,
	);

	const checked = bounces.filter((r) => r.recipientRight !== null);
	const wrong = checked.filter((r) => !r.recipientRight);
	console.log(
		`\nrecipient accuracy (bounces with a recipient named in the sample): ${checked.length - wrong.length}/${checked.length} = ${pct(checked.length - wrong.length, checked.length)}` +
			` (${bounces.length - checked.length} name none)`,
	);
	if (wrong.length)
		console.log(
			`  wrong or missing, e.g. ${wrong
				.slice(0, process.env.BOUNCE_VERBOSE ? wrong.length : 8)
				.map((r) => `${r.file} (${r.recipient ?? 'none'})`)
				.join(', ')}`,
		);

	console.log('\nagreement per family (worst first)');
	const families = [...new Set(rows.map((r) => r.family))].map((family) => {
		const list = rows.filter((r) => r.family === family);
		return {
			family,
			right: list.filter((r) => r.got === r.expected).length,
			total: list.length,
			wrong: list.filter((r) => r.got !== r.expected),
		};
	});
	families.sort((a, b) => a.right / a.total - b.right / b.total || b.total - a.total);
	for (const f of families) {
		const misses = f.wrong.slice(0, 4).map((r) => `${r.file.replace(/\.eml$/, '')} ${r.expected}->${r.got}`);
		console.log(
			`  ${f.family.padEnd(26)} ${`${f.right}/${f.total}`.padStart(7)}${misses.length ? `   ${misses.join(', ')}` : ''}`,
		);
	}
	const sorted = [...parseMs].sort((a, b) => a - b);
	const total = parseMs.reduce((a, b) => a + b, 0);
	console.log(
		`\nparse time (parseInbound, one process, warm after the first): ${total.toFixed(0)} ms for ${parseMs.length} samples, median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(2)} ms, p95 ${sorted[Math.floor(sorted.length * 0.95)]?.toFixed(2)} ms, max ${sorted[sorted.length - 1]?.toFixed(1)} ms`,
	);
	if (process.env.BOUNCE_VERBOSE)
		for (const r of rows.filter((x) => x.got !== x.expected))
			console.log(`MISS ${r.file} expected ${r.expected} got ${r.got} ${r.status ?? ''}`);
}
