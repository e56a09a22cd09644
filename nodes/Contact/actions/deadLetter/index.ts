import type { INodeProperties } from 'n8n-workflow';
import { DEAD_LETTERS_PER_CALL } from '../../../../lib';
import { showFor } from '../../../shared/contact';
import * as list from './list.operation';
import * as purge from './purge.operation';
import * as replay from './replay.operation';

export { list, purge, replay };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: showFor(['deadLetter']),
		options: [
			{
				name: 'List',
				value: 'list',
				description: "List a trigger's dead letters, oldest first",
				action: 'List dead letters',
			},
			{ name: 'Purge', value: 'purge', description: 'Delete dead letters for good', action: 'Purge dead letters' },
			{
				name: 'Replay',
				value: 'replay',
				description: 'Deliver dead letters to their trigger again',
				action: 'Replay dead letters',
			},
		],
		default: 'list',
	},
	{
		displayName: 'Trigger Name or ID',
		name: 'trigger',
		type: 'options',
		typeOptions: { loadOptionsMethod: 'deadLetterTriggers' },
		required: true,
		displayOptions: showFor(['deadLetter']),
		default: '',
		description:
			'The Contact Trigger whose dead letters to use (listed: those that have some). Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
	},
	{
		displayName: 'Dead Letter IDs',
		name: 'ids',
		type: 'string',
		displayOptions: showFor(['deadLetter'], ['replay', 'purge']),
		default: '',
		placeholder: 'e.g. 3-1712345678901-0, 7-1712345678955-0',
		description: 'Only these (the IDs List returns), comma-separated. Empty: the oldest, up to Limit.',
	},
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: DEAD_LETTERS_PER_CALL },
		displayOptions: showFor(['deadLetter']),
		default: 50,
		description: 'Max number of results to return',
	},
];
