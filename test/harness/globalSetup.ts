import { startCluster, startRedis } from './redis';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildScripts } = require('../../scripts/build-lua.js');

/** One standalone Redis and one 3-master cluster for the whole run; suites use their own prefixes. */
export default async function globalSetup(): Promise<void> {
	// lib imports the scripts module built from the Lua files: a fresh clone has none yet.
	buildScripts();
	const standalone = await startRedis();
	const cluster = process.env.MA_SKIP_CLUSTER ? undefined : await startCluster();
	process.env.MA_TEST_REDIS_PORT = String(standalone.port);
	if (cluster) process.env.MA_TEST_CLUSTER_PORTS = cluster.nodes.map((n) => n.port).join(',');
	(globalThis as Record<string, unknown>).__MA_REDIS__ = { standalone, cluster };
}
