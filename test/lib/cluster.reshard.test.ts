/**
 * The pack's client while a Redis Cluster moves a contact shard's hash slot to another master, the
 * way `redis-cli --cluster reshard` does it (SETSLOT IMPORTING / MIGRATING, MIGRATE key by key,
 * SETSLOT NODE). Halfway through, a single command on a moved key answers ASK, and a script over
 * keys on both sides answers TRYAGAIN; both are retried until the move ends, and nothing is lost or
 * written twice.
 */
import { spawnSync } from 'child_process';
import { startCluster, type RedisCluster } from '../harness/redis';
import { acquireStore, closeAllStores, type StoreLease } from '../../lib/redis/pool';
import { shardOf } from '../../lib/keys';
import { Segments } from '../../lib/segments';
import { toStoreError } from '../../lib/redis/connection';
import { StoreUnavailableError } from '../../lib/errors';
import { ReplyError } from 'ioredis';

let cluster: RedisCluster;
let lease: StoreLease;

beforeAll(async () => {
	cluster = await startCluster();
	lease = acquireStore({
		host: '127.0.0.1',
		port: cluster.nodes[0].port,
		clusterNodes: cluster.nodes.map((n) => `127.0.0.1:${n.port}`),
		keyPrefix: 'reshard:',
	});
}, 60_000);

afterAll(async () => {
	lease?.release();
	await closeAllStores();
	await cluster?.stop();
});

const cli = (port: number, ...args: string[]) =>
	spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim();

/** The node id and port of the master serving `slot`, and of another master. */
function owners(slot: number): { from: { id: string; port: number }; to: { id: string; port: number } } {
	const masters = cli(cluster.nodes[0].port, 'cluster', 'nodes')
		.split('\n')
		.map((line) => line.split(' '))
		.filter((f) => f[2].includes('master'))
		.map((f) => ({
			id: f[0],
			port: Number(f[1].split('@')[0].split(':').pop()),
			ranges: f.slice(8).map((r) => r.split('-').map(Number)),
		}));
	const from = masters.find((m) => m.ranges.some(([a, b = a]) => slot >= a && slot <= b))!;
	const to = masters.find((m) => m !== from)!;
	return { from: { id: from.id, port: from.port }, to: { id: to.id, port: to.port } };
}

/** Moves `keys` (all of the slot's when undefined) from one node to the other. */
function migrateKeys(slot: number, from: number, to: number, keys?: string[]): void {
	keys ??= cli(from, 'cluster', 'getkeysinslot', String(slot), '100000').split('\n').filter(Boolean);
	if (keys.length === 0) return;
	const out = cli(from, 'migrate', '127.0.0.1', String(to), '', '0', '5000', 'KEYS', ...keys);
	if (out !== 'OK') throw new Error(`MIGRATE failed: ${out}`);
}

/** Contact ids of `shard`. */
const idsOf = (shard: number, count: number, tag: string) => {
	const ids: string[] = [];
	for (let n = 0; ids.length < count; n++) if (shardOf(`${tag}${n}`) === shard) ids.push(`${tag}${n}`);
	return ids;
};

/** A plain key in the shard's slot, written by single commands (auto-pipelined). */
const counter = (shard: number, n: number) => `${lease.store.keys.shard(shard)}:counter:${n}`;
const COUNTERS = 20;
const countAll = (shard: number) =>
	Promise.all(Array.from({ length: COUNTERS }, (_, n) => lease.store.call((r) => r.incr(counter(shard, n)))));

/** Contacts of `shard` with an e-mail, tag `a` and one visit, and its counters at 1. */
async function seed(shard: number, tag: string): Promise<string[]> {
	const { store } = lease;
	await countAll(shard);
	const ids = idsOf(shard, 60, tag);
	for (const r of await store.contacts.upsert(ids.map((id) => ({ id, email: `${id}@example.com`, addTags: ['a'] }))))
		expect(r.ok).toBe(true);
	for (const r of await store.events.record(ids.map((id) => ({ contactId: id, name: 'visit' }))))
		expect(r.ok).toBe(true);
	return ids;
}

/**
 * Starts moving the shard's slot to another master and moves the core hash of every other contact
 * of `ids`; `finish` moves the rest.
 */
function moveHalfway(shard: number, ids: string[]): { finish(): void; keysLeft(): number } {
	const slot = Number(cli(cluster.nodes[0].port, 'cluster', 'keyslot', lease.store.keys.shard(shard)));
	const { from, to } = owners(slot);
	expect(cli(to.port, 'cluster', 'setslot', String(slot), 'importing', from.id)).toBe('OK');
	expect(cli(from.port, 'cluster', 'setslot', String(slot), 'migrating', to.id)).toBe('OK');
	// Its contacts' keys now sit on both nodes.
	migrateKeys(
		slot,
		from.port,
		to.port,
		ids.filter((_, i) => i % 2 === 1).flatMap((id, i) => [lease.store.keys.contact(id), counter(shard, i)]),
	);
	return {
		finish() {
			migrateKeys(slot, from.port, to.port);
			for (const node of [to, from])
				expect(cli(node.port, 'cluster', 'setslot', String(slot), 'node', to.id)).toBe('OK');
		},
		keysLeft: () => Number(cli(from.port, 'cluster', 'countkeysinslot', String(slot))),
	};
}

/** Writes and a segment read of the contacts at once: batch scripts over their shard. */
function writeAndFilter(ids: string[]) {
	const { store } = lease;
	return Promise.all([
		store.contacts.upsert(ids.map((id) => ({ id, addTags: ['b'] }))),
		store.events.record(ids.map((id) => ({ contactId: id, name: 'visit' }))),
		new Segments(store).evaluate({ type: 'tags', operator: 'hasAny', tags: ['a'] }, ids),
	]);
}

/** Reads each contact (one key each, auto-pipelined together): all found with their e-mail. */
async function expectReadable(ids: string[]): Promise<void> {
	const read = await lease.store.contacts.get(ids);
	expect(read.filter((r) => !r.ok)).toEqual([]);
	for (const r of read) expect(r.ok && r.value?.email).toMatch(/@example\.com$/);
}

/** Each contact's tags and number of visits (events are ordered by name then time: one range). */
async function state(ids: string[]): Promise<Array<{ tags?: string[]; visits: number }>> {
	const { store } = lease;
	const contacts = await store.contacts.get(ids);
	const visits = await Promise.all(
		ids.map((id) => store.redis.zlexcount(store.keys.contactKey(id, 'events'), '[visit\0', '(visit\x01')),
	);
	return contacts.map((r, i) => ({ tags: r.ok ? r.value?.tags.sort() : undefined, visits: visits[i] }));
}

/** The cluster's ASK and TRYAGAIN answers so far (INFO errorstats), summed over its nodes. */
function redirects(): Record<string, number> {
	const counts: Record<string, number> = {};
	for (const node of cluster.nodes)
		for (const [, kind, n] of cli(node.port, 'info', 'errorstats').matchAll(/errorstat_(ASK|TRYAGAIN):count=(\d+)/g))
			counts[kind] = (counts[kind] ?? 0) + Number(n);
	return counts;
}

describe('a contact shard moving to another Redis Cluster master', () => {
	it('answers reads and writes of the moving shard, halfway through and after the move, with nothing lost or doubled', async () => {
		const ids = await seed(5, 'r');
		const move = moveHalfway(5, ids);

		// Reads of moved keys answer ASK, for as long as the move lasts; so do single writes.
		await expectReadable(ids);
		expect(await countAll(5)).toEqual(Array.from({ length: COUNTERS }, () => 2));
		// Scripts over the shard answer TRYAGAIN and wait while the move finishes, as redis-cli's next
		// keys would: none runs on a node holding only part of the shard.
		const working = writeAndFilter(ids);
		await new Promise((resolve) => setTimeout(resolve, 300));
		move.finish();
		const [tagged, recorded, filtered] = await working;
		expect(filtered).toEqual(ids.map((contactId) => ({ ok: true, value: { contactId, found: true, matched: true } })));
		expect(tagged.filter((r) => !r.ok)).toEqual([]);
		expect(recorded.filter((r) => !r.ok)).toEqual([]);
		expect(move.keysLeft()).toBe(0);
		expect(redirects()).toEqual({ ASK: expect.any(Number), TRYAGAIN: expect.any(Number) });
		// After the move (MOVED on the client's old slot map): both tags, exactly two visits each.
		expect(await state(ids)).toEqual(ids.map(() => ({ tags: ['a', 'b'], visits: 2 })));
		expect(await lease.store.contacts.idForEmail(`${ids[0]}@example.com`)).toBe(ids[0]);
	}, 60_000);

	it('fails the scripts of a move halfway for longer than the retries with a store error, writing nothing; reads go on', async () => {
		const ids = await seed(9, 's');
		const move = moveHalfway(9, ids);
		try {
			await expectReadable(ids);
			const [tagged, recorded, filtered] = await writeAndFilter(ids);
			for (const r of [...tagged, ...recorded, ...filtered]) {
				expect(r.ok).toBe(false);
				if (!r.ok) {
					expect(r.error).toBeInstanceOf(StoreUnavailableError);
					// ioredis gives up on MOVED, ASK or TRYAGAIN, whichever came last.
					expect(r.error.message).toMatch(/^The contact store \(Redis Cluster\) (is resharding|kept redirecting)/);
				}
			}
		} finally {
			move.finish();
		}
		expect(await state(ids)).toEqual(ids.map(() => ({ tags: ['a'], visits: 1 })));
	}, 60_000);

	it('maps TRYAGAIN, from ioredis or after its retries, to a store error', () => {
		const error = toStoreError(
			new Error(
				'Too many Cluster redirections. Last error: ReplyError: TRYAGAIN Multiple keys request during rehashing of slot',
			),
		);
		expect(error).toBeInstanceOf(StoreUnavailableError);
		expect(toStoreError(new ReplyError('TRYAGAIN Multiple keys request during rehashing of slot'))).toBeInstanceOf(
			StoreUnavailableError,
		);
	});
});
