import { closeAllStores } from '../../lib/redis/pool';
import { compareWithHoldout, drawVariant, HOLDOUT, normalCdf, type ExperimentDesign } from '../../lib/experiments';
import { ValidationError } from '../../lib/errors';
import { SHARD_COUNT } from '../../lib/keys';
import { experimentHelpers } from '../harness/experiments';
import { openStore, scriptCalls, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const DAY = 86_400_000;
const design = (test: string, extra: Partial<ExperimentDesign> = {}): ExperimentDesign => ({
	test,
	variants: [
		{ name: 'A', weight: 45 },
		{ name: 'B', weight: 45 },
	],
	holdout: 10,
	goal: 'purchase',
	windowDays: 7,
	...extra,
});

describe('drawVariant (no Redis)', () => {
	it('is deterministic per contact and test, and follows the weights within tolerance', () => {
		const d = design('t-draw');
		const counts: Record<string, number> = { A: 0, B: 0, [HOLDOUT]: 0 };
		for (let i = 0; i < 20_000; i++) counts[drawVariant(d, `c-${i}`)]++;
		expect(counts.A / 20_000).toBeGreaterThan(0.435);
		expect(counts.A / 20_000).toBeLessThan(0.465);
		expect(counts.B / 20_000).toBeGreaterThan(0.435);
		expect(counts[HOLDOUT] / 20_000).toBeGreaterThan(0.09);
		expect(counts[HOLDOUT] / 20_000).toBeLessThan(0.11);
		expect(drawVariant(d, 'c-7')).toBe(drawVariant(design('t-draw'), 'c-7'));
		// Another test splits the same contacts independently.
		const other = Array.from({ length: 200 }, (_, i) => drawVariant(design('t-other'), `c-${i}`));
		const same = Array.from({ length: 200 }, (_, i) => drawVariant(d, `c-${i}`));
		expect(other).not.toEqual(same);
	});
});

describe('compareWithHoldout (no Redis)', () => {
	it('states uplift and significance in plain words, or that there is not enough data', () => {
		const big = compareWithHoldout('B', { assigned: 2000, converted: 246 }, { assigned: 2000, converted: 200 });
		expect(big.uplift).toBeCloseTo(0.23, 5);
		expect(big.significant).toBe(true);
		expect(big.pValue).toBeLessThan(0.05);
		expect(big.verdict).toBe(
			'B converts 23% better than holdout (12.3% vs 10%); this is significant at 95% (p = 0.021).',
		);
		// z = 0.023 / sqrt(0.1115 * 0.8885 * 2 / 2000) = 2.311; and the normal CDF at 1.96 is 0.975.
		expect(normalCdf(1.96)).toBeCloseTo(0.975, 4);
		const small = compareWithHoldout('B', { assigned: 200, converted: 25 }, { assigned: 200, converted: 20 });
		expect(small.significant).toBe(false);
		expect(small.verdict).toMatch(
			/^B converts 25% better than holdout \(12.5% vs 10%\), but this is not significant at 95%/,
		);
		expect(compareWithHoldout('A', { assigned: 20, converted: 5 }, { assigned: 20, converted: 1 }).verdict).toBe(
			'A vs holdout (25% vs 5%): not enough data yet.',
		);
		expect(compareWithHoldout('A', { assigned: 20, converted: 5 }, { assigned: 0, converted: 0 }).verdict).toBe(
			'A: no holdout to compare with.',
		);
	});
});

describe.each(topologies)('Experiments on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	const { experiments, create, assigned } = experimentHelpers(store, design);

	it('assigns each contact once, in one round trip, logging $experiment_assigned and counting per variant', async () => {
		const ids = Array.from({ length: 300 }, (_, i) => `x1-${i}`);
		await create(ids);
		let first: Awaited<ReturnType<typeof assigned>> = [];
		const calls = await scriptCalls(async () => {
			first = await assigned('t-once', ids);
		});
		expect(calls.every((answeredBefore) => answeredBefore === 0)).toBe(true);
		expect(calls.length).toBeLessThanOrEqual(SHARD_COUNT);
		expect(first.every((a) => a.new)).toBe(true);
		expect(first.map((a) => a.variant)).toEqual(ids.map((id) => drawVariant(design('t-once'), id)));
		const b = first.find((a) => a.variant === 'B');
		expect(b).toMatchObject({ campaignId: 't-once:B', holdout: false, test: 't-once' });
		expect(first.find((a) => a.holdout)?.campaignId).toBeNull();

		// A rerun (even with other weights) keeps every contact's variant and records nothing again.
		clock.advance(DAY);
		const rerun = await assigned('t-once', ids, {
			variants: [
				{ name: 'A', weight: 10 },
				{ name: 'B', weight: 10 },
			],
			holdout: 80,
		});
		expect(rerun.map((a) => a.variant)).toEqual(first.map((a) => a.variant));
		expect(rerun.every((a) => !a.new && a.assignedAt === first[0].assignedAt)).toBe(true);

		const [report] = await experiments.report([{ test: 't-once' }]);
		if (!report.ok) throw report.error;
		const byVariant = (v: string) => first.filter((a) => a.variant === v).length;
		expect(report.value.variants.map((v) => [v.variant, v.assigned])).toEqual([
			['A', byVariant('A')],
			['B', byVariant('B')],
		]);
		expect(report.value.holdout.assigned).toBe(byVariant(HOLDOUT));
		const history = await store.events.history(ids[0]);
		expect(history.filter((e) => e.name === '$experiment_assigned')).toEqual([
			expect.objectContaining({ properties: { test: 't-once', variant: first[0].variant } }),
		]);
	});

	it('counts a goal event within the window once per contact and test, not before the assignment or after the window', async () => {
		const ids = ['g-1', 'g-2', 'g-3', 'g-4'];
		await create(ids);
		// Goal before the assignment: not a conversion.
		await store.events.record([{ contactId: 'g-1', name: 'purchase' }]);
		clock.advance(1000);
		const a = await assigned('t-goal', ids);
		const variantOf = (id: string) => a.find((x) => x.contactId === id)!.variant;
		clock.advance(DAY);
		await store.events.record([
			{ contactId: 'g-1', name: 'purchase' },
			{ contactId: 'g-2', name: 'purchase' },
			{ contactId: 'g-2', name: 'purchase' },
			{ contactId: 'g-3', name: 'browse' },
			// Backdated to before the assignment: not a conversion.
			{ contactId: 'g-4', name: 'purchase', time: clock.ms - 2 * DAY },
		]);
		clock.advance(7 * DAY);
		// After the 7-day window: not a conversion.
		await store.events.record([{ contactId: 'g-3', name: 'purchase' }]);
		const [report] = await experiments.report([{ test: 't-goal', variants: ['A', 'B'] }]);
		if (!report.ok) throw report.error;
		const conversions: Record<string, number> = { A: 0, B: 0, [HOLDOUT]: 0 };
		conversions[variantOf('g-1')]++;
		conversions[variantOf('g-2')]++;
		const rows = [...report.value.variants, report.value.holdout];
		expect(Object.fromEntries(rows.map((r) => [r.variant, r.conversions]))).toEqual(conversions);
		expect(rows.reduce((sum, r) => sum + r.assigned, 0)).toBe(4);
		// The waiting list is gone once converted or expired (recorded again: nothing more).
		await store.events.record([{ contactId: 'g-2', name: 'purchase' }]);
		const core = await store.call((r) => r.hgetall(store.keys.contact('g-2')));
		expect(core['g:purchase']).toBeUndefined();
		expect(core['x:t-goal']).toMatch(new RegExp(`^${variantOf('g-2')}\\|\\d+\\|\\d+$`));
	});

	it('reports sent/opened/clicked from the variant campaigns and the verdict against the holdout', async () => {
		const ids = Array.from({ length: 600 }, (_, i) => `r-${i}`);
		await create(ids);
		const a = await assigned('t-rep', ids, {
			variants: [{ name: 'B', weight: 50 }],
			holdout: 50,
		});
		const b = a.filter((x) => x.variant === 'B').map((x) => x.contactId);
		const h = a.filter((x) => x.holdout).map((x) => x.contactId);
		clock.advance(1000);
		// B converts 40 %, the holdout 10 %.
		await store.events.record([
			...b.slice(0, Math.round(b.length * 0.4)).map((contactId) => ({ contactId, name: 'purchase' })),
			...h.slice(0, Math.round(h.length * 0.1)).map((contactId) => ({ contactId, name: 'purchase' })),
		]);
		await store.call((r) => r.hincrby(store.keys.global('campaign', 't-rep:B'), 'sent', 7));
		const [report] = await experiments.report([{ test: 't-rep' }]);
		if (!report.ok) throw report.error;
		const [row] = report.value.variants;
		expect(row).toMatchObject({ variant: 'B', campaignId: 't-rep:B', sent: 7, significant: true });
		expect(row.conversions).toBe(Math.round(b.length * 0.4));
		expect(row.verdict).toMatch(/^B converts \d+% better than holdout .*; this is significant at 95%/);
		expect(report.value.winner).toBe('B');
		expect(report.value.startedAt).not.toBeNull();
	});

	it("erase removes the contact's assignment, waiting list and $experiment_assigned", async () => {
		await create(['e-1']);
		await assigned('t-erase', ['e-1']);
		await store.contacts.erase(['e-1']);
		const keys = await store.call((r) => r.keys(`${store.keys.contact('e-1')}*`));
		expect(keys).toEqual([]);
	});

	it('rejects bad designs naming the field and limit, and writes nothing; a missing contact fails alone', async () => {
		const bad = async (extra: Partial<ExperimentDesign>, test = 't-bad') => {
			try {
				await experiments.assign(design(test, extra), [{ contactId: 'nobody' }]);
			} catch (error) {
				return [(error as ValidationError).field, (error as Error).message];
			}
			throw new Error('accepted');
		};
		expect(await bad({ holdout: 20 })).toEqual([
			'variants',
			'The weights of the variants and the holdout add up to 110; they must add up to 100 (percent)',
		]);
		expect(await bad({ variants: [{ name: 'A', weight: 0 }], holdout: 100 })).toEqual([
			'variants[0].weight',
			'The weight must be a number above 0 (percent), got 0',
		]);
		expect((await bad({ variants: Array.from({ length: 11 }, (_, i) => ({ name: `V${i}`, weight: 1 })) }))[1]).toBe(
			'The test has 11 variants; the limit is 10',
		);
		expect(await bad({ variants: [{ name: 'holdout', weight: 90 }] })).toEqual([
			'variants[0].name',
			'"holdout" is the holdout\'s name',
		]);
		expect((await bad({}, 'has space'))[0]).toBe('test');
		expect((await bad({ windowDays: 0 }))[0]).toBe('windowDays');
		const [missing] = await experiments.assign(design('t-bad'), [{ contactId: 'nobody' }]);
		expect(missing.ok).toBe(false);
		const counters = await Promise.all(
			Array.from({ length: SHARD_COUNT }, (_, s) =>
				store.call((r) => r.exists(store.keys.experimentCounts(s, 't-bad'))),
			),
		);
		expect(counters.every((n) => n === 0)).toBe(true);
	});
});
