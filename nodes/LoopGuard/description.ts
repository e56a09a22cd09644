import type { INodeProperties } from 'n8n-workflow';

/** Output indexes; an item whose check failed goes to Blocked (routeResults): failing open would defeat the guard. */
export const CONTINUE = 0;
export const BLOCKED = 1;

export const properties: INodeProperties[] = [
	{
		displayName: 'Key',
		name: 'keyType',
		type: 'options',
		options: [
			{ name: 'Contact', value: 'contact', description: 'Count entries per contact' },
			{
				name: 'Custom Expression',
				value: 'custom',
				description: 'Count entries per any value (order ID, e-mail + campaign...)',
			},
		],
		default: 'contact',
	},
	{
		displayName: 'Contact ID',
		name: 'contactId',
		type: 'string',
		default: '={{ $json.contact?.id ?? $json.contactId ?? $json.id }}',
		required: true,
		displayOptions: { show: { keyType: ['contact'] } },
		description: 'The contact this item is about (Contact Trigger items carry it in contact.ID)',
	},
	{
		displayName: 'Custom Key',
		name: 'customKey',
		type: 'string',
		default: '',
		required: true,
		displayOptions: { show: { keyType: ['custom'] } },
		placeholder: '={{ $json.orderId }}',
		description: 'Any value; entries are counted per distinct value',
	},
	{
		displayName: 'Scope',
		name: 'scope',
		type: 'options',
		options: [
			{ name: 'This Workflow', value: 'workflow', description: 'Entries into this workflow only' },
			{ name: 'All Workflows', value: 'all', description: 'Entries into any workflow guarded with this scope' },
			{ name: 'Named Group', value: 'group', description: 'Entries into the workflows sharing a group name' },
		],
		default: 'workflow',
	},
	{
		displayName: 'Group Name',
		name: 'groupName',
		type: 'string',
		default: '',
		required: true,
		displayOptions: { show: { scope: ['group'] } },
		placeholder: 'e.g. promotions',
	},
	{
		displayName: 'Max Entries',
		name: 'maxEntries',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: 1,
		description: 'Entries allowed per key in the rolling window; 0 for no limit',
	},
	{
		displayName: 'Window',
		name: 'window',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: 24,
		displayOptions: { hide: { maxEntries: [0] } },
	},
	{
		displayName: 'Window Unit',
		name: 'windowUnit',
		type: 'options',
		options: [
			{ name: 'Minutes', value: 'minutes' },
			{ name: 'Hours', value: 'hours' },
			{ name: 'Days', value: 'days' },
		],
		default: 'hours',
		displayOptions: { hide: { maxEntries: [0] } },
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Chain Field',
				name: 'chainField',
				type: 'string',
				default: '$chain',
				description: 'Item field holding the workflows the event came through (Contact Trigger sets $chain)',
			},
			{
				displayName: 'Cool-Down (Minutes)',
				name: 'cooldownMinutes',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 0,
				description: 'Minimum time between two entries of the same key; 0 for none',
			},
			{
				displayName: 'Detect Cycles',
				name: 'detectCycles',
				type: 'boolean',
				default: true,
				description: 'Whether to block items whose event already passed through this workflow',
			},
			{
				displayName: 'Max Chain Depth',
				name: 'maxDepth',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 5,
				description: 'Block events that already came through this many workflows; 0 for no limit',
			},
		],
	},
];
