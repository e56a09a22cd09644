import { NodeOperationError, type IDataObject, type IExecuteFunctions, type INodeExecutionData } from 'n8n-workflow';
import { EngagementTagger, checkTierConfig, type TierConfig, type TierResult } from '../../lib';
import { chainOf, collect, errorItem, perItem, runBatch, toNodeError } from '../shared/items';
import { leaseStore } from '../shared/store';

const SOURCE = 'engagement-tagger';

const splitList = (text: unknown) =>
	String(text ?? '')
		.split(',')
		.map((s) => s.trim())
		.filter(Boolean);

function readConfig(ctx: IExecuteFunctions, itemIndex: number, withEvents: boolean): TierConfig {
	const days = splitList(ctx.getNodeParameter('boundaryDays', itemIndex)).map((d) =>
		/^\d+(\.\d+)?$/.test(d) ? Number(d) : NaN,
	);
	return checkTierConfig({
		names: splitList(ctx.getNodeParameter('tierNames', itemIndex)),
		boundaryDays: days,
		interactionEvents: withEvents ? splitList(ctx.getNodeParameter('interactionEvents', itemIndex, '')) : [],
	});
}

const toJson = (r: TierResult): IDataObject => ({
	contactId: r.contactId,
	tier: r.tier,
	previousTier: r.previous,
	changed: r.changed,
	lastInteractionAt: r.lastInteractionAt,
});

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const mode = this.getNodeParameter('mode', 0) as string;
	const lease = await leaseStore(this);
	try {
		const tagger = new EngagementTagger(lease.store);
		if (mode === 'wholeBase') return [await wholeBase(this, tagger)];
		if (mode !== 'contact') throw new NodeOperationError(this.getNode(), `"${mode}" is not a mode`);
		const inputs = perItem(this, (i) => ({
			contactId: this.getNodeParameter('contactId', i) as string,
			config: readConfig(this, i, true),
			chain: chainOf(this, i),
		}));
		// Each item may carry its own settings (expressions) and chain: still one batch call.
		const results = await runBatch(inputs, (valid) => tagger.tagEach(valid, SOURCE));
		const items = this.getInputData();
		return [collect(this, results, (r, i) => ({ ...items[i].json, engagement: toJson(r) }))];
	} finally {
		lease.release();
	}
}

/** Whole-base mode: runs once, on the first input item's parameters. */
async function wholeBase(ctx: IExecuteFunctions, tagger: EngagementTagger): Promise<INodeExecutionData[]> {
	let config: TierConfig;
	try {
		config = readConfig(ctx, 0, false);
	} catch (error) {
		throw toNodeError(ctx, error as Error, 0);
	}
	const runName =
		(ctx.getNodeParameter('runName', 0, '') as string) || `${ctx.getWorkflow().id ?? 'manual'}:${ctx.getNode().id}`;
	try {
		const summaryOnly = ctx.getNodeParameter('output', 0, 'changed') === 'summary';
		let changedCount = 0;
		const run = await tagger.runWholeBase(runName, config, {
			context: { source: SOURCE, chain: chainOf(ctx, 0) },
			keepChanges: !summaryOnly,
			onPage: (page) => void (changedCount += page.length),
		});
		if (summaryOnly) {
			return [
				{
					json: {
						changed: changedCount,
						examined: run.examined,
						firstRun: run.firstRun,
						runAt: run.ranAt,
						previousRunAt: run.previousRunAt,
					},
					pairedItem: { item: 0 },
				},
			];
		}
		return run.changed.map((r) => ({
			json: { ...toJson(r), runAt: run.ranAt, previousRunAt: run.previousRunAt },
			pairedItem: { item: 0 },
		}));
	} catch (error) {
		return [errorItem(ctx, error as Error, 0)];
	}
}
