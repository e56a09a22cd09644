/**
 * The fault suite's environment (npm run test:faults): a real n8n 2.41 (one process) with this pack
 * installed from the tarball globalSetup packed, a real SMTP sink, and per "pair" a Contact Store
 * credential, the pack's event endpoint (a Marketing Webhook Trigger with its own webhook id) and the
 * recipe workflow Contact Trigger (event "signup") -> Send Campaign (one welcome mail). The Redis
 * servers, cluster and proxies are the test file's: it kills them, so it owns them.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { acquireStore, Campaigns, closeAllStores, type StoreConfig } from '../../lib';
import { freePort } from '../../tools/ports';
import { startSmtp, type SmtpSink } from '../harness/smtp';
import type { SenderStats } from './sender';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const n8n = require('../../tools/n8n/index.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const examples = require('../../examples/index.js');

export const SHARED_SECRET = 'faults-shared-secret';
const SIGNING_SECRET = 'faults-signing-secret-0123456789abcdef0123456789';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const log = (msg: string) => process.stdout.write(`[faults ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

export interface PairSpec {
	/** Letters and digits, at most 14. */
	name: string;
	/** Where n8n reaches the contact store: a port (standalone, or a proxy in front of it) or cluster nodes. */
	redis: { port: number; clusterNodes?: string[] };
}

export interface Pair extends PairSpec {
	keyPrefix: string;
	campaignId: string;
	hookId: string;
	/** Where the sender posts events. */
	eventsPath: string;
	hubId: string;
	/** The Contact Trigger -> Send Campaign workflow's id. */
	welcomeId: string;
	/** The contact store as the test reads it (directly, never through a proxy). */
	store: StoreConfig;
}

export interface FaultEnv {
	root: string;
	userFolder: string;
	port: number;
	baseUrl: string;
	cookie: string;
	smtp: SmtpSink;
	pairs: Record<string, Pair>;
	/** The n8n main process now (a new one after a restart). */
	pid(): number;
	startN8n(): Promise<void>;
	/** kill -9 of n8n's process group (its task runners too), as a crash or OOM kill would. */
	killN8n(): Promise<void>;
	stopN8n(): Promise<void>;
	stop(): Promise<void>;
}

const TRIGGER_ID = 'fa000000-0000-4000-8000-000000000001';

function workflows(pair: Pair, baseUrl: string) {
	const storeCredential = {
		contactStoreApi: { id: `faults-store-${pair.name}`, name: `Contact Store (${pair.name})` },
	};
	const hub = {
		id: pair.hubId,
		name: `Faults: event endpoint (${pair.name})`,
		nodes: [
			{
				id: 'fa000000-0000-4000-8000-0000000000a1',
				name: 'Marketing Webhook Trigger',
				type: 'n8n-nodes-marketing-automation.marketingWebhookTrigger',
				typeVersion: 1.1,
				position: [0, 0],
				webhookId: pair.hookId,
				// Its own Path: n8n keeps one trigger per tracking path. Events are recorded either way; no execution per request.
				parameters: { path: pair.name, emit: [], options: {} },
				credentials: {
					...storeCredential,
					marketingWebhookApi: { id: examples.CREDENTIAL_IDS.webhook, name: 'Marketing Webhook' },
				},
			},
		],
		connections: {},
		settings: { executionOrder: 'v1' },
	};
	const welcome = {
		id: pair.welcomeId,
		name: `Faults: welcome mail (${pair.name})`,
		nodes: [
			{
				id: TRIGGER_ID,
				name: 'On Signup',
				type: 'n8n-nodes-marketing-automation.contactTrigger',
				typeVersion: 1,
				position: [0, 0],
				parameters: { mode: 'eventRecorded', eventNames: 'signup', options: {} },
				credentials: storeCredential,
			},
			{
				id: 'fa000000-0000-4000-8000-000000000002',
				name: 'Send Welcome',
				type: 'n8n-nodes-marketing-automation.sendCampaign',
				typeVersion: 1,
				position: [260, 0],
				parameters: {
					campaignId: pair.campaignId,
					campaignName: 'Welcome',
					// The contacts come from signup events, with no consent recorded: the workspace policy's
					// default (double opt-in only) would skip every one as no_consent.
					sendPolicy: 'campaign',
					fromEmail: 'hello@shop.example',
					fromName: 'Shop',
					subject: 'Welcome {{ data.n | "?" }}',
					html: '<p>Welcome, number {{ data.n | "?" }}.</p>',
					trackingBaseUrl: `${baseUrl}/webhook/${pair.hookId}/${pair.name}`,
					options: {},
				},
				credentials: {
					...storeCredential,
					campaignSmtpApi: { id: examples.CREDENTIAL_IDS.smtp, name: 'Campaign SMTP' },
				},
			},
		],
		connections: { 'On Signup': { main: [[{ node: 'Send Welcome', type: 'main', index: 0 }]] } },
		settings: { executionOrder: 'v1' },
	};
	return [hub, welcome];
}

export async function startFaultEnv(specs: PairSpec[]): Promise<FaultEnv> {
	const tarball = process.env.MA_FAULTS_TARBALL;
	if (!tarball)
		throw new Error('MA_FAULTS_TARBALL is not set: run through jest.faults.config.js (npm run test:faults)');
	const root = mkdtempSync(join(tmpdir(), 'ma-faults-'));
	const userFolder = join(root, 'n8n');
	mkdirSync(userFolder, { recursive: true });
	const stops: Array<() => Promise<unknown>> = [];
	const stop = async () => {
		for (const s of stops.splice(0).reverse()) await s().catch((e: Error) => log(`teardown: ${e.message}`));
		await closeAllStores();
		if (!process.env.KEEP_FAULTS_TMP) rmSync(root, { recursive: true, force: true });
	};
	try {
		const smtp = await startSmtp();
		stops.push(() => smtp.stop());
		n8n.prepareUserFolder({ userFolder, tarball });
		const port = await freePort();
		const baseUrl = `http://127.0.0.1:${port}`;
		const pairs: Record<string, Pair> = {};
		for (const spec of specs) {
			if (!/^[a-z0-9]{1,14}$/i.test(spec.name))
				throw new Error(`pair name "${spec.name}": letters and digits, at most 14`);
			const { name } = spec;
			pairs[name] = {
				...spec,
				keyPrefix: `f${name}:`,
				campaignId: `welcome-${name}`,
				hookId: `faults-${name}`,
				eventsPath: `faults-${name}/${name}/events`,
				// n8n workflow ids are 16 characters.
				hubId: `fh${name}`.padEnd(16, '0'),
				welcomeId: `fw${name}`.padEnd(16, '0'),
				store: {
					host: '127.0.0.1',
					port: spec.redis.port,
					keyPrefix: `f${name}:`,
					...(spec.redis.clusterNodes ? { clusterNodes: spec.redis.clusterNodes } : {}),
				},
			};
		}
		const credentials = Object.values(pairs).flatMap((pair, i) => {
			const [store, smtpCredential, webhook] = examples.credentials({
				redis: { port: pair.redis.port, clusterNodes: pair.redis.clusterNodes, keyPrefix: pair.keyPrefix },
				smtp: { port: smtp.port },
				webhook: { sharedSecret: SHARED_SECRET },
				signingSecret: SIGNING_SECRET,
				ids: { ...examples.CREDENTIAL_IDS, contactStore: `faults-store-${pair.name}` },
				nameSuffix: ` (${pair.name})`,
			});
			return i === 0 ? [store, smtpCredential, webhook] : [store];
		});
		n8n.importCredentials(userFolder, credentials);
		const dir = join(root, 'workflows');
		mkdirSync(dir);
		for (const pair of Object.values(pairs)) {
			for (const wf of workflows(pair, baseUrl)) writeFileSync(join(dir, `${wf.id}.json`), JSON.stringify(wf));
		}
		n8n.importWorkflows(userFolder, dir, { publish: true });

		let pid = 0;
		stops.push(() => n8n.stop({ userFolder }));
		const env: FaultEnv = {
			root,
			userFolder,
			port,
			baseUrl,
			cookie: '',
			smtp,
			pairs,
			pid: () => pid,
			startN8n: async () => {
				pid = (await n8n.start({ userFolder, port })).pid;
				env.cookie = await n8n.ensureOwner(baseUrl);
			},
			killN8n: async () => {
				process.kill(-pid, 'SIGKILL');
				while (alive(pid)) await sleep(50);
				// The harness's state file names the dead process; start() checks it is gone.
			},
			stopN8n: async () => void (await n8n.stop({ userFolder })),
			stop,
		};
		await env.startN8n();
		for (const pair of Object.values(pairs)) await waitForTrigger(pair);
		for (const pair of Object.values(pairs)) await n8n.waitForWebhook(baseUrl, pair.eventsPath, { timeoutMs: 120_000 });
		log(
			`n8n ${baseUrl} (pid ${pid}), smtp :${smtp.port}, pairs ${Object.values(pairs)
				.map((p) => `${p.name} -> redis ${p.redis.clusterNodes?.join(',') ?? `:${p.redis.port}`}`)
				.join('; ')}`,
		);
		return env;
	} catch (error) {
		await stop();
		throw error;
	}
}

/** Waits until the pair's Contact Trigger is consuming (its group exists on the event log): the workflow is active. */
export async function waitForTrigger(pair: Pair, timeoutMs = 60_000): Promise<void> {
	const group = `ct:${pair.welcomeId}:${TRIGGER_ID}`;
	const lease = acquireStore(pair.store);
	try {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const groups = (await lease.store
				.call((r) => r.xinfo('GROUPS', lease.store.keys.log(0)))
				.catch(() => [])) as unknown[][];
			if (groups.some((g) => g.includes(group))) return;
			if (Date.now() > deadline)
				throw new Error(
					`the Contact Trigger of "${pair.name}" is not consuming (no group ${group}): is its workflow active? See ${pair.name}'s n8n log`,
				);
			await sleep(500);
		}
	} finally {
		lease.release();
	}
}

function alive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

/**
 * Samples n8n's resident memory every 250 ms: the processes running in its user folder (the main
 * process and its task runner, whichever run now, also while one is starting); `stop` gives the
 * peak of their sum in MB.
 */
export function sampleRss(userFolder: string): { stop(): number } {
	let peak = 0;
	const timer = setInterval(() => {
		let kb = 0;
		for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
			try {
				if (readlinkSync(`/proc/${pid}/cwd`) !== userFolder) continue;
				kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
			} catch {
				// gone, or not ours
			}
		}
		peak = Math.max(peak, kb);
	}, 250);
	return {
		stop() {
			clearInterval(timer);
			return Math.round(peak / 1024);
		},
	};
}

/** One signup event per contact: recording it twice would count twice (the idempotency key prevents it). */
export function signups(caseName: string, count: number) {
	const run = `${caseName}-${Date.now().toString(36)}`;
	return Array.from({ length: count }, (_, n) => {
		const contactId = `${run}-${n}`;
		return {
			contactId,
			email: `${contactId}@example.com`,
			event: 'signup',
			properties: { n },
			idempotencyKey: `${contactId}-signup`,
		};
	});
}

export interface Outcome {
	/** Events the sender got a 2xx for. */
	sent: number;
	/** Of those, contacts with exactly one mail, one recorded signup and one send record. */
	found: number;
	/** Accepted events with no mail at the sink (or no signup / send record in Redis). */
	lost: string[];
	/** Contacts with more than one mail, recorded signup or send. */
	duplicated: string[];
	/**
	 * Of those, contacts with one recorded signup and one send but more than one mail: an execution
	 * killed between the SMTP server's acceptance of the mail and the send's record (at least once).
	 */
	resent: string[];
	/** Of the first lost and duplicated contacts, what Redis holds of them, to tell why. */
	evidence: Array<{ id: string; held: string }>;
}

/** A contact's counts as a case prints them. */
const described = (r: { id: string; mails: number; recorded: number; sends: number }) =>
	`${r.id} (mails ${r.mails}, recorded ${r.recorded}, sends ${r.sends})`;

/** A field of a log entry's flat [name, value, ...] list. */
function logField(fields: string[], name: string): string | undefined {
	for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
	return undefined;
}

/** Mails per recipient at the SMTP sink. */
function mailCounts(smtp: SmtpSink): Map<string, number> {
	const counts = new Map<string, number>();
	for (const m of smtp.mails) for (const to of m.envelope.to) counts.set(to, (counts.get(to) ?? 0) + 1);
	return counts;
}

/**
 * Waits until every accepted event's contact got its mail, or nothing new arrived for `idleMs`
 * (a failed execution's events come back after the Contact Trigger's 60 s claim timeout), then
 * waits `settleMs` more for late duplicates, and counts per contact at the sink and in Redis.
 */
export async function outcome(
	pair: Pair,
	smtp: SmtpSink,
	accepted: Array<{ contactId: string; email: string }>,
	{ idleMs = 100_000, capMs = 600_000, settleMs = 5_000 } = {},
): Promise<Outcome> {
	const started = Date.now();
	let last = -1;
	let lastProgress = Date.now();
	for (;;) {
		const counts = mailCounts(smtp);
		const mailed = accepted.filter((e) => (counts.get(e.email) ?? 0) > 0).length;
		if (mailed === accepted.length) break;
		if (mailed !== last) [last, lastProgress] = [mailed, Date.now()];
		if (Date.now() - lastProgress > idleMs || Date.now() - started > capMs) break;
		await sleep(1000);
	}
	await sleep(settleMs);
	const counts = mailCounts(smtp);
	const lease = acquireStore(pair.store);
	try {
		const campaigns = new Campaigns(lease.store);
		const rows = await Promise.all(
			accepted.map(async (e) => {
				const [contact] = await lease.store.contacts.get([e.contactId]);
				const recorded = contact.ok ? (contact.value?.events.signup?.count ?? 0) : 0;
				const sends = Number((await campaigns.sendRecord(e.contactId, pair.campaignId))?.sends ?? 0);
				return { id: e.contactId, mails: counts.get(e.email) ?? 0, recorded, sends };
			}),
		);
		const odd = rows.filter((r) => r.mails !== 1 || r.recorded !== 1 || r.sends !== 1).slice(0, 5);
		const evidence = await Promise.all(
			odd.map(async (r) => {
				const email = accepted.find((e) => e.contactId === r.id)?.email as string;
				const [contact] = await lease.store.contacts.get([r.id]);
				const held = !contact.ok
					? `read failed: ${contact.error.message}`
					: contact.value
						? `events ${JSON.stringify(contact.value.events)}`
						: 'no contact';
				// A core hash without its id reads as no contact: its field names tell the two apart.
				const { keys, redis } = lease.store;
				const fields = await redis.hkeys(keys.contact(r.id));
				// Its idempotency marks, its events index, and the log entries naming it (the log of its shard).
				const marks = await redis.zrange(keys.contactKey(r.id, 'idempotency'), 0, -1, 'WITHSCORES');
				const indexed = await redis.zrange(keys.contactKey(r.id, 'events'), 0, -1);
				const logged = (await redis.xrange(keys.log(keys.shardOfContact(r.id)), '-', '+'))
					.filter(([, f]) => logField(f, 'c') === r.id)
					.map(([eid, f]) => `${eid} ${logField(f, 'n')}`);
				const deadLetters = await redis.zrange(keys.contactKey(r.id, 'deadLetters'), 0, -1);
				return {
					id: r.id,
					held: `${held}; its core hash's fields ${JSON.stringify(fields)}; its e-mail's owner ${await lease.store.contacts.idForEmail(email)}; idempotency marks ${JSON.stringify(marks)}; events index ${JSON.stringify(indexed)}; log entries ${JSON.stringify(logged)}; dead letters ${JSON.stringify(deadLetters)}`,
				};
			}),
		);
		return {
			evidence,
			sent: accepted.length,
			found: rows.filter((r) => r.mails === 1 && r.recorded === 1 && r.sends === 1).length,
			lost: rows.filter((r) => r.mails === 0 || r.recorded === 0 || r.sends === 0).map(described),
			duplicated: rows.filter((r) => r.mails > 1 || r.recorded > 1 || r.sends > 1).map(described),
			resent: rows.filter((r) => r.mails > 1 && r.recorded === 1 && r.sends === 1).map(described),
		};
	} finally {
		lease.release();
	}
}

/**
 * What a case asserts, to compare with { sent: <count>, gaveUp: [], lost: [], duplicated: [],
 * resentBeyondCrashed: 0 }. Where the fault kills n8n (`n8nKilled`), an execution killed between the
 * SMTP server's acceptance of its mail and the send's record sends that mail again when its event is
 * delivered again (at least once, docs/production.md): such contacts (one signup and one send
 * recorded, more mails: Outcome.resent) are not counted as duplicated, at most one per crashed
 * execution.
 */
export function delivery(
	o: Outcome,
	sender: SenderStats,
	{ n8nKilled = false, executions }: { n8nKilled?: boolean; executions?: Record<string, number> | string } = {},
) {
	const crashed = n8nKilled && typeof executions === 'object' ? (executions.crashed ?? 0) : 0;
	return {
		sent: o.sent,
		gaveUp: sender.gaveUp,
		lost: o.lost,
		duplicated: o.duplicated.filter((d) => !n8nKilled || !o.resent.includes(d)),
		resentBeyondCrashed: Math.max(0, (n8nKilled ? o.resent.length : 0) - crashed),
	};
}

/** delivery()'s answer when every event was delivered once. */
export const deliveredOnce = (sent: number) => ({ sent, gaveUp: [], lost: [], duplicated: [], resentBeyondCrashed: 0 });

/**
 * Executions of a workflow by status (up to `max`, newest first), for the printed summary; an n8n
 * too busy to answer gives an error text instead (the counts above it are what the case asserts).
 */
export async function executionStatuses(
	env: FaultEnv,
	workflowId: string,
	max = 3000,
): Promise<Record<string, number> | string> {
	const counts: Record<string, number> = {};
	let cursor: string | undefined;
	try {
		for (let seen = 0; seen < max;) {
			const q = new URLSearchParams({
				limit: '100',
				filter: JSON.stringify({ workflowId }),
				...(cursor ? { cursor } : {}),
			});
			const data = await n8n.rest(env.baseUrl, env.cookie, 'GET', `/rest/executions?${q}`);
			for (const e of data.results as Array<{ status: string }>) counts[e.status] = (counts[e.status] ?? 0) + 1;
			seen += data.results.length;
			cursor = data.nextCursor ?? undefined;
			if (!cursor || data.results.length === 0) break;
		}
	} catch (error) {
		return `not listed (${(error as Error).message.slice(0, 120)})`;
	}
	return counts;
}

export function report(
	caseName: string,
	o: Outcome,
	extra: {
		sender: SenderStats;
		peakRssMb: number;
		executions?: Record<string, number> | string;
		note?: string;
	},
): string {
	const { sender } = extra;
	const attempts = (id: string) => JSON.stringify(sender.attempts[id] ?? []);
	const line =
		`${caseName}: sent ${o.sent}, found ${o.found}, lost ${o.lost.length}, duplicated ${o.duplicated.length}` +
		(o.resent.length > 0 ? ` (${o.resent.length} a mail sent again)` : '') +
		`; sender retries ${sender.retries}, gave up ${sender.gaveUp.length}; n8n peak RSS ${extra.peakRssMb} MB` +
		(extra.executions ? `; executions ${JSON.stringify(extra.executions)}` : '') +
		(extra.note ? `; ${extra.note}` : '') +
		(sender.retries > 0
			? `; sender failures by status ${JSON.stringify(sender.failures)}, first answers ${JSON.stringify(sender.firstBodies)}`
			: '') +
		(o.lost.length > 0 ? `\n  lost e.g. ${o.lost.slice(0, 5).join(', ')}` : '') +
		(o.duplicated.length > 0 ? `\n  duplicated e.g. ${o.duplicated.slice(0, 5).join(', ')}` : '') +
		o.evidence.map(({ id, held }) => `\n  ${id}: ${held}; the sender's attempts ${attempts(id)}`).join('') +
		sender.notEndpoint
			.slice(0, 5)
			.map((id) => `\n  ${id} was answered a 2xx not the endpoint's: ${attempts(id)}`)
			.join('');
	log(line);
	return line;
}
