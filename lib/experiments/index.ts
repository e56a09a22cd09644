import { createHmac } from 'crypto';
import { Campaigns } from '../campaigns';
import { ValidationError } from '../errors';
import { SHARD_COUNT } from '../keys';
import { scripts } from '../redis/scripts';
import { chainJson, settleAll, type ChainLink, type Result } from '../results';
import type { ContactStore } from '../store';
import { checkContactId, checkName, LIMITS } from '../values';

/** The group that gets no mail: conversions of the variants are compared with it. */
export const HOLDOUT = 'holdout';
/** The group kept back from the test, that gets the winning variant once it is decided. */
export const REST = 'rest';

/** What picks the winner for the rest: the goal's conversion rate, or the variant campaigns' click or open rate. */
export const WINNER_METRICS = ['conversion', 'click', 'open'] as const;
export type WinnerMetric = (typeof WINNER_METRICS)[number];
const METRIC_LABELS: Record<WinnerMetric, string> = {
	conversion: 'conversion rate',
	click: 'click rate',
	open: 'open rate',
};

export const EXPERIMENT_LIMITS = {
	/** Variants per test, besides the holdout. */
	variants: 10,
	testIdLength: 64,
	variantLength: 32,
	/** Longest conversion window. */
	windowDays: 365,
	/** Tests a contact may wait in for one goal event; the oldest give way (assign_variants.lua). */
	goalWaitsPerContact: 20,
	/** Latest winner decision, in hours after the test's start (30 days). */
	decideAfterHours: 720,
} as const;

/** Fewest contacts per group, and conversions and non-conversions per group, before a comparison is judged. */
export const MIN_GROUP = 30;
export const MIN_OUTCOMES = 5;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Key-safe (no encoding in key names, none in the campaign id "<test>:<variant>"). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export interface VariantWeight {
	name: string;
	/** Percent of the contacts. */
	weight: number;
}

export interface ExperimentDesign {
	test: string;
	variants: VariantWeight[];
	/** Percent of the contacts kept out (they get no mail); variants, holdout and rest add up to 100. */
	holdout: number;
	/** Percent of the contacts kept back from the test: no mail until the winner is decided, then the winner (default 0). */
	rest?: number;
	/** With a rest: hours after the test's start when the winner is decided (default 24). */
	decideAfterHours?: number;
	/** With a rest: what picks the winner (default conversion, which needs a goal). */
	winnerMetric?: WinnerMetric;
	/** Event that counts as a conversion (a user event name or "$goal_reached"); none: no conversions. */
	goal?: string;
	/** Days after the assignment in which the goal event counts (default 14). */
	windowDays?: number;
}

export interface AssignInput {
	contactId: string;
	/** Workflows the item came through (recorded with $experiment_assigned). */
	chain?: ChainLink[];
}

export interface Assignment {
	contactId: string;
	test: string;
	/** The variant whose mail the contact gets; "holdout"; for the rest, "rest" until the winner is decided, then the winner. */
	variant: string;
	holdout: boolean;
	/** In the rest (its stored group is "rest", whatever `variant` says). */
	rest: boolean;
	/**
	 * The campaign id for Send Campaign: "<test>:<variant>" for a variant, "<test>:rest" for the rest
	 * once the winner is decided (so the rest's mails do not count as the variant's); null for the
	 * holdout and for the rest before the decision.
	 */
	campaignId: string | null;
	assignedAt: string;
	/** False when the contact already had its variant (a retry or rerun). */
	new: boolean;
	/** Rest only: when the winner is decided (a Wait node waits until then). */
	decideAt?: string;
	/** Rest only, once decided: the winning variant. */
	winner?: string;
}

export interface WinnerDecision {
	/** The variant the rest gets. */
	winner: string;
	decidedAt: string;
	metric: WinnerMetric;
	/** Per listed variant, in order: the metric's rate, `count` of `outOf` (conversions of assigned, clicks or opens of sent). */
	rates: Array<{ variant: string; rate: number; count: number; outOf: number }>;
	/** Why this variant, in plain words. */
	reason: string;
}

export interface VariantReport {
	variant: string;
	campaignId: string | null;
	assigned: number;
	sent: number;
	delivered: number;
	opened: number;
	clicked: number;
	conversions: number;
	/** conversions / assigned */
	conversionRate: number;
	/** Relative difference of the conversion rate to the holdout's (0.23: 23 % better); null without one. */
	upliftVsHoldout: number | null;
	/** Two-sided p-value of the two-proportion z-test against the holdout; null when not judged. */
	pValue: number | null;
	significant: boolean;
	verdict: string;
}

export interface ExperimentReport {
	test: string;
	startedAt: string | null;
	variants: VariantReport[];
	holdout: VariantReport;
	/** The variant converting best among those significantly better than the holdout. */
	winner: string | null;
	/** The rest (contacts kept back for the winner): null when the test has none; its mail is campaign "<test>:rest". */
	rest: VariantReport | null;
	/** With a rest: when the winner for the rest is (or was) decided. */
	decideAt: string | null;
	/** With a rest: the winner decision once made, the same for every worker. */
	decision: WinnerDecision | null;
	summary: string;
}

export function checkTestId(value: unknown, field = 'test'): string {
	const test = checkName(field, value, EXPERIMENT_LIMITS.testIdLength, 'Test ID');
	if (!NAME.test(test))
		throw new ValidationError(
			field,
			`Test ID "${test}" may hold only letters, digits, "_", "." and "-", starting with a letter or digit`,
		);
	return test;
}

function checkVariantName(value: unknown, field: string): string {
	const name = checkName(field, value, EXPERIMENT_LIMITS.variantLength, 'Variant name');
	if (!NAME.test(name))
		throw new ValidationError(
			field,
			`Variant name "${name}" may hold only letters, digits, "_", "." and "-", starting with a letter or digit`,
		);
	if (name.toLowerCase() === HOLDOUT)
		throw new ValidationError(field, `"${name}" is the holdout's name`, 'Set the holdout with its own weight.');
	if (name.toLowerCase() === REST)
		throw new ValidationError(field, `"${name}" is the rest's name`, 'Set the rest with its own weight.');
	return name;
}

function checkWeight(value: unknown, field: string, min: 'positive' | 'zero'): number {
	const weight = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
	if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0 || (min === 'positive' && weight === 0))
		throw new ValidationError(
			field,
			`The weight must be a number ${min === 'positive' ? 'above 0' : 'of at least 0'} (percent), got ${JSON.stringify(value)}`,
		);
	return weight;
}

/** Validates a test's design: names, weights (percent, adding up to 100), goal and window. */
export function checkDesign(design: ExperimentDesign): Required<ExperimentDesign> {
	const test = checkTestId(design?.test);
	const list = design.variants;
	if (!Array.isArray(list) || list.length === 0)
		throw new ValidationError('variants', 'The test has no variants', 'Add at least one variant, e.g. A.');
	if (list.length > EXPERIMENT_LIMITS.variants)
		throw new ValidationError(
			'variants',
			`The test has ${list.length} variants; the limit is ${EXPERIMENT_LIMITS.variants}`,
		);
	const seen = new Set<string>();
	const variants = list.map((v, i) => {
		const name = checkVariantName(v?.name, `variants[${i}].name`);
		if (seen.has(name.toLowerCase()))
			throw new ValidationError(`variants[${i}].name`, `Variant "${name}" is listed twice`);
		seen.add(name.toLowerCase());
		return { name, weight: checkWeight(v.weight, `variants[${i}].weight`, 'positive') };
	});
	const holdout = checkWeight(design.holdout ?? 0, 'holdout', 'zero');
	const rest = design.rest ?? 0;
	if (typeof rest !== 'number' || !(rest >= 0 && rest < 100))
		throw new ValidationError(
			'rest',
			`The rest must be at least 0 and below 100 (percent), got ${JSON.stringify(rest)}`,
		);
	const total = variants.reduce((sum, v) => sum + v.weight, holdout + rest);
	if (Math.abs(total - 100) > 1e-9)
		throw new ValidationError(
			'variants',
			`The weights of the variants${rest > 0 ? ', the holdout and the rest' : ' and the holdout'} add up to ${Math.round(total * 1000) / 1000}; they must add up to 100 (percent)`,
		);
	const goal =
		design.goal === undefined || design.goal === ''
			? ''
			: checkName('goal', design.goal, LIMITS.eventNameLength, 'Goal event');
	const windowDays = design.windowDays ?? 14;
	if (typeof windowDays !== 'number' || !(windowDays > 0) || windowDays > EXPERIMENT_LIMITS.windowDays)
		throw new ValidationError(
			'windowDays',
			`The conversion window must be more than 0 and at most ${EXPERIMENT_LIMITS.windowDays} days, got ${JSON.stringify(windowDays)}`,
		);
	const decideAfterHours = design.decideAfterHours ?? 24;
	const winnerMetric = design.winnerMetric ?? 'conversion';
	// Only a test with a rest decides a winner: without one these settings are not used.
	if (rest > 0) {
		const max = EXPERIMENT_LIMITS.decideAfterHours;
		if (typeof decideAfterHours !== 'number' || !(decideAfterHours > 0) || decideAfterHours > max)
			throw new ValidationError(
				'decideAfterHours',
				`Decide Winner After must be more than 0 and at most ${max} hours, got ${JSON.stringify(decideAfterHours)}`,
			);
		if (!WINNER_METRICS.includes(winnerMetric))
			throw new ValidationError(
				'winnerMetric',
				`The winner metric must be one of ${WINNER_METRICS.join(', ')}; got ${JSON.stringify(winnerMetric)}`,
			);
		if (winnerMetric === 'conversion' && goal === '')
			throw new ValidationError(
				'winnerMetric',
				'Picking the winner by conversion rate needs a goal event',
				'Set the goal event, or pick the winner by click or open rate.',
			);
	}
	return { test, variants, holdout, goal, windowDays, rest, decideAfterHours, winnerMetric };
}

/**
 * The variant of a contact in a test, from a keyed hash (HMAC-SHA256, key: the test id) of its id
 * mapped onto the weights: the same for every run, in any process, without state. The holdout
 * takes the slice after the variants, the rest the last one (so a test without a rest draws as
 * before rests existed).
 */
export function drawVariant(design: Pick<ExperimentDesign, 'test' | 'variants' | 'rest'>, contactId: string): string {
	const digest = createHmac('sha256', design.test).update(contactId).digest();
	const point = (digest.readUIntBE(0, 6) / 2 ** 48) * 100;
	let upTo = 0;
	for (const v of design.variants) {
		upTo += v.weight;
		if (point < upTo) return v.name;
	}
	return point >= 100 - (design.rest ?? 0) ? REST : HOLDOUT;
}

export function variantCampaignId(test: string, variant: string): string | null {
	return variant === HOLDOUT || variant === REST ? null : `${test}:${variant}`;
}

/** The campaign id of the rest's mails: apart from the variants', whose counts compare randomized groups only. */
export function restCampaignId(test: string): string {
	return `${test}:${REST}`;
}

/** The decision hash of a test (decide_winner.lua): when and how the winner is decided, and the decision. */
interface DecisionState {
	decideAt: number;
	metric: WinnerMetric;
	decision: WinnerDecision | null;
}

function decisionState(flat: string[]): DecisionState | null {
	const hash: Record<string, string> = {};
	for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]] = flat[i + 1];
	return decisionStateOf(hash);
}

function decisionStateOf(hash: Record<string, string>): DecisionState | null {
	if (!hash.decideAt) return null;
	return {
		decideAt: Number(hash.decideAt),
		metric: hash.metric as WinnerMetric,
		decision: hash.decision ? (JSON.parse(hash.decision) as WinnerDecision) : null,
	};
}

/** A metric's rate: `count` of `outOf`, 0 with no data. */
const rateOf = (r: { count: number; outOf: number }) => (r.outOf > 0 ? r.count / r.outOf : 0);

/**
 * The winner among the listed variants by a metric's counts: the best rate, even when its lead is
 * not significant (the rest gets one of the mails anyway, and the better-looking one is the better
 * bet); the first listed variant when the best rates tie or there is no data. The reason says which,
 * and whether the lead over the runner-up is significant at 95%.
 */
export function pickWinner(
	metric: WinnerMetric,
	rows: Array<{ variant: string; count: number; outOf: number }>,
): { winner: string; reason: string } {
	const label = METRIC_LABELS[metric];
	const first = rows[0].variant;
	if (rows.every((r) => r.outOf === 0))
		return {
			winner: first,
			reason: `No variant has data for the ${label} (${metric === 'conversion' ? 'nobody assigned' : 'nothing sent'}): ${first}, listed first, is sent.`,
		};
	// Stable: variants with the same rate stay in the order listed.
	const [best, next] = [...rows].sort((a, b) => rateOf(b) - rateOf(a));
	if (!next) return { winner: best.variant, reason: `${best.variant} is the only variant.` };
	const ratePercent = (r: typeof best) => `${percent(rateOf(r))}`;
	if (rateOf(next) === rateOf(best)) {
		const tied = rows.filter((r) => rateOf(r) === rateOf(best)).map((r) => r.variant);
		return {
			winner: tied[0],
			reason: `${tied.join(' and ')} tie on ${label} (${ratePercent(best)}): ${tied[0]}, listed first, is sent.`,
		};
	}
	const lead = `${best.variant} has the best ${label} (${ratePercent(best)} vs ${ratePercent(next)} for ${next.variant})`;
	const pValue = twoProportionPValue(
		{ assigned: best.outOf, converted: best.count },
		{ assigned: next.outOf, converted: next.count },
	);
	return {
		winner: best.variant,
		reason:
			pValue === null
				? `${lead}; too little data to tell whether the lead is real: sent as the best rate seen.`
				: pValue < 0.05
					? `${lead}; the lead is significant at 95% (${pText(pValue)}).`
					: `${lead}, but the lead is not significant at 95% (${pText(pValue)}): sent as the best rate seen.`,
	};
}

/** A/B tests: sticky assignment of contacts to variants or a holdout, conversions and the report. */
export class Experiments {
	constructor(private readonly store: ContactStore) {}

	/**
	 * Assigns each contact to a variant (or the holdout) once per test, counting the assignment and,
	 * with a goal, waiting for it: one script call per shard and chunk of items, in one round trip.
	 */
	async assign(
		rawDesign: ExperimentDesign,
		inputs: AssignInput[],
		context: { source?: string } = {},
	): Promise<Array<Result<Assignment>>> {
		const { store } = this;
		const design = checkDesign(rawDesign);
		const now = store.now();
		// With a rest, the test's decision hash is opened (its clock starts at the first split) in the
		// same round trip as the assignment.
		const opening: Promise<DecisionState | Error | null> =
			design.rest > 0
				? this.decisionCall(design, now, '').catch((error: unknown) => error as Error)
				: Promise.resolve(null);
		const shared = JSON.stringify({
			test: design.test,
			goal: design.goal,
			windowMs: Math.round(design.windowDays * DAY),
			now,
			source: context.source ? checkName('source', context.source, 200, 'Source') : 'experiment',
			limits: store.limits,
			maxWaits: EXPERIMENT_LIMITS.goalWaitsPerContact,
		});
		const results = await store.runBatch<AssignInput, Assignment>({
			script: scripts.assignVariants,
			items: inputs,
			shared,
			contactOf: (input) => checkContactId(input?.contactId),
			argsOf: (input, _, contactId) => [contactId, drawVariant(design, contactId), chainJson(input.chain)],
			answer: (raw, _, contactId) => {
				const [variant, at, isNew] = raw as [string, string, number];
				return {
					contactId,
					test: design.test,
					variant,
					holdout: variant === HOLDOUT,
					rest: variant === REST,
					campaignId: variantCampaignId(design.test, variant),
					assignedAt: new Date(Number(at)).toISOString(),
					new: Number(isNew) === 1,
				};
			},
		});
		return this.routeRest(design, now, opening, results);
	}

	/**
	 * Rest contacts wait for the decision (decideAt), then get the winner: the first split of a rest
	 * contact at or after decideAt decides, once for the test (the first decision stored holds).
	 */
	private async routeRest(
		design: Required<ExperimentDesign>,
		now: number,
		opening: Promise<DecisionState | Error | null>,
		results: Array<Result<Assignment>>,
	): Promise<Array<Result<Assignment>>> {
		const state = await opening;
		if (state === null || !results.some((r) => r.ok && r.value.rest)) return results;
		let decided = state;
		if (!(decided instanceof Error) && !decided.decision && now >= decided.decideAt)
			decided = await this.decide(design, decided, now).catch((error: unknown) => error as Error);
		return results.map((r) => {
			if (!r.ok || !r.value.rest) return r;
			if (decided instanceof Error) return { ok: false, error: decided };
			const decideAt = new Date(decided.decideAt).toISOString();
			const winner = decided.decision?.winner;
			return {
				ok: true,
				value: winner
					? { ...r.value, variant: winner, campaignId: restCampaignId(design.test), decideAt, winner }
					: { ...r.value, decideAt },
			};
		});
	}

	/** Opens the test's decision hash (first call) and stores `decision` unless one is; answers the hash. */
	private async decisionCall(
		design: Required<ExperimentDesign>,
		now: number,
		decision: string,
	): Promise<DecisionState> {
		const { store } = this;
		const flat = await store.run<string[]>(
			scripts.decideWinner,
			[store.keys.experimentDecision(design.test)],
			[now, now + Math.round(design.decideAfterHours * HOUR), design.winnerMetric, decision],
		);
		return decisionState(flat)!;
	}

	/** Picks the winner by the metric fixed at the test's start and stores it, unless another worker did first. */
	private async decide(design: Required<ExperimentDesign>, state: DecisionState, now: number): Promise<DecisionState> {
		const { metric } = state;
		const listed = design.variants.map((v) => v.name);
		let rows: Array<{ variant: string; count: number; outOf: number }>;
		if (metric === 'conversion') {
			const { groups } = await this.counts(design.test);
			rows = listed.map((variant) => {
				const own = groups.get(variant) ?? { assigned: 0, converted: 0 };
				return { variant, count: own.converted, outOf: own.assigned };
			});
		} else {
			const mail = await new Campaigns(this.store).report(listed.map((v) => `${design.test}:${v}`));
			rows = listed.map((variant, i) => {
				const sent = mail[i];
				if (!sent.ok) throw sent.error;
				return { variant, count: metric === 'click' ? sent.value.clicked : sent.value.opened, outOf: sent.value.sent };
			});
		}
		const { winner, reason } = pickWinner(metric, rows);
		const decision: WinnerDecision = {
			winner,
			decidedAt: new Date(now).toISOString(),
			metric,
			rates: rows.map((r) => ({ ...r, rate: Math.round(rateOf(r) * 10_000) / 10_000 })),
			reason,
		};
		return this.decisionCall(design, now, JSON.stringify(decision));
	}

	/** Per-variant counts summed over the shards (SHARD_COUNT reads, one round trip). */
	private async counts(test: string): Promise<{ startedAt: number | null; groups: Map<string, Counts> }> {
		const { store } = this;
		const hashes = await Promise.all(
			Array.from({ length: SHARD_COUNT }, (_, shard) =>
				store.call((r) => r.hgetall(store.keys.experimentCounts(shard, test))),
			),
		);
		const groups = new Map<string, Counts>();
		let startedAt: number | null = null;
		for (const hash of hashes) {
			for (const [field, value] of Object.entries(hash)) {
				if (field === 'startedAt') {
					startedAt = startedAt === null ? Number(value) : Math.min(startedAt, Number(value));
					continue;
				}
				const [kind, variant] = [field.slice(0, field.indexOf(':')), field.slice(field.indexOf(':') + 1)];
				const group = groups.get(variant) ?? { assigned: 0, converted: 0 };
				if (kind === 'assigned') group.assigned += Number(value);
				else if (kind === 'converted') group.converted += Number(value);
				groups.set(variant, group);
			}
		}
		return { startedAt, groups };
	}

	/**
	 * Per variant: assigned, the mail counters of its campaign (Send Campaign's report of
	 * "<test>:<variant>"), conversions and their comparison with the holdout. Costs SHARD_COUNT
	 * reads plus one per variant, whatever the number of contacts.
	 */
	async report(tests: Array<{ test: string; variants?: string[] }>): Promise<Array<Result<ExperimentReport>>> {
		const campaigns = new Campaigns(this.store);
		return settleAll(tests, async (input) => {
			const test = checkTestId(input?.test);
			const named = (input.variants ?? []).map((v, i) => checkVariantName(v, `variants[${i}]`));
			const [{ startedAt, groups }, decisionHash] = await Promise.all([
				this.counts(test),
				this.store.call((r) => r.hgetall(this.store.keys.experimentDecision(test))),
			]);
			const state = decisionStateOf(decisionHash);
			const names = [...new Set([...named, ...[...groups.keys()].filter((v) => v !== HOLDOUT && v !== REST).sort()])];
			const hasRest = state !== null || groups.has(REST);
			const mail = await campaigns.report([
				...names.map((v) => `${test}:${v}`),
				...(hasRest ? [restCampaignId(test)] : []),
			]);
			const control = groups.get(HOLDOUT) ?? { assigned: 0, converted: 0 };
			const holdout = variantReport(HOLDOUT, null, control, undefined);
			holdout.verdict = `Holdout: ${holdout.assigned} contacts, ${percent(holdout.conversionRate)} converted.`;
			const variants = names.map((variant, i) => {
				const sent = mail[i];
				if (!sent.ok) throw sent.error;
				return variantReport(variant, sent.value, groups.get(variant) ?? { assigned: 0, converted: 0 }, control);
			});
			const better = variants.filter((v) => v.significant && (v.upliftVsHoldout ?? 0) > 0);
			const winner = better.sort((a, b) => b.conversionRate - a.conversionRate)[0]?.variant ?? null;
			let rest: VariantReport | null = null;
			if (hasRest) {
				const restMail = mail[names.length];
				if (!restMail.ok) throw restMail.error;
				rest = variantReport(REST, restMail.value, groups.get(REST) ?? { assigned: 0, converted: 0 }, control);
			}
			return {
				test,
				startedAt: startedAt === null ? null : new Date(startedAt).toISOString(),
				variants,
				holdout,
				winner,
				rest,
				decideAt: state ? new Date(state.decideAt).toISOString() : null,
				decision: state?.decision ?? null,
				summary: variants.length
					? variants.map((v) => v.verdict).join(' ')
					: `Test ${test} has assigned no contacts yet.`,
			};
		});
	}
}

interface Counts {
	assigned: number;
	converted: number;
}

function variantReport(
	variant: string,
	mail: { campaignId: string; sent: number; delivered: number; opened: number; clicked: number } | null,
	own: Counts,
	control: Counts | undefined,
): VariantReport {
	const comparison = control ? compareWithHoldout(variant, own, control) : undefined;
	return {
		variant,
		campaignId: mail?.campaignId ?? null,
		assigned: own.assigned,
		sent: mail?.sent ?? 0,
		delivered: mail?.delivered ?? 0,
		opened: mail?.opened ?? 0,
		clicked: mail?.clicked ?? 0,
		conversions: own.converted,
		conversionRate: rate(own),
		upliftVsHoldout: comparison?.uplift ?? null,
		pValue: comparison?.pValue ?? null,
		significant: comparison?.significant ?? false,
		verdict: comparison?.verdict ?? '',
	};
}

const rate = (c: Counts) => (c.assigned > 0 ? c.converted / c.assigned : 0);
const percent = (x: number) => `${Math.round(x * 1000) / 10}%`;

/**
 * Two-proportion z-test of a variant's conversion rate against the holdout's, in plain words.
 * Judged only with MIN_GROUP contacts per group and MIN_OUTCOMES conversions and non-conversions
 * in each (below that the normal approximation does not hold): "not enough data yet".
 */
export function compareWithHoldout(
	variant: string,
	own: Counts,
	control: Counts,
): { uplift: number | null; pValue: number | null; significant: boolean; verdict: string } {
	if (control.assigned === 0)
		return { uplift: null, pValue: null, significant: false, verdict: `${variant}: no holdout to compare with.` };
	const p1 = rate(own);
	const p0 = rate(control);
	const uplift = p0 > 0 ? (p1 - p0) / p0 : null;
	const rates = `(${percent(p1)} vs ${percent(p0)})`;
	const pValue = twoProportionPValue(own, control);
	if (pValue === null)
		return {
			uplift,
			pValue: null,
			significant: false,
			verdict: `${variant} vs holdout ${rates}: not enough data yet.`,
		};
	const significant = pValue < 0.05;
	const diff = uplift === null ? 0 : uplift;
	const how =
		Math.abs(diff) < 0.005
			? `${variant} converts like the holdout ${rates}`
			: `${variant} converts ${Math.round(Math.abs(diff) * 100)}% ${diff > 0 ? 'better' : 'worse'} than holdout ${rates}`;
	const p = pText(pValue);
	return {
		uplift,
		pValue,
		significant,
		verdict: significant
			? `${how}; this is significant at 95% (${p}).`
			: `${how}, but this is not significant at 95% (${p}): it may be chance, keep the test running.`,
	};
}

/**
 * Two-sided p-value of a two-proportion z-test with the pooled rate; null with fewer than MIN_GROUP
 * in a group or fewer than MIN_OUTCOMES successes or failures in one (the normal approximation does
 * not hold below that).
 */
function twoProportionPValue(own: Counts, other: Counts): number | null {
	const enough = [own, other].every(
		(g) => g.assigned >= MIN_GROUP && g.converted >= MIN_OUTCOMES && g.assigned - g.converted >= MIN_OUTCOMES,
	);
	if (!enough) return null;
	const pooled = (own.converted + other.converted) / (own.assigned + other.assigned);
	const se = Math.sqrt(pooled * (1 - pooled) * (1 / own.assigned + 1 / other.assigned));
	const z = se > 0 ? (rate(own) - rate(other)) / se : 0;
	return Math.min(1, 2 * (1 - normalCdf(Math.abs(z))));
}

const pText = (pValue: number) => (pValue < 0.001 ? 'p < 0.001' : `p = ${pValue.toFixed(3)}`);

/** Standard normal CDF (Abramowitz-Stegun 7.1.26, error below 1.5e-7). */
export function normalCdf(z: number): number {
	const x = Math.abs(z) / Math.SQRT2;
	const t = 1 / (1 + 0.3275911 * x);
	const erf =
		1 -
		((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
	return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}
