import fc from 'fast-check';
import { closeAllStores } from '../../lib/redis/pool';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors';
import { openStore, topologies } from '../harness/store';

afterAll(() => closeAllStores());

describe.each(topologies)('contacts on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store } = ctx;

	it('upserts, reads back typed fields, tags, subscription, time zone and stage', async () => {
		const [result] = await store.contacts.upsert([
			{
				id: 'crm-1',
				email: '  Ada@Example.COM ',
				timezone: 'Europe/Berlin',
				lifecycleStage: 'lead',
				fields: { firstName: 'Ada', orders: 3, vip: true, birthday: { value: '1990-02-28', type: 'date' } },
				addTags: ['newsletter', 'vip'],
				subscription: { status: 'subscribed', source: 'signup form' },
			},
		]);
		expect(result.ok).toBe(true);
		const contact = await store.contacts.getOne('crm-1');
		expect(contact).toMatchObject({
			id: 'crm-1',
			email: 'ada@example.com',
			timezone: 'Europe/Berlin',
			lifecycleStage: 'lead',
			fields: { firstName: 'Ada', orders: 3, vip: true, birthday: '1990-02-28T00:00:00.000Z' },
			fieldTypes: { firstName: 'string', orders: 'number', vip: 'boolean', birthday: 'date' },
			tags: ['newsletter', 'vip'],
			subscription: { status: 'subscribed', source: 'signup form' },
		});
		expect(await store.contacts.idForEmail('ADA@example.com')).toBe('crm-1');
	});

	it('logs one event per effective change and nothing for a no-op', async () => {
		await store.contacts.upsert([{ id: 'chg', fields: { plan: 'free' }, addTags: ['a'] }]);
		const [second] = await store.contacts.upsert([
			{ id: 'chg', fields: { plan: 'pro' }, addTags: ['a'], removeTags: ['b'] },
		]);
		expect(second.ok && second.value.events.map((e) => [e.name, e.props])).toEqual([
			['$field_changed', { field: 'plan', from: 'free', to: 'pro' }],
		]);
		const [third] = await store.contacts.upsert([{ id: 'chg', fields: { plan: 'pro' } }]);
		expect(third.ok && third.value.events).toEqual([]);
	});

	it('finds a contact by e-mail alone and uses the e-mail as id for new ones', async () => {
		await store.contacts.upsert([{ id: 'crm-7', email: 'bo@example.com' }]);
		const [byEmail] = await store.contacts.upsert([{ email: 'BO@example.com', fields: { city: 'Oslo' } }]);
		expect(byEmail.ok && byEmail.value.contactId).toBe('crm-7');
		const [fresh] = await store.contacts.upsert([{ email: 'new@example.com' }]);
		expect(fresh.ok && fresh.value).toMatchObject({ contactId: 'new@example.com', created: true });
	});

	it('refuses an e-mail that belongs to another contact and keeps both intact', async () => {
		await store.contacts.upsert([{ id: 'owner', email: 'taken@example.com' }]);
		const [clash] = await store.contacts.upsert([{ id: 'other', email: 'taken@example.com', fields: { x: 1 } }]);
		expect(clash.ok).toBe(false);
		expect(!clash.ok && clash.error).toBeInstanceOf(ConflictError);
		expect(await store.contacts.getOne('other')).toBeNull();
		expect(await store.contacts.idForEmail('taken@example.com')).toBe('owner');
	});

	it('moves the e-mail index when the address changes', async () => {
		await store.contacts.upsert([{ id: 'mover', email: 'old@example.com' }]);
		await store.contacts.upsert([{ id: 'mover', email: 'new-addr@example.com' }]);
		expect(await store.contacts.idForEmail('old@example.com')).toBeNull();
		expect(await store.contacts.idForEmail('new-addr@example.com')).toBe('mover');
	});

	it('update mode fails with NotFoundError for a missing contact', async () => {
		const [r] = await store.contacts.change([{ id: 'ghost', addTags: ['x'] }], 'update');
		expect(!r.ok && r.error).toBeInstanceOf(NotFoundError);
		expect(await store.contacts.getOne('ghost')).toBeNull();
	});

	it.each([
		['empty id', { id: '' }, 'id'],
		['257-character id', { id: 'x'.repeat(257) }, 'id'],
		['id with a line break', { id: 'a\nb' }, 'id'],
		['invalid e-mail', { id: 'ok', email: 'not-an-email' }, 'email'],
		['unknown time zone', { id: 'ok', timezone: 'Mars/Olympus' }, 'timezone'],
		['malformed date', { id: 'ok', fields: { d: { value: '2024-13-45', type: 'date' } } }, 'd'],
		['object field value', { id: 'ok', fields: { obj: { nested: true } } }, 'obj'],
		['1 MB field value', { id: 'ok', fields: { big: 'x'.repeat(1024 * 1024) } }, 'big'],
		[
			'unknown subscription status',
			{ id: 'ok', subscription: { status: 'maybe', source: 'x' } },
			'subscription.status',
		],
	])('rejects %s naming the field', async (_label, input, field) => {
		const [r] = await store.contacts.upsert([input as never]);
		if (r.ok) throw new Error('the upsert did not fail');
		const error = r.error as ValidationError;
		expect(error).toBeInstanceOf(ValidationError);
		expect(error.field).toBe(field);
		expect(await store.contacts.getOne('ok')).toBeNull();
	});

	it('stores ids with key syntax, spaces and non-ASCII safely and apart', async () => {
		const ids = ['a:b', '{tag}', 'x*', 'with space', 'Zoë 東京', 'a%3Ab', '}{'];
		const results = await store.contacts.upsert(ids.map((id, n) => ({ id, fields: { n } })));
		expect(results.every((r) => r.ok)).toBe(true);
		const read = await store.contacts.get(ids);
		expect(read.map((r) => r.ok && r.value?.fields.n)).toEqual(ids.map((_, n) => n));
	});

	it('round-trips any id and typed field value (property-based)', async () => {
		await fc.assert(
			fc.asyncProperty(
				fc
					.string({ minLength: 1, maxLength: 256, unit: 'grapheme' })
					// eslint-disable-next-line no-control-regex
					.filter((s) => s.trim() !== '' && !/[\u0000-\u001f\u007f]/.test(s) && s.length <= 256),
				fc.oneof(fc.string({ maxLength: 200 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean()),
				async (id, value) => {
					const [w] = await store.contacts.upsert([{ id, fields: { v: value } }]);
					if (!w.ok) throw w.error;
					const contact = await store.contacts.getOne(id);
					expect(contact?.id).toBe(id.normalize('NFC'));
					expect(contact?.fields.v).toStrictEqual(Object.is(value, -0) ? 0 : value);
				},
			),
			{ numRuns: 150 },
		);
	});

	it('erases every key, index entry and log entry of a contact', async () => {
		await store.contacts.upsert([
			{
				id: 'gdpr',
				email: 'gdpr@example.com',
				lifecycleStage: 'customer',
				addTags: ['t1'],
				subscription: { status: 'subscribed', source: 'form' },
			},
		]);
		await store.events.record([
			{ contactId: 'gdpr', name: 'purchase', properties: { total: 10 }, idempotencyKey: 'o-1' },
		]);
		const exported = await store.contacts.export(['gdpr']);
		expect(exported[0].ok && exported[0].value).toMatchObject({
			contact: { id: 'gdpr' },
			eventHistory: expect.arrayContaining([expect.objectContaining({ name: 'purchase' })]),
		});

		const [erased] = await store.contacts.erase(['gdpr']);
		expect(erased.ok && erased.value.erased).toBe(true);
		const leftovers = await scanAll(ctx.config.keyPrefix, 'gdpr');
		expect(leftovers).toEqual([]);
		expect(await store.contacts.idForEmail('gdpr@example.com')).toBeNull();
		expect(await store.contacts.getOne('gdpr')).toBeNull();
	});

	/** Test-only full scan: every key of the workspace whose name or content mentions the needle. */
	async function scanAll(prefix: string, needle: string): Promise<string[]> {
		const found: string[] = [];
		const redis = store.redis;
		const masters = 'nodes' in redis ? redis.nodes('master') : [redis];
		for (const node of masters) {
			let cursor = '0';
			do {
				const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
				cursor = next;
				for (const key of keys) {
					if (key.includes(needle)) found.push(key);
					const type = await node.type(key);
					const dump =
						type === 'hash'
							? JSON.stringify(await node.hgetall(key))
							: type === 'set'
								? JSON.stringify(await node.smembers(key))
								: type === 'zset'
									? JSON.stringify(await node.zrange(key, 0, -1))
									: type === 'stream'
										? JSON.stringify(await node.xrange(key, '-', '+'))
										: '';
					if (dump.includes(needle)) found.push(`${key} (content)`);
				}
			} while (cursor !== '0');
		}
		return found;
	}
});
