import fc from 'fast-check';
import { closeAllStores } from '../../lib/redis/pool';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors';
import { LIMITS } from '../../lib/limits';
import { hashOf, shardOf } from '../../lib/keys';
import { scripts } from '../../lib/redis/scripts';
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

	it('adds and removes tags and fields in one change', async () => {
		await store.contacts.upsert([{ id: 'mixed', fields: { a: 1, b: 2 }, addTags: ['x', 'y'] }]);
		const [result] = await store.contacts.upsert([
			{ id: 'mixed', fields: { a: null, c: 3 }, addTags: ['z'], removeTags: ['x', 'never'] },
		]);
		expect(result.ok && result.value.events.map((e) => [e.name, e.props])).toEqual([
			['$field_changed', { field: 'a', from: 1, to: null }],
			['$field_changed', { field: 'c', from: null, to: 3 }],
			['$tag_added', { tag: 'z' }],
			['$tag_removed', { tag: 'x' }],
		]);
		expect(await store.contacts.getOne('mixed')).toMatchObject({ fields: { b: 2, c: 3 }, tags: ['y', 'z'] });
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

	it('answers each item of a batch alone: creates, updates, a limit, e-mail conflicts and bad input', async () => {
		await store.contacts.upsert([
			{ id: 'bx-old', email: 'bx-old@example.com', fields: { plan: 'free' } },
			{ id: 'bx-owner', email: 'bx-taken@example.com' },
		]);
		const full = Array.from({ length: LIMITS.tagsPerContact }, (_, n) => `t${n}`);
		for (let n = 0; n < full.length; n += LIMITS.tagsPerChange)
			await store.contacts.upsert([{ id: 'bx-full', addTags: full.slice(n, n + LIMITS.tagsPerChange) }]);

		const results = await store.contacts.upsert([
			{ id: 'bx-new', email: 'bx-new@example.com', addTags: ['vip'] },
			{ id: 'bx-old', fields: { plan: 'pro' } },
			{ id: 'bx-full', addTags: ['one-more'], fields: { x: 1 } },
			{ id: 'bx-thief', email: 'bx-taken@example.com' },
			{ id: 'bx-twin-1', email: 'bx-twin@example.com' },
			{ id: 'bx-twin-2', email: 'bx-twin@example.com' },
			{ id: 'bx-bad', timezone: 'Mars/Olympus' },
		]);
		const [created, updated, overLimit, thief, twin1, twin2, bad] = results;
		expect(created.ok && created.value).toMatchObject({ contactId: 'bx-new', created: true });
		expect(created.ok && created.value.events.map((e) => [e.name, e.props])).toEqual([
			['$contact_created', { email: 'bx-new@example.com', tags: ['vip'] }],
		]);
		expect(updated.ok && updated.value.events.map((e) => [e.name, e.props])).toEqual([
			['$field_changed', { field: 'plan', from: 'free', to: 'pro' }],
		]);
		expect(!overLimit.ok && overLimit.error).toBeInstanceOf(ValidationError);
		expect(!overLimit.ok && overLimit.error.message).toMatch(/would hold 501 tags; the limit is 500/);
		expect(!thief.ok && thief.error).toBeInstanceOf(ConflictError);
		// Two new contacts claiming one address in the same batch: the first has it.
		expect(twin1.ok && twin1.value.created).toBe(true);
		expect(!twin2.ok && twin2.error).toBeInstanceOf(ConflictError);
		expect(!bad.ok && bad.error).toBeInstanceOf(ValidationError);

		const full2 = await store.contacts.getOne('bx-full');
		expect(full2?.tags).toHaveLength(LIMITS.tagsPerContact);
		expect(full2?.fields).toEqual({});
		for (const id of ['bx-thief', 'bx-twin-2', 'bx-bad']) expect(await store.contacts.getOne(id)).toBeNull();
		expect(await store.contacts.idForEmail('bx-taken@example.com')).toBe('bx-owner');
		expect(await store.contacts.idForEmail('bx-twin@example.com')).toBe('bx-twin-1');
		expect(await store.contacts.idForEmail('bx-new@example.com')).toBe('bx-new');
		// A written contact's claim time is gone (it only guards claims of contacts not yet written).
		const claimTimes = `${store.keys.emailIndex('bx-new@example.com')}:at`;
		expect(await store.redis.hexists(claimTimes, 'bx-new@example.com')).toBe(0);
	});

	it('gives an address to the first item claiming it in a batch of many items', async () => {
		const fillers = Array.from({ length: 448 }, (_, k) => ({ id: `sl-${k}`, email: `sl-${k}@example.com` }));
		const results = await store.contacts.upsert([
			{ id: 'sl-first', email: 'sl-shared@example.com' },
			...fillers,
			{ id: 'sl-last', email: 'sl-shared@example.com' },
		]);
		expect(results.filter((r) => r.ok)).toHaveLength(449);
		const last = results[449];
		expect(!last.ok && last.error).toBeInstanceOf(ConflictError);
		expect(await store.contacts.idForEmail('sl-shared@example.com')).toBe('sl-first');
		expect(await store.contacts.getOne('sl-last')).toBeNull();
		expect(await store.contacts.idForEmail('sl-447@example.com')).toBe('sl-447');
	});

	it("a new contact's $contact_created names what it was created with, in its result and in the log", async () => {
		const results = await store.contacts.upsert([
			{
				id: 'cc-1',
				email: 'cc-1@example.com',
				timezone: null,
				lifecycleStage: 'lead',
				fields: { plan: 'pro', seats: 2.5, trial: false, renews: { value: '2030-01-31', type: 'date' }, gone: null },
				addTags: ['b', 'a', 'dropped'],
				removeTags: ['dropped', 'never-had'],
				subscription: { status: 'subscribed', source: 'form' },
			},
			// A subscription that may change only from another status does not apply to a new contact.
			{ id: 'cc-2', subscription: { status: 'subscribed', source: 'link', from: 'pending' } },
		]);
		const expected = [
			{
				email: 'cc-1@example.com',
				lifecycleStage: 'lead',
				fields: { plan: 'pro', seats: 2.5, trial: false, renews: '2030-01-31T00:00:00.000Z' },
				tags: ['b', 'a'],
				subscription: { status: 'subscribed', source: 'form' },
			},
			{},
		];
		expect(results.map((r) => r.ok && r.value.events.map((e) => [e.name, e.props]))).toEqual(
			expected.map((props) => [['$contact_created', props]]),
		);
		for (const [k, id] of ['cc-1', 'cc-2'].entries()) {
			const entries = await store.redis.xrange(store.keys.log(store.keys.shardOfContact(id)), '-', '+');
			const logged = entries.filter(([, flat]) => flat[1] === id);
			expect(logged.map(([eid, flat]) => [eid, flat[3], JSON.parse(flat[7])])).toEqual([
				[
					(results[k] as { value: { events: Array<{ id: string }> } }).value.events[0].id,
					'$contact_created',
					expected[k],
				],
			]);
		}
		expect(await store.contacts.getOne('cc-1')).toMatchObject({
			tags: ['a', 'b'],
			subscription: { status: 'subscribed' },
		});
		expect((await store.contacts.getOne('cc-2'))?.subscription).toBeUndefined();
	});

	it("logs a new contact's $contact_created as its result's JSON text, whatever its texts (property-based)", async () => {
		// The properties go apart from the packed arguments (runBatch lastApart): what JSON escapes, and
		// lone surrogates, reach the log as JSON.stringify wrote them.
		const name = fc
			.string({ minLength: 1, maxLength: 12, unit: 'grapheme' })
			// eslint-disable-next-line no-control-regex
			.filter((text) => text.trim() !== '' && !/[\u0000-\u001f\u007f]/.test(text));
		const plainName = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);
		const fieldValue = fc.oneof(
			fc.string({ maxLength: 20, unit: 'grapheme' }),
			fc.string({ maxLength: 20, unit: 'binary' }),
			plainName,
			fc.double({ noNaN: true, noDefaultInfinity: true }),
			fc.integer(),
			fc.boolean(),
			fc.constant(null),
			fc.constantFrom('lone \ud800 "q" \\ \u0001', '\udc00'),
			fc.date({ min: new Date('2000-01-01'), max: new Date('2040-01-01'), noInvalidDate: true }).map((value) => ({
				value: value.toISOString(),
				type: 'date' as const,
			})),
		);
		const tag = fc.oneof(plainName, name);
		let n = 0;
		await fc.assert(
			fc.asyncProperty(
				fc.record(
					{
						email: fc.oneof(
							fc.constant(null),
							fc.constant('p\u00e9@example.com'),
							fc.constant('p\u{1f600}@example.com'),
						),
						timezone: fc.constantFrom('Europe/Berlin', null),
						lifecycleStage: fc.oneof(plainName, name),
						fields: fc.dictionary(fc.oneof(plainName, name), fieldValue, { maxKeys: 5 }),
						addTags: fc.uniqueArray(tag, { maxLength: 4 }),
						removeTags: fc.uniqueArray(tag, { maxLength: 2 }),
						subscription: fc.option(
							fc.record({
								status: fc.constantFrom('subscribed' as const, 'pending' as const),
								source: fc.oneof(plainName, name),
								from: fc.option(fc.constant('pending' as const), { nil: undefined }),
							}),
							{ nil: undefined },
						),
					},
					{ requiredKeys: [] },
				),
				async (change) => {
					const id = `cj-${n++}`;
					const { email, ...rest } = change;
					const [result] = await store.contacts.upsert([{ id, ...rest, ...(email ? { email: `${n}.${email}` } : {}) }]);
					if (!result.ok) throw result.error;
					const [created] = result.value.events;
					const entries = await store.redis.xrange(
						store.keys.log(store.keys.shardOfContact(id)),
						created.id,
						created.id,
					);
					expect(entries[0][1][7]).toBe(JSON.stringify(created.props));
				},
			),
			{ numRuns: 200 },
		);
	});

	it("applies a contact's items of one batch in their order", async () => {
		const results = await store.contacts.upsert([
			{ id: 'ord', fields: { step: 1 }, addTags: ['a'] },
			{ id: 'ord', fields: { step: 2 }, removeTags: ['a'] },
			{ id: 'ord', email: 'ord-1@example.com' },
			{ id: 'ord', email: 'ord-2@example.com', fields: { step: null } },
		]);
		expect(results.map((r) => r.ok && r.value.events.map((e) => [e.name, e.props]))).toEqual([
			[['$contact_created', { fields: { step: 1 }, tags: ['a'] }]],
			[
				['$field_changed', { field: 'step', from: 1, to: 2 }],
				['$tag_removed', { tag: 'a' }],
			],
			[['$field_changed', { field: 'email', from: null, to: 'ord-1@example.com' }]],
			[
				['$field_changed', { field: 'email', from: 'ord-1@example.com', to: 'ord-2@example.com' }],
				['$field_changed', { field: 'step', from: 2, to: null }],
			],
		]);
		expect(await store.contacts.getOne('ord')).toMatchObject({ email: 'ord-2@example.com', fields: {}, tags: [] });
		// The tag index follows the contact's last change too.
		const tagIndex = store.keys.index(store.keys.shardOfContact('ord'), 'tag:a');
		expect(await store.redis.sismember(tagIndex, 'ord')).toBe(0);
		expect(await store.contacts.idForEmail('ord-1@example.com')).toBeNull();
		expect(await store.contacts.idForEmail('ord-2@example.com')).toBe('ord');
	});

	it('reads each item of a batch call on its own: a tag removed by one item is added again by the next', async () => {
		const results = await store.contacts.upsert([
			{ id: 'again', addTags: ['vip', 'keep'] },
			{ id: 'again', removeTags: ['vip'] },
			{ id: 'again', addTags: ['vip'] },
		]);
		expect(results.map((r) => r.ok && r.value.events.map((e) => e.name))).toEqual([
			['$contact_created'],
			['$tag_removed'],
			['$tag_added'],
		]);
		expect(await store.contacts.getOne('again')).toMatchObject({ tags: ['keep', 'vip'] });
		const tagIndex = store.keys.index(store.keys.shardOfContact('again'), 'tag:vip');
		expect(await store.redis.sismember(tagIndex, 'again')).toBe(1);
	});

	it("keeps apart the contacts of a batch that share a slot of the batch's table, each one's items in order", async () => {
		// Ids whose hashes end in the same 10 bits: one slot of runBatch's table for any batch up to 512 items.
		const ids: string[] = [];
		for (let n = 0; ids.length < 4; n++)
			if ((hashOf(`slot-${n}`) & 1023) === (hashOf('slot-0') & 1023)) ids.push(`slot-${n}`);
		const steps = [1, 2, 3];
		const results = await store.contacts.upsert(
			steps.flatMap((step) => ids.map((id) => ({ id, fields: { step, owner: id } }))),
		);
		expect(results.map((r) => r.ok && r.value.created)).toEqual(steps.flatMap((step) => ids.map(() => step === 1)));
		for (const id of ids) expect((await store.contacts.getOne(id))?.fields).toEqual({ step: 3, owner: id });
	});

	it('clears the e-mail, time zone and lifecycle stage given as null, and logs each change', async () => {
		await store.contacts.upsert([
			{ id: 'clear-1', email: 'clear-1@example.com', timezone: 'Europe/Paris', lifecycleStage: 'lead' },
		]);
		const [result] = await store.contacts.upsert([
			{ id: 'clear-1', email: null, timezone: null, lifecycleStage: null },
		]);
		expect(result.ok && result.value.events.map((e) => e.props)).toEqual([
			{ field: 'email', from: 'clear-1@example.com', to: null },
			{ field: 'timezone', from: 'Europe/Paris', to: null },
			{ field: 'lifecycleStage', from: 'lead', to: null },
		]);
		const contact = await store.contacts.getOne('clear-1');
		expect([contact?.email, contact?.timezone, contact?.lifecycleStage]).toEqual([undefined, undefined, undefined]);
		expect(await store.contacts.idForEmail('clear-1@example.com')).toBeNull();
	});

	it("gives the contacts of one script call only their own values, none of the items' before them", async () => {
		// Contacts of one shard: their items go in one call of the apply script, one after another.
		const ids = ['own-0'];
		for (let n = 1; ids.length < 4; n++) if (shardOf(`own-${n}`) === shardOf('own-0')) ids.push(`own-${n}`);
		const [first, ...others] = ids;
		await store.contacts.upsert([{ id: first, fields: { gone: 'soon' } }]);
		const results = await store.contacts.upsert([
			{
				id: first,
				email: 'own-0@example.com',
				timezone: 'Europe/Berlin',
				lifecycleStage: 'lead',
				subscription: { status: 'subscribed', source: 'form' },
				fields: { kept: 1, gone: null },
				addTags: ['first-only'],
			},
			...others.map((id) => ({ id, fields: { own: id } })),
		]);
		expect(results.every((r) => r.ok)).toBe(true);
		for (const id of others) {
			const contact = await store.contacts.getOne(id);
			expect(contact).toMatchObject({ fields: { own: id }, tags: [] });
			expect([contact?.email, contact?.timezone, contact?.lifecycleStage, contact?.subscription]).toEqual([
				undefined,
				undefined,
				undefined,
				undefined,
			]);
		}
		expect(await store.contacts.getOne(first)).toMatchObject({ lifecycleStage: 'lead', fields: { kept: 1 } });
	});

	it('takes over a stale claim of a contact that was never written, never a fresh or confirmed one', async () => {
		const claim = async (email: string, ageMs: number) => {
			const index = store.keys.emailIndex(email);
			const [seconds] = await store.redis.time();
			await store.redis.hset(index, email, 'never-written');
			await store.redis.hset(`${index}:at`, email, Number(seconds) * 1000 - ageMs);
		};
		await claim('left-behind@example.com', 120_000);
		await claim('in-flight@example.com', 1_000);
		// Without a claim time, a claim was confirmed by its contact.
		await store.redis.hset(store.keys.emailIndex('confirmed@example.com'), 'confirmed@example.com', 'never-written');
		const [stale, fresh, confirmed] = await store.contacts.upsert([
			{ id: 'heir', email: 'left-behind@example.com' },
			{ id: 'too-early', email: 'in-flight@example.com' },
			{ id: 'latecomer', email: 'confirmed@example.com' },
		]);
		expect(!confirmed.ok && confirmed.error).toBeInstanceOf(ConflictError);
		expect(stale.ok && stale.value.created).toBe(true);
		expect(await store.contacts.idForEmail('left-behind@example.com')).toBe('heir');
		expect(!fresh.ok && fresh.error).toBeInstanceOf(ConflictError);
		expect(await store.contacts.idForEmail('in-flight@example.com')).toBe('never-written');
	});

	it('moves the e-mail index when the address changes', async () => {
		await store.contacts.upsert([{ id: 'mover', email: 'old@example.com' }]);
		await store.contacts.upsert([{ id: 'mover', email: 'new-addr@example.com' }]);
		expect(await store.contacts.idForEmail('old@example.com')).toBeNull();
		expect(await store.contacts.idForEmail('new-addr@example.com')).toBe('mover');
	});

	/**
	 * Each address's owner in the e-mail index and whether a claim time is left for it: a batch's
	 * claims are confirmed or released before it answers, so no address may keep one.
	 */
	const emailIndex = (emails: string[]) =>
		Promise.all(
			emails.map(async (email) => {
				const index = store.keys.emailIndex(email);
				const claimed = await store.redis.hexists(`${index}:at`, email);
				return { email, owner: await store.redis.hget(index, email), claimed: claimed === 1 };
			}),
		);
	/** What emailIndex must answer when `owned` maps the addresses that have an owner to it. */
	const owning = (emails: string[], owned: Record<string, string>) =>
		emails.map((email) => ({ email, owner: owned[email] ?? null, claimed: false }));

	// One contact's addresses across the items of one batch: the contact ends with its last item's.
	it.each([
		['e -> f -> e', [], ['e', 'f', 'e'], 'e'],
		['e (held) -> f -> e', ['e'], ['f', 'e'], 'e'],
		['e -> f', [], ['e', 'f'], 'f'],
		['e (held) -> f', ['e'], ['f'], 'f'],
		['e -> f -> g', [], ['e', 'f', 'g'], 'g'],
		['e -> f -> e -> f', [], ['e', 'f', 'e', 'f'], 'f'],
		['e -> f -> cleared', [], ['e', 'f', null], null],
	] as Array<[string, Array<string | null>, Array<string | null>, string | null]>)(
		"indexes a contact's last address of a batch and nothing else: %s",
		async (name, before, steps, last) => {
			const id = `flip ${name}`;
			const address = (step: string | null) =>
				step === null ? null : `${step}.${name.replace(/[^a-z]+/g, '-')}@flip.example.com`;
			for (const step of before) await store.contacts.upsert([{ id, email: address(step) }]);
			const emails = [...new Set([...before, ...steps].flatMap((step) => address(step) ?? []))];
			const batch = steps.map((step) => ({ id, email: address(step) }));
			// Run twice: the same batch again ends in the same state.
			for (let run = 0; run < 2; run++) {
				const results = await store.contacts.upsert(batch);
				expect(results.every((r) => r.ok)).toBe(true);
				expect((await store.contacts.getOne(id))?.email).toBe(address(last) ?? undefined);
				expect(await emailIndex(emails)).toEqual(
					owning(emails, last === null ? {} : { [address(last) as string]: id }),
				);
			}
			// Erase leaves no key or value naming any of its addresses.
			await store.contacts.erase([id]);
			for (const email of emails) expect(await scanAll(ctx.config.keyPrefix, email)).toEqual([]);
		},
	);

	it("refuses to swap two contacts' addresses in one batch: each address still has its owner when claimed", async () => {
		await store.contacts.upsert([
			{ id: 'swap-a', email: 'swap-e@example.com' },
			{ id: 'swap-b', email: 'swap-f@example.com' },
		]);
		const emails = ['swap-e@example.com', 'swap-f@example.com'];
		const [a, b] = await store.contacts.upsert([
			{ id: 'swap-a', email: 'swap-f@example.com' },
			{ id: 'swap-b', email: 'swap-e@example.com' },
		]);
		expect(!a.ok && a.error.message).toBe('The e-mail swap-f@example.com already belongs to contact "swap-b"');
		expect(!b.ok && b.error.message).toBe('The e-mail swap-e@example.com already belongs to contact "swap-a"');
		expect(!a.ok && a.error).toBeInstanceOf(ConflictError);
		expect((await store.contacts.getOne('swap-a'))?.email).toBe('swap-e@example.com');
		expect((await store.contacts.getOne('swap-b'))?.email).toBe('swap-f@example.com');
		expect(await emailIndex(emails)).toEqual(
			owning(emails, { 'swap-e@example.com': 'swap-a', 'swap-f@example.com': 'swap-b' }),
		);
		// The way to swap: free one address, then move each in a later batch than the one freeing it.
		await store.contacts.upsert([{ id: 'swap-a', email: null }]);
		await store.contacts.upsert([{ id: 'swap-b', email: 'swap-e@example.com' }]);
		await store.contacts.upsert([{ id: 'swap-a', email: 'swap-f@example.com' }]);
		expect(await emailIndex(emails)).toEqual(
			owning(emails, { 'swap-e@example.com': 'swap-b', 'swap-f@example.com': 'swap-a' }),
		);
	});

	it("releases the address an item claimed when its change fails between the contact's other items", async () => {
		// A contact at its tag limit: an item adding a tag fails in Redis, after its address was claimed.
		const full = Array.from({ length: LIMITS.tagsPerContact }, (_, n) => `t${n}`);
		for (let n = 0; n < full.length; n += LIMITS.tagsPerChange)
			await store.contacts.upsert([{ id: 'mid-fail', addTags: full.slice(n, n + LIMITS.tagsPerChange) }]);
		const emails = ['mid-e@example.com', 'mid-f@example.com', 'mid-g@example.com'];
		const results = await store.contacts.upsert([
			{ id: 'mid-fail', email: 'mid-e@example.com' },
			{ id: 'mid-fail', email: 'mid-f@example.com', addTags: ['one-more'] },
			// Fails before anything is claimed.
			{ id: 'mid-fail', email: 'mid-g@example.com', timezone: 'Mars/Olympus' },
			{ id: 'mid-fail', email: 'mid-e@example.com' },
			// The first item claiming an address in a batch has it, even when its change then fails.
			{ id: 'mid-other', email: 'mid-f@example.com' },
		]);
		expect(results.map((r) => (r.ok ? 'ok' : r.error.constructor.name))).toEqual([
			'ok',
			'ValidationError',
			'ValidationError',
			'ok',
			'ConflictError',
		]);
		expect((await store.contacts.getOne('mid-fail'))?.email).toBe('mid-e@example.com');
		expect(await emailIndex(emails)).toEqual(owning(emails, { 'mid-e@example.com': 'mid-fail' }));
		// Released: a later batch may give it to another contact.
		const [later] = await store.contacts.upsert([{ id: 'mid-other', email: 'mid-f@example.com' }]);
		expect(later.ok).toBe(true);
		expect(await emailIndex(emails)).toEqual(
			owning(emails, { 'mid-e@example.com': 'mid-fail', 'mid-f@example.com': 'mid-other' }),
		);
		await store.contacts.erase(['mid-fail', 'mid-other']);
		for (const email of emails) expect(await scanAll(ctx.config.keyPrefix, email)).toEqual([]);
	});

	it.each([
		['create mode, the contact exists', 'create', 'exists'],
		['over the tag limit', 'upsert', 'tags'],
	] as const)('releases the address a failed change of an existing contact claimed: %s', async (_name, mode, cause) => {
		const id = `held-${cause}`;
		const [kept, claimed] = [`${id}-e@example.com`, `${id}-f@example.com`];
		await store.contacts.upsert([{ id, email: kept }]);
		if (cause === 'tags') {
			const full = Array.from({ length: LIMITS.tagsPerContact }, (_, n) => `t${n}`);
			for (let n = 0; n < full.length; n += LIMITS.tagsPerChange)
				await store.contacts.upsert([{ id, addTags: full.slice(n, n + LIMITS.tagsPerChange) }]);
		}
		const [failed] = await store.contacts.change(
			[{ id, email: claimed, ...(cause === 'tags' ? { addTags: ['one-more'] } : {}) }],
			mode,
		);
		expect(failed.ok).toBe(false);
		expect((await store.contacts.getOne(id))?.email).toBe(kept);
		expect(await emailIndex([kept, claimed])).toEqual(owning([kept, claimed], { [kept]: id }));
		// Free at once for another contact; and erase leaves nothing naming either address.
		const [other] = await store.contacts.upsert([{ id: `${id}-other`, email: claimed }]);
		expect(other.ok).toBe(true);
		await store.contacts.erase([id, `${id}-other`]);
		for (const email of [kept, claimed]) expect(await scanAll(ctx.config.keyPrefix, email)).toEqual([]);
	});

	it('takes over a stale claim its contact does not hold; a batch claiming it again for that contact keeps it', async () => {
		// A claim left by a change whose contact's e-mail could not be read afterwards: claimed by the
		// contact, with a claim time, while the contact has another address.
		const abandon = async (id: string, email: string, ageMs: number) => {
			await store.contacts.upsert([{ id, email: `${id}-own@example.com` }]);
			const index = store.keys.emailIndex(email);
			const [seconds] = await store.call((r) => r.time());
			await store.call((r) => r.hset(index, email, id));
			await store.call((r) => r.hset(`${index}:at`, email, Number(seconds) * 1000 - ageMs));
		};
		await abandon('left-a', 'left-a@example.com', 120_000);
		const [taken] = await store.contacts.upsert([{ id: 'taker-a', email: 'left-a@example.com' }]);
		expect(taken.ok).toBe(true);
		expect(await emailIndex(['left-a@example.com'])).toEqual(
			owning(['left-a@example.com'], { 'left-a@example.com': 'taker-a' }),
		);
		// A fresh claim is not taken over: its contact may be being written by another batch.
		await abandon('left-b', 'left-b@example.com', 1_000);
		const [refused] = await store.contacts.upsert([{ id: 'taker-b', email: 'left-b@example.com' }]);
		expect(!refused.ok && refused.error).toBeInstanceOf(ConflictError);
		// A stale claim its contact claims again (a batch writing it now) is fresh again for others.
		await abandon('left-c', 'left-c@example.com', 120_000);
		const claimAgain = (id: string, stale: string) =>
			store.runBatch<{ email: string; id: string }, string>({
				script: scripts.claimEmails,
				items: [{ email: 'left-c@example.com', id }],
				shared: stale,
				contactOf: (c) => c.email,
				argsOf: (c) => [c.email, c.id],
				upgraded: true,
				packed: true,
				width: 2,
			});
		expect(await claimAgain('left-c', '')).toEqual([{ ok: true, value: 'left-c' }]);
		expect(await claimAgain('taker-c', '60000')).toEqual([{ ok: true, value: 'left-c' }]);
		await store.contacts.erase(['left-a', 'left-b', 'left-c', 'taker-a']);
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

	it('sends values JSON would escape as they are, and a lone surrogate as U+FFFD as a plain argument would', async () => {
		const texts = [
			'a"b\\c',
			'the text \\ud800 \\\\ud800',
			'nul\u0000tab\tnl\n',
			'emoji 😀 Zoë',
			'lone \ud800 and \udfff',
		];
		const [result] = await store.contacts.upsert([
			{
				id: 'escapes',
				fields: Object.fromEntries(texts.map((text, k) => [`f${k}`, text])),
				context: { source: texts[0] },
			},
		]);
		if (!result.ok) throw result.error;
		const contact = await store.contacts.getOne('escapes');
		expect(Object.values(contact?.fields ?? {})).toEqual([...texts.slice(0, 4), 'lone \ufffd and \ufffd']);
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
