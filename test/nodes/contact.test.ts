import { readFileSync } from 'fs';
import { join } from 'path';
import { simpleParser } from 'mailparser';
import type { IBinaryKeyData, IDataObject, INodeExecutionData } from 'n8n-workflow';
import { Contact } from '../../nodes/Contact/Contact.node';
import { UPSERT_BATCH } from '../../nodes/Contact/actions/contact/upsert.operation';
import { Campaigns } from '../../lib/campaigns';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { storeConfig, topologies } from '../harness/store';
import { contactStoreCredentials, runNode, runWorkflow, type InputItem } from '../harness/n8n';

afterAll(() => closeAllStores());

const eml = (name: string) => readFileSync(join(__dirname, '..', 'fixtures', 'inbound', name));
const json = (items: INodeExecutionData[]) => items.map((item) => item.json);

describe.each(topologies)('Contact node on %s Redis', (topology) => {
	const credentials = contactStoreCredentials(topology);
	const prefix = credentials.contactStoreApi.keyPrefix as string;
	const { store } = acquireStore(storeConfig(topology, prefix));
	const run = async (
		parameters: IDataObject,
		items: InputItem[] = [{}],
		extra: { continueOnFail?: boolean; workflowId?: string } = {},
	) => {
		const [out] = await runNode({
			nodeType: new Contact(),
			parameters: parameters as never,
			items,
			credentials,
			...extra,
		});
		return out;
	};

	it('upserts a batch with fields from the UI and from expressions, pairing every item', async () => {
		const out = await run(
			{
				resource: 'contact',
				operation: 'upsert',
				contactId: '={{ $json.crmId }}',
				email: '={{ $json.mail }}',
				fieldsUi: {
					field: [
						{ name: 'firstName', type: 'auto', value: '={{ $json.first }}' },
						{ name: 'orders', type: 'number', value: '={{ $json.orders }}' },
						{ name: 'vip', type: 'boolean', value: 'true' },
						{ name: 'birthday', type: 'date', value: '1990-02-28' },
					],
				},
				additionalFields: {
					addTags: 'newsletter, vip',
					timezone: 'Europe/Berlin',
					lifecycleStage: 'lead',
					subscriptionStatus: 'subscribed',
					consentSource: 'signup form',
				},
			},
			[
				{ crmId: 'n-1', mail: 'Ada@Example.com', first: 'Ada', orders: '3' },
				{ crmId: 'n-2', mail: 'bo@example.com', first: 'Bo', orders: 7 },
			],
		);
		expect(out.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
		expect(out[0].json).toMatchObject({
			id: 'n-1',
			email: 'ada@example.com',
			created: true,
			fields: { firstName: 'Ada', orders: 3, vip: true, birthday: '1990-02-28T00:00:00.000Z' },
			tags: ['newsletter', 'vip'],
			timezone: 'Europe/Berlin',
			lifecycleStage: 'lead',
			subscription: { status: 'subscribed', source: 'signup form' },
		});
		// A new contact logs one $contact_created naming what it was created with.
		expect((out[0].json.changes as IDataObject[]).map((c) => c.event)).toEqual(['$contact_created']);
		expect(out[1].json).toMatchObject({ id: 'n-2', fields: { orders: 7 } });
		expect((await store.contacts.getOne('n-2'))?.fields.firstName).toBe('Bo');
	});

	it('upserts fields given as JSON and removes a field with null', async () => {
		await run({
			resource: 'contact',
			operation: 'upsert',
			contactId: 'j-1',
			fieldsInput: 'json',
			fieldsJson: '{"plan":"pro","score":{"value":"12","type":"number"}}',
		});
		const [out] = await run(
			{
				resource: 'contact',
				operation: 'upsert',
				contactId: 'j-1',
				fieldsInput: 'json',
				fieldsJson: '={{ { plan: null, seats: $json.seats } }}',
			},
			[{ seats: 4 }],
		);
		expect(out.json).toMatchObject({ created: false, fields: { score: 12, seats: 4 } });
		expect((out.json.fields as IDataObject).plan).toBeUndefined();
	});

	it('gets by id and by e-mail, with recent events, and reports a missing contact', async () => {
		await store.contacts.upsert([{ id: 'g-1', email: 'g1@example.com' }]);
		await store.events.record([{ contactId: 'g-1', name: 'visited', properties: { page: '/pricing' } }]);
		const out = await run(
			{
				resource: 'contact',
				operation: 'get',
				identifyBy: '={{ $json.by }}',
				contactId: '={{ $json.v }}',
				email: '={{ $json.v }}',
				options: { historyLimit: 5 },
			},
			[
				{ by: 'id', v: 'g-1' },
				{ by: 'email', v: 'G1@example.com' },
				{ by: 'id', v: 'nobody' },
				{ by: 'email', v: 'none@example.com' },
			],
		);
		expect(json(out)).toEqual([
			expect.objectContaining({
				found: true,
				id: 'g-1',
				recentEvents: expect.arrayContaining([
					expect.objectContaining({ name: 'visited', properties: { page: '/pricing' } }),
				]),
			}),
			expect.objectContaining({ found: true, id: 'g-1' }),
			{ found: false, id: 'nobody' },
			{ found: false, email: 'none@example.com' },
		]);
		await expect(
			run({ resource: 'contact', operation: 'get', contactId: 'nobody', options: { errorIfNotFound: true } }),
		).rejects.toThrow('No contact with ID "nobody" (item 0, field "Contact ID")');
	});

	it('records events with idempotency, creates contacts by e-mail and carries the workflow chain', async () => {
		const params = {
			resource: 'event',
			operation: 'record',
			identifyBy: 'email',
			email: '={{ $json.email }}',
			eventName: 'order_completed',
			properties: '={{ { total: $json.total } }}',
			options: { idempotencyKey: '={{ $json.orderId }}', source: 'shop' },
		};
		const items = [
			{ email: 'buyer@example.com', total: 10, orderId: 'o-1', $chain: [{ workflowId: 'wf-a', executionId: '7' }] },
			{ email: 'buyer@example.com', total: 10, orderId: 'o-1' },
			{ email: 'buyer@example.com', total: 20, orderId: 'o-2' },
		];
		const out = await run(params, items, { workflowId: 'wf-b' });
		const duplicates = out.map((i) => i.json.duplicate);
		expect(duplicates.filter(Boolean)).toHaveLength(1);
		expect(out.every((i) => i.json.contactId === 'buyer@example.com' && i.json.event === 'order_completed')).toBe(true);
		const contact = await store.contacts.getOne('buyer@example.com');
		expect(contact?.events.order_completed.count).toBe(2);
		const log = await store.redis.xrange(store.keys.log(store.keys.shardOfContact('buyer@example.com')), '-', '+');
		const chains = log
			.filter(([, f]) => f[f.indexOf('n') + 1] === 'order_completed')
			.map(([, f]) => JSON.parse(f[f.indexOf('ch') + 1]));
		expect(chains).toContainEqual([
			{ workflowId: 'wf-a', executionId: '7' },
			expect.objectContaining({ workflowId: 'wf-b' }),
		]);
		expect(chains.every((c: Array<{ workflowId: string }>) => c[c.length - 1].workflowId === 'wf-b')).toBe(true);
	});

	it('refuses to create a contact for an event when told not to', async () => {
		const out = await run(
			{
				resource: 'event',
				operation: 'record',
				identifyBy: 'id',
				contactId: 'absent',
				eventName: 'x',
				options: { createContact: false },
			},
			[{}],
			{ continueOnFail: true },
		);
		expect(out[0].json.error).toMatch(/does not exist \(item 0/);
		expect(await store.contacts.getOne('absent')).toBeNull();
	});

	it('records $goal_reached {workflow, goal} for an existing contact, once per execution, and never creates one', async () => {
		await store.contacts.upsert([{ id: 'goal-1', email: 'goal-1@example.com' }]);
		const params = { resource: 'event', operation: 'goalReached', contactId: '={{ $json.id }}', goal: 'purchased' };
		const out = await run(params, [{ id: 'goal-1' }, { id: 'goal-1' }, { id: 'goal-none' }], {
			workflowId: 'wf-goal',
			continueOnFail: true,
		});
		expect(out[0].json).toMatchObject({
			contactId: 'goal-1',
			event: '$goal_reached',
			goal: 'purchased',
			duplicate: false,
		});
		expect(out[1].json.duplicate).toBe(true);
		expect(out[2].json.error).toMatch(/does not exist \(item 2/);
		expect(await store.contacts.getOne('goal-none')).toBeNull();
		const goals = (await store.events.history('goal-1')).filter((e) => e.name === '$goal_reached');
		expect(goals).toEqual([
			expect.objectContaining({ properties: expect.objectContaining({ workflow: 'wf-goal', goal: 'purchased' }) }),
		]);
		const empty = await run({ ...params, goal: ' ' }, [{ id: 'goal-1' }], { continueOnFail: true });
		expect(empty[0].json.error).toContain('field "Goal"');
		// User events still may not take the name.
		const forged = await run(
			{ resource: 'event', operation: 'record', contactId: 'goal-1', eventName: '$goal_reached' },
			[{}],
			{
				continueOnFail: true,
			},
		);
		expect(forged[0].json.error).toMatch(/reserved/);
	});

	it('adds and removes tags', async () => {
		const added = await run({ resource: 'tag', operation: 'add', contactId: 't-1', tags: '={{ $json.tags }}' }, [
			{ tags: ['a', 'b'] },
		]);
		expect(added[0].json).toMatchObject({ id: 't-1', created: true, tags: ['a', 'b'] });
		const removed = await run({ resource: 'tag', operation: 'remove', contactId: 't-1', tags: 'a' });
		expect(removed[0].json).toMatchObject({ tags: ['b'], changes: [{ event: '$tag_removed', tag: 'a' }] });
		await expect(run({ resource: 'tag', operation: 'remove', contactId: 'no-such', tags: 'a' })).rejects.toThrow(
			/does not exist \(item 0, field "Contact ID"\)/,
		);
	});

	it('subscribes (pending), unsubscribes and reads the status with consent', async () => {
		const sub = await run({
			resource: 'subscription',
			operation: 'subscribe',
			identifyBy: 'email',
			email: 's@example.com',
			consentSource: 'landing page',
			options: { pending: true, consentAt: '2026-01-02T03:04:05Z' },
		});
		expect(sub[0].json.subscription).toEqual({
			status: 'pending',
			source: 'landing page',
			at: '2026-01-02T03:04:05.000Z',
		});
		await run({
			resource: 'subscription',
			operation: 'unsubscribe',
			identifyBy: 'email',
			email: 's@example.com',
			consentSource: 'preference center',
		});
		const [status] = await run({
			resource: 'subscription',
			operation: 'getStatus',
			identifyBy: 'email',
			email: 'S@example.com',
		});
		expect(status.json).toMatchObject({
			found: true,
			id: 's@example.com',
			status: 'unsubscribed',
			consentSource: 'preference center',
			suppressed: true,
		});
	});

	it('exports and erases a contact', async () => {
		await store.contacts.upsert([{ id: 'e-1', email: 'e1@example.com', addTags: ['x'] }]);
		const [exported] = await run({
			resource: 'contact',
			operation: 'export',
			identifyBy: 'email',
			email: 'e1@example.com',
		});
		expect(exported.json).toMatchObject({ found: true, contact: { id: 'e-1', tags: ['x'] } });
		const [erased] = await run({ resource: 'contact', operation: 'erase', contactId: 'e-1' });
		expect(erased.json).toEqual({ contactId: 'e-1', erased: true });
		expect(await store.contacts.getOne('e-1')).toBeNull();
		const [again] = await run({
			resource: 'contact',
			operation: 'erase',
			identifyBy: 'email',
			email: 'e1@example.com',
		});
		expect(again.json).toMatchObject({ erased: false });
	});

	it('maps items automatically: own keys set the contact, other keys are typed fields, empty values and $ keys skipped', async () => {
		const autoMap = {
			resource: 'contact',
			operation: 'upsert',
			mappingMode: 'autoMapInputData',
			fieldTypes: {
				field: [
					{ name: 'employees', type: 'number' },
					{ name: 'signupDate', type: 'date' },
				],
			},
			options: { source: 'csv-import' },
		};
		await store.contacts.upsert([{ id: 'am-2', fields: { city: 'Lyon', plan: 'pro' } }]);
		const out = await run(autoMap, [
			{
				id: 'am-1',
				email: 'Am1@Example.com',
				timezone: 'Europe/Berlin',
				lifecycleStage: 'lead',
				subscriptionStatus: 'subscribed',
				consentSource: 'csv import',
				tags: ['newsletter', 'trial'],
				firstName: 'Ada',
				employees: '42',
				signupDate: '2024-03-01',
				zip: '01234',
				$chain: [],
			},
			// Empty cells leave the contact as it is; tags as comma-separated text.
			{ id: 'am-2', email: '', city: '', plan: 'team', tags: 'vip, partner' },
		]);
		expect(out.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
		expect(out[0].json).toMatchObject({
			id: 'am-1',
			email: 'am1@example.com',
			timezone: 'Europe/Berlin',
			lifecycleStage: 'lead',
			subscription: { status: 'subscribed', source: 'csv import' },
			fields: { firstName: 'Ada', employees: 42, signupDate: '2024-03-01T00:00:00.000Z', zip: '01234' },
			fieldTypes: { employees: 'number', signupDate: 'date', zip: 'string' },
			created: true,
		});
		expect([...(out[0].json.tags as string[])].sort()).toEqual(['newsletter', 'trial']);
		expect(Object.keys(out[0].json.fields as IDataObject).sort()).toEqual([
			'employees',
			'firstName',
			'signupDate',
			'zip',
		]);
		expect(out[1].json).toMatchObject({ id: 'am-2', created: false, fields: { city: 'Lyon', plan: 'team' } });
		expect([...(out[1].json.tags as string[])].sort()).toEqual(['partner', 'vip']);
		// Options (no expression, read once) hold for every item: the change carries the source.
		const changed = (await store.events.history('am-2', 20)).filter((e) => e.name === '$field_changed');
		expect(changed.map((e) => e.source)).toEqual(['csv-import']);
	});

	it('maps items automatically under continueOnFail: bad rows name their item and field, good rows are stored', async () => {
		const out = await run(
			{
				resource: 'contact',
				operation: 'upsert',
				mappingMode: 'autoMapInputData',
				fieldTypes: { field: [{ name: 'signupDate', type: 'date' }] },
			},
			[
				{ id: 'amf-1', email: 'amf1@example.com' },
				{ id: 'amf-2', email: 'not-an-address' },
				{ id: 'amf-3', signupDate: '2024-13-45' },
				{ id: 'amf-4', subscriptionStatus: 'maybe' },
				{ firstName: 'Nobody' },
				{ id: 'amf-6', timezone: 'Mars/Olympus_Mons' },
			],
			{ continueOnFail: true },
		);
		expect(out.map((i) => i.pairedItem)).toEqual([0, 1, 2, 3, 4, 5].map((item) => ({ item })));
		expect(out[0].json).toMatchObject({ id: 'amf-1', created: true });
		expect(out[1].json.error).toMatch(/not a valid e-mail address \(item 1, field "Email"\)/);
		expect(out[2].json.error).toContain('(item 2, field "Fields > signupDate")');
		expect(out[3].json.error).toContain('(item 3, field "Subscription Status")');
		expect(out[4].json.error).toContain('(item 4, field "Contact ID")');
		expect(out[5].json.error).toContain('(item 5, field "Time Zone")');
		const stored = await store.contacts.get(['amf-1', 'amf-2', 'amf-3', 'amf-4', 'amf-6']);
		expect(stored.map((r) => (r.ok && r.value ? r.value.id : null))).toEqual(['amf-1', null, null, null, null]);
	});

	it('upserts more items than one round trip takes, in order, each once, the bad ones by their own index', async () => {
		const count = UPSERT_BATCH * 2 + 3;
		const bad = new Set([0, UPSERT_BATCH - 1, UPSERT_BATCH, count - 1]);
		const items = Array.from({ length: count }, (_, n) => ({
			id: `big-${n}`,
			email: bad.has(n) ? `not-an-address-${n}` : `big${n}@example.com`,
			n,
		}));
		const out = await run({ resource: 'contact', operation: 'upsert', mappingMode: 'autoMapInputData' }, items, {
			continueOnFail: true,
		});
		expect(out.map((i) => (i.pairedItem as { item: number }).item)).toEqual(items.map((_, n) => n));
		const failed = out.flatMap((i, n) => (i.json.error ? [n] : []));
		expect(failed).toEqual([...bad]);
		expect(out[UPSERT_BATCH + 1].json).toMatchObject({
			id: `big-${UPSERT_BATCH + 1}`,
			fields: { n: UPSERT_BATCH + 1 },
		});
		expect(out[UPSERT_BATCH].json.error).toContain(`(item ${UPSERT_BATCH}, field "Email")`);
		const stored = await store.contacts.get(items.map((i) => i.id));
		expect(stored.filter((r) => r.ok && r.value).length).toBe(count - bad.size);
	});

	it('keeps good items and names item and field of bad ones under continueOnFail', async () => {
		const out = await run(
			{
				resource: 'contact',
				operation: 'upsert',
				contactId: '={{ $json.id }}',
				email: '={{ $json.email }}',
				additionalFields: { timezone: '={{ $json.tz }}' },
			},
			[
				{ id: 'ok-1', email: 'ok1@example.com', tz: 'UTC' },
				{ id: 'bad-mail', email: 'not-an-email', tz: 'UTC' },
				{ id: 'bad-tz', email: 'tz@example.com', tz: 'Mars/Olympus' },
				{ id: 'x'.repeat(300), email: '', tz: 'UTC' },
			],
			{ continueOnFail: true },
		);
		expect(out.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }, { item: 3 }]);
		expect(out[0].json).toMatchObject({ id: 'ok-1', created: true });
		expect(out[1].json.error).toMatch(/not a valid e-mail address \(item 1, field "Email"\)/);
		expect(out[2].json.error).toMatch(/IANA time zone \(item 2, field "Time Zone"\)/);
		expect(out[3].json.error).toMatch(/limit is 256 \(item 3, field "Contact ID"\)/);
		expect(await store.contacts.getOne('bad-mail')).toBeNull();
	});

	it.each([
		[
			'a field value that does not fit its type',
			{ fieldsUi: { field: [{ name: 'n', type: 'number', value: 'abc' }] } },
			'Fields > n',
		],
		['a malformed date', { fieldsUi: { field: [{ name: 'd', type: 'date', value: '2024-13-45' }] } }, 'Fields > d'],
		['fields JSON that is not an object', { fieldsInput: 'json', fieldsJson: '[1,2]' }, 'Fields'],
		['fields JSON that is null', { fieldsInput: 'json', fieldsJson: 'null' }, 'Fields'],
		['fields JSON that does not parse', { fieldsInput: 'json', fieldsJson: '{nope' }, 'Fields'],
		[
			'101 fields',
			{
				fieldsInput: 'json',
				fieldsJson: JSON.stringify(Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`f${i}`, i]))),
			},
			'Fields',
		],
		['101 tags', { additionalFields: { addTags: Array.from({ length: 101 }, (_, i) => `t${i}`).join(',') } }, 'Tags'],
	])('stops on %s, naming the item and field', async (_label, extra, field) => {
		await expect(
			run({ resource: 'contact', operation: 'upsert', contactId: 'f-bad', ...extra }, [{}, {}]),
		).rejects.toThrow(`(item 0, field "${field}")`);
		expect(await store.contacts.getOne('f-bad')).toBeNull();
	});

	it.each([
		['properties that are not an object', { properties: '"text"' }, 'Properties'],
		['a reserved event name', { eventName: '$email_sent' }, 'Event Name'],
		['a malformed time', { options: { time: 'yesterday-ish' } }, 'Time'],
		['1 MB of properties', { properties: JSON.stringify({ blob: 'x'.repeat(1024 * 1024) }) }, 'Properties'],
		['properties 10,000 levels deep', { properties: `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}` }, 'Properties'],
		['a time at the end of time', { options: { time: '+275760-09-13T00:00:00.000Z' } }, 'Time'],
	])('rejects an event with %s', async (_label, extra, field) => {
		const out = await run(
			{ resource: 'event', operation: 'record', contactId: 'ev-bad', eventName: 'ok', ...extra },
			[{}],
			{ continueOnFail: true },
		);
		expect(out[0].json.error).toContain(`(item 0, field "${field}")`);
		expect(await store.contacts.getOne('ev-bad')).toBeNull();
	});

	it('parses inbound mail from binary items, records and suppresses', async () => {
		await store.contacts.upsert([
			{ id: 'in-jane', email: 'jane.doe@example.org', subscription: { status: 'subscribed', source: 'form' } },
			{ id: 'in-lisa', email: 'lisa.w@yahoo.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		const files = ['postfix-hard-bounce.eml', 'yahoo-arf-complaint.eml', 'outlook-automatic-reply.eml'];
		const items = files.map((name) => ({
			json: { name },
			binary: { data: { data: eml(name).toString('base64'), mimeType: 'message/rfc822', fileName: name } },
		}));
		const out = await run(
			{ resource: 'inboundEmail', operation: 'parse', inputSource: 'binary', binaryPropertyName: 'data' },
			items,
		);
		expect(out.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }]);
		expect(out[0].json).toMatchObject({
			kind: 'hard_bounce',
			recipient: 'jane.doe@example.org',
			status: '5.1.1',
			contactId: 'in-jane',
			event: '$email_bounced',
			suppressedAs: 'bounced',
			originalMessageId: 'camp-winter26.c-4711@shop.example',
		});
		expect(out[1].json).toMatchObject({ kind: 'complaint', contactId: 'in-lisa', suppressedAs: 'complained' });
		expect(out[2].json).toMatchObject({ kind: 'auto_reply', contactId: null, event: null });
		expect((await store.contacts.getOne('in-jane'))?.subscription?.status).toBe('bounced');
	});

	it('parses an item of the Email Trigger (IMAP) in Resolved format', async () => {
		await store.contacts.upsert([
			{ id: 'in-imap', email: 'no.such.person.4711@gmail.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		// What the trigger emits: mailparser's result with header lines, attachments as binaries.
		const parsed = await simpleParser(eml('gmail-dsn-no-such-user.eml'));
		const headers: Record<string, string> = {};
		for (const h of parsed.headerLines) headers[h.key] = h.line;
		const binary: IBinaryKeyData = {};
		parsed.attachments.forEach(
			(a, i) =>
				(binary[`attachment_${i}`] = {
					data: a.content.toString('base64'),
					mimeType: a.contentType,
					fileName: a.filename,
				}),
		);
		const json = JSON.parse(
			JSON.stringify({ ...parsed, headers, headerLines: undefined, attachments: undefined }),
		) as IDataObject;
		const [out] = await run({ resource: 'inboundEmail', operation: 'parse', inputSource: 'imapItem' }, [
			{ json, binary },
		]);
		expect(out.json).toMatchObject({
			kind: 'hard_bounce',
			status: '5.1.1',
			recipient: 'no.such.person.4711@gmail.com',
			contactId: 'in-imap',
			suppressedAs: 'bounced',
			originalMessageId: 'welcome.c-301@shop.example',
		});
	});

	it('matches a bounce to the send it answers by Message-ID, even when the address changed since', async () => {
		await store.contacts.upsert([
			{ id: 'in-moved', email: 'moved-old@example.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		const [sent] = await new Campaigns(store).send(
			{ id: 'welcome-series', fromEmail: 'news@shop.example', subject: 'Hi', html: '<p>Hi</p>', transactional: true },
			[{ contactId: 'in-moved' }],
			{ mode: 'render' },
		);
		if (!sent.ok || sent.value.status !== 'sent') throw new Error(`send failed: ${JSON.stringify(sent)}`);
		// The contact changed address; the bounce of the old one still finds it through our Message-ID.
		await store.contacts.upsert([{ id: 'in-moved', email: 'moved-new@example.com' }]);
		const bounce = eml('postfix-hard-bounce.eml')
			.toString('latin1')
			.replace(/jane\.doe@example\.org/gi, 'moved-old@example.com')
			.replace('<camp-winter26.c-4711@shop.example>', sent.value.messageId);
		const [out] = await run(
			{ resource: 'inboundEmail', operation: 'parse', inputSource: 'text', rawMessage: '={{ $json.raw }}' },
			[{ raw: bounce }],
		);
		expect(out.json).toMatchObject({
			kind: 'hard_bounce',
			contactId: 'in-moved',
			matchedBy: 'send',
			campaignId: 'welcome-series',
			suppressedAs: 'bounced',
		});
	});

	it('escalates repeated soft bounces to a suppression when asked to', async () => {
		await store.contacts.upsert([
			{ id: 'in-soft', email: 'full.box@gmail.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		const raw = eml('gmail-dsn-mailbox-full.eml').toString('latin1');
		const items = [1, 2].map((n) => ({
			raw: raw.replace('<65a2b3c4.1a2b3c4d.f00d.5678.GMR@mx.google.com>', `<soft-${n}@mx.google.com>`),
		}));
		const out = await run(
			{
				resource: 'inboundEmail',
				operation: 'parse',
				inputSource: 'text',
				rawMessage: '={{ $json.raw }}',
				options: { softBounceLimit: 2, softBounceDays: 30 },
			},
			items,
		);
		// Both items are recorded in the same batch, so both see two soft bounces.
		expect(out.map((i) => i.json.kind)).toEqual(['soft_bounce', 'soft_bounce']);
		expect(out.some((i) => i.json.suppressedAs === 'bounced')).toBe(true);
		expect((await store.contacts.getOne('in-soft'))?.subscription?.status).toBe('bounced');
	});

	it('suppresses after 3 soft bounces by default, and never when Suppress After Soft Bounces is 0', async () => {
		await store.contacts.upsert([
			{
				id: 'in-soft-default',
				email: 'default.full@gmail.com',
				subscription: { status: 'subscribed', source: 'form' },
			},
			{ id: 'in-soft-off', email: 'off.full@gmail.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		const raw = eml('gmail-dsn-mailbox-full.eml').toString('latin1');
		const items = (to: string) =>
			[1, 2, 3].map((n) => ({
				raw: raw
					.replace(/full\.box@gmail\.com/g, to)
					.replace('<65a2b3c4.1a2b3c4d.f00d.5678.GMR@mx.google.com>', `<${to}-${n}@mx.google.com>`),
			}));
		await run(
			{ resource: 'inboundEmail', operation: 'parse', inputSource: 'text', rawMessage: '={{ $json.raw }}' },
			items('default.full@gmail.com'),
		);
		expect((await store.contacts.getOne('in-soft-default'))?.subscription).toMatchObject({
			status: 'bounced',
			source: 'inbound-email:soft_bounce_limit:mailbox_full',
		});
		await run(
			{
				resource: 'inboundEmail',
				operation: 'parse',
				inputSource: 'text',
				rawMessage: '={{ $json.raw }}',
				options: { softBounceLimit: 0 },
			},
			items('off.full@gmail.com'),
		);
		expect((await store.contacts.getOne('in-soft-off'))?.subscription?.status).toBe('subscribed');
	});

	it('parses a raw message given as text through an expression, with an unsubscribe mailbox', async () => {
		await store.contacts.upsert([
			{ id: 'in-al', email: 'al@example.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		const raw =
			'From: Al <al@example.com>\r\nTo: leave@news.example\r\nSubject: bye\r\nMessage-ID: <leave-1@example.com>\r\n\r\nplease stop\r\n';
		const [out] = await run(
			{
				resource: 'inboundEmail',
				operation: 'parse',
				inputSource: 'text',
				rawMessage: '={{ $json.raw }}',
				options: { unsubscribeMailboxes: 'leave@news.example' },
			},
			[{ raw }],
		);
		expect(out.json).toMatchObject({
			kind: 'unsubscribe',
			contactId: 'in-al',
			suppressedAs: 'unsubscribed',
			event: '$email_unsubscribed',
		});
	});

	it('names the item and field of inbound input that is missing or not a message', async () => {
		const out = await run(
			{
				resource: 'inboundEmail',
				operation: 'parse',
				inputSource: '={{ $json.src }}',
				binaryPropertyName: 'data',
				rawMessage: '={{ $json.raw }}',
			},
			[{ src: 'binary' }, { src: 'text', raw: 'just words' }],
			{ continueOnFail: true },
		);
		expect(out[0].json.error).toContain('no binary property "data" (item 0, field "Input Binary Field")');
		expect(out[1].json.error).toContain('(item 1, field "Raw Message")');
	});

	it('runs as a workflow: upsert, record an event from the upserted id, get with history', async () => {
		const run = await runWorkflow({
			nodes: [
				{
					name: 'Upsert',
					nodeType: new Contact(),
					parameters: {
						resource: 'contact',
						operation: 'upsert',
						email: '={{ $json.email }}',
						fieldsUi: { field: [{ name: 'plan', type: 'string', value: '={{ $json.plan }}' }] },
					},
				},
				{
					name: 'Record',
					nodeType: new Contact(),
					parameters: {
						resource: 'event',
						operation: 'record',
						contactId: '={{ $json.id }}',
						eventName: 'trial_started',
						properties: "={{ { plan: $('Upsert').item.json.fields.plan } }}",
					},
				},
				{
					name: 'Get',
					nodeType: new Contact(),
					parameters: {
						resource: 'contact',
						operation: 'get',
						contactId: '={{ $json.contactId }}',
						options: { historyLimit: 1 },
					},
				},
			],
			connections: [
				['Upsert', 'Record'],
				['Record', 'Get'],
			],
			items: [
				{ email: 'wf1@example.com', plan: 'pro' },
				{ email: 'wf2@example.com', plan: 'team' },
			],
			credentials,
			workflowId: 'wf-chain-test',
		});
		const out = run.output('Get')[0];
		expect(
			out.map((i) => [
				i.json.id,
				(i.json.recentEvents as IDataObject[])[0].name,
				((i.json.recentEvents as IDataObject[])[0].properties as IDataObject).plan,
			]),
		).toEqual([
			['wf1@example.com', 'trial_started', 'pro'],
			['wf2@example.com', 'trial_started', 'team'],
		]);
		expect(out.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
	});

	it('accepts a numeric ID from an expression and refuses IDs with line breaks or only spaces', async () => {
		const out = await run(
			{ resource: 'tag', operation: 'add', contactId: '={{ $json.id }}', tags: 'x' },
			[{ id: 4711 }, { id: 'a\nb' }, { id: '   ' }],
			{ continueOnFail: true },
		);
		expect(out[0].json).toMatchObject({ id: '4711', tags: ['x'] });
		expect(out[1].json.error).toMatch(/control characters \(line breaks, tabs or NUL\) \(item 1, field "Contact ID"\)/);
		expect(out[2].json.error).toMatch(/empty \(item 2, field "Contact ID"\)/);
	});

	it('explains a credential with an invalid key prefix', async () => {
		await expect(
			runNode({
				nodeType: new Contact(),
				parameters: { resource: 'contact', operation: 'get', contactId: 'x' },
				credentials: { contactStoreApi: { ...credentials.contactStoreApi, keyPrefix: 'bad {prefix}' } },
			}),
		).rejects.toThrow(/Key prefix "bad \{prefix\}" is not valid \(item 0, field "keyPrefix"\)/);
	});

	it('reports an unreachable store on every item without hanging', async () => {
		const [out] = await runNode({
			nodeType: new Contact(),
			parameters: { resource: 'contact', operation: 'get', contactId: '={{ $json.id }}' },
			items: [{ id: 'a' }, { id: 'b' }],
			credentials: {
				contactStoreApi: { ...credentials.contactStoreApi, host: '127.0.0.1', port: 1, clusterNodes: '' },
			},
			continueOnFail: true,
		});
		expect(out).toHaveLength(2);
		expect(out.every((i) => /could not be reached/.test(String(i.json.error)))).toBe(true);
	});
});
