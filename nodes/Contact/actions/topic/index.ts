import type { INodeProperties } from 'n8n-workflow';
import { identifyProperties, showFor } from '../../../shared/contact';
import * as declare from './declare.operation';
import * as list from './list.operation';
import * as remove from './delete.operation';
import * as setContact from './setContact.operation';

export { declare, list, remove, setContact };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: showFor(['topic']),
		options: [
			{
				name: 'Declare',
				value: 'declare',
				description: 'Declare a topic of the workspace, or change its label',
				action: 'Declare a topic',
			},
			{
				name: 'Delete',
				value: 'delete',
				description: 'Delete a topic (contacts keep their choice if it is declared again)',
				action: 'Delete a topic',
			},
			{ name: 'List', value: 'list', description: 'List the declared topics', action: 'List topics' },
			{
				name: 'Set Contact Topics',
				value: 'setContact',
				description: 'Subscribe a contact to topics, or unsubscribe it from them',
				action: 'Set the topics of a contact',
			},
		],
		default: 'declare',
	},
	{
		displayName: 'Topic Name',
		name: 'topicName',
		type: 'string',
		required: true,
		displayOptions: showFor(['topic'], ['declare', 'delete']),
		default: '',
		placeholder: 'e.g. newsletter',
		description: 'Letters, digits, "_", "-" or "." (up to 64); Send Campaign and the preference centre use it',
	},
	...identifyProperties(['topic'], ['setContact']),
	...declare.description,
	...setContact.description,
];
