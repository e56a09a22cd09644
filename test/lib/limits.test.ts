/**
 * Every limit of lib/limits.ts refused with an error naming field and limit, before anything is
 * written: through the library, and at the Marketing Webhook Trigger's handler (4xx), on standalone
 * Redis and on the cluster. "Nothing written" is counted: the keys of the workspace before and after.
 */
import type { Cluster, Redis } from 'ioredis';
import { closeAllStores } from '../../lib/redis/pool';
import { LIMITS } from '../../lib/limits';
import { SHARD_KEY_PARTS } from '../../lib/keys';
import { ValidationError, type Result } from '../../lib';
import { WebhookHandler } from '../../lib/tracking';
import { openStore, topologies } from '../harness/store';

const DAY = 86_400_000;

afterAll(() => closeAllStores());

/**
 * The workspace's keys, leaving out the calls' replay guards (lib/redis/lua/replay_guard.lua): a
 * refused change keeps its answer for a resend, and writes nothing else.
 */
async function keyCount(redis: Redis | Cluster, prefix: string): Promise<number> {
	const nodes = (redis as Cluster).isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
	let count = 0;
	for (const node of nodes) {
		let cursor = '0';
		do {
			const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
			cursor = next;
			count += keys.filter((key) => !isReplayGuard(key)).length;
		} while (cursor !== '0');
	}
	return count;
}

const isReplayGuard = (key: string) =>
	key.includes(`}:${SHARD_KEY_PARTS.replayGuards}:`) || key.endsWith(`}:${SHARD_KEY_PARTS.replayGuardList}`);

function refusal<T>(result: Result<T>): ValidationError {
	if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.value)}`);
	expect(result.error).toBeInstanceOf(ValidationError);
	return result.error as ValidationError;
}

const nested = (depth: number): Record<string, unknown> => {
	let value: Record<string, unknown> = { leaf: true };
	for (let i = 1; i < depth; i++) value = { next: value };
	return value;
};

const tags = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `tag-${from + i}`);
const fields = (n: number, from = 0) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${from + i}`, 'v']));

describe.each(topologies)('input limits on %s Redis', (topology) => {
	const { store, clock, config } = openStore(topology);
	const prefix = config.keyPrefix as string;
	const keys = () => keyCount(store.redis, prefix);
	const handler = new WebhookHandler(store, {
		signingSecret: 'limits-signing-secret-0123456789',
		secrets: { sharedSecret: 's3cret' },
	});
	const post = (body: string | Buffer) =>
		handler.handle('events', { method: 'POST', headers: { 'x-webhook-secret': 's3cret' }, rawBody: body, params: {} });

	it('refuses too many tags or fields in one change, and too long a field value, writing nothing', async () => {
		const before = await keys();
		const cases: Array<[Parameters<typeof store.contacts.upsert>[0][number], string, RegExp]> = [
			[
				{ id: 'one-change', addTags: tags(LIMITS.tagsPerChange + 1) },
				'addTags',
				/101 tags in one change; the limit is 100/,
			],
			[
				{ id: 'one-change', fields: fields(LIMITS.fieldsPerChange + 1) },
				'fields',
				/101 fields in one change; the limit is 100/,
			],
			[
				{ id: 'one-change', fields: { bio: 'x'.repeat(LIMITS.fieldValueBytes + 1) } },
				'bio',
				/8193 bytes; the limit is 8192/,
			],
		];
		for (const [input, field, message] of cases) {
			const error = refusal((await store.contacts.upsert([input]))[0]);
			expect(error.field).toBe(field);
			expect(error.message).toMatch(message);
		}
		expect(await keys()).toBe(before);
	});

	it('keeps a contact within its tags and fields, counting what a change adds and removes', async () => {
		for (let i = 0; i < LIMITS.tagsPerContact; i += 100) {
			expect((await store.contacts.upsert([{ id: 'full', addTags: tags(100, i), fields: fields(100, i) }]))[0].ok).toBe(
				true,
			);
		}
		const before = await keys();
		const tagError = refusal((await store.contacts.upsert([{ id: 'full', addTags: ['one-more'] }]))[0]);
		expect(tagError).toMatchObject({
			field: 'addTags',
			message: 'The contact would hold 501 tags; the limit is 500 per contact',
		});
		const fieldError = refusal((await store.contacts.upsert([{ id: 'full', fields: { oneMore: 1 } }]))[0]);
		expect(fieldError).toMatchObject({
			field: 'fields',
			message: 'The contact would hold 501 fields; the limit is 500 per contact',
		});
		// A refused change writes nothing at all, not even the part within limits.
		expect(
			refusal((await store.contacts.upsert([{ id: 'full', fields: { f0: 'changed' }, addTags: ['one-more'] }]))[0])
				.field,
		).toBe('addTags');
		expect(await keys()).toBe(before);
		const contact = await store.contacts.getOne('full');
		expect([contact?.tags.length, Object.keys(contact?.fields ?? {}).length, contact?.fields.f0]).toEqual([
			500,
			500,
			'v',
		]);
		// Existing tags and fields, and swaps that keep the count, are fine.
		const swap = await store.contacts.upsert([
			{
				id: 'full',
				addTags: ['tag-0', 'new-tag'],
				removeTags: ['tag-1'],
				fields: { f0: 'again', f1: null, fresh: 'x' },
			},
		]);
		expect(swap[0].ok).toBe(true);
		expect((await store.contacts.getOne('full'))?.tags.length).toBe(500);
	});

	it('refuses properties nested deeper than the limit with a clear error, not a stack overflow', async () => {
		const deep = refusal(
			(await store.events.record([{ contactId: 'deep', name: 'x', properties: nested(10_000) }]))[0],
		);
		expect(deep).toMatchObject({
			field: 'properties',
			message: `Event properties nest more than ${LIMITS.propertiesDepth} levels deep; the limit is ${LIMITS.propertiesDepth}`,
		});
		expect(
			(await store.events.record([{ contactId: 'deep', name: 'x', properties: nested(LIMITS.propertiesDepth) }]))[0].ok,
		).toBe(true);
		expect(
			refusal(
				(
					await store.events.record([{ contactId: 'deep', name: 'x', properties: nested(LIMITS.propertiesDepth + 1) }])
				)[0],
			).field,
		).toBe('properties');
	});

	it('refuses dates far from now, and events dated ahead of now, leaving last activity alone', async () => {
		await store.events.record([{ contactId: 'timely', name: 'login' }]);
		const activity = (await store.contacts.getOne('timely'))?.lastActivityAt;
		expect(activity).toBe(new Date(clock.ms).toISOString());
		const endOfTime = refusal(
			(await store.events.record([{ contactId: 'timely', name: 'login', time: '+275760-09-13T00:00:00.000Z' }]))[0],
		);
		expect(endOfTime).toMatchObject({ field: 'time' });
		expect(endOfTime.message).toMatch(/more than 200 years from now/);
		expect(
			refusal((await store.events.record([{ contactId: 'timely', name: 'login', time: clock.ms + 2 * DAY }]))[0])
				.message,
		).toMatch(/in the future; an event may be dated at most 24 hours ahead/);
		expect(
			refusal(
				(
					await store.contacts.upsert([{ id: 'timely', fields: { birthday: { value: '0001-01-01', type: 'date' } } }])
				)[0],
			).field,
		).toBe('birthday');
		expect((await store.contacts.getOne('timely'))?.lastActivityAt).toBe(activity);
		// Within the window: a few hours of clock difference, an old birthday.
		expect(
			(await store.events.record([{ contactId: 'timely', name: 'login', time: clock.ms + 3_600_000 }]))[0].ok,
		).toBe(true);
		expect(
			(await store.contacts.upsert([{ id: 'timely', fields: { birthday: { value: '1921-02-03', type: 'date' } } }]))[0]
				.ok,
		).toBe(true);
	});

	describe('at the Marketing Webhook Trigger', () => {
		it('answers 413 to a body over the limit (1,000 fields of 10 KB: 10 MB), before reading it', async () => {
			const before = await keys();
			const big = JSON.stringify({
				email: 'big@example.com',
				event: 'x',
				fields: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`f${i}`, 'x'.repeat(10_000)])),
			});
			const r = await post(big);
			expect(r.status).toBe(413);
			expect(JSON.parse(String(r.body)).error).toMatch(/the limit is 1048576 bytes/);
			expect(await keys()).toBe(before);
		});

		it.each([
			['2,000 tags', { tags: tags(2000) }, /2000 tags in one change; the limit is 100/],
			['101 tags', { tags: tags(101) }, /101 tags in one change; the limit is 100/],
			['101 fields', { fields: fields(101) }, /101 fields in one change; the limit is 100/],
			['a 10 KB field', { fields: { notes: 'x'.repeat(10_000) } }, /10000 bytes; the limit is 8192/],
			// As text: JSON.stringify itself overflows the stack at this depth.
			[
				'properties 10,000 levels deep',
				{ properties: `${'{"next":'.repeat(9_999)}{"leaf":true}${'}'.repeat(9_999)}` },
				/nest more than 32 levels deep/,
			],
			['a time at the end of time', { time: '+275760-09-13T00:00:00.000Z' }, /more than 200 years from now/],
			['a time two days ahead', { time: Date.UTC(2026, 0, 17, 12) }, /in the future/],
		])('refuses an event with %s (400, naming event and limit) and writes nothing', async (_label, extra, message) => {
			const before = await keys();
			const { properties, ...rest } = extra as { properties?: string };
			const body = JSON.stringify({ email: 'limit@example.com', event: 'form_submitted', ...rest }).replace(
				/}$/,
				properties ? `,"properties":${properties}}` : '}',
			);
			const r = await post(body);
			expect(r.status).toBe(400);
			const answer = JSON.parse(String(r.body));
			expect(answer.errors).toEqual([{ index: 0, field: expect.any(String), error: expect.stringMatching(message) }]);
			expect(await keys()).toBe(before);
			expect(await store.contacts.getOne('limit@example.com')).toBeNull();
		});
	});
});
