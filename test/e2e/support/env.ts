/** What a test file needs to drive the e2e environment started by globalSetup.ts. */
import { existsSync, readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import Redis from 'ioredis';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { E2EState, PreparedWorkflow } from './prepare';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const n8n = require('../../../tools/n8n/index.js');

export function state(): E2EState {
	const file = process.env.MA_E2E_STATE;
	if (!file || !existsSync(file))
		throw new Error('MA_E2E_STATE is not set: run through jest.e2e.config.js (npm run test:e2e)');
	return JSON.parse(readFileSync(file, 'utf8'));
}

export function workflow(slugPart: string): PreparedWorkflow {
	const all = state().workflows;
	const wf = all.find((w) => w.slug === slugPart) ?? all.find((w) => w.slug.includes(slugPart));
	if (!wf) throw new Error(`no workflow matching "${slugPart}" among ${all.map((w) => w.slug).join(', ')}`);
	return wf;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Unique per run, so contacts of one test never meet those of another. */
export const uid = (name: string) => `${name}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** POSTs events to a workflow's Marketing Webhook Trigger as a CRM or site would. */
export async function sendEvents(
	wf: PreparedWorkflow,
	events: unknown,
	{ retries = 0 } = {},
): Promise<{ status: number; body: any }> {
	const s = state();
	const hook = wf.eventsHook;
	for (let attempt = 0; ; attempt++) {
		try {
			const res = await n8n.callWebhook(s.webhookUrl, `${hook}/events`, events, {
				headers: { 'x-webhook-secret': s.sharedSecret },
				timeoutMs: 15000,
			});
			if (res.status < 500 || attempt >= retries) return { status: res.status, body: res.body };
		} catch (e) {
			if (attempt >= retries) throw e;
		}
		await sleep(500);
	}
}

export interface Mail {
	file: string;
	envelope: { from: string; to: string[] };
	headerLines: Record<string, string>;
	raw: string;
	parsed: ParsedMail;
}

type StoredMail = Omit<Mail, 'file' | 'parsed'>;

// Each mail file read once; one parse per mail, shared by concurrent callers (polling several
// addresses at once), and only of mails someone asked for: a test that sent 1,800 mails (the A/B
// test) costs the later ones a read of its files, not a parse.
const storedCache = new Map<string, StoredMail>();
const parsedCache = new Map<string, Promise<Mail>>();

function storedMail(dir: string, file: string): StoredMail {
	let stored = storedCache.get(file);
	if (!stored) storedCache.set(file, (stored = JSON.parse(readFileSync(join(dir, file), 'utf8')) as StoredMail));
	return stored;
}

/** Every mail the SMTP server has received so far (optionally only those to an address, or to any of a set). */
export async function mails(to?: string | ReadonlySet<string>): Promise<Mail[]> {
	const dir = state().mailDir;
	const wanted = typeof to === 'string' ? new Set([to]) : to;
	const out: Mail[] = [];
	for (const file of readdirSync(dir).sort()) {
		const stored = storedMail(dir, file);
		if (wanted && !stored.envelope.to.some((address) => wanted.has(address))) continue;
		let mail = parsedCache.get(file);
		if (!mail) parsedCache.set(file, (mail = simpleParser(stored.raw).then((parsed) => ({ file, ...stored, parsed }))));
		out.push(await mail);
	}
	return out;
}

/** Waits until at least `count` mails went to `to`; returns them in arrival order. */
export async function waitForMails(
	to: string,
	count: number,
	{ timeoutMs = 60000, wf }: { timeoutMs?: number; wf?: PreparedWorkflow } = {},
): Promise<Mail[]> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const got = await mails(to);
		if (got.length >= count) return got;
		if (Date.now() > deadline) {
			const why = wf ? ` (${await executionSummary(wf)})` : '';
			throw new Error(
				`expected ${count} mail(s) to ${to} within ${timeoutMs} ms, got ${got.length}: ${got.map((m) => m.parsed.subject).join(' | ')}${why}`,
			);
		}
		await sleep(250);
	}
}

/** "n executions: statuses; first error: ..." for failure messages. */
export async function executionSummary(wf: PreparedWorkflow): Promise<string> {
	const s = state();
	const list = await executions(wf);
	const counts: Record<string, number> = {};
	for (const e of list) counts[e.status] = (counts[e.status] ?? 0) + 1;
	let first = '';
	const failed = list.find((e) => e.status === 'error' || e.status === 'crashed');
	if (failed) {
		const detail = await n8n.getExecution(s.baseUrl, s.cookie, failed.id);
		const m = /"message":"([^"]{0,400})/.exec(String(detail.data));
		first = `; first error (execution ${failed.id}): ${m ? m[1] : String(detail.data).slice(0, 600)}`;
	}
	return `${wf.slug}: ${list.length} executions ${JSON.stringify(counts)}${first}`;
}

/** Asserts nothing more arrives for `to` for a while (no mail after a goal, an unsubscribe...). */
export async function expectNoMoreMails(to: string, count: number, waitMs: number): Promise<Mail[]> {
	await sleep(waitMs);
	const got = await mails(to);
	if (got.length !== count)
		throw new Error(
			`expected exactly ${count} mail(s) to ${to}, got ${got.length}: ${got.map((m) => m.parsed.subject).join(' | ')}`,
		);
	return got;
}

/** Requests the HTTP sink received (notifications to sales, audiences...). */
export interface SinkRequest {
	method: string;
	url: string;
	headers: Record<string, string>;
	body: any;
	/** When the sink got it, epoch ms. */
	at: number;
}

export async function sinkRequests(pathPart?: string): Promise<SinkRequest[]> {
	const res = await fetch(`${state().sinkUrl}/__received`);
	const all = (await res.json()) as SinkRequest[];
	return pathPart ? all.filter((r) => r.url.includes(pathPart)) : all;
}

export async function waitFor<T>(
	what: string,
	probe: () => Promise<T | undefined | false>,
	timeoutMs = 60000,
	everyMs = 300,
): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let last: unknown;
	for (;;) {
		try {
			const v = await probe();
			if (v) return v;
		} catch (e) {
			last = e;
		}
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
		await sleep(everyMs);
	}
}

/** A raw Redis client on the e2e redis-server (close it in afterAll). */
export function redisClient(): Redis {
	return new Redis({ port: state().redisPort, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 2 });
}

export async function executions(
	wf: PreparedWorkflow,
	limit = 100,
): Promise<Array<{ id: string; status: string; mode: string }>> {
	const s = state();
	return await n8n.listExecutions(s.baseUrl, s.cookie, { workflowId: wf.id, limit });
}

/** Fails with the node errors of any failed execution of the workflow (so a test says why). */
export async function expectNoFailedExecutions(wf: PreparedWorkflow): Promise<void> {
	const failed = (await executions(wf)).filter((e) => e.status === 'error' || e.status === 'crashed');
	if (failed.length > 0) throw new Error(await executionSummary(wf));
}

/** How to reach the contact store under a key prefix (a Redis Cluster in queue mode). */
export function storeConfig(keyPrefix: string) {
	const s = state();
	return {
		host: '127.0.0.1',
		port: s.redisPort,
		keyPrefix,
		...(s.clusterNodes ? { clusterNodes: s.clusterNodes } : {}),
	};
}

/** The contact as the workflow's contact store holds it (tags, fields, score attributes...). */
export async function contactOf(wf: PreparedWorkflow, id: string) {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const { acquireStore } = require('../../../lib') as typeof import('../../../lib');
	const lease = acquireStore(storeConfig(wf.keyPrefix));
	try {
		return await lease.store.contacts.getOne(id);
	} finally {
		lease.release();
	}
}

/** Writes contacts straight into the workflow's contact store, as a CRM sync through the Contact node would. */
export async function seedContacts(wf: PreparedWorkflow, contacts: Array<Record<string, unknown>>): Promise<void> {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const { acquireStore } = require('../../../lib') as typeof import('../../../lib');
	const lease = acquireStore(storeConfig(wf.keyPrefix));
	try {
		const results = await lease.store.contacts.upsert(contacts as never);
		const failed = results.find((r) => !r.ok);
		if (failed && !failed.ok) throw failed.error;
	} finally {
		lease.release();
	}
}

/**
 * Confirms a double opt-in sign-up as the person does: takes the confirmation link from the mail
 * sent to `to` and presses the confirmation page's button (its form POSTs confirm=yes).
 */
export async function confirmSignUp(to: string, { timeoutMs = 60000 } = {}): Promise<void> {
	const link = await waitFor(
		`the confirmation mail to ${to}`,
		async () => {
			for (const m of await mails(to)) {
				const href = /href="([^"]+\/confirm\/[^"]+)"/.exec(String(m.parsed.html))?.[1];
				if (href) return href;
			}
			return undefined;
		},
		timeoutMs,
	);
	const res = await fetch(link, {
		method: 'POST',
		headers: { 'content-type': 'application/x-www-form-urlencoded' },
		body: 'confirm=yes',
	});
	if (res.status !== 200) throw new Error(`POST ${link} -> ${res.status}: ${(await res.text()).slice(0, 300)}`);
}

/** The consent a contact has after a confirmed sign-up (what the Contact node's Subscription > Subscribe records). */
export const SUBSCRIBED = { status: 'subscribed', source: 'e2e: confirmed sign-up' } as const;

/**
 * Records contacts as subscribed, as a confirmed opt-in does: under the default workspace policy
 * (double opt-in) only they get marketing mail. Creates them (with their test address) if needed.
 */
export async function subscribe(wf: PreparedWorkflow, ids: string[]): Promise<void> {
	await seedContacts(
		wf,
		ids.map((id) => ({ id, email: `${id}@example.com`, subscription: SUBSCRIBED })),
	);
}

/** A contact's event history in the workflow's store, newest first. */
export async function historyOf(wf: PreparedWorkflow, id: string) {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const { acquireStore } = require('../../../lib') as typeof import('../../../lib');
	const lease = acquireStore(storeConfig(wf.keyPrefix));
	try {
		return await lease.store.events.history(id, 500);
	} finally {
		lease.release();
	}
}

/** The `$goal_reached` events of a contact: [{workflow, workflowName, goal}]. */
export async function goalsReached(wf: PreparedWorkflow, id: string) {
	return (await historyOf(wf, id))
		.filter((e) => e.name === '$goal_reached')
		.map((e) => e.properties as { workflow: string; workflowName: string; goal: string });
}

/** Calls a workflow's "Run Now" webhook (POST <n8n>/webhook/<path>). */
export async function runNow(path: string): Promise<void> {
	const res = await n8n.callWebhook(state().webhookUrl, path, {});
	if (res.status !== 200) throw new Error(`POST /webhook/${path} -> ${res.status}`);
}

/** Subjects of the mails `to` received, in arrival order. */
export async function subjectsOf(to: string): Promise<string[]> {
	return (await mails(to)).map((m) => m.parsed.subject ?? '');
}

/** Edits a published workflow's nodes over n8n's REST API (as a user does in the editor) and republishes it. */
export async function editAndRepublish(
	wf: PreparedWorkflow,
	edit: (nodes: Array<{ name: string; type: string; parameters: Record<string, any> }>) => void,
): Promise<void> {
	const s = state();
	const stored = await n8n.rest(s.baseUrl, s.cookie, 'GET', `/rest/workflows/${wf.id}`);
	edit(stored.nodes);
	await n8n.rest(s.baseUrl, s.cookie, 'PATCH', `/rest/workflows/${wf.id}`, {
		name: stored.name,
		nodes: stored.nodes,
		connections: stored.connections,
		settings: stored.settings,
		versionId: stored.versionId,
	});
	await n8n.publishWorkflowRest(s.baseUrl, s.cookie, wf.id);
}

/** Tells the HTTP sink what to answer to requests whose path contains `pathPart` (JSON body). */
export async function sinkRespond(pathPart: string, body: unknown): Promise<void> {
	const res = await fetch(`${state().sinkUrl}/__respond`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ pathPart, body }),
	});
	if (res.status !== 200) throw new Error(`sink /__respond -> ${res.status}`);
}

/** One site / CRM event for the Marketing Webhook Trigger, with a unique idempotency key. */
export function siteEvent(
	contactId: string,
	event: string,
	properties: Record<string, unknown> = {},
	extra: Record<string, unknown> = {},
) {
	return {
		contactId,
		email: `${contactId}@example.com`,
		event,
		properties,
		idempotencyKey: `${contactId}-${event}-${Math.random().toString(36).slice(2)}`,
		...extra,
	};
}

/** Posts events (resent after a dropped connection: their idempotency keys make that safe); fails unless all were recorded. */
export async function record(wf: PreparedWorkflow, events: unknown[]): Promise<void> {
	const res = await sendEvents(wf, events, { retries: 2 });
	if (res.status !== 200 || res.body?.recorded !== events.length)
		throw new Error(`events not recorded: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
}

/** A contact's current (decayed) lead score in the workflow's store. */
export async function scoreOf(wf: PreparedWorkflow, id: string): Promise<number> {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const { acquireStore, Scoring } = require('../../../lib') as typeof import('../../../lib');
	const lease = acquireStore(storeConfig(wf.keyPrefix));
	try {
		const [reading] = await new Scoring(lease.store).read([id]);
		if (!reading.ok) throw reading.error;
		if (!reading.value) throw new Error(`no contact ${id}`);
		return reading.value.score;
	} finally {
		lease.release();
	}
}
