/**
 * A stress variant of case 1 of standalone.faults.test.ts, run on demand only: n8n killed (kill -9
 * of its process group) many times in one stream with many events in flight, to reproduce a rare
 * loss faster. MA_FAULTS_KILLS=<kills> turns it on (skipped otherwise); MA_FAULTS_KILL_EVERY
 * (accepted events between kills, default 120), MA_FAULTS_CONCURRENCY (default 24),
 * MA_FAULTS_RATE (events started per second, default unbounded) and MA_FAULTS_EVENTS (default
 * 1500) shape it. Run alone:
 *   MA_FAULTS_KILLS=8 nice -n 10 npx jest -c jest.faults.config.js test/faults/killstress
 * Prints the outcome with the evidence of lost or duplicated contacts.
 */
import { startRedis, type RedisServer } from '../harness/redis';
import {
	deliveredOnce,
	delivery,
	executionStatuses,
	log,
	outcome,
	report,
	sampleRss,
	signups,
	sleep,
	startFaultEnv,
	type FaultEnv,
} from './env';
import { streamEvents, whenAccepted } from './sender';

const kills = Number(process.env.MA_FAULTS_KILLS ?? 0);
const killEvery = Number(process.env.MA_FAULTS_KILL_EVERY ?? 120);
const concurrency = Number(process.env.MA_FAULTS_CONCURRENCY ?? 24);
const count = Number(process.env.MA_FAULTS_EVENTS ?? 1500);
const rate = process.env.MA_FAULTS_RATE ? Number(process.env.MA_FAULTS_RATE) : undefined;

let redis: RedisServer;
let env: FaultEnv;

(kills > 0 ? describe : describe.skip)('n8n killed many times mid-stream (stress)', () => {
	beforeAll(async () => {
		redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'everysec']);
		env = await startFaultEnv([{ name: 'stress', redis: { port: redis.port } }]);
	}, 600_000);

	afterAll(async () => {
		await env?.stop();
		await redis?.stop();
	});

	it(`kill -9 of n8n ${kills} times, every ${killEvery} accepted events: every event processed exactly once`, async () => {
		const pair = env.pairs.stress;
		const rss = sampleRss(env.userFolder);
		const started = Date.now();
		const { stats, done } = streamEvents(`${env.baseUrl}/webhook/${pair.eventsPath}`, signups(pair.name, count), {
			concurrency,
			ratePerSecond: rate,
		});
		const notes: string[] = [];
		for (let k = 1; k <= kills; k++) {
			await whenAccepted(stats, k * killEvery, done);
			if (stats.accepted.length >= count) break;
			await env.killN8n();
			const at = stats.accepted.length;
			await sleep(200 + Math.random() * 1000);
			const t0 = Date.now();
			await env.startN8n();
			notes.push(`${at}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
			log(`kill ${k} after ${at} accepted, n8n back in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
		}
		await done;
		// Entries a killed n8n held come back after the 60 s claim timeout, then as fast as they run.
		const o = await outcome(pair, env.smtp, stats.accepted, { capMs: 1_200_000 });
		const executions = await executionStatuses(env, pair.welcomeId);
		report(`kill -9 n8n x${notes.length}`, o, {
			sender: stats,
			peakRssMb: rss.stop(),
			executions,
			note: `kills after (accepted: restart) ${notes.join(', ')}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
		});
		expect(delivery(o, stats, { n8nKilled: true, executions })).toEqual(deliveredOnce(count));
	});
});
