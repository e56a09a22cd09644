import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { SendPolicies, type ContactStore } from '../../../../lib';
import { collect } from '../../../shared/items';
import { policyJson } from './set.operation';

export const description: INodeProperties[] = [];

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const policy = await new SendPolicies(store).get();
	return collect(
		this,
		this.getInputData().map(() => ({ ok: true as const, value: policy })),
		policyJson,
	);
}
