import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import {
	ConflictError,
	NotFoundError,
	SUPPRESSED_STATUSES,
	ValidationError,
	type ChangeMode,
	type ChangeResult,
	type Contact,
	type ContactInput,
	type ContactStore,
	type EventInput,
	type FieldType,
	type Result,
} from '../../lib';
import { Campaigns } from '../../lib/campaigns';
import { DEFAULT_SOFT_BOUNCE_LIMIT, Inbound, parseInbound, rebuildMessage, type RecordInboundOptions, type SendLookup } from '../../lib/inbound';
import { collect, jsonParameter, perItem, runBatch } from '../shared/items';
import { chainOf } from '../shared/items';

export type Operation = (ctx: IExecuteFunctions, store: ContactStore) => Promise<INodeExecutionData[]>;

/** Lib field names -> the parameter names users see in this node. */
const LABELS: Record<string, string> = {
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
function relabel<T>(results: Array<Result<T>>, fieldLabel: (field: string) => string = (f) => LABELS[f] ?? f): Array<Result<T>> {
	return results.map((result) => {
		if (result.ok) return result;
		const { error } = result;
		const field = (error as { field?: string }).field;
		if (field === undefined) return result;
		const label = fieldLabel(field);
		if (error instanceof ValidationError) return { ok: false, error: new ValidationError(label, error.message, error.hint) };
		if (error instanceof NotFoundError) return { ok: false, error: new NotFoundError(label, error.message) };
		if (error instanceof ConflictError) return { ok: false, error: new ConflictError(label, error.message) };
		return result;
	});
}

const upsertLabel = (field: string) => LABELS[field] ?? `Fields > ${field.startsWith('fields.') ? field.slice(7) : field}`;

/** Runs one lib call per distinct key (a handful at most), concurrently so they share round trips. */
async function runGrouped<T, R>(
	inputs: Array<T | Error>,
	keyOf: (input: T) => string,
	call: (valid: T[], key: string) => Promise<Array<Result<R>>>,
): Promise<Array<Result<R>>> {
	const groups = new Map<string, number[]>();
	inputs.forEach((input, index) => {
		if (input instanceof Error) return;
		const key = keyOf(input);
		groups.set(key, [...(groups.get(key) ?? []), index]);
	});
	const results: Array<Result<R>> = inputs.map((input) => ({ ok: false, error: input as Error }));
	await Promise.all(
		[...groups].map(async ([key, indexes]) => {
			const out = await call(
				indexes.map((i) => inputs[i] as T),
				key,
			);
			indexes.forEach((itemIndex, n) => (results[itemIndex] = out[n]));
		}),
	);
	return results;
}

interface Ref {
	id?: string;
	email?: string;
}

function readRef(ctx: IExecuteFunctions, itemIndex: number): Ref {
	if (ctx.getNodeParameter('identifyBy', itemIndex) === 'email') {
		const email = ctx.getNodeParameter('email', itemIndex);
		if (email === '' || email === null || email === undefined) throw new ValidationError('email', 'Email is empty');
		return { email: String(email) };
	}
	const id = ctx.getNodeParameter('contactId', itemIndex);
	if (id === '' || id === null || id === undefined) throw new ValidationError('id', 'Contact ID is empty');
	return { id: String(id) };
}

function options(ctx: IExecuteFunctions, itemIndex: number): IDataObject {
	return ctx.getNodeParameter('options', itemIndex, {}) as IDataObject;
}

/** A contact as an item: plain JSON, no undefined values. */
function contactJson(contact: Contact): IDataObject {
	return JSON.parse(JSON.stringify(contact)) as IDataObject;
}

function changesJson(change: ChangeResult): IDataObject[] {
	return change.events.map((event) => ({ event: event.name, ...event.props }));
}

/** Applies contact changes (grouped by write mode) and reads the contacts back: four round trips. */
async function changeAndRead(
	store: ContactStore,
	inputs: Array<{ input: ContactInput; mode: ChangeMode } | Error>,
): Promise<Array<Result<{ change: ChangeResult; contact: Contact | null }>>> {
	const changed = await runGrouped(inputs, (i) => i.mode, (valid, mode) => store.contacts.change(valid.map((v) => v.input), mode as ChangeMode));
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

function changeOutput(value: { change: ChangeResult; contact: Contact | null }): IDataObject {
	return { ...(value.contact ? contactJson(value.contact) : { id: value.change.contactId }), created: value.change.created, changes: changesJson(value.change) };
}

function readFields(ctx: IExecuteFunctions, itemIndex: number): Record<string, unknown> {
	if (ctx.getNodeParameter('fieldsInput', itemIndex) === 'json') {
		return jsonParameter(ctx.getNodeParameter('fieldsJson', itemIndex, '{}'), 'fields');
	}
	const rows = (ctx.getNodeParameter('fieldsUi.field', itemIndex, []) as IDataObject[]) ?? [];
	const fields: Record<string, unknown> = {};
	rows.forEach((row, n) => {
		const name = row.name;
		if (typeof name !== 'string' || name.trim() === '') throw new ValidationError('fields', `Field ${n + 1} has no name`);
		if (name in fields) throw new ValidationError(`fields.${name}`, `Field "${name}" is listed twice`);
		const type = (row.type as string) ?? 'auto';
		if (type === 'remove') fields[name] = null;
		else if (type === 'auto') fields[name] = { value: row.value ?? '' };
		else fields[name] = { value: row.value ?? '', type: type as FieldType };
	});
	return fields;
}

const emptyToUndefined = (value: unknown) => (value === '' || value === null ? undefined : value);

const upsert: Operation = async (ctx, store) => {
	const inputs = perItem(ctx, (i) => {
		const extra = ctx.getNodeParameter('additionalFields', i, {}) as IDataObject;
		const opts = options(ctx, i);
		const input: ContactInput = {
			id: emptyToUndefined(ctx.getNodeParameter('contactId', i, '')) as string | undefined,
			email: emptyToUndefined(ctx.getNodeParameter('email', i, '')) as string | undefined,
			fields: readFields(ctx, i),
			timezone: emptyToUndefined(extra.timezone) as string | undefined,
			lifecycleStage: emptyToUndefined(extra.lifecycleStage) as string | undefined,
			addTags: emptyToUndefined(extra.addTags) as string[] | undefined,
			removeTags: emptyToUndefined(extra.removeTags) as string[] | undefined,
			context: { source: (opts.source as string) || 'n8n', chain: chainOf(ctx, i) },
		};
		if (input.id !== undefined) input.id = String(input.id);
		if (extra.subscriptionStatus !== undefined) {
			input.subscription = {
				status: extra.subscriptionStatus as never,
				source: (extra.consentSource as string) || 'n8n',
				at: emptyToUndefined(extra.consentAt),
			};
		}
		return { input, mode: ((opts.writeMode as string) || 'upsert') as ChangeMode };
	});
	const results = relabel(await changeAndRead(store, inputs), upsertLabel);
	return collect(ctx, results, changeOutput);
};

/** Contact ids for the items' references (by id as given, by e-mail through the index). */
async function resolveRefs(store: ContactStore, refs: Array<Ref | Error>): Promise<Array<Result<string>>> {
	return runBatch(refs, (valid) => store.contacts.resolve(valid));
}

const notFound = (ref: Ref): IDataObject => ({ found: false, ...(ref.id !== undefined ? { id: ref.id } : { email: ref.email }) });

const get: Operation = async (ctx, store) => {
	const refs = perItem(ctx, (i) => readRef(ctx, i));
	const settings = perItem(ctx, (i) => options(ctx, i));
	const ids = await resolveRefs(store, refs);
	const contacts = await runBatch(
		ids.map((r) => (r.ok ? r.value : r.error)),
		(valid) => store.contacts.get(valid),
	);
	const histories = await runBatch(
		contacts.map((r, i) => {
			const limit = Number((settings[i] as IDataObject).historyLimit ?? 0);
			return r.ok && r.value && limit > 0 ? { id: r.value.id, limit: Math.min(limit, 500) } : new Error('skip');
		}),
		async (valid) => Promise.all(valid.map(async ({ id, limit }) => ({ ok: true as const, value: await store.events.history(id, limit) }))),
	);
	const results = contacts.map((r, i): Result<IDataObject> => {
		const ref = refs[i] as Ref;
		const missing = (!r.ok && r.error instanceof NotFoundError) || (r.ok && r.value === null);
		if (missing) {
			if ((settings[i] as IDataObject).errorIfNotFound) {
				return { ok: false, error: new NotFoundError(ref.id !== undefined ? 'id' : 'email', `No contact ${ref.id !== undefined ? `with ID "${ref.id}"` : `has the e-mail ${ref.email}`}`) };
			}
			return { ok: true, value: notFound(ref) };
		}
		if (!r.ok) return r;
		const history = histories[i];
		return { ok: true, value: { found: true, ...contactJson(r.value as Contact), ...(history.ok ? { recentEvents: history.value as unknown as IDataObject[] } : {}) } };
	});
	return collect(ctx, relabel(results), (value) => value);
};

const erase: Operation = async (ctx, store) => {
	const refs = perItem(ctx, (i) => readRef(ctx, i));
	const ids = await resolveRefs(store, refs);
	const erased = await runBatch(
		ids.map((r) => (r.ok ? r.value : r.error)),
		(valid) => store.contacts.erase(valid),
	);
	const results = erased.map((r, i): Result<IDataObject> => {
		if (!r.ok && r.error instanceof NotFoundError) return { ok: true, value: { erased: false, email: (refs[i] as Ref).email } };
		return r.ok ? { ok: true, value: { ...r.value } } : r;
	});
	return collect(ctx, relabel(results), (value) => value);
};

const exportContact: Operation = async (ctx, store) => {
	const refs = perItem(ctx, (i) => readRef(ctx, i));
	const ids = await resolveRefs(store, refs);
	const exported = await runBatch(
		ids.map((r) => (r.ok ? r.value : r.error)),
		(valid) => store.contacts.export(valid),
	);
	const results = exported.map((r, i): Result<IDataObject> => {
		if ((!r.ok && r.error instanceof NotFoundError) || (r.ok && r.value === null)) return { ok: true, value: notFound(refs[i] as Ref) };
		return r.ok ? { ok: true, value: { found: true, ...(r.value as IDataObject) } } : r;
	});
	return collect(ctx, relabel(results), (value) => value);
};

interface EventItem {
	ref: Ref;
	createContact: boolean;
	event: Omit<EventInput, 'contactId' | 'createContact'>;
}

const recordEvent: Operation = async (ctx, store) => {
	const inputs = perItem(ctx, (i): EventItem => {
		const ref = readRef(ctx, i);
		const opts = options(ctx, i);
		return {
			ref,
			createContact: opts.createContact !== false,
			event: {
				name: ctx.getNodeParameter('eventName', i) as string,
				properties: ctx.getNodeParameter('properties', i, '{}'),
				time: emptyToUndefined(opts.time),
				source: (opts.source as string) || 'n8n',
				idempotencyKey: emptyToUndefined(opts.idempotencyKey) as string | undefined,
				chain: chainOf(ctx, i),
			},
		};
	});
	// Contacts given by e-mail: find them, or create them (the e-mail becomes the id) when allowed.
	const ids = await runGrouped(
		inputs,
		(input) => (input.ref.id !== undefined ? 'id' : input.createContact ? 'create' : 'find'),
		async (valid, how): Promise<Array<Result<{ id: string; created: boolean }>>> => {
			if (how === 'id') return valid.map((v) => ({ ok: true, value: { id: v.ref.id as string, created: false } }));
			if (how === 'find') return (await store.contacts.resolve(valid.map((v) => v.ref))).map((r) => (r.ok ? { ok: true, value: { id: r.value, created: false } } : r));
			const changed = await store.contacts.change(
				valid.map((v) => ({ email: v.ref.email, context: { source: v.event.source, chain: v.event.chain } })),
				'upsert',
			);
			return changed.map((r) => (r.ok ? { ok: true, value: { id: r.value.contactId, created: r.value.created } } : r));
		},
	);
	const recorded = await runBatch(
		ids.map((r, i): EventInput | Error => {
			if (!r.ok) return r.error;
			const { event, createContact } = inputs[i] as EventItem;
			return { ...event, contactId: r.value.id, createContact };
		}),
		(valid) => store.events.record(valid),
	);
	const results = recorded.map((r, i): Result<IDataObject> => {
		if (!r.ok) return r;
		const input = inputs[i] as EventItem;
		const createdByLookup = ids[i].ok && (ids[i] as { value: { created: boolean } }).value.created;
		return {
			ok: true,
			value: {
				contactId: r.value.contactId,
				event: input.event.name,
				eventId: r.value.eventId ?? null,
				duplicate: r.value.duplicate,
				contactCreated: Boolean(r.value.contactCreated || createdByLookup),
			},
		};
	});
	return collect(ctx, relabel(results), (value) => value);
};

const tags =
	(action: 'add' | 'remove'): Operation =>
	async (ctx, store) => {
		const inputs = perItem(ctx, (i) => {
			const ref = readRef(ctx, i);
			const list = ctx.getNodeParameter('tags', i);
			if (list === '' || (Array.isArray(list) && list.length === 0)) throw new ValidationError('addTags', 'Tags is empty');
			const create = action === 'add' && options(ctx, i).createContact !== false;
			const input: ContactInput = {
				...ref,
				[action === 'add' ? 'addTags' : 'removeTags']: list,
				context: { source: 'n8n', chain: chainOf(ctx, i) },
			};
			return { input, mode: (create ? 'upsert' : 'update') as ChangeMode };
		});
		return collect(ctx, relabel(await changeAndRead(store, inputs)), changeOutput);
	};

const subscription =
	(status: 'subscribed' | 'unsubscribed'): Operation =>
	async (ctx, store) => {
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
	};

const getStatus: Operation = async (ctx, store) => {
	const refs = perItem(ctx, (i) => readRef(ctx, i));
	const ids = await resolveRefs(store, refs);
	const contacts = await runBatch(
		ids.map((r) => (r.ok ? r.value : r.error)),
		(valid) => store.contacts.get(valid),
	);
	const results = contacts.map((r, i): Result<IDataObject> => {
		if ((!r.ok && r.error instanceof NotFoundError) || (r.ok && r.value === null)) return { ok: true, value: { ...notFound(refs[i] as Ref), status: null, suppressed: false } };
		if (!r.ok) return r;
		const contact = r.value as Contact;
		const status = contact.subscription?.status ?? null;
		return {
			ok: true,
			value: {
				found: true,
				id: contact.id,
				email: contact.email ?? null,
				status,
				consentSource: contact.subscription?.source ?? null,
				consentAt: contact.subscription?.at ?? null,
				suppressed: status !== null && SUPPRESSED_STATUSES.includes(status),
			},
		};
	});
	return collect(ctx, relabel(results), (value) => value);
};

/** Matches inbound mail to our sends by Message-ID (kept by the campaign module for 90 days). */
function sendLookup(store: ContactStore): SendLookup {
	const campaigns = new Campaigns(store);
	return async (messageIds) => {
		const found = await campaigns.lookupMessages(messageIds.slice(0, 10));
		for (const result of found) if (result.ok && result.value) return result.value;
		return null;
	};
}

/** The raw message of an Email Trigger (IMAP) item in "Resolved" format: headers, text, attachments. */
async function imapItemMessage(ctx: IExecuteFunctions, itemIndex: number): Promise<Buffer> {
	const item = ctx.getInputData()[itemIndex];
	const json = item.json as IDataObject;
	const attachments = await Promise.all(
		Object.entries(item.binary ?? {}).map(async ([property, binary]) => ({
			contentType: binary.mimeType,
			filename: binary.fileName,
			content: await ctx.helpers.getBinaryDataBuffer(itemIndex, property),
		})),
	);
	return rebuildMessage({
		headers: (json.headers ?? {}) as Record<string, string>,
		text: typeof json.text === 'string' ? json.text : undefined,
		html: typeof json.html === 'string' ? json.html : undefined,
		attachments,
	});
}

/** The node's soft-bounce options as the library's limit: 3 within 30 days unless set; 0 turns it off. */
function softBounceLimit(opts: IDataObject): RecordInboundOptions['softBounceLimit'] {
	const count = Math.floor(Number(opts.softBounceLimit ?? DEFAULT_SOFT_BOUNCE_LIMIT.count));
	if (!(count > 0)) return false;
	const days = Number(opts.softBounceDays ?? DEFAULT_SOFT_BOUNCE_LIMIT.windowMs / 86_400_000);
	return { count, windowMs: Math.max(1, days) * 86_400_000 };
}

const parseInboundEmail: Operation = async (ctx, store) => {
	const inputs = perItem(ctx, (i) => {
		const opts = options(ctx, i);
		const mailboxes = opts.unsubscribeMailboxes;
		return {
			itemIndex: i,
			unsubscribeMailboxes: (Array.isArray(mailboxes) ? mailboxes.map(String) : String(mailboxes ?? '').split(',')).map((m) => m.trim()).filter(Boolean),
			record: opts.record !== false,
			suppress: opts.suppress !== false,
			softBounceLimit: softBounceLimit(opts),
			chain: chainOf(ctx, i),
		};
	});
	// Reading binary data and parsing are local work: all items at once, then one batch for Redis.
	const parsed = await Promise.all(
		inputs.map(async (input): Promise<Result<Awaited<ReturnType<typeof parseInbound>>>> => {
			if (input instanceof Error) return { ok: false, error: input };
			try {
				const source = ctx.getNodeParameter('inputSource', input.itemIndex) as string;
				let raw: Buffer | string;
				if (source === 'binary') {
					const property = ctx.getNodeParameter('binaryPropertyName', input.itemIndex) as string;
					if (!ctx.getInputData()[input.itemIndex]?.binary?.[property]) {
						throw new ValidationError('binaryPropertyName', `The item has no binary property "${property}"`, 'Set Input Binary Field to the property that holds the .eml file, or choose Text input.');
					}
					raw = await ctx.helpers.getBinaryDataBuffer(input.itemIndex, property);
				} else if (source === 'imapItem') {
					raw = await imapItemMessage(ctx, input.itemIndex);
				} else raw = ctx.getNodeParameter('rawMessage', input.itemIndex) as string;
				return { ok: true, value: await parseInbound(raw, { unsubscribeMailboxes: input.unsubscribeMailboxes }) };
			} catch (error) {
				return { ok: false, error: error as Error };
			}
		}),
	);
	// Options and chain are per item: one record call each, issued together so they share round trips.
	const inbound = new Inbound(store, { lookupSend: sendLookup(store) });
	const outcomes = await runBatch(
		parsed.map((p, i) => (p.ok ? { message: p.value, input: inputs[i] as Exclude<(typeof inputs)[number], Error> } : p.error)),
		async (valid) =>
			Promise.all(valid.map(async ({ message, input }) => (await inbound.record([message], { record: input.record, suppress: input.suppress, softBounceLimit: input.softBounceLimit, chain: input.chain }))[0])),
	);
	const results = outcomes.map((r, i): Result<IDataObject> => {
		if (!r.ok) return r;
		const message = (parsed[i] as { value: Awaited<ReturnType<typeof parseInbound>> }).value;
		const { originalMessageIds, ...rest } = message;
		return { ok: true, value: { ...rest, originalMessageId: originalMessageIds[0] ?? null, originalMessageIds, ...r.value } as unknown as IDataObject };
	});
	return collect(ctx, relabel(results, (field) => ({ rawMessage: 'Raw Message', binaryPropertyName: 'Input Binary Field', headers: 'Input' })[field] ?? LABELS[field] ?? field), (value) => value);
};

export const OPERATIONS: Record<string, Operation> = {
	'contact.upsert': upsert,
	'contact.get': get,
	'contact.erase': erase,
	'contact.export': exportContact,
	'event.record': recordEvent,
	'tag.add': tags('add'),
	'tag.remove': tags('remove'),
	'subscription.subscribe': subscription('subscribed'),
	'subscription.unsubscribe': subscription('unsubscribed'),
	'subscription.getStatus': getStatus,
	'inboundEmail.parse': parseInboundEmail,
};
