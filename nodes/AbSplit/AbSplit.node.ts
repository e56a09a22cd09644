import {
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
	NodeConnectionTypes,
} from 'n8n-workflow';
import { storeCredentialTest } from '../shared/store';
import { configuredOutputs, properties } from './description';
import { execute } from './execute';

export class AbSplit implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'A/B Split',
		name: 'abSplit',
		icon: { light: 'file:abSplit.svg', dark: 'file:abSplit.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["operation"] + ": " + $parameter["testId"] }}',
		description: 'Splits contacts into A/B test variants and a holdout, the same on every run, and reports the results',
		defaults: { name: 'A/B Split' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: `={{(${configuredOutputs})($parameter)}}`,
		credentials: [{ name: 'contactStoreApi', required: true, testedBy: 'contactStoreConnectionTest' }],
		properties,
	};

	methods = { credentialTest: storeCredentialTest };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return execute.call(this);
	}
}
