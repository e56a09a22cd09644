import type { INodeProperties } from 'n8n-workflow';
import { DEFAULT_CONCURRENCY, SUBSCRIPTION_STATUSES } from '../../lib';

const show = (...mode: string[]) => ({ show: { mode } });
/** Options of the event-log modes (a date or inactivity schedule retries a failed run when its lease runs out). */
const eventModesOnly = { hide: { '/mode': ['dateReached', 'inactive'] } };

export const properties: INodeProperties[] = [
	{
		displayName: 'Trigger On',
		name: 'mode',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'Date Reached',
				value: 'dateReached',
				description: 'Anniversary of a date field, or N days before/after it, at a local hour',
			},
			{
				name: 'Engagement Tier Changed',
				value: 'tierChanged',
				description: 'Engagement Tagger moved the contact to another tier',
			},
			{
				name: 'Event Recorded',
				value: 'eventRecorded',
				description: 'A contact event is recorded (by any workflow, webhook or node)',
			},
			{
				name: 'Field Changed',
				value: 'fieldChanged',
				description: 'A contact field changes, optionally from / to given values',
			},
			{
				name: 'Inactive for N Days',
				value: 'inactive',
				description: 'No interaction for N days (once per inactive spell)',
			},
			{
				name: 'Score Grade Changed',
				value: 'gradeChanged',
				description: 'Lead Score moved the contact to another grade',
			},
			{
				name: 'Subscription Changed',
				value: 'subscriptionChanged',
				description: 'The subscription status changes',
			},
			{
				name: 'Tag Added',
				value: 'tagAdded',
			},
			{
				name: 'Tag Removed',
				value: 'tagRemoved',
			},
		],
		default: 'eventRecorded',
	},
	{
		displayName: 'Event Names',
		name: 'eventNames',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. newsletter_signup, checkout_*',
		description: 'Comma-separated; a name ending in * matches every name starting with the rest',
		displayOptions: show('eventRecorded'),
	},
	{
		displayName: 'Property Conditions',
		name: 'conditions',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true },
		placeholder: 'Add Condition',
		default: {},
		description: 'All must hold for the event to start the workflow',
		displayOptions: show('eventRecorded'),
		options: [
			{
				displayName: 'Condition',
				name: 'condition',
				values: [
					{
						displayName: 'Property',
						name: 'path',
						type: 'string',
						default: '',
						placeholder: 'e.g. cart.total',
						description: 'Dotted path into the event properties',
					},
					{
						displayName: 'Operator',
						name: 'operator',
						type: 'options',
						options: [
							{ name: 'Contains', value: 'contains' },
							{ name: 'Equals', value: 'equals' },
							{ name: 'Exists', value: 'exists' },
							{ name: 'Greater Than', value: 'greaterThan' },
							{ name: 'Less Than', value: 'lessThan' },
							{ name: 'Not Equals', value: 'notEquals' },
							{ name: 'Not Exists', value: 'notExists' },
						],
						default: 'equals',
					},
					{ displayName: 'Value', name: 'value', type: 'string', default: '' },
				],
			},
		],
	},
	{
		displayName: 'Tags',
		name: 'tags',
		type: 'string',
		default: '',
		placeholder: 'e.g. vip, customer',
		description: 'Comma-separated; empty for any tag',
		displayOptions: show('tagAdded', 'tagRemoved'),
	},
	{
		displayName: 'Field',
		name: 'field',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. plan',
		description: 'A custom field, or email, timezone or lifecycleStage',
		displayOptions: show('fieldChanged'),
	},
	{
		displayName: 'From Value',
		name: 'fromValue',
		type: 'string',
		default: '',
		description: 'Only when the old value was this; empty for any',
		displayOptions: show('fieldChanged'),
	},
	{
		displayName: 'To Value',
		name: 'toValue',
		type: 'string',
		default: '',
		description: 'Only when the new value is this; empty for any',
		displayOptions: show('fieldChanged'),
	},
	{
		displayName: 'New Status',
		name: 'statuses',
		type: 'multiOptions',
		options: SUBSCRIPTION_STATUSES.map((s) => ({
			name: s.charAt(0).toUpperCase() + s.slice(1),
			value: s,
		})),
		default: [],
		description: 'Empty for any change',
		displayOptions: show('subscriptionChanged'),
	},
	{
		displayName: 'New Grades',
		name: 'grades',
		type: 'string',
		default: '',
		placeholder: 'e.g. hot',
		description: 'Comma-separated grade names; empty for any change',
		displayOptions: show('gradeChanged'),
	},
	{
		displayName: 'New Tiers',
		name: 'tiers',
		type: 'string',
		default: '',
		placeholder: 'e.g. Inactive',
		description: 'Comma-separated tier names; empty for any change',
		displayOptions: show('tierChanged'),
	},
	{
		displayName: 'Date Field',
		name: 'dateField',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. birthday',
		description: 'A contact field holding a date (its calendar day is read in UTC)',
		displayOptions: show('dateReached'),
	},
	{
		displayName: 'Repeat',
		name: 'repeat',
		type: 'options',
		options: [
			{
				name: 'Every Year (Anniversary)',
				value: 'yearly',
				description: 'Birthday, customer anniversary',
			},
			{ name: 'Once', value: 'once', description: 'N days after sign-up, trial end' },
		],
		default: 'yearly',
		displayOptions: show('dateReached'),
	},
	{
		displayName: 'Offset Days',
		name: 'offsetDays',
		type: 'number',
		default: 0,
		description: 'Days after the date (negative: before it)',
		displayOptions: show('dateReached'),
	},
	{
		displayName: 'Local Hour',
		name: 'hour',
		type: 'number',
		typeOptions: { minValue: 0, maxValue: 23 },
		default: 9,
		description: "Hour of the day in the contact's time zone",
		displayOptions: show('dateReached'),
	},
	{
		displayName: 'Local Minute',
		name: 'minute',
		type: 'number',
		typeOptions: { minValue: 0, maxValue: 59 },
		default: 0,
		displayOptions: show('dateReached'),
	},
	{
		displayName: 'Fallback Time Zone',
		name: 'fallbackTimezone',
		type: 'string',
		default: 'UTC',
		placeholder: 'e.g. Europe/Berlin',
		description: 'Used for contacts without a valid time zone',
		displayOptions: show('dateReached'),
	},
	{
		displayName: 'Feb 29 in Other Years',
		name: 'leapDay',
		type: 'options',
		options: [
			{ name: 'Feb 28', value: 'feb28' },
			{ name: 'Mar 1', value: 'mar1' },
		],
		default: 'feb28',
		displayOptions: show('dateReached'),
	},
	{
		displayName: 'Inactive Days',
		name: 'inactiveDays',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: 30,
		description:
			'Fires once the last interaction is this many days old; new activity starts a new spell',
		displayOptions: show('inactive'),
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			// One event per execution by default: workflows see one contact per run, as they are written.
			// Memory is bounded by Concurrency, not by this; batches only cut n8n's cost per event.
			{
				displayName: 'Batch Size',
				name: 'batchSize',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 1000 },
				default: 1,
				description: 'Up to this many contacts per execution (for high volume)',
			},
			// DEFAULT_CONCURRENCY (lib/triggers/consumer.ts): what a 2-core, 2 GB n8n drains a backlog with.
			{
				displayName: 'Concurrency',
				name: 'concurrency',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 256 },
				default: DEFAULT_CONCURRENCY,
				description:
					'Executions this trigger runs at once, at most. Events beyond wait in Redis, so a backlog (n8n restarted with many events waiting) is drained without exhausting memory. Raise it in queue mode with several workers.',
			},
			{
				displayName: 'Include Contact',
				name: 'includeContact',
				type: 'boolean',
				default: true,
				description: 'Whether to add a snapshot of the contact to each item',
			},
			{
				displayName: 'Max Attempts',
				name: 'maxAttempts',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 20 },
				default: 5,
				description:
					'Times an event is delivered when its execution fails (the first included), waiting 2 s, 4 s, 8 s... in between. The attempt is in each item (delivery.attempt).',
				displayOptions: eventModesOnly,
			},
			{
				displayName: 'Max Wait (Ms)',
				name: 'maxWaitMs',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 500,
				description: 'How long a partial batch waits for more events',
			},
			{
				displayName: 'On First Activation',
				name: 'startFrom',
				type: 'options',
				options: [
					{
						name: 'Start From Now',
						value: 'now',
						description:
							'Only events from now on (inactivity: contacts that become inactive from now on)',
					},
					{
						name: 'Catch Up',
						value: 'catchUp',
						description:
							'Also events still in the event log (inactivity: contacts already inactive)',
					},
				],
				default: 'now',
			},
			{
				displayName: 'On Permanent Failure',
				name: 'onPermanentFailure',
				type: 'options',
				options: [
					{
						name: 'Move to Dead Letters',
						value: 'deadLetter',
						description:
							'Keep the event; list, replay or purge it with the Contact node (resource Dead Letter)',
					},
					{
						name: 'Drop',
						value: 'drop',
						description: 'Forget the event (a warning is logged)',
					},
				],
				default: 'deadLetter',
				description: 'What happens to an event whose executions failed Max Attempts times',
				displayOptions: eventModesOnly,
			},
			{
				displayName: 'While Inactive',
				name: 'whileInactive',
				type: 'options',
				options: [
					{
						name: 'Deliver Missed Events',
						value: 'deliver',
						description:
							'Events recorded while the workflow was off or n8n was down start it when it is back',
					},
					{
						name: 'Skip Missed Events',
						value: 'skip',
						description: 'Each activation starts from the newest event',
					},
				],
				default: 'deliver',
			},
		],
	},
];
