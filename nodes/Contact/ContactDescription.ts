import type { INodeProperties } from 'n8n-workflow';
import { deadLetterProperties } from './deadLetter';

const show = (resource: string[], operation?: string[]) => ({
	show: { resource, ...(operation ? { operation } : {}) },
});

export const resourceProperty: INodeProperties = {
	displayName: 'Resource',
	name: 'resource',
	type: 'options',
	noDataExpression: true,
	options: [
		{ name: 'Contact', value: 'contact' },
		{ name: 'Dead Letter', value: 'deadLetter' },
		{ name: 'Event', value: 'event' },
		{ name: 'Inbound Email', value: 'inboundEmail' },
		{ name: 'Subscription', value: 'subscription' },
		{ name: 'Tag', value: 'tag' },
	],
	default: 'contact',
};

export const operationProperties: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: show(['contact']),
		options: [
			{
				name: 'Create or Update',
				value: 'upsert',
				description: 'Create a new record, or update the current one if it already exists (upsert)',
				action: 'Create or update a contact',
			},
			{
				name: 'Erase',
				value: 'erase',
				description: 'Delete a contact and everything held on it (GDPR right to erasure)',
				action: 'Erase a contact',
			},
			{
				name: 'Export',
				value: 'export',
				description: 'Return everything held on a contact (GDPR right of access)',
				action: 'Export a contact',
			},
			{ name: 'Get', value: 'get', description: 'Get a contact by ID or e-mail', action: 'Get a contact' },
		],
		default: 'upsert',
	},
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: show(['event']),
		options: [{ name: 'Record', value: 'record', description: 'Record something a contact did', action: 'Record an event' }],
		default: 'record',
	},
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: show(['tag']),
		options: [
			{ name: 'Add', value: 'add', description: 'Add tags to a contact', action: 'Add tags to a contact' },
			{ name: 'Remove', value: 'remove', description: 'Remove tags from a contact', action: 'Remove tags from a contact' },
		],
		default: 'add',
	},
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: show(['subscription']),
		options: [
			{
				name: 'Get Status',
				value: 'getStatus',
				description: 'Get the subscription status and consent of a contact',
				action: 'Get the subscription status of a contact',
			},
			{
				name: 'Subscribe',
				value: 'subscribe',
				description: 'Record consent to receive marketing e-mail',
				action: 'Subscribe a contact',
			},
			{
				name: 'Unsubscribe',
				value: 'unsubscribe',
				description: 'Stop marketing e-mail to a contact',
				action: 'Unsubscribe a contact',
			},
		],
		default: 'subscribe',
	},
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: show(['inboundEmail']),
		options: [
			{
				name: 'Parse',
				value: 'parse',
				description: 'Classify a received e-mail (bounce, complaint, auto-reply, unsubscribe request, reply), record it and suppress the contact when needed',
				action: 'Parse an inbound email',
			},
		],
		default: 'parse',
	},
];

/** How the contact of an item is found, for every operation but upsert and parse. */
const identifyOn = (resources: string[], operations?: string[]) => show(resources, operations);
const IDENTIFIED: Array<[string[], string[] | undefined]> = [
	[['contact'], ['get', 'erase', 'export']],
	[['event'], undefined],
	[['tag'], undefined],
	[['subscription'], undefined],
];

const identifyProperties: INodeProperties[] = IDENTIFIED.flatMap(([resources, operations]) => [
	{
		displayName: 'Identify Contact By',
		name: 'identifyBy',
		type: 'options',
		displayOptions: identifyOn(resources, operations),
		options: [
			{ name: 'Contact ID', value: 'id', description: 'The ID the contact was created with (your CRM ID, or its e-mail address)' },
			{ name: 'Email', value: 'email', description: 'The e-mail address stored on the contact' },
		],
		default: 'id',
	} satisfies INodeProperties,
	{
		displayName: 'Contact ID',
		name: 'contactId',
		type: 'string',
		required: true,
		displayOptions: { show: { ...identifyOn(resources, operations).show, identifyBy: ['id'] } },
		default: '',
		placeholder: 'e.g. crm-4711',
		description: 'ID of the contact, for example your CRM ID (up to 256 characters)',
	} satisfies INodeProperties,
	{
		displayName: 'Email',
		name: 'email',
		type: 'string',
		required: true,
		displayOptions: { show: { ...identifyOn(resources, operations).show, identifyBy: ['email'] } },
		default: '',
		placeholder: 'name@email.com',
		description: 'E-mail address of the contact (case and surrounding spaces are ignored)',
	} satisfies INodeProperties,
]);

const fieldTypeOptions = [
	{ name: 'Automatic', value: 'auto', description: 'Keep the type the value has (text from the form stays text)' },
	{ name: 'Boolean', value: 'boolean', description: 'True or false ("true" and "false" are accepted)' },
	{ name: 'Date', value: 'date', description: 'ISO 8601 date or date-time, or epoch milliseconds' },
	{ name: 'Number', value: 'number', description: 'A finite number ("42" is accepted)' },
	{ name: 'Remove Field', value: 'remove', description: 'Delete the field from the contact' },
	{ name: 'String', value: 'string', description: 'Text up to 64 KB' },
];

const upsertProperties: INodeProperties[] = [
	{
		displayName: 'Contact ID',
		name: 'contactId',
		type: 'string',
		displayOptions: show(['contact'], ['upsert']),
		default: '',
		placeholder: 'e.g. crm-4711',
		description: "Your CRM's ID for the contact. Leave empty to find the contact by e-mail; a new contact then gets its e-mail address as ID.",
	},
	{
		displayName: 'Email',
		name: 'email',
		type: 'string',
		displayOptions: show(['contact'], ['upsert']),
		default: '',
		placeholder: 'name@email.com',
		description: 'E-mail address of the contact. Each address belongs to one contact only.',
	},
	{
		displayName: 'Fields Input',
		name: 'fieldsInput',
		type: 'options',
		displayOptions: show(['contact'], ['upsert']),
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
		displayOptions: show(['contact'], ['upsert']),
		default: {},
		description: 'Custom fields to set on the contact; fields not listed keep their value',
		options: [
			{
				displayName: 'Field',
				name: 'field',
				values: [
					{ displayName: 'Name', name: 'name', type: 'string', default: '', placeholder: 'e.g. firstName', description: 'Name of the field (up to 128 characters)' },
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
		displayOptions: { show: { resource: ['contact'], operation: ['upsert'], fieldsInput: ['json'] } },
		default: '{}',
		placeholder: '{ "firstName": "Ada", "orders": 3, "birthday": { "value": "1990-02-28", "type": "date" } }',
		description: 'Object of field name to value. A value may be a string, number or boolean, {"value", "type"} to force a type, or null to remove the field.',
	},
	{
		displayName: 'Additional Fields',
		name: 'additionalFields',
		type: 'collection',
		placeholder: 'Add Field',
		displayOptions: show(['contact'], ['upsert']),
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
				description: 'Where the subscription status comes from (form, import, double opt-in...). Used with Subscription Status.',
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
		displayOptions: show(['contact'], ['upsert']),
		default: {},
		options: [
			{
				displayName: 'If Contact Exists',
				name: 'writeMode',
				type: 'options',
				options: [
					{ name: 'Create or Update', value: 'upsert', description: 'Create a new record, or update the current one if it already exists (upsert)' },
					{ name: 'Fail (Create Only)', value: 'create', description: 'Only create new contacts; existing ones fail the item' },
					{ name: 'Update Only', value: 'update', description: 'Only update existing contacts; missing ones fail the item' },
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

const getProperties: INodeProperties[] = [
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: show(['contact'], ['get']),
		default: {},
		options: [
			{
				displayName: 'Error If Not Found',
				name: 'errorIfNotFound',
				type: 'boolean',
				default: false,
				description: 'Whether a missing contact fails the item; otherwise the item comes out with found = false',
			},
			{
				displayName: 'Include Recent Events',
				name: 'historyLimit',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 500 },
				default: 0,
				description: 'How many of the most recent events to include (0 for none)',
			},
		],
	},
];

const eventProperties: INodeProperties[] = [
	{
		displayName: 'Event Name',
		name: 'eventName',
		type: 'string',
		required: true,
		displayOptions: show(['event'], ['record']),
		default: '',
		placeholder: 'e.g. order_completed',
		description: 'What the contact did. Names starting with "$" are reserved for the events of this pack.',
	},
	{
		displayName: 'Properties',
		name: 'properties',
		type: 'json',
		displayOptions: show(['event'], ['record']),
		default: '{}',
		description: 'Details of the event as a JSON object (up to 64 KB), e.g. {"orderId": "A-17", "total": 42.5}',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: show(['event'], ['record']),
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
				description: 'A unique key of this occurrence; recording the same key again for the contact changes nothing (kept 30 days). Use it when deliveries may be retried.',
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

const tagProperties: INodeProperties[] = [
	{
		displayName: 'Tags',
		name: 'tags',
		type: 'string',
		required: true,
		displayOptions: show(['tag']),
		default: '',
		placeholder: 'e.g. newsletter, vip',
		description: 'Comma-separated tags (or an array from an expression); up to 200 characters each',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: show(['tag'], ['add']),
		default: {},
		options: [
			{
				displayName: 'Create Contact If Missing',
				name: 'createContact',
				type: 'boolean',
				default: true,
				description: 'Whether to create the contact when it does not exist; otherwise the item fails',
			},
		],
	},
];

const subscriptionProperties: INodeProperties[] = [
	{
		displayName: 'Consent Source',
		name: 'consentSource',
		type: 'string',
		required: true,
		displayOptions: show(['subscription'], ['subscribe', 'unsubscribe']),
		default: 'n8n',
		placeholder: 'e.g. signup form',
		description: 'Where the consent (or its withdrawal) comes from; kept as proof with the time',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: show(['subscription'], ['subscribe', 'unsubscribe']),
		default: {},
		options: [
			{
				displayName: 'Consent Time',
				name: 'consentAt',
				type: 'dateTime',
				default: '',
				description: 'When consent was given or withdrawn; defaults to now',
			},
			{
				displayName: 'Create Contact If Missing',
				name: 'createContact',
				type: 'boolean',
				default: true,
				description: 'Whether to create the contact when it does not exist (an unsubscribed contact stays suppressed when imported later)',
			},
			{
				displayName: 'Pending Double Opt-In',
				name: 'pending',
				type: 'boolean',
				default: false,
				displayOptions: { show: { '/operation': ['subscribe'] } },
				description: 'Whether to set the status to pending until the contact confirms, instead of subscribed',
			},
		],
	},
];

const inboundProperties: INodeProperties[] = [
	{
		displayName: 'Input',
		name: 'inputSource',
		type: 'options',
		displayOptions: show(['inboundEmail'], ['parse']),
		options: [
			{ name: 'Binary File', value: 'binary', description: 'A raw message (.eml) in a binary property' },
			{
				name: 'Email Trigger (IMAP) Item',
				value: 'imapItem',
				description: 'An item of the Email Trigger (IMAP) with Format "Resolved": the message is rebuilt from its headers, text and attachments',
			},
			{ name: 'Text', value: 'text', description: 'The raw message as text (plain or base64)' },
		],
		default: 'binary',
	},
	{
		displayName: 'Input Binary Field',
		name: 'binaryPropertyName',
		type: 'string',
		required: true,
		displayOptions: { show: { resource: ['inboundEmail'], operation: ['parse'], inputSource: ['binary'] } },
		default: 'data',
		description: 'Name of the binary property that holds the raw message',
	},
	{
		displayName: 'Raw Message',
		name: 'rawMessage',
		type: 'string',
		typeOptions: { rows: 4 },
		required: true,
		displayOptions: { show: { resource: ['inboundEmail'], operation: ['parse'], inputSource: ['text'] } },
		default: '',
		placeholder: '={{ $json.raw }}',
		description: 'The full message with its headers (RFC 5322), as text or base64',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: show(['inboundEmail'], ['parse']),
		default: {},
		options: [
			{
				displayName: 'Apply Suppression',
				name: 'suppress',
				type: 'boolean',
				default: true,
				description: 'Whether to mark the contact bounced (hard bounce), complained (spam complaint) or unsubscribed (unsubscribe request). Soft bounces suppress only as Suppress After Soft Bounces says.',
			},
			{
				displayName: 'Record Event',
				name: 'record',
				type: 'boolean',
				default: true,
				description: 'Whether to record the matching event ($email_bounced, $email_complained, $email_replied, $email_unsubscribed) on the contact',
			},
			{
				displayName: 'Soft Bounce Window (Days)',
				name: 'softBounceDays',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 30,
				description: 'The window in which soft bounces are counted for Suppress After Soft Bounces',
			},
			{
				displayName: 'Suppress After Soft Bounces',
				name: 'softBounceLimit',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 3,
				description: 'Mark a contact bounced after this many soft bounces (mailbox full, blocked, expired ...) within the Soft Bounce Window; 0 = never. A hard bounce (unknown user or domain) suppresses at once.',
			},
			{
				displayName: 'Unsubscribe Mailboxes',
				name: 'unsubscribeMailboxes',
				type: 'string',
				default: '',
				placeholder: 'e.g. unsubscribe@news.example.com',
				description: 'Comma-separated addresses (the mailto: of your List-Unsubscribe header); any mail sent to them is an unsubscribe request',
			},
		],
	},
];

export const contactProperties: INodeProperties[] = [
	resourceProperty,
	...operationProperties,
	...identifyProperties,
	...upsertProperties,
	...getProperties,
	...eventProperties,
	...tagProperties,
	...subscriptionProperties,
	...inboundProperties,
	...deadLetterProperties,
];
