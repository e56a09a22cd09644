import { randomUUID } from 'crypto';
import { shardOf } from '../../lib/keys';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { EngagementTagger } from '../../nodes/EngagementTagger/EngagementTagger.node';
import { storeConfigFrom } from '../../nodes/shared/store';
import { compileFilter, latestMatching } from '../../lib/triggers';
import { contactStoreCredentials, runNode } from '../harness/n8n';
import { topologies } from '../harness/store';
import { monitorCommands } from '../harness/redis';

afterAll(() => closeAllStores());
const DAY = 86_400_000;

describe.each(topologies)('Engagement Tagger node (n8n engine) on %s Redis', (topology) => {
	const credentials = contactStoreCredentials(topology, `etn${randomUUID().slice(0, 6)}:`);
	const { store, release } = acquireStore(storeConfigFrom(credentials.contactStoreApi));
	afterAll(() => release());
	const ago = (days: number) => Date.now() - days * DAY;

	it('per contact: tiers each item, keeps its fields, pairs items, carries the chain onto $tier_changed', async () => {
		await store.events.record([
			{ contactId: 'p-new', name: 'login', time: ago(1) },
			{ contactId: 'p-mid', name: 'login', time: ago(45) },
			{ contactId: 'p-old', name: 'login', time: ago(90) },
		]);
		const [out] = await runNode({
			nodeType: new EngagementTagger(),
			parameters: { mode: 'contact' },
			items: [
				{ contact: { id: 'p-new' }, keep: 1 },
				{ contactId: 'p-mid' },
				{ id: 'p-old', $chain: [{ workflowId: 'wf-up', executionId: '5' }] },
			],
			credentials,
			workflowId: 'wf-tier',
		});
		expect(out.map((i) => [(i.json.engagement as { tier: string }).tier, i.pairedItem])).toEqual([
			['Engaged', { item: 0 }],
			['Disengaged', { item: 1 }],
			['Inactive', { item: 2 }],
		]);
		expect(out[0].json).toMatchObject({ keep: 1, engagement: { changed: true, previousTier: null } });
		const [event] = await latestMatching(store, compileFilter({ kind: 'tierChanged', to: ['Inactive'] }));
		expect(event.contactId).toBe('p-old');
		expect(event.chain.map((l) => l.workflowId)).toEqual(['wf-up', 'wf-tier']);
	});

	it('custom tier names, boundaries and interaction events', async () => {
		await store.events.record([
			{ contactId: 'c-1', name: 'purchase', time: ago(20) },
			{ contactId: 'c-1', name: 'pageview', time: ago(1) },
		]);
		const [out] = await runNode({
			nodeType: new EngagementTagger(),
			parameters: {
				mode: 'contact',
				tierNames: 'Hot, Warm, Cold',
				boundaryDays: '7, 14',
				interactionEvents: 'purchase',
			},
			items: [{ contactId: 'c-1' }],
			credentials,
		});
		expect(out[0].json.engagement).toMatchObject({ tier: 'Cold' });
		expect((await store.contacts.getOne('c-1'))?.tags).toEqual(['Cold']);
	});

	it('names the item and field of bad input; continue-on-fail keeps going', async () => {
		await expect(
			runNode({
				nodeType: new EngagementTagger(),
				parameters: { mode: 'contact', boundaryDays: '30, abc' },
				items: [{ contactId: 'p-new' }],
				credentials,
			}),
		).rejects.toThrow(/item 0, field "boundaryDays"/);
		await expect(
			runNode({
				nodeType: new EngagementTagger(),
				parameters: { mode: 'contact' },
				items: [{ contactId: 'p-new' }, { contactId: 'ghost-x' }],
				credentials,
			}),
		).rejects.toThrow(/item 1, field "contactId"/);
		const [out] = await runNode({
			nodeType: new EngagementTagger(),
			parameters: { mode: 'contact', tierNames: '={{ $json.names }}' },
			items: [
				{ contactId: 'p-new', names: 'A, B, C' },
				{ contactId: 'p-new', names: 'A' },
			],
			credentials,
			continueOnFail: true,
		});
		expect(out[0].json.engagement).toMatchObject({ tier: 'A' });
		expect(out[1].json.error).toMatch(/item 1, field "tierNames"/);
	});

	it('under "continue (using error output)" failed items, with their details, go to the error output', async () => {
		const unreachable = {
			contactStoreApi: { ...credentials.contactStoreApi, host: '127.0.0.1', port: 1, clusterNodes: '' },
		};
		const [tagged, failed] = await runNode({
			nodeType: new EngagementTagger(),
			parameters: { mode: 'contact' },
			items: [{ contactId: 'a' }, { contactId: 'b' }],
			credentials: unreachable,
			onError: 'continueErrorOutput',
		});
		expect(tagged).toEqual([]);
		expect(failed.map((i) => [i.pairedItem, i.json])).toEqual(
			[0, 1].map((item) => [
				{ item },
				{
					error: expect.stringMatching(new RegExp(`could not be reached.*item ${item}`)),
					details: expect.stringMatching(/Contact Store credential/),
				},
			]),
		);
	});

	it('whole base: the first run tiers everyone, the next ones output only contacts whose tier changed', async () => {
		const params = {
			mode: 'wholeBase',
			runName: 'nightly',
			tierNames: 'Engaged, Disengaged, Inactive',
			boundaryDays: '30, 60',
		};
		const summary = await runNode({
			nodeType: new EngagementTagger(),
			parameters: { ...params, output: 'summary' },
			credentials,
		});
		expect(summary[0][0].json).toMatchObject({ firstRun: true });
		expect(summary[0][0].json.changed).toBeGreaterThanOrEqual(1);
		const again = await runNode({ nodeType: new EngagementTagger(), parameters: params, credentials });
		expect(again[0]).toEqual([]);
		await store.events.record([{ contactId: 'p-old', name: 'comeback' }]);
		const [changed] = await runNode({ nodeType: new EngagementTagger(), parameters: params, credentials });
		expect(changed.map((i) => i.json)).toEqual([
			expect.objectContaining({ contactId: 'p-old', previousTier: 'Inactive', tier: 'Engaged' }),
		]);
		expect(changed[0].pairedItem).toEqual({ item: 0 });
	});
});

describe('Engagement Tagger node: round trips', () => {
	const credentials = contactStoreCredentials('standalone', `etr${randomUUID().slice(0, 6)}:`);
	const creds = credentials.contactStoreApi;
	const { store, release } = acquireStore(storeConfigFrom(creds));
	afterAll(() => release());

	/** The set_tier script calls Redis sees for this test's keys during `run` (MONITOR on the real server). */
	const scriptCalls = async (run: () => Promise<unknown>): Promise<number> =>
		(
			await monitorCommands(
				{ host: String(creds.host), port: Number(creds.port) },
				(args) => /^eval(sha)?$/i.test(args[0]) && String(args[3]).startsWith(String(creds.keyPrefix)),
				run,
			)
		).length;

	it('tags a batch whose items each carry their own chain and settings with one script call per shard, not per item', async () => {
		const ids = Array.from({ length: 40 }, (_, i) => `rt-${i}`);
		await store.events.record(ids.map((contactId) => ({ contactId, name: 'login' })));
		// Per-item chains and two different tier settings (expressions): nothing the items share.
		const items = ids.map((contactId, i) => ({
			contactId,
			names: i % 2 ? 'A, B' : 'X, Y',
			$chain: [{ workflowId: 'up', executionId: String(i) }],
		}));
		const parameters = { mode: 'contact', tierNames: '={{ $json.names }}', boundaryDays: '30' };
		await runNode({ nodeType: new EngagementTagger(), parameters, items, credentials }); // scripts loaded
		let out: Awaited<ReturnType<typeof runNode>> = [];
		const calls = await scriptCalls(
			async () => (out = await runNode({ nodeType: new EngagementTagger(), parameters, items, credentials })),
		);
		expect(out[0].map((i) => (i.json.engagement as { tier: string }).tier)).toEqual(
			ids.map((_, i) => (i % 2 ? 'A' : 'X')),
		);
		expect(calls).toBe(new Set(ids.map((id) => shardOf(id))).size);
	});
});
