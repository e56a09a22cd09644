import type { INodeProperties } from 'n8n-workflow';
import * as add from './add.operation';
import * as remove from './remove.operation';
import { identifyProperties, showFor } from '../../../shared/contact';

export { add, remove };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: showFor(['tag']),
		options: [
			{ name: 'Add', value: 'add', description: 'Add tags to a contact', action: 'Add tags to a contact' },
			{
				name: 'Remove',
				value: 'remove',
				description: 'Remove tags from a contact',
				action: 'Remove tags from a contact',
			},
		],
		default: 'add',
	},
	...identifyProperties(['tag']),
	{
		displayName: 'Tags',
		name: 'tags',
		type: 'string',
		required: true,
		displayOptions: showFor(['tag']),
		default: '',
		placeholder: 'e.g. newsletter, vip',
		description: 'Comma-separated tags (or an array from an expression); up to 200 characters each',
	},
	...add.description,
	...remove.description,
];
