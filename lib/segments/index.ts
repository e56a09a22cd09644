import { ValidationError } from '../errors';
import { SHARD_COUNT, SHARD_INDEXES } from '../keys';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';
import type { Result } from '../results';
import { checkContactId } from '../values';
import { Topics, TOPIC_FIELD_PREFIX } from '../topics';
import type { EvalContext } from './operators';
import {
	compileSegment,
	type CompiledSegment,
	type ContactData,
	type FetchSpec,
	type IndexSource,
	type LuaPlan,
	type SegmentCondition,
} from './conditions';

export * from './operators';
export * from './conditions';

export interface SegmentMatch {
	contactId: string;
	/** False when the contact does not exist (it then never matches). */
	found: boolean;
	matched: boolean;
}

/** What the conditions say of a contact: it matches, it does not, or it does not exist (never matching). */
export type SegmentVerdict = 'matched' | 'notMatched' | 'notFound';

/**
 * One Result per verdict, shared by every contact given it (Segments.verdicts): a batch of thousands
 * then allocates no object per contact. Frozen: a caller cannot change another contact's result.
 */
const VERDICT_RESULTS: { readonly [V in SegmentVerdict]: Result<SegmentVerdict> } = {
	matched: Object.freeze({ ok: true, value: 'matched' }),
	notMatched: Object.freeze({ ok: true, value: 'notMatched' }),
	notFound: Object.freeze({ ok: true, value: 'notFound' }),
};

/** A contact as segment mode emits it: its id and core attributes. */
export interface SegmentContact {
	contactId: string;
	email?: string;
	timezone?: string;
	lifecycleStage?: string;
	status?: string;
}

export interface PageOptions {
	/** Opaque cursor from the previous page; absent for the first page. */
	cursor?: string | null;
	/** Contacts per page at most (1-10000, default 1000). */
	pageSize?: number;
	/** Candidates read at most per page before returning (default 20 x page size). */
	maxScan?: number;
	/** Time zone for "anniversary today" when the contact has none. */
	fallbackZone?: string;
}

export interface SegmentPage {
	contacts: SegmentContact[];
	/** Feed back for the next page; null when the segment is exhausted. */
	cursor: string | null;
	/** Candidates read for this page (index members, or every contact for a scan). */
	scanned: number;
	/** How candidates are found: an index, or a scan of ix:all. */
	plan: string;
}

interface CursorState {
	v: 1;
	f: string;
	src: IndexSource;
	s: number;
	st: Record<string, unknown> | null;
}

/** The core attributes segment mode emits, read beside those the conditions need. */
const SEGMENT_CORE = ['email', 'timezone', 'lifecycleStage', 'status'];

/** Candidates read per script call in segment mode. */
const CHUNK = 500;

/**
 * Items per script call when Redis decides the conditions (a character per item, about 2-3 µs of
 * Redis's time each: a call of 1,000 holds it a few milliseconds). Five times runBatch's default:
 * a fifth of the runs of the script's setup (its helpers, the plan's JSON and closures) and of the
 * calls to send and answer. A 10,000-item batch took about a third less CPU in this process, and a
 * tenth less in Redis.
 */
const DECIDED_CHUNK = 1000;

const SCAN_ALL: IndexSource = {
	kind: 'zset',
	names: [SHARD_INDEXES.all],
	label: 'scan: every contact (ix:all of each shard)',
};

/** One contact's data as read_segment.lua answers it: a flat array in the order of the spec (Redis nil is null). */
type RawData = Array<string | number | null>;

const NONE: never[] = [];

/** `n` values of `raw` from `at`, Redis nil (null) as false. */
function orFalse(raw: RawData, at: number, n: number): Array<string | false> {
	if (n === 0) return NONE;
	const out = new Array<string | false>(n);
	for (let i = 0; i < n; i++) out[i] = raw[at + i] === null ? false : (raw[at + i] as string);
	return out;
}

/** `n` values of `raw` from `at`. */
function take<T>(raw: RawData, at: number, n: number): T[] {
	return n === 0 ? NONE : (raw.slice(at, at + n) as T[]);
}

/**
 * Builds the contact's data with as few objects as it can (a batch builds thousands: no closure
 * per contact, no array for a kind of data the spec does not ask for).
 */
function toData(raw: RawData, spec: FetchSpec): ContactData {
	let at = 0;
	const core: Record<string, string> = {};
	for (const name of spec.core) {
		const value = raw[at++];
		if (value !== null) core[name] = value as string;
	}
	const fields = orFalse(raw, at, spec.fields.length);
	at += spec.fields.length;
	const tags = take<number>(raw, at, spec.tags.length);
	at += spec.tags.length;
	const counts = orFalse(raw, at, spec.counts.length);
	at += spec.counts.length;
	const windows = take<number>(raw, at, spec.windows.length);
	at += spec.windows.length;
	let butNot: ContactData['butNot'] = NONE;
	if (spec.butNot.length > 0) {
		butNot = new Array(spec.butNot.length);
		for (let i = 0; i < spec.butNot.length; i++, at += 2) {
			const last = raw[at] as string | null;
			const after = raw[at + 1] as string | null;
			butNot[i] = [last === null ? false : Number(last), after === null ? false : Number(after)];
		}
	}
	// The asked-for names' events: name, time, properties ('' for none), three values each.
	let history: ContactData['history'] = NONE;
	if (spec.history && spec.history.names.length > 0) {
		const count = raw[at++] as number;
		history = new Array(count);
		for (let i = 0; i < count; i++, at += 3)
			history[i] = [raw[at] as string, Number(raw[at + 1]), (raw[at + 2] as string) || '{}'];
	}
	let scores: ContactData['scores'] = NONE;
	if (spec.scores.length > 0) {
		scores = new Array(spec.scores.length);
		for (let i = 0; i < spec.scores.length; i++) {
			const entries = take<string>(raw, at + 1, raw[at] as number);
			at += 1 + entries.length;
			const values = take<string>(raw, at + 1, raw[at] as number);
			at += 1 + values.length;
			scores[i] = [entries, values];
		}
	}
	const campaigns = orFalse(raw, at, spec.campaigns.length);
	return { core, fields, tags, counts, windows, butNot, history, scores, campaigns };
}

export class Segments {
	constructor(private readonly store: ContactStore) {}

	/** Validates conditions (ValidationError naming the condition) at the store's current time. */
	compile(conditions: SegmentCondition): CompiledSegment {
		return compileSegment(conditions, { now: this.store.now(), retentionMs: this.store.limits.retentionMs });
	}

	/** Refuses, by name, topic conditions on topics the workspace has not declared. */
	private async requireTopics(compiled: CompiledSegment): Promise<void> {
		const names = compiled.spec.core
			.filter((f) => f.startsWith(TOPIC_FIELD_PREFIX))
			.map((f) => f.slice(TOPIC_FIELD_PREFIX.length));
		if (names.length > 0) await new Topics(this.store).requireDeclared(names, 'topic');
	}

	/** Each contact's match, as `verdicts` decides it, with the contact's ID as the store reads it. */
	async evaluate(
		conditions: SegmentCondition | CompiledSegment,
		contactIds: string[],
		options: { fallbackZone?: string } = {},
	): Promise<Array<Result<SegmentMatch>>> {
		const verdicts = await this.verdicts(conditions, contactIds, options);
		return verdicts.map((result, index) =>
			result.ok
				? {
						ok: true,
						value: {
							contactId: checkContactId(contactIds[index]),
							found: result.value !== 'notFound',
							matched: result.value === 'matched',
						},
					}
				: result,
		);
	}

	/**
	 * Evaluates the conditions for each contact, a chunk of a shard's contacts per script call, all
	 * chunks in one round trip. Conditions with a plan are decided inside Redis (a character per
	 * item); those contacts the script cannot tell exactly about, and conditions without a plan, are
	 * decided here from the data the script reads. A success is one of three shared, frozen Results
	 * (no object per contact); a failure is the contact's own.
	 */
	async verdicts(
		conditions: SegmentCondition | CompiledSegment,
		contactIds: string[],
		options: { fallbackZone?: string } = {},
	): Promise<Array<Result<SegmentVerdict>>> {
		const compiled = 'spec' in conditions ? conditions : this.compile(conditions);
		const ctx = { now: this.store.now(), fallbackZone: options.fallbackZone };
		// In the same round trip as the reads (which write nothing): the batch's answer waits for both.
		const [, results] = await Promise.all([
			this.requireTopics(compiled),
			compiled.plan
				? this.decide(compiled, compiled.plan, contactIds, ctx)
				: this.fetchAndTest(compiled, contactIds, ctx),
		]);
		return results;
	}

	/** The conditions decided inside Redis; the contacts it cannot tell about, here. */
	private async decide(
		compiled: CompiledSegment,
		plan: LuaPlan,
		contactIds: string[],
		ctx: EvalContext,
	): Promise<Array<Result<SegmentVerdict>>> {
		const undecided: number[] = [];
		const results = await this.store.runBatch<string, SegmentVerdict>({
			script: scripts.readSegment,
			items: contactIds,
			shared: JSON.stringify({ plan, now: ctx.now }),
			contactOf: (rawId) => checkContactId(rawId),
			packed: true,
			chunkSize: DECIDED_CHUNK,
			// The script answers one string per chunk, the item's character at its position; an
			// undecided item's result is replaced below.
			result: (code, index) => {
				if (code === '?') undecided.push(index);
				return VERDICT_RESULTS[code === '1' ? 'matched' : code === '-' ? 'notFound' : 'notMatched'];
			},
		});
		if (undecided.length > 0) {
			const again = await this.fetchAndTest(
				compiled,
				undecided.map((i) => contactIds[i]),
				ctx,
			);
			undecided.forEach((index, k) => (results[index] = again[k]));
		}
		return results;
	}

	/** The data the conditions need read by the script, the conditions tested here. */
	private fetchAndTest(
		compiled: CompiledSegment,
		contactIds: string[],
		ctx: EvalContext,
	): Promise<Array<Result<SegmentVerdict>>> {
		return this.store.runBatch<string, SegmentVerdict>({
			script: scripts.readSegment,
			items: contactIds,
			shared: JSON.stringify({ spec: compiled.spec }),
			contactOf: (rawId) => checkContactId(rawId),
			repeats: true,
			// Items of no arguments of their own, but thousands of them: two arguments each unpacked.
			packed: true,
			// Tested as each chunk's data arrives.
			result: (read) =>
				VERDICT_RESULTS[
					!read ? 'notFound' : compiled.test(toData(read as RawData, compiled.spec), ctx) ? 'matched' : 'notMatched'
				],
		});
	}

	/**
	 * Picks the smallest index source the conditions allow (counted per shard in one round trip),
	 * or a scan of every contact when no condition of a top-level AND is indexed.
	 */
	async plan(compiled: CompiledSegment): Promise<{ source: IndexSource; estimate: number }> {
		const { store } = this;
		if (compiled.sources.length === 0) {
			const sizes = await Promise.all(
				Array.from({ length: SHARD_COUNT }, (_, s) =>
					store.call((r) => r.zcard(store.keys.index(s, SHARD_INDEXES.all))),
				),
			);
			return { source: SCAN_ALL, estimate: sizes.reduce((a, b) => a + b, 0) };
		}
		const estimates = await Promise.all(
			compiled.sources.map(async (source) => {
				const counts = await Promise.all(
					Array.from({ length: SHARD_COUNT }, (_, s) =>
						Promise.all(
							source.names.map((name) => {
								const key = store.keys.index(s, name);
								return source.kind === 'sets'
									? store.call((r) => r.scard(key))
									: store.call((r) => r.zcount(key, bound(source.min, '-inf'), bound(source.max, '+inf')));
							}),
						),
					),
				);
				return counts.flat().reduce((a, b) => a + b, 0);
			}),
		);
		let best = 0;
		estimates.forEach((e, i) => {
			if (e < estimates[best]) best = i;
		});
		return { source: compiled.sources[best], estimate: estimates[best] };
	}

	/**
	 * One page of the segment's contacts. Memory stays bounded by the page: candidates are read
	 * from Redis `pageSize` at a time, shard after shard, and only matches are kept.
	 */
	async page(conditions: SegmentCondition, options: PageOptions = {}): Promise<SegmentPage> {
		const { store } = this;
		const pageSize = options.pageSize ?? 1000;
		if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 10_000)
			throw new ValidationError('pageSize', `Page size must be a whole number from 1 to 10000, got ${pageSize}`);
		const maxScan = options.maxScan ?? pageSize * 20;
		const compiled = this.compile(conditions);
		await this.requireTopics(compiled);
		let state: CursorState;
		if (options.cursor) state = decodeCursor(options.cursor, compiled.fingerprint);
		else state = { v: 1, f: compiled.fingerprint, src: (await this.plan(compiled)).source, s: 0, st: null };
		const ctx = { now: store.now(), fallbackZone: options.fallbackZone };
		const spec: FetchSpec = { ...compiled.spec, core: [...new Set([...compiled.spec.core, ...SEGMENT_CORE])] };
		const contacts: SegmentContact[] = [];
		let scanned = 0;
		// The script reads contacts from the shard's indexes: while the store is being upgraded, the
		// shard is upgraded first.
		const read = (s: number, st: Record<string, unknown> | null, count: number): Promise<unknown[]> =>
			store.format.upgradeShard(s).then(() =>
				store.run<unknown[]>(scripts.readSegment, store.keys.shardScriptKeys(s), [
					JSON.stringify({
						spec,
						source: {
							kind: state.src.kind,
							names: state.src.names,
							min: finite(state.src.min),
							max: finite(state.src.max),
							...(st ?? {}),
						},
						count,
					}),
				]),
			);
		const canRead = (s: number, room: number) => s < SHARD_COUNT && room > 0 && scanned < maxScan;
		// Candidates are read CHUNK at a time, and the next chunk is asked for before this one is
		// evaluated, so Redis and this process work at the same time. A chunk never holds more
		// candidates than the page still has room for if all of them matched, so a page never
		// exceeds its size.
		let pending = canRead(state.s, pageSize) ? read(state.s, state.st, Math.min(CHUNK, pageSize)) : null;
		while (pending) {
			// id, data, id, data..., candidates read, next state (JSON) or null.
			const out = await pending;
			pending = null;
			const next = out[out.length - 1] as string | null;
			scanned += out[out.length - 2] as number;
			state = next
				? { ...state, st: JSON.parse(next) as Record<string, unknown> }
				: { ...state, s: state.s + 1, st: null };
			const found = (out.length - 2) / 2;
			const worstRoom = pageSize - contacts.length - found;
			if (canRead(state.s, worstRoom)) pending = read(state.s, state.st, Math.min(CHUNK, worstRoom));
			for (let k = 0; k < out.length - 2; k += 2) {
				const d = toData(out[k + 1] as RawData, spec);
				if (!compiled.test(d, ctx)) continue;
				contacts.push({
					contactId: out[k] as string,
					...(d.core.email ? { email: d.core.email } : {}),
					...(d.core.timezone ? { timezone: d.core.timezone } : {}),
					...(d.core.lifecycleStage ? { lifecycleStage: d.core.lifecycleStage } : {}),
					...(d.core.status ? { status: d.core.status } : {}),
				});
			}
			if (!pending && canRead(state.s, pageSize - contacts.length))
				pending = read(state.s, state.st, Math.min(CHUNK, pageSize - contacts.length));
		}
		return { contacts, cursor: state.s >= SHARD_COUNT ? null : encodeCursor(state), scanned, plan: state.src.label };
	}

	/** Every page of the segment in turn (holds one page at a time). */
	async *pages(conditions: SegmentCondition, options: Omit<PageOptions, 'cursor'> = {}): AsyncGenerator<SegmentPage> {
		let cursor: string | null | undefined;
		do {
			const page = await this.page(conditions, { ...options, cursor });
			yield page;
			cursor = page.cursor;
		} while (cursor);
	}
}

function bound(value: number | undefined, open: string): string | number {
	return value === undefined || !Number.isFinite(value) ? open : value;
}

function finite(value: number | undefined): number | null {
	return value === undefined || !Number.isFinite(value) ? null : value;
}

function encodeCursor(state: CursorState): string {
	return Buffer.from(
		JSON.stringify({ ...state, src: { ...state.src, min: finite(state.src.min), max: finite(state.src.max) } }),
	).toString('base64url');
}

function decodeCursor(cursor: string, fingerprint: string): CursorState {
	let state: CursorState;
	try {
		state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as CursorState;
	} catch {
		throw new ValidationError(
			'cursor',
			'The cursor is not one this node returned',
			'Pass the "cursor" of the previous page unchanged, or leave it empty to start.',
		);
	}
	if (!state || state.v !== 1 || typeof state.s !== 'number' || !state.src || !Array.isArray(state.src.names)) {
		throw new ValidationError(
			'cursor',
			'The cursor is not one this node returned',
			'Pass the "cursor" of the previous page unchanged, or leave it empty to start.',
		);
	}
	if (state.f !== fingerprint) {
		throw new ValidationError(
			'cursor',
			'The cursor belongs to other conditions',
			'Start again without a cursor when the conditions change.',
		);
	}
	const src = state.src as IndexSource & { min?: number | null; max?: number | null };
	return { ...state, src: { ...src, min: src.min ?? undefined, max: src.max ?? undefined } };
}
