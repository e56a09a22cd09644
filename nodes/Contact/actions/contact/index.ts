import type { INodeProperties } from 'n8n-workflow';
import * as upsert from './upsert.operation';
import * as get from './get.operation';
import * as erase from './erase.operation';
import * as exportContact from './export.operation';
import { identifyProperties, showFor } from '../../../shared/contact';

export { upsert, get, erase, exportContact };

export const description: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: showFor(['contact']),
		options: [
			{
				name: 'Create or Update',
				value: 'upsert',
				description: 'Create a new record, or update the current one if it already exists (upsert)',
				action: 'Create or update a contact',
			},
			{
				name: 'Erase',
				value: 'erase',
				description: 'Delete a contact and everything held on it (GDPR right to erasure)',
				action: 'Erase a contact',
			},
			{
				name: 'Export',
				value: 'export',
				description: 'Return everything held on a contact (GDPR right of access)',
				action: 'Export a contact',
			},
			{ name: 'Get', value: 'get', description: 'Get a contact by ID or e-mail', action: 'Get a contact' },
		],
		default: 'upsert',
	},
	...identifyProperties(['contact'], ['get', 'erase', 'export']),
	...upsert.description,
	...get.description,
	...erase.description,
	...exportContact.description,
];
