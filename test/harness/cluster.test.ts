/** The Redis Cluster harness with replicas (redis.ts), as the fault suite uses it for failover. */
import { clusterRoles, startCluster, waitForPromotion } from './redis';

describe('Redis Cluster harness with replicas', () => {
	it('3 masters + 3 replicas; kill -9 of a master: its replica takes over its slots', async () => {
		const cluster = await startCluster({ replicas: 1 });
		try {
			const roles = clusterRoles(cluster.nodes[0].port);
			const masters = roles.filter((r) => r.role === 'master');
			expect(masters.map((m) => m.slots).reduce((a, b) => a + b)).toBe(16384);
			expect(masters).toHaveLength(3);
			const replicas = roles.filter((r) => r.role === 'replica');
			expect(new Set(replicas.map((r) => r.masterPort))).toEqual(new Set(masters.map((m) => m.port)));

			const victim = masters[0];
			const heir = replicas.find((r) => r.masterPort === victim.port)!;
			await cluster.nodes.find((n) => n.port === victim.port)!.kill();
			await waitForPromotion(heir.port);
			expect(clusterRoles(heir.port).find((r) => r.port === heir.port)?.slots).toBe(victim.slots);
		} finally {
			await cluster.stop();
		}
	}, 60_000);
});
