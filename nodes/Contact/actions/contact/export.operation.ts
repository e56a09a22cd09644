import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { NotFoundError, topicsOf, type Contact, type ContactStore, type Result } from '../../../../lib';
import { collect, perItem, runBatch } from '../../../shared/items';
import { notFound, readRef, relabel, resolveRefs, type Ref } from '../../../shared/contact';

export const description: INodeProperties[] = [];

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const refs = perItem(this, (i) => readRef(this, i));
	const ids = await resolveRefs(store, refs);
	const exported = await runBatch(
		ids.map((r) => (r.ok ? r.value : r.error)),
		(valid) => store.contacts.export(valid),
	);
	const results = exported.map((r, i): Result<IDataObject> => {
		if ((!r.ok && r.error instanceof NotFoundError) || (r.ok && r.value === null))
			return { ok: true, value: notFound(refs[i] as Ref) };
		if (!r.ok) return r;
		const value = r.value as { contact: Contact };
		return { ok: true, value: { found: true, ...(value as unknown as IDataObject), topics: topicsOf(value.contact) } };
	});
	return collect(this, relabel(results), (value) => value);
}
