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

export class SegmentFilter implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Segment Filter',
		name: 'segmentFilter',
		icon: { light: 'file:segmentFilter.svg', dark: 'file:segmentFilter.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["mode"] === "segment" ? "list segment" : "filter items" }}',
		description: 'Routes contacts by conditions on their stored state, or lists every contact of a segment',
		defaults: { name: 'Segment Filter' },
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
