/** The Redis Cluster harness with replicas (redis.ts), as the fault suite uses it for failover. */
import { spawnSync } from 'child_process';
import { clusterRoles, startCluster } from './redis';

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
			const deadline = Date.now() + 30_000;
			for (;;) {
				const now = clusterRoles(heir.port).find((r) => r.port === heir.port);
				const ok = spawnSync('redis-cli', ['-p', String(heir.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout.includes('cluster_state:ok');
				if (now?.role === 'master' && now.slots === victim.slots && ok) break;
				if (Date.now() > deadline) throw new Error(`replica :${heir.port} did not take over from :${victim.port}`);
				await new Promise((r) => setTimeout(r, 200));
			}
		} finally {
			await cluster.stop();
		}
	}, 60_000);
});
