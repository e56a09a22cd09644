import type { INodeProperties } from 'n8n-workflow';
import { showFor } from '../../../shared/contact';
import * as report from './report.operation';

export { report };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: showFor(['journey']),
		options: [
			{
				name: 'Report',
				value: 'report',
				description:
					'Count who entered each journey (workflow), reached its goal, and what its mails did, per campaign and per day',
				action: 'Report on journeys and campaigns',
			},
		],
		default: 'report',
	},
	...report.description,
];
