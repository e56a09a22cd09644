import type { INodeProperties } from 'n8n-workflow';
import * as parse from './parse.operation';
import { showFor } from '../../../shared/contact';

export { parse };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: showFor(['inboundEmail']),
		options: [
			{
				name: 'Parse',
				value: 'parse',
				description:
					'Classify a received e-mail (bounce, complaint, auto-reply, unsubscribe request, reply), record it and suppress the contact when needed',
				action: 'Parse an inbound email',
			},
		],
		default: 'parse',
	},
	...parse.description,
];
