import { closeAllStores } from '../../lib/redis/pool';
import { NotFoundError, ValidationError } from '../../lib/errors';
import { LIMITS } from '../../lib/values';
import { shardOf } from '../../lib/keys';
import { openStore, scriptCalls, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const DAY = 86_400_000;

describe.each(topologies)('events on %s Redis', (topology) => {
	const ctx = openStore(topology, { limits: { perNameMax: 50, logMax: 10 } });
	const { store, clock } = ctx;

	const one = async (input: Parameters<typeof store.events.record>[0][number]) => {
		const [result] = await store.events.record([input]);
		if (!result.ok) throw result.error;
		return result.value;
	};
	const logEntries = async (contactId: string) => {
		const entries = await store.redis.xrange(store.keys.log(store.keys.shardOfContact(contactId)), '-', '+');
		return entries
			.map(([id, flat]) => {
				const fields: Record<string, string> = {};
				for (let i = 0; i < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
				return { id, ...fields };
			})
			.filter((e) => (e as { c?: string }).c === contactId) as Array<Record<string, string>>;
	};

	it('records an event: counters, time index, history, activity and a log entry', async () => {
		const at = clock.ms;
		const recorded = await one({
			contactId: 'ev-1',
			name: 'purchase',
			properties: { total: 42.5, items: ['a'] },
			source: 'shop',
			chain: [{ workflowId: 'wf-1', executionId: '9' }],
		});
		expect(recorded).toMatchObject({ contactId: 'ev-1', duplicate: false, contactCreated: true });
		const contact = await store.contacts.getOne('ev-1');
		expect(contact?.events.purchase).toEqual({
			count: 1,
			first: new Date(at).toISOString(),
			last: new Date(at).toISOString(),
		});
		expect(contact?.events.$contact_created.count).toBe(1);
		expect(contact?.lastActivityAt).toBe(new Date(at).toISOString());
		expect(await store.events.countSince('ev-1', 'purchase', at - 1)).toBe(1);
		const [latest] = await store.events.history('ev-1', 1);
		expect(latest).toMatchObject({
			id: recorded.eventId,
			name: 'purchase',
			source: 'shop',
			properties: { total: 42.5, items: ['a'] },
		});
		const log = await logEntries('ev-1');
		expect(log.map((e) => e.n)).toEqual(['$contact_created', 'purchase']);
		expect(log[1]).toMatchObject({
			id: recorded.eventId,
			t: String(at),
			s: 'shop',
			p: JSON.stringify({ total: 42.5, items: ['a'] }),
			ch: JSON.stringify([{ workflowId: 'wf-1', executionId: '9' }]),
		});
		expect(await store.redis.zscore(store.keys.index(store.keys.shardOfContact('ev-1'), 'act'), 'ev-1')).toBe(
			String(at),
		);
	});

	it('changes nothing for a retried delivery with the same idempotency key', async () => {
		const first = await one({ contactId: 'idem', name: 'signup', idempotencyKey: 'delivery-1' });
		const before = {
			contact: await store.contacts.getOne('idem'),
			history: await store.events.history('idem'),
			log: await logEntries('idem'),
		};
		clock.advance(60_000);
		const again = await one({
			contactId: 'idem',
			name: 'signup',
			idempotencyKey: 'delivery-1',
			properties: { different: true },
		});
		expect(again).toEqual({ contactId: 'idem', duplicate: true, eventId: undefined, contactCreated: false });
		expect(first.duplicate).toBe(false);
		expect(await store.contacts.getOne('idem')).toEqual(before.contact);
		expect(await store.events.history('idem')).toEqual(before.history);
		expect(await logEntries('idem')).toEqual(before.log);
	});

	it('dedupes concurrent duplicates inside one batch, and per contact only', async () => {
		const results = await store.events.record([
			{ contactId: 'idem-b', name: 'paid', idempotencyKey: 'inv-7' },
			{ contactId: 'idem-b', name: 'paid', idempotencyKey: 'inv-7' },
			{ contactId: 'idem-c', name: 'paid', idempotencyKey: 'inv-7' },
		]);
		expect(results.map((r) => r.ok && r.value.duplicate)).toEqual([false, true, false]);
		expect((await store.contacts.getOne('idem-b'))?.events.paid.count).toBe(1);
		expect((await store.contacts.getOne('idem-c'))?.events.paid.count).toBe(1);
	});

	it('keeps an idempotency key of more than 10 bytes as 11 characters, and honours the keys format 2 kept whole', async () => {
		const idem = store.keys.contactKey('idem-short', 'idempotency');
		const long = `webhook-delivery-${'x'.repeat(180)}`;
		expect((await one({ contactId: 'idem-short', name: 'paid', idempotencyKey: long })).duplicate).toBe(false);
		expect((await one({ contactId: 'idem-short', name: 'paid', idempotencyKey: 'order-7' })).duplicate).toBe(false);
		const members = await store.call((r) => r.zrange(idem, 0, -1));
		expect(members.sort()).toEqual(['order-7', expect.stringMatching(/^#[A-Za-z0-9+/]{10}$/)].sort());
		// A retry with either key changes nothing; a key that differs in its last byte is another key.
		expect((await one({ contactId: 'idem-short', name: 'paid', idempotencyKey: long })).duplicate).toBe(true);
		expect((await one({ contactId: 'idem-short', name: 'paid', idempotencyKey: 'order-7' })).duplicate).toBe(true);
		expect((await one({ contactId: 'idem-short', name: 'paid', idempotencyKey: `${long}y` })).duplicate).toBe(false);
		// Written whole by format 2: still a duplicate.
		await store.call((r) => r.zadd(idem, clock.ms, 'order-2024-000123'));
		expect((await one({ contactId: 'idem-short', name: 'paid', idempotencyKey: 'order-2024-000123' })).duplicate).toBe(
			true,
		);
		expect((await store.contacts.getOne('idem-short'))?.events.paid.count).toBe(3);
	});

	it('forgets an idempotency key after the idempotency window', async () => {
		await one({ contactId: 'idem-old', name: 'ping', idempotencyKey: 'k' });
		clock.advance(store.limits.idempotencyMs + 1000);
		expect((await one({ contactId: 'idem-old', name: 'ping', idempotencyKey: 'k' })).duplicate).toBe(false);
		expect((await store.contacts.getOne('idem-old'))?.events.ping.count).toBe(2);
	});

	it('counts "did X at least K times in the last N days" by event time, within retention', async () => {
		const now = clock.ms;
		const times = [now - 40 * DAY, now - 20 * DAY, now - 5 * DAY, now - 1 * DAY, now];
		await store.events.record(times.map((time) => ({ contactId: 'win', name: 'visit', time })));
		expect(await store.events.countSince('win', 'visit', now - 7 * DAY)).toBe(3);
		expect(await store.events.countSince('win', 'visit', now - 30 * DAY)).toBe(4);
		expect(await store.events.countSince('win', 'visit', 0)).toBe(5);
		expect(await store.events.countSince('win', 'other', 0)).toBe(0);
		// Older than the retention: dropped from the time index on the next record, counters stay.
		clock.advance(store.limits.retentionMs - 10 * DAY);
		await one({ contactId: 'win', name: 'visit' });
		// The cut-off is now 10 days after the first "now": the events of -40 and -20 days are gone.
		expect(await store.events.countSince('win', 'visit', 0)).toBe(4);
		expect((await store.contacts.getOne('win'))?.events.visit.count).toBe(6);
	});

	it('keeps first and last by event time, whatever the arrival order', async () => {
		const now = clock.ms;
		await one({ contactId: 'order', name: 'login', time: now - DAY });
		await one({ contactId: 'order', name: 'login', time: now - 3 * DAY });
		await one({ contactId: 'order', name: 'login', time: now - 2 * DAY });
		const counter = (await store.contacts.getOne('order'))?.events.login;
		expect(counter).toEqual({
			count: 3,
			first: new Date(now - 3 * DAY).toISOString(),
			last: new Date(now - DAY).toISOString(),
		});
		expect((await store.contacts.getOne('order'))?.lastActivityAt).toBe(new Date(now - DAY).toISOString());
	});

	it('bounds the events kept per name, and the log', async () => {
		await store.events.record(
			Array.from({ length: 120 }, (_, n) => ({
				contactId: 'bulk',
				name: 'tick',
				properties: { n },
				time: clock.ms + n,
			})),
		);
		const history = await store.events.history('bulk', 1000);
		expect(history).toHaveLength(51);
		expect(history[0].properties).toEqual({ n: 119 });
		expect(await store.events.countSince('bulk', 'tick', 0)).toBe(50);
		expect((await store.contacts.getOne('bulk'))?.events.tick.count).toBe(120);
		// MAXLEN ~ trims whole stream nodes (100 entries each), so the length stays near the limit.
		const length = await store.redis.xlen(store.keys.log(store.keys.shardOfContact('bulk')));
		expect(length).toBeLessThan(250);
	});

	const indexMembers = (contactId: string) =>
		store.call((r) => r.zrange(store.keys.contactKey(contactId, 'events'), 0, -1));

	it("names an event's log entry in its index member relative to the event time, whole when logged before it", async () => {
		// The log id is the server's clock: an event dated a minute ago is logged after its time.
		const saved = clock.ms;
		clock.ms = Date.now() - 60_000;
		try {
			const logged = await one({ contactId: 'lean', name: 'viewed', properties: { path: '/a' } });
			const [member] = await indexMembers('lean');
			const [, , written] = member.split('\0');
			expect(written).toMatch(/^\+\d+(-\d+)?$/);
			const [ms, seq] = logged.eventId!.split('-');
			expect(written).toBe(`+${Number(ms) - clock.ms}${seq === '0' ? '' : `-${seq}`}`);
			expect(member.length).toBeLessThan(64);

			// An event dated after the moment it is logged keeps its whole log id.
			clock.ms = Date.now() + 3_600_000;
			const ahead = await one({ contactId: 'lean', name: 'viewed', time: clock.ms + 60_000 });
			expect((await indexMembers('lean')).map((m) => m.split('\0')[2])).toContain(ahead.eventId);
			const history = await store.events.history('lean');
			expect(history.map((e) => e.id)).toEqual([ahead.eventId, logged.eventId, expect.any(String)]);
			expect(history[1].properties).toEqual({ path: '/a' });
		} finally {
			clock.ms = saved;
		}
	});

	it('reads the members format 2 wrote (whole log ids) as its own: history, counts, export, pruning and erase', async () => {
		const at = clock.ms;
		const ids: string[] = [];
		for (let k = 0; k < 3; k++)
			ids.push((await one({ contactId: 'f2', name: 'seen', properties: { k }, time: at + k })).eventId!);
		// Rewritten as format 2 wrote them.
		const key = store.keys.contactKey('f2', 'events');
		const members = await indexMembers('f2');
		const whole = members.map((m, k) => {
			const parts = m.split('\0');
			parts[2] = ids[k];
			return parts.join('\0');
		});
		await store.call((r) => r.zrem(key, ...members));
		await store.call((r) => r.zadd(key, ...whole.flatMap((m) => [0, m])));
		expect((await indexMembers('f2')).map((m) => m.split('\0')[2])).toEqual(ids);

		const history = await store.events.history('f2');
		expect(history.slice(0, 3).map((e) => [e.id, e.properties])).toEqual([
			[ids[2], { k: 2 }],
			[ids[1], { k: 1 }],
			[ids[0], { k: 0 }],
		]);
		expect(await store.events.countSince('f2', 'seen', at + 1)).toBe(2);
		const [exported] = await store.contacts.export(['f2']);
		if (!exported.ok) throw exported.error;
		const exportedIds = (exported.value?.eventHistory as Array<{ id: string }>).map((e) => e.id);
		expect(exportedIds.slice(0, 3)).toEqual([ids[2], ids[1], ids[0]]);

		// The per-name cap drops the oldest by its whole id: its properties and log entry go with it.
		const capped = await store.events.record(
			Array.from({ length: 48 }, (_, k) => ({ contactId: 'f2', name: 'seen', time: at + 10 + k })),
		);
		expect(capped.every((r) => r.ok)).toBe(true);
		expect((await indexMembers('f2')).map((m) => m.split('\0')[2])).not.toContain(ids[0]);
		expect(await store.call((r) => r.hexists(store.keys.contactKey('f2', 'eventProperties'), ids[0]))).toBe(0);
		expect((await logEntries('f2')).map((e) => e.id)).not.toContain(ids[0]);

		const [erased] = await store.contacts.erase(['f2']);
		expect(erased.ok).toBe(true);
		expect((await logEntries('f2')).map((e) => e.id)).toEqual([]);
	});

	it('moves last activity for user events, opens, clicks and replies, not for sends', async () => {
		await store.contacts.upsert([{ id: 'act' }]);
		const created = (await store.contacts.getOne('act'))?.lastActivityAt;
		clock.advance(1000);
		await store.events.recordSystem([{ contactId: 'act', name: '$email_sent' }]);
		expect((await store.contacts.getOne('act'))?.lastActivityAt).toBe(created);
		clock.advance(1000);
		await store.events.recordSystem([{ contactId: 'act', name: '$email_opened' }]);
		expect((await store.contacts.getOne('act'))?.lastActivityAt).toBe(new Date(clock.ms).toISOString());
		clock.advance(1000);
		await one({ contactId: 'act', name: 'visit', activity: false });
		expect((await store.contacts.getOne('act'))?.lastActivityAt).toBe(new Date(clock.ms - 1000).toISOString());
	});

	it('does not create a contact when told not to', async () => {
		const [r] = await store.events.record([{ contactId: 'nobody', name: 'x', createContact: false }]);
		expect(!r.ok && r.error).toBeInstanceOf(NotFoundError);
		expect(await store.contacts.getOne('nobody')).toBeNull();
		expect(await logEntries('nobody')).toEqual([]);
	});

	it('stores properties just under the limit intact', async () => {
		const text = 'é'.repeat(Math.floor((LIMITS.propertiesBytes - 100) / 2));
		await one({ contactId: 'big-ok', name: 'note', properties: { text } });
		const [entry] = await store.events.history('big-ok', 1);
		expect((entry.properties as { text: string }).text).toBe(text);
	});

	it.each([
		['1 MB of properties', { properties: { blob: 'x'.repeat(1024 * 1024) } }, 'properties'],
		['properties just over 64 KB', { properties: { blob: 'x'.repeat(LIMITS.propertiesBytes) } }, 'properties'],
		['properties that are an array', { properties: [1, 2] }, 'properties'],
		['properties that are a number', { properties: 7 }, 'properties'],
		['properties that are not JSON', { properties: '{oops' }, 'properties'],
		['a 1 MB event name', { name: 'n'.repeat(1024 * 1024) }, 'name'],
		['an empty event name', { name: '  ' }, 'name'],
		['a reserved $ name', { name: '$email_sent' }, 'name'],
		['a malformed time', { time: '2024-02-30T25:00' }, 'time'],
		['a time that is an object', { time: { when: 'now' } }, 'time'],
		['a 1 MB idempotency key', { idempotencyKey: 'k'.repeat(1024 * 1024) }, 'idempotencyKey'],
		['an empty contact id', { contactId: '' }, 'contactId'],
		['a 1 MB contact id', { contactId: 'c'.repeat(1024 * 1024) }, 'contactId'],
		['a contact id with a NUL byte', { contactId: 'a\u0000b' }, 'contactId'],
	])('rejects %s, naming the field, and stores nothing', async (_label, override, field) => {
		const input = { contactId: 'bad-ev', name: 'ok', ...override } as never;
		const [r] = await store.events.record([input]);
		if (r.ok) throw new Error('expected a validation error');
		expect(r.error).toBeInstanceOf(ValidationError);
		expect((r.error as ValidationError).field).toBe(field);
		expect(await store.contacts.getOne('bad-ev')).toBeNull();
	});

	it('records a batch with one script call per shard it touches, all sent before the first answer', async () => {
		const contactOf = (tag: string, k: number) => `rt-${tag}-${k % 50}`;
		const calls = (n: number, tag: string) =>
			scriptCalls(async () => {
				const results = await store.events.record(
					Array.from({ length: n }, (_, k) => ({
						contactId: contactOf(tag, k),
						name: 'rt',
						idempotencyKey: `${tag}-${k}`,
					})),
				);
				expect(results.every((r) => r.ok)).toBe(true);
			});
		const shards = (n: number, tag: string) =>
			new Set(Array.from({ length: n }, (_, k) => shardOf(contactOf(tag, k)))).size;
		const small = await calls(5, 'a');
		// 10 events of each of 50 contacts: under 200 (a call's chunk) in every shard.
		const large = await calls(500, 'b');
		expect(small).toHaveLength(shards(5, 'a'));
		expect(large).toHaveLength(shards(500, 'b'));
		// One round trip: no call waited for another's answer.
		expect([...small, ...large].every((answeredBefore) => answeredBefore === 0)).toBe(true);
	});

	it('keeps the good items of a batch with bad ones', async () => {
		const results = await store.events.record([
			{ contactId: 'mix-1', name: 'ok' },
			{ contactId: 'mix-2', name: 'ok', properties: 'nope' },
			{ contactId: 'mix-3', name: 'ok' },
		]);
		expect(results.map((r) => r.ok)).toEqual([true, false, true]);
		expect(await store.contacts.getOne('mix-2')).toBeNull();
		expect((await store.contacts.getOne('mix-3'))?.events.ok.count).toBe(1);
	});
});
