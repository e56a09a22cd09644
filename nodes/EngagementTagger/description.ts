import type { INodeProperties } from 'n8n-workflow';

export const properties: INodeProperties[] = [
	{
		displayName: 'Mode',
		name: 'mode',
		type: 'options',
		noDataExpression: true,
		options: [
			{ name: 'Per Contact', value: 'contact', description: 'Re-tier the contact of each incoming item' },
			{
				name: 'Whole Base',
				value: 'wholeBase',
				description:
					'One run (e.g. daily from a Schedule Trigger) over the contacts that crossed a boundary; outputs those whose tier changed',
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
		displayOptions: { show: { mode: ['contact'] } },
	},
	{
		displayName: 'Tier Names',
		name: 'tierNames',
		type: 'string',
		default: 'Engaged, Disengaged, Inactive',
		description: 'Comma-separated, most engaged first; each is also the tag the contact carries while in that tier',
	},
	{
		displayName: 'Boundaries (Days)',
		name: 'boundaryDays',
		type: 'string',
		default: '30, 60',
		description: 'Days since the last interaction where the next tier starts; one fewer than the tier names',
	},
	{
		displayName: 'Interaction Events',
		name: 'interactionEvents',
		type: 'string',
		default: '',
		placeholder: 'e.g. purchase, $email_clicked',
		description:
			"Comma-separated events that count as an interaction; empty for the store's activity (every event you record, e-mail opens, clicks and replies)",
		displayOptions: { show: { mode: ['contact'] } },
	},
	{
		displayName: 'Run Name',
		name: 'runName',
		type: 'string',
		default: '',
		placeholder: 'e.g. daily-tiers',
		description: 'Remembers when the previous whole-base run was; empty: one per workflow and node',
		displayOptions: { show: { mode: ['wholeBase'] } },
	},
	{
		displayName: 'Output',
		name: 'output',
		type: 'options',
		options: [
			{ name: 'Changed Contacts', value: 'changed', description: 'One item per contact whose tier changed' },
			{
				name: 'Summary Only',
				value: 'summary',
				description: 'One item with the counts (the first run over a large base changes every contact)',
			},
		],
		default: 'changed',
		displayOptions: { show: { mode: ['wholeBase'] } },
	},
];
