import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { NotFoundError, type ContactStore, type Result } from '../../../../lib';
import { collect, perItem, runBatch } from '../../../shared/items';
import { readRef, relabel, resolveRefs, type Ref } from '../../../shared/contact';

export const description: INodeProperties[] = [];

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const refs = perItem(this, (i) => readRef(this, i));
	const ids = await resolveRefs(store, refs);
	const erased = await runBatch(
		ids.map((r) => (r.ok ? r.value : r.error)),
		(valid) => store.contacts.erase(valid),
	);
	const results = erased.map((r, i): Result<IDataObject> => {
		if (!r.ok && r.error instanceof NotFoundError)
			return { ok: true, value: { erased: false, email: (refs[i] as Ref).email } };
		return r.ok ? { ok: true, value: { ...r.value } } : r;
	});
	return collect(this, relabel(results), (value) => value);
}
