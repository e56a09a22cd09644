import { encodeKeyPart, hashOf, Keys, SHARD_COUNT } from './keys';
import type { RedisClient } from './redis/connection';
import { refusedScriptCommand } from './access';
import { accessError, commandRefused, singleCommand, toStoreError } from './redis/connection';
import { locateScriptError, runScript, type Script } from './redis/scripts';
import { replayToken } from './redis/replayGuard';
import { ConflictError, NotFoundError, StoreAccessError, ValidationError } from './errors';
import { LIMITS } from './limits';
import { Contacts } from './contacts';
import { Events } from './events';
import type { Result } from './results';
import { StoreFormat } from './migrate';

export interface StoreLimits {
	/** Approximate entries kept per shard of the event log (stream MAXLEN ~), delivered or not. */
	logMax: number;
	/**
	 * Approximate entries kept per shard of the event log once every trigger (consumer group) has
	 * delivered them: the recent log a Catch Up trigger starts with and the Test step reads. Older
	 * entries go as soon as no trigger needs them (lib/redis/lua/events.lua trim_log).
	 */
	logKeep: number;
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
	logKeep: 5_000,
	perNameMax: 1000,
	retentionMs: 400 * DAY,
	idempotencyMs: 30 * DAY,
};

export interface StoreOptions {
	limits?: Partial<StoreLimits>;
	/** Clock in epoch milliseconds (tests move it). */
	now?: () => number;
}

/** The contact store of one workspace (key prefix) on one Redis or Redis Cluster. */
export class ContactStore {
	readonly keys: Keys;
	readonly limits: StoreLimits;
	readonly now: () => number;
	readonly contacts: Contacts;
	readonly events: Events;
	/** The data format: a newer one is refused, an older one upgraded in place (lib/migrate). */
	readonly format: StoreFormat;

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
		this.format = new StoreFormat(this);
	}

	/**
	 * Runs a script (not a batch one: runBatch), turning its error replies and connection failures
	 * into the pack's errors; on a Redis Cluster a redirected call is sent again, while its slot
	 * moves too (singleCommand).
	 * A guarded script's last key is a new replay guard of the shard its keys are in (replayGuard).
	 */
	async run<T = unknown>(script: Script, keys: string[], args: Array<string | number>): Promise<T> {
		if (script.guarded && !(keys.length === script.numberOfKeys && this.keys.isReplayGuard(keys[keys.length - 1])))
			throw new Error(`${script.name} checks a replay guard: pass store.replayGuard(shard) as its last key`);
		if (!this.format.current) {
			const contactId = this.keys.contactIdOf(keys[0]);
			if (contactId !== undefined) await this.format.upgradeContacts([contactId]);
		}
		try {
			return await singleCommand(this.redis, () => runScript<T>(this.redis, script, keys, args));
		} catch (error) {
			throw scriptError(script, error);
		}
	}

	/**
	 * Runs a per-shard batch script: one call per shard and chunk of about `chunkSize` items. Each
	 * item pays only its own work on the server, not a command of its own. The script's each_item
	 * (lib/redis/lua/batch.lua) answers, per item, a flat value or an error.
	 * - A contact's items go one after another, in their order, so a script can read and write its
	 *   state once for all of them.
	 * - Arguments are flat lists (or one JSON array of them: `packed`), answers flat lists: encoding
	 *   JSON in Lua costs more than an item's own commands. Arguments are built chunk by chunk, and
	 *   answers turned into results as each chunk returns, so this process and Redis work at the
	 *   same time: calls go out every 1,000 items (not auto-pipelined: see lib/redis/scripts), all
	 *   in flight together.
	 * - KEYS[1] is the shard prefix: a fixed key count keeps ioredis routing by it on a cluster, and
	 *   every contact key of the shard shares its hash slot. An item names its contact by its id as
	 *   encoded in key names (encodeKeyPart), not by its base key: each_item builds the base from
	 *   KEYS[1], so a call carries no shard prefix per item (half the bytes of a packed item without
	 *   arguments, and of Redis's decoding of them). A guarded write script's KEYS[2] is the
	 *   call's replay guard (lib/redis/lua/replay_guard.lua), in the same slot: a call ioredis sends
	 *   again after a lost reply answers as it did and writes nothing twice. A call a Redis Cluster
	 *   redirects (its shard's slot moving: TRYAGAIN) is sent again with the same guard until the
	 *   move ends, within slotMoveWaitMs (singleCommand).
	 * - An item whose contactOf, argsOf or answer throws fails alone.
	 */
	async runBatch<I, T>(call: BatchCall<I, T>): Promise<Array<Result<T>>> {
		const { script, items, shared, chunkSize = 200, width } = call;
		const lastApart = call.packed === true && call.lastApart === true;
		if (!call.upgraded && !this.format.current) {
			const ids = new Set<string>();
			items.forEach((item, index) => {
				try {
					ids.add(call.contactOf(item, index));
				} catch {
					// Fails below, on its own.
				}
			});
			await this.format.upgradeContacts(ids);
		}
		const results: Array<Result<T>> = new Array(items.length);
		const fail = (index: number, error: unknown) =>
			(results[index] = { ok: false, error: toStoreError(error) as Error });
		// Grouped by shard, then contact, then the contact's items in order, with no object or array
		// per item or contact (a batch holds thousands, all alive until it ends): per shard the first
		// item of each of its contacts, and from each item the index of its contact's next item. A
		// contact's last item so far is found in an open-addressing table over the contact's hash
		// (its shard comes from the same hash): two typed arrays, where a Map grew entry by entry.
		const contactIds: string[] = new Array(items.length);
		const nextOfContact = new Int32Array(items.length).fill(-1);
		const mask = tableSize(items.length) - 1;
		const lastOfSlot = new Int32Array(mask + 1).fill(-1);
		const firstsByShard: number[][] = [];
		const shardOrder: number[] = [];
		for (let index = 0; index < items.length; index++) {
			try {
				const contactId = call.contactOf(items[index], index);
				const hash = hashOf(contactId);
				let slot = hash & mask;
				let last = lastOfSlot[slot];
				while (last !== -1 && contactIds[last] !== contactId) {
					slot = (slot + 1) & mask;
					last = lastOfSlot[slot];
				}
				if (last !== -1) nextOfContact[last] = index;
				else {
					const shard = hash % SHARD_COUNT;
					let firsts = firstsByShard[shard];
					if (!firsts) {
						firstsByShard[shard] = firsts = [];
						shardOrder.push(shard);
					}
					firsts.push(index);
				}
				lastOfSlot[slot] = index;
				contactIds[index] = contactId;
			} catch (error) {
				fail(index, error);
			}
		}
		const calls: Array<Promise<void>> = [];
		// chunk: the indexes of the items the call is for, in the order of its arguments; args: the
		// items' arguments, after ARGV[1] and ARGV[2] (two slots left for them) unless packed; apart:
		// the items' last arguments, in item order, when they go apart from the packed JSON.
		const newArgs = (): Array<string | number> => (call.packed ? [] : [shared, 0]);
		const send = (shard: number, chunk: number[], args: Array<string | number>, apart: string[]) => {
			if (call.packed) args = [shared, chunk.length, packedItems(args), ...apart];
			else args[1] = chunk.length;
			// One replay guard for the call, however often a redirect (a moving slot) has it sent again.
			const keys = this.batchKeys(script, shard);
			calls.push(
				singleCommand(this.redis, () => runScript<unknown[]>(this.redis, script, keys, args)).then(
					(answers) => {
						for (let k = 0; k < chunk.length; k++) {
							const index = chunk[k];
							const answer = answers[k];
							if (call.repeats && answer === 0) results[index] = results[chunk[k - 1]];
							else if (answer instanceof Error) results[index] = { ok: false, error: scriptError(script, answer) };
							else {
								try {
									results[index] = call.result
										? call.result(answer, index, contactIds[index])
										: { ok: true, value: call.answer ? call.answer(answer, index, contactIds[index]) : (answer as T) };
								} catch (error) {
									fail(index, error);
								}
							}
						}
					},
					(error) => {
						const failure = scriptError(script, error);
						for (const index of chunk) results[index] = { ok: false, error: failure };
					},
				),
			);
		};
		let unsent = 0;
		// Index loops: for-of here allocated an iterator result per item (a heap profile of a
		// 10,000-item batch: about 350 KB).
		for (let s = 0; s < shardOrder.length; s++) {
			const shard = shardOrder[s];
			let chunk: number[] = [];
			let args = newArgs();
			let apart: string[] = [];
			const close = async () => {
				send(shard, chunk, args, apart);
				unsent += chunk.length;
				chunk = [];
				args = newArgs();
				apart = [];
				// Let the calls built so far go out, so Redis starts on them while the next are built.
				if (unsent >= YIELD_EVERY) {
					unsent = 0;
					await new Promise((resolve) => setImmediate(resolve));
				}
			};
			const firsts = firstsByShard[shard];
			for (let f = 0; f < firsts.length; f++) {
				const first = firsts[f];
				const contactId = contactIds[first];
				// The contact's id as in its key names: the script builds the base key from it (batch.lua).
				const keyPart = width === undefined ? encodeKeyPart(contactId) : '';
				for (let index = first; index !== -1; index = nextOfContact[index]) {
					let own: Array<string | number> = NO_ARGS;
					if (call.argsOf) {
						try {
							own = call.argsOf(items[index], index, contactId);
							if (width !== undefined && own.length !== width)
								throw new Error(`${script.name}: an item of ${own.length} arguments instead of ${width}`);
						} catch (error) {
							fail(index, error);
							continue;
						}
					}
					chunk.push(index);
					const listed = lastApart ? own.length - 1 : own.length;
					if (width === undefined) args.push(listed, keyPart);
					for (let k = 0; k < listed; k++) {
						const arg = own[k];
						// Packed numbers as text too: the script reads the same strings either way.
						args.push(call.packed && typeof arg !== 'string' ? String(arg) : arg);
					}
					if (lastApart) apart.push(String(own[listed]));
					// A contact with thousands of items in the batch is split all the same.
					if (chunk.length >= MAX_CHUNK_FACTOR * chunkSize) await close();
				}
				// Otherwise a contact's items stay in one call: its state is read and written once.
				if (chunk.length >= chunkSize) await close();
			}
			if (chunk.length > 0) send(shard, chunk, args, apart);
		}
		await Promise.all(calls);
		await this.nameRefusedCommand(script, results);
		return results;
	}

	/** Names the command in the items' ACL refusals that do not (see refusedScriptCommand). */
	private async nameRefusedCommand<T>(script: Script, results: Array<Result<T>>): Promise<void> {
		const unnamed = (r: Result<T>) =>
			!r.ok && r.error instanceof StoreAccessError && r.error.refused === 'command' && !r.error.command;
		if (!results.some(unnamed)) return;
		const command = await refusedScriptCommand(this.redis, this.keys.prefix, script.lua).catch(() => undefined);
		if (!command) return;
		results.forEach((r, index) => {
			if (!r.ok && unnamed(r)) results[index] = { ok: false, error: commandRefused(command, r.error) };
		});
	}

	/**
	 * A batch call's keys: the shard prefix, and a guarded script's new replay guard (same slot) or
	 * the shard's pin (Keys.shardScriptKeys).
	 */
	private batchKeys(script: Script, shard: number): string[] {
		return script.guarded ? [this.keys.shard(shard), this.replayGuard(shard)] : this.keys.shardScriptKeys(shard);
	}

	/**
	 * A new replay guard in the shard (lib/redis/lua/replay_guard.lua), for one call of a guarded
	 * script: the call's last key. ioredis resends the call with it, and the resend writes nothing.
	 */
	replayGuard(shard: number): string {
		return this.keys.replayGuard(shard, replayToken());
	}

	/**
	 * Raw command access with connection errors mapped. `fn` sends one command: on a Redis Cluster,
	 * a redirected one is sent again, while its slot moves too (singleCommand).
	 */
	async call<T>(fn: (redis: RedisClient) => Promise<T>): Promise<T> {
		try {
			return await singleCommand(this.redis, () => fn(this.redis));
		} catch (error) {
			throw toStoreError(error);
		}
	}
}

/**
 * The pack's error for a script's error reply ("NOT_FOUND ...", "EXISTS ...", an ACL refusal of one
 * of its commands) or a connection failure; a Lua error names its file and line.
 */
function scriptError(script: Script, error: unknown): Error {
	const message = (error as Error)?.message ?? '';
	if (message.startsWith('NOT_FOUND')) return new NotFoundError('contactId', 'The contact does not exist');
	if (message.startsWith('EXISTS')) return new ConflictError('contactId', 'The contact already exists');
	const limit = /^LIMIT (fields|tags) (\d+)/.exec(message);
	if (limit) {
		const [, what, count] = limit;
		const max = what === 'fields' ? LIMITS.fieldsPerContact : LIMITS.tagsPerContact;
		return new ValidationError(
			what === 'fields' ? 'fields' : 'addTags',
			`The contact would hold ${count} ${what}; the limit is ${max} per contact`,
			`Remove ${what} the contact no longer needs first.`,
		);
	}
	return accessError(error, script.lua) ?? (toStoreError(locateScriptError(script, error)) as Error);
}

/** A batch script call (ContactStore.runBatch). */
export interface BatchCall<I, T> {
	script: Script;
	items: I[];
	/** The item's contact ID, validated. */
	contactOf(item: I, index: number): string;
	/** The item's own arguments, built just before its chunk is sent (default none). */
	argsOf?(item: I, index: number, contactId: string): Array<string | number>;
	/** What the items share (ARGV[1]). */
	shared: string;
	/**
	 * The item's result from its answer, as its chunk returns (default the answer itself). A script
	 * answering one string (batch.lua item_codes) gives each item its character.
	 */
	answer?(answer: unknown, index: number, contactId: string): T;
	/**
	 * Instead of `answer`, the item's whole Result: a script answering a few codes can give every
	 * item of a code the same Result object, not an object per item (a batch holds thousands).
	 */
	result?(answer: unknown, index: number, contactId: string): Result<T>;
	/**
	 * The script answers 0 for an item of the same contact as the item before it, meaning the same
	 * result (read-only scripts whose answer depends on the contact alone: each_item's `repeats`).
	 */
	repeats?: boolean;
	/** Items per script call (a contact's items are not split below it). */
	chunkSize?: number;
	/** The items' contacts need no upgrade first (the upgrade's own calls). */
	upgraded?: boolean;
	/**
	 * The items' arguments go as one JSON array (ARGV[3]; each_item reads either form). For items of
	 * many arguments, or many items (each sends at least its count and contact id): ioredis spends more on
	 * encoding each argument than JSON.stringify on all, and Redis's cjson.decode costs about what
	 * receiving them one by one does.
	 */
	packed?: boolean;
	/**
	 * With `packed`: each item's last argument goes apart, as a plain argument after the packed JSON
	 * (ARGV[3 + k] for the call's k-th item; each_item's third argument). For a long JSON text: inside
	 * the pack its quotes are escaped and Redis decodes it character by character (about 12,000
	 * instructions for 300 bytes), apart it is received as it is.
	 */
	lastApart?: boolean;
	/**
	 * Items that are not contacts (the e-mail claims): each sends exactly this many arguments, without
	 * its count and contact id, and the script reads them by position from batch.lua batch_items().
	 */
	width?: number;
}

/**
 * The JSON of the items' counts, contact ids and arguments, as each_item decodes it. JSON.stringify
 * writes a lone surrogate as an escape, which cjson refuses: it becomes U+FFFD, as ioredis sends it
 * in a plain argument. (An escaped backslash is matched first, so the text "\ud800" stays as it is.)
 */
function packedItems(values: Array<string | number>): string {
	const json = JSON.stringify(values);
	if (!json.includes('\\ud')) return json;
	return json.replace(/\\\\|\\ud[89a-f][0-9a-f]{2}/g, (escape) => (escape === '\\\\' ? escape : '\\ufffd'));
}

/** runBatch's table of contacts: a power of two, at least twice the items (short probe runs). */
function tableSize(items: number): number {
	let size = 16;
	while (size < 2 * items) size *= 2;
	return size;
}

/** The arguments of an item that has none of its own. */
const NO_ARGS: never[] = [];

/** Items sent before runBatch lets them go out and builds the rest. */
const YIELD_EVERY = 1000;
/** A chunk ends at a contact's last item, or within a contact at this many times the chunk size. */
const MAX_CHUNK_FACTOR = 5;
