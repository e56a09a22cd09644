import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import {
	ValidationError,
	type ChainLink,
	type ChangeMode,
	type ContactInput,
	type ContactStore,
	type FieldInput,
	type FieldType,
} from '../../../../lib';
import { chainOf, collect, jsonParameter, parameterReader, perItem } from '../../../shared/items';
import {
	changeAndRead,
	changeOutput,
	emptyToUndefined,
	LABELS,
	options,
	relabel,
	showFor,
} from '../../../shared/contact';

const fieldTypeOptions = [
	{ name: 'Automatic', value: 'auto', description: 'Keep the type the value has (text from the form stays text)' },
	{ name: 'Boolean', value: 'boolean', description: 'True or false ("true" and "false" are accepted)' },
	{ name: 'Date', value: 'date', description: 'ISO 8601 date or date-time, or epoch milliseconds' },
	{ name: 'Number', value: 'number', description: 'A finite number ("42" is accepted)' },
	{ name: 'Remove Field', value: 'remove', description: 'Delete the field from the contact' },
	{ name: 'String', value: 'string', description: 'Text up to 64 KB' },
];

/** Shows an upsert parameter in one Contact Data mode only. */
const defineBelow = { show: { resource: ['contact'], operation: ['upsert'], mappingMode: ['defineBelow'] } };
const autoMap = { show: { resource: ['contact'], operation: ['upsert'], mappingMode: ['autoMapInputData'] } };

/** The item keys Map Automatically reads as the contact's own properties; every other key is a field. */
const AUTO_MAP_KEYS = [
	'id',
	'email',
	'timezone',
	'lifecycleStage',
	'subscriptionStatus',
	'consentSource',
	'consentAt',
	'tags',
] as const;

export const description: INodeProperties[] = [
	{
		displayName: 'Contact Data',
		name: 'mappingMode',
		type: 'options',
		noDataExpression: true,
		displayOptions: showFor(['contact'], ['upsert']),
		options: [
			{
				name: 'Define Below',
				value: 'defineBelow',
				description: 'Set the contact ID, e-mail, fields and more with parameters (expressions are evaluated per item)',
			},
			{
				name: 'Map Automatically',
				value: 'autoMapInputData',
				description:
					'Each input item is a contact: its keys named like the contact properties set them, every other key is a field. No expression per item: the fast way to import.',
			},
		],
		default: 'defineBelow',
	},
	{
		displayName: `Keys of the input item: ${AUTO_MAP_KEYS.map((k) => `"${k}"`).join(', ')} (a list, or comma-separated). Every other key is a custom field; empty values are skipped (the contact keeps what it has), keys starting with "$" are ignored.`,
		name: 'autoMapNotice',
		type: 'notice',
		displayOptions: autoMap,
		default: '',
	},
	{
		displayName: 'Field Types',
		name: 'fieldTypes',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true },
		placeholder: 'Add Field Type',
		displayOptions: autoMap,
		default: {},
		description:
			'Types of fields that come as text (a number or a date from a CSV file); other fields keep the type their value has',
		options: [
			{
				displayName: 'Field',
				name: 'field',
				values: [
					{
						displayName: 'Name',
						name: 'name',
						type: 'string',
						default: '',
						placeholder: 'e.g. signupDate',
						description: 'Key of the input item (the field name)',
					},
					{
						displayName: 'Type',
						name: 'type',
						type: 'options',
						options: fieldTypeOptions.filter((o) => o.value !== 'remove'),
						default: 'string',
					},
				],
			},
		],
	},
	{
		displayName: 'Contact ID',
		name: 'contactId',
		type: 'string',
		displayOptions: defineBelow,
		default: '',
		placeholder: 'e.g. crm-4711',
		description:
			"Your CRM's ID for the contact. Leave empty to find the contact by e-mail; a new contact then gets its e-mail address as ID.",
	},
	{
		displayName: 'Email',
		name: 'email',
		type: 'string',
		displayOptions: defineBelow,
		default: '',
		placeholder: 'name@email.com',
		description: 'E-mail address of the contact. Each address belongs to one contact only.',
	},
	{
		displayName: 'Fields Input',
		name: 'fieldsInput',
		type: 'options',
		displayOptions: defineBelow,
		options: [
			{ name: 'Define Below', value: 'fields', description: 'Add fields one by one with their type' },
			{ name: 'JSON', value: 'json', description: 'Give all fields as one JSON object' },
		],
		default: 'fields',
	},
	{
		displayName: 'Fields',
		name: 'fieldsUi',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true },
		placeholder: 'Add Field',
		displayOptions: defineBelow,
		default: {},
		description: 'Custom fields to set on the contact; fields not listed keep their value',
		options: [
			{
				displayName: 'Field',
				name: 'field',
				values: [
					{
						displayName: 'Name',
						name: 'name',
						type: 'string',
						default: '',
						placeholder: 'e.g. firstName',
						description: 'Name of the field (up to 128 characters)',
					},
					{ displayName: 'Type', name: 'type', type: 'options', options: fieldTypeOptions, default: 'auto' },
					{
						displayName: 'Value',
						name: 'value',
						type: 'string',
						default: '',
						displayOptions: { hide: { type: ['remove'] } },
						description: 'Value of the field; expressions keep their type',
					},
				],
			},
		],
	},
	{
		displayName: 'Fields (JSON)',
		name: 'fieldsJson',
		type: 'json',
		displayOptions: { show: { ...defineBelow.show, fieldsInput: ['json'] } },
		default: '{}',
		placeholder: '{ "firstName": "Ada", "orders": 3, "birthday": { "value": "1990-02-28", "type": "date" } }',
		description:
			'Object of field name to value. A value may be a string, number or boolean, {"value", "type"} to force a type, or null to remove the field.',
	},
	{
		displayName: 'Additional Fields',
		name: 'additionalFields',
		type: 'collection',
		placeholder: 'Add Field',
		displayOptions: defineBelow,
		default: {},
		options: [
			{
				displayName: 'Add Tags',
				name: 'addTags',
				type: 'string',
				default: '',
				placeholder: 'e.g. newsletter, vip',
				description: 'Comma-separated tags to add (or an array from an expression)',
			},
			{
				displayName: 'Consent Source',
				name: 'consentSource',
				type: 'string',
				default: '',
				placeholder: 'e.g. signup form',
				description:
					'Where the subscription status comes from (form, import, double opt-in...). Used with Subscription Status.',
			},
			{
				displayName: 'Consent Time',
				name: 'consentAt',
				type: 'dateTime',
				default: '',
				description: 'When consent was given or withdrawn; defaults to now. Used with Subscription Status.',
			},
			{
				displayName: 'Lifecycle Stage',
				name: 'lifecycleStage',
				type: 'string',
				default: '',
				placeholder: 'e.g. lead',
				description: 'Stage such as subscriber, lead, customer (free text, up to 64 characters)',
			},
			{
				displayName: 'Remove Tags',
				name: 'removeTags',
				type: 'string',
				default: '',
				placeholder: 'e.g. trial',
				description: 'Comma-separated tags to remove (or an array from an expression)',
			},
			{
				displayName: 'Subscription Status',
				name: 'subscriptionStatus',
				type: 'options',
				options: [
					{ name: 'Bounced', value: 'bounced' },
					{ name: 'Complained', value: 'complained' },
					{ name: 'Pending (Double Opt-In)', value: 'pending' },
					{ name: 'Subscribed', value: 'subscribed' },
					{ name: 'Unsubscribed', value: 'unsubscribed' },
				],
				default: 'subscribed',
				description: 'Marketing e-mail status; bounced, complained and unsubscribed contacts receive no campaigns',
			},
			{
				displayName: 'Time Zone',
				name: 'timezone',
				type: 'string',
				default: '',
				placeholder: 'e.g. Europe/Berlin',
				description: 'IANA time zone of the contact, used for send windows and local-time triggers',
			},
		],
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: showFor(['contact'], ['upsert']),
		default: {},
		options: [
			{
				displayName: 'If Contact Exists',
				name: 'writeMode',
				type: 'options',
				options: [
					{
						name: 'Create or Update',
						value: 'upsert',
						description: 'Create a new record, or update the current one if it already exists (upsert)',
					},
					{
						name: 'Fail (Create Only)',
						value: 'create',
						description: 'Only create new contacts; existing ones fail the item',
					},
					{
						name: 'Update Only',
						value: 'update',
						description: 'Only update existing contacts; missing ones fail the item',
					},
				],
				default: 'upsert',
			},
			{
				displayName: 'Source',
				name: 'source',
				type: 'string',
				default: 'n8n',
				description: 'Recorded on the change events this upsert logs (shown to triggers)',
			},
		],
	},
];

const upsertLabel = (field: string) =>
	LABELS[field] ?? `Fields > ${field.startsWith('fields.') ? field.slice(7) : field}`;

function readFields(ctx: IExecuteFunctions, itemIndex: number): Record<string, unknown> {
	if (ctx.getNodeParameter('fieldsInput', itemIndex) === 'json') {
		return jsonParameter(ctx.getNodeParameter('fieldsJson', itemIndex, '{}'), 'fields');
	}
	const rows = (ctx.getNodeParameter('fieldsUi.field', itemIndex, []) as IDataObject[]) ?? [];
	const fields: Record<string, unknown> = {};
	rows.forEach((row, n) => {
		const name = row.name;
		if (typeof name !== 'string' || name.trim() === '')
			throw new ValidationError('fields', `Field ${n + 1} has no name`);
		if (name in fields) throw new ValidationError(`fields.${name}`, `Field "${name}" is listed twice`);
		const type = (row.type as string) ?? 'auto';
		if (type === 'remove') fields[name] = null;
		else if (type === 'auto') fields[name] = { value: row.value ?? '' };
		else fields[name] = { value: row.value ?? '', type: type as FieldType };
	});
	return fields;
}

/** Define Below: each value from its parameter, expressions evaluated per item by n8n. */
function definedInputs(ctx: IExecuteFunctions): Array<UpsertInput | Error> {
	return perItem(ctx, (i) => {
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
}

/**
 * Map Automatically: the contact from the item's own keys. n8n 2.x evaluates each expression in an
 * isolate, about 0.6 ms on a loaded 2-core machine (a profiled CSV import: 11 per row were 53 % of
 * n8n's CPU); reading the keys costs next to nothing, parameters without expressions are read once.
 */
function autoMappedInputs(ctx: IExecuteFunctions): Array<UpsertInput | Error> {
	const node = ctx.getNode();
	const readOptions = parameterReader<IDataObject>(ctx, node, 'options', {});
	const readTypes = parameterReader<IDataObject>(ctx, node, 'fieldTypes', {});
	const items = ctx.getInputData();
	// Items without a $chain (not from a Contact Trigger) all carry just this workflow.
	let ownChain: ChainLink[] | undefined;
	let typesOf: { parameter: IDataObject; types: Map<string, FieldType> } | undefined;
	return perItem(ctx, (i) => {
		const json = items[i].json;
		const opts = readOptions(i);
		const parameter = readTypes(i);
		if (typesOf?.parameter !== parameter) {
			const rows = (parameter.field as IDataObject[]) ?? [];
			typesOf = { parameter, types: new Map(rows.map((t) => [t.name as string, t.type as FieldType])) };
		}
		const { types } = typesOf;
		const fields: Record<string, FieldInput> = {};
		const own: Partial<Record<(typeof AUTO_MAP_KEYS)[number], unknown>> = {};
		for (const [key, value] of Object.entries(json)) {
			if (value === undefined || value === null || value === '' || key.startsWith('$')) continue;
			if ((AUTO_MAP_KEYS as readonly string[]).includes(key)) own[key as (typeof AUTO_MAP_KEYS)[number]] = value;
			else fields[key] = types.has(key) ? { value, type: types.get(key) } : { value };
		}
		const input: ContactInput = {
			id: own.id === undefined ? undefined : String(own.id),
			email: own.email as string | undefined,
			fields,
			timezone: own.timezone as string | undefined,
			lifecycleStage: own.lifecycleStage as string | undefined,
			addTags: own.tags as string[] | undefined,
			context: {
				source: (opts.source as string) || 'n8n',
				chain: json.$chain === undefined ? (ownChain ??= chainOf(ctx, i)) : chainOf(ctx, i),
			},
		};
		if (own.subscriptionStatus !== undefined) {
			input.subscription = {
				status: own.subscriptionStatus as never,
				source: (own.consentSource as string) || 'n8n',
				at: own.consentAt,
			};
		}
		return { input, mode: ((opts.writeMode as string) || 'upsert') as ChangeMode };
	});
}

type UpsertInput = { input: ContactInput; mode: ChangeMode };

/**
 * Items upserted per round trip, one batch after the other. The store's command timeout (10 s by
 * default) counts from a command's sending: with 10,000 items in one pipeline (a CSV import chunk)
 * on a loaded Redis the last ones timed out, though applied, and were reported as failed.
 */
export const UPSERT_BATCH = 1000;

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const mapped = this.getNodeParameter('mappingMode', 0, 'defineBelow') === 'autoMapInputData';
	const inputs = mapped ? autoMappedInputs(this) : definedInputs(this);
	const results = [];
	for (let start = 0; start < inputs.length; start += UPSERT_BATCH)
		results.push(...(await changeAndRead(store, inputs.slice(start, start + UPSERT_BATCH))));
	return collect(this, relabel(results, upsertLabel), changeOutput);
}
