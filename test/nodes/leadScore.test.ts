import { randomUUID } from 'crypto';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { LeadScore } from '../../nodes/LeadScore/LeadScore.node';
import { contactStoreCredentials, runNode } from '../harness/n8n';
import { storeConfig, topologies } from '../harness/store';

afterAll(() => closeAllStores());

describe.each(topologies)('Lead Score node (n8n engine, %s)', (topology) => {
	const prefix = `ls${randomUUID().slice(0, 6)}:`;
	const credentials = contactStoreCredentials(topology, prefix);
	const { store } = acquireStore(storeConfig(topology, prefix));

	const rules = {
		rule: [
			{
				name: 'pricing',
				kind: 'event',
				event: 'page_viewed',
				property: 'path',
				propertyOperator: 'equals',
				propertyValue: '/pricing',
				points: 30,
				frequency: 'everyTime',
				decay: 'default',
			},
			{
				name: 'careers',
				kind: 'event',
				event: 'page_viewed',
				property: 'path',
				propertyOperator: 'startsWith',
				propertyValue: '/careers',
				points: -20,
				frequency: 'everyTime',
				decay: 'default',
			},
			{ name: 'director', kind: 'field', field: 'jobTitle', fieldOperator: 'contains', value: 'Director', points: 25 },
		],
	};
	const params = { operation: 'scoreEvent', rules, decay: 'expire', decayDays: 30 };

	beforeAll(async () => {
		for (const r of await store.contacts.upsert([
			{ id: 'p1', fields: { jobTitle: 'IT Director' } },
			{ id: 'p2' },
			{ id: 'p3' },
			{ id: 'p4' },
		]))
			if (!r.ok) throw r.error;
	});

	it('scores the event of each item from the trigger item shape, with field rules and grades', async () => {
		const [out] = await runNode({
			nodeType: new LeadScore(),
			parameters: params,
			items: [
				{ contact: { id: 'p1' }, event: { id: 'e1', name: 'page_viewed', properties: { path: '/pricing' } } },
				{ contact: { id: 'p2' }, event: { id: 'e2', name: 'page_viewed', properties: { path: '/careers/jobs' } } },
			],
			credentials,
		});
		expect(out.map((i) => [i.pairedItem, i.json.leadScore])).toEqual([
			[
				{ item: 0 },
				expect.objectContaining({
					score: 55,
					grade: 'hot',
					previousGrade: 'cold',
					changed: true,
					matchedRules: ['pricing', 'director'],
					duplicate: false,
				}),
			],
			[{ item: 1 }, expect.objectContaining({ score: -20, grade: 'cold', changed: false, matchedRules: ['careers'] })],
		]);
		expect(out[0].json.contact).toEqual({ id: 'p1' });
		const history = await store.events.history('p1');
		expect(history.find((e) => e.name === '$grade_changed')?.properties).toEqual({
			model: 'default',
			from: 'cold',
			to: 'hot',
			score: 55,
		});
	});

	it("logs $grade_changed with the item's $chain plus this workflow, for Loop Guard", async () => {
		await store.contacts.upsert([{ id: 'chained' }]);
		const [out] = await runNode({
			nodeType: new LeadScore(),
			parameters: params,
			items: [
				{
					contactId: 'chained',
					event: { id: 'c1', name: 'page_viewed', properties: { path: '/pricing' } },
					$chain: [{ workflowId: 'wf-A', executionId: '7' }],
				},
			],
			credentials,
			workflowId: 'wf-score',
			executionId: '99',
		});
		const eventId = (out[0].json.leadScore as { gradeEventId: string }).gradeEventId;
		const [[, fields]] = await store.redis.xrange(
			store.keys.log(store.keys.shardOfContact('chained')),
			eventId,
			eventId,
		);
		const entry: Record<string, string> = {};
		for (let i = 0; i < fields.length; i += 2) entry[fields[i]] = fields[i + 1];
		expect(entry).toMatchObject({ n: '$grade_changed', s: 'lead-score' });
		expect(JSON.parse(entry.ch)).toEqual([
			{ workflowId: 'wf-A', executionId: '7' },
			{ workflowId: 'wf-score', executionId: '99' },
		]);
	});

	it('changes nothing when the same event comes again (webhook retry)', async () => {
		const item = { contactId: 'p3', event: { id: 'retry-1', name: 'page_viewed', properties: { path: '/pricing' } } };
		await runNode({ nodeType: new LeadScore(), parameters: params, items: [item], credentials });
		const [out] = await runNode({ nodeType: new LeadScore(), parameters: params, items: [item], credentials });
		expect(out[0].json.leadScore).toMatchObject({ score: 30, duplicate: true, awarded: [] });
	});

	it('routes grade changes to the second output when asked', async () => {
		const [scored, changed] = await runNode({
			nodeType: new LeadScore(),
			parameters: {
				...params,
				routeGradeChanges: true,
				grades: {
					grade: [
						{ name: 'cold', minScore: 0 },
						{ name: 'hot', minScore: 40 },
					],
				},
			},
			items: [
				{ contactId: 'p4', event: { id: 'g1', name: 'page_viewed', properties: { path: '/pricing' } } },
				{ contactId: 'p4', event: { id: 'g2', name: 'page_viewed', properties: { path: '/pricing' } } },
			],
			credentials,
		});
		expect(scored.map((i) => i.pairedItem)).toEqual([{ item: 0 }]);
		expect(changed.map((i) => [i.pairedItem, (i.json.leadScore as { grade: string }).grade])).toEqual([
			[{ item: 1 }, 'hot'],
		]);
	});

	it('takes rules as JSON and recalculates without an event', async () => {
		await store.contacts.upsert([{ id: 'p5', fields: { employees: 500 } }]);
		const [out] = await runNode({
			nodeType: new LeadScore(),
			parameters: {
				operation: 'recalculate',
				rulesInput: 'json',
				rulesJson: JSON.stringify([
					{ name: 'big', field: { field: 'employees', operator: 'gte', value: 250 }, points: 12 },
				]),
				model: 'fit',
			},
			items: [{ contactId: 'p5' }],
			credentials,
		});
		expect(out[0].json.leadScore).toMatchObject({ model: 'fit', score: 12, matchedRules: ['big'] });
	});

	it('scores with the edited rules in the next execution (compiled models are kept between executions)', async () => {
		await store.contacts.upsert([{ id: 'edited' }]);
		const awarded = async (points: number, eventId: string) => {
			const [out] = await runNode({
				nodeType: new LeadScore(),
				parameters: {
					operation: 'scoreEvent',
					rulesInput: 'json',
					rulesJson: JSON.stringify([{ name: 'visit', event: 'visit', points }]),
				},
				items: [{ contactId: 'edited', event: { id: eventId, name: 'visit' } }],
				credentials,
			});
			return (out[0].json.leadScore as { awarded: unknown }).awarded;
		};
		expect(await awarded(3, 'v1')).toEqual([{ rule: 'visit', points: 3 }]);
		expect(await awarded(3, 'v2')).toEqual([{ rule: 'visit', points: 3 }]);
		expect(await awarded(8, 'v3')).toEqual([{ rule: 'visit', points: 8 }]);
	});

	it('gives the exact sum when 8 executions score one contact at once', async () => {
		await store.contacts.upsert([{ id: 'busy' }]);
		const runs = Array.from({ length: 8 }, (_, w) =>
			runNode({
				nodeType: new LeadScore(),
				parameters: {
					operation: 'scoreEvent',
					rulesInput: 'json',
					rulesJson: '[{"name": "hit", "event": "hit", "points": 2}]',
				},
				items: Array.from({ length: 10 }, (_, i) => ({ contactId: 'busy', event: { id: `w${w}-${i}`, name: 'hit' } })),
				credentials,
				executionId: `exec-${w}`,
			}),
		);
		await Promise.all(runs);
		const [read] = await runNode({
			nodeType: new LeadScore(),
			parameters: { operation: 'recalculate', rulesInput: 'json', rulesJson: '[]' },
			items: [{ contactId: 'busy' }],
			credentials,
		});
		expect((read[0].json.leadScore as { score: number }).score).toBe(160);
	});

	it('stops with an error naming the rule field for a bad rule', async () => {
		const bad = {
			rule: [{ name: 'x', kind: 'field', field: 'jobTitle', fieldOperator: 'equals', value: '', points: 5 }],
		};
		await expect(
			runNode({
				nodeType: new LeadScore(),
				parameters: { ...params, rules: bad },
				items: [{ contactId: 'p1', event: { name: 'x' } }],
				credentials,
			}),
		).rejects.toThrow(/field "rules\[0\]\.field\.value"/);
		await expect(
			runNode({
				nodeType: new LeadScore(),
				parameters: { operation: 'scoreEvent', rulesInput: 'json', rulesJson: '{not json' },
				items: [{ contactId: 'p1', event: { name: 'x' } }],
				credentials,
			}),
		).rejects.toThrow(/rulesJson/);
	});

	it('names the item for a missing contact, and keeps going under continue on fail', async () => {
		const items = [
			{ contactId: 'p1', event: { id: 'ok-1', name: 'nothing' } },
			{ contactId: 'nobody', event: { id: 'x', name: 'nothing' } },
		];
		await expect(runNode({ nodeType: new LeadScore(), parameters: params, items, credentials })).rejects.toThrow(
			/item 1/,
		);
		const [out] = await runNode({
			nodeType: new LeadScore(),
			parameters: params,
			items,
			credentials,
			continueOnFail: true,
		});
		expect(out.map((i) => [i.pairedItem, Boolean(i.json.error)])).toEqual([
			[{ item: 0 }, false],
			[{ item: 1 }, true],
		]);
	});

	it('maps contact and event with expressions in "Define Below", and reads the Contact node\'s output shape', async () => {
		await store.contacts.upsert([{ id: 'p6' }]);
		const [mapped] = await runNode({
			nodeType: new LeadScore(),
			parameters: {
				...params,
				input: 'define',
				contactId: '={{ $json.who }}',
				eventName: 'page_viewed',
				eventId: '={{ $json.ref }}',
				eventProperties: '={{ { path: $json.url } }}',
			},
			items: [{ who: 'p6', ref: 'r1', url: '/pricing' }],
			credentials,
		});
		expect(mapped[0].json.leadScore).toMatchObject({ score: 30, matchedRules: ['pricing'] });
		// Contact > Record Event outputs { contactId, event: "<name>", eventId }.
		const [fromContactNode] = await runNode({
			nodeType: new LeadScore(),
			parameters: {
				operation: 'scoreEvent',
				rulesInput: 'json',
				rulesJson: '[{"name": "signup", "event": "signed_up", "points": 4}]',
			},
			items: [
				{ contactId: 'p6', event: 'signed_up', eventId: '1-0' },
				{ contactId: 'p6', event: 'signed_up', eventId: '1-0' },
			],
			credentials,
		});
		expect(fromContactNode.map((i) => (i.json.leadScore as { duplicate: boolean }).duplicate)).toEqual([false, true]);
	});

	it('resolves expressions in rules per item (points from the order amount)', async () => {
		await store.contacts.upsert([{ id: 'buyer' }]);
		const rules = {
			rule: [
				{
					name: 'order',
					kind: 'event',
					event: 'purchase',
					points: '={{ $json.amount }}',
					frequency: 'everyTime',
					decay: 'default',
				},
			],
		};
		const [out] = await runNode({
			nodeType: new LeadScore(),
			parameters: { operation: 'scoreEvent', rules },
			items: [
				{ contactId: 'buyer', event: { id: 'o1', name: 'purchase' }, amount: 5 },
				{ contactId: 'buyer', event: { id: 'o2', name: 'purchase' }, amount: 7 },
				{ contactId: 'buyer', event: { id: 'o3', name: 'purchase' }, amount: 'lots' },
			],
			credentials,
			continueOnFail: true,
		});
		expect(out.map((i) => (i.json.leadScore as { awarded: unknown } | undefined)?.awarded ?? i.json.error)).toEqual([
			[{ rule: 'order', points: 5 }],
			[{ rule: 'order', points: 7 }],
			expect.stringMatching(/field "rules\[0\]\.points".*|item 2/),
		]);
		const [read] = await runNode({
			nodeType: new LeadScore(),
			parameters: { operation: 'recalculate', rulesInput: 'json', rulesJson: '[]' },
			items: [{ contactId: 'buyer' }],
			credentials,
		});
		expect((read[0].json.leadScore as { score: number }).score).toBe(12);
	});

	it('names the missing contact ID or event of an item', async () => {
		const [out] = await runNode({
			nodeType: new LeadScore(),
			parameters: params,
			items: [{ event: { name: 'x' } }, { contactId: 'p1' }],
			credentials,
			continueOnFail: true,
		});
		expect(out.map((i) => i.json.error)).toEqual([
			expect.stringMatching(/field "contactId"/),
			expect.stringMatching(/field "eventName"/),
		]);
		// "Continue (using error output)": n8n moves both to its error output, scored items stay.
		const outputs = await runNode({
			nodeType: new LeadScore(),
			parameters: params,
			items: [{ event: { name: 'x' } }, { contactId: 'p1', event: { name: 'x' } }, { contactId: 'p1' }],
			credentials,
			onError: 'continueErrorOutput',
		});
		expect(outputs.map((output) => output.map((i) => i.pairedItem))).toEqual([
			[{ item: 1 }],
			[{ item: 0 }, { item: 2 }],
		]);
		expect(outputs[1][0].json.error).toMatch(/field "contactId"/);
	});

	it('rejects an event time that does not parse, naming the field', async () => {
		const [out] = await runNode({
			nodeType: new LeadScore(),
			parameters: params,
			items: [{ contactId: 'p1', event: { id: 't', name: 'page_viewed', time: 'not a date' } }],
			credentials,
			continueOnFail: true,
		});
		expect(out[0].json.error).toMatch(/field "time"/);
	});
});
