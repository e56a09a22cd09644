// Whole-base Engagement Tagger run where 1 % of the contacts crossed a tier boundary since the
// previous run, against one full scan of the base (every contact's last-activity time read,
// nothing written) measured in the same run, on the same Redis.
//
// The base is written straight into Redis with pipelined commands (contact hash with
// lastActivityAt and tier, tier tag, activity/all/tag indexes) because creating 1,000,000 contacts
// through the Lua scripts would take minutes here; the run itself uses the real lib code.
import { cpus, loadavg } from 'os';
import { acquireStore, closeAllStores } from '../lib/redis/pool';
import { EngagementTagger, DEFAULT_TIERS } from '../lib/engagement';
import { CONTACT_HASH_PREFIXES, SHARD_COUNT, SHARD_INDEXES } from '../lib/keys';
import { startRedis } from '../test/harness/redis';

const DAY = 86_400_000;
// 1,000,000 takes several minutes to write on this 2-core machine: 200,000 by default, results extrapolated.
const N = Number(process.env.BENCH_CONTACTS ?? 200_000);
const CROSSED = 0.01;

export async function run(): Promise<void> {
	const server = await startRedis();
	const now = Date.UTC(2027, 5, 1);
	const previousRun = now - DAY;
	const lease = acquireStore({ host: '127.0.0.1', port: server.port, keyPrefix: 'bench:' }, { now: () => now });
	const { store } = lease;
	const tagger = new EngagementTagger(store);
	try {
		// Contacts 0..N-1: a crossing contact's last activity lies in (previousRun - B, now - B] for B = 30 or
		// 60 days; the others lie safely inside a tier (no crossing since the previous run).
		const crossEvery = Math.round(1 / CROSSED);
		const lastActivity = (i: number): number => {
			// Crossed: last interaction B days and up to ~17 minutes ago (it was B - 1 days old at the previous run).
			if (i % crossEvery === 0) return now - (i % 2 === 0 ? 30 : 60) * DAY - 1000 - (i % 1000) * 1000;
			// Others: 2-171 days ago, skipping the days next to a boundary.
			let days = (i % 170) + 2;
			if (days === 30 || days === 31 || days === 60 || days === 61) days += 3;
			return now - days * DAY + (i % 997) * 1000;
		};
		const tierAt = (last: number, at: number) => {
			const age = at - last;
			return age >= 60 * DAY ? 'Inactive' : age >= 30 * DAY ? 'Disengaged' : 'Engaged';
		};
		const t0 = performance.now();
		const CHUNK = 5000;
		for (let start = 0; start < N; start += CHUNK) {
			const pipeline = store.redis.pipeline();
			for (let i = start; i < Math.min(N, start + CHUNK); i++) {
				const id = `c${i}`;
				const base = store.keys.contact(id);
				const shard = store.keys.shardOfContact(id);
				const last = lastActivity(i);
				const tier = tierAt(last, previousRun);
				pipeline.hset(
					base,
					'id',
					id,
					'createdAt',
					now - 400 * DAY,
					'lastActivityAt',
					last,
					'tier',
					tier,
					CONTACT_HASH_PREFIXES.tag + tier,
					'',
				);
				pipeline.zadd(store.keys.index(shard, SHARD_INDEXES.active), last, id);
				pipeline.zadd(store.keys.index(shard, SHARD_INDEXES.all), now - 400 * DAY, id);
				pipeline.sadd(store.keys.index(shard, SHARD_INDEXES.tag + tier), id);
			}
			await pipeline.exec();
		}
		const populateS = (performance.now() - t0) / 1000;
		// The previous run happened a day ago.
		await tagger.setPreviousRun('nightly', DEFAULT_TIERS, previousRun);
		const info = await store.redis.info('memory');
		console.log(
			`base: ${N.toLocaleString()} contacts (${Math.round(N * CROSSED).toLocaleString()} crossed a boundary) written in ${populateS.toFixed(1)} s; redis ${/used_memory_human:(\S+)/.exec(info)?.[1]}`,
		);

		// Baseline: one full scan of the base, reading every contact's last activity (no writes).
		const scanStart = performance.now();
		let scanned = 0;
		let scanPeak = 0;
		await Promise.all(
			Array.from({ length: SHARD_COUNT }, async (_, shard) => {
				let cursor = '0';
				do {
					const [next, flat] = await store.redis.zscan(
						store.keys.index(shard, SHARD_INDEXES.all),
						cursor,
						'COUNT',
						1000,
					);
					cursor = next;
					const ids = flat.filter((_, i) => i % 2 === 0);
					const pipeline = store.redis.pipeline();
					for (const id of ids) pipeline.hget(store.keys.contact(id), 'lastActivityAt');
					await pipeline.exec();
					scanned += ids.length;
					scanPeak = Math.max(scanPeak, process.memoryUsage().heapUsed);
				} while (cursor !== '0');
			}),
		);
		const scanS = (performance.now() - scanStart) / 1000;

		// The whole-base run (changes counted, not kept: memory stays flat).
		global.gc?.();
		const heapBefore = process.memoryUsage().heapUsed;
		let peak = heapBefore;
		const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
		let changed = 0;
		const runStart = performance.now();
		const result = await tagger.runWholeBase('nightly', DEFAULT_TIERS, {
			keepChanges: false,
			onPage: (page) => void (changed += page.length),
		});
		const runS = (performance.now() - runStart) / 1000;
		clearInterval(sampler);
		peak = Math.max(peak, process.memoryUsage().heapUsed);

		const expected = Math.round(N * CROSSED);
		console.log(`full scan (baseline):  ${scanS.toFixed(2)} s for ${scanned.toLocaleString()} contacts`);
		console.log(
			`whole-base tagger run: ${runS.toFixed(3)} s, examined ${result.examined.toLocaleString()}, changed ${changed.toLocaleString()} (expected ${expected.toLocaleString()})`,
		);
		console.log(`ratio: scan / run = ${(scanS / runS).toFixed(1)}x faster than one scan`);
		console.log(
			`node heap during the run: +${((peak - heapBefore) / 1048576).toFixed(1)} MB peak over ${(heapBefore / 1048576).toFixed(0)} MB (changes streamed page by page, not kept)`,
		);
		if (N < 1_000_000) {
			console.log(
				`extrapolated to 1,000,000 contacts (linear in the crossed contacts and in the base): run ~${((runS * 1_000_000) / N).toFixed(2)} s, scan ~${((scanS * 1_000_000) / N).toFixed(1)} s`,
			);
		}
		console.log(`load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores`);
		if (changed !== expected) throw new Error(`expected ${expected} changes, got ${changed}`);
	} finally {
		lease.release();
		await closeAllStores();
		await server.stop();
	}
}
