import fc from 'fast-check';
import { closeAllStores } from '../../lib/redis/pool';
import { createClient } from '../../lib/redis/connection';
import { ContactStore } from '../../lib/store';
import { NotFoundError, ValidationError } from '../../lib/errors';
import { Scoring, type ScoreModel } from '../../lib/scoring';
import { decodeScoreCache } from '../../lib/scoring/decay';
import { openStore, scriptCalls, topologies } from '../harness/store';
import { shardOf } from '../../lib/keys';
import { monitorCommands } from '../harness/redis';

afterAll(() => closeAllStores());

const DAY = 86_400_000;

describe.each(topologies)('lead scoring on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	const scoring = new Scoring(store);
	let n = 0;
	const fresh = async (fields: Record<string, unknown> = {}) => {
		const id = `lead-${++n}`;
		const [r] = await store.contacts.upsert([{ id, fields }]);
		if (!r.ok) throw r.error;
		return id;
	};
	const one = async (model: ScoreModel, input: Parameters<Scoring['score']>[1][number]) => {
		const [r] = await scoring.score(model, [input]);
		if (!r.ok) throw r.error;
		return r.value;
	};
	const gradeEvents = async (id: string) =>
		(await store.events.history(id, 100))
			.filter((e) => e.name === '$grade_changed')
			.reverse()
			.map((e) => e.properties);

	/** The commands Redis ran while `action` ran (scripts' own included) that name a key starting with `prefix`. */
	const commandsOn = async (prefix: string, action: () => Promise<void>): Promise<string[]> =>
		(
			await monitorCommands(ctx.config, (args) => args.slice(1).some((arg) => String(arg).startsWith(prefix)), action)
		).map((args) => args[0].toLowerCase());
	const count = (commands: string[], command: string) => commands.filter((c) => c === command).length;

	it('keeps its running sums equal to a full recomputation from the stored awards (fast-check)', async () => {
		// apply_score.lua skips re-reading the awards while none has expired since its last pass;
		// Scoring.read always recomputes from every stored award. Both must agree at every step,
		// across expiries, field rules coming and going, duplicates, the award cap, halving awards
		// (positive and negative, one or two half-lives) and events dated in the past or ahead.
		const model: ScoreModel = {
			name: 'sums',
			maxAwards: 10,
			rules: [
				{ name: 'view', event: 'view', points: 3, decay: { mode: 'expire', days: 1 } },
				{ name: 'short', event: 'ping', points: 1.25, decay: { mode: 'expire', days: 0.25 } },
				{ name: 'buy', event: 'buy', points: 7 },
				{ name: 'complaint', event: 'complaint', points: -4, decay: { mode: 'expire', days: 2 } },
				{ name: 'open', event: 'open', points: 5, decay: { mode: 'halfLife', days: 1 } },
				{
					name: 'unsubscribe',
					event: 'open',
					where: [{ property: 'bad', operator: 'equals', value: true }],
					points: -6,
					decay: { mode: 'halfLife', days: 1 },
				},
				{ name: 'share', event: 'share', points: 4, decay: { mode: 'halfLife', days: 3 } },
				{ name: 'vip', field: { field: 'vip', operator: 'equals', value: true }, points: 11 },
			],
		};
		const step = fc.record({
			advance: fc.integer({ min: 0, max: 30 * 3_600_000 }),
			event: fc.constantFrom('view', 'ping', 'buy', 'complaint', 'open', 'open', 'none', 'share'),
			bad: fc.boolean(),
			// Events reported late, or (clock skew) slightly ahead.
			offset: fc.constantFrom(0, 0, 0, -40 * 3_600_000, 2 * 3_600_000),
			id: fc.integer({ min: 0, max: 6 }),
			vip: fc.option(fc.boolean()),
		});
		await fc.assert(
			fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
				const id = await fresh();
				for (const s of steps) {
					clock.advance(s.advance);
					if (s.vip !== null) await store.contacts.upsert([{ id, fields: { vip: s.vip } }]);
					const event = {
						id: `e${s.id}`,
						name: s.event,
						time: new Date(clock.ms + s.offset).toISOString(),
						properties: { bad: s.bad },
					};
					const scored = await one(model, s.event === 'none' ? { contactId: id } : { contactId: id, event });
					const [read] = await scoring.read([id], 'sums');
					if (!read.ok || !read.value) throw new Error('read failed');
					expect(scored.score).toBeCloseTo(read.value.score, 2);
				}
			}),
			{ numRuns: 60 },
		);
	});

	it('scores the items of a contact in one batch exactly as one at a time (fast-check)', async () => {
		// apply_score.lua reads a contact once for all its items of a call and writes it once after
		// the last. Each item's answer and everything stored (score, bounds, indexes, grade and its
		// index, $grade_changed events) must be what scoring the items one at a time gives, across
		// crossings both ways, duplicates, expiries, the award cap and field rules.
		const model: ScoreModel = {
			name: 'together',
			maxAwards: 10,
			grades: [{ name: 'cold' }, { name: 'warm', min: 6 }, { name: 'hot', min: 14 }],
			rules: [
				{ name: 'view', event: 'view', points: 3, decay: { mode: 'expire', days: 1 } },
				{ name: 'daily', event: 'view', points: 1, frequency: 'oncePerDay' },
				{ name: 'buy', event: 'buy', points: 7 },
				{ name: 'complaint', event: 'complaint', points: -9, decay: { mode: 'expire', days: 2 } },
				{ name: 'open', event: 'open', points: 5, decay: { mode: 'halfLife', days: 1 } },
				{ name: 'signup', event: 'signup', points: 4, frequency: 'oncePerContact' },
				{ name: 'vip', field: { field: 'vip', operator: 'equals', value: true }, points: 6 },
			],
		};
		const item = fc.record({
			who: fc.integer({ min: 0, max: 2 }),
			event: fc.constantFrom('view', 'buy', 'complaint', 'complaint', 'open', 'signup', 'none'),
			id: fc.integer({ min: 0, max: 8 }),
			offset: fc.constantFrom(0, 0, -30 * 3_600_000, 3_600_000),
		});
		const batch = fc.record({
			advance: fc.integer({ min: 0, max: 20 * 3_600_000 }),
			vip: fc.option(fc.boolean()),
			items: fc.array(item, { minLength: 1, maxLength: 14 }),
		});
		const state = async (id: string) => {
			const shard = store.keys.shardOfContact(id);
			const [read] = await scoring.read([id], 'together');
			if (!read.ok || !read.value) throw new Error('read failed');
			const inGrade = await Promise.all(
				['cold', 'warm', 'hot'].map((g) => store.redis.sismember(store.keys.index(shard, `grade:together:${g}`), id)),
			);
			return {
				...read.value,
				contactId: undefined,
				inGrade,
				ceilingIndex: await store.redis.zscore(store.keys.index(shard, 'score:together'), id),
				floorIndex: await store.redis.zscore(store.keys.index(shard, 'scoremin:together'), id),
				events: (await store.events.history(id, 100))
					.filter((e) => e.name === '$grade_changed')
					.map((e) => e.properties),
			};
		};
		const comparable = (r: Awaited<ReturnType<typeof one>>) => ({
			...r,
			contactId: undefined,
			gradeEventId: r.gradeEventId !== undefined,
		});
		await fc.assert(
			fc.asyncProperty(fc.array(batch, { minLength: 1, maxLength: 4 }), async (batches) => {
				const together = [await fresh(), await fresh(), await fresh()];
				const alone = [await fresh(), await fresh(), await fresh()];
				for (const b of batches) {
					clock.advance(b.advance);
					if (b.vip !== null)
						await store.contacts.upsert([...together, ...alone].map((id) => ({ id, fields: { vip: b.vip } })));
					const input = (ids: string[], s: (typeof b.items)[number]) =>
						s.event === 'none'
							? { contactId: ids[s.who] }
							: {
									contactId: ids[s.who],
									event: { id: `e${s.id}`, name: s.event, time: new Date(clock.ms + s.offset).toISOString() },
								};
					const batched = await scoring.score(
						model,
						b.items.map((s) => input(together, s)),
					);
					for (const [k, s] of b.items.entries()) {
						const r = batched[k];
						if (!r.ok) throw r.error;
						expect(comparable(r.value)).toEqual(comparable(await one(model, input(alone, s))));
					}
					for (let w = 0; w < 3; w++) expect(await state(together[w])).toEqual(await state(alone[w]));
				}
			}),
			{ numRuns: 40 },
		);
	});

	const basic: ScoreModel = {
		rules: [
			{
				name: 'pricing',
				event: 'page_viewed',
				where: [{ property: 'path', operator: 'equals', value: '/pricing' }],
				points: 10,
			},
			{
				name: 'careers',
				event: 'page_viewed',
				where: [{ property: 'path', operator: 'startsWith', value: '/careers' }],
				points: -15,
			},
			{ name: 'signup', event: 'signed_up', points: 25, frequency: 'oncePerContact' },
			{ name: 'login', event: 'logged_in', points: 2, frequency: 'oncePerDay' },
		],
	};

	it('adds points for matching events only, with property conditions and negative points', async () => {
		const id = await fresh();
		const a = await one(basic, {
			contactId: id,
			event: { name: 'page_viewed', id: 'e1', properties: { path: '/pricing' } },
		});
		expect(a).toMatchObject({
			score: 10,
			grade: 'cold',
			previousGrade: 'cold',
			changed: false,
			matchedRules: ['pricing'],
			awarded: [{ rule: 'pricing', points: 10 }],
		});
		const b = await one(basic, {
			contactId: id,
			event: { name: 'page_viewed', id: 'e2', properties: { path: '/careers/dev' } },
		});
		expect(b).toMatchObject({ score: -5, matchedRules: ['careers'] });
		const c = await one(basic, {
			contactId: id,
			event: { name: 'page_viewed', id: 'e3', properties: { path: '/blog' } },
		});
		expect(c).toMatchObject({ score: -5, matchedRules: [], awarded: [], duplicate: false });
	});

	it('is idempotent per event id: a retried webhook changes nothing', async () => {
		const id = await fresh();
		const event = { name: 'page_viewed', id: 'evt-42', properties: { path: '/pricing' } };
		await one(basic, { contactId: id, event });
		const again = await one(basic, { contactId: id, event });
		expect(again).toMatchObject({ score: 10, duplicate: true, awarded: [] });
		// The same event twice in one batch counts once as well.
		const id2 = await fresh();
		const results = await scoring.score(basic, [
			{ contactId: id2, event },
			{ contactId: id2, event },
		]);
		expect(results.map((r) => r.ok && r.value.score)).toEqual([10, 10]);
	});

	it('honours once per contact, once per (UTC) day and every time', async () => {
		const id = await fresh();
		expect((await one(basic, { contactId: id, event: { name: 'signed_up', id: 's1' } })).score).toBe(25);
		expect((await one(basic, { contactId: id, event: { name: 'signed_up', id: 's2' } })).score).toBe(25);
		const day = Date.UTC(2026, 0, 15);
		await one(basic, { contactId: id, event: { name: 'logged_in', id: 'l1', time: day + 1000 } });
		await one(basic, { contactId: id, event: { name: 'logged_in', id: 'l2', time: day + DAY - 1 } });
		expect((await one(basic, { contactId: id, event: { name: 'logged_in', id: 'l3', time: day + DAY } })).score).toBe(
			29,
		);
	});

	// Seen with MONITOR on one server: a standalone Redis only.
	if (topology === 'standalone')
		it("knows the day's award of a later call from the values hash read with the contact, without a ZADD", async () => {
			const id = await fresh();
			const day = Date.UTC(2026, 0, 15);
			const login = (eventId: string) =>
				one(basic, { contactId: id, event: { name: 'logged_in', id: eventId, time: day + 1000 } });
			expect(await login('l1')).toMatchObject({ score: 2, awarded: [{ rule: 'login', points: 2 }] });
			const commands = await commandsOn(store.keys.contact(id), async () => {
				expect(await login('l2')).toMatchObject({ score: 2, awarded: [], duplicate: true });
			});
			// The core hash and the values hash; no ZADD NX on the awards.
			expect([count(commands, 'hmget'), count(commands, 'zadd')]).toEqual([2, 0]);
		});

	if (topology === 'standalone')
		it("writes a call's grade index moves with one SADD per grade and counts its $grade_changed log entries once", async () => {
			// Three new contacts of one shard: one script call.
			const ids: string[] = [];
			const shard = store.keys.shardOfContact(await fresh());
			while (ids.length < 3) {
				const id = await fresh();
				if (store.keys.shardOfContact(id) === shard) ids.push(id);
			}
			const commands = await commandsOn(store.keys.shard(shard), async () => {
				const results = await scoring.score(
					basic,
					ids.map((contactId, i) => ({ contactId, event: { name: 'signed_up', id: `s${i}` } })),
				);
				expect(results.map((r) => r.ok && [r.value.grade, r.value.changed])).toEqual(Array(3).fill(['warm', true]));
			});
			expect(['evalsha', 'sadd', 'srem', 'hincrby'].map((command) => count(commands, command))).toEqual([1, 1, 0, 1]);
			for (const grade of ['cold', 'warm'])
				expect(await store.redis.smismember(store.keys.index(shard, `grade:default:${grade}`), ...ids)).toEqual(
					Array(3).fill(grade === 'warm' ? 1 : 0),
				);
		});

	if (topology === 'standalone')
		it("scores a new contact's first time without reading its awards back (no ZRANGE, no HGETALL)", async () => {
			const id = await fresh();
			const commands = await commandsOn(store.keys.contact(id), async () => {
				const first = await one(basic, {
					contactId: id,
					event: { name: 'page_viewed', properties: { path: '/pricing' } },
				});
				expect(first).toMatchObject({ score: 10, grade: 'cold', awarded: [{ rule: 'pricing', points: 10 }] });
			});
			// One EXISTS tells that it has no awards yet; its values go in one HSET, with the cache.
			expect(['exists', 'zrange', 'hgetall', 'hset'].map((command) => count(commands, command))).toEqual([1, 0, 0, 2]);
		});

	it("stores a new contact's first scoring as the full pass does (fast-check)", async () => {
		// A contact never graded by the model, without awards, starts from zero sums instead of a
		// full pass; the same contact with its lowest grade already stored (nothing else) takes the
		// full pass. Both must answer and store the same: awards pruned at once (dated too long
		// ago), fractions summed in the order the pass sums them, halving awards, the award cap.
		const model: ScoreModel = {
			name: 'first',
			maxAwards: 10,
			rules: [
				{ name: 'tenth', event: 'a', points: 0.1, decay: { mode: 'none' } },
				{ name: 'fifth', event: 'a', points: 0.2, decay: { mode: 'none' } },
				// Three fractions of one item: the pass adds them in key order, 0.2 + 0.7 + 0.1.
				{ name: 'ninth', event: 'a', points: 0.7, decay: { mode: 'none' } },
				{ name: 'seven', event: 'b', points: 0.7 },
				{ name: 'half', event: 'h', points: 5, decay: { mode: 'halfLife', days: 1 } },
				{ name: 'third', event: 'h3', points: -3.3, decay: { mode: 'halfLife', days: 3 } },
				{ name: 'once', event: 'o', points: 2, frequency: 'oncePerContact', decay: { mode: 'expire', days: 1 } },
				{ name: 'daily', event: 'd', points: 1, frequency: 'oncePerDay', decay: { mode: 'expire', days: 2 } },
				{ name: 'whole', event: 'w', points: 4 },
				{ name: 'vip', field: { field: 'vip', operator: 'equals', value: true }, points: 11 },
			],
			grades: [{ name: 'low' }, { name: 'mid', min: 1 }, { name: 'top', min: 12 }],
			decay: { mode: 'expire', days: 30 },
		};
		const step = fc.record({
			event: fc.constantFrom('a', 'b', 'h', 'h3', 'o', 'd', 'w', 'none'),
			// Ahead, recent, past a day's or 30 days' expiry, or 5 half-lives.
			ageDays: fc.oneof(fc.constantFrom(-0.5, 0, 1.5, 3, 29, 31, 45), fc.double({ min: -1, max: 60, noNaN: true })),
			id: fc.integer({ min: 0, max: 4 }),
		});
		const stored = async (id: string) => {
			const shard = store.keys.shardOfContact(id);
			const ixScore = async (kind: string) => store.redis.zscore(store.keys.index(shard, `${kind}:first`), id);
			return {
				// As a map: a hash past listpack size lists its fields in an order that depends on how they
				// were written (one HSET or two), which no reader relies on.
				values: await store.redis.hgetall(store.keys.contactKey(id, 'scoreValues', 'first')),
				awards: await store.redis.zrange(store.keys.contactKey(id, 'scoreAwards', 'first'), 0, -1, 'WITHSCORES'),
				core: await store.redis.hmget(store.keys.contact(id), 'score:first', 'grade:first', 'scoredAt:first'),
				indexes: [await ixScore('score'), await ixScore('scoremin')],
			};
		};
		await fc.assert(
			fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), fc.boolean(), async (steps, vip) => {
				const fresh1 = await fresh({ vip });
				const passed = await fresh({ vip });
				await store.redis.hset(store.keys.contact(passed), 'grade:first', 'low');
				const items = (contactId: string) =>
					steps.map((s) => ({
						contactId,
						...(s.event === 'none'
							? {}
							: { event: { name: s.event, id: `e${s.id}`, time: Math.round(clock.ms - s.ageDays * DAY) } }),
					}));
				const results = await scoring.score(model, [...items(fresh1), ...items(passed)]);
				const answers = results.map((r) => {
					if (!r.ok) throw r.error;
					const { gradeEventId, ...rest } = r.value;
					return { ...rest, graded: gradeEventId !== undefined };
				});
				expect(answers.slice(0, steps.length)).toEqual(answers.slice(steps.length));
				expect(await stored(fresh1)).toEqual(await stored(passed));
			}),
			{ numRuns: 80 },
		);
	});

	it('writes the stored score, its time and the running sums as before: whole numbers as digits', async () => {
		// number_text (award_value.lua) writes whole numbers with %d: the same text as the %.17g Redis
		// writes a number argument with; fractions are still written by Redis. The cache: score,
		// ceiling, floor (a non-decaying award counts in both bounds), award count.
		const model: ScoreModel = {
			name: 'texts',
			rules: [
				{ name: 'big', event: 'big', points: 123_456_789 },
				{ name: 'part', event: 'part', points: 0.25 },
				{ name: 'minus', event: 'minus', points: -7, decay: { mode: 'expire', days: 1 } },
			],
		};
		const id = await fresh();
		const base = store.keys.contact(id);
		const field = async (name: string) => store.redis.hget(base, name);
		await one(model, { contactId: id, event: { name: 'big', id: 'b1' } });
		expect(await field('score:texts')).toBe('123456789');
		expect(await field('scoredAt:texts')).toBe(String(clock.ms));
		await one(model, { contactId: id, event: { name: 'minus', id: 'm1' } });
		expect(await field('score:texts')).toBe('123456782');
		await one(model, { contactId: id, event: { name: 'part', id: 'p1' } });
		expect(Number(await field('score:texts'))).toBe(123456782.25);
		const cache = decodeScoreCache((await store.redis.hgetBuffer(`${base}:sv:texts`, '~cache')) as Buffer);
		expect(cache).toMatchObject({ sum: 123456782.25, ceiling: 123456789.25, floor: 123456782.25, awards: 3 });
		// An export shows what the packed sums hold.
		const [exported] = await store.contacts.export([id]);
		expect(
			exported.ok && (exported.value?.storedKeys as Record<string, Record<string, unknown>>)['sv:texts'],
		).toMatchObject({ '~cache': cache });
		// Sums the pack never wrote (a hand edit, an early build) are shown as stored; the export answers.
		await store.redis.hset(`${base}:sv:texts`, '~cache', '1|2|3|4|5');
		const [odd] = await store.contacts.export([id]);
		expect(odd.ok && (odd.value?.storedKeys as Record<string, Record<string, unknown>>)['sv:texts']).toMatchObject({
			'~cache': '1|2|3|4|5',
		});
	});

	it.each([
		['expiring awards', { mode: 'expire', days: 30 }],
		['halving awards', { mode: 'halfLife', days: 2 }],
	] as const)(
		'reads running sums written as text by format 3 (%s), and writes them back packed',
		async (_kind, decay) => {
			const model: ScoreModel = {
				name: 'upgrade',
				rules: [
					{ name: 'visit', event: 'visit', points: 3 },
					{ name: 'spam', event: 'spam', points: -2.5 },
				],
				decay,
			};
			const texted = await fresh();
			const packed = await fresh();
			const events = ['visit', 'spam', 'visit'];
			for (const [n, name] of events.entries()) {
				for (const id of [texted, packed]) await one(model, { contactId: id, event: { name, id: `e${n}` } });
				clock.advance(3_600_000);
			}
			const cacheOf = async (id: string) =>
				(await store.redis.hgetBuffer(`${store.keys.contact(id)}:sv:upgrade`, '~cache')) as Buffer;
			const before = decodeScoreCache(await cacheOf(texted));
			// Format 3's text: the nine values joined by "|", "-" for none (each number read back exactly).
			const text = Object.values(before)
				.map((v) => (v === null ? '-' : String(v)))
				.join('|');
			await store.redis.hset(`${store.keys.contact(texted)}:sv:upgrade`, '~cache', text);
			expect(decodeScoreCache(Buffer.from(text))).toEqual(before);
			clock.advance(3_600_000);
			const [fromText, fromPacked] = [
				await one(model, { contactId: texted, event: { name: 'visit', id: 'last' } }),
				await one(model, { contactId: packed, event: { name: 'visit', id: 'last' } }),
			];
			expect(fromText).toEqual(fromPacked);
			const after = await cacheOf(texted);
			expect(after[0]).toBe(0xc3);
			expect(decodeScoreCache(after)).toEqual(decodeScoreCache(await cacheOf(packed)));
		},
	);

	it('expires points at exactly N days after the award, without any job', async () => {
		const model: ScoreModel = {
			rules: [{ name: 'visit', event: 'visit', points: 7 }],
			decay: { mode: 'expire', days: 30 },
		};
		const id = await fresh();
		const t0 = clock.ms;
		await one(model, { contactId: id, event: { name: 'visit', id: 'v1' } });
		clock.advance(10 * DAY);
		await one(model, { contactId: id, event: { name: 'visit', id: 'v2' } });
		clock.ms = t0 + 30 * DAY - 1;
		expect((await scoring.read([id]))[0]).toMatchObject({ ok: true, value: { score: 14 } });
		clock.ms = t0 + 30 * DAY;
		expect((await scoring.read([id]))[0]).toMatchObject({ ok: true, value: { score: 7 } });
		clock.ms = t0 + 40 * DAY;
		expect((await scoring.read([id]))[0]).toMatchObject({ ok: true, value: { score: 0 } });
		// A write at that instant agrees with the read and prunes the dead awards.
		expect((await one(model, { contactId: id })).score).toBe(0);
		expect(await store.redis.zcard(`${store.keys.contact(id)}:sp:default`)).toBe(0);
	});

	it('halves points every N days (per-rule decay overrides the model)', async () => {
		const model: ScoreModel = {
			rules: [
				{ name: 'demo', event: 'demo_booked', points: 40, decay: { mode: 'halfLife', days: 10 } },
				{ name: 'form', event: 'form', points: 5 },
			],
		};
		const id = await fresh();
		const t0 = clock.ms;
		await one(model, { contactId: id, event: { name: 'demo_booked', id: 'd' } });
		await one(model, { contactId: id, event: { name: 'form', id: 'f' } });
		clock.ms = t0 + 10 * DAY;
		expect((await scoring.read([id]))[0]).toMatchObject({ value: { score: 25, ceiling: 25, floor: 5 } });
		clock.ms = t0 + 20 * DAY;
		expect((await one(model, { contactId: id })).score).toBe(15);
		clock.ms = t0 + 25 * DAY;
		expect((await scoring.read([id]))[0]).toMatchObject({ value: { score: 12.07 } });
		expect((await one(model, { contactId: id })).score).toBe(12.07);
	});

	it('gives field-rule points once while the condition holds and withdraws them after', async () => {
		const model: ScoreModel = {
			rules: [
				{
					name: 'director',
					field: { field: 'jobTitle', operator: 'contains', value: 'director', ignoreCase: true },
					points: 15,
				},
				{ name: 'big company', field: { field: 'employees', operator: 'gte', value: 100 }, points: 10 },
				{ name: 'customer', field: { field: 'lifecycleStage', operator: 'equals', value: 'customer' }, points: -100 },
			],
		};
		const id = await fresh({ jobTitle: 'Sales Director', employees: 99 });
		const a = await one(model, { contactId: id });
		expect(a).toMatchObject({ score: 15, matchedRules: ['director'], awarded: [{ rule: 'director', points: 15 }] });
		expect((await one(model, { contactId: id })).awarded).toEqual([]);
		await store.contacts.upsert([{ id, fields: { employees: 100 } }]);
		expect((await one(model, { contactId: id })).score).toBe(25);
		await store.contacts.upsert([{ id, fields: { jobTitle: 'Engineer' }, lifecycleStage: 'customer' }]);
		const c = await one(model, { contactId: id });
		expect(c.score).toBe(-90);
		expect(c.awarded).toEqual(
			expect.arrayContaining([
				{ rule: 'director', points: -15 },
				{ rule: 'customer', points: -100 },
			]),
		);
	});

	it('a core field the contact does not have is absent for field rules (exists is false, contains no match)', async () => {
		const model: ScoreModel = {
			rules: [
				{ name: 'staged', field: { field: 'lifecycleStage', operator: 'exists' }, points: 5 },
				{ name: 'cust', field: { field: 'lifecycleStage', operator: 'contains', value: 'cust' }, points: 7 },
			],
		};
		const id = await fresh();
		expect(await one(model, { contactId: id })).toMatchObject({ score: 0, matchedRules: [] });
		await store.contacts.upsert([{ id, lifecycleStage: 'customer' }]);
		expect(await one(model, { contactId: id })).toMatchObject({ score: 12, matchedRules: ['staged', 'cust'] });
	});

	it("logs each item's own source and chain with its $grade_changed, beside items carrying the batch's", async () => {
		// The first item's chain and the default source are sent once per call; an item with others
		// sends its own, in its tab-separated argument.
		const model: ScoreModel = { rules: [{ name: 'demo', event: 'demo', points: 60 }] };
		const [first, second, third] = [await fresh(), await fresh(), await fresh()];
		const shared = [{ workflowId: 'wf-shared', executionId: '1' }];
		const own = [{ workflowId: 'wf-own', executionId: '2' }];
		const results = await scoring.score(model, [
			{ contactId: first, event: { name: 'demo', id: 'd1' }, chain: shared },
			{ contactId: second, event: { name: 'demo', id: 'd2' }, chain: own, source: 'import\u00e9 x' },
			{ contactId: third, event: { name: 'demo', id: 'd3' }, chain: shared },
		]);
		const logged = await Promise.all(
			results.map(async (r, i) => {
				if (!r.ok) throw r.error;
				const eventId = r.value.gradeEventId as string;
				const contactId = [first, second, third][i];
				const [[, fields]] = await store.redis.xrange(
					store.keys.log(store.keys.shardOfContact(contactId)),
					eventId,
					eventId,
				);
				const entry: Record<string, string> = {};
				for (let k = 0; k < fields.length; k += 2) entry[fields[k]] = fields[k + 1];
				return { contact: entry.c, source: entry.s, chain: JSON.parse(entry.ch) as unknown };
			}),
		);
		expect(logged).toEqual([
			{ contact: first, source: 'lead-score', chain: shared },
			{ contact: second, source: 'import\u00e9 x', chain: own },
			{ contact: third, source: 'lead-score', chain: shared },
		]);
	});

	it('records $grade_changed on every crossing, up and down, and again after falling back', async () => {
		const model: ScoreModel = {
			rules: [{ name: 'pricing', event: 'pricing', points: 30, decay: { mode: 'expire', days: 7 } }],
			grades: [{ name: 'cold' }, { name: 'warm', min: 30 }, { name: 'hot', min: 60 }],
		};
		const id = await fresh();
		const t0 = clock.ms;
		expect(await one(model, { contactId: id, event: { name: 'pricing', id: 'p1' } })).toMatchObject({
			score: 30,
			grade: 'warm',
			previousGrade: 'cold',
			changed: true,
		});
		const hot = await one(model, { contactId: id, event: { name: 'pricing', id: 'p2' } });
		expect(hot).toMatchObject({ score: 60, grade: 'hot', previousGrade: 'warm', changed: true });
		expect(hot.gradeEventId).toMatch(/^\d+-\d+$/);
		expect((await one(model, { contactId: id, event: { name: 'pricing', id: 'p2' } })).changed).toBe(false);
		clock.ms = t0 + 7 * DAY;
		expect(await one(model, { contactId: id })).toMatchObject({
			score: 0,
			grade: 'cold',
			previousGrade: 'hot',
			changed: true,
		});
		await one(model, { contactId: id, event: { name: 'pricing', id: 'p3' } });
		const again = await one(model, { contactId: id, event: { name: 'pricing', id: 'p4' } });
		expect(again).toMatchObject({ grade: 'hot', changed: true });
		expect(await gradeEvents(id)).toEqual([
			{ model: 'default', from: 'cold', to: 'warm', score: 30 },
			{ model: 'default', from: 'warm', to: 'hot', score: 60 },
			{ model: 'default', from: 'hot', to: 'cold', score: 0 },
			{ model: 'default', from: 'cold', to: 'warm', score: 30 },
			{ model: 'default', from: 'warm', to: 'hot', score: 60 },
		]);
		const shard = store.keys.shardOfContact(id);
		expect(await store.redis.sismember(store.keys.index(shard, 'grade:default:hot'), id)).toBe(1);
		expect(await store.redis.sismember(store.keys.index(shard, 'grade:default:cold'), id)).toBe(0);
	});

	it('keeps the score indexes as bounds: ceiling for positive decaying points, floor for negative', async () => {
		const model: ScoreModel = {
			rules: [
				{ name: 'up', event: 'up', points: 20, decay: { mode: 'halfLife', days: 1 } },
				{ name: 'down', event: 'down', points: -8, decay: { mode: 'halfLife', days: 1 } },
			],
		};
		const id = await fresh();
		await one(model, { contactId: id, event: { name: 'up', id: 'u' } });
		await one(model, { contactId: id, event: { name: 'down', id: 'd' } });
		const shard = store.keys.shardOfContact(id);
		expect(Number(await store.redis.zscore(store.keys.index(shard, 'score:default'), id))).toBe(20);
		expect(Number(await store.redis.zscore(store.keys.index(shard, 'scoremin:default'), id))).toBe(-8);
		clock.advance(DAY);
		const [r] = await scoring.read([id]);
		expect(r.ok && r.value).toMatchObject({ score: 6, ceiling: 10, floor: -4 });
	});

	it('keeps separate models apart', async () => {
		const id = await fresh();
		await one(
			{ name: 'fit', rules: [{ name: 'a', event: 'x', points: 3 }] },
			{ contactId: id, event: { name: 'x', id: '1' } },
		);
		await one(
			{ name: 'intent', rules: [{ name: 'a', event: 'x', points: 9 }] },
			{ contactId: id, event: { name: 'x', id: '1' } },
		);
		const [fit] = await scoring.read([id], 'fit');
		const [intent] = await scoring.read([id], 'intent');
		expect([fit.ok && fit.value?.score, intent.ok && intent.value?.score]).toEqual([3, 9]);
	});

	it('folds the oldest non-decaying awards past the cap without changing the score', async () => {
		const model: ScoreModel = { rules: [{ name: 'v', event: 'v', points: 1 }], maxAwards: 10 };
		const id = await fresh();
		const results = await scoring.score(
			model,
			Array.from({ length: 25 }, (_, i) => ({ contactId: id, event: { name: 'v', id: `v${i}` } })),
		);
		expect(results.every((r) => r.ok)).toBe(true);
		expect((await scoring.read([id]))[0]).toMatchObject({ value: { score: 25 } });
		expect(await store.redis.zcard(`${store.keys.contact(id)}:sp:default`)).toBe(10);
	});

	it('scores a contact with more items in one batch than a script call takes, in order', async () => {
		// A contact's items share one script call up to five chunks (1,000 items); past that the
		// next call reads the state the previous one wrote.
		const id = await fresh();
		const model: ScoreModel = {
			rules: [{ name: 'v', event: 'v', points: 1 }],
			grades: [{ name: 'cold' }, { name: 'hot', min: 1050 }],
		};
		const results = await scoring.score(
			model,
			Array.from({ length: 1100 }, (_, i) => ({ contactId: id, event: { name: 'v', id: `big${i}` } })),
		);
		expect(results.map((r) => r.ok && r.value.score)).toEqual(Array.from({ length: 1100 }, (_, i) => i + 1));
		expect(results.filter((r) => r.ok && r.value.changed).map((r) => r.ok && r.value.score)).toEqual([1050]);
		expect((await scoring.read([id]))[0]).toMatchObject({ value: { score: 1100, grade: 'hot' } });
	});

	it('gives the exact sum under 8 concurrent executions on separate connections', async () => {
		const id = await fresh();
		const clients = Array.from({ length: 8 }, () => createClient(ctx.config));
		try {
			const stores = clients.map((c) => new ContactStore(c, ctx.config.keyPrefix, { now: clock.now }));
			const model: ScoreModel = {
				rules: [{ name: 'hit', event: 'hit', points: 3 }],
				grades: [{ name: 'cold' }, { name: 'hot', min: 100 }],
			};
			const runs = await Promise.all(
				stores.map((s, w) =>
					new Scoring(s).score(
						model,
						Array.from({ length: 25 }, (_, i) => ({ contactId: id, event: { name: 'hit', id: `w${w}-${i}` } })),
					),
				),
			);
			expect(runs.flat().every((r) => r.ok)).toBe(true);
			expect((await scoring.read([id]))[0]).toMatchObject({ value: { score: 600 } });
			// Exactly one execution saw the crossing.
			expect(runs.flat().filter((r) => r.ok && r.value.changed)).toHaveLength(1);
			expect(await gradeEvents(id)).toEqual([{ model: 'default', from: 'cold', to: 'hot', score: 102 }]);
		} finally {
			clients.forEach((c) => c.disconnect());
		}
	});

	it('scores a batch with one script call per shard it touches, all sent before the first answer', async () => {
		const ids = await Promise.all(Array.from({ length: 200 }, () => fresh()));
		const calls = (n: number, run: string) =>
			scriptCalls(async () => {
				const results = await scoring.score(
					basic,
					ids.slice(0, n).map((contactId) => ({ contactId, event: { name: 'signed_up', id: run } })),
				);
				expect(results.every((r) => r.ok)).toBe(true);
			});
		const shards = (n: number) => new Set(ids.slice(0, n).map(shardOf)).size;
		const small = await calls(5, 'a');
		const large = await calls(200, 'b');
		expect(small).toHaveLength(shards(5));
		expect(large).toHaveLength(shards(200));
		// One round trip: no call waited for another's answer.
		expect([...small, ...large].every((answeredBefore) => answeredBefore === 0)).toBe(true);
	});

	it('computes the same decayed score in the scoring script and in TypeScript (property-based)', async () => {
		const decay = fc.oneof(
			fc.constant(undefined),
			fc.record({
				mode: fc.constantFrom('expire' as const, 'halfLife' as const),
				days: fc.integer({ min: 1, max: 30 }),
			}),
		);
		await fc.assert(
			fc.asyncProperty(
				fc.array(
					fc.record({
						points: fc.integer({ min: -50, max: 50 }),
						decay,
						ageDays: fc.double({ min: 0, max: 60, noNaN: true }),
					}),
					{ minLength: 1, maxLength: 8 },
				),
				fc.double({ min: 0, max: 40, noNaN: true }),
				async (awards, laterDays) => {
					const id = await fresh();
					const t0 = clock.ms;
					const model: ScoreModel = {
						rules: awards.map((a, i) => ({
							name: `r${i}`,
							event: `e${i}`,
							points: a.points,
							decay: a.decay ?? { mode: 'none' },
						})),
					};
					const results = await scoring.score(
						model,
						awards.map((a, i) => ({
							contactId: id,
							event: { name: `e${i}`, id: 'x', time: Math.round(t0 - a.ageDays * DAY) },
						})),
					);
					const last = results[results.length - 1];
					if (!last.ok) throw last.error;
					const [now] = await scoring.read([id]);
					expect(now.ok && now.value?.score).toBe(last.value.score);
					clock.ms = t0 + Math.round(laterDays * DAY);
					try {
						const written = await scoring.score(model, [{ contactId: id }]);
						const [read] = await scoring.read([id]);
						expect(read.ok && read.value?.score).toBe(written[0].ok && written[0].value.score);
					} finally {
						clock.ms = t0;
					}
				},
			),
			{ numRuns: 60 },
		);
	});

	it('fails for a contact that does not exist, and erase leaves nothing behind', async () => {
		const [missing] = await scoring.score(basic, [{ contactId: 'nobody', event: { name: 'signed_up' } }]);
		expect(!missing.ok && missing.error).toBeInstanceOf(NotFoundError);
		expect(await scoring.read(['nobody'])).toEqual([{ ok: true, value: null }]);
		const id = await fresh();
		await one(basic, { contactId: id, event: { name: 'signed_up', id: 'x' } });
		await store.contacts.erase([id]);
		const shard = store.keys.shardOfContact(id);
		expect(await store.redis.zscore(store.keys.index(shard, 'score:default'), id)).toBeNull();
		expect(
			await store.redis.exists(`${store.keys.contact(id)}:sp:default`, `${store.keys.contact(id)}:sv:default`),
		).toBe(0);
	});

	it.each([
		[
			'unknown field operator',
			{ rules: [{ name: 'r', field: { field: 'x', operator: 'resembles', value: 1 }, points: 1 }] },
			'rules[0].field.operator',
		],
		[
			'unknown property operator',
			{ rules: [{ name: 'r', event: 'e', where: [{ property: 'p', operator: 'nope' }], points: 1 }] },
			'rules[0].where[0].operator',
		],
		[
			'bad regex in a property condition',
			{ rules: [{ name: 'r', event: 'e', where: [{ property: 'p', operator: 'regex', value: '(' }], points: 1 }] },
			'rules[0].where[0].value',
		],
		['points that are not a number', { rules: [{ name: 'r', event: 'e', points: 'ten' }] }, 'rules[0].points'],
		[
			'rule with both event and field',
			{ rules: [{ name: 'r', event: 'e', field: { field: 'x', operator: 'exists' }, points: 1 }] },
			'rules[0]',
		],
		[
			'duplicate rule names',
			{
				rules: [
					{ name: 'r', event: 'e', points: 1 },
					{ name: 'r', event: 'f', points: 1 },
				],
			},
			'rules[1].name',
		],
		['unknown frequency', { rules: [{ name: 'r', event: 'e', points: 1, frequency: 'hourly' }] }, 'rules[0].frequency'],
		[
			'zero decay days',
			{ rules: [{ name: 'r', event: 'e', points: 1, decay: { mode: 'expire', days: 0 } }] },
			'rules[0].decay.days',
		],
		[
			'equal grade thresholds',
			{ rules: [], grades: [{ name: 'a' }, { name: 'b', min: 5 }, { name: 'c', min: 5 }] },
			'grades',
		],
		['bad model name', { name: 'a b', rules: [] }, 'model'],
		[
			'gt against text',
			{ rules: [{ name: 'r', field: { field: 'x', operator: 'gt', value: 'lots' }, points: 1 }] },
			'rules[0].field.value',
		],
	])('rejects a model with %s naming the field', async (_label, model, field) => {
		const id = await fresh();
		const [r] = await scoring
			.score(model as ScoreModel, [{ contactId: id }])
			.catch((error) => [{ ok: false as const, error }]);
		expect(r.ok).toBe(false);
		const error = (r as { error: ValidationError }).error;
		expect(error).toBeInstanceOf(ValidationError);
		expect(error.field).toBe(field);
	});

	it('rejects an event time that does not parse', async () => {
		const id = await fresh();
		const [r] = await scoring.score(basic, [{ contactId: id, event: { name: 'signed_up', time: 'yesterday-ish' } }]);
		expect(!r.ok && (r.error as ValidationError).field).toBe('time');
	});
});
