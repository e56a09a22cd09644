// What the Contact node's Dead Letter operations share: the events a Contact Trigger gave up on
// (its executions kept failing), per trigger. lib/triggers/deadLetters.ts.
import type { IDataObject, IExecuteFunctions, ILoadOptionsFunctions, INodePropertyOptions } from 'n8n-workflow';
import { DeadLetters, ValidationError, type ContactStore, type DeadLetter, type Result } from '../../lib';
import { collect, perItem } from './items';
import { leaseStore } from './store';

/** The triggers with dead letters, for the Trigger list. */
export async function deadLetterTriggers(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
	const lease = await leaseStore(this);
	try {
		const triggers = await DeadLetters.triggers(lease.store);
		return triggers.map((t) => ({ name: `${t.label} (${t.count})`, value: t.trigger, description: t.trigger }));
	} finally {
		lease.release();
	}
}

interface Request {
	trigger: string;
	limit: number;
	ids?: string[];
}

function readRequest(ctx: IExecuteFunctions, itemIndex: number, withIds: boolean): Request {
	const trigger = String(ctx.getNodeParameter('trigger', itemIndex) ?? '').trim();
	if (!trigger) throw new ValidationError('Trigger', 'Choose the Contact Trigger whose dead letters to use');
	const limit = Number(ctx.getNodeParameter('limit', itemIndex, 50));
	const idsText = withIds ? String(ctx.getNodeParameter('ids', itemIndex, '') ?? '') : '';
	const ids = idsText
		.split(',')
		.map((s) => s.trim())
		.filter(Boolean);
	return { trigger, limit, ...(ids.length > 0 ? { ids } : {}) };
}

/** One lib call per item; lib errors name their field ("limit", "ids") as the node's parameters do. */
async function perRequest<T>(
	ctx: IExecuteFunctions,
	withIds: boolean,
	call: (request: Request) => Promise<T>,
): Promise<Array<Result<T>>> {
	const requests = perItem(ctx, (i) => readRequest(ctx, i, withIds));
	return Promise.all(
		requests.map(async (request): Promise<Result<T>> => {
			if (request instanceof Error) return { ok: false, error: request };
			try {
				return { ok: true, value: await call(request) };
			} catch (error) {
				const e = error as ValidationError;
				return {
					ok: false,
					error:
						e instanceof ValidationError
							? new ValidationError(e.field === 'ids' ? 'Dead Letter IDs' : 'Limit', e.message, e.hint)
							: e,
				};
			}
		}),
	);
}

function letterJson(trigger: string, d: DeadLetter): IDataObject {
	const { event } = d;
	return {
		id: d.id,
		trigger,
		attempts: d.attempts,
		reason: d.reason,
		deadLetteredAt: new Date(d.deadLetteredAt).toISOString(),
		event: {
			id: event.id,
			name: event.name,
			time: new Date(event.time).toISOString(),
			properties: event.properties as IDataObject,
			source: event.source,
		},
		contactId: event.contactId,
		$chain: event.chain as unknown as IDataObject[],
	};
}

export async function listDeadLetters(ctx: IExecuteFunctions, store: ContactStore) {
	const results = await perRequest(ctx, false, async ({ trigger, limit }) =>
		(await new DeadLetters(store, trigger).list(limit)).map((d) => letterJson(trigger, d)),
	);
	return collect(ctx, results, (letters) => letters);
}

/** Replay (back to their trigger only) or purge the chosen dead letters, or the oldest up to Limit. */
export async function settleDeadLetters(ctx: IExecuteFunctions, store: ContactStore, action: 'replay' | 'purge') {
	const results = await perRequest(ctx, true, async ({ trigger, limit, ids }) => {
		const letters = new DeadLetters(store, trigger);
		const done = action === 'replay' ? await letters.replay({ limit, ids }) : await letters.purge({ limit, ids });
		return {
			trigger,
			[action === 'replay' ? 'replayed' : 'purged']: done,
			remaining: await letters.count(),
		} as IDataObject;
	});
	return collect(ctx, results, (value) => value);
}
