import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { storeCredentialTest } from '../shared/store';
import { properties } from './description';
import { execute } from './execute';

export class EngagementTagger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Engagement Tagger',
		name: 'engagementTagger',
		icon: { light: 'file:engagementTagger.svg', dark: 'file:engagementTagger.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["mode"] === "wholeBase" ? "whole base" : "per contact" }}',
		description: 'Tags contacts Engaged / Disengaged / Inactive from their last interaction',
		defaults: { name: 'Engagement Tagger' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'contactStoreApi', required: true, testedBy: 'contactStoreConnectionTest' }],
		properties,
	};

	methods = { credentialTest: storeCredentialTest };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return execute.call(this);
	}
}
