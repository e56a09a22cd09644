import { spawn, type ChildProcess } from 'child_process';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import Redis from 'ioredis';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { StoreUnavailableError } from '../../lib/errors';
import { compileFilter, EventLogConsumer } from '../../lib/triggers';
import { freePort } from '../../tools/ports';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A redis-server that syncs every write to its append-only file, so a crash loses no acknowledged write. */
class DurableRedis {
	process?: ChildProcess;
	constructor(
		readonly port: number,
		readonly dir: string,
	) {}

	async start(): Promise<void> {
		this.process = spawn(
			'redis-server',
			[
				'--port',
				String(this.port),
				'--bind',
				'127.0.0.1',
				'--dir',
				this.dir,
				'--save',
				'',
				'--appendonly',
				'yes',
				'--appendfsync',
				'always',
			],
			{ stdio: 'ignore' },
		);
		for (let i = 0; i < 200; i++) {
			const probe = new Redis({
				port: this.port,
				lazyConnect: true,
				maxRetriesPerRequest: 0,
				retryStrategy: () => null,
			});
			probe.on('error', () => undefined);
			try {
				await probe.connect();
				if ((await probe.info('persistence')).includes('loading:0')) return probe.disconnect();
			} catch {
				/* not up yet */
			}
			probe.disconnect();
			await sleep(50);
		}
		throw new Error('redis-server did not start');
	}

	get running(): boolean {
		return Boolean(this.process && this.process.exitCode === null && this.process.signalCode === null);
	}

	/** Dies like a crash: no shutdown, no final save. */
	async crash(): Promise<void> {
		const child = this.process;
		if (!child || child.exitCode !== null || child.signalCode !== null) return;
		await new Promise<void>((resolve) => {
			child.once('exit', () => resolve());
			child.kill('SIGKILL');
		});
	}
}

describe('Redis going away in the middle of a batch', () => {
	let server: DurableRedis;
	let dir: string;

	beforeAll(async () => {
		dir = mkdtempSync(join(tmpdir(), 'ma-crash-'));
		server = new DurableRedis(await freePort(), dir);
		await server.start();
	});
	// A test that failed while Redis was down leaves it up for the next one.
	afterEach(async () => {
		if (!server.running) await server.start();
	});
	afterAll(async () => {
		await closeAllStores();
		await server.crash();
		rmSync(dir, { recursive: true, force: true });
	});

	it('fails the unfinished items with StoreUnavailableError and corrupts nothing already stored', async () => {
		const lease = acquireStore({ host: '127.0.0.1', port: server.port, keyPrefix: 'crash:' });
		const { store } = lease;
		const contacts = Array.from({ length: 40 }, (_, n) => `c-${n}`);
		await store.contacts.upsert(
			contacts.map((id, n) => ({ id, email: `${id}@example.com`, fields: { n, note: 'before' }, addTags: ['old'] })),
		);
		const before = await store.contacts.get(contacts);

		// 4 rounds of 40 contacts x 60 events; Redis is killed while the batch is being applied.
		const batch = Array.from({ length: 9600 }, (_, n) => ({
			contactId: contacts[n % 40],
			name: `e${n % 4}`,
			properties: { n },
		}));
		const watcher = new Redis({ port: server.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
		watcher.on('error', () => undefined);
		const startCount = Number(/total_commands_processed:(\d+)/.exec(await watcher.info('stats'))?.[1]);
		const running = store.events.record(batch);
		for (;;) {
			const processed = Number(
				/total_commands_processed:(\d+)/.exec(await watcher.info('stats').catch(() => ''))?.[1] ?? 0,
			);
			if (processed - startCount > 1500) break;
			await sleep(1);
		}
		await server.crash();
		watcher.disconnect();
		const results = await running;

		const ok = results.filter((r) => r.ok).length;
		const failed = results.filter((r) => !r.ok);
		expect(ok).toBeGreaterThan(0);
		expect(failed.length).toBeGreaterThan(0);
		for (const r of failed) {
			const error = (r as { error: Error }).error;
			expect(error).toBeInstanceOf(StoreUnavailableError);
			expect(error.message).toMatch(/^The contact store \(Redis\) could not be reached: /);
		}

		await server.start();
		// The pooled client reconnects by itself; every contact is whole and consistent.
		const after = await store.contacts.get(contacts);
		for (const [i, id] of contacts.entries()) {
			const was = (before[i] as { value: { fields: object; tags: string[]; email: string } }).value;
			const now = (after[i] as { ok: true; value: Awaited<ReturnType<typeof store.contacts.getOne>> }).value;
			expect(now).not.toBeNull();
			expect(now?.fields).toEqual(was.fields);
			expect(now?.tags).toEqual(was.tags);
			expect(await store.contacts.idForEmail(was.email)).toBe(id);
			// Each event script ran completely or not at all: counters, time index and log agree.
			for (const name of ['e0', 'e1', 'e2', 'e3']) {
				const counted = now?.events[name]?.count ?? 0;
				expect(await store.events.countSince(id, name, 0)).toBe(counted);
			}
		}
		// Every event is stored at most once (each has its own n): a call that Redis ran before it died,
		// and that the client sent again on reconnection, answered from its replay guard and wrote
		// nothing twice. Every item reported as recorded is there (the file was synced before Redis
		// answered).
		const times = new Map<number, number>();
		for (const id of contacts) {
			const stored = await store.call((r) => r.hvals(store.keys.contactKey(id, 'eventProperties')));
			for (const props of stored) {
				const { n } = JSON.parse(props) as { n?: number };
				if (n !== undefined) times.set(n, (times.get(n) ?? 0) + 1);
			}
		}
		expect([...times].filter(([, count]) => count > 1)).toEqual([]);
		const recorded = results.flatMap((r, index) => (r.ok ? [batch[index].properties.n] : []));
		expect(recorded.filter((n) => !times.has(n))).toEqual([]);
		expect(times.size).toBeLessThanOrEqual(batch.length);

		// And it works again.
		const [again] = await store.events.record([{ contactId: 'c-0', name: 'after-restart' }]);
		expect(again.ok).toBe(true);
		lease.release();
	}, 60_000);

	it('commands issued during a 2 s blip wait for the reconnection and succeed; the trigger reads on by itself', async () => {
		const lease = acquireStore({ host: '127.0.0.1', port: server.port, keyPrefix: 'blip:' });
		const { store } = lease;
		const got: string[] = [];
		const consumer = new EventLogConsumer(store, {
			group: 'blip',
			blockMs: 500,
			filter: compileFilter({ kind: 'event', names: ['blip'] }),
			handler: async ([e]) => void got.push(e.contactId),
		});
		await consumer.start();
		const until = async (what: () => boolean) => {
			for (let i = 0; i < 600 && !what(); i++) await sleep(50);
			expect(what()).toBe(true);
		};
		try {
			await store.events.record([{ contactId: 'before', name: 'blip' }]);
			await until(() => got.includes('before'));
			await server.crash();
			const during = Promise.all(
				Array.from({ length: 20 }, (_, i) => store.events.record([{ contactId: `during-${i}`, name: 'blip' }])),
			);
			await sleep(2000);
			await server.start();
			const results = (await during).flat();
			expect(results.filter((r) => !r.ok).map((r) => (r as { error: Error }).error.message)).toEqual([]);
			await store.events.record([{ contactId: 'after', name: 'blip' }]);
			await until(() => got.length === 22);
			expect(got.sort()).toEqual(['after', 'before', ...Array.from({ length: 20 }, (_, i) => `during-${i}`)].sort());
		} finally {
			await consumer.stop();
			lease.release();
		}
	}, 60_000);

	it('a longer outage fails each command with StoreUnavailableError once the wait bound has passed', async () => {
		const lease = acquireStore({ host: '127.0.0.1', port: server.port, keyPrefix: 'long:', commandTimeoutMs: 1500 });
		const { store } = lease;
		try {
			expect((await store.contacts.upsert([{ id: 'x' }]))[0].ok).toBe(true);
			await server.crash();
			const t0 = Date.now();
			const [result] = await store.contacts.get(['x']);
			const waited = Date.now() - t0;
			expect(result.ok).toBe(false);
			const error = (result as { error: Error }).error;
			expect(error).toBeInstanceOf(StoreUnavailableError);
			expect(error.message).toMatch(/^The contact store \(Redis\) could not be reached: it did not answer in time/);
			// It waited for the reconnection up to the bound, not less (no early give-up) and not forever.
			expect(waited).toBeGreaterThanOrEqual(1400);
			expect(waited).toBeLessThan(10_000);
			await server.start();
			expect((await store.contacts.get(['x']))[0].ok).toBe(true);
		} finally {
			lease.release();
		}
	}, 60_000);
});
