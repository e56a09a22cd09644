import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import type { ContactStore } from '../../../../lib';
import { changeTags, showFor } from '../../../shared/contact';

export const description: INodeProperties[] = [
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: showFor(['tag'], ['add']),
		default: {},
		options: [
			{
				displayName: 'Create Contact If Missing',
				name: 'createContact',
				type: 'boolean',
				default: true,
				description: 'Whether to create the contact when it does not exist; otherwise the item fails',
			},
		],
	},
];

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	return changeTags(this, store, 'add');
}
