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

export const EXPERIMENT_LIMITS = {
	/** Variants per test, besides the holdout. */
	variants: 10,
	testIdLength: 64,
	variantLength: 32,
	/** Longest conversion window. */
	windowDays: 365,
	/** Tests a contact may wait in for one goal event; the oldest give way (assign_variants.lua). */
	goalWaitsPerContact: 20,
} as const;

/** Fewest contacts per group, and conversions and non-conversions per group, before a comparison is judged. */
export const MIN_GROUP = 30;
export const MIN_OUTCOMES = 5;

const DAY = 86_400_000;
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
	/** Percent of the contacts kept out (they get no mail); variants and holdout add up to 100. */
	holdout: number;
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
	variant: string;
	holdout: boolean;
	/** The variant's campaign id for Send Campaign ("<test>:<variant>"); null for the holdout. */
	campaignId: string | null;
	assignedAt: string;
	/** False when the contact already had its variant (a retry or rerun). */
	new: boolean;
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
	const total = variants.reduce((sum, v) => sum + v.weight, holdout);
	if (Math.abs(total - 100) > 1e-9)
		throw new ValidationError(
			'variants',
			`The weights of the variants and the holdout add up to ${Math.round(total * 1000) / 1000}; they must add up to 100 (percent)`,
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
	return { test, variants, holdout, goal, windowDays };
}

/**
 * The variant of a contact in a test, from a keyed hash (HMAC-SHA256, key: the test id) of its id
 * mapped onto the weights: the same for every run, in any process, without state. The holdout
 * takes the last slice.
 */
export function drawVariant(design: Pick<ExperimentDesign, 'test' | 'variants'>, contactId: string): string {
	const digest = createHmac('sha256', design.test).update(contactId).digest();
	const point = (digest.readUIntBE(0, 6) / 2 ** 48) * 100;
	let upTo = 0;
	for (const v of design.variants) {
		upTo += v.weight;
		if (point < upTo) return v.name;
	}
	return HOLDOUT;
}

export function variantCampaignId(test: string, variant: string): string | null {
	return variant === HOLDOUT ? null : `${test}:${variant}`;
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
		const shared = JSON.stringify({
			test: design.test,
			goal: design.goal,
			windowMs: Math.round(design.windowDays * DAY),
			now,
			source: context.source ? checkName('source', context.source, 200, 'Source') : 'experiment',
			limits: store.limits,
			maxWaits: EXPERIMENT_LIMITS.goalWaitsPerContact,
		});
		return store.runBatch<AssignInput, Assignment>({
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
					campaignId: variantCampaignId(design.test, variant),
					assignedAt: new Date(Number(at)).toISOString(),
					new: Number(isNew) === 1,
				};
			},
		});
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
			const { startedAt, groups } = await this.counts(test);
			const names = [...new Set([...named, ...[...groups.keys()].filter((v) => v !== HOLDOUT).sort()])];
			const mail = await campaigns.report(names.map((v) => `${test}:${v}`));
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
			return {
				test,
				startedAt: startedAt === null ? null : new Date(startedAt).toISOString(),
				variants,
				holdout,
				winner,
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
	const enough = [own, control].every(
		(g) => g.assigned >= MIN_GROUP && g.converted >= MIN_OUTCOMES && g.assigned - g.converted >= MIN_OUTCOMES,
	);
	if (!enough)
		return {
			uplift,
			pValue: null,
			significant: false,
			verdict: `${variant} vs holdout ${rates}: not enough data yet.`,
		};
	const pooled = (own.converted + control.converted) / (own.assigned + control.assigned);
	const se = Math.sqrt(pooled * (1 - pooled) * (1 / own.assigned + 1 / control.assigned));
	const z = se > 0 ? (p1 - p0) / se : 0;
	const pValue = Math.min(1, 2 * (1 - normalCdf(Math.abs(z))));
	const significant = pValue < 0.05;
	const diff = uplift === null ? 0 : uplift;
	const how =
		Math.abs(diff) < 0.005
			? `${variant} converts like the holdout ${rates}`
			: `${variant} converts ${Math.round(Math.abs(diff) * 100)}% ${diff > 0 ? 'better' : 'worse'} than holdout ${rates}`;
	const p = `p = ${pValue < 0.001 ? '< 0.001' : pValue.toFixed(3)}`;
	return {
		uplift,
		pValue,
		significant,
		verdict: significant
			? `${how}; this is significant at 95% (${p}).`
			: `${how}, but this is not significant at 95% (${p}): it may be chance, keep the test running.`,
	};
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26, error below 1.5e-7). */
export function normalCdf(z: number): number {
	const x = Math.abs(z) / Math.SQRT2;
	const t = 1 / (1 + 0.3275911 * x);
	const erf =
		1 -
		((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
	return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}
