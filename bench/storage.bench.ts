// What a contact costs in Redis (issue 13): N contacts (MA_STORAGE_CONTACTS, default 100,000),
// each with an e-mail, a time zone, a lifecycle stage, a consent, 5 fields (one a date) and 2
// tags, upserted through the store in batches of 1,000; then 10 events each through
// events.record, in batches of 1,000. Memory is INFO memory's used_memory and keys are DBSIZE,
// before and after, on a redis-server of its own: only lib's public API and server-wide figures,
// so the bench measures whatever key layout lib uses.
//
// Baseline ("raw"), on a second redis-server in the same run: the same contacts as plain
// commands, pipelined 1,000 contacts at a time. Per contact one HSET holding everything (core,
// fields, tags as one joined string), and the index writes a real layout needs: ZADD to the
// shard's all-contacts zset by creation time, SADD to a set per tag, per stage and per consent
// status, HSET into the e-mail -> id index; each index key written once per batch with all its
// members, as lib's scripts write theirs (the goal's baseline). Shards and keys are the
// baseline's own; raw writes no event history. For reference, on a third redis-server, the same
// writes with one command per contact and index ("raw, per contact": the baseline before).
//
// Lib and raw batches alternate, so that all see the same machine load; one run each.
//
// Then, on the lib store: the replay guards' share (the answers, kept a minute, and the marks that
// the calls ran, kept 10 minutes; the answers are measured, then dropped before the store's own
// data is), the shard logs' share of the memory (with no trigger behind, the last
// 16 x logKeep entries whatever the base, so its share per contact shrinks as the base grows), a
// whole-base engagement run (the first run of a tier run: every contact), a segment export (every
// contact with a tag, by pages of 1,000) and the Node process's peak RSS. Samples are made batch
// by batch, so the RSS is the store's and not the bench's. MA_STORAGE_CONTACTS=1000000 is the 1M
// measurement of docs/benchmarks.md.
import Redis from 'ioredis';
import { loadavg } from 'os';
import type { ContactInput } from '../lib/contacts';
import { createClient } from '../lib/redis/connection';
import { ContactStore } from '../lib/store';
import { DEFAULT_TIERS, EngagementTagger } from '../lib/engagement';
import { REPLAY_ANSWER_MS, REPLAY_GUARD_MS, SHARD_COUNT, SHARD_KEY_PARTS } from '../lib/keys';
import { Segments } from '../lib/segments';
import { startRedis, type RedisServer } from '../test/harness/redis';

const CONTACTS = Number(process.env.MA_STORAGE_CONTACTS || 100_000);
/** The goal is for 10; fewer (MA_STORAGE_EVENTS) keep a 1M run short, and that goal line is then not printed. */
const EVENTS_PER_CONTACT = Number(process.env.MA_STORAGE_EVENTS || 10);
const BATCH = 1_000;
const RAW_SHARDS = 16;
const KB = 1024;
const DAY = 86_400_000;

const GOALS = { restBytes: 1.5 * KB, eventsBytes: 3 * KB, restKeys: 4, upsertsPerSecond: 25_000, ofRaw: 0.5 };

interface Sample {
	id: string;
	email: string;
	timezone: string;
	lifecycleStage: string;
	source: string;
	fields: Record<string, string | number>;
	/** The field typed 'date'. */
	dateField: string;
	tags: string[];
}

const TIME_ZONES = ['Europe/Berlin', 'America/New_York', 'Europe/Paris', 'Asia/Tokyo', 'America/Los_Angeles'];
const STAGES = ['lead', 'marketing_qualified', 'sales_qualified', 'customer'];
const SOURCES = ['footer-form', 'checkout', 'webinar-signup'];
const TAGS = ['newsletter', 'webinar', 'customer', 'trial', 'partner'];
const CITIES = ['Berlin', 'Lyon', 'Porto', 'Austin', 'Osaka'];

function sample(n: number): Sample {
	const id = `crm-${String(n).padStart(7, '0')}`;
	return {
		id,
		email: `first${n}.last@example.com`,
		timezone: TIME_ZONES[n % TIME_ZONES.length],
		lifecycleStage: STAGES[n % STAGES.length],
		source: SOURCES[n % SOURCES.length],
		fields: {
			firstName: `First${n}`,
			lastName: `Last${n}`,
			city: CITIES[n % CITIES.length],
			employees: 10 + (n % 490),
			signupDate: new Date(Date.UTC(2024, 0, 1) + (n % 700) * DAY).toISOString().slice(0, 10),
		},
		dateField: 'signupDate',
		tags: [TAGS[n % TAGS.length], TAGS[(n + 2) % TAGS.length]],
	};
}

/** The contact's own data in bytes: id, e-mail, time zone, stage, consent, field names and values, tags. */
function dataBytes(c: Sample): number {
	const texts = [c.id, c.email, c.timezone, c.lifecycleStage, 'subscribed', c.source, ...c.tags];
	for (const [name, value] of Object.entries(c.fields)) texts.push(name, String(value));
	return texts.reduce((sum, text) => sum + Buffer.byteLength(text), 0);
}

function contactInput(c: Sample): ContactInput {
	return {
		id: c.id,
		email: c.email,
		timezone: c.timezone,
		lifecycleStage: c.lifecycleStage,
		subscription: { status: 'subscribed', source: c.source },
		fields: { ...c.fields, [c.dateField]: { value: c.fields[c.dateField], type: 'date' } },
		addTags: c.tags,
	};
}

/** The k-th event of a contact: mostly page and product views, now and then a form or a purchase. */
function event(c: Sample, n: number, k: number) {
	const kinds = [
		{ name: 'page_viewed', properties: { path: `/blog/post-${(n + k) % 40}` } },
		{ name: 'product_viewed', properties: { sku: `SKU-${(n * 7 + k) % 300}`, price: 49 } },
		{ name: 'form_submitted', properties: { form: 'demo-request' } },
		{ name: 'purchase', properties: { orderId: `o-${n}-${k}`, amount: 99.5, currency: 'EUR' } },
	];
	const kind = kinds[[0, 0, 1, 0, 1, 0, 2, 0, 1, 3][k % 10]];
	return { contactId: c.id, ...kind, idempotencyKey: `${c.id}-evt-${k}` };
}

const rawShard = (text: string) => [...text].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 0) % RAW_SHARDS;

/** The raw baseline's writes of a batch: HSETs per contact, then each index key once (grouped) or per contact. */
function rawWrites(pipeline: ReturnType<Redis['pipeline']>, batch: Sample[], now: number, grouped: boolean): void {
	const members = new Map<string, { command: 'zadd' | 'sadd' | 'hset'; args: string[] }>();
	const index = (command: 'zadd' | 'sadd' | 'hset', key: string, ...args: string[]) => {
		if (!grouped) return void pipeline[command](key, ...args);
		const entry = members.get(key);
		if (entry) entry.args.push(...args);
		else members.set(key, { command, args });
	};
	for (const c of batch) {
		const shard = `raw:{s${rawShard(c.id)}}`;
		const core = ['email', c.email, 'tz', c.timezone, 'stage', c.lifecycleStage, 'status', 'subscribed'];
		core.push('source', c.source, 'consentAt', String(now), 'createdAt', String(now), 'updatedAt', String(now));
		for (const [name, value] of Object.entries(c.fields)) core.push(`f:${name}`, String(value));
		pipeline.hset(`${shard}:c:${c.id}`, ...core, 'tags', c.tags.join(','));
		index('zadd', `${shard}:all`, String(now), c.id);
		for (const tag of c.tags) index('sadd', `${shard}:tag:${tag}`, c.id);
		index('sadd', `${shard}:stage:${c.lifecycleStage}`, c.id);
		index('sadd', `${shard}:status:subscribed`, c.id);
		index('hset', `raw:{s${rawShard(c.email)}}:ix:email`, c.email, c.id);
	}
	for (const [key, { command, args }] of members) pipeline[command](key, ...args);
}

/** The server's CPU time so far (INFO cpu, user + system), in ms. */
async function serverCpuMs(admin: Redis): Promise<number> {
	const info = await admin.info('cpu');
	const seconds = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)![1]);
	return 1000 * (seconds('used_cpu_user') + seconds('used_cpu_sys'));
}

async function footprint(admin: Redis): Promise<{ memory: number; keys: number }> {
	const info = await admin.info('memory');
	return { memory: Number(/used_memory:(\d+)/.exec(info)![1]), keys: await admin.dbsize() };
}

/**
 * What the replay guards hold (lib/redis/lua/replay_guard.lua), in bytes: the answers kept (keys
 * `<shard>:rg:<token>`), which are then dropped, and the shards' lists of the calls run
 * (`<shard>:rgl`), which stay. The answers live REPLAY_ANSWER_MS after their call whatever the base
 * (they scale with the rate of writes, not with the contacts), so the footprint taken next is the
 * store's own data. Subtracting them instead raced their expiry: those that expired between the
 * footprint and their count stayed in the figure (about 21 B per contact where the events took
 * close to a minute).
 */
async function dropAnswers(admin: Redis, store: ContactStore) {
	let answers = 0;
	let answerKeys = 0;
	let marks = 0;
	let calls = 0;
	const bytes = async (key: string) => Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
	for (let shard = 0; shard < SHARD_COUNT; shard++) {
		const list = `${store.keys.shard(shard)}:${SHARD_KEY_PARTS.replayGuardList}`;
		calls += await admin.zcard(list);
		if (await admin.exists(list)) marks += await bytes(list);
		let cursor = '0';
		do {
			const [next, keys] = await admin.scan(cursor, 'MATCH', store.keys.replayGuard(shard, '*'), 'COUNT', 1000);
			cursor = next;
			for (const key of keys) answers += await bytes(key);
			if (keys.length > 0) await admin.unlink(...keys);
			answerKeys += keys.length;
		} while (cursor !== '0');
	}
	return { answers, answerKeys, marks, calls };
}

const perContact = (after: { memory: number; keys: number }, before: { memory: number; keys: number }) => ({
	bytes: (after.memory - before.memory) / CONTACTS,
	keys: (after.keys - before.keys) / CONTACTS,
});

export async function run(): Promise<void> {
	const servers: RedisServer[] = [];
	const clients: Redis[] = [];
	try {
		const libServer = await startRedis();
		servers.push(libServer);
		const rawServer = await startRedis();
		servers.push(rawServer);
		const perContactServer = await startRedis();
		servers.push(perContactServer);
		const client = createClient({ host: '127.0.0.1', port: libServer.port, keyPrefix: 'bench:' }) as Redis;
		const libAdmin = new Redis({ host: '127.0.0.1', port: libServer.port });
		const raw = new Redis({ host: '127.0.0.1', port: rawServer.port });
		const rawPerContact = new Redis({ host: '127.0.0.1', port: perContactServer.port });
		clients.push(client, libAdmin, raw, rawPerContact);
		const store = new ContactStore(client, 'bench:');

		const batchOf = (start: number) =>
			Array.from({ length: Math.min(BATCH, CONTACTS - start) }, (_, k) => sample(start + k));
		let dataTotal = 0;

		const libEmpty = await footprint(libAdmin);
		const rawEmpty = await footprint(raw);
		let libUpsertMs = 0;
		let rawWriteMs = 0;
		let perContactWriteMs = 0;
		const loadNow = () => loadavg()[0].toFixed(1);
		const loadStart = loadNow();
		// CPU time per contact, this process's and each redis-server's: what a wall-clock rate on a
		// shared machine hides.
		const nodeCpu = { lib: 0, raw: 0 };
		const cpuSince = (start: NodeJS.CpuUsage) => {
			const used = process.cpuUsage(start);
			return (used.user + used.system) / 1000;
		};
		const serverCpuStart = { lib: await serverCpuMs(libAdmin), raw: await serverCpuMs(raw) };
		for (let start = 0; start < CONTACTS; start += BATCH) {
			const batch = batchOf(start);
			for (const c of batch) dataTotal += dataBytes(c);
			let started = performance.now();
			let cpuStart = process.cpuUsage();
			const results = await store.contacts.upsert(batch.map(contactInput));
			libUpsertMs += performance.now() - started;
			nodeCpu.lib += cpuSince(cpuStart);
			for (const r of results) if (!r.ok) throw r.error;

			for (const grouped of [true, false]) {
				started = performance.now();
				cpuStart = process.cpuUsage();
				const pipeline = (grouped ? raw : rawPerContact).pipeline();
				rawWrites(pipeline, batch, Date.now(), grouped);
				const replies = await pipeline.exec();
				if (grouped) {
					rawWriteMs += performance.now() - started;
					nodeCpu.raw += cpuSince(cpuStart);
				} else perContactWriteMs += performance.now() - started;
				for (const [error] of replies ?? []) if (error) throw error;
			}
		}
		const loadEnd = loadNow();
		const serverCpu = {
			lib: (await serverCpuMs(libAdmin)) - serverCpuStart.lib,
			raw: (await serverCpuMs(raw)) - serverCpuStart.raw,
		};
		const guardsAtRest = await dropAnswers(libAdmin, store);
		const libRest = perContact(await footprint(libAdmin), libEmpty);
		const rawRest = perContact(await footprint(raw), rawEmpty);

		// Event k of every contact, then event k+1: each batch holds 1,000 different contacts.
		let eventMs = 0;
		for (let k = 0; k < EVENTS_PER_CONTACT; k++) {
			for (let start = 0; start < CONTACTS; start += BATCH) {
				const inputs = batchOf(start).map((c, i) => event(c, start + i, k));
				const started = performance.now();
				const results = await store.events.record(inputs);
				eventMs += performance.now() - started;
				for (const r of results) if (!r.ok) throw r.error;
			}
		}
		const guards = await dropAnswers(libAdmin, store);
		const libEvents = perContact(await footprint(libAdmin), libEmpty);
		let logBytes = 0;
		for (let shard = 0; shard < SHARD_COUNT; shard++)
			logBytes += Number(await libAdmin.call('MEMORY', 'USAGE', store.keys.log(shard), 'SAMPLES', '0'));
		const logEntries = (
			await Promise.all(Array.from({ length: SHARD_COUNT }, (_, shard) => libAdmin.xlen(store.keys.log(shard))))
		).reduce((a, b) => a + b, 0);

		let started = performance.now();
		const tiers = await new EngagementTagger(store).runWholeBase('bench', DEFAULT_TIERS, { keepChanges: false });
		const engagementS = (performance.now() - started) / 1000;

		started = performance.now();
		let exported = 0;
		for await (const page of new Segments(store).pages(
			{ type: 'tags', operator: 'hasAny', tags: [TAGS[0]] },
			{ pageSize: 1000 },
		))
			exported += page.contacts.length;
		const exportS = (performance.now() - started) / 1000;
		const peakRssMb = (process.resourceUsage().maxRSS * 1024) / 1048576;
		const data = dataTotal / CONTACTS;

		const upsertRate = CONTACTS / (libUpsertMs / 1000);
		const rawRate = CONTACTS / (rawWriteMs / 1000);
		const perContactRate = CONTACTS / (perContactWriteMs / 1000);
		const eventRate = (CONTACTS * EVENTS_PER_CONTACT) / (eventMs / 1000);
		const int = (x: number) => Math.round(x).toLocaleString('en');
		const fixed = (x: number, digits = 1) => x.toFixed(digits);
		const row = (label: string, lib: string, rawValue = '', ratio = '') =>
			console.log(`${label.padEnd(34)}${lib.padStart(10)}${rawValue.padStart(10)}${ratio.padStart(9)}`);

		console.log(
			`${CONTACTS.toLocaleString('en')} contacts (e-mail, time zone, stage, consent, 5 fields one a date, 2 tags), batches of ${BATCH.toLocaleString('en')}, then ${EVENTS_PER_CONTACT} events each; lib and raw each on a fresh redis-server on loopback`,
		);
		console.log(
			'raw = per contact HSET of everything; ZADD shard zset, SADD per tag, stage, status, HSET e-mail index, each key once per batch; pipelined',
		);
		console.log(`contact's own data: ${int(data)} B per contact`);
		row('', 'lib', 'raw', 'lib/raw');
		row('bytes per contact, at rest', int(libRest.bytes), int(rawRest.bytes), fixed(libRest.bytes / rawRest.bytes));
		row("  with the last minute's answers", int(libRest.bytes + guardsAtRest.answers / CONTACTS));
		row(`bytes per contact, +${EVENTS_PER_CONTACT} events`, int(libEvents.bytes));
		row("  with the last minute's answers", int(libEvents.bytes + guards.answers / CONTACTS));
		row('bytes / own data, at rest', fixed(libRest.bytes / data), fixed(rawRest.bytes / data));
		row(`bytes / own data, +${EVENTS_PER_CONTACT} events`, fixed(libEvents.bytes / data));
		row('keys per contact, at rest', fixed(libRest.keys, 2), fixed(rawRest.keys, 2));
		row(`keys per contact, +${EVENTS_PER_CONTACT} events`, fixed(libEvents.keys, 2));
		row('upserts, contacts/s', int(upsertRate), int(rawRate), fixed(upsertRate / rawRate, 3));
		row('  raw with a command per contact and index', '', int(perContactRate), fixed(upsertRate / perContactRate, 3));
		const usPerContact = (ms: number) => fixed((1000 * ms) / CONTACTS);
		row('  CPU us per contact: this process', usPerContact(nodeCpu.lib), usPerContact(nodeCpu.raw));
		row('  CPU us per contact: redis-server', usPerContact(serverCpu.lib), usPerContact(serverCpu.raw));
		console.log(`load average (1 min) at the start and end of the upserts: ${loadStart}, ${loadEnd}`);
		row('events recorded, events/s', int(eventRate));
		const logPerContact = logBytes / CONTACTS;
		console.log(
			`of the +${EVENTS_PER_CONTACT} events figure, the shard logs: ${int(logPerContact)} B per contact (${logEntries.toLocaleString('en')} entries, ${fixed(logBytes / 1048576)} MB; with no trigger behind, the last 16 x logKeep = ${(SHARD_COUNT * store.limits.logKeep).toLocaleString('en')} or so whatever the base); without them ${int(libEvents.bytes - logPerContact)} B`,
		);
		// The answers grow with the rate of writes: per upserted contact and per event recorded, and
		// what a minute of writes at this run's rates keeps (the whole base was written within it).
		const answerPerUpsert = guardsAtRest.answers / CONTACTS;
		const answerPerEvent = guards.answers / (CONTACTS * EVENTS_PER_CONTACT || 1);
		const answersAtRates = ((answerPerUpsert * upsertRate + answerPerEvent * eventRate) * REPLAY_ANSWER_MS) / 1000;
		console.log(
			`replay guards of the batch writes, apart from the store's data above: answers about ${int(answerPerUpsert)} B per contact upserted and ${int(answerPerEvent)} B per event recorded (${guards.answerKeys.toLocaleString('en')} keys), each gone ${REPLAY_ANSWER_MS / 1000} s after its call: writing non-stop at this run's rates keeps about ${fixed(answersAtRates / 1048576)} MB whatever the base; the marks that the calls ran, in the data above: ${fixed(guards.marks / CONTACTS)} B per contact (${guards.calls.toLocaleString('en')} calls, ${int(guards.marks / guards.calls)} B each, gone after ${REPLAY_GUARD_MS / 60_000} minutes)`,
		);
		console.log(
			`whole-base engagement run (first run: every contact): ${fixed(engagementS)} s for ${tiers.examined.toLocaleString('en')} contacts`,
		);
		console.log(
			`segment export (tag "${TAGS[0]}", pages of 1,000): ${fixed(exportS)} s for ${exported.toLocaleString('en')} contacts`,
		);
		console.log(`peak RSS of this Node process: ${int(peakRssMb)} MB`);

		const goal = (met: boolean, text: string) => console.log(`goal ${met ? 'met    ' : 'NOT met'}  ${text}`);
		goal(
			libRest.bytes <= GOALS.restBytes,
			`at most 1.5 KB per contact at rest (${int(GOALS.restBytes)} B): ${int(libRest.bytes)} B`,
		);
		if (EVENTS_PER_CONTACT === 10)
			goal(
				libEvents.bytes <= GOALS.eventsBytes,
				`at most 3 KB per contact with ${EVENTS_PER_CONTACT} events (${int(GOALS.eventsBytes)} B): ${int(libEvents.bytes)} B`,
			);
		goal(
			libRest.keys <= GOALS.restKeys,
			`at most ${GOALS.restKeys} keys per contact at rest: ${fixed(libRest.keys, 2)}`,
		);
		goal(
			upsertRate >= GOALS.upsertsPerSecond,
			`upserts at least ${int(GOALS.upsertsPerSecond)} contacts/s: ${int(upsertRate)}`,
		);
		goal(
			upsertRate >= GOALS.ofRaw * rawRate,
			`upserts at least ${GOALS.ofRaw * 100}% of raw pipelined writes: ${fixed((100 * upsertRate) / rawRate)}%`,
		);
	} finally {
		for (const c of clients) c.disconnect();
		for (const s of servers) await s.stop();
	}
}
