// Contact Trigger latency, lib level: event recorded (store.events.record) -> consumer handler, at a
// steady 1,000 events/s, p50 / p99. Baselines in the same run: the Redis round trip (the floor) and
// a consumer that polls the log once a second instead of blocking on it.
import { acquireStore, closeAllStores } from '../lib/redis/pool';
import { compileFilter, EventLogConsumer } from '../lib/triggers';
import { SHARD_COUNT } from '../lib/keys';
import { startRedis } from '../test/harness/redis';
import { startLatencyProxy } from './scoring.bench';
import type { ContactStore } from '../lib/store';
import { cpus, loadavg } from 'os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'perf_hooks';

const RATE = 1000; // events per second
const SECONDS = Number(process.env.BENCH_TRIGGER_SECONDS ?? 10);
const TICK_MS = 10;
const PER_TICK = (RATE * TICK_MS) / 1000;
const ONE_WAY_MS = 1;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Events logged at RATE through `recorder`, consumed by a Contact Trigger consumer on `reader`. */
async function measureBlocking(
	recorder: ContactStore,
	reader: ContactStore,
	group: string,
): Promise<{
	sinceLogged: number[];
	latencies: number[];
	recordMs: number[];
	achieved: number;
	loopDelay: IntervalHistogram;
	cpuPerEvent: { node: number; redis: number };
}> {
	const latencies: number[] = [];
	const sinceLogged: number[] = [];
	let warmed = 0;
	const consumer = new EventLogConsumer(reader, {
		group,
		filter: compileFilter({ kind: 'event', names: [group] }),
		handler: async ([event]) => {
			if (event.properties.warmup) warmed++;
			else {
				const at = Date.now();
				latencies.push(at - Number(event.properties.sentAt));
				// The stream entry id starts with the Redis clock's ms when the event was logged (same host).
				sinceLogged.push(at - Number(event.id.split('-')[0]));
			}
		},
	});
	await consumer.start();
	// Warm-up (script loading, JIT) before measuring.
	await recorder.events.record(
		Array.from({ length: 200 }, (_, k) => ({ contactId: `w${k}`, name: group, properties: { warmup: true } })),
	);
	while (warmed < 200) await sleep(10);
	const loopDelay = monitorEventLoopDelay({ resolution: 10 });
	loopDelay.enable();
	const cpuBefore = [process.cpuUsage(), await redisCpuMs(recorder)] as const;
	const recordMs: number[] = [];
	const total = RATE * SECONDS;
	const started = Date.now();
	let sent = 0;
	while (sent < total) {
		const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * RATE) + PER_TICK);
		const batch = [];
		for (; sent < due; sent++)
			batch.push({ contactId: `c${sent % 5000}`, name: group, properties: { sentAt: Date.now() } });
		if (batch.length > 0) {
			const t = Date.now();
			void recorder.events.record(batch).then(() => recordMs.push(Date.now() - t));
		}
		await sleep(TICK_MS);
	}
	const deadline = Date.now() + 10_000;
	while (latencies.length < total && Date.now() < deadline) await sleep(20);
	loopDelay.disable();
	const cpu = process.cpuUsage(cpuBefore[0]);
	const cpuPerEvent = {
		node: (cpu.user + cpu.system) / total,
		redis: (((await redisCpuMs(recorder)) - cpuBefore[1]) * 1000) / total,
	};
	await consumer.stop();
	const achieved = total / ((Date.now() - started) / 1000);
	for (const list of [latencies, sinceLogged, recordMs]) list.sort((a, b) => a - b);
	return { sinceLogged, latencies, recordMs, achieved, loopDelay, cpuPerEvent };
}

/** redis-server's CPU time so far (user + system), in ms. */
async function redisCpuMs(store: ContactStore): Promise<number> {
	const info = await store.redis.info('cpu');
	const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
	return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

export async function run(): Promise<void> {
	const server = await startRedis();
	const lease = acquireStore({ host: '127.0.0.1', port: server.port, keyPrefix: 'bench:' });
	const { store } = lease;
	try {
		// Floor: one PING round trip.
		const rtt: number[] = [];
		for (let i = 0; i < 500; i++) {
			const t = performance.now();
			await store.redis.ping();
			rtt.push(performance.now() - t);
		}
		rtt.sort((a, b) => a - b);

		console.log(
			`steady ${RATE} events/s for ${SECONDS} s (${RATE * SECONDS} events, ${PER_TICK} per ${TICK_MS} ms), ${SHARD_COUNT} shard streams, redis-server on loopback`,
		);
		const loopback = await measureBlocking(store, store, 'bench_event');
		// The same consumer one network round trip away from Redis (a proxy holding each chunk 1 ms each
		// way): the round trips it makes per event then show in the latency, whatever the machine's load.
		const proxy = await startLatencyProxy(server.port, ONE_WAY_MS);
		const far = acquireStore({ host: '127.0.0.1', port: proxy.port, keyPrefix: 'bench:' });
		let remote: Awaited<ReturnType<typeof measureBlocking>>;
		try {
			remote = await measureBlocking(store, far.store, 'bench_far');
		} finally {
			far.release();
			proxy.stop();
		}
		const { sinceLogged, latencies, recordMs, achieved, loopDelay, cpuPerEvent } = loopback;
		const total = RATE * SECONDS;
		// Baseline: poll the log every second (XRANGE from the last seen id on every shard).
		const pollLat: number[] = [];
		let polling = true;
		const lastIds = Array.from({ length: SHARD_COUNT }, () => '+');
		for (let s = 0; s < SHARD_COUNT; s++) {
			const [last] = (await store.redis.xrevrange(store.keys.log(s), '+', '-', 'COUNT', 1)) as Array<
				[string, string[]]
			>;
			lastIds[s] = last ? last[0] : '0-0';
		}
		const poller = (async () => {
			while (polling) {
				await sleep(1000);
				for (let s = 0; s < SHARD_COUNT; s++) {
					const entries = (await store.redis.xrange(store.keys.log(s), `(${lastIds[s]}`, '+')) as Array<
						[string, string[]]
					>;
					for (const [id, fields] of entries) {
						lastIds[s] = id;
						const props = JSON.parse(fields[fields.indexOf('p') + 1]) as { sentAt?: number };
						if (props.sentAt) pollLat.push(Date.now() - Number(id.split('-')[0]));
					}
				}
			}
		})();
		const pollStart = Date.now();
		while (Date.now() - pollStart < 3000) {
			void store.events.record(
				Array.from({ length: PER_TICK }, (_, k) => ({
					contactId: `p${k}`,
					name: 'bench_event',
					properties: { sentAt: Date.now() },
				})),
			);
			await sleep(TICK_MS);
		}
		await sleep(1200);
		polling = false;
		await poller;
		pollLat.sort((a, b) => a - b);

		console.log(`delivered ${latencies.length}/${total} at ~${Math.round(achieved)} events/s`);
		console.log(`Redis round trip (floor):      p50 ${pct(rtt, 50).toFixed(2)} ms   p99 ${pct(rtt, 99).toFixed(2)} ms`);
		console.log(
			`logged in Redis -> handler:    p50 ${pct(sinceLogged, 50)} ms   p99 ${pct(sinceLogged, 99)} ms   max ${sinceLogged[sinceLogged.length - 1]} ms   (goal p99 < 250 ms: ${pct(sinceLogged, 99) < 250 ? 'met' : 'NOT met'})`,
		);
		console.log(
			`the consumer ${ONE_WAY_MS * 2} ms round trip away (proxy), logged -> handler: p50 ${pct(remote.sinceLogged, 50)} ms   p99 ${pct(remote.sinceLogged, 99)} ms   max ${remote.sinceLogged[remote.sinceLogged.length - 1]} ms   (${remote.sinceLogged.length}/${total} delivered)`,
		);
		console.log(
			`record() called -> handler:     p50 ${pct(latencies, 50)} ms   p99 ${pct(latencies, 99)} ms   max ${latencies[latencies.length - 1]} ms   (includes the record call: p50 ${pct(recordMs, 50)} ms, p99 ${pct(recordMs, 99)} ms)`,
		);
		console.log(
			`baseline, polling every 1 s (logged -> seen): p50 ${pct(pollLat, 50)} ms   p99 ${pct(pollLat, 99)} ms   (${pollLat.length} events)`,
		);
		console.log(
			`ratio (logged -> seen): polling p99 / blocking p99 = ${(pct(pollLat, 99) / Math.max(1, pct(sinceLogged, 99))).toFixed(1)}x, p50 ${(pct(pollLat, 50) / Math.max(1, pct(sinceLogged, 50))).toFixed(0)}x`,
		);
		console.log(
			`this process's event loop while measuring: p99 delay ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores (stalls here come from CPU contention, not from Redis)`,
		);
		console.log(
			`CPU per event, recording and consuming (loopback): this process ${cpuPerEvent.node.toFixed(0)} µs, redis-server ${cpuPerEvent.redis.toFixed(0)} µs`,
		);
		console.log(
			'(handler = the consumer callback that emits the n8n execution; the execution start inside n8n is not included)',
		);
	} finally {
		lease.release();
		await closeAllStores();
		await server.stop();
	}
}
