/**
 * Segment Filter's per-item mode decides a condition tree inside Redis (read_segment.lua with the
 * compiled plan) when every leaf is one Lua decides as TypeScript does. Checked here: for many
 * generated trees (fast-check) over contacts with varied data, the verdicts equal those of the
 * TypeScript path (the same compiled conditions without a plan), on standalone and cluster; the
 * contacts Lua cannot tell about are few and go to TypeScript; trees with another leaf keep the
 * TypeScript path.
 */
import fc from 'fast-check';
import { CONTACT_HASH_PREFIXES } from '../../lib/keys';
import { closeAllStores } from '../../lib/redis/pool';
import { scripts } from '../../lib/redis/scripts';
import { Segments, VALUE_OPERATORS, type CompiledSegment, type SegmentCondition } from '../../lib/segments';
import { ValidationError } from '../../lib/errors';
import { openStore, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const DAY = 86_400_000;

// Values meant to meet the operands below: equal, prefixes, case, numbers written as text, dates
// in the form the script reads and in others, letters outside ASCII (Lua cannot lower-case those).
const TEXTS = ['abc', 'ABC', 'Abc def', 'ab', '7', '07', '7.5', ' 7', '0x10', '1e3', '-3', 'true', 'Ärger', 'straße'];
const DATES = ['2026-01-10T00:00:00.000Z', '2026-01-15T12:00:00.000Z', '2025-12-31T23:59:59.999Z', '2026-01-14'];
const NUMBERS = [0, 7, 7.5, -3, 10, 1e21];
const TEXT_OPERATORS = ['equals', 'notEquals', 'in', 'notIn', 'contains', 'notContains', 'startsWith', 'endsWith'];

describe.each(topologies)('per-item mode decided inside Redis, on %s Redis', (topology) => {
	const { store, clock } = openStore(topology);
	const segments = new Segments(store);
	const T0 = clock.ms;
	const ids: string[] = [];

	beforeAll(async () => {
		const values: unknown[] = [
			...TEXTS,
			...NUMBERS,
			true,
			false,
			...DATES.slice(0, 3).map((d) => ({ value: d, type: 'date' })),
			...DATES,
			undefined,
		];
		const stages = ['lead', 'customer', undefined];
		const contacts = values.map((v, i) => {
			const id = `plan-${i}`;
			ids.push(id);
			const w = values[(i * 7 + 3) % values.length];
			return {
				id,
				email: `p${i}@${i % 2 ? 'Example.com' : 'example.org'}`,
				...(stages[i % 3] ? { lifecycleStage: stages[i % 3] } : {}),
				fields: { ...(v === undefined ? {} : { v }), ...(w === undefined ? {} : { w }) },
				addTags: ['a', 'b', 'Engaged'].filter((_, k) => (i >> k) % 2 === 1),
				...(i % 4 === 0 ? { subscription: { status: 'unsubscribed', source: 'test' } } : {}),
			};
		});
		for (const r of await store.contacts.upsert(contacts as Parameters<typeof store.contacts.upsert>[0]))
			if (!r.ok) throw r.error;
		const events = ids.flatMap((contactId, i) => [
			...Array.from({ length: i % 4 }, (_, k) => ({ contactId, name: 'buy', time: T0 - (k * 9 + (i % 5)) * DAY })),
			...(i % 3 === 0 ? [{ contactId, name: 'view', time: T0 - (i % 7) * DAY }] : []),
		]);
		for (const r of await store.events.record(events)) if (!r.ok) throw r.error;
		ids.push('plan-missing');
	});

	const operand = fc.oneof(fc.constantFrom(...TEXTS, ...DATES, 'abc,ABC', '7,true'), fc.constantFrom(...NUMBERS));
	const fieldLeaf = fc.record({
		type: fc.constant('field' as const),
		field: fc.constantFrom('v', 'w', 'email', 'lifecycleStage', 'createdAt', 'lastActivityAt'),
		operator: fc.constantFrom(
			'equals',
			'notEquals',
			'in',
			'notIn',
			'contains',
			'notContains',
			'startsWith',
			'endsWith',
			'gt',
			'gte',
			'lt',
			'lte',
			'between',
			'exists',
			'notExists',
			'before',
			'after',
			'withinLastDays',
			'notWithinLastDays',
		),
		value: operand,
		value2: operand,
		days: fc.constantFrom(1, 5, 30),
		ignoreCase: fc.boolean(),
	});
	const tags = fc.subarray(['a', 'b', 'Engaged', 'none'], { minLength: 1 });
	const leaf: fc.Arbitrary<SegmentCondition> = fc.oneof(
		fieldLeaf,
		fc.record({ type: fc.constant('tags' as const), operator: fc.constantFrom('hasAny', 'hasAll', 'hasNone'), tags }),
		fc.record({
			type: fc.constant('tier' as const),
			operator: fc.constantFrom('is', 'isNot'),
			value: fc.constant('Engaged'),
		}),
		fc.record({
			type: fc.constant('lifecycleStage' as const),
			operator: fc.constantFrom('in', 'notIn'),
			value: fc.subarray(['lead', 'customer'], { minLength: 1 }),
		}),
		fc.record({
			type: fc.constant('subscription' as const),
			operator: fc.constantFrom('is', 'isNot'),
			value: fc.constantFrom('subscribed', 'unsubscribed'),
		}),
		fc.record({
			type: fc.constant('event' as const),
			operator: fc.constantFrom('didAtLeast', 'didNot'),
			event: fc.constantFrom('buy', 'view'),
			count: fc.integer({ min: 1, max: 3 }),
			days: fc.constantFrom(undefined, 1, 9, 10, 30),
		}),
		fc.record({
			type: fc.constant('event' as const),
			operator: fc.constant('didButNot' as const),
			event: fc.constantFrom('buy', 'view'),
			otherEvent: fc.constantFrom('buy', 'view'),
			days: fc.constantFrom(undefined, 1, 3, 20),
		}),
	) as fc.Arbitrary<SegmentCondition>;
	const tree = fc.letrec<{ node: SegmentCondition }>((tie) => ({
		node: fc.oneof(
			{ depthSize: 'small', withCrossShrink: true },
			leaf,
			fc.record({
				combinator: fc.constantFrom('and', 'or') as fc.Arbitrary<'and' | 'or'>,
				conditions: fc.array(tie('node'), { minLength: 1, maxLength: 3 }),
			}),
		),
	})).node;

	/** The verdicts per contact: found and matched, or the error's name. */
	const verdicts = async (compiled: CompiledSegment) =>
		(await segments.evaluate(compiled, ids)).map((r) => (r.ok ? `${r.value.found}/${r.value.matched}` : r.error.name));

	it('decides every generated tree as TypeScript does, and leaves few contacts to TypeScript', async () => {
		let decided = 0;
		let leftToTypeScript = 0;
		await fc.assert(
			fc.asyncProperty(tree, async (conditions) => {
				let compiled: CompiledSegment;
				try {
					compiled = segments.compile(conditions);
				} catch (error) {
					// Generated operands a condition refuses (gt against a word, between reversed...).
					fc.pre(!(error instanceof ValidationError));
					throw error;
				}
				expect(compiled.plan).not.toBeNull();
				const inTypeScript = await verdicts({ ...compiled, plan: null });
				const test = jest.spyOn(compiled, 'test');
				const inRedis = await verdicts(compiled);
				leftToTypeScript += test.mock.calls.length;
				decided += ids.length;
				expect({ conditions, verdicts: inRedis }).toEqual({ conditions, verdicts: inTypeScript });
			}),
			{ numRuns: 300 },
		);
		// The contacts Lua could not tell about (ignoring case outside ASCII, dates written otherwise...).
		expect(leftToTypeScript).toBeGreaterThan(0);
		expect(leftToTypeScript / decided).toBeLessThan(0.2);
	});

	it('decides every value operator against every operand as TypeScript does, at the boundaries', async () => {
		const fields = ['v', 'w', 'email', 'lifecycleStage', 'createdAt', 'lastActivityAt'];
		const operands = [...TEXTS, ...DATES, ...NUMBERS, 'ärger', 'STRASSE', 'abc,ABC', '7,true', true];
		const conditions: SegmentCondition[] = [];
		for (const field of fields)
			for (const operator of VALUE_OPERATORS)
				for (const value of operands)
					for (const ignoreCase of TEXT_OPERATORS.includes(operator) ? [false, true] : [false])
						conditions.push({ type: 'field', field, operator, value, value2: 10, days: 5, ignoreCase });
		let compared = 0;
		// A few at a time: each is two batches.
		for (let at = 0; at < conditions.length; at += 50) {
			await Promise.all(
				conditions.slice(at, at + 50).map(async (conditions) => {
					let compiled: CompiledSegment;
					try {
						compiled = segments.compile(conditions);
					} catch (error) {
						if (error instanceof ValidationError) return;
						throw error;
					}
					if (!compiled.plan) return;
					compared++;
					const [inTypeScript, inRedis] = await Promise.all([
						verdicts({ ...compiled, plan: null }),
						verdicts(compiled),
					]);
					expect({ conditions, verdicts: inRedis }).toEqual({ conditions, verdicts: inTypeScript });
				}),
			);
		}
		expect(compared).toBeGreaterThan(1500);
	});

	it('leaves a contact it cannot tell about to TypeScript, and decides the others itself', async () => {
		const compiled = segments.compile({
			type: 'field',
			field: 'v',
			operator: 'equals',
			value: 'ärger',
			ignoreCase: true,
		});
		const test = jest.spyOn(compiled, 'test');
		const results = await segments.evaluate(compiled, ['plan-0', 'plan-12', 'plan-missing']);
		expect(results.map((r) => r.ok && r.value)).toEqual([
			{ contactId: 'plan-0', found: true, matched: false },
			{ contactId: 'plan-12', found: true, matched: true },
			{ contactId: 'plan-missing', found: false, matched: false },
		]);
		// Only "Ärger" (plan-12) is tested here: JavaScript lower-cases it, Lua cannot.
		expect(test).toHaveBeenCalledTimes(1);
	});

	it.each([
		// Tag "a": plan-1 and plan-3, not plan-0.
		['decided in Redis', { type: 'tags', operator: 'hasAny', tags: ['a'] }, ['plan-1', 'plan-0', 'plan-3']],
		// Text starting with "a": plan-0 ("abc") and plan-3 ("ab"), not plan-1 ("ABC").
		['tested here', { type: 'field', field: 'v', operator: 'regex', value: '^a' }, ['plan-0', 'plan-1', 'plan-3']],
	])(
		'answers verdicts %s as shared, frozen Results, and a failed contact with its own error',
		async (_label, condition, found) => {
			const compiled = segments.compile(condition as SegmentCondition);
			expect(compiled.plan === null).toBe(_label === 'tested here');
			const ids = [...(found as string[]), 'plan-missing', ''];
			const results = await segments.verdicts(compiled, ids);
			expect(results.map((r) => (r.ok ? r.value : r.error.message))).toEqual([
				'matched',
				'notMatched',
				'matched',
				'notFound',
				expect.stringMatching(/Contact ID is empty/),
			]);
			expect(results[2]).toBe(results[0]);
			expect(Object.isFrozen(results[0]) && Object.isFrozen(results[1]) && Object.isFrozen(results[3])).toBe(true);
		},
	);

	it.each<[string, SegmentCondition]>([
		['a regex', { type: 'field', field: 'v', operator: 'regex', value: '^a' }],
		['anniversary today', { type: 'field', field: 'v', operator: 'anniversaryToday' }],
		[
			'an event with property conditions',
			{ type: 'event', operator: 'didAtLeast', event: 'buy', where: [{ property: 'x', operator: 'exists' }] },
		],
		['a score', { type: 'score', operator: 'gte', value: 1 }],
		['an e-mail engagement', { type: 'email', operator: 'opened' }],
	])('keeps a tree with %s, anywhere in it, on the TypeScript path', async (_label, unsupported) => {
		const compiled = segments.compile({
			combinator: 'or',
			conditions: [
				{ type: 'tags', operator: 'hasAny', tags: ['a'] },
				{ combinator: 'and', conditions: [unsupported] },
			],
		});
		expect(compiled.plan).toBeNull();
		const test = jest.spyOn(compiled, 'test');
		await segments.evaluate(compiled, ids);
		// Every contact found is tested here.
		expect(test).toHaveBeenCalledTimes(ids.length - 1);
	});

	it("decides an event window from the contact's counter, reading its events index only for a minimum above one", async () => {
		const [recent, old, none] = ['win-recent', 'win-old', 'win-none'];
		for (const r of await store.contacts.upsert([{ id: recent }, { id: old }, { id: none }])) if (!r.ok) throw r.error;
		const buys = [
			{ contactId: recent, name: 'buy', time: T0 - 40 * DAY },
			{ contactId: recent, name: 'buy', time: T0 - 2 * DAY },
			{ contactId: recent, name: 'buy', time: T0 - DAY },
			{ contactId: old, name: 'buy', time: T0 - 40 * DAY },
		];
		for (const r of await store.events.record(buys)) if (!r.ok) throw r.error;
		const window = (operator: 'didAtLeast' | 'didNot', count: number) =>
			segments.compile({ type: 'event', operator, event: 'buy', count, days: 30 });
		const cases: Array<[CompiledSegment, string[]]> = [
			[window('didAtLeast', 1), ['true/true', 'true/false', 'true/false']],
			[window('didNot', 1), ['true/false', 'true/true', 'true/true']],
			// More than the counter's count: no need to count the window.
			[window('didAtLeast', 4), ['true/false', 'true/false', 'true/false']],
		];
		const verdictsOf = async (compiled: CompiledSegment, contactIds: string[]) =>
			(await segments.evaluate(compiled, contactIds)).map((r) =>
				r.ok ? `${r.value.found}/${r.value.matched}` : r.error.message,
			);
		for (const [compiled, expected] of cases) {
			expect(await verdictsOf({ ...compiled, plan: null }, [recent, old, none])).toEqual(expected);
			expect(await verdictsOf(compiled, [recent, old, none])).toEqual(expected);
		}
		// The events indexes made unreadable (a string where a sorted set was): the counters decide alone.
		for (const id of [recent, old, none]) await store.call((r) => r.set(store.keys.contactKey(id, 'events'), 'x'));
		for (const [compiled, expected] of cases) expect(await verdictsOf(compiled, [recent, old, none])).toEqual(expected);
		// Two in the window, of three: only the index tells.
		expect(await verdictsOf(window('didAtLeast', 2), [recent])).toEqual([expect.stringMatching(/WRONGTYPE/)]);
	});

	it('reads contacts whose ids have key syntax, spaces and letters outside ASCII', async () => {
		const odd = ['a:b', '{tag}', 'Zoë 東京', 'a%3Ab', '}{'];
		for (const r of await store.contacts.upsert(odd.map((id) => ({ id })))) if (!r.ok) throw r.error;
		// The tag written straight at the key Keys.contact names (the script builds it from the id).
		for (const id of odd.filter((_, k) => k % 2 === 0))
			await store.call((r) => r.hset(store.keys.contact(id), `${CONTACT_HASH_PREFIXES.tag}a`, ''));
		const compiled = segments.compile({ type: 'tags', operator: 'hasAny', tags: ['a'] });
		const expected = odd.map((_, k) => `true/${k % 2 === 0}`);
		const verdictsOf = async (c: CompiledSegment) =>
			(await segments.evaluate(c, odd)).map((r) => (r.ok ? `${r.value.found}/${r.value.matched}` : r.error.name));
		expect(await verdictsOf(compiled)).toEqual(expected);
		expect(await verdictsOf({ ...compiled, plan: null })).toEqual(expected);
	});

	it("remembers a value's verdict within a call, a value it cannot tell about included, and goes on beyond its memo", async () => {
		// 300 contacts of one shard (one script call): a number each (more distinct values than the
		// memo holds) and, every third, a text Lua cannot lower-case.
		const shard = store.keys.shardOfContact('memo-0');
		const oneShard: string[] = [];
		for (let n = 0; oneShard.length < 300; n++)
			if (store.keys.shardOfContact(`memo-${n}`) === shard) oneShard.push(`memo-${n}`);
		const contacts = oneShard.map((id, k) => ({ id, fields: { n: k, t: k % 3 === 0 ? 'Ärger' : 'abc' } }));
		for (const r of await store.contacts.upsert(contacts)) if (!r.ok) throw r.error;
		const verdictsOf = async (c: CompiledSegment) =>
			(await segments.evaluate(c, oneShard)).map((r) => (r.ok ? r.value.matched : r.error.name));
		const numbers = segments.compile({ type: 'field', field: 'n', operator: 'gte', value: 150 });
		expect(await verdictsOf(numbers)).toEqual(oneShard.map((_, k) => k >= 150));
		const texts = segments.compile({ type: 'field', field: 't', operator: 'equals', value: 'ärger', ignoreCase: true });
		const test = jest.spyOn(texts, 'test');
		expect(await verdictsOf(texts)).toEqual(oneShard.map((_, k) => k % 3 === 0));
		// Every "Ärger" left to TypeScript, not only the first: "cannot tell" is remembered as such.
		expect(test).toHaveBeenCalledTimes(100);
	});

	it('decides the items of a shard a thousand to a script call', async () => {
		const shard = store.keys.shardOfContact('chunk-0');
		const sameShard: string[] = [];
		for (let n = 0; sameShard.length < 1000; n++)
			if (store.keys.shardOfContact(`chunk-${n}`) === shard) sameShard.push(`chunk-${n}`);
		const compiled = segments.compile({ type: 'tags', operator: 'hasAny', tags: ['a'] });
		const calls = jest.spyOn(store.redis as unknown as Record<string, () => unknown>, scripts.readSegment.name);
		try {
			const results = await segments.verdicts(compiled, sameShard);
			expect(results.every((r) => r.ok && r.value === 'notFound')).toBe(true);
			expect(calls).toHaveBeenCalledTimes(1);
		} finally {
			calls.mockRestore();
		}
	});
});
