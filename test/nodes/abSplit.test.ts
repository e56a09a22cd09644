import { NodeHelpers, Workflow, type INode, type INodeTypes } from 'n8n-workflow';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { drawVariant, HOLDOUT, REST } from '../../lib/experiments';
import { AbSplit } from '../../nodes/AbSplit/AbSplit.node';
import { SendCampaign } from '../../nodes/SendCampaign/SendCampaign.node';
import { contactStoreCredentials, runNode, runWorkflow } from '../harness/n8n';
import { storeConfig, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const variants = {
	variant: [
		{ name: 'A', weight: 40 },
		{ name: 'B', weight: 40 },
	],
};
const split = { operation: 'split', testId: 'subject-test', variants, holdout: 20, goal: 'purchase', windowDays: 7 };

/** A Send Campaign node for a variant's output, mailing under the item's experiment campaign. */
const send = (variant: string) => ({
	name: `Send ${variant}`,
	nodeType: new SendCampaign(),
	parameters: {
		operation: 'send',
		delivery: 'render',
		identifyBy: 'id',
		contactId: '={{ $json.contact.id }}',
		campaignId: '={{ $json.experiment.campaignId }}',
		fromEmail: 'hello@shop.example',
		subject: variant === 'A' ? 'Hello' : 'Hello, {{ email }}',
		html: '<p>Hi</p>',
		trackingBaseUrl: 'https://n8n.example.com/webhook/x/marketing',
	},
});

describe('A/B Split outputs, as n8n evaluates them', () => {
	it('one output per listed variant, then Holdout; one Report output for the report', () => {
		const type = new AbSplit();
		const outputsOf = (parameters: Record<string, unknown>) => {
			const node: INode = {
				id: '1',
				name: 'N',
				type: 't.n',
				typeVersion: 1,
				position: [0, 0],
				parameters: parameters as INode['parameters'],
			};
			const nodeTypes: INodeTypes = {
				getByName: () => type,
				getByNameAndVersion: () => type,
				getKnownTypes: () => ({}),
			};
			const workflow = new Workflow({ nodes: [node], connections: {}, active: false, nodeTypes });
			return NodeHelpers.getNodeOutputs(workflow, node, type.description).map((o) =>
				typeof o === 'string' ? o : (o.displayName as string),
			);
		};
		expect(outputsOf(split)).toEqual(['Variant A', 'Variant B', 'Holdout']);
		expect(outputsOf({ ...split, holdout: 10, rest: 10 })).toEqual(['Variant A', 'Variant B', 'Holdout', 'Rest']);
		expect(outputsOf({ ...split, rest: 0 })).toEqual(['Variant A', 'Variant B', 'Holdout']);
		expect(outputsOf({ operation: 'report', testId: 'x' })).toEqual(['Report']);
	});
});

describe.each(topologies)('A/B Split node (n8n engine) on %s Redis', (topology) => {
	const credentials = contactStoreCredentials(topology);
	const lease = acquireStore(storeConfig(topology, String(credentials.contactStoreApi.keyPrefix)));
	const { store } = lease;
	afterAll(() => lease.release());
	const ids = Array.from({ length: 60 }, (_, i) => `ab-${i}`);

	beforeAll(async () => {
		const created = await store.contacts.upsert(
			ids.map((id) => ({
				id,
				email: `${id}@example.com`,
				subscription: { status: 'subscribed' as const, source: 'form' },
			})),
		);
		for (const r of created) if (!r.ok) throw r.error;
	});

	it('routes each contact to its variant output or Holdout, sets experiment.campaignId, and keeps it on a rerun', async () => {
		const items = ids.map((id) => ({ contact: { id } }));
		const [a, b, holdout] = await runNode({ nodeType: new AbSplit(), parameters: split, items, credentials });
		const expected = (v: string) =>
			ids.filter((id) => drawVariant({ test: 'subject-test', variants: variants.variant }, id) === v);
		const idsOf = (out: typeof a) => out.map((i) => (i.json.contact as { id: string }).id);
		expect(idsOf(a)).toEqual(expected('A'));
		expect(idsOf(b)).toEqual(expected('B'));
		expect(idsOf(holdout)).toEqual(expected(HOLDOUT));
		expect(a[0].json.experiment).toMatchObject({
			test: 'subject-test',
			variant: 'A',
			campaignId: 'subject-test:A',
			new: true,
		});
		expect(holdout[0].json.experiment).toMatchObject({ variant: 'holdout', campaignId: null, holdout: true });
		expect(a[0].pairedItem).toEqual({ item: ids.indexOf(idsOf(a)[0]) });

		// Rerun with other weights: every contact keeps its variant.
		const rerun = await runNode({
			nodeType: new AbSplit(),
			parameters: {
				...split,
				holdout: 60,
				variants: {
					variant: [
						{ name: 'A', weight: 20 },
						{ name: 'B', weight: 20 },
					],
				},
			},
			items,
			credentials,
		});
		expect(rerun.map(idsOf)).toEqual([expected('A'), expected('B'), expected(HOLDOUT)]);
		expect(rerun[0].every((i) => (i.json.experiment as { new: boolean }).new === false)).toBe(true);
	});

	it('feeds Send Campaign per variant (campaign "<test>:<variant>") and reports sent and conversions per variant', async () => {
		const run = await runWorkflow({
			nodes: [
				{ name: 'Split', nodeType: new AbSplit(), parameters: { ...split, testId: 'wired' } },
				send('A'),
				send('B'),
			],
			connections: [
				['Split', 'Send A', 0],
				['Split', 'Send B', 1],
			],
			items: ids.map((id) => ({ contact: { id } })),
			credentials,
		});
		const [a, b, holdout] = run.output('Split');
		expect(run.output('Send A')[0]).toHaveLength(a.length);
		expect(run.output('Send B')[0]).toHaveLength(b.length);
		const converted = holdout.slice(0, 2).map((i) => (i.json.contact as { id: string }).id);
		await store.events.record(converted.map((contactId) => ({ contactId, name: 'purchase' })));

		const [report] = await runNode({
			nodeType: new AbSplit(),
			parameters: { operation: 'report', testId: 'wired', variants },
			items: [{}],
			credentials,
		});
		expect(report).toHaveLength(1);
		const json = report[0].json as unknown as {
			variants: Array<{ variant: string; assigned: number; sent: number; campaignId: string }>;
			holdout: { assigned: number; conversions: number };
			summary: string;
		};
		expect(json.variants.map((v) => [v.variant, v.campaignId, v.assigned, v.sent])).toEqual([
			['A', 'wired:A', a.length, a.length],
			['B', 'wired:B', b.length, b.length],
		]);
		expect(json.holdout).toMatchObject({ assigned: holdout.length, conversions: 2 });
		expect(json.summary).toMatch(/not enough data yet/);
	});

	it('names the item and field of a bad design and writes nothing; with continue-on-fail the item goes to Holdout', async () => {
		await expect(
			runNode({
				nodeType: new AbSplit(),
				parameters: { ...split, holdout: 30 },
				items: [{ contact: { id: 'ab-1' } }],
				credentials,
			}),
		).rejects.toThrow(/add up to 110; they must add up to 100 \(percent\) \(item 0, field "variants"\)/);
		const [a, b, holdout] = await runNode({
			nodeType: new AbSplit(),
			parameters: { ...split, testId: 'bad test' },
			items: [{ contact: { id: 'ab-1' } }],
			credentials,
			continueOnFail: true,
		});
		expect([a.length, b.length]).toEqual([0, 0]);
		expect(holdout).toEqual([
			expect.objectContaining({
				json: { error: expect.stringMatching(/item 0, field "test"/) },
				pairedItem: { item: 0 },
			}),
		]);
		const [report] = await runNode({
			nodeType: new AbSplit(),
			parameters: { operation: 'report', testId: 'subject-test', variants },
			items: [{}],
			credentials,
		});
		// The failed runs assigned nobody: the counts are those of the first test's 60 contacts.
		const json = report[0].json as unknown as { variants: Array<{ assigned: number }>; holdout: { assigned: number } };
		expect(json.variants.reduce((s, v) => s + v.assigned, json.holdout.assigned)).toBe(ids.length);
	});

	it("sends the rest the winner after the decision: Rest output until decideAt, then the winner's output, mailed once", async () => {
		// 0.001 hours: the decision comes 3.6 seconds after the test's first split.
		const withRest = {
			...split,
			testId: 'rest-test',
			holdout: 10,
			rest: 10,
			decideAfterHours: 0.001,
			winnerMetric: 'conversion',
		};
		const runSplit = () =>
			runWorkflow({
				nodes: [{ name: 'Split', nodeType: new AbSplit(), parameters: withRest }, send('B')],
				connections: [['Split', 'Send B', 1]],
				items: ids.map((id) => ({ contact: { id } })),
				credentials,
			});
		const idsOf = (out: Array<{ json: Record<string, unknown> }>) =>
			out.map((i) => (i.json.contact as { id: string }).id);
		const first = await runSplit();
		const [a, b, , rest] = first.output('Split');
		const expected = ids.filter(
			(id) => drawVariant({ test: 'rest-test', variants: variants.variant, rest: 10 }, id) === REST,
		);
		expect(expected.length).toBeGreaterThan(0);
		expect(idsOf(rest)).toEqual(expected);
		const decideAt = (rest[0].json.experiment as { decideAt: string }).decideAt;
		expect(Date.parse(decideAt)).toBeGreaterThan(Date.now());
		expect(rest[0].json.experiment).toMatchObject({ variant: REST, rest: true, campaignId: null });
		// Like Send Campaign's Deferred items: the same hand-off (a Wait until sendAt) serves both.
		expect(rest.every((i) => i.json.sendAt === decideAt)).toBe(true);
		expect(first.output('Send B')[0]).toHaveLength(b.length);

		// B converts (one purchase), A not: B wins, though with too little data to be sure.
		await store.events.record([{ contactId: idsOf(b)[0], name: 'purchase' }]);
		await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(decideAt) - Date.now()) + 50));
		// Twice, as a retry would: the rest leaves by B's output both times, and is mailed once.
		for (const run of [await runSplit(), await runSplit()]) {
			const [againA, againB, , restNow] = run.output('Split');
			expect(restNow).toEqual([]);
			expect(idsOf(againA)).toEqual(idsOf(a));
			expect(idsOf(againB).sort()).toEqual([...idsOf(b), ...expected].sort());
			expect(againB.filter((i) => (i.json.experiment as { rest: boolean }).rest).map((i) => i.json.experiment)).toEqual(
				expected.map((contactId) =>
					expect.objectContaining({ contactId, variant: 'B', winner: 'B', campaignId: 'rest-test:rest', decideAt }),
				),
			);
		}
		const [report] = await runNode({
			nodeType: new AbSplit(),
			parameters: { operation: 'report', testId: 'rest-test', variants },
			items: [{}],
			credentials,
		});
		const json = report[0].json as unknown as {
			variants: Array<{ variant: string; sent: number }>;
			rest: { assigned: number; sent: number; campaignId: string };
			decision: { winner: string; metric: string; reason: string };
		};
		expect(json.variants.map((v) => [v.variant, v.sent])).toEqual([
			['A', 0],
			['B', b.length],
		]);
		expect(json.rest).toMatchObject({ assigned: expected.length, sent: expected.length, campaignId: 'rest-test:rest' });
		expect(json.decision).toMatchObject({ winner: 'B', metric: 'conversion' });
		expect(json.decision.reason).toMatch(/^B has the best conversion rate .*: sent as the best rate seen\.$/);
	});

	it('names the item and field of a bad rest or decision time, and with continue-on-fail the item goes to Holdout', async () => {
		await expect(
			runNode({
				nodeType: new AbSplit(),
				parameters: { ...split, testId: 'bad-rest', holdout: 10, rest: 10, decideAfterHours: 721 },
				items: [{ contact: { id: 'ab-1' } }],
				credentials,
			}),
		).rejects.toThrow(/at most 720 hours, got 721 \(item 0, field "decideAfterHours"\)/);
		const outputs = await runNode({
			nodeType: new AbSplit(),
			parameters: { ...split, testId: 'bad-rest', holdout: 0, rest: 100 },
			items: [{ contact: { id: 'ab-1' } }],
			credentials,
			continueOnFail: true,
		});
		expect(outputs.map((o) => o.length)).toEqual([0, 0, 1, 0]);
		expect(outputs[2][0].json.error).toMatch(/below 100 \(percent\), got 100 \(item 0, field "rest"\)/);
		expect(await store.call((r) => r.exists(store.keys.experimentDecision('bad-rest')))).toBe(0);
	});
});
