import { ValidationError } from '../errors';
import { SHARD_COUNT } from '../keys';
import { defineScript } from '../redis/scripts';
import { settleAll, type ContactStore, type Result } from '../store';
import { checkContactId } from '../values';
import { compileSegment, type CompiledSegment, type ContactData, type FetchSpec, type IndexSource, type SegmentCondition } from './conditions';

export * from './operators';
export * from './conditions';

const readSegment = defineScript(__dirname, 'read_segment', 1);

export interface SegmentMatch {
	contactId: string;
	/** False when the contact does not exist (it then never matches). */
	found: boolean;
	matched: boolean;
}

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

/** Candidates read per script call in segment mode. */
const CHUNK = 500;

const SCAN_ALL: IndexSource = { kind: 'zset', names: ['all'], label: 'scan: every contact (ix:all of each shard)' };

function arr<T>(value: unknown): T[] {
	return Array.isArray(value) ? (value as T[]) : [];
}

/** cjson writes empty Lua tables as {}: make every list a list again. */
function toData(raw: Record<string, unknown>, spec: FetchSpec): ContactData {
	const core: Record<string, string> = {};
	const values = arr<string | false>(raw.core);
	spec.core.forEach((name, i) => {
		if (values[i] !== false && values[i] !== undefined && values[i] !== null) core[name] = values[i] as string;
	});
	return {
		core,
		fields: arr(raw.fields),
		tags: arr(raw.tags),
		counts: arr(raw.counts),
		windows: arr(raw.windows),
		butNot: arr(raw.butNot),
		history: arr(raw.history),
		scores: arr<[unknown, unknown]>(raw.scores).map(([entries, values]) => [arr<string>(entries), arr<string>(values)]),
		campaigns: arr(raw.campaigns),
	};
}

export class Segments {
	constructor(private readonly store: ContactStore) {}

	/** Validates conditions (ValidationError naming the condition) at the store's current time. */
	compile(conditions: SegmentCondition): CompiledSegment {
		return compileSegment(conditions, { now: this.store.now(), retentionMs: this.store.limits.retentionMs });
	}

	/** Evaluates the conditions for each contact: one read script per contact, one round trip per batch. */
	async evaluate(conditions: SegmentCondition | CompiledSegment, contactIds: string[], options: { fallbackZone?: string } = {}): Promise<Array<Result<SegmentMatch>>> {
		const { store } = this;
		const compiled = 'spec' in conditions ? conditions : this.compile(conditions);
		const now = store.now();
		const arg = JSON.stringify({ mode: 'contact', spec: compiled.spec });
		return settleAll(contactIds, async (rawId) => {
			const contactId = checkContactId(rawId);
			const raw = await store.run<string | null>(readSegment, [store.keys.contact(contactId)], [arg]);
			if (!raw) return { contactId, found: false, matched: false };
			return { contactId, found: true, matched: compiled.test(toData(JSON.parse(raw), compiled.spec), { now, fallbackZone: options.fallbackZone }) };
		});
	}

	/**
	 * Picks the smallest index source the conditions allow (counted per shard in one round trip),
	 * or a scan of every contact when no condition of a top-level AND is indexed.
	 */
	async plan(compiled: CompiledSegment): Promise<{ source: IndexSource; estimate: number }> {
		const { store } = this;
		if (compiled.sources.length === 0) {
			const sizes = await Promise.all(Array.from({ length: SHARD_COUNT }, (_, s) => store.call((r) => r.zcard(store.keys.index(s, 'all')))));
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
		if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 10_000) throw new ValidationError('pageSize', `Page size must be a whole number from 1 to 10000, got ${pageSize}`);
		const maxScan = options.maxScan ?? pageSize * 20;
		const compiled = this.compile(conditions);
		let state: CursorState;
		if (options.cursor) state = decodeCursor(options.cursor, compiled.fingerprint);
		else state = { v: 1, f: compiled.fingerprint, src: (await this.plan(compiled)).source, s: 0, st: null };
		const ctx = { now: store.now(), fallbackZone: options.fallbackZone };
		const contacts: SegmentContact[] = [];
		let scanned = 0;
		type Chunk = { items: Array<[string, Record<string, unknown>]> | Record<string, never>; n: number; next: Record<string, unknown> | false };
		const read = (s: number, st: Record<string, unknown> | null, count: number): Promise<string> =>
			store.run<string>(readSegment, [store.keys.shard(s)], [
				JSON.stringify({
					mode: 'page',
					spec: compiled.spec,
					source: { kind: state.src.kind, names: state.src.names, min: finite(state.src.min), max: finite(state.src.max), ...(st ?? {}) },
					count,
				}),
			]);
		const canRead = (s: number, room: number) => s < SHARD_COUNT && room > 0 && scanned < maxScan;
		// Candidates are read CHUNK at a time, and the next chunk is asked for before this one is
		// evaluated, so Redis and this process work at the same time. A chunk never holds more
		// candidates than the page still has room for if all of them matched, so a page never
		// exceeds its size.
		let pending = canRead(state.s, pageSize) ? read(state.s, state.st, Math.min(CHUNK, pageSize)) : null;
		while (pending) {
			const out = JSON.parse(await pending) as Chunk;
			pending = null;
			scanned += out.n;
			state = out.next ? { ...state, st: out.next } : { ...state, s: state.s + 1, st: null };
			const items = arr<[string, Record<string, unknown>]>(out.items);
			const worstRoom = pageSize - contacts.length - items.length;
			if (canRead(state.s, worstRoom)) pending = read(state.s, state.st, Math.min(CHUNK, worstRoom));
			for (const [id, data] of items) {
				const d = toData(data, compiled.spec);
				if (!compiled.test(d, ctx)) continue;
				contacts.push({
					contactId: id,
					...(d.core.email ? { email: d.core.email } : {}),
					...(d.core.timezone ? { timezone: d.core.timezone } : {}),
					...(d.core.lifecycleStage ? { lifecycleStage: d.core.lifecycleStage } : {}),
					...(d.core.status ? { status: d.core.status } : {}),
				});
			}
			if (!pending && canRead(state.s, pageSize - contacts.length)) pending = read(state.s, state.st, Math.min(CHUNK, pageSize - contacts.length));
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
	return Buffer.from(JSON.stringify({ ...state, src: { ...state.src, min: finite(state.src.min), max: finite(state.src.max) } })).toString('base64url');
}

function decodeCursor(cursor: string, fingerprint: string): CursorState {
	let state: CursorState;
	try {
		state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as CursorState;
	} catch {
		throw new ValidationError('cursor', 'The cursor is not one this node returned', 'Pass the "cursor" of the previous page unchanged, or leave it empty to start.');
	}
	if (!state || state.v !== 1 || typeof state.s !== 'number' || !state.src || !Array.isArray(state.src.names)) {
		throw new ValidationError('cursor', 'The cursor is not one this node returned', 'Pass the "cursor" of the previous page unchanged, or leave it empty to start.');
	}
	if (state.f !== fingerprint) {
		throw new ValidationError('cursor', 'The cursor belongs to other conditions', 'Start again without a cursor when the conditions change.');
	}
	const src = state.src as IndexSource & { min?: number | null; max?: number | null };
	return { ...state, src: { ...src, min: src.min ?? undefined, max: src.max ?? undefined } };
}
