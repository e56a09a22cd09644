/**
 * The pack's client while a Redis Cluster moves a contact shard's hash slot to another master, the
 * way `redis-cli --cluster reshard` does it (SETSLOT IMPORTING / MIGRATING, MIGRATE key by key,
 * SETSLOT NODE). Halfway through, a single command on a moved key answers ASK, and a script over
 * keys on both sides answers TRYAGAIN; both are retried until the move ends (at most slotMoveWaitMs),
 * and nothing is lost or written twice.
 */
import { spawnSync } from 'child_process';
import { startCluster, type RedisCluster } from '../harness/redis';
import { acquireStore, closeAllStores, type StoreLease } from '../../lib/redis/pool';
import { shardOf } from '../../lib/keys';
import { Segments } from '../../lib/segments';
import { Campaigns } from '../../lib/campaigns';
import { MAX_SLOT_MOVE_WAITERS, toStoreError } from '../../lib/redis/connection';
import { StoreUnavailableError } from '../../lib/errors';
import type { ContactStore } from '../../lib/store';
import { ReplyError } from 'ioredis';

let cluster: RedisCluster;
let lease: StoreLease;
/** The same store through a client that waits at most 3 s for a moving slot. */
let impatient: StoreLease;
const IMPATIENT_WAIT_MS = 3000;

beforeAll(async () => {
	cluster = await startCluster();
	const config = {
		host: '127.0.0.1',
		port: cluster.nodes[0].port,
		clusterNodes: cluster.nodes.map((n) => `127.0.0.1:${n.port}`),
		keyPrefix: 'reshard:',
	};
	lease = acquireStore(config);
	impatient = acquireStore({ ...config, slotMoveWaitMs: IMPATIENT_WAIT_MS });
}, 60_000);

afterAll(async () => {
	lease?.release();
	impatient?.release();
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
function writeAndFilter(ids: string[], store: ContactStore = lease.store) {
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
	const contacts = await lease.store.contacts.get(ids);
	const visits = await eventCounts(ids, 'visit');
	return contacts.map((r, i) => ({ tags: r.ok ? r.value?.tags.sort() : undefined, visits: visits[i] }));
}

/** How many events named `name` each contact has. */
function eventCounts(ids: string[], name: string): Promise<number[]> {
	const { store } = lease;
	return Promise.all(
		ids.map((id) => store.redis.zlexcount(store.keys.contactKey(id, 'events'), `[${name}\0`, `(${name}\x01`)),
	);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

	it('waits out a move longer than ioredis retries TRYAGAIN: writes issued halfway run once it ends, each exactly once', async () => {
		const ids = await seed(7, 't');
		const move = moveHalfway(7, ids);
		const tryAgains = redirects().TRYAGAIN;
		let settled = false;
		// Batch scripts (sent alone) and a guarded script of each contact (auto-pipelined together).
		const working = Promise.all([
			writeAndFilter(ids),
			new Campaigns(lease.store).recordOutcomes(ids.map((contactId) => ({ contactId, kind: 'clicked' }))),
		]).finally(() => (settled = true));
		// Twice as long as ioredis retries TRYAGAIN (about 2 s) before it gives up.
		await sleep(4000);
		expect(settled).toBe(false);
		expect(redirects().TRYAGAIN).toBeGreaterThan(tryAgains);
		move.finish();
		const [[tagged, recorded, filtered], clicked] = await working;
		expect(filtered).toEqual(ids.map((contactId) => ({ ok: true, value: { contactId, found: true, matched: true } })));
		expect([...tagged, ...recorded, ...clicked].filter((r) => !r.ok)).toEqual([]);
		expect(move.keysLeft()).toBe(0);
		expect(await state(ids)).toEqual(ids.map(() => ({ tags: ['a', 'b'], visits: 2 })));
		expect(await eventCounts(ids, '$email_clicked')).toEqual(ids.map(() => 1));
	}, 60_000);

	it('fails the scripts of a move halfway for longer than the client waits with a store error, writing nothing; reads go on', async () => {
		const ids = await seed(9, 's');
		const move = moveHalfway(9, ids);
		try {
			await expectReadable(ids);
			const startedAt = Date.now();
			const [tagged, recorded, filtered] = await writeAndFilter(ids, impatient.store);
			const took = Date.now() - startedAt;
			// The wait starts at the first redirect (ioredis's retries, about 2 s); its last try may add as much.
			expect(took).toBeGreaterThan(IMPATIENT_WAIT_MS);
			expect(took).toBeLessThan(IMPATIENT_WAIT_MS + 10_000);
			for (const r of [...tagged, ...recorded, ...filtered]) {
				expect(r.ok).toBe(false);
				if (!r.ok) {
					expect(r.error).toBeInstanceOf(StoreUnavailableError);
					expect(r.error.message).toMatch(
						/^The contact store \(Redis Cluster\) kept redirecting this command to another node for \d+\.\d s, longer than the pack waits \(3 s\): its hash slot was moving \(resharding: TRYAGAIN, ASK\) .*; nothing of it was written, retry it$/,
					);
				}
			}
		} finally {
			move.finish();
		}
		expect(await state(ids)).toEqual(ids.map(() => ({ tags: ['a'], visits: 1 })));
	}, 60_000);

	it(`lets at most ${MAX_SLOT_MOVE_WAITERS} commands wait for a moving slot, failing the others at once`, async () => {
		const ids = await seed(11, 'w');
		const move = moveHalfway(11, ids);
		// One contact not moved yet and one moved: the command answers TRYAGAIN until the move ends.
		const [stays, moved] = ids.map((id) => lease.store.keys.contact(id));
		let refusedSoFar = 0;
		const calls = Array.from({ length: MAX_SLOT_MOVE_WAITERS + 20 }, () =>
			lease.store.call((r) => r.exists(stays, moved)).catch((error: Error) => (refusedSoFar++, error.message)),
		);
		// Until the first is refused (each waits for ioredis's own retries first, about 2 s unloaded).
		for (const startedAt = Date.now(); refusedSoFar === 0 && Date.now() - startedAt < 20_000;) await sleep(100);
		move.finish();
		const answers = await Promise.all(calls);
		// Refused: commands that ioredis gave up on while the most were waiting (a few of the 20 may
		// have been still in ioredis's own retries when the move ended, and answered).
		const refused = answers.filter((a) => a !== 2);
		expect(refused.length).toBeGreaterThan(0);
		expect(refused.length).toBeLessThanOrEqual(20);
		expect(refused).toEqual(
			refused.map(() =>
				expect.stringMatching(
					new RegExp(
						`while ${MAX_SLOT_MOVE_WAITERS} other commands waited for moving slots, the most the pack lets wait`,
					),
				),
			),
		);
	}, 60_000);

	it('maps TRYAGAIN, from ioredis or after its retries, to a store error', () => {
		const error = toStoreError(
			new Error(
				'Too many Cluster redirections. Last error: ReplyError: TRYAGAIN Multiple keys request during rehashing of slot',
			),
		);
		expect(error).toBeInstanceOf(StoreUnavailableError);
		expect((error as Error).message).toMatch(/: its hash slot was moving \(resharding: TRYAGAIN, ASK\)/);
		expect(toStoreError(new ReplyError('TRYAGAIN Multiple keys request during rehashing of slot'))).toBeInstanceOf(
			StoreUnavailableError,
		);
	});
});
