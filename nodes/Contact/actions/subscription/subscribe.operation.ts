import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import type { ContactStore } from '../../../../lib';
import { changeSubscription } from '../../../shared/contact';

export const description: INodeProperties[] = [];

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	return changeSubscription(this, store, 'subscribed');
}
