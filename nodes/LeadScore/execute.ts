import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { compileModel, Scoring, type CompiledModel, type ScoreInput } from '../../lib/scoring';
import {
	chainOf,
	contactIdOf,
	hasExpression,
	jsonParameter,
	perItem,
	routeResults,
	runGrouped,
	toNodeError,
} from '../shared/items';
import { eventOf, readModel, stringOrEmpty } from '../shared/scoreModel';
import { leaseStore } from '../shared/store';
import { GRADE_CHANGED, SCORED } from './description';

const MODEL_PARAMETERS = ['model', 'rulesInput', 'rules', 'rulesJson', 'decay', 'decayDays', 'grades'];

// Compiled models without expressions, by raw parameters: reading and compiling them is most of the
// node's own work on a webhook batch. Bounded: edited workflows leave old entries behind.
const STATIC_MODELS_KEPT = 100;
const staticModels = new Map<string, CompiledModel>();

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const operation = this.getNodeParameter('operation', 0) as string;
	const route = this.getNodeParameter('routeGradeChanges', 0, false) as boolean;
	// A model with expressions (points from the item...) is read per item, sharing one
	// compilation between items that resolve alike; one without is read and compiled once and
	// kept across executions, keyed by its raw parameters.
	const compiledByModel = new Map<string, CompiledModel>();
	const modelFor = (i: number): CompiledModel => {
		const raw = readModel(this, i);
		const key = JSON.stringify(raw);
		let compiled = compiledByModel.get(key);
		if (!compiled) compiledByModel.set(key, (compiled = compileModel(raw)));
		return compiled;
	};
	// getNode() deep-copies the node: once.
	const node = this.getNode();
	const modelParameters = MODEL_PARAMETERS.map((name) => node.parameters[name]);
	let shared: CompiledModel | undefined;
	if (!hasExpression(modelParameters)) {
		const key = JSON.stringify([node.typeVersion, modelParameters]);
		shared = staticModels.get(key);
		if (!shared) {
			try {
				shared = modelFor(0);
			} catch (error) {
				throw toNodeError(this, error as Error, 0);
			}
			if (staticModels.size >= STATIC_MODELS_KEPT) staticModels.clear();
			staticModels.set(key, shared);
		}
	}
	const fromItem = this.getNodeParameter('input', 0, 'item') === 'item';
	// Items without a $chain (not from a Contact Trigger) all carry just this workflow.
	let ownChain: ReturnType<typeof chainOf> | undefined;
	const inputs = perItem(this, (i): ScoreInput & { model: CompiledModel } => {
		const json = items[i].json;
		// The item's $chain plus this workflow go with $grade_changed, for Loop Guard.
		const input: ScoreInput & { model: CompiledModel } = {
			contactId: fromItem ? contactIdOf(json) : (this.getNodeParameter('contactId', i) as string),
			source: 'lead-score',
			chain: json.$chain === undefined ? (ownChain ??= chainOf(this, i)) : chainOf(this, i),
			model: shared ?? modelFor(i),
		};
		if (operation === 'scoreEvent') {
			input.event = fromItem
				? eventOf(json)
				: {
						name: this.getNodeParameter('eventName', i) as string,
						id: stringOrEmpty(this.getNodeParameter('eventId', i, '')),
						time: this.getNodeParameter('eventTime', i, '') as string,
						properties: jsonParameter(this.getNodeParameter('eventProperties', i, {}), 'eventProperties'),
					};
		}
		return input;
	});
	const lease = await leaseStore(this);
	try {
		const scoring = new Scoring(lease.store);
		// Items grouped by their model; all groups share one round trip.
		const results = await runGrouped(
			inputs,
			(input) => input.model,
			(group, model) => scoring.score(model, group),
		);
		return routeResults(this, results, route ? 2 : 1, SCORED, (leadScore, i) => {
			// Object.assign, not a spread: a spread per item cost microseconds (Node 20).
			const json: IDataObject = Object.assign({}, items[i].json);
			json.leadScore = leadScore as unknown as IDataObject;
			return { output: route && leadScore.changed ? GRADE_CHANGED : SCORED, item: { json } };
		});
	} finally {
		lease.release();
	}
}
