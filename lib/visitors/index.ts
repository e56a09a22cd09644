/**
 * Anonymous browser visitors (docs/browser-events.md). A visitor id, made up by the page's snippet,
 * collects events until the visitor is identified (a form with an e-mail, a click from a tracked
 * mail, an identify call); identification merges that history into the contact. Keys: the visitor
 * (Keys.visitor) in the shard of its id, and the contact's list of merged visitors
 * (CONTACT_KEY_SUFFIXES.visitors), which erase reads to unlink them.
 */
import { randomBytes } from 'crypto';
import { ValidationError } from '../errors';
import { SYSTEM_EVENTS } from '../events';
import { scripts } from '../redis/scripts';
import { chainJson } from '../results';
import type { ContactStore } from '../store';
import { checkContactId, checkName, checkProperties, LIMITS } from '../values';

export const VISITOR_LIMITS = {
	/** Events an anonymous visitor keeps (the oldest go first). */
	historyEvents: 100,
	/** Properties of one browser event, as JSON: with historyEvents, at most 200 KB per visitor. */
	eventBytes: 2048,
	/** An anonymous visitor's history is dropped this long after its last event. */
	historyTtlMs: 30 * 86_400_000,
	/** A visitor's tie to its contact is dropped this long after its last event. */
	linkTtlMs: 400 * 86_400_000,
} as const;

/** What the snippet makes up: 16-64 letters, digits, "_" and "-" (it uses 22 random ones). */
const VISITOR_ID = /^[A-Za-z0-9_-]{16,64}$/;
const EVENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SOURCE = 'browser';

export interface VisitorEvent {
	/** Made up by the page; a repeated id (a retried beacon) is recorded once. */
	id?: string;
	name: string;
	properties?: unknown;
}

export interface CollectResult {
	/** The contact the visitor is tied to; its events were recorded there. */
	contactId?: string;
	/** Events kept for the anonymous visitor (its history's length), when not tied. */
	kept?: number;
	/** Events recorded on the contact (0 for a repeat). */
	recorded: number;
}

export type IdentifyResult =
	| { status: 'merged'; contactId: string; merged: number; contactCreated: boolean }
	/** The visitor is tied to another contact: nothing changed (the page starts a new visitor). */
	| { status: 'conflict' }
	/** The contact (a click's) no longer exists: nothing changed. */
	| { status: 'notFound' };

interface StoredEvent {
	key: string;
	name: string;
	ts: number;
	props: string;
}

/** A name or token a page may not use: refused (403) rather than malformed (400). */
export class ForbiddenInputError extends ValidationError {}

export function checkVisitorId(value: unknown, field = 'visitorId'): string {
	if (typeof value !== 'string' || !VISITOR_ID.test(value))
		throw new ValidationError(field, 'The visitor id must be 16 to 64 letters, digits, "_" or "-"');
	return value;
}

/** A browser event: a user event name ("$" names are the pack's), small properties. */
export function checkVisitorEvent(raw: unknown, field: string): VisitorEvent {
	if (!raw || typeof raw !== 'object' || Array.isArray(raw))
		throw new ValidationError(field, `${field} is not a JSON object`);
	const e = raw as Record<string, unknown>;
	const name = checkName(`${field}.name`, e.name, LIMITS.eventNameLength, 'Event name');
	if (name.startsWith('$') || (Object.values(SYSTEM_EVENTS) as string[]).includes(`$${name}`))
		throw new ForbiddenInputError(
			`${field}.name`,
			`"${name}" is one of the pack's own event names; pages may not send it`,
		);
	if (e.id !== undefined && (typeof e.id !== 'string' || !EVENT_ID.test(e.id)))
		throw new ValidationError(`${field}.id`, 'An event id is 1 to 64 letters, digits, "_" or "-"');
	const props = checkProperties(e.properties, `${field}.properties`);
	if (Buffer.byteLength(props) > VISITOR_LIMITS.eventBytes)
		throw new ValidationError(
			`${field}.properties`,
			`Properties are ${Buffer.byteLength(props)} bytes as JSON; the limit for a browser event is ${VISITOR_LIMITS.eventBytes}`,
		);
	return { id: e.id as string | undefined, name, properties: JSON.parse(props) };
}

export class Visitors {
	constructor(private readonly store: ContactStore) {}

	private keysOf(visitorId: string): [string, string] {
		const key = this.store.keys.visitor(visitorId);
		return [key, `${key}:h`];
	}

	/**
	 * Records a visitor's events: kept in its history while it is anonymous, recorded on its contact
	 * (as any event is: log, index, counters) once it is tied to one.
	 */
	async collect(visitorId: string, events: VisitorEvent[]): Promise<CollectResult> {
		const id = checkVisitorId(visitorId);
		const now = this.store.now();
		const stored: StoredEvent[] = events.map((e, i) => {
			const checked = checkVisitorEvent(e, `events[${i}]`);
			return {
				key: `v:${id}:${checked.id ?? randomBytes(9).toString('base64url')}`,
				name: checked.name,
				ts: now,
				props: JSON.stringify(checked.properties),
			};
		});
		// Twice at most: a tie to an erased contact is dropped and the visitor starts over.
		for (let attempt = 0; ; attempt++) {
			const out = JSON.parse(
				await this.store.run<string>(scripts.collectVisitor, this.keysOf(id), [
					JSON.stringify({
						now,
						events: stored.map((e) => JSON.stringify(e)),
						maxEvents: VISITOR_LIMITS.historyEvents,
						ttlMs: VISITOR_LIMITS.historyTtlMs,
						linkTtlMs: VISITOR_LIMITS.linkTtlMs,
					}),
				]),
			) as { contact?: string; pending?: string[] | Record<string, never>; kept?: number };
			if (!out.contact) return { kept: out.kept, recorded: 0 };
			// A merge that stopped before clearing the history: those events first, then these.
			const pending = Array.isArray(out.pending) ? out.pending.map((e) => JSON.parse(e) as StoredEvent) : [];
			const merged = await this.merge(id, out.contact, [...pending, ...stored]);
			if (merged !== null) {
				if (pending.length > 0) await this.release(id, out.contact, 'merged');
				return { contactId: out.contact, recorded: merged };
			}
			await this.release(id, out.contact, 'erased');
			if (attempt > 0) throw new Error(`Visitor ${id} stays tied to an erased contact`);
		}
	}

	/**
	 * Ties the visitor to a contact (by e-mail: created when new; by id: must exist) and merges its
	 * history into it. Safe to repeat. A visitor tied to another contact is refused, never merged.
	 */
	async identify(visitorId: string, who: { email?: string; contactId?: string }): Promise<IdentifyResult> {
		const id = checkVisitorId(visitorId);
		const [visitorKey] = this.keysOf(id);
		const tied = await this.store.call((r) => r.hget(visitorKey, 'contact'));
		let contactId = who.contactId !== undefined ? checkContactId(who.contactId) : undefined;
		if (contactId === undefined) {
			if (typeof who.email !== 'string' || who.email === '')
				throw new ValidationError('email', 'Identify needs an e-mail address or a contact id');
			contactId = (await this.store.contacts.idForEmail(who.email)) ?? undefined;
		}
		// Checked before a contact is created for a new address: a refusal stores nothing.
		if (tied && tied !== contactId) return { status: 'conflict' };
		let contactCreated = false;
		if (contactId === undefined) {
			const [r] = await this.store.contacts.upsert([{ email: who.email }], { source: SOURCE });
			if (!r.ok) throw r.error;
			contactId = r.value.contactId;
			contactCreated = r.value.created;
		}
		const claim = await this.store.run<string[]>(scripts.claimVisitor, this.keysOf(id), [
			contactId,
			this.store.now(),
			VISITOR_LIMITS.linkTtlMs,
		]);
		if (claim[0] === 'conflict') return { status: 'conflict' };
		const merged = await this.merge(
			id,
			contactId,
			claim.slice(1).map((e) => JSON.parse(e) as StoredEvent),
		);
		if (merged === null) {
			await this.release(id, contactId, 'erased');
			return { status: 'notFound' };
		}
		await this.release(id, contactId, 'merged');
		return { status: 'merged', contactId, merged, contactCreated };
	}

	/** Erase: the contact's visitors start over as anonymous (their ties and anything left go). */
	async unlink(contactId: string, visitorIds: string[]): Promise<void> {
		await Promise.all(visitorIds.map((v) => this.release(v, contactId, 'erased')));
	}

	/** The visitors merged into a contact (read by erase before the contact's keys go). */
	async ofContact(contactId: string): Promise<string[]> {
		return this.store.call((r) => r.zrange(this.store.keys.contactKey(contactId, 'visitors'), 0, -1));
	}

	/** Records the events on the contact in one script; null when the contact does not exist. */
	private async merge(visitorId: string, contactId: string, events: StoredEvent[]): Promise<number | null> {
		const { store } = this;
		try {
			return await store.run<number>(scripts.mergeVisitor, store.keys.contactScriptKeys(contactId), [
				JSON.stringify({
					id: contactId,
					now: store.now(),
					visitor: visitorId,
					source: SOURCE,
					chain: chainJson(undefined),
					events,
					limits: store.limits,
				}),
			]);
		} catch (error) {
			if ((error as Error).name === 'NotFoundError') return null;
			throw error;
		}
	}

	private async release(visitorId: string, contactId: string, why: 'merged' | 'erased'): Promise<void> {
		await this.store.run(scripts.releaseVisitor, this.keysOf(visitorId), [contactId, why]);
	}
}

/**
 * Counts a request against a limit per window (fixed windows, one counter key per name and
 * window, gone after it): true while within the limit. Names are hashed by the caller.
 */
export async function withinRate(store: ContactStore, name: string, limit: number, windowMs: number): Promise<boolean> {
	const count = await store.run<number>(scripts.countHit, [store.keys.global('rate', name)], [windowMs]);
	return count <= limit;
}
