import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { checkTopicName, Topics, type ContactStore } from '../../../../lib';
import { collect, perItem, runBatch } from '../../../shared/items';

export const description: INodeProperties[] = [];

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const names = perItem(this, (i) => checkTopicName(this.getNodeParameter('topicName', i), 'Topic Name'));
	const topics = new Topics(store);
	const results = await runBatch(names, async (valid) => {
		const { removed } = await topics.remove(valid);
		return valid.map((name) => ({ ok: true as const, value: { topic: name, deleted: removed.includes(name) } }));
	});
	return collect(this, results, (value) => value);
}
