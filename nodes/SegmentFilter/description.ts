import type { INodeParameters, INodeProperties } from 'n8n-workflow';
import { operatorOptions } from '../../lib/segments/operators';

/** Output indexes in Filter Items mode; an item that could not be evaluated goes to Not Matched (routeInputs). */
export const MATCHED = 0;
export const NOT_MATCHED = 1;

// Evaluated by n8n in the editor: output names follow the mode.
export const configuredOutputs = (parameters: INodeParameters) =>
	parameters.mode === 'segment'
		? [
				{ type: 'main', displayName: 'Contacts' },
				{ type: 'main', displayName: 'Next Page' },
			]
		: [
				{ type: 'main', displayName: 'Matched' },
				{ type: 'main', displayName: 'Not Matched' },
			];

const VALUE_OPERATOR_OPTIONS = operatorOptions();

const MEMBER_TYPES = ['grade', 'tier', 'lifecycleStage', 'subscription'];

export const properties: INodeProperties[] = [
	{
		displayName: 'Mode',
		name: 'mode',
		type: 'options',
		noDataExpression: true,
		options: [
			{ name: 'Filter Items', value: 'filter', description: 'Route each incoming contact to Matched or Not Matched' },
			{
				name: 'List Segment',
				value: 'segment',
				description: 'Emit every contact that meets the conditions, page by page',
			},
		],
		default: 'filter',
	},
	{
		displayName: 'Contact',
		name: 'input',
		type: 'options',
		options: [
			{ name: 'From Input Item', value: 'item', description: "The item's contact.ID, contactId or ID. Fastest." },
			{ name: 'Define Below', value: 'define', description: 'Map the contact ID with an expression' },
		],
		default: 'item',
		displayOptions: { show: { mode: ['filter'] } },
	},
	{
		displayName: 'Contact ID',
		name: 'contactId',
		type: 'string',
		default: '={{ $json.contact?.id ?? $json.contactId ?? $json.id }}',
		required: true,
		displayOptions: { show: { mode: ['filter'], input: ['define'] } },
	},
	{
		displayName: 'Define Conditions',
		name: 'conditionsInput',
		type: 'options',
		options: [
			{ name: 'Using Fields Below', value: 'fields' },
			{ name: 'Using JSON', value: 'json', description: 'A condition tree with nested AND / OR groups' },
		],
		default: 'fields',
	},
	{
		displayName: 'Combine',
		name: 'combinator',
		type: 'options',
		options: [
			{ name: 'AND (All Conditions)', value: 'and' },
			{ name: 'OR (Any Condition)', value: 'or' },
		],
		default: 'and',
		displayOptions: { show: { conditionsInput: ['fields'] } },
	},
	{
		displayName: 'Conditions',
		name: 'conditions',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true, sortable: true },
		placeholder: 'Add Condition',
		default: {},
		displayOptions: { show: { conditionsInput: ['fields'] } },
		options: [
			{
				displayName: 'Condition',
				name: 'condition',
				values: [
					{
						displayName: 'Campaign ID',
						name: 'campaignId',
						type: 'string',
						default: '',
						displayOptions: { show: { type: ['email'] } },
						description: 'Empty for any campaign (required for Did Not Open)',
					},
					{
						displayName: 'Count',
						name: 'count',
						type: 'number',
						default: 1,
						displayOptions: { show: { type: ['event'], eventOperator: ['didAtLeast'] } },
						description: 'At least this many times',
					},
					{
						displayName: 'Days',
						name: 'days',
						type: 'number',
						default: 0,
						displayOptions: { show: { type: ['event', 'email'] } },
						description: 'Window in days; 0 for ever (for Did Not Open: days after receiving)',
					},
					{
						displayName: 'E-Mail Operator',
						name: 'emailOperator',
						type: 'options',
						options: [
							{ name: 'Clicked', value: 'clicked' },
							{ name: 'Did Not Open Within Days of Receiving', value: 'notOpened' },
							{ name: 'Opened', value: 'opened' },
							{ name: 'Received', value: 'received' },
						],
						default: 'opened',
						displayOptions: { show: { type: ['email'] } },
					},
					{
						displayName: 'Event',
						name: 'event',
						type: 'string',
						default: '',
						displayOptions: { show: { type: ['event'] } },
						placeholder: 'e.g. purchase',
					},
					{
						displayName: 'Event Operator',
						name: 'eventOperator',
						type: 'options',
						options: [
							{
								name: 'Did at Least',
								value: 'didAtLeast',
								description: 'Did it at least Count times (in the last Days days)',
							},
							{
								name: 'Did but Not',
								value: 'didButNot',
								description: 'Did it and no Other Event followed (within Days days)',
							},
							{ name: 'Did Not', value: 'didNot', description: 'Never did it (or not in the last Days days)' },
						],
						default: 'didAtLeast',
						displayOptions: { show: { type: ['event'] } },
					},
					{
						displayName: 'Field',
						name: 'field',
						type: 'string',
						default: '',
						displayOptions: { show: { type: ['field'] } },
						placeholder: 'e.g. nps, language, createdAt',
					},
					{
						displayName: 'Field Operator',
						name: 'fieldOperator',
						type: 'options',
						options: VALUE_OPERATOR_OPTIONS,
						default: 'equals',
						displayOptions: { show: { type: ['field'] } },
					},
					{
						displayName: 'Field Window Days',
						name: 'fieldDays',
						type: 'number',
						default: 30,
						displayOptions: { show: { type: ['field'], fieldOperator: ['withinLastDays', 'notWithinLastDays'] } },
					},
					{
						displayName: 'Ignore Case',
						name: 'ignoreCase',
						type: 'boolean',
						default: false,
						displayOptions: { show: { type: ['field'] } },
					},
					{
						displayName: 'Membership Operator',
						name: 'memberOperator',
						type: 'options',
						options: [
							{ name: 'In List', value: 'in' },
							{ name: 'Is', value: 'is' },
							{ name: 'Is Not', value: 'isNot' },
							{ name: 'Not In List', value: 'notIn' },
						],
						default: 'is',
						displayOptions: { show: { type: MEMBER_TYPES } },
					},
					{
						displayName: 'Other Event',
						name: 'otherEvent',
						type: 'string',
						default: '',
						displayOptions: { show: { type: ['event'], eventOperator: ['didButNot'] } },
						placeholder: 'e.g. purchase',
					},
					{
						displayName: 'Property',
						name: 'property',
						type: 'string',
						default: '',
						displayOptions: { show: { type: ['event'] } },
						description: 'Optional property of the event to check',
					},
					{
						displayName: 'Property Operator',
						name: 'propertyOperator',
						type: 'options',
						options: VALUE_OPERATOR_OPTIONS,
						default: 'equals',
						displayOptions: { show: { type: ['event'] } },
					},
					{
						displayName: 'Property Value',
						name: 'propertyValue',
						type: 'string',
						default: '',
						displayOptions: { show: { type: ['event'] } },
					},
					{
						displayName: 'Score Model',
						name: 'model',
						type: 'string',
						default: 'default',
						displayOptions: { show: { type: ['score', 'grade'] } },
					},
					{
						displayName: 'Score Operator',
						name: 'scoreOperator',
						type: 'options',
						options: [
							{ name: 'Between', value: 'between' },
							{ name: 'Equals', value: 'equals' },
							{ name: 'Greater Than', value: 'gt' },
							{ name: 'Greater Than or Equal', value: 'gte' },
							{ name: 'Less Than', value: 'lt' },
							{ name: 'Less Than or Equal', value: 'lte' },
						],
						default: 'gte',
						displayOptions: { show: { type: ['score'] } },
					},
					{
						displayName: 'Tag Operator',
						name: 'tagOperator',
						type: 'options',
						options: [
							{ name: 'Has All', value: 'hasAll' },
							{ name: 'Has Any', value: 'hasAny' },
							{ name: 'Has None', value: 'hasNone' },
						],
						default: 'hasAny',
						displayOptions: { show: { type: ['tags'] } },
					},
					{
						displayName: 'Tags',
						name: 'tags',
						type: 'string',
						default: '',
						displayOptions: { show: { type: ['tags'] } },
						description: 'Comma-separated tags',
					},
					{
						displayName: 'Tier Names',
						name: 'tierNames',
						type: 'string',
						default: 'Engaged, Disengaged, Inactive',
						displayOptions: { show: { type: ['tier'] } },
						description: 'The tier tags the Engagement Tagger uses',
					},
					{
						displayName: 'Topic',
						name: 'topic',
						type: 'string',
						default: '',
						displayOptions: { show: { type: ['topic'] } },
						placeholder: 'e.g. newsletter',
						description: 'A declared topic (Contact node, Topic)',
					},
					{
						displayName: 'Topic Operator',
						name: 'topicOperator',
						type: 'options',
						options: [
							{
								name: 'Not Unsubscribed',
								value: 'notUnsubscribed',
								description: 'Did not leave the topic: a send on it reaches the contact',
							},
							{ name: 'Subscribed', value: 'subscribed', description: 'Chose the topic (indexed: fast)' },
							{ name: 'Unsubscribed', value: 'unsubscribed', description: 'Left the topic' },
						],
						default: 'notUnsubscribed',
						displayOptions: { show: { type: ['topic'] } },
					},
					{
						displayName: 'Type',
						name: 'type',
						type: 'options',
						options: [
							{ name: 'E-Mail Engagement', value: 'email' },
							{ name: 'Engagement Tier', value: 'tier' },
							{ name: 'Event', value: 'event' },
							{ name: 'Field', value: 'field' },
							{ name: 'Grade', value: 'grade' },
							{ name: 'Lifecycle Stage', value: 'lifecycleStage' },
							{ name: 'Score', value: 'score' },
							{ name: 'Subscription Status', value: 'subscription' },
							{ name: 'Tags', value: 'tags' },
							{ name: 'Topic', value: 'topic' },
						],
						default: 'field',
					},
					{
						displayName: 'Value',
						name: 'value',
						type: 'string',
						default: '',
						displayOptions: { show: { type: ['field', 'score', ...MEMBER_TYPES] } },
						description: 'Number, text or date to compare with; comma-separated for In List',
					},
					{
						displayName: 'Value 2',
						name: 'value2',
						type: 'string',
						default: '',
						displayOptions: { show: { type: ['field', 'score'] } },
						description: 'Upper bound for Between',
					},
				],
			},
		],
	},
	{
		displayName: 'Conditions (JSON)',
		name: 'conditionsJson',
		type: 'json',
		default:
			'{\n  "combinator": "and",\n  "conditions": [\n    {"type": "field", "field": "nps", "operator": "gte", "value": 7},\n    {"combinator": "or", "conditions": [\n      {"type": "tags", "operator": "hasAny", "tags": ["newsletter"]},\n      {"type": "lifecycleStage", "operator": "is", "value": "customer"}\n    ]}\n  ]\n}',
		displayOptions: { show: { conditionsInput: ['json'] } },
	},
	{
		displayName: 'Pagination',
		name: 'pagination',
		type: 'options',
		options: [
			{
				name: 'One Page per Run',
				value: 'page',
				description: 'Emit one page and a cursor on Next Page; loop Next Page back into this node',
			},
			{
				name: 'All Pages',
				value: 'all',
				description: 'Emit every page now, up to Max Contacts (reads one page from Redis at a time)',
			},
		],
		default: 'page',
		displayOptions: { show: { mode: ['segment'] } },
	},
	{
		displayName: 'Page Size',
		name: 'pageSize',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 10000 },
		default: 1000,
		displayOptions: { show: { mode: ['segment'] } },
	},
	{
		displayName: 'Cursor',
		name: 'cursor',
		type: 'string',
		default: '={{ $json.cursor ?? "" }}',
		displayOptions: { show: { mode: ['segment'], pagination: ['page'] } },
		description: 'The cursor from Next Page; empty to start from the beginning',
	},
	{
		displayName: 'Max Contacts',
		name: 'maxContacts',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: 100000,
		displayOptions: { show: { mode: ['segment'], pagination: ['all'] } },
		description: 'Stop after this many contacts and return the cursor on Next Page',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Fallback Time Zone',
				name: 'fallbackZone',
				type: 'string',
				default: 'UTC',
				description: 'Zone for "anniversary today" when the contact has none',
			},
		],
	},
];
