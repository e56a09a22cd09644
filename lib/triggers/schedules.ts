import { createHash } from 'crypto';
import { ValidationError } from '../errors';
import { CONTACT_HASH_PREFIXES, encodeKeyPart, SHARD_COUNT, SHARD_INDEXES } from '../keys';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';
import { settleAll } from '../results';
import type { Contact } from '../contacts';
import { SYSTEM_EVENTS } from '../events';
import { calendarDate, checkDateRule, latestOccurrence, nextOccurrence, resolveZone, type DateRule } from '../dates';
import { checkName, checkTimeZone, LIMITS } from '../values';
import type { LogEvent } from './filters';
import { counting, type Counting } from '../analytics';

const DAY = 86_400_000;
/** Lease rounds of one takeDue at most: each asks only the shards that had as many as it asked. */
const TAKE_ROUNDS_MAX = 4;

/** A contact whose date or inactivity trigger is due. */
export interface DueContact {
	contact: Contact;
	/** Which occurrence fires: the anniversary year, "once", or the inactivity spell (last activity time). */
	occurrence: string;
	/** When it was meant to fire (ms). */
	dueAt: number;
}

interface Evaluation {
	/** The occurrence to fire now, if any. */
	fire?: { key: string; dueAt: number };
	/** Next fire time to keep in the schedule; null removes the contact from it. */
	next: number | null;
}

const SCHEDULE_SUFFIXES = ['due', 'ready', 'wm'];

function scheduleKey(store: ContactStore, id: string, shard: number, suffix: string): string {
	return `${store.keys.shard(shard)}:trg:${encodeKeyPart(id)}:${suffix}`;
}

/** The consumer group through which a date schedule follows changes of its field. */
export function followerGroup(scheduleId: string): string {
	return `sched:${scheduleId}`;
}

/** Short stable id of a trigger definition, so a changed definition gets a fresh schedule. */
export function definitionId(owner: string, definition: unknown): string {
	return `${owner}:${createHash('sha1').update(JSON.stringify(definition)).digest('hex').slice(0, 10)}`;
}

/**
 * A per-shard sorted set "contact id -> next fire time" for one trigger definition, maintained
 * incrementally; each tick reads only what is due (ZRANGEBYSCORE up to now), so a tick costs the
 * due contacts, not the base. Fire-once markers per occurrence live in the contact's `:tf` hash.
 */
export abstract class DueSchedule {
	readonly id: string;

	constructor(
		protected readonly store: ContactStore,
		id: string,
	) {
		this.id = checkName('triggerId', id, 300, 'Trigger id');
	}

	dueKey(shard: number): string {
		return scheduleKey(this.store, this.id, shard, 'due');
	}

	protected shardKey(shard: number, suffix: string): string {
		return scheduleKey(this.store, this.id, shard, suffix);
	}

	/**
	 * Records that `owner` (a workflow's trigger node) now uses this schedule, and deletes the
	 * schedules it used before (its definition changed), with their change-following consumer groups.
	 * Returns how many were deleted.
	 */
	async adoptFor(owner: string): Promise<number> {
		const { store } = this;
		const registry = store.keys.global('trg-owner', owner);
		const previous = (await store.call((r) => r.smembers(registry))).filter((id) => id !== this.id);
		for (const id of previous) {
			await Promise.all(
				Array.from({ length: SHARD_COUNT }, async (_, shard) => {
					await store.call((r) => r.del(...SCHEDULE_SUFFIXES.map((suffix) => scheduleKey(store, id, shard, suffix))));
					await store.run(scripts.destroyGroup, [store.keys.log(shard)], [followerGroup(id)]);
				}),
			);
			await store.call((r) => r.srem(registry, id));
		}
		await store.call((r) => r.sadd(registry, this.id));
		return previous.length;
	}

	protected abstract evaluate(contact: Contact, marker: string | null, now: number): Evaluation;

	/** Prepares the schedule (first activation); safe to call on every start. */
	abstract prepare(): Promise<void>;

	/** Extra per-tick maintenance before due entries are read. */
	async maintain(): Promise<void> {}

	/** Sets the next fire time; with a marker, records the occurrence fired and adds `counted` once for it. */
	protected async writeDue(contactId: string, next: number | null, marker = '', counted?: Counting): Promise<void> {
		const { store } = this;
		const shard = store.keys.shardOfContact(contactId);
		await store.run(
			scripts.setDue,
			[store.keys.contact(contactId), store.keys.shard(shard)],
			[
				this.dueKey(shard),
				contactId,
				this.id,
				marker,
				next === null ? '' : Math.round(next),
				counted ? JSON.stringify(counted) : '',
			],
		);
	}

	/** Recomputes the next fire time of contacts from their current state (one round trip per step). */
	async reschedule(contactIds: string[]): Promise<void> {
		const ids = [...new Set(contactIds)];
		const { contacts, markers } = await this.load(ids);
		const now = this.store.now();
		await settleAll(ids, async (id, i) => {
			const contact = contacts[i];
			await this.writeDue(id, contact ? this.evaluate(contact, markers[i], now - 1).next : null);
		});
	}

	private async load(ids: string[]): Promise<{ contacts: Array<Contact | null>; markers: Array<string | null> }> {
		const { store } = this;
		const [contacts, markers] = await Promise.all([
			store.contacts.get(ids),
			settleAll(ids, (id) => store.call((r) => r.hget(store.keys.contactKey(id, 'triggerMarks'), this.id))),
		]);
		return {
			contacts: contacts.map((r) => (r.ok ? r.value : null)),
			markers: markers.map((r) => (r.ok ? r.value : null)),
		};
	}

	/**
	 * Leases due contacts for `leaseMs`: about `room` in all (default `limit` from every shard), at
	 * most `limit` per shard. Each shard is asked for its even share of the room, then the shards
	 * that had that many for the room the others left (a round trip more, only then): a few contacts
	 * due at once are not spread evenly over the shards, and a shard holding them all gave its share
	 * per tick alone. Checks each against its current state and marker, and returns those that really
	 * fire. The caller completes each with `complete` once the execution finished; until then a crash
	 * leaves it due again after the lease.
	 */
	async takeDue(limit = 100, leaseMs = 60_000, room = limit * SHARD_COUNT): Promise<DueContact[]> {
		const { store } = this;
		await this.maintain();
		const now = store.now();
		const ids: string[] = [];
		const taken = new Array<number>(SHARD_COUNT).fill(0);
		let shards = Array.from({ length: SHARD_COUNT }, (_, s) => s);
		// A round leaves out the shards that had fewer than asked: two rounds in practice.
		for (let round = 0; round < TAKE_ROUNDS_MAX && shards.length > 0 && ids.length < room; round++) {
			const share = Math.ceil((room - ids.length) / shards.length);
			const asked = shards.map((shard) => Math.min(share, limit - taken[shard]));
			const leased = await settleAll(shards, (shard, k) =>
				store.run<string[]>(scripts.leaseDue, [this.dueKey(shard)], [now, now + leaseMs, asked[k]]),
			);
			const more: number[] = [];
			leased.forEach((r, k) => {
				if (!r.ok) throw r.error;
				for (let i = 0; i < r.value.length; i += 2) ids.push(r.value[i]);
				const shard = shards[k];
				taken[shard] += r.value.length / 2;
				if (r.value.length / 2 === asked[k] && taken[shard] < limit) more.push(shard);
			});
			shards = more;
		}
		if (ids.length === 0) return [];
		const { contacts, markers } = await this.load(ids);
		const out: DueContact[] = [];
		await settleAll(ids, async (id, i) => {
			const contact = contacts[i];
			if (!contact) return this.writeDue(id, null);
			const evaluation = this.evaluate(contact, markers[i], now);
			if (evaluation.fire) out.push({ contact, occurrence: evaluation.fire.key, dueAt: evaluation.fire.dueAt });
			// Not due after all (changed since, or already fired): just move it to its next time.
			else await this.writeDue(id, evaluation.next);
		});
		return out;
	}

	/** Keeps the lease of contacts whose execution is still running. */
	async extendLease(due: DueContact[], leaseMs = 60_000): Promise<void> {
		const until = this.store.now() + leaseMs;
		await settleAll(due, (d) =>
			this.store.call((r) =>
				r.zadd(this.dueKey(this.store.keys.shardOfContact(d.contact.id)), 'XX', 'GT', until, d.contact.id),
			),
		);
	}

	/**
	 * Records that the occurrence fired and schedules the next one. `counters` (lib/analytics
	 * entryFields) are added once per contact and occurrence, in the same step as its marker.
	 */
	async complete(due: DueContact[], counters: string[] = []): Promise<void> {
		const now = this.store.now();
		const counted = counters.length > 0 ? counting(now, now, counters) : undefined;
		const results = await settleAll(due, (d) => {
			const after = this.evaluate(d.contact, d.occurrence, Math.max(now, d.dueAt));
			return this.writeDue(d.contact.id, after.next, d.occurrence, counted);
		});
		const failed = results.find((r) => !r.ok);
		if (failed && !failed.ok) throw failed.error;
	}

	/** The soonest scheduled contacts (for the editor's test step). */
	async upcoming(limit = 5): Promise<Array<{ contactId: string; at: number }>> {
		const perShard = await Promise.all(
			Array.from({ length: SHARD_COUNT }, (_, s) =>
				this.store.call((r) => r.zrange(this.dueKey(s), 0, limit - 1, 'WITHSCORES')),
			),
		);
		const all: Array<{ contactId: string; at: number }> = [];
		for (const flat of perShard)
			for (let i = 0; i < flat.length; i += 2) all.push({ contactId: flat[i], at: Number(flat[i + 1]) });
		return all.sort((a, b) => a.at - b.at).slice(0, limit);
	}

	/** The contact the editor's test step shows: the soonest scheduled one. */
	async preview(): Promise<{ contactId: string; at: number } | undefined> {
		return (await this.upcoming(1))[0];
	}

	async scheduledCount(): Promise<number> {
		const counts = await Promise.all(
			Array.from({ length: SHARD_COUNT }, (_, s) => this.store.call((r) => r.zcard(this.dueKey(s)))),
		);
		return counts.reduce((a, b) => a + b, 0);
	}
}

export interface DateTriggerSpec {
	/** The contact date field (birthday, firstPurchaseAt...). */
	field: string;
	rule: DateRule;
	/** Zone for contacts without a (valid) time zone. */
	fallbackZone?: string;
}

/** "Date reached": anniversaries of a date field, or N days before/after it, at a local hour. */
export class DateSchedule extends DueSchedule {
	readonly spec: DateTriggerSpec;

	constructor(store: ContactStore, id: string, spec: DateTriggerSpec) {
		super(store, id);
		this.spec = {
			field: checkName('dateField', spec.field, LIMITS.fieldNameLength, 'Date field'),
			rule: checkDateRule(spec.rule),
			fallbackZone: spec.fallbackZone ? checkTimeZone(spec.fallbackZone, 'fallbackZone') : 'UTC',
		};
	}

	protected evaluate(contact: Contact, marker: string | null, now: number): Evaluation {
		const raw = contact.fields[this.spec.field];
		if (raw === undefined || raw === null || raw === '' || typeof raw === 'boolean') return { next: null };
		let date;
		try {
			date = calendarDate(raw);
		} catch {
			return { next: null };
		}
		const zone = resolveZone(contact.timezone, this.spec.fallbackZone);
		const latest = latestOccurrence(this.spec.rule, date, zone, now);
		const next = nextOccurrence(this.spec.rule, date, zone, now);
		if (latest && latest.key !== marker) {
			return { fire: { key: latest.key, dueAt: latest.fireAt }, next: next?.fireAt ?? null };
		}
		return { next: next && next.key !== marker ? next.fireAt : null };
	}

	/** Whether a log event changes what this schedule depends on. */
	affects(event: LogEvent): boolean {
		if (event.name === SYSTEM_EVENTS.contactCreated) {
			const fields = event.properties.fields as Record<string, unknown> | undefined;
			return (fields !== undefined && this.spec.field in fields) || event.properties.timezone !== undefined;
		}
		return (
			event.name === SYSTEM_EVENTS.fieldChanged &&
			(event.properties.field === this.spec.field || event.properties.field === 'timezone')
		);
	}

	/**
	 * First activation: schedules every contact that has the field (one pass over the base, shard by
	 * shard, resumable); afterwards the schedule follows `$field_changed` events.
	 */
	async prepare(): Promise<void> {
		const { store } = this;
		// It reads fields of every contact: a store being upgraded is upgraded first.
		await store.format.upgradeAll();
		await Promise.all(
			Array.from({ length: SHARD_COUNT }, async (_, shard) => {
				const doneKey = this.shardKey(shard, 'ready');
				if (await store.call((r) => r.exists(doneKey))) return;
				let cursor = '0';
				do {
					const [next, flat] = await store.call((r) =>
						r.zscan(store.keys.index(shard, SHARD_INDEXES.all), cursor, 'COUNT', 500),
					);
					cursor = next;
					const ids = flat.filter((_, i) => i % 2 === 0);
					const withField = await settleAll(ids, (id) =>
						store.call((r) => r.hexists(store.keys.contact(id), CONTACT_HASH_PREFIXES.field + this.spec.field)),
					);
					const relevant = ids.filter((_, i) => withField[i].ok && (withField[i] as { value: number }).value === 1);
					if (relevant.length > 0) await this.reschedule(relevant);
				} while (cursor !== '0');
				await store.call((r) => r.set(doneKey, String(store.now())));
			}),
		);
	}

	/** Marks the schedule as built without visiting the base (tests, empty workspaces). */
	async markPrepared(): Promise<void> {
		await Promise.all(
			Array.from({ length: SHARD_COUNT }, (_, s) =>
				this.store.call((r) => r.set(this.shardKey(s, 'ready'), String(this.store.now()))),
			),
		);
	}
}

export interface InactivitySpec {
	/** Fires once the last activity is this old (ms). */
	inactiveMs: number;
	/** On first activation: 'now' fires only for contacts that become inactive from now on; 'catchUp' also for those already inactive. */
	startFrom?: 'now' | 'catchUp';
}

/** "Inactive for N days": once per inactivity spell; new activity starts a new spell. */
export class InactivitySchedule extends DueSchedule {
	readonly spec: Required<InactivitySpec>;

	constructor(store: ContactStore, id: string, spec: InactivitySpec) {
		super(store, id);
		if (!Number.isFinite(spec.inactiveMs) || spec.inactiveMs < 60_000) {
			throw new ValidationError(
				'inactiveDays',
				`The inactivity period must be at least one minute, got ${spec.inactiveMs} ms`,
			);
		}
		this.spec = { startFrom: 'now', ...spec };
	}

	static days(days: number): number {
		return days * DAY;
	}

	protected evaluate(contact: Contact, marker: string | null, now: number): Evaluation {
		if (!contact.lastActivityAt) return { next: null };
		const last = Date.parse(contact.lastActivityAt);
		const spell = String(last);
		const dueAt = last + this.spec.inactiveMs;
		if (spell === marker) return { next: null };
		if (dueAt <= now) return { fire: { key: spell, dueAt }, next: null };
		// Active again since it was scheduled: the watermark brings it back when it crosses again.
		return { next: null };
	}

	async prepare(): Promise<void> {}

	/**
	 * The contact inactive longest past the period, from the activity index (one read per shard): the
	 * schedule itself only fills as contacts cross the cut-off while the trigger is active.
	 */
	async preview(): Promise<{ contactId: string; at: number } | undefined> {
		const { store } = this;
		const cutoff = store.now() - this.spec.inactiveMs;
		const perShard = await Promise.all(
			Array.from({ length: SHARD_COUNT }, (_, s) =>
				store.call((r) =>
					r.zrangebyscore(store.keys.index(s, SHARD_INDEXES.active), '-inf', cutoff, 'WITHSCORES', 'LIMIT', 0, 1),
				),
			),
		);
		const found = perShard
			.filter((f) => f.length > 0)
			.map((f) => ({ contactId: f[0], at: Number(f[1]) + this.spec.inactiveMs }));
		return found.sort((a, b) => a.at - b.at)[0];
	}

	/** Moves contacts that crossed the cut-off since the last tick into the schedule. */
	async maintain(limit = 1000): Promise<void> {
		const { store } = this;
		const cutoff = store.now() - this.spec.inactiveMs;
		const initial = this.spec.startFrom === 'catchUp' ? -1 : cutoff;
		await settleAll(
			Array.from({ length: SHARD_COUNT }, (_, s) => s),
			async (shard) => {
				for (let round = 0; round < 100; round++) {
					const moved = await store.run<number>(
						scripts.promoteInactive,
						[this.dueKey(shard), this.shardKey(shard, 'wm'), store.keys.shard(shard)],
						[cutoff, limit, initial, this.spec.inactiveMs],
					);
					if (moved < limit) break;
				}
			},
		);
	}
}
