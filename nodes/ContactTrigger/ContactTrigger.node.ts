import {
	NodeConnectionTypes,
	type INodeType,
	type INodeTypeDescription,
	type ITriggerFunctions,
	type ITriggerResponse,
} from 'n8n-workflow';
import { CONTACT_TRIGGER_NAME } from '../shared/items';
import { storeCredentialTest } from '../shared/store';
import { properties } from './description';
import { trigger } from './execute';

export class ContactTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Contact Trigger',
		name: CONTACT_TRIGGER_NAME,
		icon: { light: 'file:contactTrigger.svg', dark: 'file:contactTrigger.dark.svg' },
		group: ['trigger'],
		version: 1,
		subtitle: '={{ $parameter["mode"] }}',
		description:
			'Starts the workflow when something happens to a contact: an event, a tag, a field, a date, inactivity',
		defaults: { name: 'Contact Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'contactStoreApi', required: true, testedBy: 'contactStoreConnectionTest' }],
		properties,
	};

	methods = { credentialTest: storeCredentialTest };

	async trigger(this: ITriggerFunctions): Promise<ITriggerResponse> {
		return trigger.call(this);
	}
}
