// What every operation takes and gives per item. Apart from lib/store.ts so that the modules the
// store builds (contacts, events) need not import it: no import cycle (test/lib/import-cycles.test.ts).
import { toStoreError } from './redis/connection';

/** Where a change came from, carried on every event it logs. */
export interface ChangeContext {
	source?: string;
	/** Workflows the triggering event already passed through, oldest first (for Loop Guard). */
	chain?: ChainLink[];
}

export interface ChainLink {
	workflowId: string;
	executionId?: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: Error };

/**
 * Runs `fn` for every item concurrently: ioredis auto-pipelining sends the commands issued in the
 * same tick together, so a batch costs one round trip per step (per node on a cluster), not per item.
 */
export async function settleAll<I, T>(
	items: I[],
	fn: (item: I, index: number) => Promise<T>,
): Promise<Array<Result<T>>> {
	const settled = await Promise.allSettled(items.map((item, index) => Promise.resolve().then(() => fn(item, index))));
	return settled.map((s) =>
		s.status === 'fulfilled' ? { ok: true, value: s.value } : { ok: false, error: toStoreError(s.reason) as Error },
	);
}

export function chainJson(chain: ChainLink[] | undefined): string {
	return JSON.stringify(chain ?? []);
}
