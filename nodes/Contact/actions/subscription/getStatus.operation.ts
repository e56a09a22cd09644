import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { NotFoundError, SUPPRESSED_STATUSES, type Contact, type ContactStore, type Result } from '../../../../lib';
import { collect, perItem, runBatch } from '../../../shared/items';
import { notFound, readRef, relabel, resolveRefs, type Ref } from '../../../shared/contact';

export const description: INodeProperties[] = [];

export async function execute(this: IExecuteFunctions, store: ContactStore): Promise<INodeExecutionData[]> {
	const refs = perItem(this, (i) => readRef(this, i));
	const ids = await resolveRefs(store, refs);
	const contacts = await runBatch(
		ids.map((r) => (r.ok ? r.value : r.error)),
		(valid) => store.contacts.get(valid),
	);
	const results = contacts.map((r, i): Result<IDataObject> => {
		if ((!r.ok && r.error instanceof NotFoundError) || (r.ok && r.value === null))
			return { ok: true, value: { ...notFound(refs[i] as Ref), status: null, suppressed: false } };
		if (!r.ok) return r;
		const contact = r.value as Contact;
		const status = contact.subscription?.status ?? null;
		return {
			ok: true,
			value: {
				found: true,
				id: contact.id,
				email: contact.email ?? null,
				status,
				consentSource: contact.subscription?.source ?? null,
				consentAt: contact.subscription?.at ?? null,
				// Proof of the last double opt-in confirmation (GDPR art. 7): {source, at, ip, userAgent}.
				confirmation: (contact.subscription?.confirmation ?? null) as IDataObject | null,
				suppressed: status !== null && SUPPRESSED_STATUSES.includes(status),
			},
		};
	});
	return collect(this, relabel(results), (value) => value);
}
