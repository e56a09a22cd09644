import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { Topics, type ContactStore } from '../../../../lib';

export const description: INodeProperties[] = [];

/** One item per declared topic, however many items came in. */
export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const topics = await new Topics(store).list();
	return topics.map((topic) => ({ json: { ...topic }, pairedItem: { item: 0 } }));
}
