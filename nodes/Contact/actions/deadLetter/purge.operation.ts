import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import type { ContactStore } from '../../../../lib';
import { settleDeadLetters } from '../../../shared/deadLetters';

export const description: INodeProperties[] = [];

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	return settleDeadLetters(this, store, 'purge');
}
