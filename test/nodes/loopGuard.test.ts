import { closeAllStores } from '../../lib/redis/pool';
import { LoopGuard } from '../../nodes/LoopGuard/LoopGuard.node';
import { contactStoreCredentials, runNode, runWorkflow } from '../harness/n8n';
import { topologies } from '../harness/store';

afterAll(() => closeAllStores());

describe.each(topologies)('Loop Guard node (n8n engine) on %s Redis', (topology) => {
	const credentials = contactStoreCredentials(topology);
	const base = { keyType: 'contact', scope: 'workflow', maxEntries: 1, window: 24, windowUnit: 'hours' };

	it('routes the first entry to Continue and a repeat to Blocked with the reason, keeping the item', async () => {
		const [pass, blocked] = await runNode({
			nodeType: new LoopGuard(),
			parameters: base,
			items: [
				{ contact: { id: 'n-1' }, note: 'first' },
				{ contact: { id: 'n-1' }, note: 'again' },
				{ contact: { id: 'n-2' } },
			],
			credentials,
			workflowId: 'wf-node',
		});
		expect(pass.map((i) => [i.json.note ?? null, i.pairedItem])).toEqual([
			['first', { item: 0 }],
			[null, { item: 2 }],
		]);
		expect(blocked).toHaveLength(1);
		expect(blocked[0].pairedItem).toEqual({ item: 1 });
		expect(blocked[0].json).toMatchObject({ note: 'again', loopGuard: { blocked: true, reason: 'rateLimit' } });
		expect(blocked[0].json.loopGuard).toHaveProperty('retryAt');
	});

	it('blocks a cycle from the item $chain and a too deep chain', async () => {
		const [pass, blocked] = await runNode({
			nodeType: new LoopGuard(),
			parameters: { ...base, maxEntries: 0, options: { maxDepth: 2 } },
			items: [
				{ contact: { id: 'n-3' }, $chain: [{ workflowId: 'wf-B' }, { workflowId: 'wf-cyc' }] },
				{ contact: { id: 'n-4' }, $chain: [{ workflowId: 'x' }, { workflowId: 'y' }] },
				{ contact: { id: 'n-5' }, $chain: [{ workflowId: 'x' }] },
			],
			credentials,
			workflowId: 'wf-cyc',
		});
		expect(blocked.map((i) => (i.json.loopGuard as { reason: string }).reason)).toEqual(['cycle', 'maxDepth']);
		expect(pass.map((i) => (i.json.contact as { id: string }).id)).toEqual(['n-5']);
	});

	it('custom key, named group across two workflows, cool-down option', async () => {
		const params = {
			keyType: 'custom',
			customKey: '={{ $json.order }}',
			scope: 'group',
			groupName: 'promo',
			maxEntries: 5,
			window: 1,
			windowUnit: 'days',
			options: { cooldownMinutes: 10 },
		};
		const first = await runNode({
			nodeType: new LoopGuard(),
			parameters: params,
			items: [{ order: 'o-1' }],
			credentials,
			workflowId: 'A',
		});
		const second = await runNode({
			nodeType: new LoopGuard(),
			parameters: params,
			items: [{ order: 'o-1' }, { order: 'o-2' }],
			credentials,
			workflowId: 'B',
		});
		expect(first[0]).toHaveLength(1);
		expect(second[0].map((i) => i.json.order)).toEqual(['o-2']);
		expect(second[1][0].json.loopGuard).toMatchObject({ reason: 'cooldown' });
	});

	it('names the item and field of a bad input; with continue-on-fail the item goes to Blocked', async () => {
		await expect(
			runNode({
				nodeType: new LoopGuard(),
				parameters: base,
				items: [{ contact: { id: 'ok' } }, { nothing: true }],
				credentials,
			}),
		).rejects.toThrow(/item 1, field "key"/);
		const [pass, blocked] = await runNode({
			nodeType: new LoopGuard(),
			parameters: { ...base, scope: 'group', groupName: '={{ $json.group ?? "" }}' },
			items: [{ contact: { id: 'g' } }],
			credentials,
			continueOnFail: true,
		});
		expect(pass).toHaveLength(0);
		expect(blocked).toEqual([
			expect.objectContaining({
				json: { error: expect.stringMatching(/item 0, field "scope.name"/) },
				pairedItem: { item: 0 },
			}),
		]);
		// Under "continue (using error output)" n8n moves it to its error output: neither Continue nor Blocked.
		const outputs = await runNode({
			nodeType: new LoopGuard(),
			parameters: { ...base, scope: 'group', groupName: '={{ "" }}' },
			items: [{ contact: { id: 'g' } }, { contact: { id: 'h' } }],
			credentials,
			onError: 'continueErrorOutput',
		});
		expect(outputs.map((output) => output.map((i) => i.pairedItem))).toEqual([[], [], [{ item: 0 }, { item: 1 }]]);
	});

	it('feeds the two outputs to different nodes in a workflow', async () => {
		const run = await runWorkflow({
			nodes: [
				{ name: 'Guard', nodeType: new LoopGuard(), parameters: base },
				{ name: 'Again', nodeType: new LoopGuard(), parameters: { ...base, scope: 'group', groupName: 'after' } },
			],
			connections: [['Guard', 'Again', 1]],
			items: [{ contact: { id: 'wf-1' } }, { contact: { id: 'wf-1' } }],
			credentials,
		});
		expect(run.output('Guard').map((b) => b.length)).toEqual([1, 1]);
		// Only the blocked item reached the second guard.
		expect(run.output('Again')[0]).toHaveLength(1);
	});
});
