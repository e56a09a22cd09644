/**
 * Where TypeScript and Lua compute the same thing, they must agree: checked with random inputs
 * (fast-check) on a real Redis.
 * - Field operators: a Segment Filter field condition (lib/segments/operators.ts, evaluated in
 *   this process on the value read_segment.lua reads) and a Lead Score field rule with the same
 *   condition (evaluated inside apply_score.lua) on the same stored value.
 * - Decay: lib/scoring/decay.ts awardValue and roundScore against lib/redis/lua/award_value.lua.
 *
 * Field operators are drawn from the inputs both sides are meant to treat alike. Known
 * differences, outside these inputs: a value lib/redis/lua/value_test.lua cannot tell about
 * (ignoreCase on letters outside ASCII, a text read as a date not in toISOString's UTC form, a
 * text read as a number not in plain decimals), which does not meet a field rule (Segment Filter
 * decides those contacts in TypeScript: test/lib/segments-plan.test.ts); an empty value for
 * notEquals / notIn (a field rule refuses it, a segment condition accepts it).
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import fc from 'fast-check';
import { createClient } from '../../lib/redis/connection';
import { closeAllStores } from '../../lib/redis/pool';
import { awardValue, encodeAward, roundScore, Scoring, type Decay } from '../../lib/scoring';
import { Segments } from '../../lib/segments';
import { FIELD_RULE_OPERATORS, type FieldRuleOperator } from '../../lib/segments/operators';
import { openStore, storeConfig } from '../harness/store';

afterAll(() => closeAllStores());

const DAY = 86_400_000;

describe('TypeScript and Lua agree (fast-check, real Redis)', () => {
	const { store } = openStore('standalone');

	it('on field operators: a Segment Filter condition and a Lead Score field rule with the same condition', async () => {
		const scoring = new Scoring(store);
		const segments = new Segments(store);
		// Few distinct pieces, so that values and operands meet often (equal, prefix, case...).
		const word = fc.constantFrom('a', 'A', 'ab', 'Ab', 'b', 'abc', 'ABC', 'x y', 'true', 'TRUE', 'false', '-');
		const text = fc.oneof(
			word,
			fc.tuple(word, word).map(([a, b]) => a + b),
		);
		const number = fc.oneof(fc.constantFrom(0, 7, 7.5, -3, 1000, 0.1, 1e21), fc.integer({ min: -20, max: 20 }));
		const instant = fc.constantFrom(
			'2024-05-17T00:00:00.000Z',
			'2024-05-17T09:30:00.000Z',
			'2024-05-18T00:00:00.000Z',
			'2023-12-31T23:59:59.999Z',
		);
		const stored = fc.oneof(
			text,
			number,
			fc.boolean(),
			instant.map((t) => new Date(t)),
		);
		const operand = fc.oneof(text, number, fc.boolean(), instant);
		// A condition on a stored value; its operand is often that value itself (bounds are where
		// operators differ: gt and gte, between's ends).
		const storedAndCondition = stored.chain((value) => {
			const same = fc.constant(value instanceof Date ? value.toISOString() : value);
			return fc.tuple(
				fc.constant(value),
				fc.record({
					operator: fc.constantFrom<FieldRuleOperator>(...FIELD_RULE_OPERATORS),
					value: fc.oneof(
						same,
						operand,
						fc.array(operand, { minLength: 2, maxLength: 3 }).map((list) => list.join(',')),
					),
					value2: fc.oneof(same, operand),
					ignoreCase: fc.boolean(),
				}),
			);
		});
		let n = 0;
		await fc.assert(
			fc.asyncProperty(storedAndCondition, async ([value, c]) => {
				const contactId = `parity-${++n}`;
				const [upserted] = await store.contacts.upsert([{ id: contactId, fields: { f: value } }]);
				if (!upserted.ok) throw upserted.error;
				const field = { field: 'f', operator: c.operator, value: c.value, value2: c.value2, ignoreCase: c.ignoreCase };
				// Both refuse the same conditions (the field rule runs the segment side's checks).
				const outcome = async (run: () => Promise<boolean>) => run().catch((error: Error) => `refused: ${error.name}`);
				const inTs = await outcome(async () => {
					const [r] = await segments.evaluate({ type: 'field', ...field }, [contactId]);
					if (!r.ok) throw r.error;
					return r.value.matched;
				});
				const inLua = await outcome(async () => {
					const [r] = await scoring.score({ name: 'parity', rules: [{ name: 'rule', points: 1, field }] }, [
						{ contactId },
					]);
					if (!r.ok) throw r.error;
					return r.value.matchedRules.includes('rule');
				});
				expect({ stored: value, ...c, result: inLua }).toEqual({ stored: value, ...c, result: inTs });
			}),
			{ numRuns: 500 },
		);
	});

	it('on decay: the value of an award at an instant, and the rounded score', async () => {
		const lib = join(__dirname, '..', '..', 'lib', 'redis', 'lua');
		const helper = (name: string) => readFileSync(join(lib, `${name}.lua`), 'utf8').replace(/^--- @include .*$/gm, '');
		// ARGV: per case the stored award, its time and the instant; answers value, ceiling, floor
		// and the rounded value, as exact decimal text (a Lua number in a Redis reply is truncated).
		const lua = `${helper('decay')}\n${helper('award_value')}
local out = {}
for i = 1, #ARGV, 3 do
  local v, hi, lo = award_value(ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]))
  table.insert(out, string.format('%.17g %.17g %.17g %.17g', v, hi, lo, round_score(v)))
end
return out`;
		const decay = fc.oneof(
			fc.constant<Decay>({ mode: 'none' }),
			fc.record({
				mode: fc.constantFrom<Decay['mode']>('expire', 'halfLife'),
				days: fc.oneof(fc.integer({ min: 1, max: 400 }), fc.double({ min: 0.01, max: 36_500, noNaN: true })),
			}),
		);
		const award = fc.record({
			points: fc.oneof(
				fc.integer({ min: -1000, max: 1000 }),
				fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }),
			),
			decay,
			at: fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
		});
		// The instant: around the award's expiry or a multiple of its half-life (both sides of it to the
		// millisecond), or anywhere.
		const instant = (a: { at: number; decay: Decay }) =>
			fc.oneof(
				fc.integer({ min: -2, max: 2 }).map((d) => a.at + Math.round((a.decay.days ?? 1) * DAY) + d),
				fc.integer({ min: -3 * DAY, max: 800 * DAY }).map((d) => a.at + d),
			);
		const cases = fc.array(
			award.chain((a) => instant(a).map((now) => ({ ...a, now }))),
			{ minLength: 1, maxLength: 50 },
		);
		const client = createClient(storeConfig('standalone'));
		try {
			await fc.assert(
				fc.asyncProperty(cases, async (list) => {
					const args = list.flatMap((c) => [encodeAward(c.points, c.decay), c.at, c.now]);
					const answers = (await client.eval(lua, 0, ...args)) as string[];
					list.forEach((c, i) => {
						const [value, ceiling, floor, rounded] = answers[i].split(' ').map(Number);
						const ts = awardValue(encodeAward(c.points, c.decay), c.at, c.now);
						// pow may differ in the last bit between V8 and C: equal to 1e-12 relative, rounded exactly.
						const close = (lua: number, js: number) => Math.abs(lua - js) <= 1e-12 * Math.max(1, Math.abs(js));
						const same =
							close(value, ts.value) &&
							close(ceiling, ts.ceiling) &&
							close(floor, ts.floor) &&
							Math.abs(rounded - roundScore(ts.value)) < 0.005;
						expect({ ...c, lua: [value, ceiling, floor, rounded], same }).toEqual({
							...c,
							lua: [value, ceiling, floor, rounded],
							same: true,
						});
					});
				}),
				{ numRuns: 200 },
			);
		} finally {
			await client.quit();
		}
	});
});
