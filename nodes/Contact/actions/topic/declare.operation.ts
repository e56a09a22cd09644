import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { settleAll, Topics, type ContactStore } from '../../../../lib';
import { relabel, showFor } from '../../../shared/contact';
import { collect, perItem } from '../../../shared/items';

export const description: INodeProperties[] = [
	{
		displayName: 'Label',
		name: 'label',
		type: 'string',
		displayOptions: showFor(['topic'], ['declare']),
		default: '',
		placeholder: 'e.g. Our monthly newsletter',
		description: 'What the preference centre shows next to its checkbox (default the name)',
	},
	{
		displayName: 'Description',
		name: 'topicDescription',
		type: 'string',
		displayOptions: showFor(['topic'], ['declare']),
		default: '',
		description: 'A line under the label in the preference centre',
	},
];

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const inputs = perItem(this, (i) => ({
		name: this.getNodeParameter('topicName', i),
		label: this.getNodeParameter('label', i, ''),
		description: this.getNodeParameter('topicDescription', i, ''),
	}));
	const topics = new Topics(store);
	// One item after the other: each counts the topics the earlier ones declared against the limit.
	const results = [];
	for (const input of inputs) {
		const [r] = await settleAll([input], async (one) => {
			if (one instanceof Error) throw one;
			const [topic] = await topics.declare([one]);
			return topic;
		});
		results.push(r);
	}
	const labels: Record<string, string> = {
		'topics[0].name': 'Topic Name',
		'topics[0].label': 'Label',
		'topics[0].description': 'Description',
		topics: 'Topic Name',
	};
	return collect(
		this,
		relabel(results, (f) => labels[f] ?? f),
		(topic) => ({ ...topic }),
	);
}
