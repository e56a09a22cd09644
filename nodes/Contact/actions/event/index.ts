import type { INodeProperties } from 'n8n-workflow';
import * as record from './record.operation';
import { identifyProperties, showFor } from '../../../shared/contact';

export { record };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: showFor(['event']),
		options: [
			{ name: 'Record', value: 'record', description: 'Record something a contact did', action: 'Record an event' },
		],
		default: 'record',
	},
	...identifyProperties(['event']),
	...record.description,
];
