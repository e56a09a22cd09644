import Redis, { Cluster } from 'ioredis';
import { acquireStore, closeAllStores, openStoreCount, setIdleCloseMs } from '../../lib/redis/pool';
import { StoreUnavailableError } from '../../lib/errors';
import type { RedisClient, StoreConfig } from '../../lib/redis/connection';
import { startCluster, startRedis, type RedisServer } from '../harness/redis';
import { storeConfig, topologies } from '../harness/store';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** "host:port" of the local ends of a pooled client's sockets (one per node on a cluster). */
function localAddresses(client: RedisClient): string[] {
	const nodes: Redis[] = client instanceof Cluster ? client.nodes('all') : [client as Redis];
	return nodes
		.map((node) => (node as unknown as { stream?: { localAddress?: string; localPort?: number } }).stream)
		.filter((s): s is { localAddress: string; localPort: number } => Boolean(s?.localPort))
		.map((s) => `${s.localAddress}:${s.localPort}`);
}

/** The addr= of every client connected to the given servers. */
async function serverSideAddresses(ports: number[]): Promise<string[]> {
	const all: string[] = [];
	for (const port of ports) {
		const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
		await admin.connect();
		const list = (await admin.client('LIST')) as string;
		all.push(...[...list.matchAll(/addr=(\S+)/g)].map((m) => m[1]));
		admin.disconnect();
	}
	return all;
}

describe('connection pool on a dedicated Redis', () => {
	let server: RedisServer;
	let config: StoreConfig;
	let admin: Redis;

	/** Connections on the server besides the admin's own. */
	const connections = async () => {
		const list = (await admin.client('LIST')) as string;
		return list
			.trim()
			.split('\n')
			.filter((line) => !line.includes('name=pool-test-admin')).length;
	};

	beforeAll(async () => {
		server = await startRedis();
		config = { host: '127.0.0.1', port: server.port, keyPrefix: 'pool:' };
		admin = new Redis({ port: server.port, host: '127.0.0.1', connectionName: 'pool-test-admin' });
	});
	afterEach(async () => {
		setIdleCloseMs(30_000);
		await closeAllStores();
	});
	afterAll(async () => {
		admin.disconnect();
		await server.stop();
	});

	it('shares one connection per credential across leases and executions', async () => {
		const leases = Array.from({ length: 5 }, () => acquireStore(config));
		expect(new Set(leases.map((l) => l.store)).size).toBe(1);
		await Promise.all(leases.map((l, n) => l.store.contacts.upsert([{ id: `p-${n}` }])));
		leases.forEach((l) => l.release());
		for (let execution = 0; execution < 50; execution++) {
			const lease = acquireStore(config);
			await lease.store.contacts.getOne('p-1');
			lease.release();
		}
		expect(await connections()).toBe(1);
		expect(openStoreCount()).toBe(1);
		const other = acquireStore({ ...config, keyPrefix: 'pool-other:' });
		await other.store.contacts.getOne('x');
		expect(await connections()).toBe(2);
		other.release();
	});

	it('closes the connection once idle, and leaves no socket on the server', async () => {
		setIdleCloseMs(150);
		const lease = acquireStore(config);
		await lease.store.redis.ping();
		expect(await connections()).toBe(1);
		lease.release();
		await sleep(500);
		expect(openStoreCount()).toBe(0);
		expect(await connections()).toBe(0);
	});

	it('keeps the connection while any lease is held, and reuses it when re-acquired in time', async () => {
		setIdleCloseMs(200);
		const a = acquireStore(config);
		const b = acquireStore(config);
		await a.store.redis.ping();
		a.release();
		a.release(); // releasing twice is harmless
		await sleep(350);
		expect(await connections()).toBe(1);
		b.release();
		await sleep(100);
		const c = acquireStore(config);
		expect(c.store).toBe(a.store);
		await sleep(250);
		expect(await connections()).toBe(1);
		c.release();
		await sleep(400);
		expect(await connections()).toBe(0);
	});

	it('fails within the wait bound with a clear error when Redis is not there, and closes cleanly', async () => {
		setIdleCloseMs(100);
		const lease = acquireStore({ host: '127.0.0.1', port: 1, keyPrefix: 'nowhere:', commandTimeoutMs: 1000 });
		const started = Date.now();
		const [result] = await lease.store.events.record([{ contactId: 'x', name: 'y' }]);
		expect(Date.now() - started).toBeLessThan(5000);
		expect(!result.ok && result.error).toBeInstanceOf(StoreUnavailableError);
		expect(!result.ok && result.error.message).toMatch(/^The contact store \(Redis\) could not be reached/);
		lease.release();
		await sleep(300);
		expect(openStoreCount()).toBe(0);
	});

	it('bounds the wait on a Redis Cluster that went away (commands wait in the cluster client, before any node has them)', async () => {
		const cluster = await startCluster();
		const lease = acquireStore({
			host: '127.0.0.1',
			port: cluster.nodes[0].port,
			clusterNodes: cluster.nodes.map((n) => `127.0.0.1:${n.port}`),
			keyPrefix: 'gone:',
			commandTimeoutMs: 1000,
		});
		try {
			expect((await lease.store.events.record([{ contactId: 'x', name: 'y' }]))[0].ok).toBe(true);
			await Promise.all(cluster.nodes.map((n) => n.kill()));
			const started = Date.now();
			const [result] = await lease.store.events.record([{ contactId: 'x', name: 'y' }]);
			expect(Date.now() - started).toBeLessThan(5000);
			expect(!result.ok && result.error).toBeInstanceOf(StoreUnavailableError);
			// Once the client knows every node is gone it queues commands itself, beyond commandTimeout.
			await sleep(500);
			const later = Date.now();
			const [queued] = await lease.store.events.record([{ contactId: 'x', name: 'y' }]);
			expect(Date.now() - later).toBeLessThan(5000);
			expect(!queued.ok && queued.error).toBeInstanceOf(StoreUnavailableError);
		} finally {
			lease.release();
			await cluster.stop();
		}
	}, 60_000);
});

describe.each(topologies)('pooled sockets on the shared %s Redis', (topology) => {
	afterAll(() => setIdleCloseMs(30_000));

	it('are all gone from the server after release and idle', async () => {
		setIdleCloseMs(150);
		const config = storeConfig(topology);
		const lease = acquireStore(config);
		await lease.store.contacts.upsert(Array.from({ length: 32 }, (_, n) => ({ id: `spread-${n}` })));
		const mine = localAddresses(lease.store.redis);
		expect(mine.length).toBeGreaterThanOrEqual(1);
		const ports = config.clusterNodes ? config.clusterNodes.map((n) => Number(n.split(':')[1])) : [config.port];
		expect((await serverSideAddresses(ports)).filter((a) => mine.includes(a)).length).toBe(mine.length);
		lease.release();
		await sleep(600);
		expect((await serverSideAddresses(ports)).filter((a) => mine.includes(a))).toEqual([]);
	});
});
