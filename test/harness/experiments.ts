import { Experiments, type Assignment, type ExperimentDesign } from '../../lib/experiments';
import type { ContactStore } from '../../lib/store';

/** The experiments tests' setup: contacts created by ID, and assignments that throw on a failure. */
export function experimentHelpers(
	store: ContactStore,
	design: (test: string, extra?: Partial<ExperimentDesign>) => ExperimentDesign,
) {
	const experiments = new Experiments(store);
	return {
		experiments,
		async create(ids: string[]): Promise<void> {
			const results = await store.contacts.change(
				ids.map((id) => ({ id })),
				'upsert',
			);
			for (const r of results) if (!r.ok) throw r.error;
		},
		async assigned(test: string, ids: string[], extra: Partial<ExperimentDesign> = {}): Promise<Assignment[]> {
			const results = await experiments.assign(
				design(test, extra),
				ids.map((contactId) => ({ contactId })),
			);
			return results.map((r) => {
				if (!r.ok) throw r.error;
				return r.value;
			});
		},
	};
}
