import { closeAllStores } from '../../lib/redis/pool';
import {
	EventLogConsumer,
	compileFilter,
	latestMatching,
	type LogEvent,
	type ConsumerOptions,
} from '../../lib/triggers';
import { openStore, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for a condition (a loaded machine may take seconds to deliver); it asserts no speed. */
async function until(condition: () => boolean, timeoutMs = 20000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error('timed out waiting');
		await sleep(10);
	}
}

describe.each(topologies)('event-log consumer on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store } = ctx;
	const consumers: EventLogConsumer[] = [];
	let groupSeq = 0;
	const group = () => `g-${topology}-${++groupSeq}`;
	const consumer = (options: Partial<ConsumerOptions> & Pick<ConsumerOptions, 'handler' | 'group'>) => {
		const c = new EventLogConsumer(store, { blockMs: 500, ...options });
		consumers.push(c);
		return c;
	};
	afterEach(async () => {
		await Promise.all(consumers.splice(0).map((c) => c.stop()));
	});
	const record = (contactId: string, name: string, properties: object = {}) =>
		store.events.record([{ contactId, name, properties }]).then(([r]) => {
			if (!r.ok) throw r.error;
			return r.value;
		});

	// Latency ("within a second") is measured by `npm run bench trigger` (p50 / p99), not asserted here.
	it('delivers each recorded event, with its chain', async () => {
		const got: LogEvent[] = [];
		const c = consumer({
			group: group(),
			filter: compileFilter({ kind: 'event', names: ['lat_probe'] }),
			handler: async ([event]) => void got.push(event),
		});
		await c.start();
		for (let i = 0; i < 5; i++) {
			await store.events.record([
				{
					contactId: `lat-${i}`,
					name: 'lat_probe',
					properties: { i },
					chain: [{ workflowId: 'wf-A', executionId: '9' }],
				},
			]);
			await until(() => got.length === i + 1);
		}
		expect(got.map((e) => e.contactId)).toEqual(['lat-0', 'lat-1', 'lat-2', 'lat-3', 'lat-4']);
		expect(got[0]).toMatchObject({
			contactId: 'lat-0',
			name: 'lat_probe',
			properties: { i: 0 },
			chain: [{ workflowId: 'wf-A', executionId: '9' }],
		});
	});

	it('filters: event names and property conditions, tags, field changes, subscription, tiers', async () => {
		const seen: string[] = [];
		const filters = {
			ev: compileFilter({
				kind: 'event',
				names: ['checkout_*', 'signup'],
				conditions: [{ path: 'cart.total', operator: 'greaterThan', value: 50 }],
			}),
			tag: compileFilter({ kind: 'tagAdded', tags: ['vip'] }),
			field: compileFilter({ kind: 'fieldChanged', field: 'plan', to: 'pro' }),
			sub: compileFilter({ kind: 'subscriptionChanged', to: ['unsubscribed'] }),
		};
		const c = consumer({
			group: group(),
			filter: (e) => Object.values(filters).some((f) => f(e)),
			handler: async ([e]) => void seen.push(`${e.contactId}:${Object.entries(filters).find(([, f]) => f(e))![0]}`),
		});
		await c.start();
		await record('f1', 'checkout_started', { cart: { total: 80 } });
		await record('f1', 'checkout_started', { cart: { total: 20 } });
		await record('f2', 'signup', { cart: { total: '51' } });
		await record('f3', 'pageview', { cart: { total: 100 } });
		await store.contacts.upsert([{ id: 'f4', addTags: ['vip', 'other'], fields: { plan: 'free' } }]);
		await store.contacts.upsert([
			{ id: 'f4', fields: { plan: 'pro' }, subscription: { status: 'unsubscribed', source: 'link' } },
		]);
		await until(() => seen.length >= 5);
		await sleep(100);
		expect(seen.sort()).toEqual(['f1:ev', 'f2:ev', 'f4:field', 'f4:sub', 'f4:tag']);
		await store.events.recordSystem([
			{ contactId: 'f5', name: '$tier_changed', properties: { from: 'Engaged', to: 'Inactive' } },
		]);
		const tier = compileFilter({ kind: 'tierChanged', to: ['Inactive'] });
		expect((await latestMatching(store, tier))[0]).toMatchObject({ contactId: 'f5', properties: { to: 'Inactive' } });
	});

	it('catches up after downtime; "catch up" on a new group also reads the past; "now" does not', async () => {
		const name = `down_${topology}`;
		const filter = compileFilter({ kind: 'event', names: [name] });
		await record('before', name);
		const g = group();
		const first: string[] = [];
		const c1 = consumer({ group: g, filter, handler: async ([e]) => void first.push(e.contactId) });
		await c1.start();
		await record('live', name);
		await until(() => first.length === 1);
		await c1.stop();
		// "n8n is down": events keep coming.
		for (let i = 0; i < 20; i++) await record(`while-down-${i}`, name);
		const second: string[] = [];
		const c2 = consumer({ group: g, filter, handler: async ([e]) => void second.push(e.contactId) });
		await c2.start();
		await until(() => second.length === 20);
		expect(first).toEqual(['live']);
		expect(new Set(second).size).toBe(20);

		const fromStart: string[] = [];
		await consumer({
			group: group(),
			startFrom: 'catchUp',
			filter,
			handler: async ([e]) => void fromStart.push(e.contactId),
		}).start();
		await until(() => fromStart.length === 22);
		expect(fromStart).toContain('before');

		// "Start from now" with skipBacklog drops what was logged while the group was not consuming.
		const g3 = group();
		const c3 = consumer({ group: g3, filter, handler: async () => undefined });
		await c3.start();
		await c3.stop();
		await record('skipped', name);
		const fresh: string[] = [];
		await consumer({
			group: g3,
			startFrom: 'now',
			skipBacklog: true,
			filter,
			handler: async ([e]) => void fresh.push(e.contactId),
		}).start();
		await record('after', name);
		await until(() => fresh.length === 1);
		await sleep(100);
		expect(fresh).toEqual(['after']);
	});

	it('two consumers in one group (two n8n mains): every event handled exactly once', async () => {
		const name = `once_${topology}`;
		const filter = compileFilter({ kind: 'event', names: [name] });
		const g = group();
		const byConsumer: Record<string, string[]> = { a: [], b: [] };
		const slow =
			(who: string) =>
			async ([e]: LogEvent[]) => {
				byConsumer[who].push(e.contactId);
				await sleep(2);
			};
		await consumer({ group: g, filter, handler: slow('a') }).start();
		await consumer({ group: g, filter, handler: slow('b') }).start();
		const N = 300;
		await Promise.all(Array.from({ length: N }, (_, i) => record(`once-${i}`, name)));
		await until(() => byConsumer.a.length + byConsumer.b.length >= N);
		await sleep(300);
		const all = [...byConsumer.a, ...byConsumer.b];
		expect(all).toHaveLength(N);
		expect(new Set(all).size).toBe(N);
	});

	it('acknowledges only when the handler finished; a crash mid-execution re-delivers (reclaimed)', async () => {
		const name = `crash_${topology}`;
		const filter = compileFilter({ kind: 'event', names: [name] });
		const g = group();
		let release!: () => void;
		const started: string[] = [];
		const crashing = consumer({
			group: g,
			filter,
			claimIdleMs: 300,
			handler: async ([e]) => {
				started.push(e.contactId);
				await new Promise<void>((r) => (release = r));
			},
		});
		await crashing.start();
		await record('crash-1', name);
		await until(() => started.length === 1);
		const pending = async () =>
			((await store.call((r) => r.xpending(store.keys.log(store.keys.shardOfContact('crash-1')), g))) as [number])[0];
		expect(await pending()).toBe(1);
		// The process dies: no ack ever comes, and nothing of it keeps running.
		await crashing.stop();
		const redelivered: string[] = [];
		const rescuer = consumer({
			group: g,
			filter,
			claimIdleMs: 300,
			handler: async ([e]) => void redelivered.push(e.contactId),
		});
		await rescuer.start();
		await until(() => redelivered.length === 1);
		expect(redelivered).toEqual(['crash-1']);
		await until(() => rescuer.pendingHere === 0);
		await sleep(50);
		expect(await pending()).toBe(0);
		release();
	});

	it('an event whose handler keeps failing is retried, then given up after maxAttempts and reported (drop)', async () => {
		const name = `poison_${topology}`;
		const g = group();
		let attempts = 0;
		const errors: string[] = [];
		const c = consumer({
			group: g,
			filter: compileFilter({ kind: 'event', names: [name] }),
			claimIdleMs: 150,
			maxAttempts: 3,
			retryDelayMs: 20,
			onGiveUp: 'drop',
			onError: (e) => void errors.push(e.message),
			handler: async () => {
				attempts++;
				throw new Error('cannot start the execution');
			},
		});
		await c.start();
		await record('poison-1', name);
		await until(() => errors.some((m) => m.startsWith('Dropped: 1 event(s) after 3 failed attempts')));
		expect(attempts).toBe(3);
		const pending = (
			(await store.call((r) => r.xpending(store.keys.log(store.keys.shardOfContact('poison-1')), g))) as [number]
		)[0];
		expect(pending).toBe(0);
	});

	it('a long execution keeps its entry: the idle limit does not hand it to another consumer', async () => {
		const name = `long_${topology}`;
		const filter = compileFilter({ kind: 'event', names: [name] });
		const g = group();
		const handled: string[] = [];
		await consumer({
			group: g,
			filter,
			claimIdleMs: 200,
			handler: async ([e]) => {
				handled.push(`a:${e.contactId}`);
				await sleep(900);
			},
		}).start();
		await consumer({
			group: g,
			filter,
			claimIdleMs: 200,
			handler: async ([e]) => void handled.push(`b:${e.contactId}`),
		}).start();
		await record('long-1', name);
		await sleep(1300);
		expect(handled.filter((h) => h.endsWith('long-1'))).toHaveLength(1);
	});

	it('a consumer that stops with nothing pending leaves the group; one with pending entries stays until reclaimed', async () => {
		const name = `tidy_${topology}`;
		const g = group();
		let handled = false;
		const idle = consumer({
			group: g,
			filter: compileFilter({ kind: 'event', names: [name] }),
			handler: async () => void (handled = true),
		});
		await idle.start();
		await record('tidy-1', name);
		// Handled and acknowledged (a loaded machine may take a while), then stopped.
		await until(() => handled && idle.pendingHere === 0);
		await idle.stop();
		const shard = store.keys.shardOfContact('tidy-1');
		// XINFO's key is not where cluster clients look for one; read it on the standalone server only.
		if (topology === 'standalone') {
			const consumersLeft = (await store.call((r) => r.xinfo('CONSUMERS', store.keys.log(shard), g))) as unknown[];
			expect(consumersLeft).toHaveLength(0);
		}
		const stuck = consumer({
			group: g,
			filter: compileFilter({ kind: 'event', names: [name] }),
			handler: () => new Promise<void>(() => undefined),
		});
		await stuck.start();
		await record('tidy-1', name);
		await until(() => stuck.pendingHere === 1);
		await stuck.stop();
		if (topology === 'standalone') {
			const consumersLeft = (await store.call((r) => r.xinfo('CONSUMERS', store.keys.log(shard), g))) as unknown[];
			expect(consumersLeft).toHaveLength(1);
		}
	});

	it('batches: up to N events per call, waiting at most M ms', async () => {
		const name = `batch_${topology}`;
		const batches: number[] = [];
		await consumer({
			group: group(),
			filter: compileFilter({ kind: 'event', names: [name] }),
			batchSize: 10,
			maxWaitMs: 150,
			handler: async (events) => void batches.push(events.length),
		}).start();
		await Promise.all(Array.from({ length: 25 }, (_, i) => record(`b-${i}`, name)));
		await until(() => batches.reduce((a, b) => a + b, 0) === 25);
		expect(Math.max(...batches)).toBeLessThanOrEqual(10);
		expect(batches.length).toBeLessThanOrEqual(6);
		// A lone event goes out after the wait.
		const before = batches.length;
		const t0 = Date.now();
		await record('b-lone', name);
		await until(() => batches.length === before + 1);
		expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
	});

	it.each([
		[{ kind: 'event', names: [] }, 'eventNames'],
		[{ kind: 'event', names: ['x'], conditions: [{ path: '', operator: 'equals' }] }, 'conditions[0].path'],
		[{ kind: 'event', names: ['x'], conditions: [{ path: 'a', operator: 'like' }] }, 'conditions[0].operator'],
		[
			{ kind: 'event', names: ['x'], conditions: [{ path: 'a', operator: 'greaterThan', value: 'abc' }] },
			'conditions[0].value',
		],
		[{ kind: 'fieldChanged', field: '' }, 'field'],
		[{ kind: 'tagAdded', tags: 5 }, 'tags'],
		[{ kind: 'wat' }, 'mode'],
	])('rejects filter %p naming the field', (filter, field) => {
		expect(() => compileFilter(filter as never)).toThrow(expect.objectContaining({ field }));
	});
});
