/**
 * kill -9 of one Redis Cluster master while events stream in, under a real n8n whose contact store
 * is a 3-master + 3-replica cluster: the master's replica takes over its slots (cluster-node-timeout
 * 2 s), and every event is still processed exactly once, counted per contact at the SMTP sink and
 * in Redis.
 */
import { clusterRoles, startCluster, waitForPromotion, type RedisCluster } from '../harness/redis';
import {
	deliveredOnce,
	delivery,
	executionStatuses,
	outcome,
	report,
	sampleRss,
	signups,
	startFaultEnv,
	type FaultEnv,
} from './env';
import { streamEvents, whenAccepted } from './sender';

let cluster: RedisCluster;
let env: FaultEnv;

beforeAll(async () => {
	cluster = await startCluster({ replicas: 1 });
	const clusterNodes = cluster.nodes.map((n) => `127.0.0.1:${n.port}`);
	env = await startFaultEnv([{ name: 'cluster', redis: { port: cluster.nodes[0].port, clusterNodes } }]);
}, 600_000);

afterAll(async () => {
	await env?.stop();
	await cluster?.stop();
});

describe('faults under a real n8n on a Redis Cluster with replicas', () => {
	it('3. kill -9 of one master, its replica takes over: every event processed exactly once', async () => {
		const pair = env.pairs.cluster;
		const count = 300;
		const rss = sampleRss(env.userFolder);
		const t0 = Date.now();
		const { stats, done } = streamEvents(`${env.baseUrl}/webhook/${pair.eventsPath}`, signups(pair.name, count), {
			concurrency: 4,
			ratePerSecond: 20,
		});
		await whenAccepted(stats, 100, done);
		const roles = clusterRoles(cluster.nodes[0].port);
		// Not the node n8n was given as its first contact point: that one stays up.
		const victim = roles.find((r) => r.role === 'master' && r.port !== cluster.nodes[0].port)!;
		const heir = roles.find((r) => r.role === 'replica' && r.masterPort === victim.port)!;
		await cluster.nodes.find((n) => n.port === victim.port)!.kill();
		const failoverMs = await waitForPromotion(heir.port);
		await done;
		const o = await outcome(pair, env.smtp, stats.accepted);
		report('kill -9 of a cluster master', o, {
			sender: stats,
			peakRssMb: rss.stop(),
			executions: await executionStatuses(env, pair.welcomeId),
			note: `master :${victim.port} killed, replica :${heir.port} serving after ${failoverMs} ms; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
		});
		expect(delivery(o, stats)).toEqual(deliveredOnce(count));
	});
});
