import type { INodeParameters, INodeProperties } from 'n8n-workflow';

// Evaluated by n8n in the editor (self-contained: it is inlined into an expression). Split: one
// output per variant, in the order listed, then Holdout, then Rest when the test keeps one back;
// Report: one output.
export const configuredOutputs = (parameters: INodeParameters) => {
	if (parameters.operation === 'report') return [{ type: 'main', displayName: 'Report' }];
	const listed = ((parameters.variants || {}) as { variant?: Array<{ name?: string }> }).variant || [];
	return listed
		.map((v) => ({ type: 'main', displayName: 'Variant ' + (v.name || '') }))
		.concat([{ type: 'main', displayName: 'Holdout' }])
		.concat(parameters.rest ? [{ type: 'main', displayName: 'Rest' }] : []);
};

const split = { show: { operation: ['split'] } };

export const properties: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'Split',
				value: 'split',
				action: 'Split contacts into variants and a holdout',
				description:
					'Route each contact to its variant (the same on every run), the holdout, or the rest (which gets the winner once decided)',
			},
			{
				name: 'Report',
				value: 'report',
				action: 'Report on an A/B test',
				description: 'Per variant: assigned, sent, opened, clicked, conversions and uplift against the holdout',
			},
		],
		default: 'split',
	},
	{
		displayName: 'Test ID',
		name: 'testId',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. welcome-subject-2026-05',
		description:
			'Names the test; letters, digits, "_", "." and "-". Each variant\'s campaign ID is the test ID, a colon and the variant name (e.g. welcome:B).',
	},
	{
		displayName: 'Contact ID',
		name: 'contactId',
		type: 'string',
		default: '={{ $json.contact?.id ?? $json.contactId ?? $json.id }}',
		required: true,
		displayOptions: split,
		description: 'The contact this item is about (Contact Trigger items carry it in contact.ID)',
	},
	{
		displayName: 'Variants',
		name: 'variants',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true, sortable: true },
		placeholder: 'Add Variant',
		default: {
			variant: [
				{ name: 'A', weight: 45 },
				{ name: 'B', weight: 45 },
			],
		},
		description:
			'Each variant gets its own output; weights are percent and, with the holdout and the rest, add up to 100. The first listed is sent to the rest when the winner cannot be told apart.',
		options: [
			{
				displayName: 'Variant',
				name: 'variant',
				values: [
					{ displayName: 'Name', name: 'name', type: 'string', default: '' },
					{
						displayName: 'Weight (%)',
						name: 'weight',
						type: 'number',
						typeOptions: { minValue: 0 },
						default: 50,
					},
				],
			},
		],
	},
	{
		displayName: 'Holdout (%)',
		name: 'holdout',
		type: 'number',
		typeOptions: { minValue: 0, maxValue: 100 },
		default: 10,
		displayOptions: split,
		description: 'Contacts kept out of the mail, to measure what the mail changes',
	},
	{
		displayName: 'Rest (%)',
		name: 'rest',
		type: 'number',
		typeOptions: { minValue: 0, maxValue: 99 },
		default: 0,
		displayOptions: split,
		description:
			"Contacts kept back from the test: they leave by the Rest output until the winner is decided, with sendAt (the decision time) like Send Campaign's Deferred items: wire Rest to the same hand-off (a Wait until sendAt, then back into this node). After the decision they leave by the winner's output. 0: no rest.",
	},
	{
		displayName: 'Decide Winner After (Hours)',
		name: 'decideAfterHours',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 720 },
		default: 24,
		displayOptions: split,
		description:
			"With a rest: hours after the test's first split when the winner is decided, once (fixed when the test starts)",
	},
	{
		displayName: 'Pick Winner By',
		name: 'winnerMetric',
		type: 'options',
		options: [
			{
				name: 'Click Rate',
				value: 'click',
				description: 'Unique clicks per mail sent, from the variant campaigns',
			},
			{
				name: 'Conversion Rate',
				value: 'conversion',
				description: 'Goal events per contact assigned, as the report counts them',
			},
			{
				name: 'Open Rate',
				value: 'open',
				description: 'Unique opens per mail sent, from the variant campaigns (machine opens left out)',
			},
		],
		default: 'conversion',
		displayOptions: split,
		description:
			'With a rest: the best rate wins, even when its lead is not significant; on a tie or without data, the first listed variant (fixed when the test starts)',
	},
	{
		displayName: 'Goal Event',
		name: 'goal',
		type: 'string',
		default: '$goal_reached',
		displayOptions: split,
		description:
			'The event that counts as a conversion: "$goal_reached" (Contact node, Record Goal Reached) or any event name',
	},
	{
		displayName: 'Conversion Window (Days)',
		name: 'windowDays',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 365 },
		default: 14,
		displayOptions: split,
		description: 'A goal event counts when it comes this many days after the assignment at most',
	},
];
