import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { storeCredentialTest } from '../shared/store';
import { properties } from './description';
import { execute, testCampaignSmtp } from './execute';

export class SendCampaign implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Send Campaign',
		name: 'sendCampaign',
		icon: { light: 'file:sendCampaign.svg', dark: 'file:sendCampaign.dark.svg' },
		group: ['output'],
		version: 1,
		subtitle:
			'={{$parameter["operation"] === "report" ? "report: " + $parameter["campaignId"] : $parameter["campaignId"]}}',
		description:
			'Send a personalised campaign e-mail once per contact, within caps and send windows, with unsubscribe and tracking',
		defaults: { name: 'Send Campaign' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Sent', 'Deferred', 'Skipped'],
		credentials: [
			{ name: 'contactStoreApi', required: true, testedBy: 'contactStoreConnectionTest' },
			{
				name: 'campaignSmtpApi',
				required: true,
				testedBy: 'campaignSmtpConnectionTest',
				displayOptions: { show: { operation: ['send'], delivery: ['smtp'] } },
			},
		],
		properties,
	};

	methods = { credentialTest: { ...storeCredentialTest, campaignSmtpConnectionTest: testCampaignSmtp } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return execute.call(this);
	}
}
