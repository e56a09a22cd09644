// Journey report latency (lib/analytics) for a 1,000,000-contact base, against what the same
// numbers cost by scanning the contacts, measured in the same run.
//
// Counters: a report reads SHARD_COUNT day hashes per day, whatever the number of contacts; what
// grows its cost is the number of journeys and campaigns counted per day. The 1M-contact counters are
// written synthetically (HSET, no contacts, packed as the Lua helper count_day packs them): 366
// days, in each shard every day 20 journeys x 11 metrics and 12 campaigns x 7 metrics (3 new
// campaigns a day, each counting for 4 days), with counts the size a 1M base gives (each contact
// entering ~10 journeys and getting ~100 mails a year). Writing real events for 1M contacts would
// take hours on this machine and give the same hashes.
//
// Baseline (scan): a real base of SCAN_CONTACTS contacts written through lib (Send Campaign in render
// mode with a journey, then delivered / opened / clicked outcomes), and the cheapest scan that gives
// the campaign's counts without counters: every shard's contact index, then each contact's send
// record (one HGET each, pipelined 1,000 at a time). It is linear in contacts; extrapolated to 1M.
// A journey's entered and goal counts would also need each contact's events: the scan is a lower bound.
// The same run checks that counters and scan agree, and prices counting: goal events recorded with
// and without their journey counter.
import Redis from 'ioredis';
import { createClient } from '../lib/redis/connection';
import { ContactStore } from '../lib/store';
import { SHARD_COUNT } from '../lib/keys';
import { Analytics, dayOf, JOURNEY_METRICS, MAIL_METRICS } from '../lib/analytics';
import { Campaigns } from '../lib/campaigns';
import { SYSTEM_EVENTS } from '../lib/events';
import { startRedis } from '../test/harness/redis';

const BASE_CONTACTS = 1_000_000;
const SCAN_CONTACTS = Number(process.env.MA_BENCH_SCAN_CONTACTS ?? 5_000);
const JOURNEYS = 20;
const CAMPAIGNS_PER_DAY = 12;
const NOW = Date.UTC(2026, 5, 30, 12);
const DAY = 86_400_000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function timedMs(runs: number, fn: () => Promise<unknown>): Promise<number> {
	await fn();
	const times: number[] = [];
	for (let i = 0; i < runs; i++) {
		const started = performance.now();
		await fn();
		times.push(performance.now() - started);
	}
	return median(times);
}

/** A subject's counters as count_day (lib/redis/lua/analytics.lua) keeps them: `,<metric>:<count>…`. */
const packed = (counts: Array<[string, number]>) => counts.map(([metric, n]) => `,${metric}:${n}`).join('');

/** The campaigns counting on a day: 3 new ones a day, each counting for 4 days. */
const campaignOf = (day: number, c: number) => `campaign-${3 * day - c}`;

/**
 * 366 days of counters the size a 1M-contact base gives, one pipelined HSET per shard and day.
 * Returns how many counters (metrics) and hash fields (subjects) were written.
 */
async function writeSyntheticCounters(
	store: ContactStore,
	client: Redis,
): Promise<{ counters: number; fields: number }> {
	const lastDay = dayOf(NOW);
	const perShard = (n: number) => Math.max(1, Math.round(n / SHARD_COUNT));
	// ~10 journeys entered and ~100 mails per contact and year, spread over journeys and campaigns.
	const enteredPerJourneyDay = (BASE_CONTACTS * 10) / 365 / JOURNEYS;
	const sentPerCampaignDay = (BASE_CONTACTS * 100) / 365 / CAMPAIGNS_PER_DAY;
	let counters = 0;
	let fields = 0;
	for (let day = lastDay - 365; day <= lastDay; day++) {
		const pipeline = client.pipeline();
		for (let shard = 0; shard < SHARD_COUNT; shard++) {
			const hash: Record<string, string> = {};
			for (let j = 0; j < JOURNEYS; j++) {
				const share: Record<string, number> = {
					entered: 1,
					waiting: 0.4,
					exited: 0.6,
					goalReached: 0.08,
					sent: 2,
					delivered: 1.95,
					opened: 0.8,
					clicked: 0.15,
					bounced: 0.01,
					complained: 0.001,
					unsubscribed: 0.004,
				};
				hash[`j|journey-${j}`] = packed(JOURNEY_METRICS.map((m) => [m, perShard(enteredPerJourneyDay * share[m])]));
				counters += JOURNEY_METRICS.length;
			}
			// A campaign sends for a few days and gets outcomes for a while: 12 of them count on any day.
			for (let c = 0; c < CAMPAIGNS_PER_DAY; c++) {
				const share = [1, 0.97, 0.35, 0.06, 0.01, 0.001, 0.003];
				hash[`c|${campaignOf(day, c)}`] = packed(
					MAIL_METRICS.map((m, k) => [m, perShard(sentPerCampaignDay * share[k])]),
				);
				counters += MAIL_METRICS.length;
			}
			fields += Object.keys(hash).length;
			pipeline.hset(store.keys.analyticsDay(shard, day), hash);
		}
		await pipeline.exec();
	}
	return { counters, fields };
}

/** The base of SCAN_CONTACTS contacts written through lib: one send each, and its outcomes. */
async function writeScanBase(store: ContactStore): Promise<void> {
	const campaigns = new Campaigns(store);
	const spec = {
		id: 'scan-campaign',
		fromEmail: 'news@shop.example',
		subject: 'Hello',
		html: '<p>Hello</p><a href="{{ unsubscribeUrl }}">Unsubscribe</a>',
		trackingBaseUrl: 'https://n8n.example.com/webhook/x/marketing',
		signingSecret: 'bench-signing-secret-0123456789',
		journeyId: 'scan-journey',
	};
	for (let start = 0; start < SCAN_CONTACTS; start += 500) {
		const ids = Array.from({ length: Math.min(500, SCAN_CONTACTS - start) }, (_, k) => `s${start + k}`);
		const upserted = await store.contacts.upsert(
			ids.map((id) => ({ id, email: `${id}@example.com`, subscription: { status: 'subscribed', source: 'form' } })),
		);
		for (const r of upserted) if (!r.ok) throw r.error;
		const sent = await campaigns.send(
			spec,
			ids.map((contactId) => ({ contactId })),
			{ mode: 'render' },
		);
		for (const r of sent) if (!r.ok) throw r.error;
		const outcomes = ids.flatMap((contactId, k) => {
			const n = start + k;
			const kinds = ['delivered', ...(n % 5 < 2 ? ['opened'] : []), ...(n % 25 < 2 ? ['clicked'] : [])] as const;
			return kinds.map((kind) => ({ contactId, campaignId: spec.id, kind: kind as 'delivered' }));
		});
		for (const r of await campaigns.recordOutcomes(outcomes)) if (!r.ok) throw r.error;
	}
}

/** The campaign's counts from every contact's send record: the cheapest scan without counters. */
async function scanCounts(store: ContactStore, client: Redis, campaignId: string): Promise<Record<string, number>> {
	const counts: Record<string, number> = { sent: 0, delivered: 0, opened: 0, clicked: 0 };
	for (let shard = 0; shard < SHARD_COUNT; shard++) {
		const ids = await client.zrange(store.keys.index(shard, 'all'), 0, -1);
		for (let i = 0; i < ids.length; i += 1000) {
			const pipeline = client.pipeline();
			for (const id of ids.slice(i, i + 1000)) pipeline.hget(store.keys.contactKey(id, 'campaigns'), campaignId);
			for (const [, raw] of (await pipeline.exec()) ?? []) {
				if (!raw) continue;
				const rec = JSON.parse(raw as string) as Record<string, number>;
				if (rec.sentAt >= NOW - 7 * DAY) counts.sent++;
				if (rec.deliveredAt) counts.delivered++;
				if (rec.openedAt) counts.opened++;
				if (rec.clickedAt) counts.clicked++;
			}
		}
	}
	return counts;
}

export async function run(): Promise<void> {
	const server = await startRedis();
	const client = createClient({ host: '127.0.0.1', port: server.port, keyPrefix: '' }) as Redis;
	const big = new ContactStore(client, 'big:', { now: () => NOW });
	const small = new ContactStore(client, 'scan:', { now: () => NOW });
	try {
		console.log(`redis-server on loopback (one connection); clock fixed at ${new Date(NOW).toISOString()}`);
		let started = performance.now();
		const { counters, fields } = await writeSyntheticCounters(big, client);
		console.log(
			`1M-contact counters (synthetic): ${counters.toLocaleString('en-US')} counters in ${fields.toLocaleString('en-US')} fields of ${366 * SHARD_COUNT} day hashes, written in ${((performance.now() - started) / 1000).toFixed(1)} s; ${(await client.info('memory')).match(/used_memory_human:(\S+)/)?.[1]} used`,
		);
		started = performance.now();
		await writeScanBase(small);
		console.log(
			`scan base: ${SCAN_CONTACTS.toLocaleString('en-US')} contacts sent one campaign through lib, with outcomes, in ${((performance.now() - started) / 1000).toFixed(1)} s`,
		);

		const analytics = new Analytics(big);
		const to = new Date(NOW).toISOString().slice(0, 10);
		const report = (days: number) =>
			analytics.report({ from: new Date(NOW - (days - 1) * DAY).toISOString().slice(0, 10), to });
		const rows: Array<[string, number]> = [];
		for (const days of [7, 30, 90, 366])
			rows.push([`report, ${days} days, all journeys and campaigns`, await timedMs(5, () => report(days))]);
		rows.push([
			'report, 366 days, all, totals only',
			await timedMs(5, () =>
				analytics.report({ from: new Date(NOW - 365 * DAY).toISOString().slice(0, 10), to, daily: false }),
			),
		]);
		// What a year's report holds: its daily rows (only days with counts) and its size as JSON.
		const year = await report(366);
		const totalsOnly = await analytics.report({ from: year.from, to, daily: false });
		const dailyRows = [...year.journeys, ...year.campaigns].reduce((n, s) => n + (s.daily?.length ?? 0), 0);
		const mb = (value: unknown) => (JSON.stringify(value).length / 1e6).toFixed(1);
		console.log(
			`366 days, all: ${year.journeys.length} journeys, ${year.campaigns.length} campaigns, ${dailyRows.toLocaleString('en-US')} daily rows, ${mb(year)} MB as JSON (totals only: ${mb(totalsOnly)} MB)`,
		);
		// A campaign that counted in the last 30 days.
		const oneCampaign = campaignOf(dayOf(NOW) - 10, 0);
		rows.push([
			'report, 30 days, one campaign (all journeys)',
			await timedMs(5, () =>
				analytics.report({ from: new Date(NOW - 29 * DAY).toISOString().slice(0, 10), to, campaigns: [oneCampaign] }),
			),
		]);
		rows.push([
			'report, 366 days, one journey and one campaign',
			await timedMs(5, () =>
				analytics.report({
					from: new Date(NOW - 365 * DAY).toISOString().slice(0, 10),
					to,
					journeys: ['journey-0'],
					campaigns: [oneCampaign],
				}),
			),
		]);

		// Counters and scan agree on the real base.
		const counted = (await new Analytics(small).report({ from: to, to, campaigns: ['scan-campaign'] })).campaigns[0]
			.totals;
		const scanned = await scanCounts(small, client, 'scan-campaign');
		for (const m of ['sent', 'delivered', 'opened', 'clicked'] as const)
			if (counted[m] !== scanned[m])
				throw new Error(`counters and scan disagree on ${m}: ${counted[m]} vs ${scanned[m]}`);
		const scanMs = await timedMs(3, () => scanCounts(small, client, 'scan-campaign'));
		const scan1M = (scanMs * BASE_CONTACTS) / SCAN_CONTACTS;

		console.log('                                                 median ms   scan 1M / this');
		for (const [label, ms] of rows)
			console.log(`${label.padEnd(48)} ${ms.toFixed(1).padStart(9)} ${(scan1M / ms).toFixed(0).padStart(16)}`);
		console.log(
			`${`scan of ${SCAN_CONTACTS.toLocaleString('en-US')} contacts' send records (measured)`.padEnd(48)} ${scanMs.toFixed(1).padStart(9)}`,
		);
		console.log(`${'scan of 1,000,000 contacts (extrapolated, linear)'.padEnd(48)} ${scan1M.toFixed(0).padStart(9)}`);
		console.log(`counters and scan agree on the ${SCAN_CONTACTS} contacts: ${JSON.stringify(counted)}`);

		// What counting costs where events are written: goal events with and without their journey counter.
		const goals = (run: string, journey: boolean) => async () => {
			for (let start = 0; start < 10_000; start += 1000) {
				const results = await small.events.recordSystem(
					Array.from({ length: 1000 }, (_, k) => ({
						contactId: `s${(start + k) % SCAN_CONTACTS}`,
						name: SYSTEM_EVENTS.goalReached,
						properties: { workflow: 'scan-journey', goal: 'bought' },
						idempotencyKey: `${run}-${start + k}`,
						createContact: false,
						...(journey ? { journeyGoal: 'scan-journey' } : {}),
					})),
				);
				for (const r of results) if (!r.ok) throw r.error;
			}
		};
		const times = { with: [] as number[], without: [] as number[] };
		for (let round = 0; round < 3; round++) {
			for (const journey of [false, true]) {
				const t0 = performance.now();
				await goals(`r${round}${journey}`, journey)();
				times[journey ? 'with' : 'without'].push(performance.now() - t0);
			}
		}
		const withMs = median(times.with);
		const withoutMs = median(times.without);
		console.log(
			`10,000 goal events (batches of 1,000): ${withoutMs.toFixed(0)} ms without counting, ${withMs.toFixed(0)} ms with (x${(withMs / withoutMs).toFixed(2)})`,
		);
	} finally {
		client.disconnect();
		await server.stop();
	}
}
