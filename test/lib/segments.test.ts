import { closeAllStores } from '../../lib/redis/pool';
import { ValidationError } from '../../lib/errors';
import { Scoring } from '../../lib/scoring';
import { Segments, type SegmentCondition } from '../../lib/segments';
import { EngagementTagger } from '../../lib/engagement';
import { Campaigns } from '../../lib/campaigns';
import { openStore, scriptCalls, topologies } from '../harness/store';
import { shardOf } from '../../lib/keys';

afterAll(() => closeAllStores());

const DAY = 86_400_000;

describe.each(topologies)('segment conditions on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	const segments = new Segments(store);
	const T0 = clock.ms; // 2026-01-15T12:00:00Z

	const matches = async (condition: SegmentCondition, ids: string[]) => {
		const results = await segments.evaluate(condition, ids);
		return results.map((r) => {
			if (!r.ok) throw r.error;
			return r.value.matched;
		});
	};
	const ok = async (input: Parameters<typeof store.contacts.upsert>[0]) => {
		const results = await store.contacts.upsert(input);
		for (const r of results) if (!r.ok) throw r.error;
	};
	const events = async (list: Parameters<typeof store.events.recordSystem>[0]) => {
		for (const r of await store.events.recordSystem(list)) if (!r.ok) throw r.error;
	};

	beforeAll(async () => {
		await ok([
			{
				id: 'ada',
				email: 'ada@example.com',
				timezone: 'Asia/Tokyo',
				lifecycleStage: 'customer',
				fields: {
					firstName: 'Ada',
					plan: 'Pro Annual',
					nps: 7,
					vip: true,
					birthday: { value: '1990-01-16', type: 'date' },
					renewal: { value: '2026-01-20T00:00:00Z', type: 'date' },
					lastOrder: { value: new Date(T0 - 30 * DAY).toISOString(), type: 'date' },
					language: 'de',
				},
				addTags: ['newsletter', 'Engaged', 'books'],
				subscription: { status: 'subscribed', source: 'form' },
			},
			{
				id: 'bob',
				email: 'bob@example.com',
				timezone: 'America/Los_Angeles',
				lifecycleStage: 'lead',
				fields: {
					firstName: 'Bob',
					nps: 6,
					vip: false,
					birthday: { value: '1985-01-16', type: 'date' },
					plan: 'free',
					lastOrder: { value: new Date(T0 - 30 * DAY - 1).toISOString(), type: 'date' },
				},
				addTags: ['Inactive'],
				subscription: { status: 'unsubscribed', source: 'link' },
			},
			{ id: 'cy', fields: { plan: 'pro monthly' } },
		]);
	});

	it.each<[string, SegmentCondition, boolean[]]>([
		['equals number', { type: 'field', field: 'nps', operator: 'equals', value: 7 }, [true, false, false]],
		['equals numeric text', { type: 'field', field: 'nps', operator: 'equals', value: '6' }, [false, true, false]],
		[
			'equals text is case-sensitive',
			{ type: 'field', field: 'firstName', operator: 'equals', value: 'ada' },
			[false, false, false],
		],
		[
			'equals text ignoring case',
			{ type: 'field', field: 'firstName', operator: 'equals', value: 'ada', ignoreCase: true },
			[true, false, false],
		],
		['equals boolean', { type: 'field', field: 'vip', operator: 'equals', value: true }, [true, false, false]],
		[
			'equals date-only against a stored date',
			{ type: 'field', field: 'birthday', operator: 'equals', value: '1990-01-16' },
			[true, false, false],
		],
		[
			'notEquals (missing counts as not equal)',
			{ type: 'field', field: 'nps', operator: 'notEquals', value: 7 },
			[false, true, true],
		],
		[
			'contains',
			{ type: 'field', field: 'plan', operator: 'contains', value: 'pro', ignoreCase: true },
			[true, false, true],
		],
		['notContains', { type: 'field', field: 'plan', operator: 'notContains', value: 'Pro' }, [false, true, true]],
		['startsWith', { type: 'field', field: 'plan', operator: 'startsWith', value: 'Pro' }, [true, false, false]],
		['endsWith', { type: 'field', field: 'plan', operator: 'endsWith', value: 'monthly' }, [false, false, true]],
		['gt at the boundary', { type: 'field', field: 'nps', operator: 'gt', value: 6 }, [true, false, false]],
		[
			'gte at the boundary (NPS >= 7)',
			{ type: 'field', field: 'nps', operator: 'gte', value: 7 },
			[true, false, false],
		],
		['lt (NPS < 7)', { type: 'field', field: 'nps', operator: 'lt', value: 7 }, [false, true, false]],
		['lte at the boundary', { type: 'field', field: 'nps', operator: 'lte', value: 6 }, [false, true, false]],
		[
			'between is inclusive',
			{ type: 'field', field: 'nps', operator: 'between', value: 6, value2: 7 },
			[true, true, false],
		],
		[
			'between dates',
			{ type: 'field', field: 'renewal', operator: 'between', value: '2026-01-20', value2: '2026-02-01' },
			[true, false, false],
		],
		['exists', { type: 'field', field: 'nps', operator: 'exists' }, [true, true, false]],
		['notExists', { type: 'field', field: 'nps', operator: 'notExists' }, [false, false, true]],
		['in list', { type: 'field', field: 'language', operator: 'in', value: 'fr, de' }, [true, false, false]],
		[
			'notIn list',
			{ type: 'field', field: 'plan', operator: 'notIn', value: ['free', 'pro monthly'] },
			[true, false, false],
		],
		['regex', { type: 'field', field: 'plan', operator: 'regex', value: '/^pro\\s/i' }, [true, false, true]],
		[
			'before is strict at the instant',
			{ type: 'field', field: 'renewal', operator: 'before', value: '2026-01-20T00:00:00Z' },
			[false, false, false],
		],
		[
			'after',
			{ type: 'field', field: 'renewal', operator: 'after', value: '2026-01-19T23:59:59.999Z' },
			[true, false, false],
		],
		[
			'within the last 30 days includes exactly 30 days ago',
			{ type: 'field', field: 'lastOrder', operator: 'withinLastDays', days: 30 },
			[true, false, false],
		],
		[
			'not within the last 30 days',
			{ type: 'field', field: 'lastOrder', operator: 'notWithinLastDays', days: 30 },
			[false, true, false],
		],
		// 2026-01-15T12:00Z is Jan 15 21:00 in Tokyo and 04:00 in Los Angeles: neither is Jan 16 yet.
		[
			'anniversary today in the contact zone',
			{ type: 'field', field: 'birthday', operator: 'anniversaryToday' },
			[false, false, false],
		],
		[
			'core attribute: e-mail',
			{ type: 'field', field: 'email', operator: 'endsWith', value: '@example.com' },
			[true, true, false],
		],
		[
			'core time: createdAt within the last day',
			{ type: 'field', field: 'createdAt', operator: 'withinLastDays', days: 1 },
			[true, true, true],
		],
		['tags hasAny', { type: 'tags', operator: 'hasAny', tags: 'newsletter, Inactive' }, [true, true, false]],
		['tags hasAll', { type: 'tags', operator: 'hasAll', tags: ['newsletter', 'books'] }, [true, false, false]],
		['tags hasNone', { type: 'tags', operator: 'hasNone', tags: ['newsletter'] }, [false, true, true]],
		['tier is', { type: 'tier', operator: 'is', value: 'Engaged' }, [true, false, false]],
		['tier isNot', { type: 'tier', operator: 'isNot', value: 'Inactive' }, [true, false, true]],
		[
			'custom tier names',
			{ type: 'tier', operator: 'in', value: 'books', tiers: ['books', 'Engaged'] },
			[true, false, false],
		],
		['lifecycle stage', { type: 'lifecycleStage', operator: 'in', value: ['lead', 'mql'] }, [false, true, false]],
		['subscription status', { type: 'subscription', operator: 'is', value: 'subscribed' }, [true, false, false]],
		['subscription isNot', { type: 'subscription', operator: 'isNot', value: 'subscribed' }, [false, true, true]],
	])('%s', async (_label, condition, expected) => {
		expect(await matches(condition, ['ada', 'bob', 'cy'])).toEqual(expected);
	});

	it("anniversary today follows each contact's own zone", async () => {
		// 2026-01-15T15:00Z: already Jan 16 in Tokyo (00:00), still Jan 15 in Los Angeles.
		clock.ms = Date.UTC(2026, 0, 15, 15, 0, 0);
		const condition: SegmentCondition = { type: 'field', field: 'birthday', operator: 'anniversaryToday' };
		expect(await matches(condition, ['ada', 'bob'])).toEqual([true, false]);
		clock.ms = Date.UTC(2026, 0, 16, 8, 0, 0); // Jan 16 00:00 in Los Angeles, Jan 16 17:00 in Tokyo
		expect(await matches(condition, ['ada', 'bob'])).toEqual([true, true]);
		clock.ms = Date.UTC(2026, 0, 16, 15, 0, 0); // Jan 17 in Tokyo
		expect(await matches(condition, ['ada', 'bob'])).toEqual([false, true]);
		clock.ms = T0;
	});

	it('counts events in the last N days with exact boundaries, and "never did"', async () => {
		await ok([{ id: 'ev1' }]);
		await events([
			{ contactId: 'ev1', name: 'page_viewed', time: T0 - 7 * DAY },
			{ contactId: 'ev1', name: 'page_viewed', time: T0 - 3 * DAY },
			{ contactId: 'ev1', name: 'page_viewed', time: T0 - 7 * DAY - 1 },
		]);
		const atLeast = (count: number, days?: number): SegmentCondition => ({
			type: 'event',
			operator: 'didAtLeast',
			event: 'page_viewed',
			count,
			days,
		});
		expect(await matches(atLeast(2, 7), ['ev1'])).toEqual([true]);
		expect(await matches(atLeast(3, 7), ['ev1'])).toEqual([false]);
		expect(await matches(atLeast(3), ['ev1'])).toEqual([true]);
		clock.advance(1);
		expect(await matches(atLeast(2, 7), ['ev1'])).toEqual([false]);
		clock.ms = T0;
		expect(await matches({ type: 'event', operator: 'didNot', event: 'purchase' }, ['ev1'])).toEqual([true]);
		expect(await matches({ type: 'event', operator: 'didNot', event: 'page_viewed' }, ['ev1'])).toEqual([false]);
		expect(await matches({ type: 'event', operator: 'didNot', event: 'page_viewed', days: 2 }, ['ev1'])).toEqual([
			true,
		]);
	});

	it('did X but not Y within N days: only once the N days have passed, Y at exactly N days counts', async () => {
		await ok([{ id: 'cart1' }, { id: 'cart2' }, { id: 'cart3' }]);
		await events([
			{ contactId: 'cart1', name: 'cart_added', time: T0 - 2 * DAY },
			{ contactId: 'cart2', name: 'cart_added', time: T0 - 2 * DAY },
			{ contactId: 'cart2', name: 'order', time: T0 - DAY },
			{ contactId: 'cart3', name: 'cart_added', time: T0 - 2 * DAY },
			{ contactId: 'cart3', name: 'order', time: T0 },
		]);
		const cond = (days?: number): SegmentCondition => ({
			type: 'event',
			operator: 'didButNot',
			event: 'cart_added',
			otherEvent: 'order',
			days,
		});
		expect(await matches(cond(2), ['cart1', 'cart2', 'cart3'])).toEqual([true, false, false]);
		expect(await matches(cond(3), ['cart1', 'cart2', 'cart3'])).toEqual([false, false, false]);
		expect(await matches(cond(), ['cart1', 'cart2', 'cart3'])).toEqual([true, false, false]);
		// A new cart after the order starts over.
		await events([{ contactId: 'cart2', name: 'cart_added', time: T0 - DAY / 2 }]);
		expect(await matches(cond(), ['cart2'])).toEqual([true]);
	});

	it('recipe 23: already bought a book by this author (event property conditions)', async () => {
		await ok([{ id: 'reader1' }, { id: 'reader2' }]);
		await events([
			{
				contactId: 'reader1',
				name: 'purchase',
				properties: { author: 'Ursula K. Le Guin', sku: 'b1' },
				time: T0 - 100 * DAY,
			},
			{ contactId: 'reader2', name: 'purchase', properties: { author: 'Iain M. Banks' } },
			{ contactId: 'reader2', name: 'page_viewed', properties: { author: 'Ursula K. Le Guin' } },
		]);
		const bought: SegmentCondition = {
			type: 'event',
			operator: 'didAtLeast',
			event: 'purchase',
			where: [{ property: 'author', operator: 'equals', value: 'Ursula K. Le Guin' }],
		};
		expect(await matches(bought, ['reader1', 'reader2'])).toEqual([true, false]);
		const viewedButNotBought: SegmentCondition = {
			combinator: 'and',
			conditions: [
				{
					type: 'event',
					operator: 'didAtLeast',
					event: 'page_viewed',
					where: [{ property: 'author', operator: 'equals', value: 'Ursula K. Le Guin' }],
					days: 3,
				},
				{
					type: 'event',
					operator: 'didNot',
					event: 'purchase',
					where: [{ property: 'author', operator: 'equals', value: 'Ursula K. Le Guin' }],
				},
			],
		};
		expect(await matches(viewedButNotBought, ['reader1', 'reader2'])).toEqual([false, true]);
	});

	it('e-mail engagement: received / opened / clicked campaign C, did not open within N days', async () => {
		await ok([{ id: 'm1' }, { id: 'm2' }, { id: 'm3' }]);
		await events([
			{ contactId: 'm1', name: '$email_sent', properties: { campaignId: 'xmas' }, time: T0 - 3 * DAY },
			{ contactId: 'm1', name: '$email_opened', properties: { campaignId: 'xmas' }, time: T0 - 3 * DAY + 5000 },
			{
				contactId: 'm1',
				name: '$email_clicked',
				properties: { campaignId: 'xmas', url: 'https://x' },
				time: T0 - 3 * DAY + 9000,
			},
			{ contactId: 'm2', name: '$email_sent', properties: { campaignId: 'xmas' }, time: T0 - 3 * DAY },
			{ contactId: 'm2', name: '$email_opened', properties: { campaignId: 'other' }, time: T0 - 2 * DAY },
			{ contactId: 'm3', name: '$email_sent', properties: { campaignId: 'xmas' }, time: T0 - 3 * DAY },
			{ contactId: 'm3', name: '$email_opened', properties: { campaignId: 'xmas' }, time: T0 },
		]);
		const ids = ['m1', 'm2', 'm3'];
		expect(await matches({ type: 'email', operator: 'received', campaignId: 'xmas' }, ids)).toEqual([true, true, true]);
		expect(await matches({ type: 'email', operator: 'opened', campaignId: 'xmas' }, ids)).toEqual([true, false, true]);
		expect(await matches({ type: 'email', operator: 'opened', campaignId: 'xmas', days: 1 }, ids)).toEqual([
			false,
			false,
			true,
		]);
		expect(await matches({ type: 'email', operator: 'opened' }, ids)).toEqual([true, true, true]);
		expect(await matches({ type: 'email', operator: 'clicked', campaignId: 'xmas' }, ids)).toEqual([
			true,
			false,
			false,
		]);
		// m3 opened exactly 3 days after the send: within 3 days.
		expect(await matches({ type: 'email', operator: 'notOpened', campaignId: 'xmas', days: 3 }, ids)).toEqual([
			false,
			true,
			false,
		]);
		expect(await matches({ type: 'email', operator: 'notOpened', campaignId: 'xmas', days: 2 }, ids)).toEqual([
			false,
			true,
			true,
		]);
		// Not settled yet: 4 days have not passed since the send.
		expect(await matches({ type: 'email', operator: 'notOpened', campaignId: 'xmas', days: 4 }, ids)).toEqual([
			false,
			false,
			false,
		]);
	});

	it("reads Send Campaign's per-campaign record and ignores machine opens", async () => {
		await ok([{ id: 'cmp1' }]);
		// The record Send Campaign keeps when a send is confirmed (lib/campaigns confirm_send.lua).
		await store.redis.hset(
			`${store.keys.contact('cmp1')}:cmp`,
			'promo',
			JSON.stringify({ sentAt: T0 - 5 * DAY, messageId: '<m1@x>', sends: 1 }),
		);
		const ids = ['cmp1'];
		const received: SegmentCondition = { type: 'email', operator: 'received', campaignId: 'promo' };
		const opened: SegmentCondition = { type: 'email', operator: 'opened', campaignId: 'promo' };
		const notOpened: SegmentCondition = { type: 'email', operator: 'notOpened', campaignId: 'promo', days: 3 };
		expect(await matches(received, ids)).toEqual([true]);
		expect(await matches({ ...received, days: 4 }, ids)).toEqual([false]);
		const campaigns = new Campaigns(store);
		const machine = await campaigns.recordOutcomes([
			{ contactId: 'cmp1', campaignId: 'promo', kind: 'opened', time: T0 - 5 * DAY + 60_000, machine: true },
		]);
		expect(machine[0].ok).toBe(true);
		expect(await matches(opened, ids)).toEqual([false]);
		expect(await matches(notOpened, ids)).toEqual([true]);
		const human = await campaigns.recordOutcomes([
			{ contactId: 'cmp1', campaignId: 'promo', kind: 'opened', time: T0 - 2 * DAY - 1 },
		]);
		expect(human[0].ok).toBe(true);
		expect(await matches(opened, ids)).toEqual([true]);
		// Opened 3 days minus 1 ms after the send: within 3 days.
		expect(await matches(notOpened, ids)).toEqual([false]);
		expect(await matches({ ...notOpened, days: 2 }, ids)).toEqual([true]);
	});

	it('recipe 17: opened the promotion but did not buy', async () => {
		await ok([{ id: 'promo1' }, { id: 'promo2' }, { id: 'promo3' }]);
		await events([
			{ contactId: 'promo1', name: '$email_opened', properties: { campaignId: 'spring' }, time: T0 - DAY },
			{ contactId: 'promo2', name: '$email_opened', properties: { campaignId: 'spring' }, time: T0 - DAY },
			{ contactId: 'promo2', name: 'purchase', properties: { campaignId: 'spring' }, time: T0 - DAY / 2 },
			{ contactId: 'promo3', name: 'purchase', time: T0 - DAY / 2 },
		]);
		const condition: SegmentCondition = {
			combinator: 'and',
			conditions: [
				{ type: 'email', operator: 'opened', campaignId: 'spring' },
				{
					type: 'event',
					operator: 'didButNot',
					event: '$email_opened',
					where: [{ property: 'campaignId', operator: 'equals', value: 'spring' }],
					otherEvent: 'purchase',
				},
			],
		};
		expect(await matches(condition, ['promo1', 'promo2', 'promo3'])).toEqual([true, false, false]);
	});

	it('recipe 19: NPS >= 7 is happy, below 7 unhappy, combined with AND / OR groups', async () => {
		const happy: SegmentCondition = { type: 'field', field: 'nps', operator: 'gte', value: 7 };
		const unhappy: SegmentCondition = { type: 'field', field: 'nps', operator: 'lt', value: 7 };
		expect(await matches(happy, ['ada', 'bob', 'cy'])).toEqual([true, false, false]);
		expect(await matches(unhappy, ['ada', 'bob', 'cy'])).toEqual([false, true, false]);
		const nested: SegmentCondition = {
			combinator: 'or',
			conditions: [
				{ combinator: 'and', conditions: [happy, { type: 'subscription', operator: 'is', value: 'subscribed' }] },
				{ combinator: 'and', conditions: [unhappy, { type: 'lifecycleStage', operator: 'is', value: 'customer' }] },
				{ type: 'field', field: 'plan', operator: 'equals', value: 'pro monthly' },
			],
		};
		expect(await matches(nested, ['ada', 'bob', 'cy'])).toEqual([true, false, true]);
	});

	it('score and grade conditions read the decayed score', async () => {
		const scoring = new Scoring(store);
		await ok([{ id: 's1' }, { id: 's2' }]);
		const model = {
			rules: [{ name: 'demo', event: 'demo', points: 60, decay: { mode: 'expire' as const, days: 10 } }],
		};
		await scoring.score(model, [{ contactId: 's1', event: { name: 'demo', id: 'd1' } }]);
		await scoring.score(model, [{ contactId: 's2' }]);
		expect(await matches({ type: 'score', operator: 'gte', value: 60 }, ['s1', 's2'])).toEqual([true, false]);
		expect(await matches({ type: 'grade', operator: 'is', value: 'hot' }, ['s1', 's2'])).toEqual([true, false]);
		clock.ms = T0 + 10 * DAY;
		expect(await matches({ type: 'score', operator: 'gte', value: 60 }, ['s1', 's2'])).toEqual([false, false]);
		expect(await matches({ type: 'score', operator: 'equals', value: 0 }, ['s1', 's2'])).toEqual([true, true]);
		clock.ms = T0;
	});

	it('reads the tier the Engagement Tagger keeps, in per-item and segment mode', async () => {
		await ok([{ id: 'tier1' }, { id: 'tier2' }]);
		await events([
			{ contactId: 'tier1', name: 'visit', time: T0 - 40 * DAY, activity: true },
			{ contactId: 'tier2', name: 'visit', time: T0 - DAY, activity: true },
		]);
		const tagged = await new EngagementTagger(store).tag(['tier1', 'tier2']);
		expect(tagged.map((r) => r.ok && r.value.tier)).toEqual(['Disengaged', 'Engaged']);
		const disengaged: SegmentCondition = { type: 'tier', operator: 'is', value: 'Disengaged' };
		expect(await matches(disengaged, ['tier1', 'tier2'])).toEqual([true, false]);
		const page = await segments.page(disengaged, { pageSize: 100 });
		expect(page.contacts.map((c) => c.contactId)).toEqual(['tier1']);
		expect(page.plan).toMatch(/index: tier Disengaged/);
	});

	it('evaluates a batch with one script call per shard it touches, all sent before the first answer', async () => {
		const ids = Array.from({ length: 300 }, (_, i) => `rt${i}`);
		await ok(ids.map((id) => ({ id, fields: { nps: 5 } })));
		const condition: SegmentCondition = {
			combinator: 'and',
			conditions: [
				{ type: 'field', field: 'nps', operator: 'gte', value: 5 },
				{ type: 'event', operator: 'didNot', event: 'x', days: 3 },
			],
		};
		const calls = (n: number) =>
			scriptCalls(async () => {
				const results = await segments.evaluate(condition, ids.slice(0, n));
				expect(results.every((r) => r.ok && r.value.matched)).toBe(true);
			});
		const shards = (n: number) => new Set(ids.slice(0, n).map(shardOf)).size;
		const small = await calls(10);
		const large = await calls(300);
		expect(small).toHaveLength(shards(10));
		expect(large).toHaveLength(shards(300));
		expect([...small, ...large].every((answeredBefore) => answeredBefore === 0)).toBe(true);
	});

	it('answers each item of a batch larger than a script call on its own: matches, missing contacts, an invalid ID', async () => {
		// Over 200 items per shard: every shard takes several script calls.
		const ids = Array.from({ length: 4000 }, (_, i) => `chunk${i}`);
		await ok(ids.filter((_, i) => i % 4 === 0).map((id, k) => ({ id, fields: { nps: k % 10 } })));
		const condition: SegmentCondition = { type: 'field', field: 'nps', operator: 'gte', value: 5 };
		const results = await segments.evaluate(condition, [...ids, '', ids[8]]);
		ids.forEach((id, i) => {
			const exists = i % 4 === 0;
			expect(results[i]).toEqual({
				ok: true,
				value: { contactId: id, found: exists, matched: exists && (i / 4) % 10 >= 5 },
			});
		});
		const invalid = results[ids.length];
		expect(invalid.ok).toBe(false);
		expect(!invalid.ok && invalid.error).toBeInstanceOf(ValidationError);
		expect(results[ids.length + 1]).toEqual(results[8]);
	});

	it('answers a contact that comes back in a batch like its first item (read once per call)', async () => {
		await ok([
			{ id: 'again-yes', fields: { nps: 9 } },
			{ id: 'again-no', fields: { nps: 2 } },
		]);
		const condition: SegmentCondition = { type: 'field', field: 'nps', operator: 'gte', value: 5 };
		const ids = ['again-yes', 'again-no', 'again-yes', 'again-gone', 'again-no', 'again-yes', 'again-gone', ''];
		const results = await segments.evaluate(condition, ids);
		const expected = { 'again-yes': [true, true], 'again-no': [true, false], 'again-gone': [false, false] } as Record<
			string,
			[boolean, boolean]
		>;
		ids.slice(0, -1).forEach((id, i) =>
			expect(results[i]).toEqual({
				ok: true,
				value: { contactId: id, found: expected[id][0], matched: expected[id][1] },
			}),
		);
		expect(results[ids.length - 1].ok).toBe(false);
	});

	it('sends a contact that does not exist to not matched', async () => {
		const [r] = await segments.evaluate({ type: 'event', operator: 'didNot', event: 'x' }, ['ghost']);
		expect(r).toEqual({ ok: true, value: { contactId: 'ghost', found: false, matched: false } });
	});

	it.each<[string, unknown, string]>([
		['unknown operator', { type: 'field', field: 'nps', operator: 'isAbout', value: 7 }, 'conditions.operator'],
		['unknown type', { type: 'mood', operator: 'is', value: 'x' }, 'conditions.type'],
		[
			'unknown combinator',
			{ combinator: 'xor', conditions: [{ type: 'tags', operator: 'hasAny', tags: 'a' }] },
			'conditions.combinator',
		],
		[
			'unparsable date',
			{ combinator: 'and', conditions: [{ type: 'field', field: 'renewal', operator: 'after', value: '2026-13-45' }] },
			'conditions.conditions[0].value',
		],
		[
			'regex that does not compile',
			{ type: 'field', field: 'plan', operator: 'regex', value: '([a-z' },
			'conditions.value',
		],
		['gt against text', { type: 'field', field: 'nps', operator: 'gt', value: 'many' }, 'conditions.value'],
		[
			'between bounds reversed',
			{ type: 'field', field: 'nps', operator: 'between', value: 9, value2: 1 },
			'conditions.value2',
		],
		['negative days', { type: 'field', field: 'lastOrder', operator: 'withinLastDays', days: -1 }, 'conditions.days'],
		['unknown tier', { type: 'tier', operator: 'is', value: 'Sleepy' }, 'conditions.value'],
		['score against text', { type: 'score', operator: 'gt', value: 'high' }, 'conditions.value'],
		[
			'event window beyond retention',
			{ type: 'event', operator: 'didAtLeast', event: 'x', days: 500 },
			'conditions.days',
		],
		['zero count', { type: 'event', operator: 'didAtLeast', event: 'x', count: 0 }, 'conditions.count'],
		[
			'didButNot without the other event',
			{ type: 'event', operator: 'didButNot', event: 'x' },
			'conditions.otherEvent',
		],
		['notOpened without days', { type: 'email', operator: 'notOpened', campaignId: 'c' }, 'conditions.days'],
		['empty group', { combinator: 'and', conditions: [] }, 'conditions.conditions'],
		[
			'bad property regex',
			{ type: 'event', operator: 'didNot', event: 'x', where: [{ property: 'p', operator: 'regex', value: '*' }] },
			'conditions.where[0].value',
		],
	])('rejects %s with a ValidationError naming the condition', async (_label, condition, field) => {
		let error: unknown;
		try {
			await segments.evaluate(condition as SegmentCondition, ['ada']);
		} catch (e) {
			error = e;
		}
		expect(error).toBeInstanceOf(ValidationError);
		expect((error as ValidationError).field).toBe(field);
	});
});

describe.each(topologies)('segment mode on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	const segments = new Segments(store);
	const scoring = new Scoring(store);
	const N = 240;
	const id = (i: number) => (i % 37 === 0 ? `odd:{${i}} Zoë 東京` : `c${i}`);

	beforeAll(async () => {
		const inputs = Array.from({ length: N }, (_, i) => ({
			id: id(i),
			lifecycleStage: i % 3 === 0 ? 'customer' : 'lead',
			fields: { n: i },
			addTags: [...(i % 2 === 0 ? ['even'] : []), ...(i % 5 === 0 ? ['five'] : [])],
		}));
		for (const r of await store.contacts.upsert(inputs)) if (!r.ok) throw r.error;
		const active = Array.from({ length: N }, (_, i) => i).filter((i) => i % 4 === 0);
		for (const r of await store.events.record(
			active.map((i) => ({ contactId: id(i), name: 'visit', time: clock.ms - (i % 8 === 0 ? 2 : 9) * 86_400_000 })),
		)) {
			if (!r.ok) throw r.error;
		}
		const model = {
			rules: [
				{ name: 'v', event: 'visit', points: 10, decay: { mode: 'expire' as const, days: 10 } },
				{ name: 'base', field: { field: 'n', operator: 'gte' as const, value: 200 }, points: 5 },
			],
		};
		for (const r of await scoring.score(
			model,
			Array.from({ length: N }, (_, i) => ({
				contactId: id(i),
				event:
					i % 4 === 0 ? { name: 'visit', id: `v${i}`, time: clock.ms - (i % 8 === 0 ? 2 : 9) * 86_400_000 } : undefined,
			})),
		)) {
			if (!r.ok) throw r.error;
		}
	});

	const all = async (condition: SegmentCondition, pageSize = 7) => {
		const seen: string[] = [];
		let pages = 0;
		let plan = '';
		for await (const page of segments.pages(condition, { pageSize })) {
			pages++;
			plan = page.plan;
			expect(page.contacts.length).toBeLessThanOrEqual(pageSize);
			seen.push(...page.contacts.map((c) => c.contactId));
		}
		return { ids: seen, pages, plan };
	};
	const expected = (pred: (i: number) => boolean) =>
		Array.from({ length: N }, (_, i) => i)
			.filter(pred)
			.map(id)
			.sort();

	it.each<[string, SegmentCondition, (i: number) => boolean, RegExp]>([
		[
			'a tag index',
			{ type: 'tags', operator: 'hasAll', tags: ['even', 'five'] },
			(i) => i % 10 === 0,
			/index: tag five/,
		],
		[
			'a union of tags without duplicates',
			{ type: 'tags', operator: 'hasAny', tags: ['five', 'even'] },
			(i) => i % 2 === 0 || i % 5 === 0,
			/index: tags five, even/,
		],
		[
			'the stage index with a re-checked field',
			{
				combinator: 'and',
				conditions: [
					{ type: 'lifecycleStage', operator: 'is', value: 'customer' },
					{ type: 'field', field: 'n', operator: 'lt', value: 100 },
				],
			},
			(i) => i % 3 === 0 && i < 100,
			/lifecycleStage customer/,
		],
		[
			'the score index, re-checked for decay',
			{ type: 'score', operator: 'gte', value: 10 },
			(i) => i % 4 === 0 && i % 8 === 0,
			/score ceiling/,
		],
		[
			'the score floor index',
			{ type: 'score', operator: 'lt', value: 5 },
			(i) => !(i % 8 === 0) && i < 200,
			/score floor/,
		],
		[
			'the activity index',
			{ type: 'field', field: 'lastActivityAt', operator: 'withinLastDays', days: 4 },
			(i) => i % 8 === 0,
			/ix:act/,
		],
		['the grade index', { type: 'grade', operator: 'in', value: 'cold, warm' }, () => true, /index: grade cold, warm/],
		[
			'the createdAt range',
			{ type: 'field', field: 'createdAt', operator: 'withinLastDays', days: 5 },
			() => true,
			/ix:all range/,
		],
		[
			'the smallest of several indexes',
			{
				combinator: 'and',
				conditions: [
					{ type: 'grade', operator: 'is', value: 'cold' },
					{ type: 'tags', operator: 'hasAny', tags: 'five' },
				],
			},
			(i) => i % 5 === 0,
			/index: tags five/,
		],
		[
			'a scan when nothing is indexed',
			{ type: 'event', operator: 'didAtLeast', event: 'visit', days: 30 },
			(i) => i % 4 === 0,
			/scan/,
		],
		[
			'a scan for an OR that is not all sets',
			{
				combinator: 'or',
				conditions: [
					{ type: 'tags', operator: 'hasAny', tags: 'five' },
					{ type: 'field', field: 'n', operator: 'gte', value: 230 },
				],
			},
			(i) => i % 5 === 0 || i >= 230,
			/scan/,
		],
		[
			'a union for an OR of set conditions',
			{
				combinator: 'or',
				conditions: [
					{ type: 'tags', operator: 'hasAny', tags: 'five' },
					{ type: 'lifecycleStage', operator: 'is', value: 'customer' },
				],
			},
			(i) => i % 5 === 0 || i % 3 === 0,
			/or/,
		],
	])('emits every contact exactly once through %s', async (_label, condition, pred, plan) => {
		// 1.5 days on, the 9-day-old visits have expired (10-day expiry) while the index still
		// holds their points: the index is a candidate filter and each contact is re-checked.
		const t0 = clock.ms;
		clock.ms = t0 + 1.5 * 86_400_000;
		const result = await all(condition).finally(() => (clock.ms = t0));
		expect(result.ids.slice().sort()).toEqual(expected(pred));
		expect(result.plan).toMatch(plan);
	});

	it('keeps pages to the page size for zset sources and returns a usable cursor', async () => {
		const first = await segments.page({ type: 'field', field: 'n', operator: 'exists' }, { pageSize: 50 });
		expect(first.contacts).toHaveLength(50);
		expect(first.cursor).toEqual(expect.any(String));
		const second = await segments.page(
			{ type: 'field', field: 'n', operator: 'exists' },
			{ pageSize: 50, cursor: first.cursor },
		);
		expect(second.contacts).toHaveLength(50);
		expect(new Set([...first.contacts, ...second.contacts].map((c) => c.contactId)).size).toBe(100);
		expect(first.contacts[0]).toEqual(
			expect.objectContaining({ contactId: expect.any(String), lifecycleStage: expect.any(String) }),
		);
	});

	it('rejects a foreign or damaged cursor naming the field', async () => {
		const first = await segments.page({ type: 'field', field: 'n', operator: 'exists' }, { pageSize: 5 });
		await expect(
			segments.page({ type: 'field', field: 'n', operator: 'gt', value: 3 }, { cursor: first.cursor }),
		).rejects.toMatchObject({ field: 'cursor' });
		await expect(
			segments.page({ type: 'field', field: 'n', operator: 'exists' }, { cursor: 'garbage!' }),
		).rejects.toMatchObject({ field: 'cursor' });
		await expect(
			segments.page({ type: 'field', field: 'n', operator: 'exists' }, { pageSize: 0 }),
		).rejects.toMatchObject({ field: 'pageSize' });
	});
});
