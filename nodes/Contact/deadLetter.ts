// Contact node, resource "Dead Letter": the events a Contact Trigger gave up on (its executions kept
// failing), per trigger: List, Replay (back to that trigger only), Purge. lib/triggers/deadLetters.ts.
import type { IDataObject, ILoadOptionsFunctions, INodePropertyOptions, INodeProperties } from 'n8n-workflow';
import { DEAD_LETTERS_PER_CALL, DeadLetters, ValidationError, type DeadLetter, type Result } from '../../lib';
import { leaseStore } from '../shared/store';
import { collect, perItem } from '../shared/items';
import type { Operation } from './operations';

const show = (operation?: string[]) => ({ show: { resource: ['deadLetter'], ...(operation ? { operation } : {}) } });

export const deadLetterProperties: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: show(),
		options: [
			{ name: 'List', value: 'list', description: "List a trigger's dead letters, oldest first", action: 'List dead letters' },
			{ name: 'Purge', value: 'purge', description: 'Delete dead letters for good', action: 'Purge dead letters' },
			{ name: 'Replay', value: 'replay', description: 'Deliver dead letters to their trigger again', action: 'Replay dead letters' },
		],
		default: 'list',
	},
	{
		displayName: 'Trigger Name or ID',
		name: 'trigger',
		type: 'options',
		typeOptions: { loadOptionsMethod: 'deadLetterTriggers' },
		required: true,
		displayOptions: show(),
		default: '',
		description:
			'The Contact Trigger whose dead letters to use (listed: those that have some). Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
	},
	{
		displayName: 'Dead Letter IDs',
		name: 'ids',
		type: 'string',
		displayOptions: show(['replay', 'purge']),
		default: '',
		placeholder: 'e.g. 3-1712345678901-0, 7-1712345678955-0',
		description: 'Only these (the IDs List returns), comma-separated. Empty: the oldest, up to Limit.',
	},
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: DEAD_LETTERS_PER_CALL },
		displayOptions: show(),
		default: 50,
		description: 'Max number of results to return',
	},
];

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

function readRequest(ctx: Parameters<Operation>[0], itemIndex: number, withIds: boolean): Request {
	const trigger = String(ctx.getNodeParameter('trigger', itemIndex) ?? '').trim();
	if (!trigger) throw new ValidationError('Trigger', 'Choose the Contact Trigger whose dead letters to use');
	const limit = Number(ctx.getNodeParameter('limit', itemIndex, 50));
	const idsText = withIds ? String(ctx.getNodeParameter('ids', itemIndex, '') ?? '') : '';
	const ids = idsText.split(',').map((s) => s.trim()).filter(Boolean);
	return { trigger, limit, ...(ids.length > 0 ? { ids } : {}) };
}

/** One call per item; lib errors name their field ("limit", "ids") as the node's parameters do. */
async function perRequest<T>(ctx: Parameters<Operation>[0], withIds: boolean, call: (request: Request) => Promise<T>): Promise<Array<Result<T>>> {
	const requests = perItem(ctx, (i) => readRequest(ctx, i, withIds));
	return Promise.all(
		requests.map(async (request): Promise<Result<T>> => {
			if (request instanceof Error) return { ok: false, error: request };
			try {
				return { ok: true, value: await call(request) };
			} catch (error) {
				const e = error as ValidationError;
				return { ok: false, error: e instanceof ValidationError ? new ValidationError(e.field === 'ids' ? 'Dead Letter IDs' : 'Limit', e.message, e.hint) : e };
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
		event: { id: event.id, name: event.name, time: new Date(event.time).toISOString(), properties: event.properties as IDataObject, source: event.source },
		contactId: event.contactId,
		$chain: event.chain as unknown as IDataObject[],
	};
}

const list: Operation = async (ctx, store) =>
	collect(
		ctx,
		await perRequest(ctx, false, async ({ trigger, limit }) => (await new DeadLetters(store, trigger).list(limit)).map((d) => letterJson(trigger, d))),
		(letters) => letters,
	);

const settle = (action: 'replay' | 'purge'): Operation => async (ctx, store) =>
	collect(
		ctx,
		await perRequest(ctx, true, async ({ trigger, limit, ids }) => {
			const letters = new DeadLetters(store, trigger);
			const done = action === 'replay' ? await letters.replay({ limit, ids }) : await letters.purge({ limit, ids });
			return { trigger, [action === 'replay' ? 'replayed' : 'purged']: done, remaining: await letters.count() } as IDataObject;
		}),
		(value) => value,
	);

export const DEAD_LETTER_OPERATIONS: Record<string, Operation> = {
	'deadLetter.list': list,
	'deadLetter.replay': settle('replay'),
	'deadLetter.purge': settle('purge'),
};
