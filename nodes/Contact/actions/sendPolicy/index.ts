import type { INodeProperties } from 'n8n-workflow';
import { showFor } from '../../../shared/contact';
import * as get from './get.operation';
import * as set from './set.operation';

export { get, set };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: showFor(['sendPolicy']),
		options: [
			{
				name: 'Get',
				value: 'get',
				description: 'Get the send policy every Send Campaign follows by default',
				action: 'Get the workspace send policy',
			},
			{
				name: 'Set',
				value: 'set',
				description: 'Set the consent rule, quiet hours and frequency cap for all Send Campaign nodes',
				action: 'Set the workspace send policy',
			},
		],
		default: 'get',
	},
	...get.description,
	...set.description,
];
