import type { INodeProperties } from 'n8n-workflow';
import * as goalReached from './goalReached.operation';
import * as record from './record.operation';
import { identifyProperties, showFor } from '../../../shared/contact';

export { goalReached, record };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: showFor(['event']),
		options: [
			{ name: 'Record', value: 'record', description: 'Record something a contact did', action: 'Record an event' },
			{
				name: 'Record Goal Reached',
				value: 'goalReached',
				description: 'Record that the contact reached the goal of this workflow ($goal_reached)',
				action: 'Record a goal reached',
			},
		],
		default: 'record',
	},
	...identifyProperties(['event']),
	...record.description,
	...goalReached.description,
];
