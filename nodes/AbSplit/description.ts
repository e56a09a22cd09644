import type { INodeParameters, INodeProperties } from 'n8n-workflow';

// Evaluated by n8n in the editor (self-contained: it is inlined into an expression). Split: one
// output per variant, in the order listed, then Holdout; Report: one output.
export const configuredOutputs = (parameters: INodeParameters) => {
	if (parameters.operation === 'report') return [{ type: 'main', displayName: 'Report' }];
	const listed = ((parameters.variants || {}) as { variant?: Array<{ name?: string }> }).variant || [];
	return listed
		.map((v) => ({ type: 'main', displayName: 'Variant ' + (v.name || '') }))
		.concat([{ type: 'main', displayName: 'Holdout' }]);
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
				description: 'Route each contact to its variant (the same on every run) or to the holdout',
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
		description: 'Each variant gets its own output; weights are percent and, with the holdout, add up to 100',
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
