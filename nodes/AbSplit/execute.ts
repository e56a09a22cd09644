import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import {
	Experiments,
	type Assignment,
	type ChainLink,
	type ExperimentDesign,
	type VariantWeight,
	type WinnerMetric,
} from '../../lib';
import { chainOf, collect, perItem, routeResults, runBatch, runGrouped } from '../shared/items';
import { leaseStore } from '../shared/store';

interface SplitInput {
	design: ExperimentDesign;
	contactId: string;
	chain: ChainLink[];
}

function variantsOf(ctx: IExecuteFunctions, itemIndex: number): VariantWeight[] {
	const raw = ctx.getNodeParameter('variants', itemIndex, {}) as { variant?: VariantWeight[] };
	return raw.variant ?? [];
}

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const operation = this.getNodeParameter('operation', 0) as string;
	const lease = await leaseStore(this);
	try {
		const experiments = new Experiments(lease.store);
		if (operation === 'report') {
			const tests = perItem(this, (i) => ({
				test: this.getNodeParameter('testId', i) as string,
				variants: variantsOf(this, i).map((v) => v.name),
			}));
			const results = await runBatch(tests, (valid) => experiments.report(valid));
			return [collect(this, results, (report) => report as unknown as IDataObject)];
		}
		// The outputs the editor shows (description.ts configuredOutputs): the listed variants, Holdout,
		// then Rest when the test keeps one back.
		const layout = items.length ? variantsOf(this, 0).map((v) => v.name) : [];
		const holdoutOutput = layout.length;
		const restOutput = items.length && (this.getNodeParameter('rest', 0, 0) as number) ? holdoutOutput + 1 : undefined;
		const inputs = perItem(this, (i): SplitInput => ({
			design: {
				test: this.getNodeParameter('testId', i) as string,
				variants: variantsOf(this, i),
				holdout: this.getNodeParameter('holdout', i) as number,
				rest: this.getNodeParameter('rest', i, 0) as number,
				decideAfterHours: this.getNodeParameter('decideAfterHours', i, 24) as number,
				winnerMetric: this.getNodeParameter('winnerMetric', i, 'conversion') as WinnerMetric,
				goal: this.getNodeParameter('goal', i, '') as string,
				windowDays: this.getNodeParameter('windowDays', i) as number,
			},
			contactId: this.getNodeParameter('contactId', i) as string,
			chain: chainOf(this, i),
		}));
		const results = await runGrouped(
			inputs,
			(input) => JSON.stringify(input.design),
			(group) =>
				experiments.assign(
					group[0].design,
					group.map(({ contactId, chain }) => ({ contactId, chain })),
				),
		);
		// A failed item goes to Holdout: an item nothing could be decided about gets no mail. So does a
		// contact whose stored variant (or the rest's winner) is no longer listed (the list changed
		// during the test).
		const outputOf = (assignment: Assignment): number => {
			if (assignment.rest && !assignment.winner) return restOutput ?? holdoutOutput;
			const at = layout.indexOf(assignment.variant);
			return assignment.holdout || at < 0 ? holdoutOutput : at;
		};
		// Rest items waiting for the decision carry sendAt, like Send Campaign's Deferred items: the same
		// hand-off (a Wait until sendAt, then back into this node) serves both.
		return routeResults(this, results, (restOutput ?? holdoutOutput) + 1, holdoutOutput, (assignment, i) => {
			const json: IDataObject = { ...items[i].json, experiment: { ...assignment } };
			if (assignment.rest && !assignment.winner) json.sendAt = assignment.decideAt;
			return { output: outputOf(assignment), item: { json } };
		});
	} finally {
		lease.release();
	}
}
