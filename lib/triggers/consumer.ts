import { randomBytes } from 'crypto';
import { hostname } from 'os';
import Redis from 'ioredis';
import type { RedisClient } from '../redis/connection';
import { toStoreError } from '../redis/connection';
import { SHARD_COUNT } from '../keys';
import type { ContactStore } from '../store';
import { scripts } from '../redis/scripts';
import { parseLogEntry, type LogEvent } from './filters';

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
	/** An entry handed out this many times without success is acknowledged and reported (default 5; 0: never give up). */
	maxDeliveries?: number;
	/** Handler calls (executions) that may run at once before reading pauses (default 256). */
	maxInFlight?: number;
	/**
	 * Gets each batch; the entries are acknowledged when the promise resolves (the execution it started
	 * finished). A rejection leaves them pending: they are delivered again after `claimIdleMs`.
	 */
	handler: (events: LogEvent[]) => Promise<void>;
	onError?: (error: Error) => void;
}

interface Reader {
	connection: RedisClient;
	shards: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Consumes the 16 shard streams of the event log through one consumer group.
 *
 * Reading: on a single Redis one dedicated connection blocks in one XREADGROUP over all 16 streams.
 * Redis Cluster refuses multi-key commands across slots, so there each shard stream gets its own
 * blocking reader (a duplicate cluster client that only ever talks to the node owning that slot):
 * 16 extra connections per active trigger, and every shard is woken as soon as it gets an entry.
 *
 * Guarantees: the group gives each entry to one consumer (several n8n mains share it); an entry is
 * acknowledged (XACK) only after its handler call resolved; entries in flight are re-claimed by their
 * consumer every `claimIdleMs / 3` (XCLAIM JUSTID resets the idle time), so only entries of a consumer
 * that died or hung pass the idle limit, and those are taken over with XAUTOCLAIM.
 */
export class EventLogConsumer {
	readonly consumer: string;
	private readonly opts: Required<Omit<ConsumerOptions, 'filter' | 'onError' | 'consumer'>> & Pick<ConsumerOptions, 'filter' | 'onError'>;
	private readers: Reader[] = [];
	private running = false;
	private loops: Array<Promise<void>> = [];
	private buffer: LogEvent[] = [];
	private flushTimer?: NodeJS.Timeout;
	private maintenanceTimer?: NodeJS.Timeout;
	/** Entry ids per shard whose handler call has not finished. */
	private readonly inFlight = new Map<number, Set<string>>();
	private inFlightCalls = 0;
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
			maxInFlight: 256,
			maxDeliveries: 5,
			...options,
		};
	}

	private key(shard: number): string {
		return this.store.keys.log(shard);
	}

	private report(error: unknown): void {
		if (this.running || !(error as Error)?.message?.includes('Connection is closed')) this.opts.onError?.(toStoreError(error) as Error);
	}

	/** Creates the group on every shard stream (idempotent), then starts reading and reclaiming. */
	async start(): Promise<void> {
		const { store, opts } = this;
		await this.ensureGroups(Array.from({ length: SHARD_COUNT }, (_, i) => i), opts.startFrom === 'catchUp' ? '0' : '$', opts.startFrom === 'now' && opts.skipBacklog);
		this.running = true;
		const base = store.redis;
		if (base instanceof Redis) {
			this.readers = [{ connection: base.duplicate({ enableAutoPipelining: false, maxRetriesPerRequest: null }), shards: Array.from({ length: SHARD_COUNT }, (_, i) => i) }];
		} else {
			this.readers = Array.from({ length: SHARD_COUNT }, (_, shard) => ({
				connection: base.duplicate([], { enableAutoPipelining: false, redisOptions: { ...base.options.redisOptions, maxRetriesPerRequest: null } }),
				shards: [shard],
			}));
		}
		for (const reader of this.readers) reader.connection.on('error', () => undefined);
		this.loops = this.readers.map((reader) => this.readLoop(reader));
		await this.reclaim();
		let rounds = 0;
		this.maintenanceTimer = setInterval(() => {
			this.heartbeat().catch((e) => this.report(e));
			this.reclaim().catch((e) => this.report(e));
			if (++rounds % 30 === 0) this.prune(false).catch((e) => this.report(e));
		}, Math.max(50, Math.floor(opts.claimIdleMs / 3)));
		this.maintenanceTimer.unref();
	}

	/** Removes consumers that hold nothing: stale ones, and this one when it stops. */
	private async prune(self: boolean): Promise<void> {
		await Promise.all(
			Array.from({ length: SHARD_COUNT }, (_, shard) =>
				this.store.run(scripts.pruneConsumers, [this.key(shard)], [this.opts.group, this.consumer, STALE_CONSUMER_MS, self ? '1' : '0']),
			),
		);
	}

	private async ensureGroups(shards: number[], start: '$' | '0', skipBacklog: boolean): Promise<void> {
		await Promise.all(shards.map((shard) => this.store.run(scripts.ensureGroup, [this.key(shard)], [this.opts.group, start, skipBacklog ? '1' : '0'])));
	}

	/**
	 * Stops reading. Handler calls still running keep their entries and acknowledge them when they
	 * finish; `drain` waits for that.
	 */
	async stop(): Promise<void> {
		if (!this.running) return;
		this.running = false;
		clearInterval(this.maintenanceTimer);
		clearTimeout(this.flushTimer);
		this.flushTimer = undefined;
		// Buffered events were read but not handed on: they stay pending and are reclaimed later.
		this.buffer = [];
		for (const reader of this.readers) reader.connection.disconnect();
		await Promise.allSettled(this.loops);
		this.readers = [];
		// Leave the group tidy when nothing is pending here; otherwise the entries wait to be reclaimed.
		if (this.inFlightCalls === 0) await this.prune(true).catch(() => undefined);
	}

	/** Waits until every handler call started so far has finished and been acknowledged. */
	async drain(timeoutMs = 30_000): Promise<boolean> {
		const deadline = Date.now() + timeoutMs;
		while (this.inFlightCalls > 0 || this.pendingHere > 0) {
			if (Date.now() > deadline) return false;
			await new Promise<void>((resolve) => {
				this.settled.add(resolve);
				setTimeout(resolve, 50);
			});
		}
		return true;
	}

	get pendingHere(): number {
		let n = 0;
		for (const ids of this.inFlight.values()) n += ids.size;
		return n + this.buffer.length;
	}

	private async readLoop(reader: Reader): Promise<void> {
		const { opts } = this;
		const keys = reader.shards.map((s) => this.key(s));
		while (this.running) {
			if (this.inFlightCalls >= opts.maxInFlight) {
				await new Promise<void>((resolve) => {
					this.settled.add(resolve);
					setTimeout(resolve, 200);
				});
				continue;
			}
			try {
				const count = Math.max(opts.batchSize, 100);
				const reply = (await reader.connection.xreadgroup(
					'GROUP', opts.group, this.consumer, 'COUNT', count, 'BLOCK', opts.blockMs, 'STREAMS', ...keys, ...keys.map(() => '>'),
				)) as Array<[string, Array<[string, string[]]>]> | null;
				if (!reply || !this.running) continue;
				for (const [key, entries] of reply) {
					const shard = reader.shards[keys.indexOf(key)];
					await this.accept(shard, entries);
				}
			} catch (error) {
				if (!this.running) return;
				const message = String((error as Error).message);
				// The group was deleted (stream trimmed to nothing and removed, FLUSHDB): create it again.
				if (message.includes('NOGROUP')) {
					await this.ensureGroups(reader.shards, '0', false).catch(() => undefined);
				} else {
					this.report(error);
					await sleep(500);
				}
			}
		}
	}

	/** Sorts freshly delivered entries: non-matching ones are acknowledged, matching ones buffered. */
	private async accept(shard: number, entries: Array<[string, string[] | null]>): Promise<void> {
		const skip: string[] = [];
		for (const [id, fields] of entries) {
			// A deleted entry (erased contact) has no fields any more.
			if (!fields) {
				skip.push(id);
				continue;
			}
			const event = parseLogEntry(shard, id, fields);
			if (this.opts.filter && !this.opts.filter(event)) skip.push(id);
			else {
				this.track(shard, id);
				this.buffer.push(event);
			}
		}
		// Not awaited: the next read need not wait for this bookkeeping (a lost ack only means the
		// entry is reclaimed later and skipped again).
		if (skip.length > 0) this.ack(shard, skip).catch((e) => this.report(e));
		this.flushIfDue();
	}

	private track(shard: number, id: string): void {
		let ids = this.inFlight.get(shard);
		if (!ids) this.inFlight.set(shard, (ids = new Set()));
		ids.add(id);
	}

	private flushIfDue(): void {
		const { batchSize, maxWaitMs } = this.opts;
		while (this.buffer.length >= batchSize || (this.buffer.length > 0 && maxWaitMs <= 0)) this.dispatch(this.buffer.splice(0, batchSize));
		if (this.buffer.length > 0 && !this.flushTimer) {
			this.flushTimer = setTimeout(() => {
				this.flushTimer = undefined;
				if (this.buffer.length > 0) this.dispatch(this.buffer.splice(0, batchSize));
			}, maxWaitMs);
		}
	}

	private dispatch(batch: LogEvent[]): void {
		this.inFlightCalls++;
		const finished = () => {
			this.inFlightCalls--;
			for (const resolve of this.settled) resolve();
			this.settled.clear();
		};
		Promise.resolve()
			.then(() => this.opts.handler(batch))
			.then(
				async () => {
					// The execution is over: it no longer counts against maxInFlight while the ack travels.
					finished();
					const byShard = new Map<number, string[]>();
					for (const e of batch) (byShard.get(e.shard) ?? byShard.set(e.shard, []).get(e.shard)!).push(e.id);
					await Promise.all([...byShard].map(([shard, ids]) => this.ack(shard, ids)));
				},
				(error) => {
					finished();
					this.report(error);
				},
			)
			.catch((error) => this.report(error))
			.finally(() => {
				// Unacknowledged (failed) entries stay pending in Redis and get reclaimed after the idle limit.
				for (const e of batch) this.inFlight.get(e.shard)?.delete(e.id);
			});
	}

	private async ack(shard: number, ids: string[]): Promise<void> {
		await this.store.call((r) => r.xack(this.key(shard), this.opts.group, ...ids));
	}

	/**
	 * Entries whose handler failed again and again (the execution could not even be started) would
	 * come back forever: past `maxDeliveries` they are acknowledged and reported instead.
	 */
	private async dropExhausted(shard: number, entries: Array<[string, string[] | null]>): Promise<Array<[string, string[] | null]>> {
		const ids = entries.map(([id]) => id);
		const pending = (await this.store.call((r) =>
			(r as unknown as { xpending(...args: Array<string | number>): Promise<unknown> }).xpending(this.key(shard), this.opts.group, 'IDLE', 0, ids[0], ids[ids.length - 1], ids.length * 2, this.consumer),
		)) as Array<[string, string, number, number]>;
		const exhausted = new Set(pending.filter(([, , , deliveries]) => deliveries > this.opts.maxDeliveries).map(([id]) => id));
		if (exhausted.size === 0) return entries;
		await this.ack(shard, [...exhausted]);
		this.opts.onError?.(new Error(`Gave up on ${exhausted.size} event(s) of shard ${shard} after ${this.opts.maxDeliveries} failed deliveries: ${[...exhausted].join(', ')}`));
		return entries.filter(([id]) => !exhausted.has(id));
	}

	/** Resets the idle time of entries still being handled here, so nobody takes them over. */
	private async heartbeat(): Promise<void> {
		await Promise.all(
			[...this.inFlight].filter(([, ids]) => ids.size > 0).map(([shard, ids]) =>
				this.store.call((r) => r.xclaim(this.key(shard), this.opts.group, this.consumer, 0, ...ids, 'JUSTID')),
			),
		);
	}

	/** Takes over entries left pending longer than `claimIdleMs` by any consumer (a crashed one). */
	async reclaim(): Promise<number> {
		if (!this.running) return 0;
		let claimed = 0;
		await Promise.all(
			Array.from({ length: SHARD_COUNT }, async (_, shard) => {
				let cursor = '0-0';
				for (let round = 0; round < 10 && this.running; round++) {
					const [next, entries, deleted] = (await this.store.call((r) =>
						r.xautoclaim(this.key(shard), this.opts.group, this.consumer, this.opts.claimIdleMs, cursor, 'COUNT', 100),
					)) as [string, Array<[string, string[] | null]>, string[] | undefined];
					let fresh = entries.filter(([id]) => !this.inFlight.get(shard)?.has(id));
					if (fresh.length > 0 && this.opts.maxDeliveries > 0) fresh = await this.dropExhausted(shard, fresh);
					claimed += fresh.length;
					if (deleted && deleted.length > 0) await this.ack(shard, deleted);
					if (fresh.length > 0) await this.accept(shard, fresh);
					if (next === '0-0') break;
					cursor = next;
				}
			}),
		);
		return claimed;
	}
}

/** The newest entries of the log that match, newest first (bounded scan per shard; for "test step"). */
export async function latestMatching(store: ContactStore, filter: (e: LogEvent) => boolean, scanPerShard = 500, limit = 1): Promise<LogEvent[]> {
	const perShard = await Promise.all(
		Array.from({ length: SHARD_COUNT }, async (_, shard) => {
			const entries = (await store.call((r) => r.xrevrange(store.keys.log(shard), '+', '-', 'COUNT', scanPerShard))) as Array<[string, string[]]>;
			return entries.map(([id, fields]) => parseLogEntry(shard, id, fields)).filter(filter);
		}),
	);
	const streamTime = (id: string) => Number(id.split('-')[0]);
	return perShard
		.flat()
		.sort((a, b) => streamTime(b.id) - streamTime(a.id) || b.time - a.time)
		.slice(0, limit);
}
