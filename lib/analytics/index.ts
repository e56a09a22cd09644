import { ValidationError } from '../errors';
import { SHARD_COUNT } from '../keys';
import type { ContactStore } from '../store';
import { checkName, toTimestamp } from '../values';
import { scripts } from '../redis/scripts';

const DAY = 86_400_000;

/** Days the counters of a day are kept after it ends: a year back, and the same week a year ago. */
export const ANALYTICS_RETENTION_DAYS = 400;
/** Days one report may cover (one read per shard and day). */
export const REPORT_MAX_DAYS = 366;
/** Days read per round trip by a report (one script call per shard, each reading this many day hashes). */
const READ_DAYS = 64;

/** What happens to the mails of a campaign: each counted once per send (the first such outcome). */
export const MAIL_METRICS = [
	'sent',
	'delivered',
	'opened',
	'clicked',
	'bounced',
	'complained',
	'unsubscribed',
] as const;
/** A journey's own counts, then those of the mails it sent. */
export const JOURNEY_METRICS = ['entered', 'waiting', 'exited', 'goalReached', ...MAIL_METRICS] as const;

export type MailMetric = (typeof MAIL_METRICS)[number];
export type JourneyMetric = (typeof JOURNEY_METRICS)[number];
export type MailCounts = Record<MailMetric, number>;
export type JourneyCounts = Record<JourneyMetric, number>;

/**
 * What a counter counts for: a journey (workflow id), a campaign (campaign id), or the steps of a
 * journey (id = journey id; each node its executions wait at is a metric of its own).
 */
const SUBJECTS = { journey: 'j', campaign: 'c', step: 's' } as const;
type Subject = keyof typeof SUBJECTS;
const SUBJECT_OF: Record<string, Subject> = Object.fromEntries(
	Object.entries(SUBJECTS).map(([subject, code]) => [code, subject as Subject]),
);

/** The hash field a subject's counters are packed in (count_day). */
const packedField = (subject: Subject, id: string) => `${SUBJECTS[subject]}|${id}`;

/**
 * A counter, as the scripts that count take it: `<subject>|<metric>|<id>`. The id comes last, so it
 * may hold any character; the metric never holds `|`, `,` or `:`. The Lua helper count_day packs the
 * metrics of one subject and id into one field of a shard's day hash, `<subject>|<id>` ->
 * `,<metric>:<count>,…` (docs/analytics.md#storage); the hash names no contact.
 */
export function counterField(subject: Exclude<Subject, 'step'>, metric: JourneyMetric, id: string): string {
	return `${SUBJECTS[subject]}|${metric}|${id}`;
}

/** Node names as step metrics: `%`, `|`, `,` and `:` escaped (%XX), since they delimit counters. */
const escapeStep = (node: string) => node.replace(/[%|,:]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
const unescapeStep = (metric: string) =>
	metric.replace(/%(25|7C|2C|3A)/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/** The counter of executions of a journey that went to wait at a node. */
function stepField(journey: string, node: string): string {
	return `${SUBJECTS.step}|${escapeStep(node)}|${journey}`;
}

/**
 * The counters of contacts a trigger brought into a journey, once their execution ended: entered,
 * and exited, or waiting (also at the node `waitingAt`) when n8n reports the execution waiting.
 */
export function entryFields(journey: string, waitingAt: string | undefined): string[] {
	return [
		counterField('journey', 'entered', journey),
		...(waitingAt
			? [counterField('journey', 'waiting', journey), stepField(journey, waitingAt)]
			: [counterField('journey', 'exited', journey)]),
	];
}

/** The counters argument of the scripts that count (helper "analytics", count_day): which day, how long kept. */
export interface Counting {
	day: number;
	ttlMs: number;
	fields: string[];
}

/** UTC day number (days since the epoch) of a time. */
export const dayOf = (ms: number): number => Math.floor(ms / DAY);

/** Counters of the day of `at` (an event's time) to add to, kept ANALYTICS_RETENTION_DAYS after that day. */
export function counting(now: number, at: number, fields: string[]): Counting {
	const day = dayOf(at);
	// An event dated long ago still gets a day to be read, rather than an expiry in the past.
	const ttlMs = Math.max((day + 1 + ANALYTICS_RETENTION_DAYS) * DAY - now, DAY);
	return { day, ttlMs, fields };
}

/** The id under which a journey is counted: the workflow's id. */
export function checkJourneyId(value: unknown, field = 'journeyId'): string {
	return checkName(field, value, 200, 'Journey (workflow) ID');
}

export interface ReportRequest {
	/** First day (UTC), inclusive: ISO 8601 date or time, epoch ms or Date. */
	from: unknown;
	/** Last day (UTC), inclusive. */
	to: unknown;
	/** Only these journeys (workflow ids); all when empty. */
	journeys?: string[];
	/** Only these campaigns; all when empty. */
	campaigns?: string[];
	/**
	 * Whether to add the daily rows (default true): one per day on which the journey or campaign
	 * counted something, none for days without counts (read them as 0). False: totals only.
	 */
	daily?: boolean;
}

export interface JourneyReport {
	journeyId: string;
	totals: JourneyCounts;
	/** goalReached / entered (0-1; 0 when nobody entered). */
	conversionRate: number;
	/** Executions that went to wait at each node, in the range (best effort: Contact Trigger runs only). */
	waitingAt: Array<{ step: string; count: number }>;
	/** Days on which the journey counted something, in order; absent when the report leaves daily rows out. */
	daily?: Array<{ date: string } & JourneyCounts & { conversionRate: number }>;
}

export interface MailRates {
	delivery: number;
	open: number;
	click: number;
	bounce: number;
	complaint: number;
	unsubscribe: number;
}

export interface CampaignAnalytics {
	campaignId: string;
	totals: MailCounts;
	/** Per mail sent (0-1). */
	rates: MailRates;
	/** Days on which the campaign counted something, in order; absent when the report leaves daily rows out. */
	daily?: Array<{ date: string } & MailCounts & { rates: MailRates }>;
}

export interface AnalyticsReport {
	from: string;
	to: string;
	days: number;
	journeys: JourneyReport[];
	campaigns: CampaignAnalytics[];
}

const ratio = (n: number, of: number) => (of > 0 ? Math.round((n / of) * 10_000) / 10_000 : 0);

function zeros<M extends string>(metrics: readonly M[]): Record<M, number> {
	return Object.fromEntries(metrics.map((m) => [m, 0])) as Record<M, number>;
}

function mailRates(c: MailCounts): MailRates {
	return {
		delivery: ratio(c.delivered, c.sent),
		open: ratio(c.opened, c.sent),
		click: ratio(c.clicked, c.sent),
		bounce: ratio(c.bounced, c.sent),
		complaint: ratio(c.complained, c.sent),
		unsubscribe: ratio(c.unsubscribed, c.sent),
	};
}

const isoDay = (day: number) => new Date(day * DAY).toISOString().slice(0, 10);

/**
 * Journey and campaign analytics: counters kept per shard and UTC day as the events happen (in the
 * scripts that record them), so a report reads SHARD_COUNT hashes per day, whatever the number of
 * contacts. docs/analytics.md.
 */
export class Analytics {
	constructor(private readonly store: ContactStore) {}

	/** Checks a report request: dates, order, the day limit and the retention. Throws ValidationError. */
	checkRange(request: ReportRequest): { firstDay: number; lastDay: number } {
		const firstDay = dayOf(toTimestamp(request?.from, 'from'));
		const lastDay = dayOf(toTimestamp(request.to, 'to'));
		if (lastDay < firstDay)
			throw new ValidationError('to', `"To" (${isoDay(lastDay)}) is before "From" (${isoDay(firstDay)})`);
		const days = lastDay - firstDay + 1;
		if (days > REPORT_MAX_DAYS)
			throw new ValidationError(
				'from',
				`The range covers ${days} days; a report covers at most ${REPORT_MAX_DAYS}`,
				'Shorten the range, or run one report per year.',
			);
		const oldest = dayOf(this.store.now()) - ANALYTICS_RETENTION_DAYS;
		if (firstDay < oldest)
			throw new ValidationError(
				'from',
				`"From" (${isoDay(firstDay)}) is older than the ${ANALYTICS_RETENTION_DAYS} days counters are kept (oldest day: ${isoDay(oldest)})`,
			);
		return { firstDay, lastDay };
	}

	/**
	 * Counts per journey and per campaign over a range of UTC days, in total and per day on which
	 * each counted something (a day row per day of the range would make a year of campaigns that come
	 * and go a report of hundreds of thousands of rows, nearly all zeros). Reads one
	 * hash per shard and day, READ_DAYS days per round trip, never a contact: whole hashes, or only
	 * the fields of the journeys and campaigns asked for when both are named (HMGET).
	 */
	async report(request: ReportRequest): Promise<AnalyticsReport> {
		const { firstDay, lastDay } = this.checkRange(request);
		const withDaily = request.daily ?? true;
		const onlyJourneys = new Set((request.journeys ?? []).map((j, i) => checkJourneyId(j, `journeys[${i}]`)));
		const onlyCampaigns = new Set(
			(request.campaigns ?? []).map((c, i) => checkName(`campaigns[${i}]`, c, 200, 'Campaign ID')),
		);
		const { store } = this;
		const days = Array.from({ length: lastDay - firstDay + 1 }, (_, i) => firstDay + i);
		// One of them unnamed means all of its kind: only reading whole hashes finds them.
		const named =
			onlyJourneys.size > 0 && onlyCampaigns.size > 0
				? [
						...[...onlyJourneys].flatMap((id) => [packedField('journey', id), packedField('step', id)]),
						...[...onlyCampaigns].map((id) => packedField('campaign', id)),
					]
				: undefined;
		/** The counters of SHARD_COUNT x `count` day hashes from `first`, per day and shard: [field, packed][]. */
		const read = (first: number, count: number) =>
			Promise.all(
				Array.from({ length: SHARD_COUNT }, (_, shard) =>
					store.run<Array<Array<string | null>>>(scripts.readAnalyticsDays, store.keys.shardScriptKeys(shard), [
						first,
						count,
						...(named ?? []),
					]),
				),
			);

		// subject -> id -> day index -> metric -> count
		const found: Record<Subject, Map<string, PerDay>> = {
			journey: new Map(),
			campaign: new Map(),
			step: new Map(),
		};
		const add = (dayIndex: number, field: string, packed: string) => {
			const subject = SUBJECT_OF[field[0]];
			const id = field.slice(2);
			if (!subject || field[1] !== '|') return;
			if (subject !== 'campaign' && onlyJourneys.size > 0 && !onlyJourneys.has(id)) return;
			if (subject === 'campaign' && onlyCampaigns.size > 0 && !onlyCampaigns.has(id)) return;
			let perDay = found[subject].get(id);
			if (!perDay) found[subject].set(id, (perDay = new Array(days.length)));
			// A step's metrics are node names ("constructor" too): no prototype to meet them.
			const counts = (perDay[dayIndex] ??= subject === 'step' ? Object.create(null) : {});
			// `,<metric>:<count>` repeated; parsed in place (a year of a busy workspace holds millions).
			for (let at = 1; at < packed.length;) {
				const colon = packed.indexOf(':', at);
				if (colon < 0) break;
				const comma = packed.indexOf(',', colon);
				const end = comma < 0 ? packed.length : comma;
				const metric = packed.slice(at, colon);
				counts[metric] = (counts[metric] ?? 0) + Number(packed.slice(colon + 1, end));
				at = end + 1;
			}
		};
		// READ_DAYS days per round trip (a script call per shard, auto-pipelined), added up as they arrive.
		for (let first = 0; first < days.length; first += READ_DAYS) {
			for (const perDay of await read(days[first], Math.min(READ_DAYS, days.length - first)))
				perDay.forEach((reply, d) => {
					// HMGET: the values of the named fields; HGETALL: field, value, field, value…
					if (named) reply.forEach((packed, i) => packed && add(first + d, named[i], packed));
					else for (let i = 0; i < reply.length; i += 2) add(first + d, reply[i]!, reply[i + 1]!);
				});
		}
		// Asked-for subjects appear even without counts.
		for (const id of onlyJourneys) if (!found.journey.has(id)) found.journey.set(id, new Array(days.length));
		for (const id of onlyCampaigns) if (!found.campaign.has(id)) found.campaign.set(id, new Array(days.length));

		const dates = days.map(isoDay);
		const sum = <M extends string>(metrics: readonly M[], perDay: PerDay) => {
			const totals = zeros(metrics);
			for (const counts of perDay) if (counts) for (const m of metrics) totals[m] += counts[m] ?? 0;
			return totals;
		};
		const steps = new Map<string, Array<{ step: string; count: number }>>();
		for (const [journeyId, perDay] of found.step) {
			const nodes = [...new Set(perDay.flatMap((counts) => (counts ? Object.keys(counts) : [])))];
			const totals = sum(nodes, perDay);
			steps.set(
				journeyId,
				nodes.map((node) => ({ step: unescapeStep(node), count: totals[node] })),
			);
		}
		const byId = <T>(entries: Array<[string, T]>) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

		return {
			from: dates[0],
			to: dates[dates.length - 1],
			days: days.length,
			journeys: byId([...found.journey]).map(([journeyId, perDay]) => {
				const totals = sum(JOURNEY_METRICS, perDay);
				return {
					journeyId,
					totals,
					conversionRate: ratio(totals.goalReached, totals.entered),
					waitingAt: (steps.get(journeyId) ?? []).sort((a, b) => b.count - a.count),
					...(withDaily && {
						daily: dayRows(dates, JOURNEY_METRICS, perDay).map((day) =>
							Object.assign(day, { conversionRate: ratio(day.goalReached, day.entered) }),
						),
					}),
				};
			}),
			campaigns: byId([...found.campaign]).map(([campaignId, perDay]) => {
				const totals = sum(MAIL_METRICS, perDay);
				return {
					campaignId,
					totals,
					rates: mailRates(totals),
					...(withDaily && {
						daily: dayRows(dates, MAIL_METRICS, perDay).map((day) => Object.assign(day, { rates: mailRates(day) })),
					}),
				};
			}),
		};
	}
}

/** A subject's counts per day of a report (index in the range), metric -> count; none where it counted nothing. */
type PerDay = Array<Record<string, number> | undefined>;

/**
 * A report's daily list: for each day on which one of `metrics` counted something, its date and a
 * count for each metric (0 where none). Days without counts have no row.
 */
function dayRows<M extends string>(
	dates: string[],
	metrics: readonly M[],
	perDay: PerDay,
): Array<{ date: string } & Record<M, number>> {
	const rows: Array<{ date: string } & Record<M, number>> = [];
	// forEach skips the days nothing was read for (holes).
	perDay.forEach((counts, i) => {
		if (!counts || !metrics.some((m) => counts[m] > 0)) return;
		const row = { date: dates[i] } as { date: string } & Record<M, number>;
		for (const m of metrics) (row as Record<M, number>)[m] = counts[m] ?? 0;
		rows.push(row);
	});
	return rows;
}
