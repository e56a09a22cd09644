/**
 * Commands through the pack's client right after a Redis Cluster failover: a master killed with
 * kill -9, its replica promoted, then many concurrent single commands (auto-pipelined by ioredis)
 * on keys spread across the cluster's slots. Each must answer, none fail with MOVED.
 */
import { clusterRoles, startCluster, waitForPromotion, waitForReplication, type RedisCluster } from '../harness/redis';
import { acquireStore, closeAllStores, type StoreLease } from '../../lib/redis/pool';
import { scripts } from '../../lib/redis/scripts';
import { Campaigns } from '../../lib/campaigns';
import { REDIRECT_RETRIES, toStoreError } from '../../lib/redis/connection';
import { StoreUnavailableError } from '../../lib/errors';
import { ReplyError } from 'ioredis';

let cluster: RedisCluster;
let lease: StoreLease;

beforeAll(async () => {
	cluster = await startCluster({ replicas: 1 });
	lease = acquireStore({
		host: '127.0.0.1',
		port: cluster.nodes[0].port,
		clusterNodes: cluster.nodes.map((n) => `127.0.0.1:${n.port}`),
		keyPrefix: 'failover:',
	});
}, 60_000);

afterAll(async () => {
	lease?.release();
	await closeAllStores();
	await cluster?.stop();
});

const KEYS = 300;
/** Keys of their own slots (about a third on each master), unlike contact keys, which share 16. */
const spreadKey = (n: number) => `${lease.store.keys.prefix}spread:${n}`;

/** One round: concurrent reads, a few writes and script calls, all auto-pipelined; the errors seen. */
async function round(tag: string): Promise<string[]> {
	const { store } = lease;
	const campaigns = new Campaigns(store);
	const calls: Array<Promise<unknown>> = [
		...Array.from({ length: KEYS }, (_, n) =>
			store.call((r) => r.hget(spreadKey(n), 'v')).then((v) => v === String(n) || `read ${n}: ${v}`),
		),
		...Array.from({ length: 20 }, (_, n) =>
			store.call((r) => r.hset(spreadKey(n), tag, '1')).then((added) => added === 1 || `write ${n}: ${added}`),
		),
		...Array.from({ length: 20 }, (_, n) =>
			store
				.run(
					scripts.readScore,
					[store.keys.contact(`c${n}`), store.keys.shard(store.keys.shardOfContact(`c${n}`))],
					['model'],
				)
				.then((v) => v === null || `script ${n}: ${v}`),
		),
		// As the fault suite counts its sends (test/faults/env.ts outcome).
		...Array.from({ length: 50 }, (_, n) =>
			campaigns.sendRecord(`c${n}`, 'welcome').then((v) => v === null || `sendRecord ${n}: ${JSON.stringify(v)}`),
		),
	];
	const settled = await Promise.allSettled(calls);
	return settled.flatMap((s) =>
		s.status === 'rejected'
			? [`${(s.reason as Error).name}: ${(s.reason as Error).message}`]
			: s.value === true
				? []
				: [String(s.value)],
	);
}

describe('a Redis Cluster failover under the pack client', () => {
	it('sends a redirected command again a bounded number of times, then fails it with a store error', async () => {
		let sent = 0;
		const moved = lease.store.call(() => {
			sent++;
			return Promise.reject(new ReplyError('MOVED 3999 127.0.0.1:1'));
		});
		await expect(moved).rejects.toBeInstanceOf(StoreUnavailableError);
		await expect(moved).rejects.toThrow(/kept redirecting this command .*; retry it/);
		expect(sent).toBe(1 + REDIRECT_RETRIES);
	});

	it('sends again a command of an auto-pipeline ioredis refused because the slot map changed under it', async () => {
		let sent = 0;
		const split = 'All keys in the pipeline should belong to the same slots allocation group';
		const answer = await lease.store.call(() =>
			++sent < 3 ? Promise.reject(new Error(split)) : Promise.resolve('ok'),
		);
		expect([answer, sent]).toEqual(['ok', 3]);
		const refused = lease.store.call(() => Promise.reject(new Error(split)));
		await expect(refused).rejects.toBeInstanceOf(StoreUnavailableError);
	});

	it('maps a redirect or CLUSTERDOWN ioredis gave up on (maxRedirections) to a store error', () => {
		const gaveUp = new Error('Too many Cluster redirections. Last error: ReplyError: ASK 3999 127.0.0.1:1');
		expect(toStoreError(gaveUp)).toBeInstanceOf(StoreUnavailableError);
		expect(toStoreError(new ReplyError('MOVED 3999 127.0.0.1:1'))).toBeInstanceOf(StoreUnavailableError);
		// Seen in the fault suite when the promotion took longer than ioredis's retries on CLUSTERDOWN.
		const down = toStoreError(
			new Error('Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down'),
		);
		expect(down).toBeInstanceOf(StoreUnavailableError);
		expect((down as Error).message).toMatch(/^The contact store \(Redis Cluster\) is down/);
	});

	it('answers every auto-pipelined command right after the replica takes over (no MOVED)', async () => {
		const { store } = lease;
		await Promise.all(Array.from({ length: KEYS }, (_, n) => store.call((r) => r.hset(spreadKey(n), 'v', String(n)))));
		expect(await round('before')).toEqual([]);

		const roles = clusterRoles(cluster.nodes[0].port);
		const victim = roles.find((r) => r.role === 'master' && r.port !== cluster.nodes[0].port)!;
		const heir = roles.find((r) => r.role === 'replica' && r.masterPort === victim.port)!;
		await waitForReplication(victim.port, heir.port);
		await cluster.nodes.find((n) => n.port === victim.port)!.kill();
		await waitForPromotion(heir.port);

		const errors: string[] = [];
		for (let k = 0; k < 3; k++) errors.push(...(await round(`after${k}`)));
		expect(errors).toEqual([]);
	}, 60_000);
});
