import { StoreFormatError } from '../errors';
import { SHARD_COUNT, SHARD_INDEXES, STORE_FORMAT, STORE_FORMAT_READ_AS_IS } from '../keys';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';

/**
 * Format 1's per-contact keys besides the core hash (`<base><suffix>`; times: `<base>:e:<event name>`),
 * frozen here for the upgrade: the release before format 2 wrote them.
 */
export const FORMAT_1_SUFFIXES = {
	fields: ':f',
	tags: ':t',
	counters: ':n',
	times: ':e:',
	history: ':h',
	logEntries: ':l',
	keys: ':k',
	indexes: ':x',
} as const;

/** Contacts upgraded per script call, and read per ZSCAN of a shard's index of all contacts. */
const BATCH = 200;

export type FormatState = 'current' | 'upgrading';

/**
 * The store's data format and its in-place upgrade. A store written by the release before format 2
 * is upgraded online: every contact a call touches is upgraded first (one extra round trip per
 * batch while the upgrade runs), and each shard is upgraded in the background, in batches, its
 * ZSCAN cursor kept in the meta hash, so an interrupted upgrade resumes where it stopped. Each
 * contact's upgrade is one atomic script that leaves a contact in format 2 alone: processes may
 * upgrade at the same time, and a shard visited twice costs only the reads. A format-2 or
 * format-3 store is marked with the current format at once: its data is read as it is (formats 3
 * and 4 only write shorter events index members and idempotency keys, and packed running sums,
 * lib/keys.ts STORE_FORMAT).
 */
export class StoreFormat {
	private state?: Promise<FormatState>;
	/** Known to be current: callers then send their commands in the same tick (no await in between). */
	current = false;
	private background?: Promise<void>;
	private readonly shards = new Map<number, Promise<void>>();

	constructor(private readonly store: ContactStore) {}

	/** Reads (once) the store's format: refuses a newer one, starts the upgrade of an older one. */
	check(): Promise<FormatState> {
		this.state ??= this.read().catch((error) => {
			this.state = undefined;
			throw error;
		});
		return this.state;
	}

	private async read(): Promise<FormatState> {
		const { store } = this;
		const meta = store.keys.meta();
		const stored = await store.call((r) => r.hget(meta, 'format'));
		if (stored !== null && Number(stored) > STORE_FORMAT) {
			throw new StoreFormatError(
				`The contact store "${store.keys.prefix}" holds data of format ${stored}, written by a newer version of the pack; this version reads format ${STORE_FORMAT}`,
				'Update n8n-nodes-marketing-automation on every n8n process (main, workers, webhook processors) that uses this store.',
			);
		}
		if (stored !== null && Number(stored) === STORE_FORMAT) return this.isCurrent();
		if (stored !== null && Number(stored) >= STORE_FORMAT_READ_AS_IS) {
			// Its data is read as it is: marking it stops the releases that would misread what this one writes.
			await store.call((r) => r.hset(meta, 'format', String(STORE_FORMAT)));
			return this.isCurrent();
		}
		if (stored === null && !(await this.holdsFormat1())) {
			await store.call((r) => r.hsetnx(meta, 'format', String(STORE_FORMAT)));
			return this.isCurrent();
		}
		await store.call((r) => r.hsetnx(meta, 'format', '1'));
		this.background = this.upgradeAll().catch(() => {
			// Retried by the next process or call that reads the format.
			this.state = undefined;
		});
		return 'upgrading';
	}

	private isCurrent(): FormatState {
		this.current = true;
		return 'current';
	}

	/** Whether any shard's first contacts were written in format 1 (each has its registry of keys). */
	private async holdsFormat1(): Promise<boolean> {
		const { store } = this;
		const found = await Promise.all(
			Array.from({ length: SHARD_COUNT }, async (_, shard) => {
				const ids = await store.call((r) => r.zrange(store.keys.index(shard, SHARD_INDEXES.all), 0, 4));
				if (ids.length === 0) return false;
				const keys = ids.map((id) => `${store.keys.contact(id)}${FORMAT_1_SUFFIXES.keys}`);
				return (await store.call((r) => r.exists(...keys))) > 0;
			}),
		);
		return found.some(Boolean);
	}

	/** Upgrades these contacts first when the store is being upgraded (ids validated by the caller). */
	async upgradeContacts(ids: Iterable<string>): Promise<void> {
		if ((await this.check()) === 'current') return;
		await this.upgrade([...ids]);
	}

	/** Resolves once the shard holds no contact in format 1 (upgrading it now if need be). */
	async upgradeShard(shard: number): Promise<void> {
		if ((await this.check()) === 'current') return;
		let running = this.shards.get(shard);
		if (!running) {
			running = this.runShard(shard).finally(() => this.shards.delete(shard));
			this.shards.set(shard, running);
		}
		await running;
	}

	/** Resolves once the whole store is in the current format. */
	async upgradeAll(): Promise<void> {
		if ((await this.check()) === 'current') return;
		for (let shard = 0; shard < SHARD_COUNT; shard++) await this.upgradeShard(shard);
		const meta = this.store.keys.meta();
		const done = await this.store.call((r) =>
			r.hmget(meta, ...Array.from({ length: SHARD_COUNT }, (_, s) => `done:${s}`)),
		);
		if (done.every((d) => d !== null)) {
			await this.store.call((r) => r.hset(meta, 'format', String(STORE_FORMAT)));
			this.state = Promise.resolve(this.isCurrent());
		}
	}

	/** The background upgrade of this process, if it started one (tests wait for it). */
	get running(): Promise<void> | undefined {
		return this.background;
	}

	private async runShard(shard: number): Promise<void> {
		const { store } = this;
		const meta = store.keys.meta();
		if (await store.call((r) => r.hexists(meta, `done:${shard}`))) return;
		let cursor = (await store.call((r) => r.hget(meta, `cursor:${shard}`))) ?? '0';
		do {
			const [next, flat] = await store.call((r) =>
				r.zscan(store.keys.index(shard, SHARD_INDEXES.all), cursor, 'COUNT', BATCH),
			);
			await this.upgrade(flat.filter((_, i) => i % 2 === 0));
			cursor = next;
			// Resumes here after an interruption (ZSCAN returns each contact present throughout at least once).
			await store.call((r) => r.hset(meta, `cursor:${shard}`, cursor));
		} while (cursor !== '0');
		await store.call((r) => r.hset(meta, `done:${shard}`, String(store.now())));
	}

	private async upgrade(ids: string[]): Promise<void> {
		if (ids.length === 0) return;
		const results = await this.store.runBatch({
			script: scripts.upgradeContacts,
			items: ids,
			contactOf: (id) => id,
			shared: JSON.stringify(FORMAT_1_SUFFIXES),
			chunkSize: BATCH,
			upgraded: true,
		});
		const failed = results.find((r) => !r.ok);
		if (failed && !failed.ok) throw failed.error;
	}
}
