import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import {
	ConflictError,
	NotFoundError,
	ValidationError,
	type ChangeMode,
	type ChangeResult,
	type Contact,
	type ContactInput,
	type ContactStore,
	type Result,
	topicsOf,
} from '../../lib';
import { chainOf, collect, perItem, runBatch, runGrouped } from './items';

// What the Contact node's operations (nodes/Contact/actions) share.

/**
 * Identify Contact By, Contact ID and Email, shown for the given resources (and operations): one set
 * per resource, shared by its operations, so saved workflows keep their displayOptions.
 */
export function identifyProperties(resources: string[], operations?: string[]): INodeProperties[] {
	const show = { resource: resources, ...(operations ? { operation: operations } : {}) };
	return [
		{
			displayName: 'Identify Contact By',
			name: 'identifyBy',
			type: 'options',
			displayOptions: { show },
			options: [
				{
					name: 'Contact ID',
					value: 'id',
					description: 'The ID the contact was created with (your CRM ID, or its e-mail address)',
				},
				{ name: 'Email', value: 'email', description: 'The e-mail address stored on the contact' },
			],
			default: 'id',
		},
		{
			displayName: 'Contact ID',
			name: 'contactId',
			type: 'string',
			required: true,
			displayOptions: { show: { ...show, identifyBy: ['id'] } },
			default: '',
			placeholder: 'e.g. crm-4711',
			description: 'ID of the contact, for example your CRM ID (up to 256 characters)',
		},
		{
			displayName: 'Email',
			name: 'email',
			type: 'string',
			required: true,
			displayOptions: { show: { ...show, identifyBy: ['email'] } },
			default: '',
			placeholder: 'name@email.com',
			description: 'E-mail address of the contact (case and surrounding spaces are ignored)',
		},
	];
}

/** displayOptions showing a property for a resource (and operations). */
export const showFor = (resource: string[], operation?: string[]) => ({
	show: { resource, ...(operation ? { operation } : {}) },
});

/** An operation of the Contact node (actions/<resource>/<operation>.operation.ts). */
export type OperationExecute = (this: IExecuteFunctions, store: ContactStore) => Promise<INodeExecutionData[]>;

/** Lib field names -> the parameter names users see in this node. */
export const LABELS: Record<string, string> = {
	id: 'Contact ID',
	contactId: 'Contact ID',
	email: 'Email',
	timezone: 'Time Zone',
	lifecycleStage: 'Lifecycle Stage',
	addTags: 'Tags',
	removeTags: 'Tags',
	fields: 'Fields',
	'subscription.status': 'Subscription Status',
	'subscription.source': 'Consent Source',
	'subscription.at': 'Consent Time',
	name: 'Event Name',
	properties: 'Properties',
	time: 'Time',
	idempotencyKey: 'Idempotency Key',
	source: 'Source',
};

/** Re-issues lib errors with the node's parameter name as field, so messages point at the UI. */
export function relabel<T>(
	results: Array<Result<T>>,
	fieldLabel: (field: string) => string = (f) => LABELS[f] ?? f,
): Array<Result<T>> {
	return results.map((result) => {
		if (result.ok) return result;
		const { error } = result;
		const field = (error as { field?: string }).field;
		if (field === undefined) return result;
		const label = fieldLabel(field);
		if (error instanceof ValidationError)
			return { ok: false, error: new ValidationError(label, error.message, error.hint) };
		if (error instanceof NotFoundError) return { ok: false, error: new NotFoundError(label, error.message) };
		if (error instanceof ConflictError) return { ok: false, error: new ConflictError(label, error.message) };
		return result;
	});
}

export interface Ref {
	id?: string;
	email?: string;
}

export function readRef(ctx: IExecuteFunctions, itemIndex: number): Ref {
	if (ctx.getNodeParameter('identifyBy', itemIndex) === 'email') {
		const email = ctx.getNodeParameter('email', itemIndex);
		if (email === '' || email === null || email === undefined) throw new ValidationError('email', 'Email is empty');
		return { email: String(email) };
	}
	const id = ctx.getNodeParameter('contactId', itemIndex);
	if (id === '' || id === null || id === undefined) throw new ValidationError('id', 'Contact ID is empty');
	return { id: String(id) };
}

export function options(ctx: IExecuteFunctions, itemIndex: number): IDataObject {
	return ctx.getNodeParameter('options', itemIndex, {}) as IDataObject;
}

/** A contact as an item: plain JSON, no undefined values. */
export function contactJson(contact: Contact): IDataObject {
	const topics = topicsOf(contact);
	return JSON.parse(JSON.stringify(Object.keys(topics).length > 0 ? { ...contact, topics } : contact)) as IDataObject;
}

function changesJson(change: ChangeResult): IDataObject[] {
	return change.events.map((event) => ({ event: event.name, ...event.props }));
}

/** Applies contact changes (grouped by write mode) and reads the contacts back: four round trips. */
export async function changeAndRead(
	store: ContactStore,
	inputs: Array<{ input: ContactInput; mode: ChangeMode } | Error>,
): Promise<Array<Result<{ change: ChangeResult; contact: Contact | null }>>> {
	const changed = await runGrouped(
		inputs,
		(i) => i.mode,
		(group, mode) =>
			store.contacts.change(
				group.map((v) => v.input),
				mode,
			),
	);
	const reads = await runBatch(
		changed.map((r) => (r.ok ? r.value.contactId : r.error)),
		(ids) => store.contacts.get(ids),
	);
	return changed.map((r, i) => {
		if (!r.ok) return r;
		const read = reads[i];
		return read.ok ? { ok: true, value: { change: r.value, contact: read.value } } : read;
	});
}

export function changeOutput(value: { change: ChangeResult; contact: Contact | null }): IDataObject {
	return {
		...(value.contact ? contactJson(value.contact) : { id: value.change.contactId }),
		created: value.change.created,
		changes: changesJson(value.change),
	};
}

export const emptyToUndefined = (value: unknown) => (value === '' || value === null ? undefined : value);

/** Contact ids for the items' references (by id as given, by e-mail through the index). */
export async function resolveRefs(store: ContactStore, refs: Array<Ref | Error>): Promise<Array<Result<string>>> {
	return runBatch(refs, (valid) => store.contacts.resolve(valid));
}

export const notFound = (ref: Ref): IDataObject => ({
	found: false,
	...(ref.id !== undefined ? { id: ref.id } : { email: ref.email }),
});

/** Adds or removes the items' tags (Tag resource). */
export async function changeTags(
	ctx: IExecuteFunctions,
	store: ContactStore,
	action: 'add' | 'remove',
): Promise<INodeExecutionData[]> {
	const inputs = perItem(ctx, (i) => {
		const ref = readRef(ctx, i);
		const list = ctx.getNodeParameter('tags', i);
		if (list === '' || (Array.isArray(list) && list.length === 0))
			throw new ValidationError('addTags', 'Tags is empty');
		const create = action === 'add' && options(ctx, i).createContact !== false;
		const input: ContactInput = {
			...ref,
			[action === 'add' ? 'addTags' : 'removeTags']: list,
			context: { source: 'n8n', chain: chainOf(ctx, i) },
		};
		return { input, mode: (create ? 'upsert' : 'update') as ChangeMode };
	});
	return collect(ctx, relabel(await changeAndRead(store, inputs)), changeOutput);
}

/** Records the items' consent or its withdrawal (Subscription resource). */
export async function changeSubscription(
	ctx: IExecuteFunctions,
	store: ContactStore,
	status: 'subscribed' | 'unsubscribed',
): Promise<INodeExecutionData[]> {
	const inputs = perItem(ctx, (i) => {
		const ref = readRef(ctx, i);
		const opts = options(ctx, i);
		const input: ContactInput = {
			...ref,
			subscription: {
				status: status === 'subscribed' && opts.pending === true ? 'pending' : status,
				source: ctx.getNodeParameter('consentSource', i) as string,
				at: emptyToUndefined(opts.consentAt),
			},
			context: { source: 'n8n', chain: chainOf(ctx, i) },
		};
		if (!input.subscription?.source) throw new ValidationError('subscription.source', 'Consent Source is empty');
		return { input, mode: (opts.createContact === false ? 'update' : 'upsert') as ChangeMode };
	});
	return collect(ctx, relabel(await changeAndRead(store, inputs)), changeOutput);
}
