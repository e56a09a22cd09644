import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as lib from '../../lib';
import { StoreFormatError } from '../../lib/errors';
import { STORE_FORMAT } from '../../lib/keys';
import { FORMAT_1_SUFFIXES } from '../../lib/migrate';
import { createClient, type RedisClient } from '../../lib/redis/connection';
import { scripts } from '../../lib/redis/scripts';
import { ContactStore } from '../../lib/store';
import { startRedis, type RedisServer } from '../harness/redis';
import { answers, NOW, PREFIX } from '../fixtures/store-v1/make';

// A store written by the release before format 2 (test/fixtures/store-v1: 150 contacts with fields,
// tags, events, scores, tiers, Loop Guard entries, a date schedule and a campaign), upgraded in
// place; expected.json is what that release answered for it.
const FIXTURE = join(__dirname, '..', 'fixtures', 'store-v1');
const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as Record<string, unknown>;

type Entry = { id: string; time: string };
/** History entries of the same instant come in log-id order now (format 1 ordered them by their JSON). */
const canonical = (answer: Record<string, unknown>) => {
	const history = answer.history as Record<string, Entry[]>;
	const sorted = Object.fromEntries(
		Object.entries(history).map(([id, entries]) => [
			id,
			[...entries].sort((a, b) => (a.time === b.time ? (a.id < b.id ? -1 : 1) : a.time < b.time ? 1 : -1)),
		]),
	);
	return { ...answer, history: sorted };
};
const comparable = (answer: Record<string, unknown>) => {
	const { writtenBy, prefix, now, nowMs, limits, scoreModel, dbsize, birthdayFired, ...rest } = answer;
	return canonical(JSON.parse(JSON.stringify(rest)) as Record<string, unknown>);
};

describe('a store written in format 1 (test/fixtures/store-v1)', () => {
	let server: RedisServer;
	let dir: string;
	const clients: RedisClient[] = [];
	const open = () => {
		const redis = createClient({ host: '127.0.0.1', port: server.port, keyPrefix: PREFIX });
		clients.push(redis);
		return new ContactStore(redis, PREFIX, { now: () => NOW });
	};
	/** Every key still in a format-1 per-contact layout. */
	const format1Keys = async (store: ContactStore) => {
		const keys = await store.call((r) => r.keys(`${PREFIX}*`));
		const suffixes = Object.values(FORMAT_1_SUFFIXES).filter((s) => s !== FORMAT_1_SUFFIXES.times);
		return keys.filter(
			(key) => key.includes('}:c:') && (suffixes.some((s) => key.endsWith(s)) || key.includes(FORMAT_1_SUFFIXES.times)),
		);
	};

	beforeEach(async () => {
		dir = mkdtempSync(join(tmpdir(), 'store-v1-'));
		copyFileSync(join(FIXTURE, 'dump.rdb'), join(dir, 'dump.rdb'));
		server = await startRedis(['--dir', dir, '--dbfilename', 'dump.rdb']);
	});
	afterEach(async () => {
		for (const client of clients.splice(0)) client.disconnect();
		await server.stop();
		rmSync(dir, { recursive: true, force: true });
	});

	it('loads every key the release wrote: none has expired by the real clock (make.ts extendExpiries)', async () => {
		const redis = createClient({ host: '127.0.0.1', port: server.port, keyPrefix: PREFIX });
		clients.push(redis);
		// Redis drops a key whose expiry is past as it loads the RDB: the fixture would lose keys, and
		// its answers change, some time after it was made.
		expect(await redis.dbsize()).toBe(expected.dbsize);
		const ttls = await Promise.all((await redis.keys(`${PREFIX}*`)).map((key) => redis.pttl(key)));
		const soonest = Math.min(...ttls.filter((ttl) => ttl > 0));
		expect(soonest).toBeGreaterThan(50 * 365 * 86_400_000);
	});

	it('answers as the release that wrote it while it is upgraded, then holds no format-1 key and says the current format', async () => {
		const store = open();
		expect(await format1Keys(store)).not.toHaveLength(0);
		expect(await store.format.check()).toBe('upgrading');
		// Every read and write upgrades the contacts it touches first, whatever the background has done.
		expect(comparable(await answers(lib, store))).toEqual(comparable(expected));
		await store.format.running;
		expect(await format1Keys(store)).toEqual([]);
		expect(await store.call((r) => r.hget(store.keys.meta(), 'format'))).toBe(String(STORE_FORMAT));
		// A process opening the store now finds it current, and answers the same.
		const later = open();
		expect(await later.format.check()).toBe('current');
		expect(comparable(await answers(lib, later))).toEqual(comparable(expected));
		// Erase still leaves nothing of an upgraded contact.
		await later.contacts.erase(['c000']);
		const left = await later.call((r) => r.keys(`${PREFIX}*c000*`));
		expect(left).toEqual([]);
	});

	it('finishes an interrupted upgrade, leaving the contacts it had upgraded alone', async () => {
		const store = open();
		// Interrupted: half of the shards' contacts upgraded (no meta written yet), then the process went away.
		const shards = expected.shards as Record<string, string[]>;
		const upgradedFirst = Object.keys(shards)
			.filter((shard) => Number(shard) % 2 === 0)
			.flatMap((shard) => shards[shard]);
		const done = await store.runBatch({
			script: scripts.upgradeContacts,
			items: upgradedFirst,
			contactOf: (id) => id,
			shared: JSON.stringify(FORMAT_1_SUFFIXES),
			upgraded: true,
		});
		expect(done.every((r) => r.ok && r.value === 1)).toBe(true);
		const after = open();
		expect(await after.format.check()).toBe('upgrading');
		await after.format.running;
		expect(await format1Keys(after)).toEqual([]);
		expect(comparable(await answers(lib, after))).toEqual(comparable(expected));
	});

	it('upgrades each shard in batches from a cursor kept in the meta hash', async () => {
		const store = open();
		const meta = store.keys.meta();
		await store.call((r) => r.hset(meta, 'format', '1'));
		await store.format.upgradeShard(3);
		expect(await store.call((r) => r.hget(meta, 'done:3'))).not.toBeNull();
		expect(await store.call((r) => r.hget(meta, 'done:4'))).toBeNull();
		const shard3 = (expected.shards as Record<string, string[]>)['3'];
		for (const id of shard3)
			expect(await store.call((r) => r.exists(`${store.keys.contact(id)}${FORMAT_1_SUFFIXES.keys}`))).toBe(0);
		await store.format.upgradeAll();
		expect(await store.call((r) => r.hget(meta, 'format'))).toBe(String(STORE_FORMAT));
		expect(await format1Keys(store)).toEqual([]);
	});

	it('refuses a store of a newer format, naming the fix, and writes nothing', async () => {
		const store = open();
		await store.call((r) => r.hset(store.keys.meta(), 'format', String(STORE_FORMAT + 1)));
		const before = await store.call((r) => r.dbsize());
		const [result] = await store.contacts.upsert([{ id: 'new-one' }]);
		expect(!result.ok && result.error).toBeInstanceOf(StoreFormatError);
		expect(!result.ok && result.error.message).toMatch(
			new RegExp(`format ${STORE_FORMAT + 1}.*newer version.*reads format ${STORE_FORMAT}`),
		);
		expect(await store.call((r) => r.dbsize())).toBe(before);
	});
});

// Format 4 reads both as they are (the scoring test reads format 3's running sums).
describe.each(['2', '3'])('a store written in format %s', (format) => {
	it('is marked with the current format at once, its data as it was', async () => {
		const server = await startRedis();
		const redis = createClient({ host: '127.0.0.1', port: server.port, keyPrefix: 'old:' });
		try {
			const store = new ContactStore(redis, 'old:');
			await store.events.record([{ contactId: 'a', name: 'seen' }]);
			await store.call((r) => r.hset(store.keys.meta(), 'format', format));
			const before = await store.call((r) => r.dbsize());
			const later = new ContactStore(redis, 'old:');
			expect(await later.format.check()).toBe('current');
			expect(await store.call((r) => r.hget(store.keys.meta(), 'format'))).toBe(String(STORE_FORMAT));
			expect(await store.call((r) => r.dbsize())).toBe(before);
			expect((await later.contacts.getOne('a'))?.events.seen.count).toBe(1);
		} finally {
			redis.disconnect();
			await server.stop();
		}
	});
});

describe('a new store', () => {
	it('is marked with the current format by the first node that opens it', async () => {
		const server = await startRedis();
		const redis = createClient({ host: '127.0.0.1', port: server.port, keyPrefix: 'fresh:' });
		try {
			const store = new ContactStore(redis, 'fresh:');
			await store.contacts.upsert([{ id: 'a' }]);
			expect(await store.call((r) => r.hget(store.keys.meta(), 'format'))).toBe(String(STORE_FORMAT));
		} finally {
			redis.disconnect();
			await server.stop();
		}
	});
});
