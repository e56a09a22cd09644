import {
	NodeOperationError,
	type IExecuteFunctions,
	type INodeExecutionData,
	type IDataObject,
} from 'n8n-workflow';
import { ConflictError, NotFoundError, StoreUnavailableError, ValidationError, parseJson, type Result } from '../../lib';

/** Turns a lib error into the NodeOperationError n8n shows, naming the item and the field. */
export function toNodeError(ctx: IExecuteFunctions, error: Error, itemIndex: number): NodeOperationError {
	if (error instanceof NodeOperationError) return error;
	const field = (error as { field?: string }).field;
	const hint = (error as ValidationError).hint;
	const where = field ? ` (item ${itemIndex}, field "${field}")` : ` (item ${itemIndex})`;
	let description: string | undefined = hint;
	if (error instanceof StoreUnavailableError) description = 'Check the Contact Store credential and that Redis is running. A write cut off mid-flight may or may not have been applied; retrying is safe (changes are idempotent, events with an idempotency key are recorded once).';
	if (error instanceof NotFoundError && !hint) description = 'Create the contact first, or use an operation that creates it.';
	if (error instanceof ConflictError && !hint) description = 'Each e-mail address belongs to one contact. Update that contact, or erase it first.';
	return new NodeOperationError(ctx.getNode(), `${error.message}${where}`, { itemIndex, description });
}

/**
 * Builds the output of a batch: each item either its result (paired with its input) or, under
 * "continue on fail", its error; without it, the first error stops the node as n8n does.
 */
export function collect<T>(
	ctx: IExecuteFunctions,
	results: Array<Result<T>>,
	toJson: (value: T, itemIndex: number) => IDataObject | IDataObject[],
): INodeExecutionData[] {
	const out: INodeExecutionData[] = [];
	results.forEach((result, itemIndex) => {
		if (result.ok) {
			const json = toJson(result.value, itemIndex);
			for (const one of Array.isArray(json) ? json : [json]) out.push({ json: one, pairedItem: { item: itemIndex } });
			return;
		}
		const error = toNodeError(ctx, result.error, itemIndex);
		if (!ctx.continueOnFail()) throw error;
		out.push({
			json: { error: error.message, ...(error.description ? { description: error.description } : {}) },
			pairedItem: { item: itemIndex },
		});
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
	if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ValidationError(field, `"${field}" must be a JSON object`);
	return parsed as IDataObject;
}

/**
 * Runs a batch lib call on the items whose parameters were read without error, and lines the
 * results up with the input items again.
 */
export async function runBatch<T, R>(
	inputs: Array<T | Error>,
	call: (valid: T[]) => Promise<Array<Result<R>>>,
): Promise<Array<Result<R>>> {
	const valid: T[] = [];
	for (const input of inputs) if (!(input instanceof Error)) valid.push(input);
	const results = valid.length > 0 ? await call(valid) : [];
	let next = 0;
	return inputs.map((input) => (input instanceof Error ? { ok: false, error: input } : results[next++]));
}

/**
 * Runs a batch lib call per group of inputs sharing a key (a compiled model or segment), all
 * groups at once (one round trip), and lines the results up with the inputs again.
 */
export async function runGrouped<T, K, R>(inputs: T[], keyOf: (input: T) => K, call: (key: K, group: T[]) => Promise<Array<Result<R>>>): Promise<Array<Result<R>>> {
	const groups = new Map<K, number[]>();
	inputs.forEach((input, i) => {
		const key = keyOf(input);
		const group = groups.get(key);
		if (group) group.push(i);
		else groups.set(key, [i]);
	});
	const out: Array<Result<R>> = new Array(inputs.length);
	await Promise.all(
		[...groups].map(async ([key, indexes]) => {
			const results = await call(key, indexes.map((i) => inputs[i]));
			results.forEach((result, k) => (out[indexes[k]] = result));
		}),
	);
	return out;
}
