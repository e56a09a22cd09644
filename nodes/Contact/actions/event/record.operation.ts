import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import type { ContactStore, EventInput, Result } from '../../../../lib';
import { chainOf, collect, perItem, runBatch, runGrouped } from '../../../shared/items';
import { emptyToUndefined, options, readRef, relabel, showFor, type Ref } from '../../../shared/contact';

export const description: INodeProperties[] = [
	{
		displayName: 'Event Name',
		name: 'eventName',
		type: 'string',
		required: true,
		displayOptions: showFor(['event'], ['record']),
		default: '',
		placeholder: 'e.g. order_completed',
		description: 'What the contact did. Names starting with "$" are reserved for the events of this pack.',
	},
	{
		displayName: 'Properties',
		name: 'properties',
		type: 'json',
		displayOptions: showFor(['event'], ['record']),
		default: '{}',
		description: 'Details of the event as a JSON object (up to 64 KB), e.g. {"orderId": "A-17", "total": 42.5}',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: showFor(['event'], ['record']),
		default: {},
		options: [
			{
				displayName: 'Create Contact If Missing',
				name: 'createContact',
				type: 'boolean',
				default: true,
				description: 'Whether to create the contact when it does not exist; otherwise the item fails',
			},
			{
				displayName: 'Idempotency Key',
				name: 'idempotencyKey',
				type: 'string',
				default: '',
				placeholder: 'e.g. order-A-17',
				description:
					'A unique key of this occurrence; recording the same key again for the contact changes nothing (kept 30 days). Use it when deliveries may be retried.',
			},
			{
				displayName: 'Source',
				name: 'source',
				type: 'string',
				default: 'n8n',
				description: 'Where the event comes from (web site, CRM, shop...)',
			},
			{
				displayName: 'Time',
				name: 'time',
				type: 'dateTime',
				default: '',
				description: 'When it happened; defaults to now. ISO 8601 or epoch milliseconds.',
			},
		],
	},
];

interface EventItem {
	ref: Ref;
	createContact: boolean;
	event: Omit<EventInput, 'contactId' | 'createContact'>;
}

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const inputs = perItem(this, (i): EventItem => {
		const ref = readRef(this, i);
		const opts = options(this, i);
		return {
			ref,
			createContact: opts.createContact !== false,
			event: {
				name: this.getNodeParameter('eventName', i) as string,
				properties: this.getNodeParameter('properties', i, '{}'),
				time: emptyToUndefined(opts.time),
				source: (opts.source as string) || 'n8n',
				idempotencyKey: emptyToUndefined(opts.idempotencyKey) as string | undefined,
				chain: chainOf(this, i),
			},
		};
	});
	// Contacts given by e-mail: find them, or create them (the e-mail becomes the id) when allowed.
	const ids = await runGrouped(
		inputs,
		(input) => (input.ref.id !== undefined ? 'id' : input.createContact ? 'create' : 'find'),
		async (valid, how): Promise<Array<Result<{ id: string; created: boolean }>>> => {
			if (how === 'id') return valid.map((v) => ({ ok: true, value: { id: v.ref.id as string, created: false } }));
			if (how === 'find')
				return (await store.contacts.resolve(valid.map((v) => v.ref))).map((r) =>
					r.ok ? { ok: true, value: { id: r.value, created: false } } : r,
				);
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
	return collect(this, relabel(results), (value) => value);
}
