import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { NotFoundError, type Contact, type ContactStore, type Result } from '../../../../lib';
import { collect, perItem, runBatch } from '../../../shared/items';
import {
	contactJson,
	notFound,
	options,
	readRef,
	relabel,
	resolveRefs,
	showFor,
	type Ref,
} from '../../../shared/contact';

export const description: INodeProperties[] = [
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		displayOptions: showFor(['contact'], ['get']),
		default: {},
		options: [
			{
				displayName: 'Error If Not Found',
				name: 'errorIfNotFound',
				type: 'boolean',
				default: false,
				description: 'Whether a missing contact fails the item; otherwise the item comes out with found = false',
			},
			{
				displayName: 'Include Recent Events',
				name: 'historyLimit',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 500 },
				default: 0,
				description: 'How many of the most recent events to include (0 for none)',
			},
		],
	},
];

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const refs = perItem(this, (i) => readRef(this, i));
	const settings = perItem(this, (i) => options(this, i));
	const ids = await resolveRefs(store, refs);
	const contacts = await runBatch(
		ids.map((r) => (r.ok ? r.value : r.error)),
		(valid) => store.contacts.get(valid),
	);
	const histories = await runBatch(
		contacts.map((r, i) => {
			const limit = Number((settings[i] as IDataObject).historyLimit ?? 0);
			return r.ok && r.value && limit > 0 ? { id: r.value.id, limit: Math.min(limit, 500) } : new Error('skip');
		}),
		async (valid) =>
			Promise.all(
				valid.map(async ({ id, limit }) => ({ ok: true as const, value: await store.events.history(id, limit) })),
			),
	);
	const results = contacts.map((r, i): Result<IDataObject> => {
		const ref = refs[i] as Ref;
		const missing = (!r.ok && r.error instanceof NotFoundError) || (r.ok && r.value === null);
		if (missing) {
			if ((settings[i] as IDataObject).errorIfNotFound) {
				return {
					ok: false,
					error: new NotFoundError(
						ref.id !== undefined ? 'id' : 'email',
						`No contact ${ref.id !== undefined ? `with ID "${ref.id}"` : `has the e-mail ${ref.email}`}`,
					),
				};
			}
			return { ok: true, value: notFound(ref) };
		}
		if (!r.ok) return r;
		const history = histories[i];
		return {
			ok: true,
			value: {
				found: true,
				...contactJson(r.value as Contact),
				...(history.ok ? { recentEvents: history.value as unknown as IDataObject[] } : {}),
			},
		};
	});
	return collect(this, relabel(results), (value) => value);
}
