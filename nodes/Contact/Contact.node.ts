import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { deadLetterTriggers } from '../shared/deadLetters';
import { storeCredentialTest } from '../shared/store';
import { properties } from './description';
import { execute } from './execute';

export class Contact implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Contact',
		name: 'contact',
		icon: { light: 'file:contact.svg', dark: 'file:contact.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] + ": " + $parameter["resource"]}}',
		description:
			'Keep contacts, events, tags and subscriptions in the Redis contact store, and classify inbound e-mail',
		defaults: { name: 'Contact' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'contactStoreApi', required: true, testedBy: 'contactStoreConnectionTest' }],
		properties,
	};

	methods = { credentialTest: storeCredentialTest, loadOptions: { deadLetterTriggers } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return execute.call(this);
	}
}
