/**
 * The Contact Trigger's delivery contract, on the lib: a failed execution is retried with a back-off
 * and its attempt is visible; out of attempts, the event goes to the trigger's dead letters (or is
 * dropped), acknowledged in the same step; dead letters are listed, replayed to their trigger only,
 * purged, and erased with their contact; a backlog is drained with bounded executions and memory.
 */
import { closeAllStores } from '../../lib/redis/pool';
import { compileFilter, DeadLetters, EventLogConsumer, type ConsumerOptions, type LogEvent } from '../../lib/triggers';
import { readCount } from '../../lib/triggers/consumer';
import { SHARD_COUNT } from '../../lib/keys';
import { openStore, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 20000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await condition())) {
		if (Date.now() > deadline) throw new Error('timed out waiting');
		await sleep(10);
	}
}

describe.each(topologies)('Contact Trigger delivery on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store } = ctx;
	const consumers: EventLogConsumer[] = [];
	let seq = 0;
	const group = () => `ct:wf-${topology}-${++seq}:node`;
	const consumer = (options: Partial<ConsumerOptions> & Pick<ConsumerOptions, 'handler' | 'group'>) => {
		const c = new EventLogConsumer(store, { blockMs: 300, retryDelayMs: 50, ...options });
		consumers.push(c);
		return c;
	};
	afterEach(async () => {
		await Promise.all(consumers.splice(0).map((c) => c.stop()));
	});
	const record = async (contactId: string, name: string) => {
		const [r] = await store.events.record([{ contactId, name }]);
		if (!r.ok) throw r.error;
		return r.value.eventId!;
	};
	/** A trigger's group that exists while nothing consumes it (n8n down): events pile up for it. */
	const idleGroup = async (event: string) => {
		const name = `${event}_${topology}`;
		const filter = compileFilter({ kind: 'event', names: [name] });
		const g = group();
		const first = consumer({ group: g, filter, handler: async () => undefined });
		await first.start();
		await first.stop();
		return { name, filter, g };
	};
	/** `count` contact ids that live in one shard. */
	const contactsOfShard = (prefix: string, count: number) => {
		const ids: string[] = [];
		for (let i = 0; ids.length < count; i++)
			if (store.keys.shardOfContact(`${prefix}-${i}`) === 3) ids.push(`${prefix}-${i}`);
		return ids;
	};
	const pending = async (contactId: string, g: string) =>
		((await store.call((r) => r.xpending(store.keys.log(store.keys.shardOfContact(contactId)), g))) as [number])[0];

	it('a failed execution is retried with a doubling back-off; the attempt is on the event and counted in Redis', async () => {
		const name = `flaky_${topology}`;
		const g = group();
		const attempts: Array<{ attempt: number; at: number }> = [];
		await consumer({
			group: g,
			filter: compileFilter({ kind: 'event', names: [name] }),
			retryDelayMs: 150,
			handler: async ([e]) => {
				attempts.push({ attempt: e.attempt, at: Date.now() });
				if (attempts.length < 3) throw new Error('The contact store (Redis) could not be reached');
			},
		}).start();
		await record('flaky-1', name);
		await until(() => attempts.length === 3);
		expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
		// Waits of at least 150 ms then 300 ms (a lower bound: it never retries early).
		expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(140);
		expect(attempts[2].at - attempts[1].at).toBeGreaterThanOrEqual(290);
		await until(async () => (await pending('flaky-1', g)) === 0);
		await sleep(400);
		expect(attempts).toHaveLength(3);
	});

	it('out of attempts: moved to the dead letters and acknowledged; listed; replayed to this trigger only, with its event id; purged', async () => {
		const name = `poison_${topology}`;
		const filter = compileFilter({ kind: 'event', names: [name] });
		const gA = group();
		const gB = group();
		let failing = true;
		const seenA: LogEvent[] = [];
		const seenB: LogEvent[] = [];
		const errors: string[] = [];
		await consumer({
			group: gA,
			filter,
			maxAttempts: 2,
			label: 'Workflow A / Contact Trigger',
			onError: (e) => void errors.push(e.message),
			handler: async ([e]) => {
				seenA.push(e);
				if (failing) throw new Error('Send Campaign: SMTP refused the login');
			},
		}).start();
		await consumer({ group: gB, filter, handler: async ([e]) => void seenB.push(e) }).start();
		const eventId = await record('dead-1', name);
		const dead = new DeadLetters(store, gA);
		await until(async () => (await dead.count()) === 1);
		expect(seenA.map((e) => e.attempt)).toEqual([1, 2]);
		expect(await pending('dead-1', gA)).toBe(0);
		// Reported once the move is written: the count may be read first.
		await until(() =>
			errors.some((m) => m.startsWith('Moved to the dead letters: 1 event(s) after 2 failed attempts')),
		);

		const [letter] = await dead.list(10);
		expect(letter).toMatchObject({
			attempts: 2,
			reason: 'Send Campaign: SMTP refused the login',
			event: { id: eventId, contactId: 'dead-1', name },
		});
		expect(letter.id).toMatch(/^\d{1,2}-\d+-\d+$/);
		expect(await DeadLetters.triggers(store)).toContainEqual({
			trigger: gA,
			label: 'Workflow A / Contact Trigger',
			count: 1,
		});

		failing = false;
		expect(await dead.replay({ limit: 10 })).toBe(1);
		await until(() => seenA.length === 3);
		expect(seenA[2]).toMatchObject({ contactId: 'dead-1', attempt: 1, replayOf: eventId });
		expect(await dead.count()).toBe(0);
		await until(async () => (await pending('dead-1', gA)) === 0);
		// The other trigger saw the event once; the replay was not for it.
		await sleep(500);
		expect(seenB.map((e) => e.contactId)).toEqual(['dead-1']);
		expect(await pending('dead-1', gB)).toBe(0);

		failing = true;
		await record('dead-2', name);
		await until(async () => (await dead.count()) === 1);
		expect(await dead.purge({ ids: [(await dead.list(1))[0].id] })).toBe(1);
		expect(await dead.count()).toBe(0);
		expect((await DeadLetters.triggers(store)).map((t) => t.trigger)).not.toContain(gA);
	});

	it('erasing a contact deletes its dead letters and their registration', async () => {
		const name = `erase_dead_${topology}`;
		const g = group();
		await consumer({
			group: g,
			filter: compileFilter({ kind: 'event', names: [name] }),
			maxAttempts: 1,
			handler: async () => Promise.reject(new Error('boom')),
		}).start();
		await store.contacts.upsert([{ id: 'gone@example.com', email: 'gone@example.com' }]);
		await record('gone@example.com', name);
		const dead = new DeadLetters(store, g);
		await until(async () => (await dead.count()) === 1);
		const [erased] = await store.contacts.erase(['gone@example.com']);
		expect(erased.ok).toBe(true);
		expect(await dead.count()).toBe(0);
		expect(await store.redis.exists(store.keys.contactKey('gone@example.com', 'deadLetters'))).toBe(0);
	});

	it('the Drop option acknowledges an event out of attempts and keeps no dead letter', async () => {
		const name = `drop_${topology}`;
		const g = group();
		let calls = 0;
		await consumer({
			group: g,
			filter: compileFilter({ kind: 'event', names: [name] }),
			maxAttempts: 2,
			onGiveUp: 'drop',
			handler: async () => {
				calls++;
				throw new Error('x');
			},
		}).start();
		await record('drop-1', name);
		await until(async () => calls === 2 && (await pending('drop-1', g)) === 0);
		await sleep(300);
		expect(calls).toBe(2);
		expect(await new DeadLetters(store, g).count()).toBe(0);
	});

	it('an entry a dead consumer left, already delivered maxAttempts times, goes to the dead letters when taken over', async () => {
		const name = `stalled_${topology}`;
		const filter = compileFilter({ kind: 'event', names: [name] });
		const g = group();
		const stuck = consumer({ group: g, filter, claimIdleMs: 200, handler: () => new Promise<void>(() => undefined) });
		await stuck.start();
		const id = await record('stalled-1', name);
		await until(() => stuck.pendingHere === 1);
		await stuck.stop();
		const key = store.keys.log(store.keys.shardOfContact('stalled-1'));
		// As if it had been taken over 4 more times by mains that died running it.
		await store.call((r) => r.xclaim(key, g, 'dead-main', 0, id, 'RETRYCOUNT', 5, 'JUSTID'));
		const handled: string[] = [];
		await consumer({
			group: g,
			filter,
			claimIdleMs: 200,
			maxAttempts: 5,
			handler: async ([e]) => void handled.push(e.id),
		}).start();
		const dead = new DeadLetters(store, g);
		await until(async () => (await dead.count()) === 1);
		expect(handled).toEqual([]);
		expect((await dead.list(1))[0]).toMatchObject({
			attempts: 5,
			event: { id },
			reason: expect.stringContaining('without its execution finishing'),
		});
	});

	it('the entries a killed n8n held are taken over as fast as they run, not a read-ahead per maintenance round', async () => {
		const { name, filter, g } = await idleGroup('orphans');
		const ids = await Promise.all(Array.from({ length: 30 }, (_, i) => record(`orphan-${i}`, name)));
		// A consumer that read them all and died 2 minutes ago, its executions never finished.
		for (let shard = 0; shard < SHARD_COUNT; shard++) {
			const key = store.keys.log(shard);
			const read = (await store.call((r) =>
				r.xreadgroup('GROUP', g, 'killed-main', 'COUNT', 100, 'STREAMS', key, '>'),
			)) as Array<[string, Array<[string, string[]]>]> | null;
			const held = read?.[0]?.[1].map(([id]) => id) ?? [];
			if (held.length > 0)
				await store.call((r) => r.xclaim(key, g, 'killed-main', 0, ...held, 'IDLE', 120_000, 'JUSTID'));
		}
		const handled: string[] = [];
		// Room for 2 entries at a time; a maintenance round every 20 s.
		await consumer({
			group: g,
			filter,
			concurrency: 1,
			claimIdleMs: 60_000,
			handler: async ([e]) => void handled.push(e.id),
		}).start();
		await until(() => handled.length === ids.length, 10_000).catch((e) => {
			throw new Error(`${e.message}: ${handled.length} handled`);
		});
		expect(handled.sort()).toEqual([...ids].sort());
	});

	it('a backlog is drained with at most `concurrency` executions at once and a bounded number of entries held, each once', async () => {
		// The group exists, then 400 events pile up while nothing consumes (n8n down).
		const { name, filter, g } = await idleGroup('backlog');
		const N = 400;
		for (let i = 0; i < N; i += 100)
			await store.events.record(Array.from({ length: 100 }, (_, k) => ({ contactId: `bl-${i + k}`, name })));
		let running = 0;
		let maxRunning = 0;
		let maxHeld = 0;
		const handled: string[] = [];
		const c = consumer({
			group: g,
			filter,
			concurrency: 3,
			batchSize: 2,
			handler: async (events) => {
				running++;
				maxRunning = Math.max(maxRunning, running);
				maxHeld = Math.max(maxHeld, c.pendingHere);
				await sleep(2);
				handled.push(...events.map((e) => e.contactId));
				running--;
			},
		});
		await c.start();
		await until(() => handled.length >= N, 60_000);
		await sleep(200);
		expect(handled).toHaveLength(N);
		expect(new Set(handled).size).toBe(N);
		expect(maxRunning).toBeLessThanOrEqual(3);
		// 2 x concurrency x batch size, plus one read beyond it: up to that many per shard (readCount).
		expect(maxHeld).toBeLessThanOrEqual(2 * 3 * 2 + 16 * readCount(2 * 3 * 2));
	});

	it('a burst in one shard is read in one go, not one entry per read', async () => {
		const { name, filter, g } = await idleGroup('burst');
		// The whole burst waits in one stream.
		await store.events.record(contactsOfShard('burst', 40).map((contactId) => ({ contactId, name })));
		const batches: number[] = [];
		await consumer({
			group: g,
			filter,
			concurrency: 1,
			batchSize: 16,
			handler: async (events) => {
				batches.push(events.length);
			},
		}).start();
		await until(() => batches.reduce((a, b) => a + b, 0) === 40);
		// The first read took the whole read-ahead (2 x 1 x 16) from that shard: a full first batch.
		expect(batches[0]).toBe(16);
	});

	it('executions go on while acknowledgements are slow (queued behind other commands on the shared connection)', async () => {
		const { name, filter, g } = await idleGroup('slowack');
		// In one stream, so that a read takes no more than the read-ahead (16).
		const contacts = contactsOfShard('slowack', 40);
		await store.events.record(contacts.map((contactId) => ({ contactId, name })));
		// The consumer's acknowledgements wait until `open` is called; everything else reaches Redis as usual.
		let open!: () => void;
		const opened = new Promise<void>((resolve) => (open = resolve));
		const gated = new Proxy(store, {
			get: (target, key, receiver) =>
				key === 'call'
					? (run: (r: typeof store.redis) => Promise<unknown>) =>
							target.call((r) =>
								run(
									new Proxy(r, {
										get: (client, command) =>
											command === 'xack'
												? (...args: unknown[]) => opened.then(() => client.xack(...(args as [string, string, string])))
												: Reflect.get(client, command, client),
									}),
								),
							)
					: Reflect.get(target, key, receiver),
		});
		let handled = 0;
		const c = new EventLogConsumer(gated, { blockMs: 300, group: g, filter, handler: async () => void handled++ });
		consumers.push(c);
		await c.start();
		// All 40 executions ran although none of them is acknowledged yet (read-ahead: 16).
		await until(() => handled === 40);
		expect(c.pendingHere).toBe(40);
		open();
		await until(() => c.pendingHere === 0);
		expect(await pending(contacts[0], g)).toBe(0);
	});

	it('refuses a dead-letter limit out of range, naming it', async () => {
		const dead = new DeadLetters(store, group());
		await expect(dead.list(0)).rejects.toMatchObject({ field: 'limit' });
		await expect(dead.replay({ limit: 5000 })).rejects.toMatchObject({ field: 'limit' });
		await expect(dead.purge({ ids: ['nope'] })).rejects.toMatchObject({ field: 'ids' });
	});
});
