import type { INodeParameters, INodeProperties } from 'n8n-workflow';
import { OPERATOR_TABLE, operatorOptions } from '../../lib/segments/operators';

/** Output indexes; a failed item goes to Scored (routeResults), the output every item reaches. */
export const SCORED = 0;
export const GRADE_CHANGED = 1;

// Evaluated by n8n in the editor: a second output only when grade changes are routed apart.
export const configuredOutputs = (parameters: INodeParameters) =>
	parameters.routeGradeChanges
		? [
				{ type: 'main', displayName: 'Scored' },
				{ type: 'main', displayName: 'Grade Changed' },
			]
		: [{ type: 'main', displayName: 'Scored' }];

// Event property conditions: every operator but the date ones.
const FIELD_OPERATORS = operatorOptions((op) => !OPERATOR_TABLE[op].date);

// Field rules run inside the scoring script, which has no regular expressions.
const RULE_FIELD_OPERATORS = operatorOptions((op) => OPERATOR_TABLE[op].fieldRule);

export const properties: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'Score Event',
				value: 'scoreEvent',
				action: 'Score an event',
				description: 'Apply event rules to the event of each item, then field rules, decay and grade',
			},
			{
				name: 'Recalculate',
				value: 'recalculate',
				action: 'Recalculate a score',
				description: 'Apply field rules, decay and grade without an event (e.g. on a schedule)',
			},
		],
		default: 'scoreEvent',
	},
	{
		displayName: 'Input',
		name: 'input',
		type: 'options',
		options: [
			{
				name: 'From Input Item',
				value: 'item',
				description:
					'Contact from contact.ID, contactId or ID; event from the event object (name, ID, time, properties) or name / eventId. Fastest.',
			},
			{ name: 'Define Below', value: 'define', description: 'Map the contact and the event with expressions' },
		],
		default: 'item',
	},
	{
		displayName: 'Contact ID',
		name: 'contactId',
		type: 'string',
		default: '={{ $json.contact?.id ?? $json.contactId ?? $json.id }}',
		required: true,
		displayOptions: { show: { input: ['define'] } },
		description: 'The contact to score',
	},
	{
		displayName: 'Event Name',
		name: 'eventName',
		type: 'string',
		default: '={{ $json.event?.name ?? $json.name }}',
		required: true,
		displayOptions: { show: { operation: ['scoreEvent'], input: ['define'] } },
	},
	{
		displayName: 'Event ID',
		name: 'eventId',
		type: 'string',
		default: '={{ $json.event?.id ?? $json.eventId ?? "" }}',
		displayOptions: { show: { operation: ['scoreEvent'], input: ['define'] } },
		description:
			'Event ID or idempotency key: the same event scored twice changes nothing. Without one, the event name and time identify it.',
	},
	{
		displayName: 'Event Time',
		name: 'eventTime',
		type: 'string',
		default: '={{ $json.event?.time ?? $json.time ?? "" }}',
		displayOptions: { show: { operation: ['scoreEvent'], input: ['define'] } },
		description: 'When it happened (ISO 8601 or epoch ms; empty for now). Decay and "once per day" count from it.',
	},
	{
		displayName: 'Event Properties',
		name: 'eventProperties',
		type: 'json',
		default: '={{ $json.event?.properties ?? $json.properties ?? {} }}',
		displayOptions: { show: { operation: ['scoreEvent'], input: ['define'] } },
		description: 'The properties rule conditions look at',
	},
	{
		displayName: 'Score Model',
		name: 'model',
		type: 'string',
		default: 'default',
		description: 'Name of the score (several can live side by side, e.g. "fit" and "intent")',
	},
	{
		displayName: 'Define Rules',
		name: 'rulesInput',
		type: 'options',
		options: [
			{ name: 'Using Fields Below', value: 'fields' },
			{ name: 'Using JSON', value: 'json', description: 'A list of rules, with several property conditions each' },
		],
		default: 'fields',
	},
	{
		displayName: 'Rules',
		name: 'rules',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true, sortable: true },
		placeholder: 'Add Rule',
		default: {},
		displayOptions: { show: { rulesInput: ['fields'] } },
		options: [
			{
				displayName: 'Rule',
				name: 'rule',
				values: [
					{
						displayName: 'Decay',
						name: 'decay',
						type: 'options',
						options: [
							{ name: 'Node Default', value: 'default' },
							{ name: 'None', value: 'none' },
							{ name: 'Expire After Days', value: 'expire' },
							{ name: 'Halve Every Days', value: 'halfLife' },
						],
						default: 'default',
						displayOptions: { show: { kind: ['event'] } },
					},
					{
						displayName: 'Decay Days',
						name: 'decayDays',
						type: 'number',
						default: 30,
						displayOptions: { show: { kind: ['event'], decay: ['expire', 'halfLife'] } },
					},
					{
						displayName: 'Event Name',
						name: 'event',
						type: 'string',
						default: '',
						displayOptions: { show: { kind: ['event'] } },
						placeholder: 'e.g. page_viewed',
					},
					{
						displayName: 'Field',
						name: 'field',
						type: 'string',
						default: '',
						displayOptions: { show: { kind: ['field'] } },
						placeholder: 'e.g. jobTitle or lifecycleStage',
					},
					{
						displayName: 'Field Operator',
						name: 'fieldOperator',
						type: 'options',
						options: RULE_FIELD_OPERATORS,
						default: 'equals',
						displayOptions: { show: { kind: ['field'] } },
					},
					{
						displayName: 'Frequency',
						name: 'frequency',
						type: 'options',
						options: [
							{ name: 'Every Time', value: 'everyTime' },
							{ name: 'Once per Day (UTC)', value: 'oncePerDay' },
							{ name: 'Once per Contact', value: 'oncePerContact' },
						],
						default: 'everyTime',
						displayOptions: { show: { kind: ['event'] } },
					},
					{
						displayName: 'Kind',
						name: 'kind',
						type: 'options',
						options: [
							{ name: 'Event', value: 'event', description: "Points when the item's event matches" },
							{
								name: 'Field Condition',
								value: 'field',
								description: 'Points once while a contact field meets the condition',
							},
						],
						default: 'event',
					},
					{
						displayName: 'Name',
						name: 'name',
						type: 'string',
						default: '',
						required: true,
						description: 'Stable name of the rule; renaming it lets it give points again',
					},
					{
						displayName: 'Points',
						name: 'points',
						type: 'number',
						default: 10,
						description: 'Negative points lower the score',
					},
					{
						displayName: 'Property',
						name: 'property',
						type: 'string',
						default: '',
						displayOptions: { show: { kind: ['event'] } },
						description: 'Optional event property to check (dots for nesting, e.g. page.path)',
					},
					{
						displayName: 'Property Operator',
						name: 'propertyOperator',
						type: 'options',
						options: FIELD_OPERATORS,
						default: 'equals',
						displayOptions: { show: { kind: ['event'] } },
					},
					{
						displayName: 'Property Value',
						name: 'propertyValue',
						type: 'string',
						default: '',
						displayOptions: { show: { kind: ['event'] } },
					},
					{
						displayName: 'Value',
						name: 'value',
						type: 'string',
						default: '',
						displayOptions: { show: { kind: ['field'] } },
						description: 'Number, text, date, or a comma-separated list for In List',
					},
					{
						displayName: 'Value 2',
						name: 'value2',
						type: 'string',
						default: '',
						displayOptions: { show: { kind: ['field'], fieldOperator: ['between'] } },
					},
				],
			},
		],
	},
	{
		displayName: 'Rules (JSON)',
		name: 'rulesJson',
		type: 'json',
		default:
			'[\n  {"name": "pricing page", "event": "page_viewed", "where": [{"property": "path", "operator": "equals", "value": "/pricing"}], "points": 10}\n]',
		displayOptions: { show: { rulesInput: ['json'] } },
		description:
			'Rules as {name, points, event, where: [{property, operator, value}], frequency, decay: {mode, days}} or {name, points, field: {field, operator, value}}',
	},
	{
		displayName: 'Decay',
		name: 'decay',
		type: 'options',
		options: [
			{ name: 'None', value: 'none', description: 'Points last forever' },
			{ name: 'Expire After Days', value: 'expire', description: 'Points count for N days after the event' },
			{ name: 'Halve Every Days', value: 'halfLife', description: 'Points lose half their value every N days' },
		],
		default: 'none',
		description: 'Default decay of event points; computed whenever the score is read, no job needed',
	},
	{
		displayName: 'Decay Days',
		name: 'decayDays',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: 90,
		displayOptions: { hide: { decay: ['none'] } },
	},
	{
		displayName: 'Grades',
		name: 'grades',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true },
		placeholder: 'Add Grade',
		default: {
			grade: [
				{ name: 'cold', minScore: 0 },
				{ name: 'warm', minScore: 20 },
				{ name: 'hot', minScore: 50 },
			],
		},
		description: 'Named grades by minimum score; the lowest grade also covers every score below the next one',
		options: [
			{
				displayName: 'Grade',
				name: 'grade',
				values: [
					{ displayName: 'Name', name: 'name', type: 'string', default: '' },
					{ displayName: 'Minimum Score', name: 'minScore', type: 'number', default: 0 },
				],
			},
		],
	},
	{
		displayName: 'Route Grade Changes to Second Output',
		name: 'routeGradeChanges',
		type: 'boolean',
		default: false,
		description: 'Whether items whose grade changed go to a second output ("Grade Changed") instead of the first',
	},
];
