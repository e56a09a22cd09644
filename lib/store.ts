import { Keys } from './keys';
import type { RedisClient } from './redis/connection';
import { toStoreError } from './redis/connection';
import { runScript, type Script } from './redis/scripts';
import { ConflictError, NotFoundError } from './errors';
import { Contacts } from './contacts';
import { Events } from './events';

export interface StoreLimits {
	/** Approximate entries kept per shard of the event log (stream MAXLEN ~). */
	logMax: number;
	/** Events kept in a contact's own history. */
	historyMax: number;
	/** Timestamps kept per contact and event name (for "did X K times in N days"). */
	perNameMax: number;
	/** How long per-name timestamps are kept. */
	retentionMs: number;
	/** How long an idempotency key is remembered. */
	idempotencyMs: number;
}

const DAY = 86_400_000;

export const DEFAULT_LIMITS: StoreLimits = {
	logMax: 100_000,
	historyMax: 500,
	perNameMax: 1000,
	retentionMs: 400 * DAY,
	idempotencyMs: 30 * DAY,
};

export interface StoreOptions {
	limits?: Partial<StoreLimits>;
	/** Clock in epoch milliseconds (tests move it). */
	now?: () => number;
}

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

/** The contact store of one workspace (key prefix) on one Redis or Redis Cluster. */
export class ContactStore {
	readonly keys: Keys;
	readonly limits: StoreLimits;
	readonly now: () => number;
	readonly contacts: Contacts;
	readonly events: Events;

	constructor(
		readonly redis: RedisClient,
		prefix: string,
		options: StoreOptions = {},
	) {
		this.keys = new Keys(prefix);
		this.limits = { ...DEFAULT_LIMITS, ...options.limits };
		this.now = options.now ?? Date.now;
		this.contacts = new Contacts(this);
		this.events = new Events(this);
	}

	/** Runs a script, turning its error replies and connection failures into the pack's errors. */
	async run<T = unknown>(script: Script, keys: string[], args: Array<string | number>): Promise<T> {
		try {
			return await runScript<T>(this.redis, script, keys, args);
		} catch (error) {
			throw scriptError(error);
		}
	}

	/**
	 * Runs a per-shard batch script: one call per shard and chunk of at most `chunkSize` items, all
	 * concurrent (auto-pipelined). Each item pays only its own work on the server, not a command of
	 * its own. `prepare` gives each item's contact and its arguments (a flat list, no JSON: encoding
	 * and decoding in Lua costs more than an item's own commands); the script's each_item
	 * (lib/redis/lua/common.lua) answers, per item, a flat array or an error. KEYS[1] is the shard
	 * prefix: a fixed key count keeps ioredis routing by it on a cluster, and every contact key of
	 * the shard shares its hash slot. An item whose `prepare` throws fails alone.
	 */
	async runBatch<I, T>(
		script: Script,
		items: I[],
		prepare: (item: I, index: number) => { contactId: string; args: Array<string | number> },
		shared: string,
		chunkSize = 200,
	): Promise<Array<Result<T>>> {
		const results: Array<Result<T>> = new Array(items.length);
		const byShard = new Map<number, Array<{ index: number; base: string; args: Array<string | number> }>>();
		items.forEach((item, index) => {
			try {
				const { contactId, args } = prepare(item, index);
				const shard = this.keys.shardOfContact(contactId);
				let list = byShard.get(shard);
				if (!list) byShard.set(shard, (list = []));
				list.push({ index, base: this.keys.contact(contactId), args });
			} catch (error) {
				results[index] = { ok: false, error: toStoreError(error) as Error };
			}
		});
		const calls: Array<Promise<void>> = [];
		for (const [shard, list] of byShard) {
			for (let start = 0; start < list.length; start += chunkSize) {
				const chunk = list.slice(start, start + chunkSize);
				const args: Array<string | number> = [shared, chunk.length];
				for (const c of chunk) args.push(c.args.length, c.base, ...c.args);
				calls.push(
					runScript<unknown[]>(this.redis, script, [this.keys.shard(shard)], args).then(
						(answers) => {
							chunk.forEach((c, k) => {
								const answer = answers[k];
								results[c.index] = answer instanceof Error ? { ok: false, error: scriptError(answer) } : { ok: true, value: answer as T };
							});
						},
						(error) => {
							const failure = scriptError(error);
							for (const c of chunk) results[c.index] = { ok: false, error: failure };
						},
					),
				);
			}
		}
		await Promise.all(calls);
		return results;
	}

	/** Raw command access with connection errors mapped. */
	async call<T>(fn: (redis: RedisClient) => Promise<T>): Promise<T> {
		try {
			return await fn(this.redis);
		} catch (error) {
			throw toStoreError(error);
		}
	}
}

/**
 * Runs `fn` for every item concurrently: ioredis auto-pipelining sends the commands issued in the
 * same tick together, so a batch costs one round trip per step (per node on a cluster), not per item.
 */
export async function settleAll<I, T>(items: I[], fn: (item: I, index: number) => Promise<T>): Promise<Array<Result<T>>> {
	const settled = await Promise.allSettled(items.map((item, index) => Promise.resolve().then(() => fn(item, index))));
	return settled.map((s) =>
		s.status === 'fulfilled' ? { ok: true, value: s.value } : { ok: false, error: toStoreError(s.reason) as Error },
	);
}

/** The pack's error for a script's error reply ("NOT_FOUND ...", "EXISTS ...") or a connection failure. */
function scriptError(error: unknown): Error {
	const message = (error as Error)?.message ?? '';
	if (message.startsWith('NOT_FOUND')) return new NotFoundError('contactId', 'The contact does not exist');
	if (message.startsWith('EXISTS')) return new ConflictError('contactId', 'The contact already exists');
	return toStoreError(error) as Error;
}

export function chainJson(chain: ChainLink[] | undefined): string {
	return JSON.stringify(chain ?? []);
}
