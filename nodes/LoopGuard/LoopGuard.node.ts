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

export class LoopGuard implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Loop Guard',
		name: 'loopGuard',
		icon: { light: 'file:loopGuard.svg', dark: 'file:loopGuard.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["scope"] === "group" ? "group " + $parameter["groupName"] : $parameter["scope"] }}',
		description: 'Stops contacts from looping between workflows or re-entering one too often',
		defaults: { name: 'Loop Guard' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Continue', 'Blocked'],
		credentials: [{ name: 'contactStoreApi', required: true, testedBy: 'contactStoreConnectionTest' }],
		properties,
	};

	methods = { credentialTest: storeCredentialTest };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return execute.call(this);
	}
}
