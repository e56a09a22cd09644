import { randomUUID } from 'crypto';
import { acquireStore, type StoreLease } from '../../lib/redis/pool';
import type { StoreConfig } from '../../lib/redis/connection';
import type { StoreOptions } from '../../lib/store';
import * as scripts from '../../lib/redis/scripts';

export type Topology = 'standalone' | 'cluster';

/** Topologies the current run has: the cluster is skipped with MA_SKIP_CLUSTER=1. */
export const topologies: Topology[] = process.env.MA_TEST_CLUSTER_PORTS ? ['standalone', 'cluster'] : ['standalone'];

export function storeConfig(topology: Topology = 'standalone', prefix = `t${randomUUID().slice(0, 8)}:`): StoreConfig {
	if (topology === 'cluster') {
		const ports = (process.env.MA_TEST_CLUSTER_PORTS ?? '').split(',');
		return {
			host: '127.0.0.1',
			port: Number(ports[0]),
			clusterNodes: ports.map((p) => `127.0.0.1:${p}`),
			keyPrefix: prefix,
		};
	}
	return { host: '127.0.0.1', port: Number(process.env.MA_TEST_REDIS_PORT), keyPrefix: prefix };
}

/** A clock the test moves by hand. */
export class TestClock {
	constructor(public ms = Date.UTC(2026, 0, 15, 12, 0, 0)) {}
	now = () => this.ms;
	advance(ms: number) {
		this.ms += ms;
	}
}

/** A fresh workspace (prefix) on the given topology, with a test clock. */
export function openStore(
	topology: Topology = 'standalone',
	options: StoreOptions = {},
): StoreLease & { clock: TestClock; config: StoreConfig } {
	const clock = new TestClock();
	const config = storeConfig(topology);
	const lease = acquireStore(config, { now: clock.now, ...options });
	return { ...lease, clock, config };
}

/**
 * Runs `run` and returns, for each script call it made (lib/redis/scripts runScript), how many
 * earlier calls had answered when it was sent: all zeros means one round trip.
 */
export async function scriptCalls(run: () => Promise<void>): Promise<number[]> {
	const answeredBefore: number[] = [];
	let answered = 0;
	const original = scripts.runScript;
	const spy = jest.spyOn(scripts, 'runScript').mockImplementation((...args) => {
		answeredBefore.push(answered);
		return original(...args).finally(() => answered++);
	});
	try {
		await run();
		return answeredBefore;
	} finally {
		spy.mockRestore();
	}
}
