import { ValidationError } from '../errors';
import { SHARD_COUNT } from '../keys';
import type { ContactStore } from '../store';
import { checkName, toTimestamp } from '../values';

const DAY = 86_400_000;

/** Days the counters of a day are kept after it ends: a year back, and the same week a year ago. */
export const ANALYTICS_RETENTION_DAYS = 400;
/** Days one report may cover (one read per shard and day). */
export const REPORT_MAX_DAYS = 366;
/** Days read per round trip by a report (SHARD_COUNT hashes each). */
const READ_DAYS = 16;

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
 * What a counter counts for: a journey (workflow id), a campaign (campaign id), or a step of a
 * journey (the node its executions wait at; id = JSON [journey id, node name]).
 */
const SUBJECTS = { journey: 'j', campaign: 'c', step: 's' } as const;
type Subject = keyof typeof SUBJECTS;
const SUBJECT_OF: Record<string, Subject> = Object.fromEntries(
	Object.entries(SUBJECTS).map(([subject, code]) => [code, subject as Subject]),
);

/**
 * A counter's field in a shard's day hash: `<subject>|<metric>|<id>`. The id comes last, so it may
 * hold any character; the hash names no contact.
 */
export function counterField(subject: Subject, metric: JourneyMetric, id: string): string {
	return `${SUBJECTS[subject]}|${metric}|${id}`;
}

function parseField(field: string): { subject: Subject; metric: string; id: string } | undefined {
	const first = field.indexOf('|');
	const second = field.indexOf('|', first + 1);
	const subject = SUBJECT_OF[field.slice(0, first)];
	if (first < 0 || second < 0 || !subject) return undefined;
	return { subject, metric: field.slice(first + 1, second), id: field.slice(second + 1) };
}

/**
 * The counters of contacts a trigger brought into a journey, once their execution ended: entered,
 * and exited, or waiting (also at the node `waitingAt`) when n8n reports the execution waiting.
 */
export function entryFields(journey: string, waitingAt: string | undefined): string[] {
	return [
		counterField('journey', 'entered', journey),
		...(waitingAt
			? [
					counterField('journey', 'waiting', journey),
					counterField('step', 'waiting', JSON.stringify([journey, waitingAt])),
				]
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
}

export interface JourneyReport {
	journeyId: string;
	totals: JourneyCounts;
	/** goalReached / entered (0-1; 0 when nobody entered). */
	conversionRate: number;
	/** Executions that went to wait at each node, in the range (best effort: Contact Trigger runs only). */
	waitingAt: Array<{ step: string; count: number }>;
	daily: Array<{ date: string } & JourneyCounts & { conversionRate: number }>;
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
	daily: Array<{ date: string } & MailCounts & { rates: MailRates }>;
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
	 * Counts per journey and per campaign over a range of UTC days, in total and per day. Reads one
	 * hash per shard and day (auto-pipelined: one round trip), never a contact.
	 */
	async report(request: ReportRequest): Promise<AnalyticsReport> {
		const { firstDay, lastDay } = this.checkRange(request);
		const onlyJourneys = new Set((request.journeys ?? []).map((j, i) => checkJourneyId(j, `journeys[${i}]`)));
		const onlyCampaigns = new Set(
			(request.campaigns ?? []).map((c, i) => checkName(`campaigns[${i}]`, c, 200, 'Campaign ID')),
		);
		const { store } = this;
		const days = Array.from({ length: lastDay - firstDay + 1 }, (_, i) => firstDay + i);
		// READ_DAYS days per round trip: a year of a busy workspace (1.4M counters) would otherwise be
		// one reply too long for the store's command timeout.
		const hashes: Array<Record<string, string>> = [];
		for (let i = 0; i < days.length; i += READ_DAYS) {
			hashes.push(
				...(await Promise.all(
					days
						.slice(i, i + READ_DAYS)
						.flatMap((day) =>
							Array.from({ length: SHARD_COUNT }, (_, shard) =>
								store.call((r) => r.hgetall(store.keys.analyticsDay(shard, day))),
							),
						),
				)),
			);
		}

		// subject -> id -> day index -> metric -> count
		const found: Record<Subject, Map<string, Array<Record<string, number>>>> = {
			journey: new Map(),
			campaign: new Map(),
			step: new Map(),
		};
		hashes.forEach((hash, i) => {
			const dayIndex = Math.floor(i / SHARD_COUNT);
			for (const [field, value] of Object.entries(hash)) {
				const parsed = parseField(field);
				if (!parsed) continue;
				const { subject, metric, id } = parsed;
				const journeyOf = subject === 'step' ? (JSON.parse(id) as [string, string])[0] : id;
				if (subject !== 'campaign' && onlyJourneys.size > 0 && !onlyJourneys.has(journeyOf)) continue;
				if (subject === 'campaign' && onlyCampaigns.size > 0 && !onlyCampaigns.has(id)) continue;
				let perDay = found[subject].get(id);
				if (!perDay) found[subject].set(id, (perDay = days.map(() => ({}))));
				perDay[dayIndex][metric] = (perDay[dayIndex][metric] ?? 0) + Number(value);
			}
		});
		// Asked-for subjects appear even without counts.
		for (const id of onlyJourneys)
			if (!found.journey.has(id))
				found.journey.set(
					id,
					days.map(() => ({})),
				);
		for (const id of onlyCampaigns)
			if (!found.campaign.has(id))
				found.campaign.set(
					id,
					days.map(() => ({})),
				);

		const sum = <M extends string>(metrics: readonly M[], perDay: Array<Record<string, number>>) => {
			const totals = zeros(metrics);
			for (const day of perDay) for (const m of metrics) totals[m] += day[m] ?? 0;
			return totals;
		};
		const steps = new Map<string, Array<{ step: string; count: number }>>();
		for (const [id, perDay] of found.step) {
			const [journeyId, step] = JSON.parse(id) as [string, string];
			const list = steps.get(journeyId) ?? [];
			list.push({ step, count: sum(['waiting'], perDay).waiting });
			steps.set(journeyId, list);
		}
		const byId = <T>(entries: Array<[string, T]>) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

		return {
			from: isoDay(firstDay),
			to: isoDay(lastDay),
			days: days.length,
			journeys: byId([...found.journey]).map(([journeyId, perDay]) => {
				const totals = sum(JOURNEY_METRICS, perDay);
				return {
					journeyId,
					totals,
					conversionRate: ratio(totals.goalReached, totals.entered),
					waitingAt: (steps.get(journeyId) ?? []).sort((a, b) => b.count - a.count),
					daily: perDay.map((counts, i) => {
						const day = { ...zeros(JOURNEY_METRICS), ...pick(JOURNEY_METRICS, counts) };
						return { date: isoDay(days[i]), ...day, conversionRate: ratio(day.goalReached, day.entered) };
					}),
				};
			}),
			campaigns: byId([...found.campaign]).map(([campaignId, perDay]) => {
				const totals = sum(MAIL_METRICS, perDay);
				return {
					campaignId,
					totals,
					rates: mailRates(totals),
					daily: perDay.map((counts, i) => {
						const day = { ...zeros(MAIL_METRICS), ...pick(MAIL_METRICS, counts) };
						return { date: isoDay(days[i]), ...day, rates: mailRates(day) };
					}),
				};
			}),
		};
	}
}

function pick<M extends string>(metrics: readonly M[], counts: Record<string, number>): Partial<Record<M, number>> {
	return Object.fromEntries(metrics.filter((m) => counts[m] !== undefined).map((m) => [m, counts[m]])) as Partial<
		Record<M, number>
	>;
}
