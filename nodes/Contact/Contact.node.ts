import {
	NodeConnectionTypes,
	NodeOperationError,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { leaseStore, testContactStoreCredential } from '../shared/store';
import { toNodeError } from '../shared/items';
import { contactProperties } from './ContactDescription';
import { OPERATIONS } from './operations';
import { DEAD_LETTER_OPERATIONS, deadLetterTriggers } from './deadLetter';

export class Contact implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Contact',
		name: 'contact',
		icon: { light: 'file:contact.svg', dark: 'file:contact.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] + ": " + $parameter["resource"]}}',
		description: 'Keep contacts, events, tags and subscriptions in the Redis contact store, and classify inbound e-mail',
		defaults: { name: 'Contact' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'contactStoreApi', required: true, testedBy: 'contactStoreConnectionTest' }],
		properties: contactProperties,
	};

	methods = {
		credentialTest: { contactStoreConnectionTest: testContactStoreCredential },
		loadOptions: { deadLetterTriggers },
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const resource = this.getNodeParameter('resource', 0) as string;
		const operation = this.getNodeParameter('operation', 0) as string;
		const run = OPERATIONS[`${resource}.${operation}`] ?? DEAD_LETTER_OPERATIONS[`${resource}.${operation}`];
		if (!run) throw new NodeOperationError(this.getNode(), `The operation "${operation}" is not supported for "${resource}"`, { itemIndex: 0 });
		let lease;
		try {
			lease = await leaseStore(this);
		} catch (error) {
			throw toNodeError(this, error as Error, 0);
		}
		try {
			return [await run(this, lease.store)];
		} finally {
			lease.release();
		}
	}
}
