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
const storeConfig = () => ({
	host: '127.0.0.1',
	port: cluster.nodes[0].port,
	clusterNodes: cluster.nodes.map((n) => `127.0.0.1:${n.port}`),
	keyPrefix: 'failover:',
});

beforeAll(async () => {
	cluster = await startCluster({ replicas: 1 });
	lease = acquireStore(storeConfig());
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
	it('sends a redirected command again at once a few times, then after growing waits, and fails it with a store error after the wait bound', async () => {
		const quick = acquireStore({ ...storeConfig(), slotMoveWaitMs: 1000 });
		try {
			const sentAt: number[] = [];
			const moved = quick.store.call(() => {
				sentAt.push(Date.now());
				return Promise.reject(new ReplyError('MOVED 3999 127.0.0.1:1'));
			});
			await expect(moved).rejects.toBeInstanceOf(StoreUnavailableError);
			await expect(moved).rejects.toThrow(
				/^The contact store \(Redis Cluster\) kept redirecting this command to another node for 0\.\d s, longer than the pack waits \(1 s\): .*; nothing of it was written, retry it$/,
			);
			// After the first REDIRECT_RETRIES resends, each waits 0.1, 0.2, 0.4 s... while that stays within 1 s.
			const waits = sentAt.slice(1 + REDIRECT_RETRIES).map((at, k) => at - sentAt[REDIRECT_RETRIES + k]);
			expect(waits.length).toBeGreaterThanOrEqual(2);
			waits.forEach((wait, k) => expect(wait).toBeGreaterThanOrEqual(100 * 2 ** k));
			expect(sentAt[sentAt.length - 1] - sentAt[0]).toBeLessThan(1000);
		} finally {
			quick.release();
		}
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
