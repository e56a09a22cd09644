/**
 * A write script call that Redis ran but whose answer never reached the client: ioredis sends it
 * again on its new connection (standalone: the commands left unanswered; cluster: the commands a
 * closed node connection failed, after the slots are refreshed). A TCP proxy between the client and
 * the real Redis lets the call through and resets the connection when the answer comes. The call's
 * replay guard (lib/redis/lua/replay_guard.lua) makes the resend answer what the first run did and
 * write nothing: effects once, the caller's answer right.
 */
import type { Cluster } from 'ioredis';
import { REPLAY_GUARD_MS, SHARD_KEY_PARTS } from '../../lib/keys';
import { createClient, type RedisClient } from '../../lib/redis/connection';
import { closeAllStores } from '../../lib/redis/pool';
import { replayToken } from '../../lib/redis/replayGuard';
import { scripts } from '../../lib/redis/scripts';
import { ContactStore } from '../../lib/store';
import { startTcpProxy, type TcpProxy } from '../harness/tcpProxy';
import { openStore, storeConfig, TestClock, topologies, type Topology } from '../harness/store';

afterAll(() => closeAllStores());

/** A request naming a replay guard: a guarded write script call. */
const GUARDED_CALL = Buffer.from(`:${SHARD_KEY_PARTS.replayGuards}:`);

/** A store whose client reaches Redis (every cluster node) through proxies the test controls. */
async function storeThroughProxies(topology: Topology) {
	const config = storeConfig(topology);
	const ports = config.clusterNodes ? config.clusterNodes.map((node) => Number(node.split(':')[1])) : [config.port];
	const proxies = new Map<number, TcpProxy>();
	for (const port of ports) proxies.set(port, await startTcpProxy({ port }));
	const first = proxies.get(ports[0])!;
	const client: RedisClient = createClient(
		config.clusterNodes ? { ...config, clusterNodes: [`127.0.0.1:${first.port}`] } : { ...config, port: first.port },
	);
	if (config.clusterNodes) {
		// The nodes announce their own ports: the client is sent to the proxy of each instead.
		(client as Cluster).options.natMap = Object.fromEntries(
			[...proxies].map(([port, proxy]) => [`127.0.0.1:${port}`, { host: '127.0.0.1', port: proxy.port }]),
		);
	}
	client.on('error', () => undefined);
	const clock = new TestClock();
	const store = new ContactStore(client, config.keyPrefix, { now: clock.now });
	/** Loses the answer of the next guarded call, whichever node it goes to. */
	const loseNextGuardedReply = () => {
		let lost!: () => void;
		const done = new Promise<void>((resolve) => (lost = resolve));
		const matches = (request: Buffer) => request.includes(GUARDED_CALL);
		for (const proxy of proxies.values()) void proxy.loseNextReply(matches).then(lost);
		return done.then(() => {
			// The other proxies stay armed otherwise: disarm them with a request that never comes.
			for (const proxy of proxies.values()) void proxy.loseNextReply(() => false);
		});
	};
	const accepted = () => [...proxies.values()].reduce((sum, proxy) => sum + proxy.accepted, 0);
	const close = async () => {
		await client.quit().catch(() => undefined);
		client.disconnect();
		await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
	};
	return { store, loseNextGuardedReply, accepted, close };
}

describe.each(topologies)('a guarded call resent after its answer was lost, on %s Redis', (topology) => {
	let env: Awaited<ReturnType<typeof storeThroughProxies>>;
	beforeAll(async () => {
		env = await storeThroughProxies(topology);
	});
	afterAll(() => env.close());

	/** Contact ids of one shard: a batch of their items is one script call. */
	const sameShard = (tag: string, count: number) => {
		const ids: string[] = [];
		for (let n = 0; ids.length < count; n++)
			if (env.store.keys.shardOfContact(`${tag}-${n}`) === env.store.keys.shardOfContact(`${tag}-0`))
				ids.push(`${tag}-${n}`);
		return ids;
	};

	it('records a batch of events once and answers each event its id', async () => {
		const { store } = env;
		const contacts = sameShard(`ev-${topology}`, 5);
		// The script is in Redis's cache first, so the lost call is the one that runs it.
		expect((await store.events.record([{ contactId: contacts[0], name: 'warm-up' }]))[0].ok).toBe(true);
		const batch = Array.from({ length: 60 }, (_, n) => ({
			contactId: contacts[n % contacts.length],
			name: 'resent',
			properties: { n },
		}));
		const connections = env.accepted();
		const lost = env.loseNextGuardedReply();
		const results = await store.events.record(batch);
		await lost;
		expect(env.accepted()).toBeGreaterThan(connections);

		const ids = results.map((r) => {
			if (!r.ok) throw r.error;
			expect(r.value.duplicate).toBe(false);
			return r.value.eventId!;
		});
		expect(new Set(ids).size).toBe(batch.length);
		// Each event once: in its contact's counter and events index, and in the shard's log.
		for (const id of contacts) expect(await store.events.countSince(id, 'resent', 0)).toBe(12);
		const shard = store.keys.shardOfContact(contacts[0]);
		const logged = (await store.call((r) => r.xrange(store.keys.log(shard), '-', '+')))
			.filter(([, fields]) => fields.includes('resent'))
			.map(([id]) => id);
		expect(logged.sort()).toEqual([...ids].sort());
	});

	it('applies a contact change once and answers the events it logged', async () => {
		const { store } = env;
		const [id] = sameShard(`up-${topology}`, 1);
		expect((await store.contacts.upsert([{ id, fields: { plan: 'free' } }]))[0].ok).toBe(true);
		const lost = env.loseNextGuardedReply();
		const [result] = await store.contacts.upsert([{ id, fields: { plan: 'pro' }, addTags: ['paying'] }]);
		await lost;
		if (!result.ok) throw result.error;
		// The resend found the change made: without the guard it would answer that nothing changed.
		expect(result.value.created).toBe(false);
		expect(result.value.events.map((e) => e.name).sort()).toEqual(['$field_changed', '$tag_added']);
		const contact = await store.contacts.getOne(id);
		expect(contact?.fields).toEqual({ plan: 'pro' });
		expect(contact?.tags).toEqual(['paying']);
	});
});

describe.each(topologies)('a replay guard on %s Redis', (topology) => {
	const { store, clock } = openStore(topology);

	it('answers a call run again with the same guard as the first run did, writes nothing, and withholds the answer once a contact of its shard is erased', async () => {
		const [id, other] = ['guarded-1', 'guarded-2'].map((prefix) => {
			for (let n = 0; ; n++) if (store.keys.shardOfContact(`${prefix}-${n}`) === 3) return `${prefix}-${n}`;
		});
		const event = (contactId: string) => [
			10,
			store.keys.contact(contactId),
			contactId,
			'seen',
			clock.ms,
			'{}',
			'api',
			'',
			'',
			'1',
			'1',
			'',
		];
		const args = [JSON.stringify({ now: clock.ms, limits: store.limits }), 2, ...event(id), ...event(other)];
		const keys = [store.keys.shard(3), store.keys.replayGuard(3, replayToken())];
		const first = await store.run<unknown[]>(scripts.recordEvents, keys, args);
		expect(first).toEqual([
			[0, expect.any(String), 1],
			[0, expect.any(String), 1],
		]);
		expect(await store.run(scripts.recordEvents, keys, args)).toEqual(first);
		for (const contactId of [id, other]) expect(await store.events.countSince(contactId, 'seen', 0)).toBe(1);
		const ttl = await store.call((r) => r.pttl(keys[1]));
		expect(ttl).toBeGreaterThan(REPLAY_GUARD_MS - 60_000);
		expect(ttl).toBeLessThanOrEqual(REPLAY_GUARD_MS);

		// The answer names the erased contact's events: erase drops it, the guard stays.
		expect((await store.contacts.erase([id]))[0]).toMatchObject({ ok: true, value: { erased: true } });
		await expect(store.run(scripts.recordEvents, keys, args)).rejects.toThrow(/^WITHHELD /);
		expect(await store.events.countSince(other, 'seen', 0)).toBe(1);
		expect(await store.call((r) => r.pttl(keys[1]))).toBeGreaterThan(REPLAY_GUARD_MS - 60_000);
	});
});
