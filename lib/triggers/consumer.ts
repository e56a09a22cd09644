import { randomBytes } from 'crypto';
import { hostname } from 'os';
import Redis from 'ioredis';
import type { RedisClient } from '../redis/connection';
import { toStoreError } from '../redis/connection';
import { SHARD_COUNT } from '../keys';
import type { ContactStore } from '../store';
import { scripts } from '../redis/scripts';
import { parseLogEntry, type LogEvent } from './filters';
import { DeadLetters } from './deadLetters';
import { counting, entryFields } from '../analytics';
import { settleWithin } from '../deadline';

/** Consumers without pending entries idle this long are removed from the group. */
const STALE_CONSUMER_MS = 86_400_000;

export interface ConsumerOptions {
	/** Consumer group name: one per workflow and trigger node; survives restarts. */
	group: string;
	/** This consumer's name in the group; unique per activation by default. */
	consumer?: string;
	/** When the group is created: deliver the events already in the log ('catchUp') or only new ones ('now'). */
	startFrom?: 'now' | 'catchUp';
	/** With 'now', also skip what was logged while this group was not consuming (default false: resume). */
	skipBacklog?: boolean;
	/** Events that do not match are acknowledged at once and never reach the handler. */
	filter?: (event: LogEvent) => boolean;
	/** Up to this many events per handler call (default 1). */
	batchSize?: number;
	/** How long a partial batch waits for more events (default 0: deliver at once). */
	maxWaitMs?: number;
	/** How long one blocking read waits (default 2000 ms); new entries wake it at once. */
	blockMs?: number;
	/** Entries pending this long on a consumer that stopped confirming them are taken over (default 60 s). */
	claimIdleMs?: number;
	/** Handler calls (executions) running at once (default DEFAULT_CONCURRENCY). */
	concurrency?: number;
	/**
	 * A handler call not settled after this long counts as failed (its events are retried), while the
	 * call itself runs on (default: no limit). n8n's queue mode can lose the report of an execution
	 * whose worker died; without a bound its events would stay held here for ever.
	 */
	handlerTimeoutMs?: number;
	/** Deliveries an event gets, the first included, before it is given up (default 5). */
	maxAttempts?: number;
	/** Wait before the second attempt; it doubles for each further one, up to `claimIdleMs` (default 2000 ms). */
	retryDelayMs?: number;
	/** An event given up goes to the trigger's dead letters (default), or is dropped (acknowledged and reported). */
	onGiveUp?: 'deadLetter' | 'drop';
	/** Names the trigger next to its dead letters (workflow and node names). */
	label?: string;
	/**
	 * The journey (workflow id) the trigger starts: each entry acknowledged after its execution counts
	 * as entered, and as exited, or waiting at the node the execution waits at (lib/analytics).
	 */
	journey?: string;
	/**
	 * Gets each batch; the entries are acknowledged when the promise resolves (the execution it started
	 * finished, or went to wait at `waitingAt`). A rejection retries them after a back-off, then gives
	 * them up after `maxAttempts`.
	 */
	handler: (events: LogEvent[]) => Promise<void | ExecutionEnd>;
	onError?: (error: Error) => void;
}

/** How an execution ended: finished, or waiting at a node (a Wait node) to resume later. */
export interface ExecutionEnd {
	waitingAt?: string;
}

/**
 * Executions a trigger keeps running at once by default. n8n holds each running execution's data in
 * memory, and a backlog (n8n restarted with thousands of events waiting) would otherwise start them
 * all: 256 at once took a 2-core n8n from 0.8 to 9.6 GB. 8 keeps a 2-core, 2 GB n8n well inside its
 * memory (`npm run bench backlog` prints the peak) while still overlapping the executions' waits on
 * Redis and SMTP; queue mode with more workers may raise it.
 */
export const DEFAULT_CONCURRENCY = 8;

/**
 * Entries being acknowledged that do not count against the read-ahead. The connection that
 * acknowledges is the store's shared one: behind a burst of other commands (a webhook recording
 * events through the same store) an acknowledgement can take 100 ms while executions finish at
 * 1,000 a second.
 */
const ACKS_IN_FLIGHT_MAX = 1000;

/** Entries one read may take from one shard even when the room spread over the shards is less. */
const READ_PER_SHARD_MIN = 64;

/**
 * COUNT for one read: it applies per stream, and a read covers all 16 shards (one reader per shard on
 * a cluster). The room spread evenly would be 1 per shard at the default read-ahead (16), so a burst
 * in one shard took a round trip per entry and fell behind on a busy machine. Each shard may take up
 * to READ_PER_SHARD_MIN, so one read takes at most 16 x 64 entries, or about `room` when that is more.
 */
export function readCount(room: number): number {
	return Math.max(Math.ceil(room / SHARD_COUNT), Math.min(room, READ_PER_SHARD_MIN));
}

interface Reader {
	connection: RedisClient;
	shards: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A handler call, counted as failed when it has not settled within `timeoutMs` (when given). */
export function boundedCall<T>(call: () => Promise<T>, timeoutMs: number | undefined): Promise<T> {
	const result = call();
	if (timeoutMs === undefined) return result;
	return settleWithin(
		result,
		timeoutMs,
		() => new Error(`no report that the execution finished within ${timeoutMs / 1000} s (Execution Timeout)`),
	);
}

/**
 * Consumes the 16 shard streams of the event log through one consumer group.
 *
 * Reading: on a single Redis one dedicated connection blocks in one XREADGROUP over all 16 streams.
 * Redis Cluster refuses multi-key commands across slots, so there each shard stream gets its own
 * blocking reader (a duplicate cluster client that only ever talks to the node owning that slot):
 * 16 extra connections per active trigger, and every shard is woken as soon as it gets an entry.
 *
 * Memory: at most `concurrency` handler calls run; entries are read only while fewer than
 * 2 x concurrency x batchSize are held here (running, buffered or waiting for a retry; up to
 * ACKS_IN_FLIGHT_MAX more only waiting for their acknowledgement), and one read takes at most
 * 16 x `readCount`, so a backlog of any size is drained at that pace.
 *
 * Guarantees (at least once): the group gives each entry to one consumer (several n8n mains share
 * it); an entry is acknowledged (XACK) only after its handler call resolved. A rejected call is
 * retried with a doubling back-off, its attempt counted on the entry in Redis (the delivery counter,
 * XCLAIM RETRYCOUNT), and after `maxAttempts` it is moved to the trigger's dead letters (or dropped)
 * in the same script that acknowledges it. Entries held here are re-claimed every `claimIdleMs / 3`
 * (XCLAIM JUSTID resets the idle time), so only entries of a consumer that died or hung pass the idle
 * limit, and those are taken over with XAUTOCLAIM (counting one more delivery): as many as there is
 * room for, then more as soon as there is room again, until a pass finds none (reclaimAll).
 */
export class EventLogConsumer {
	readonly consumer: string;
	private readonly opts: Required<
		Omit<ConsumerOptions, 'filter' | 'onError' | 'consumer' | 'label' | 'journey' | 'handlerTimeoutMs'>
	> &
		Pick<ConsumerOptions, 'filter' | 'onError' | 'label' | 'journey' | 'handlerTimeoutMs'>;
	private readonly deadLetters: DeadLetters;
	private readers: Reader[] = [];
	private running = false;
	private loops: Array<Promise<void>> = [];
	/** Read, not yet handed to the handler. */
	private buffer: LogEvent[] = [];
	/** When the oldest buffered event of a partial batch started waiting. */
	private bufferedSince?: number;
	private flushTimer?: NodeJS.Timeout;
	private maintenanceTimer?: NodeJS.Timeout;
	/** A reclaimAll is under way: the maintenance round does not start another. */
	private reclaiming = false;
	/** Events waiting for their next attempt, by the timer that brings them back. */
	private readonly retryTimers = new Map<NodeJS.Timeout, LogEvent[]>();
	/** Entry ids per shard held here: buffered, being handled, or waiting for a retry. */
	private readonly held = new Map<number, Set<string>>();
	private calls = 0;
	/** Entries whose execution is over, being acknowledged. */
	private acking = 0;
	private readonly settled = new Set<() => void>();

	constructor(
		private readonly store: ContactStore,
		options: ConsumerOptions,
	) {
		this.consumer = options.consumer ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
		this.opts = {
			startFrom: 'now',
			skipBacklog: false,
			batchSize: 1,
			maxWaitMs: 0,
			blockMs: 2000,
			claimIdleMs: 60_000,
			concurrency: DEFAULT_CONCURRENCY,
			maxAttempts: 5,
			retryDelayMs: 2000,
			onGiveUp: 'deadLetter',
			...options,
		};
		this.deadLetters = new DeadLetters(store, options.group);
	}

	private key(shard: number): string {
		return this.store.keys.log(shard);
	}

	private report(error: unknown): void {
		if (this.running || !(error as Error)?.message?.includes('Connection is closed'))
			this.opts.onError?.(toStoreError(error) as Error);
	}

	/** Creates the group on every shard stream (idempotent), then starts reading and reclaiming. */
	async start(): Promise<void> {
		const { store, opts } = this;
		await this.ensureGroups(
			Array.from({ length: SHARD_COUNT }, (_, i) => i),
			opts.startFrom === 'catchUp' ? '0' : '$',
			opts.startFrom === 'now' && opts.skipBacklog,
		);
		this.running = true;
		const base = store.redis;
		if (base instanceof Redis) {
			this.readers = [
				{
					connection: base.duplicate({ enableAutoPipelining: false }),
					shards: Array.from({ length: SHARD_COUNT }, (_, i) => i),
				},
			];
		} else {
			this.readers = Array.from({ length: SHARD_COUNT }, (_, shard) => ({
				connection: base.duplicate([], { enableAutoPipelining: false, redisOptions: { ...base.options.redisOptions } }),
				shards: [shard],
			}));
		}
		for (const reader of this.readers) reader.connection.on('error', () => undefined);
		this.loops = this.readers.map((reader) => this.readLoop(reader));
		if ((await this.reclaim()) > 0) this.reclaimAll().catch((e) => this.report(e));
		let rounds = 0;
		this.maintenanceTimer = setInterval(
			() => {
				this.heartbeat().catch((e) => this.report(e));
				this.reclaimAll().catch((e) => this.report(e));
				if (++rounds % 30 === 0) this.prune(false).catch((e) => this.report(e));
			},
			Math.max(50, Math.floor(opts.claimIdleMs / 3)),
		);
		this.maintenanceTimer.unref();
	}

	/** Removes consumers that hold nothing: stale ones, and this one when it stops. */
	private async prune(self: boolean): Promise<void> {
		await Promise.all(
			Array.from({ length: SHARD_COUNT }, (_, shard) =>
				this.store.run(
					scripts.pruneConsumers,
					[this.key(shard)],
					[this.opts.group, this.consumer, STALE_CONSUMER_MS, self ? '1' : '0'],
				),
			),
		);
	}

	private async ensureGroups(shards: number[], start: '$' | '0', skipBacklog: boolean): Promise<void> {
		await Promise.all(
			shards.map((shard) =>
				this.store.run(scripts.ensureGroup, [this.key(shard)], [this.opts.group, start, skipBacklog ? '1' : '0']),
			),
		);
	}

	/**
	 * Stops reading. Handler calls still running keep their entries and acknowledge them when they
	 * finish; `drain` waits for that. Entries buffered or waiting for a retry (or whose call fails
	 * from now on) stay pending in Redis and are taken over after the idle limit.
	 */
	async stop(): Promise<void> {
		if (!this.running) return;
		this.running = false;
		clearInterval(this.maintenanceTimer);
		clearTimeout(this.flushTimer);
		this.flushTimer = undefined;
		for (const [timer, events] of this.retryTimers) {
			clearTimeout(timer);
			this.release(events);
		}
		this.retryTimers.clear();
		this.release(this.buffer);
		this.buffer = [];
		for (const reader of this.readers) reader.connection.disconnect();
		await Promise.allSettled(this.loops);
		this.readers = [];
		// Leave the group tidy when nothing is pending here; otherwise the entries wait to be reclaimed.
		if (this.calls === 0) await this.prune(true).catch(() => undefined);
	}

	/** Waits until every handler call started so far has finished and been acknowledged. */
	async drain(timeoutMs = 30_000): Promise<boolean> {
		const deadline = Date.now() + timeoutMs;
		while (this.calls > 0 || (this.running && this.pendingHere > 0)) {
			if (Date.now() > deadline) return false;
			await this.nextSettle(50);
		}
		return true;
	}

	/** Entries held here: buffered, being handled, or waiting for a retry. */
	get pendingHere(): number {
		let n = 0;
		for (const ids of this.held.values()) n += ids.size;
		return n;
	}

	private nextSettle(timeoutMs: number): Promise<void> {
		return new Promise<void>((resolve) => {
			this.settled.add(resolve);
			setTimeout(resolve, timeoutMs);
		});
	}

	/**
	 * How many more entries may be read (or reclaimed) now. Entries whose execution is over and that
	 * only wait for their acknowledgement hold no execution: up to ACKS_IN_FLIGHT_MAX of them do not
	 * count, so acknowledgements queued behind other commands on a busy connection do not hold back
	 * the next executions.
	 */
	private get room(): number {
		const readAhead = 2 * this.opts.concurrency * this.opts.batchSize;
		return readAhead - this.pendingHere + Math.min(this.acking, ACKS_IN_FLIGHT_MAX);
	}

	private async readLoop(reader: Reader): Promise<void> {
		const { opts } = this;
		const keys = reader.shards.map((s) => this.key(s));
		while (this.running) {
			const room = this.room;
			if (room <= 0) {
				await this.nextSettle(200);
				continue;
			}
			try {
				const count = readCount(room);
				const reply = (await reader.connection.xreadgroup(
					'GROUP',
					opts.group,
					this.consumer,
					'COUNT',
					count,
					'BLOCK',
					opts.blockMs,
					'STREAMS',
					...keys,
					...keys.map(() => '>'),
				)) as Array<[string, Array<[string, string[]]>]> | null;
				if (!reply || !this.running) continue;
				for (const [key, entries] of reply) {
					const shard = reader.shards[keys.indexOf(key)];
					await this.accept(
						shard,
						entries.map(([id, fields]) => [id, fields, 1]),
					);
				}
			} catch (error) {
				if (!this.running) return;
				const message = String((error as Error).message);
				// The group was deleted (stream trimmed to nothing and removed, FLUSHDB): create it again.
				if (message.includes('NOGROUP')) {
					await this.ensureGroups(reader.shards, '0', false).catch(() => undefined);
				} else {
					// Redis unreachable: the connection reconnects by itself; read again after a pause.
					this.report(error);
					await sleep(500);
				}
			}
		}
	}

	/** Sorts delivered entries (with their attempt): non-matching ones are acknowledged, matching ones buffered. */
	private async accept(shard: number, entries: Array<[string, string[] | null, number]>): Promise<void> {
		const skip: string[] = [];
		for (const [id, fields, attempt] of entries) {
			// A deleted entry (erased contact) has no fields any more.
			if (!fields) {
				skip.push(id);
				continue;
			}
			const event = { ...parseLogEntry(shard, id, fields), attempt };
			// A replayed dead letter is for its own trigger only, whatever that trigger's filter is now.
			const wanted =
				event.onlyFor !== undefined ? event.onlyFor === this.opts.group : !this.opts.filter || this.opts.filter(event);
			if (!wanted) skip.push(id);
			else {
				this.hold(shard, id);
				this.buffer.push(event);
			}
		}
		// Not awaited: the next read need not wait for this bookkeeping (a lost ack only means the
		// entry is reclaimed later and skipped again).
		if (skip.length > 0) this.ack(shard, skip).catch((e) => this.report(e));
		this.pump();
	}

	private hold(shard: number, id: string): void {
		let ids = this.held.get(shard);
		if (!ids) this.held.set(shard, (ids = new Set()));
		ids.add(id);
	}

	private release(events: LogEvent[]): void {
		for (const e of events) this.held.get(e.shard)?.delete(e.id);
		this.wake();
	}

	/** Wakes whoever waits for room or for the handler calls to settle. */
	private wake(): void {
		for (const resolve of this.settled) resolve();
		this.settled.clear();
	}

	/** Hands buffered events to the handler: full batches, or a partial one that waited `maxWaitMs`, while fewer than `concurrency` calls run. */
	private pump(): void {
		const { batchSize, maxWaitMs, concurrency } = this.opts;
		if (this.buffer.length > 0 && this.bufferedSince === undefined) this.bufferedSince = Date.now();
		while (this.running && this.calls < concurrency && this.buffer.length > 0) {
			const waited = Date.now() - (this.bufferedSince ?? 0) >= maxWaitMs;
			if (this.buffer.length < batchSize && !waited) break;
			this.dispatch(this.buffer.splice(0, batchSize));
			this.bufferedSince = this.buffer.length > 0 ? Date.now() : undefined;
		}
		if (this.running && this.buffer.length > 0 && this.calls < concurrency && !this.flushTimer) {
			this.flushTimer = setTimeout(
				() => {
					this.flushTimer = undefined;
					this.pump();
				},
				Math.max(0, (this.bufferedSince ?? 0) + maxWaitMs - Date.now()),
			);
		}
	}

	private dispatch(batch: LogEvent[]): void {
		this.calls++;
		Promise.resolve()
			.then(() => boundedCall(() => this.opts.handler(batch), this.opts.handlerTimeoutMs))
			.then(
				(end) => ({ end: end ?? {} }),
				(error: unknown) => ({ error: error ?? new Error('the execution failed') }),
			)
			.then((outcome) => {
				// The execution is over: its slot is free while the outcome is written.
				this.calls--;
				this.pump();
				return 'end' in outcome ? this.succeeded(batch, outcome.end) : this.failed(batch, outcome.error);
			})
			.catch((error) => this.report(error));
	}

	private async succeeded(batch: LogEvent[], end: ExecutionEnd): Promise<void> {
		this.acking += batch.length;
		this.wake();
		try {
			await Promise.all(
				[...byShard(batch)].map(([shard, events]) =>
					this.ack(
						shard,
						events.map((e) => e.id),
						end,
					),
				),
			);
		} finally {
			// An entry whose ack failed stays pending in Redis and is delivered again after the idle limit.
			this.acking -= batch.length;
			this.release(batch);
		}
	}

	/** Retries the batch's events after a back-off; those out of attempts are given up. */
	private async failed(batch: LogEvent[], error: unknown): Promise<void> {
		const { maxAttempts } = this.opts;
		const reason = (toStoreError(error) as Error)?.message ?? String(error);
		const exhausted = batch.filter((e) => e.attempt >= maxAttempts);
		const again = batch.filter((e) => e.attempt < maxAttempts);
		const attempt = Math.min(...batch.map((e) => e.attempt));
		this.opts.onError?.(
			new Error(
				`${batch.length} event(s) failed (attempt ${attempt} of ${maxAttempts}): ${reason}${again.length > 0 ? `; retrying in ${this.retryDelay(attempt + 1) / 1000} s` : ''}`,
			),
		);
		if (again.length > 0) this.retryLater(again);
		if (exhausted.length > 0) {
			try {
				await this.giveUp(
					exhausted.map((e) => ({ shard: e.shard, id: e.id, attempts: e.attempt })),
					reason,
				);
			} finally {
				// If giving up failed (Redis unreachable), the entries stay pending and come back after the idle limit.
				this.release(exhausted);
			}
		}
	}

	/** Wait before attempt `attempt` (2, 3, ...): doubling from `retryDelayMs`, at most `claimIdleMs`. */
	private retryDelay(attempt: number): number {
		return Math.min(this.opts.retryDelayMs * 2 ** (attempt - 2), this.opts.claimIdleMs);
	}

	private retryLater(events: LogEvent[]): void {
		if (!this.running) return this.release(events);
		const timer = setTimeout(
			() => {
				this.retryTimers.delete(timer);
				this.retry(events).catch((error) => {
					this.report(error);
					// Redis unreachable: try again later, without counting an attempt.
					this.retryLater(events);
				});
			},
			this.retryDelay(Math.min(...events.map((e) => e.attempt)) + 1),
		);
		this.retryTimers.set(timer, events);
	}

	/** Counts the next attempt on the entries in Redis (so it survives this process), then buffers them again. */
	private async retry(events: LogEvent[]): Promise<void> {
		if (!this.running) return this.release(events);
		const kept: LogEvent[] = [];
		await Promise.all(
			[...groupBy(events, (e) => `${e.shard}:${e.attempt}`).values()].map(async (list) => {
				const { shard, attempt } = list[0];
				const ids = list.map((e) => e.id);
				const claimed = new Set(
					(await this.store.call((r) =>
						r.xclaim(this.key(shard), this.opts.group, this.consumer, 0, ...ids, 'RETRYCOUNT', attempt + 1, 'JUSTID'),
					)) as string[],
				);
				// An entry not claimed was deleted meanwhile (its contact erased): nothing to retry.
				for (const e of list) if (claimed.has(e.id)) kept.push({ ...e, attempt: e.attempt + 1 });
			}),
		);
		this.release(events.filter((e) => !kept.some((k) => k.id === e.id)));
		if (!this.running) return this.release(kept);
		this.buffer.push(...kept);
		this.pump();
	}

	/** Moves entries out of attempts to the dead letters (or drops them), acknowledging them in the same step. */
	private async giveUp(entries: Array<{ shard: number; id: string; attempts: number }>, reason: string): Promise<void> {
		const { onGiveUp, maxAttempts } = this.opts;
		for (const [shard, list] of byShard(entries)) {
			if (onGiveUp === 'drop')
				await this.ack(
					shard,
					list.map((e) => e.id),
				);
			else await this.deadLetters.add(shard, list, reason, this.opts.label ?? this.opts.group);
		}
		const what = onGiveUp === 'drop' ? 'Dropped' : 'Moved to the dead letters';
		this.opts.onError?.(
			new Error(
				`${what}: ${entries.length} event(s) after ${maxAttempts} failed attempts (${entries.map((e) => `${e.shard}-${e.id}`).join(', ')}); last error: ${reason}`,
			),
		);
	}

	/** Acknowledges entries; those of a journey's finished executions (`end`) are counted as they are. */
	private async ack(shard: number, ids: string[], end?: ExecutionEnd): Promise<void> {
		const { journey, group } = this.opts;
		if (!journey || !end) {
			await this.store.call((r) => r.xack(this.key(shard), group, ...ids));
			return;
		}
		const now = this.store.now();
		await this.store.run(scripts.ackEntered, this.store.keys.shardScriptKeys(shard), [
			group,
			JSON.stringify(counting(now, now, entryFields(journey, end.waitingAt))),
			...ids,
		]);
	}

	/** Resets the idle time of entries held here, so nobody takes them over. */
	private async heartbeat(): Promise<void> {
		await Promise.all(
			[...this.held]
				.filter(([, ids]) => ids.size > 0)
				.map(([shard, ids]) =>
					this.store.call((r) => r.xclaim(this.key(shard), this.opts.group, this.consumer, 0, ...ids, 'JUSTID')),
				),
		);
	}

	/**
	 * Reclaims (reclaim) again each time there is room, as long as a pass takes something: the
	 * entries a killed n8n held (hundreds, under load) come back at the pace of the executions, not a
	 * read-ahead's worth per maintenance round (every `claimIdleMs / 3`).
	 */
	private async reclaimAll(): Promise<void> {
		if (this.reclaiming) return;
		this.reclaiming = true;
		try {
			while (this.running) {
				while (this.running && this.room <= 0) await this.nextSettle(200);
				if ((await this.reclaim()) === 0) break;
			}
		} finally {
			this.reclaiming = false;
		}
	}

	/**
	 * Takes over entries left pending longer than `claimIdleMs` by any consumer (a crashed one), as
	 * many as there is room for. Those delivered `maxAttempts` times already are given up. Returns
	 * how many it took, given up included.
	 */
	async reclaim(): Promise<number> {
		if (!this.running) return 0;
		let claimed = 0;
		await Promise.all(
			Array.from({ length: SHARD_COUNT }, async (_, shard) => {
				let cursor = '0-0';
				for (let round = 0; round < 10 && this.running; round++) {
					const count = Math.ceil(this.room / SHARD_COUNT);
					if (count <= 0) break;
					const [next, entries, deleted] = (await this.store.call((r) =>
						r.xautoclaim(
							this.key(shard),
							this.opts.group,
							this.consumer,
							this.opts.claimIdleMs,
							cursor,
							'COUNT',
							count,
						),
					)) as [string, Array<[string, string[] | null]>, string[] | undefined];
					if (deleted && deleted.length > 0) await this.ack(shard, deleted);
					const fresh = entries.filter(([id]) => !this.held.get(shard)?.has(id));
					if (fresh.length > 0) {
						const attempts = await this.deliveries(
							shard,
							fresh.map(([id]) => id),
						);
						const exhausted = fresh.filter(([id]) => (attempts.get(id) ?? 1) > this.opts.maxAttempts);
						claimed += exhausted.length;
						if (exhausted.length > 0) {
							await this.giveUp(
								exhausted.map(([id]) => ({ shard, id, attempts: attempts.get(id)! - 1 })),
								`delivered ${this.opts.maxAttempts} times without its execution finishing (the n8n process running it stopped)`,
							);
						}
						const live = fresh.filter(([id]) => (attempts.get(id) ?? 1) <= this.opts.maxAttempts);
						claimed += live.length;
						if (live.length > 0)
							await this.accept(
								shard,
								live.map(([id, fields]) => [id, fields, attempts.get(id) ?? 1]),
							);
					}
					if (next === '0-0') break;
					cursor = next;
				}
			}),
		);
		return claimed;
	}

	/** How many times each of these entries (pending here) has been delivered, this delivery included. */
	private async deliveries(shard: number, ids: string[]): Promise<Map<string, number>> {
		const pending = (await this.store.call((r) =>
			(r as unknown as { xpending(...args: Array<string | number>): Promise<unknown> }).xpending(
				this.key(shard),
				this.opts.group,
				'IDLE',
				0,
				ids[0],
				ids[ids.length - 1],
				ids.length + this.pendingHere,
				this.consumer,
			),
		)) as Array<[string, string, number, number]>;
		return new Map(pending.map(([id, , , count]) => [id, Number(count)]));
	}
}

function groupBy<T, K>(items: T[], keyOf: (item: T) => K): Map<K, T[]> {
	const map = new Map<K, T[]>();
	for (const item of items) {
		const key = keyOf(item);
		const list = map.get(key);
		if (list) list.push(item);
		else map.set(key, [item]);
	}
	return map;
}

const byShard = <T extends { shard: number }>(items: T[]) => groupBy(items, (item) => item.shard);

/** The newest entries of the log that match, newest first (bounded scan per shard; for "test step"). */
export async function latestMatching(
	store: ContactStore,
	filter: (e: LogEvent) => boolean,
	scanPerShard = 500,
	limit = 1,
): Promise<LogEvent[]> {
	const perShard = await Promise.all(
		Array.from({ length: SHARD_COUNT }, async (_, shard) => {
			const entries = (await store.call((r) =>
				r.xrevrange(store.keys.log(shard), '+', '-', 'COUNT', scanPerShard),
			)) as Array<[string, string[]]>;
			// Replayed dead letters are redeliveries for one trigger, not events.
			return entries
				.map(([id, fields]) => parseLogEntry(shard, id, fields))
				.filter((e) => e.onlyFor === undefined && filter(e));
		}),
	);
	const streamTime = (id: string) => Number(id.split('-')[0]);
	return perShard
		.flat()
		.sort((a, b) => streamTime(b.id) - streamTime(a.id) || b.time - a.time)
		.slice(0, limit);
}
