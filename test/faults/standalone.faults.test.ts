/**
 * Faults on a single Redis (AOF on) under a real n8n, while a sender streams signup events to the
 * pack's event endpoint and the recipe Contact Trigger -> Send Campaign mails each contact once:
 * kill -9 of n8n, kill -9 of Redis (once, and in 2-second blips), the network to Redis cut through a
 * TCP proxy, and n8n restarted with a backlog. Each case counts per contact, at the SMTP sink and in
 * Redis: 0 lost, 0 duplicated; it prints the counts and n8n's peak RSS.
 *
 * Redis runs with appendonly yes, appendfsync everysec (Redis's recommended production setting):
 * kill -9 ends the process, not the machine, and whatever Redis wrote to the AOF before answering is
 * in the page cache and read back on restart; `always` only adds safety against a machine crash.
 */
import { startRedis, type RedisServer } from '../harness/redis';
import { startTcpProxy, type TcpProxy } from '../harness/tcpProxy';
import {
	deliveredOnce,
	delivery,
	executionStatuses,
	log,
	n8n,
	outcome,
	report,
	sampleRss,
	signups,
	sleep,
	startFaultEnv,
	waitForTrigger,
	type FaultEnv,
	type Pair,
} from './env';
import { streamEvents, whenAccepted, type SenderStats } from './sender';

let redis: RedisServer;
let proxy: TcpProxy;
let env: FaultEnv;

beforeAll(async () => {
	redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'everysec']);
	proxy = await startTcpProxy({ port: redis.port });
	const direct = { port: redis.port };
	env = await startFaultEnv([
		{ name: 'killn8n', redis: direct },
		{ name: 'killredis', redis: direct },
		{ name: 'blips', redis: direct },
		{ name: 'proxy', redis: { port: proxy.port } },
		{ name: 'backlog', redis: direct },
	]);
}, 600_000);

afterAll(async () => {
	await env?.stop();
	await proxy?.close();
	await redis?.stop();
});

const eventsUrl = (pair: Pair) => `${env.baseUrl}/webhook/${pair.eventsPath}`;

/**
 * Streams `count` signups to a pair's endpoint while `fault` runs, waits for the outcome, prints
 * it and asserts 0 lost, 0 duplicated, nothing given up by the sender (delivery(): where the fault
 * kills n8n, a mail sent again by a killed execution is allowed, at least once).
 */
async function runCase(
	caseName: string,
	pair: Pair,
	count: number,
	fault: (stats: SenderStats, done: Promise<SenderStats>) => Promise<string | void>,
	{ rate = 20, n8nKilled = false } = {},
) {
	const rss = sampleRss(env.userFolder);
	const started = Date.now();
	const { stats, done } = streamEvents(eventsUrl(pair), signups(pair.name, count), {
		concurrency: 4,
		ratePerSecond: rate,
	});
	const note = await fault(stats, done);
	await done;
	const o = await outcome(pair, env.smtp, stats.accepted);
	const peakRssMb = rss.stop();
	const executions = await executionStatuses(env, pair.welcomeId);
	report(caseName, o, {
		sender: stats,
		peakRssMb,
		executions,
		note: `${note ? `${note}; ` : ''}${((Date.now() - started) / 1000).toFixed(0)} s`,
	});
	expect(delivery(o, stats, { n8nKilled, executions })).toEqual(deliveredOnce(count));
}

describe('faults under a real n8n on one Redis (AOF on)', () => {
	it('1. kill -9 of n8n mid-stream, then a restart: every event recorded and sent once, a mail sent again only from a killed execution', async () => {
		await runCase(
			'kill -9 n8n',
			env.pairs.killn8n,
			300,
			async (stats, done) => {
				await whenAccepted(stats, 100, done);
				await env.killN8n();
				const at = stats.accepted.length;
				await sleep(1000);
				const t0 = Date.now();
				await env.startN8n();
				return `killed after ${at} accepted, n8n back in ${((Date.now() - t0) / 1000).toFixed(0)} s`;
			},
			{ n8nKilled: true },
		);
	});

	it('2a. kill -9 of Redis once (down 3 s), restarted from its AOF: every event processed exactly once', async () => {
		await runCase('kill -9 Redis once', env.pairs.killredis, 300, async (stats, done) => {
			await whenAccepted(stats, 100, done);
			await redis.kill();
			await sleep(3000);
			await redis.restart();
		});
	});

	it('2b. Redis killed (kill -9) and restarted in 2-second blips, three times: every event processed exactly once', async () => {
		await runCase('Redis 2-s blips x3', env.pairs.blips, 300, async (stats, done) => {
			await whenAccepted(stats, 50, done);
			for (let blip = 0; blip < 3; blip++) {
				await redis.kill();
				await sleep(2000);
				await redis.restart();
				await sleep(2000);
			}
		});
	});

	it('4. the network to Redis cut for 4 s twice (bytes held, then connections reset and refused): every event processed exactly once', async () => {
		await runCase('network cut (TCP proxy)', env.pairs.proxy, 300, async (stats, done) => {
			await whenAccepted(stats, 60, done);
			// A partition: open connections hang, new ones are refused.
			proxy.pause();
			proxy.refuseNew(true);
			await sleep(4000);
			proxy.refuseNew(false);
			proxy.resume();
			await whenAccepted(stats, 180, done);
			// The connections reset, and none possible for 4 s.
			proxy.refuseNew(true);
			proxy.dropConnections();
			await sleep(4000);
			proxy.refuseNew(false);
		});
	});

	it('5. n8n restarted with a backlog of 2,000 events: drained exactly once, peak RSS printed', async () => {
		const pair = env.pairs.backlog;
		const count = 2000;
		// The welcome workflow is off while the events arrive; they wait in the event log.
		await n8n.unpublishWorkflowRest(env.baseUrl, env.cookie, pair.welcomeId);
		const { stats, done } = streamEvents(eventsUrl(pair), signups(pair.name, count), { concurrency: 8 });
		await done;
		expect(stats.accepted).toHaveLength(count);
		await env.stopN8n();
		n8n.publishWorkflow(env.userFolder, pair.welcomeId);
		const rss = sampleRss(env.userFolder);
		const t0 = Date.now();
		await env.startN8n();
		await waitForTrigger(pair);
		const startedIn = Date.now() - t0;
		const o = await outcome(pair, env.smtp, stats.accepted);
		const drainedIn = Date.now() - t0;
		const peakRssMb = rss.stop();
		report(`restart with a backlog of ${count}`, o, {
			sender: stats,
			peakRssMb,
			executions: await executionStatuses(env, pair.welcomeId),
			note: `n8n started in ${(startedIn / 1000).toFixed(0)} s, backlog drained ${(drainedIn / 1000).toFixed(0)} s after the start`,
		});
		expect(delivery(o, stats)).toEqual(deliveredOnce(count));
	});
});

afterAll(() => log('done'));
