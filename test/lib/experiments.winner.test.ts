/**
 * A/B tests with a rest: contacts kept back from the test get the winning variant once it is
 * decided, N hours after the test's start, once for every worker (lib/experiments).
 */
import { closeAllStores } from '../../lib/redis/pool';
import { drawVariant, HOLDOUT, pickWinner, REST, type Assignment, type ExperimentDesign } from '../../lib/experiments';
import { ValidationError } from '../../lib/errors';
import { SHARD_COUNT } from '../../lib/keys';
import { experimentHelpers } from '../harness/experiments';
import { openStore, scriptCalls, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const HOUR = 3_600_000;
const design = (test: string, extra: Partial<ExperimentDesign> = {}): ExperimentDesign => ({
	test,
	variants: [
		{ name: 'A', weight: 25 },
		{ name: 'B', weight: 25 },
	],
	holdout: 10,
	rest: 40,
	decideAfterHours: 4,
	winnerMetric: 'conversion',
	goal: 'purchase',
	windowDays: 7,
	...extra,
});

describe('drawVariant with a rest (no Redis)', () => {
	it('takes the rest from the last slice: variants keep their contacts, and the shares follow the weights', () => {
		const withRest = design('t-draw');
		const without = design('t-draw', { holdout: 50, rest: 0 });
		const counts: Record<string, number> = { A: 0, B: 0, [HOLDOUT]: 0, [REST]: 0 };
		for (let i = 0; i < 20_000; i++) {
			const group = drawVariant(withRest, `c-${i}`);
			counts[group]++;
			const before = drawVariant(without, `c-${i}`);
			// The same point on the same weights: only the holdout's slice is shared with the rest.
			expect(group === REST ? HOLDOUT : group).toBe(before);
		}
		expect(counts.A / 20_000).toBeGreaterThan(0.235);
		expect(counts.A / 20_000).toBeLessThan(0.265);
		expect(counts[HOLDOUT] / 20_000).toBeGreaterThan(0.09);
		expect(counts[HOLDOUT] / 20_000).toBeLessThan(0.11);
		expect(counts[REST] / 20_000).toBeGreaterThan(0.385);
		expect(counts[REST] / 20_000).toBeLessThan(0.415);
	});
});

describe('pickWinner (no Redis)', () => {
	it('picks the best rate and says whether its lead is significant; on a tie or without data, the first listed', () => {
		expect(
			pickWinner('click', [
				{ variant: 'A', count: 100, outOf: 1000 },
				{ variant: 'B', count: 150, outOf: 1000 },
			]),
		).toEqual({
			winner: 'B',
			reason: 'B has the best click rate (15% vs 10% for A); the lead is significant at 95% (p < 0.001).',
		});
		expect(
			pickWinner('open', [
				{ variant: 'A', count: 100, outOf: 1000 },
				{ variant: 'B', count: 110, outOf: 1000 },
			]),
		).toEqual({
			winner: 'B',
			reason:
				'B has the best open rate (11% vs 10% for A), but the lead is not significant at 95% (p = 0.466): sent as the best rate seen.',
		});
		expect(
			pickWinner('conversion', [
				{ variant: 'A', count: 1, outOf: 10 },
				{ variant: 'B', count: 3, outOf: 10 },
			]).reason,
		).toBe(
			'B has the best conversion rate (30% vs 10% for A); too little data to tell whether the lead is real: sent as the best rate seen.',
		);
		expect(
			pickWinner('click', [
				{ variant: 'A', count: 5, outOf: 50 },
				{ variant: 'B', count: 10, outOf: 100 },
				{ variant: 'C', count: 1, outOf: 100 },
			]),
		).toEqual({ winner: 'A', reason: 'A and B tie on click rate (10%): A, listed first, is sent.' });
		expect(
			pickWinner('open', [
				{ variant: 'B', count: 0, outOf: 0 },
				{ variant: 'A', count: 0, outOf: 0 },
			]),
		).toEqual({
			winner: 'B',
			reason: 'No variant has data for the open rate (nothing sent): B, listed first, is sent.',
		});
	});
});

describe.each(topologies)('Experiments with a rest on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	const { experiments, create, assigned } = experimentHelpers(store, design);
	const reportOf = async (test: string) => {
		const [report] = await experiments.report([{ test, variants: ['A', 'B'] }]);
		if (!report.ok) throw report.error;
		return report.value;
	};
	const group = (list: Assignment[], name: string) => list.filter((a) => a.variant === name).map((a) => a.contactId);

	it('keeps the rest back until decideAt, then decides once by conversion rate and routes every rest contact to the winner', async () => {
		const ids = Array.from({ length: 400 }, (_, i) => `w1-${i}`);
		await create(ids);
		const startedAt = clock.ms;
		let first: Assignment[] = [];
		const calls = await scriptCalls(async () => {
			first = await assigned('t-win', ids);
		});
		// The decision hash is opened in the same round trip as the assignment.
		expect(calls.every((answeredBefore) => answeredBefore === 0)).toBe(true);
		const decideAt = new Date(startedAt + 4 * HOUR).toISOString();
		const rest = group(first, REST);
		expect(first.map((a) => a.variant)).toEqual(ids.map((id) => drawVariant(design('t-win'), id)));
		expect(first.filter((a) => a.rest)).toEqual(
			rest.map((contactId) =>
				expect.objectContaining({ contactId, variant: REST, rest: true, holdout: false, campaignId: null, decideAt }),
			),
		);
		expect(first.filter((a) => !a.rest).every((a) => a.decideAt === undefined)).toBe(true);
		expect(await store.call((r) => r.hget(store.keys.contact(rest[0]), 'x:t-win'))).toBe(`rest|${startedAt}`);

		// B converts 30 %, A 10 %; a rest contact's purchase counts for the rest, not for a variant.
		clock.advance(HOUR);
		const a = group(first, 'A');
		const b = group(first, 'B');
		await store.events.record(
			[...a.slice(0, Math.round(a.length * 0.1)), ...b.slice(0, Math.round(b.length * 0.3)), rest[0]].map(
				(contactId) => ({ contactId, name: 'purchase' }),
			),
		);
		// Before decideAt (a later split of the rest, 1 ms early): still kept back, nothing decided.
		clock.ms = startedAt + 4 * HOUR - 1;
		const early = await assigned('t-win', rest.slice(0, 5));
		expect(early.every((x) => x.variant === REST && x.campaignId === null && !x.new)).toBe(true);
		expect((await reportOf('t-win')).decision).toBeNull();

		clock.ms = startedAt + 4 * HOUR;
		const routed = await assigned('t-win', rest);
		expect(routed).toEqual(
			rest.map((contactId) =>
				expect.objectContaining({
					contactId,
					variant: 'B',
					winner: 'B',
					rest: true,
					campaignId: 't-win:rest',
					decideAt,
					new: false,
				}),
			),
		);
		const report = await reportOf('t-win');
		expect(report.decision).toEqual({
			winner: 'B',
			decidedAt: decideAt,
			metric: 'conversion',
			rates: [
				{ variant: 'A', count: Math.round(a.length * 0.1), outOf: a.length, rate: expect.any(Number) },
				{ variant: 'B', count: Math.round(b.length * 0.3), outOf: b.length, rate: expect.any(Number) },
			],
			reason: expect.stringMatching(
				/^B has the best conversion rate \(.* vs .* for A\); the lead is significant at 95%/,
			),
		});
		expect(report.decideAt).toBe(decideAt);
		expect(report.variants.map((v) => v.variant)).toEqual(['A', 'B']);
		expect(report.rest).toMatchObject({
			variant: REST,
			campaignId: 't-win:rest',
			assigned: rest.length,
			conversions: 1,
		});
		// The rest's mails are not the variant's: B's counters hold B's contacts only.
		await store.call((r) => r.hincrby(store.keys.global('campaign', 't-win:rest'), 'sent', rest.length));
		expect((await reportOf('t-win')).variants[1].sent).toBe(0);
		expect((await reportOf('t-win')).rest?.sent).toBe(rest.length);

		// Decided once: A overtaking B later changes nothing; new and returning rest contacts get B;
		// nothing is assigned or counted twice.
		clock.advance(HOUR);
		await store.events.record(a.slice(0, a.length).map((contactId) => ({ contactId, name: 'purchase' })));
		const newcomers = Array.from({ length: 60 }, (_, i) => `w1-new-${i}`);
		await create(newcomers);
		const later = await assigned('t-win', [...rest, ...newcomers]);
		expect(later.filter((x) => x.rest).every((x) => x.variant === 'B' && x.campaignId === 't-win:rest')).toBe(true);
		expect(later.filter((x) => x.rest).length).toBeGreaterThan(rest.length);
		const after = await reportOf('t-win');
		expect(after.decision).toEqual(report.decision);
		expect(after.rest?.assigned).toBe(later.filter((x) => x.rest).length);
		const history = await store.events.history(rest[1]);
		expect(history.filter((e) => e.name === '$experiment_assigned')).toEqual([
			expect.objectContaining({ properties: { test: 't-win', variant: REST } }),
		]);
	});

	it('two workers deciding at once agree on one decision, even when they would pick differently', async () => {
		const ids = Array.from({ length: 200 }, (_, i) => `w2-${i}`);
		await create(ids);
		const first = await assigned('t-race', ids, { winnerMetric: 'click' });
		const rest = group(first, REST);
		// No mail sent: a tie without data, which each worker breaks by its own list's first variant.
		clock.advance(4 * HOUR);
		const [ab, ba] = await Promise.all([
			assigned('t-race', rest, { winnerMetric: 'click' }),
			assigned('t-race', rest, {
				winnerMetric: 'click',
				variants: [
					{ name: 'B', weight: 25 },
					{ name: 'A', weight: 25 },
				],
			}),
		]);
		const winners = new Set([...ab, ...ba].map((x) => x.winner));
		expect(winners.size).toBe(1);
		const decision = (await reportOf('t-race')).decision;
		expect(winners).toEqual(new Set([decision?.winner]));
		expect(decision?.reason).toMatch(
			/^No variant has data for the click rate \(nothing sent\): [AB], listed first, is sent\.$/,
		);
	});

	it('decides by click rate from the variant campaigns, with the metric fixed at the test start', async () => {
		const ids = Array.from({ length: 100 }, (_, i) => `w3-${i}`);
		await create(ids);
		const first = await assigned('t-click', ids, { winnerMetric: 'click' });
		const rest = group(first, REST);
		const counters = (campaign: string, sent: number, clicked: number) =>
			store.call((r) =>
				r
					.hincrby(store.keys.global('campaign', campaign), 'sent', sent)
					.then(() => r.hincrby(store.keys.global('campaign', campaign), 'clicked', clicked)),
			);
		await counters('t-click:A', 500, 90);
		await counters('t-click:B', 500, 40);
		clock.advance(4 * HOUR);
		// Asked to decide by conversion now: the metric the test started with holds.
		const routed = await assigned('t-click', rest, { winnerMetric: 'conversion', decideAfterHours: 100 });
		expect(routed.every((x) => x.variant === 'A' && x.winner === 'A')).toBe(true);
		const { decision } = await reportOf('t-click');
		expect(decision).toMatchObject({
			winner: 'A',
			metric: 'click',
			rates: [
				{ variant: 'A', count: 90, outOf: 500, rate: 0.18 },
				{ variant: 'B', count: 40, outOf: 500, rate: 0.08 },
			],
		});
		expect(decision?.reason).toMatch(/^A has the best click rate \(18% vs 8% for B\); the lead is significant at 95%/);
	});

	it('rejects a bad rest, decision time or metric naming the field and limit, and writes nothing', async () => {
		const bad = async (extra: Partial<ExperimentDesign>) => {
			try {
				await experiments.assign(design('t-bad-rest', extra), [{ contactId: 'nobody' }]);
			} catch (error) {
				return [(error as ValidationError).field, (error as Error).message];
			}
			throw new Error('accepted');
		};
		expect(await bad({ rest: 100 })).toEqual(['rest', 'The rest must be at least 0 and below 100 (percent), got 100']);
		expect(await bad({ rest: -5 })).toEqual(['rest', 'The rest must be at least 0 and below 100 (percent), got -5']);
		expect(await bad({ rest: 50 })).toEqual([
			'variants',
			'The weights of the variants, the holdout and the rest add up to 110; they must add up to 100 (percent)',
		]);
		expect(await bad({ decideAfterHours: 0 })).toEqual([
			'decideAfterHours',
			'Decide Winner After must be more than 0 and at most 720 hours, got 0',
		]);
		expect((await bad({ decideAfterHours: 721 }))[1]).toBe(
			'Decide Winner After must be more than 0 and at most 720 hours, got 721',
		);
		expect(await bad({ winnerMetric: 'revenue' as never })).toEqual([
			'winnerMetric',
			'The winner metric must be one of conversion, click, open; got "revenue"',
		]);
		expect(await bad({ goal: '' })).toEqual([
			'winnerMetric',
			'Picking the winner by conversion rate needs a goal event',
		]);
		expect(await bad({ variants: [{ name: 'Rest', weight: 50 }] })).toEqual([
			'variants[0].name',
			'"Rest" is the rest\'s name',
		]);
		// Without a rest, the decision settings are not used (nor checked).
		const [missing] = await experiments.assign(
			design('t-bad-rest', { rest: 0, holdout: 50, goal: '', decideAfterHours: 0 }),
			[{ contactId: 'nobody' }],
		);
		expect(missing.ok).toBe(false);
		const written = await Promise.all([
			store.call((r) => r.exists(store.keys.experimentDecision('t-bad-rest'))),
			...Array.from({ length: SHARD_COUNT }, (_, s) =>
				store.call((r) => r.exists(store.keys.experimentCounts(s, 't-bad-rest'))),
			),
		]);
		expect(written.every((n) => n === 0)).toBe(true);
	});
});
