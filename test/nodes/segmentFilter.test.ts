import { randomUUID } from 'crypto';
import type { IDataObject, INodeParameters } from 'n8n-workflow';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { SegmentFilter } from '../../nodes/SegmentFilter/SegmentFilter.node';
import { Scoring } from '../../lib/scoring';
import { Segments } from '../../lib/segments';
import { contactStoreCredentials, runNode, runWorkflow } from '../harness/n8n';
import { storeConfig, topologies } from '../harness/store';

afterAll(() => closeAllStores());

describe.each(topologies)('Segment Filter node (n8n engine, %s)', (topology) => {
	const prefix = `sf${randomUUID().slice(0, 6)}:`;
	const credentials = contactStoreCredentials(topology, prefix);
	const { store } = acquireStore(storeConfig(topology, prefix));
	const N = 60;

	beforeAll(async () => {
		const contacts = Array.from({ length: N }, (_, i) => ({
			id: `k${i}`,
			email: `k${i}@example.com`,
			lifecycleStage: i % 2 === 0 ? 'customer' : 'lead',
			fields: { nps: i % 11 },
			addTags: i % 3 === 0 ? ['newsletter'] : [],
			subscription: { status: i % 10 === 9 ? ('unsubscribed' as const) : ('subscribed' as const), source: 'test' },
		}));
		for (const r of await store.contacts.upsert(contacts)) if (!r.ok) throw r.error;
		for (const r of await store.events.record([
			{ contactId: 'k1', name: 'purchase', properties: { author: 'Le Guin' } },
			{ contactId: 'k2', name: 'purchase', properties: { author: 'Banks' } },
		]))
			if (!r.ok) throw r.error;
		const now = Date.now();
		for (const r of await store.contacts.upsert([
			{
				id: 'k4',
				addTags: ['Engaged'],
				fields: { renewal: { value: new Date(now - 5 * 86_400_000).toISOString(), type: 'date' } },
			},
			{ id: 'k5', addTags: ['Warm'], fields: { city: 'Oslo' } },
		]))
			if (!r.ok) throw r.error;
		for (const r of await store.events.recordSystem([
			{ contactId: 'k1', name: '$email_sent', properties: { campaignId: 'promo' }, time: now - 3 * 86_400_000 },
			{
				contactId: 'k1',
				name: '$email_opened',
				properties: { campaignId: 'promo' },
				time: now - 3 * 86_400_000 + 1000,
			},
			{ contactId: 'k2', name: '$email_sent', properties: { campaignId: 'promo' }, time: now - 3 * 86_400_000 },
			{ contactId: 'k3', name: 'cart', time: now - 86_400_000 },
		]))
			if (!r.ok) throw r.error;
		const scoring = new Scoring(store);
		for (const r of await scoring.score(
			{
				rules: [
					{ name: 'demo', event: 'demo', points: 60 },
					{ name: 'visit', event: 'visit', points: 5 },
				],
			},
			[
				{ contactId: 'k2', event: { name: 'demo', id: 'd' } },
				{ contactId: 'k3', event: { name: 'visit', id: 'v' } },
			],
		))
			if (!r.ok) throw r.error;
	});

	const npsHappy = { conditions: { condition: [{ type: 'field', field: 'nps', fieldOperator: 'gte', value: '7' }] } };

	it('routes each item to Matched or Not Matched (NPS >= 7), unchanged and paired', async () => {
		const [matched, notMatched] = await runNode({
			nodeType: new SegmentFilter(),
			parameters: { mode: 'filter', ...npsHappy },
			items: [
				{ contactId: 'k7', note: 'a' },
				{ contactId: 'k6', note: 'b' },
				{ contact: { id: 'k8' } },
				{ contactId: 'ghost' },
			],
			credentials,
		});
		expect(matched.map((i) => [i.pairedItem, i.json])).toEqual([
			[{ item: 0 }, { contactId: 'k7', note: 'a' }],
			[{ item: 2 }, { contact: { id: 'k8' } }],
		]);
		expect(notMatched.map((i) => i.pairedItem)).toEqual([{ item: 1 }, { item: 3 }]);
	});

	it("keeps an item's binary data on its output, and gives none to an item without", async () => {
		const attachment = { data: Buffer.from('receipt').toString('base64'), mimeType: 'text/plain', fileName: 'r.txt' };
		const [matched] = await runNode({
			nodeType: new SegmentFilter(),
			parameters: { mode: 'filter', ...npsHappy },
			items: [{ json: { contactId: 'k7' }, binary: { receipt: attachment } }, { json: { contactId: 'k8' } }],
			credentials,
		});
		expect(matched.map((i) => i.json.contactId)).toEqual(['k7', 'k8']);
		expect(matched[0].binary?.receipt).toMatchObject({ mimeType: 'text/plain', fileName: 'r.txt' });
		expect(Buffer.from(matched[0].binary?.receipt.data as string, 'base64').toString()).toBe('receipt');
		expect(matched[1].binary).toBeUndefined();
	});

	it('combines rows with OR and reads event property conditions (already bought this author)', async () => {
		const [matched] = await runNode({
			nodeType: new SegmentFilter(),
			parameters: {
				mode: 'filter',
				combinator: 'or',
				conditions: {
					condition: [
						{
							type: 'event',
							eventOperator: 'didAtLeast',
							event: 'purchase',
							count: 1,
							days: 0,
							property: 'author',
							propertyOperator: 'equals',
							propertyValue: 'Le Guin',
						},
						{ type: 'tags', tagOperator: 'hasAll', tags: 'newsletter' },
					],
				},
			},
			items: [{ contactId: 'k1' }, { contactId: 'k2' }, { contactId: 'k3' }, { contactId: 'k4' }],
			credentials,
		});
		expect(matched.map((i) => i.json.contactId)).toEqual(['k1', 'k3']);
	});

	it.each<[string, Record<string, unknown>, string[]]>([
		[
			'tier',
			{ type: 'tier', memberOperator: 'is', value: 'Engaged', tierNames: 'Engaged, Disengaged, Inactive' },
			['k4'],
		],
		[
			'custom tier names',
			{ type: 'tier', memberOperator: 'in', value: 'Hot, Warm', tierNames: 'Hot, Warm, Cold' },
			['k5'],
		],
		['subscription', { type: 'subscription', memberOperator: 'isNot', value: 'subscribed' }, ['k9']],
		['lifecycle stage', { type: 'lifecycleStage', memberOperator: 'in', value: 'lead, mql' }, ['k1', 'k3', 'k5', 'k9']],
		['score', { type: 'score', scoreOperator: 'between', value: '1', value2: '10', model: 'default' }, ['k3']],
		['grade', { type: 'grade', memberOperator: 'is', value: 'hot', model: 'default' }, ['k2']],
		['e-mail opened', { type: 'email', emailOperator: 'opened', campaignId: 'promo', days: 0 }, ['k1']],
		['e-mail not opened', { type: 'email', emailOperator: 'notOpened', campaignId: 'promo', days: 1 }, ['k2']],
		[
			'did but not',
			{ type: 'event', eventOperator: 'didButNot', event: 'cart', otherEvent: 'purchase', days: 0 },
			['k3'],
		],
		[
			'did not in the last days',
			{ type: 'event', eventOperator: 'didNot', event: 'purchase', days: 7 },
			['k0', 'k3', 'k4', 'k5', 'k9'],
		],
		[
			'field within the last days',
			{ type: 'field', field: 'renewal', fieldOperator: 'withinLastDays', fieldDays: 10 },
			['k4'],
		],
		[
			'field ignoring case',
			{ type: 'field', field: 'city', fieldOperator: 'equals', value: 'oslo', ignoreCase: true },
			['k5'],
		],
	])('maps a %s row of the Conditions list', async (_label, row, expected) => {
		const [matched] = await runNode({
			nodeType: new SegmentFilter(),
			parameters: { mode: 'filter', conditions: { condition: [row] } } as INodeParameters,
			items: ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k9'].map((contactId) => ({ contactId })),
			credentials,
		});
		expect(matched.map((i) => i.json.contactId)).toEqual(expected);
	});

	it("resolves expressions in conditions per item (recipe 23: already bought a book by this item's author)", async () => {
		const row = {
			type: 'event',
			eventOperator: 'didAtLeast',
			event: 'purchase',
			count: 1,
			days: 0,
			property: 'author',
			propertyOperator: 'equals',
			propertyValue: '={{ $json.author }}',
		};
		const items = [
			{ contactId: 'k1', author: 'Le Guin' },
			{ contactId: 'k1', author: 'Banks' },
			{ contactId: 'k2', author: 'Banks' },
			{ contactId: 'k2', author: 'Le Guin' },
		];
		const [bought, notBought] = await runNode({
			nodeType: new SegmentFilter(),
			parameters: { mode: 'filter', conditions: { condition: [row] } },
			items,
			credentials,
		});
		expect(bought.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 2 }]);
		expect(notBought.map((i) => i.pairedItem)).toEqual([{ item: 1 }, { item: 3 }]);
		// A per-item expression that yields a bad value fails that item only.
		const dated = { type: 'field', field: 'd', fieldOperator: 'after', value: '={{ $json.since }}' };
		const [, rest] = await runNode({
			nodeType: new SegmentFilter(),
			parameters: { mode: 'filter', conditions: { condition: [dated] } },
			items: [
				{ contactId: 'k1', since: '2020-01-01' },
				{ contactId: 'k1', since: 'soon' },
			],
			credentials,
			continueOnFail: true,
		});
		expect(rest.map((i) => [i.pairedItem, i.json.error ?? null])).toEqual([
			[{ item: 0 }, null],
			[{ item: 1 }, expect.stringMatching(/not a date.*item 1/)],
		]);
	});

	it('evaluates a nested JSON condition tree', async () => {
		const tree = {
			combinator: 'and',
			conditions: [
				{ type: 'subscription', operator: 'is', value: 'subscribed' },
				{
					combinator: 'or',
					conditions: [
						{ type: 'lifecycleStage', operator: 'is', value: 'lead' },
						{ type: 'field', field: 'nps', operator: 'lt', value: 2 },
					],
				},
			],
		};
		const [matched] = await runNode({
			nodeType: new SegmentFilter(),
			parameters: { mode: 'filter', conditionsInput: 'json', conditionsJson: JSON.stringify(tree) },
			items: ['k0', 'k1', 'k2', 'k9', 'k11'].map((contactId) => ({ contactId })),
			credentials,
		});
		expect(matched.map((i) => i.json.contactId)).toEqual(['k0', 'k1', 'k11']);
	});

	it.each([
		[
			'an unknown operator',
			{
				conditionsInput: 'json',
				conditionsJson: '{"type": "field", "field": "nps", "operator": "approximately", "value": 1}',
			},
			/Unknown operator "approximately".*conditions\.operator/,
		],
		[
			'a regex that does not compile',
			{ conditions: { condition: [{ type: 'field', field: 'nps', fieldOperator: 'regex', value: '(' }] } },
			/does not compile.*conditions\.conditions\[0\]\.value/,
		],
		[
			'a date that does not parse',
			{ conditions: { condition: [{ type: 'field', field: 'd', fieldOperator: 'after', value: 'next tuesday' }] } },
			/not a date.*conditions\.conditions\[0\]\.value/,
		],
		['no condition at all', { conditions: {} }, /at least one condition/],
		['invalid JSON', { conditionsInput: 'json', conditionsJson: '{' }, /conditionsJson/],
	])('stops with a clear error for %s', async (_label, parameters, message) => {
		await expect(
			runNode({
				nodeType: new SegmentFilter(),
				parameters: { mode: 'filter', ...parameters },
				items: [{ contactId: 'k1' }],
				credentials,
			}),
		).rejects.toThrow(message);
	});

	it('sends an item whose contact ID is invalid to Not Matched with the error under continue on fail', async () => {
		const [matched, notMatched] = await runNode({
			nodeType: new SegmentFilter(),
			parameters: { mode: 'filter', ...npsHappy },
			items: [{ contactId: 'k7' }, { contactId: '' }],
			credentials,
			continueOnFail: true,
		});
		expect(matched).toHaveLength(1);
		expect(notMatched[0].json.error).toMatch(/item 1/);
	});

	it('pairs every item of a mixed batch with its input on its route: decided in Redis, left to TypeScript, not found, failed', async () => {
		// Lua cannot lower-case "Ä": that contact answers "?" and is tested here.
		for (const r of await store.contacts.upsert([{ id: 'umlaut', fields: { city: 'Ärger' } }]))
			if (!r.ok) throw r.error;
		const tree = {
			combinator: 'or',
			conditions: [
				{ type: 'field', field: 'city', operator: 'equals', value: 'ärger', ignoreCase: true },
				{ type: 'field', field: 'nps', operator: 'gte', value: 9 },
			],
		};
		const fetchAndTest = jest.spyOn(
			Segments.prototype as unknown as { fetchAndTest: (...args: unknown[]) => unknown },
			'fetchAndTest',
		);
		const attachment = { data: Buffer.from('r').toString('base64'), mimeType: 'text/plain' };
		const [matched, notMatched] = await runNode({
			nodeType: new SegmentFilter(),
			parameters: { mode: 'filter', conditionsInput: 'json', conditionsJson: JSON.stringify(tree) },
			items: [
				{ contactId: 'k9' },
				{ contactId: 'k5' },
				{ contactId: 'umlaut' },
				{ contactId: 'ghost' },
				{ contactId: '' },
				{ contactId: 'umlaut', note: 'again' },
				{ json: { contactId: 'k9', note: 'with binary' }, binary: { receipt: attachment } },
			],
			credentials,
			continueOnFail: true,
		});
		// Only the undecided contact's two items went to TypeScript.
		expect(fetchAndTest.mock.calls.map((call) => call[1])).toEqual([['umlaut', 'umlaut']]);
		fetchAndTest.mockRestore();
		expect(matched.map((i) => [i.pairedItem, i.json, i.binary?.receipt.mimeType])).toEqual([
			[{ item: 0 }, { contactId: 'k9' }, undefined],
			[{ item: 2 }, { contactId: 'umlaut' }, undefined],
			[{ item: 5 }, { contactId: 'umlaut', note: 'again' }, undefined],
			[{ item: 6 }, { contactId: 'k9', note: 'with binary' }, 'text/plain'],
		]);
		expect(notMatched.map((i) => [i.pairedItem, i.json.error ?? i.json])).toEqual([
			[{ item: 1 }, { contactId: 'k5' }],
			[{ item: 3 }, { contactId: 'ghost' }],
			[{ item: 4 }, expect.stringMatching(/no contact ID.*\(item 4, field "contactId"\)/)],
		]);
	});

	it('lists a segment page by page, feeding Next Page back as the cursor', async () => {
		const parameters = {
			mode: 'segment',
			pagination: 'page',
			pageSize: 4,
			conditions: {
				condition: [
					{ type: 'lifecycleStage', memberOperator: 'is', value: 'customer' },
					{ type: 'field', field: 'nps', fieldOperator: 'gte', value: '5' },
				],
			},
		};
		const seen: string[] = [];
		let input: IDataObject = {};
		let runs = 0;
		for (;;) {
			const [contacts, next] = await runNode({
				nodeType: new SegmentFilter(),
				parameters,
				items: [input],
				credentials,
			});
			runs++;
			expect(contacts.length).toBeLessThanOrEqual(4);
			seen.push(...contacts.map((c) => c.json.contactId as string));
			if (next.length === 0) break;
			expect(next[0].json).toMatchObject({
				cursor: expect.any(String),
				plan: expect.stringMatching(/index: lifecycleStage customer/),
			});
			input = next[0].json;
		}
		const expected = Array.from({ length: N }, (_, i) => i)
			.filter((i) => i % 2 === 0 && i % 11 >= 5)
			.map((i) => `k${i}`);
		expect(seen.sort()).toEqual(expected.sort());
		expect(runs).toBeGreaterThan(2);
	});

	it('lists all pages at once up to Max Contacts, returning the rest as a cursor', async () => {
		const parameters = {
			mode: 'segment',
			pagination: 'all',
			pageSize: 7,
			conditions: { condition: [{ type: 'subscription', memberOperator: 'is', value: 'subscribed' }] },
		};
		const [all, none] = await runNode({
			nodeType: new SegmentFilter(),
			parameters: { ...parameters, maxContacts: 1000 },
			credentials,
		});
		expect(all).toHaveLength(N - N / 10);
		expect(none).toEqual([]);
		expect(all[0].json).toEqual(
			expect.objectContaining({
				contactId: expect.any(String),
				email: expect.stringMatching(/@example\.com$/),
				status: 'subscribed',
			}),
		);
		const [some, next] = await runNode({
			nodeType: new SegmentFilter(),
			parameters: { ...parameters, maxContacts: 10 },
			credentials,
		});
		expect(some).toHaveLength(10);
		expect(next[0].json.cursor).toEqual(expect.any(String));
	});

	it('loops Next Page back into itself inside one workflow', async () => {
		const parameters = {
			mode: 'segment',
			pagination: 'page',
			pageSize: 10,
			conditions: { condition: [{ type: 'tags', tagOperator: 'hasAny', tags: 'newsletter' }] },
		};
		const run = await runWorkflow({
			nodes: [
				{ name: 'Page 1', nodeType: new SegmentFilter(), parameters },
				{ name: 'Page 2', nodeType: new SegmentFilter(), parameters },
			],
			connections: [['Page 1', 'Page 2', 1]],
			credentials,
		});
		const first = run.output('Page 1')[0].map((i) => i.json.contactId);
		const second = run.output('Page 2')[0].map((i) => i.json.contactId);
		expect(first.length + second.length).toBe(N / 3);
		expect(new Set([...first, ...second]).size).toBe(N / 3);
	});
});
