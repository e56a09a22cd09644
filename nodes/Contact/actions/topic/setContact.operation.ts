import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { Topics, ValidationError, type ContactStore } from '../../../../lib';
import { LABELS, readRef, relabel, resolveRefs, showFor } from '../../../shared/contact';
import { chainOf, collect, perItem, runBatch } from '../../../shared/items';

export const description: INodeProperties[] = [
	{
		displayName: 'Subscribe To',
		name: 'subscribeTopics',
		type: 'string',
		displayOptions: showFor(['topic'], ['setContact']),
		default: '',
		placeholder: 'e.g. newsletter, offers',
		description: 'Comma-separated declared topics (or an array from an expression)',
	},
	{
		displayName: 'Unsubscribe From',
		name: 'unsubscribeTopics',
		type: 'string',
		displayOptions: showFor(['topic'], ['setContact']),
		default: '',
		placeholder: 'e.g. product-updates',
		description: 'Comma-separated declared topics (or an array from an expression)',
	},
];

function topicList(value: unknown): string[] {
	if (Array.isArray(value)) return value.map(String);
	return String(value ?? '')
		.split(',')
		.map((t) => t.trim())
		.filter(Boolean);
}

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const refs = perItem(this, (i) => readRef(this, i));
	const lists = perItem(this, (i) => {
		const subscribe = topicList(this.getNodeParameter('subscribeTopics', i, ''));
		const unsubscribe = topicList(this.getNodeParameter('unsubscribeTopics', i, ''));
		if (subscribe.length === 0 && unsubscribe.length === 0)
			throw new ValidationError('subscribe', 'Name at least one topic to subscribe to or unsubscribe from');
		return { subscribe, unsubscribe, chain: chainOf(this, i) };
	});
	const ids = await resolveRefs(store, refs);
	const topics = new Topics(store);
	const changes = ids.map((id, i) => {
		const list = lists[i];
		if (!id.ok) return id.error;
		if (list instanceof Error) return list;
		return { contactId: id.value, ...list };
	});
	const results = await runBatch(changes, (valid) =>
		Promise.all(valid.map(async ({ chain, ...change }) => (await topics.set([change], { source: 'n8n', chain }))[0])),
	);
	const labels: Record<string, string> = { subscribe: 'Subscribe To', unsubscribe: 'Unsubscribe From' };
	return collect(
		this,
		relabel(results, (f) => labels[f] ?? LABELS[f] ?? f),
		(value) => ({ ...value }),
	);
}
