import { ValidationError } from '../errors';
import { SHARD_COUNT } from '../keys';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';
import { parseLogEntry, type LogEvent } from './filters';

/** The most dead letters one list, replay or purge call handles. */
export const DEAD_LETTERS_PER_CALL = 1000;

/** Dead letters kept per trigger and shard (stream MAXLEN ~); the oldest go beyond it. */
export const DEAD_LETTERS_KEPT = 10_000;

/** An event a trigger gave up on: its executions kept failing. */
export interface DeadLetter {
	/** "<shard>-<entry id>": names it for replay or purge. */
	id: string;
	/** The event as the trigger delivered it (its id: the original event-log entry id). */
	event: LogEvent;
	/** How many times it was delivered. */
	attempts: number;
	/** The last error (message of the failed execution, or why it was given up). */
	reason: string;
	deadLetteredAt: number;
}

/** A trigger that has dead letters (or had, since its last purge). */
export interface DeadLetterTrigger {
	/** The trigger's id (its consumer group: "ct:<workflow id>:<node id>"). */
	trigger: string;
	/** Workflow and node names when the trigger last gave up on an event. */
	label: string;
	count: number;
}

function checkLimit(limit: number): number {
	if (!Number.isInteger(limit) || limit < 1 || limit > DEAD_LETTERS_PER_CALL) {
		throw new ValidationError(
			'limit',
			`Limit must be a whole number from 1 to ${DEAD_LETTERS_PER_CALL} (got ${limit})`,
		);
	}
	return limit;
}

/**
 * The dead letters of one trigger: a stream per shard next to the event log
 * (`<prefix>{sN}:dead:<trigger>`), so that giving up on an entry (copy + acknowledge) and replaying
 * one (log again + delete) are single scripts. Each copy is registered on its contact: erasing the
 * contact deletes it. A replayed event goes back into the event log for this trigger only, keeping
 * its original event id, and starts again at attempt 1.
 */
export class DeadLetters {
	constructor(
		private readonly store: ContactStore,
		/** The trigger's consumer group. */
		readonly trigger: string,
	) {}

	/** Every trigger with dead letters in the workspace, with how many each has. */
	static async triggers(store: ContactStore): Promise<DeadLetterTrigger[]> {
		const labels = await store.call((r) => r.hgetall(registryKey(store)));
		return Promise.all(
			Object.entries(labels).map(async ([trigger, label]) => ({
				trigger,
				label,
				count: await new DeadLetters(store, trigger).count(),
			})),
		);
	}

	/** Called by the trigger when it gives up: `attempts` per entry id. Returns how many were kept. */
	async add(
		shard: number,
		entries: Array<{ id: string; attempts: number }>,
		reason: string,
		label: string,
	): Promise<number> {
		const { store } = this;
		const args = entries.flatMap((e) => [e.id, e.attempts]);
		const copied = await store.run<number>(
			scripts.deadLetter,
			[store.keys.shard(shard), store.replayGuard(shard)],
			[
				this.trigger,
				store.keys.deadLetterName(this.trigger),
				store.now(),
				DEAD_LETTERS_KEPT,
				reason.slice(0, 1000),
				...args,
			],
		);
		if (copied > 0) await store.call((r) => r.hset(registryKey(store), this.trigger, label));
		return copied;
	}

	async count(): Promise<number> {
		const counts = await Promise.all(
			Array.from({ length: SHARD_COUNT }, (_, s) =>
				this.store.call((r) => r.xlen(this.store.keys.deadLetters(s, this.trigger))),
			),
		);
		return counts.reduce((a, b) => a + b, 0);
	}

	/** The oldest `limit` dead letters, oldest first (one read per shard). */
	async list(limit = 100): Promise<DeadLetter[]> {
		checkLimit(limit);
		const perShard = await Promise.all(
			Array.from({ length: SHARD_COUNT }, async (_, shard) => {
				const entries = (await this.store.call((r) =>
					r.xrange(this.store.keys.deadLetters(shard, this.trigger), '-', '+', 'COUNT', limit),
				)) as Array<[string, string[]]>;
				return entries.map(([id, fields]) => toDeadLetter(shard, id, fields));
			}),
		);
		return perShard
			.flat()
			.sort((a, b) => a.deadLetteredAt - b.deadLetteredAt)
			.slice(0, limit);
	}

	/** Puts the oldest `limit` dead letters (or those named by `ids`) back to the trigger. Returns how many. */
	replay(options: { limit?: number; ids?: string[] } = {}): Promise<number> {
		return this.settle('replay', options);
	}

	/** Deletes the oldest `limit` dead letters (or those named by `ids`). Returns how many. */
	async purge(options: { limit?: number; ids?: string[] } = {}): Promise<number> {
		const purged = await this.settle('purge', options);
		if ((await this.count()) === 0) await this.store.call((r) => r.hdel(registryKey(this.store), this.trigger));
		return purged;
	}

	private async settle(
		action: 'replay' | 'purge',
		{ limit = 100, ids }: { limit?: number; ids?: string[] },
	): Promise<number> {
		const { store } = this;
		if (ids && ids.length > DEAD_LETTERS_PER_CALL)
			throw new ValidationError('ids', `At most ${DEAD_LETTERS_PER_CALL} dead letters per call (got ${ids.length})`);
		const chosen = ids ? ids.map(parseId) : (await this.list(limit)).map((d) => parseId(d.id));
		const byShard = new Map<number, string[]>();
		for (const { shard, entry } of chosen) (byShard.get(shard) ?? byShard.set(shard, []).get(shard)!).push(entry);
		const done = await Promise.all(
			[...byShard].map(([shard, entries]) =>
				store.run<number>(scripts.settleDeadLetters, store.keys.shardScriptKeys(shard), [
					this.trigger,
					store.keys.deadLetterName(this.trigger),
					action,
					store.limits.logMax,
					...entries,
				]),
			),
		);
		return done.reduce((a, b) => a + b, 0);
	}
}

function registryKey(store: ContactStore): string {
	return store.keys.global('dl', 'triggers');
}

function parseId(id: string): { shard: number; entry: string } {
	const m = /^(\d{1,2})-(\d+-\d+)$/.exec(String(id));
	if (!m || Number(m[1]) >= SHARD_COUNT)
		throw new ValidationError(
			'ids',
			`"${id}" is not a dead-letter id (they look like "3-1712345678901-0", as List returns them)`,
		);
	return { shard: Number(m[1]), entry: m[2] };
}

function toDeadLetter(shard: number, id: string, fields: string[]): DeadLetter {
	const f: Record<string, string> = {};
	for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
	return {
		id: `${shard}-${id}`,
		event: { ...parseLogEntry(shard, f.o ?? id, fields), attempt: Number(f.a) },
		attempts: Number(f.a),
		reason: f.r ?? '',
		deadLetteredAt: Number(f.d),
	};
}
