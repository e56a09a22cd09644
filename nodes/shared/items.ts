import {
	NodeOperationError,
	type IExecuteFunctions,
	type INodeExecutionData,
	type IDataObject,
	type IBinaryKeyData,
	type INode,
} from 'n8n-workflow';
import {
	ConflictError,
	extendChain,
	NotFoundError,
	StoreUnavailableError,
	ValidationError,
	parseJson,
	type ChainLink,
	type Result,
} from '../../lib';

/** Turns a lib error into the NodeOperationError n8n shows, naming the item and the field. */
export function toNodeError(ctx: IExecuteFunctions, error: Error, itemIndex: number): NodeOperationError {
	if (error instanceof NodeOperationError) return error;
	const field = (error as { field?: string }).field;
	const hint = (error as ValidationError).hint;
	const where = field ? ` (item ${itemIndex}, field "${field}")` : ` (item ${itemIndex})`;
	let description: string | undefined = hint;
	if (error instanceof StoreUnavailableError)
		description =
			'Check the Contact Store credential and that Redis is running. A write cut off mid-flight may or may not have been applied; retrying is safe (changes are idempotent, events with an idempotency key are recorded once).';
	if (error instanceof NotFoundError && !hint)
		description = 'Create the contact first, or use an operation that creates it.';
	if (error instanceof ConflictError && !hint)
		description = 'Each e-mail address belongs to one contact. Update that contact, or erase it first.';
	return new NodeOperationError(ctx.getNode(), `${error.message}${where}`, { itemIndex, description });
}

/**
 * The one error-item policy of every node in the pack. Without "continue" the item's error stops
 * the node (thrown here). With it, the failed item comes back paired with its input as
 * `{error: message, details: hint}`. Why this shape: with On Error "continue (using error output)"
 * n8n (WorkflowExecute.handleNodeErrorOutput) moves an item from any regular output to the error
 * output, merging the input item's fields back in, when its json has `error` and no keys but
 * `error`, `message` and `details`; so the hint is `details`, not `description`. The NodeOperationError
 * is not put on the item: n8n would then replace the json with `{error}` (normalizeNodeErrors) and
 * the hint would be lost under "continue (regular output)".
 */
export function errorItem(ctx: IExecuteFunctions, error: Error, itemIndex: number): INodeExecutionData {
	const nodeError = toNodeError(ctx, error, itemIndex);
	if (!ctx.continueOnFail()) throw nodeError;
	return {
		json: { error: nodeError.message, ...(nodeError.description ? { details: nodeError.description } : {}) },
		pairedItem: { item: itemIndex },
	};
}

/** An output item of a node: json and binary, paired with its input item by routeResults/collect. */
export interface OutputItem {
	json: IDataObject;
	binary?: IBinaryKeyData;
}

/**
 * Spreads the results of a batch over a node's outputs: each result where `place` puts it (paired
 * with its input item), each failure as its errorItem on `errorOutput` (the output where an item
 * nothing could be decided about is safest, e.g. Blocked or Not Matched).
 */
export function routeResults<T>(
	ctx: IExecuteFunctions,
	results: Array<Result<T>>,
	outputCount: number,
	errorOutput: number,
	place: (value: T, itemIndex: number) => { output: number; item: OutputItem },
): INodeExecutionData[][] {
	const outputs = emptyOutputs(outputCount);
	for (let itemIndex = 0; itemIndex < results.length; itemIndex++) {
		const result = results[itemIndex];
		if (!result.ok) outputs[errorOutput].push(errorItem(ctx, result.error, itemIndex));
		else {
			const { output, item } = place(result.value, itemIndex);
			outputs[output].push(pairedOutput(item, itemIndex));
		}
	}
	return outputs;
}

/**
 * routeResults for a node that routes its input items unchanged (json and binary): each to the
 * output `outputOf` names, with no object per item but the output item.
 */
export function routeInputs<T>(
	ctx: IExecuteFunctions,
	results: Array<Result<T>>,
	outputCount: number,
	errorOutput: number,
	outputOf: (value: T, itemIndex: number) => number,
): INodeExecutionData[][] {
	const items = ctx.getInputData();
	const outputs = emptyOutputs(outputCount);
	for (let itemIndex = 0; itemIndex < results.length; itemIndex++) {
		const result = results[itemIndex];
		if (!result.ok) outputs[errorOutput].push(errorItem(ctx, result.error, itemIndex));
		else outputs[outputOf(result.value, itemIndex)].push(pairedOutput(items[itemIndex], itemIndex));
	}
	return outputs;
}

const emptyOutputs = (count: number): INodeExecutionData[][] => Array.from({ length: count }, () => []);

/** An output item paired with its input item. */
function pairedOutput(item: OutputItem, itemIndex: number): INodeExecutionData {
	// Built field by field: an object spread here cost microseconds per item (Node 20), tens of
	// milliseconds on a 10,000-item batch.
	const out: INodeExecutionData = { json: item.json, pairedItem: { item: itemIndex } };
	if (item.binary !== undefined) out.binary = item.binary;
	return out;
}

/** The one output of a batch: each item's result (one or several items, paired with its input) or its errorItem. */
export function collect<T>(
	ctx: IExecuteFunctions,
	results: Array<Result<T>>,
	toJson: (value: T, itemIndex: number) => IDataObject | IDataObject[],
): INodeExecutionData[] {
	const out: INodeExecutionData[] = [];
	results.forEach((result, itemIndex) => {
		if (!result.ok) {
			out.push(errorItem(ctx, result.error, itemIndex));
			return;
		}
		const json = toJson(result.value, itemIndex);
		for (const one of Array.isArray(json) ? json : [json]) out.push({ json: one, pairedItem: { item: itemIndex } });
	});
	return out;
}

/** Reads a parameter for every item, keeping per-item failures (bad expression, wrong type) as errors. */
export function perItem<T>(ctx: IExecuteFunctions, build: (itemIndex: number) => T): Array<T | Error> {
	return ctx.getInputData().map((_, itemIndex) => {
		try {
			return build(itemIndex);
		} catch (error) {
			return error as Error;
		}
	});
}

/**
 * Reads a parameter for an item: once for all items when it holds no expression (its value is then
 * the same for every item), per item otherwise. `node`: ctx.getNode(), which copies the node: once.
 */
export function parameterReader<T>(
	ctx: IExecuteFunctions,
	node: INode,
	name: string,
	fallback: T,
): (itemIndex: number) => T {
	const read = (itemIndex: number) => ctx.getNodeParameter(name, itemIndex, fallback) as T;
	if (hasExpression(node.parameters[name])) return read;
	let once: { value: T } | undefined;
	return (itemIndex) => (once ??= { value: read(itemIndex) }).value;
}

/**
 * Reads a JSON text parameter; a value n8n already resolved from an expression is returned as it is.
 * Bad JSON is a ValidationError like any other bad input: the node names the field as users see it,
 * and toNodeError makes it the item's NodeOperationError.
 */
export function parseJsonParameter(value: unknown, field: string, label: string): unknown {
	if (typeof value !== 'string') return value;
	const parsed = parseJson(value);
	if (!parsed.ok) throw new ValidationError(field, `${label} is not valid JSON`);
	return parsed.value;
}

/** Reads a JSON object parameter (text, or an object from an expression); empty is {}. */
export function jsonParameter(value: unknown, field: string): IDataObject {
	if (value === undefined || value === null || value === '') return {};
	const parsed = parseJsonParameter(value, field, `"${field}"`);
	if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
		throw new ValidationError(field, `"${field}" must be a JSON object`);
	return parsed as IDataObject;
}

/**
 * The one grouping helper: runs a batch lib call per group of the inputs read without error that
 * share a key (a compiled model or segment, a write mode, a campaign), and lines the results up with
 * the inputs again; an input that is an Error stays that item's error. Groups run concurrently, so
 * their calls share round trips, unless `oneAtATime` (a later group must see what an earlier one
 * wrote). A group whose call throws fails its items, not the others.
 */
export async function runGrouped<T, K, R>(
	inputs: Array<T | Error>,
	keyOf: (input: T) => K,
	call: (group: T[], key: K) => Promise<Array<Result<R>>>,
	options: { oneAtATime?: boolean } = {},
): Promise<Array<Result<R>>> {
	const groups = new Map<K, number[]>();
	inputs.forEach((input, index) => {
		if (input instanceof Error) return;
		const key = keyOf(input);
		const group = groups.get(key);
		if (group) group.push(index);
		else groups.set(key, [index]);
	});
	const results: Array<Result<R>> = new Array(inputs.length);
	inputs.forEach((input, index) => {
		if (input instanceof Error) results[index] = { ok: false, error: input };
	});
	const runGroup = async ([key, indexes]: [K, number[]]) => {
		let out: Array<Result<R>>;
		try {
			out = await call(
				indexes.map((i) => inputs[i] as T),
				key,
			);
		} catch (error) {
			out = indexes.map(() => ({ ok: false, error: error instanceof Error ? error : new Error(String(error)) }));
		}
		indexes.forEach((itemIndex, n) => (results[itemIndex] = out[n]));
	};
	if (options.oneAtATime) for (const group of groups) await runGroup(group);
	else await Promise.all([...groups].map(runGroup));
	return results;
}

/** Runs one batch lib call on the inputs read without error (runGrouped with a single group). */
export async function runBatch<T, R>(
	inputs: Array<T | Error>,
	call: (valid: T[]) => Promise<Array<Result<R>>>,
): Promise<Array<Result<R>>> {
	return runGrouped(inputs, () => 0, call);
}

const present = (v: unknown) => v !== undefined && v !== null && v !== '';

/**
 * The contact of an input item without expressions: `contact.id` (Contact Trigger), `contactId`
 * (Contact node), or `id`. Reading it directly skips n8n's per-item expression evaluation.
 */
export function contactIdOf(json: IDataObject): string {
	const contact = json.contact as IDataObject | undefined;
	const id =
		contact && typeof contact === 'object' && present(contact.id)
			? contact.id
			: present(json.contactId)
				? json.contactId
				: json.id;
	if (!present(id))
		throw new ValidationError(
			'contactId',
			'The item has no contact ID (looked for contact.id, contactId and id)',
			'Map the Contact ID with "Define Below".',
		);
	return String(id);
}

/** Whether a raw node parameter value holds an n8n expression anywhere. */
export function hasExpression(value: unknown): boolean {
	if (typeof value === 'string') return value.startsWith('=');
	if (Array.isArray(value)) return value.some(hasExpression);
	if (value && typeof value === 'object') return Object.values(value).some(hasExpression);
	return false;
}

/** The Contact Trigger's node type name (its items carry the event they were started for). */
export const CONTACT_TRIGGER_NAME = 'contactTrigger';

/** The chain events recorded for an item carry: the item's `$chain` plus this workflow (lib/loops extendChain). */
export function chainOf(ctx: IExecuteFunctions, itemIndex: number): ChainLink[] {
	const workflowId = ctx.getWorkflow().id;
	const executionId = ctx.getExecutionId();
	const current =
		workflowId === undefined
			? undefined
			: { workflowId: String(workflowId), ...(executionId ? { executionId: String(executionId) } : {}) };
	return extendChain(ctx.getInputData()[itemIndex]?.json?.$chain, current);
}
