import {
	NodeConnectionTypes,
	type INodeType,
	type INodeTypeDescription,
	type IWebhookFunctions,
	type IWebhookResponseData,
} from 'n8n-workflow';
import { storeCredentialTest } from '../shared/store';
import { MARKETING_WEBHOOKS, properties } from './description';
import { testMarketingWebhookCredential, webhook } from './execute';

export class MarketingWebhookTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Marketing Webhook Trigger',
		name: 'marketingWebhookTrigger',
		icon: { light: 'file:marketingWebhookTrigger.svg', dark: 'file:marketingWebhookTrigger.dark.svg' },
		group: ['trigger'],
		// 1.1 behaves as 1. n8n evaluates an expression per request for a version-1 trigger (its
		// webhook-helpers parseRequestBody), which costs an expression isolate on every hit.
		version: [1, 1.1],
		defaultVersion: 1.1,
		subtitle: '={{ "path: /" + ($parameter["path"] || "") }}',
		description:
			'Receive CRM, site and form events, ESP delivery events, and the open, click and unsubscribe hits of your campaigns',
		defaults: { name: 'Marketing Webhook Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{ name: 'contactStoreApi', required: true, testedBy: 'contactStoreConnectionTest' },
			{ name: 'marketingWebhookApi', required: false, testedBy: 'marketingWebhookSettingsTest' },
		],
		webhooks: MARKETING_WEBHOOKS,
		properties,
	};

	methods = {
		credentialTest: { ...storeCredentialTest, marketingWebhookSettingsTest: testMarketingWebhookCredential },
	};

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		return webhook.call(this);
	}
}
