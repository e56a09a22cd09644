import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { toNodeError } from '../shared/items';
import { leaseStore } from '../shared/store';
import { router } from './actions/router';

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	let lease;
	try {
		lease = await leaseStore(this);
	} catch (error) {
		throw toNodeError(this, error as Error, 0);
	}
	try {
		return [await router.call(this, lease.store)];
	} finally {
		lease.release();
	}
}
