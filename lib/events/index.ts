import { ValidationError } from '../errors';
import { CREATED_EVENT_FIELD, EVENT_TIME_DIGITS, EVENT_TIME_OFFSET } from '../keys';
import { toStoreError } from '../redis/connection';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';
import { checkJourneyId, counterField, counting } from '../analytics';
import { chainJson, type ChainLink, type Result } from '../results';
import { checkContactId, checkName, checkProperties, LIMITS, toEventTime, toTimestamp } from '../values';

/** Names of events the pack itself logs; user events may not start with "$". */
export const SYSTEM_EVENTS = {
	contactCreated: '$contact_created',
	fieldChanged: '$field_changed',
	tagAdded: '$tag_added',
	tagRemoved: '$tag_removed',
	subscriptionChanged: '$subscription_changed',
	gradeChanged: '$grade_changed',
	tierChanged: '$tier_changed',
	topicChanged: '$topic_changed',
	emailSent: '$email_sent',
	emailDelivered: '$email_delivered',
	emailOpened: '$email_opened',
	emailClicked: '$email_clicked',
	emailBounced: '$email_bounced',
	emailComplained: '$email_complained',
	emailUnsubscribed: '$email_unsubscribed',
	emailReplied: '$email_replied',
	/** A workflow's goal reached (Contact node, Record Goal Reached): {workflow, workflowName, goal}. */
	goalReached: '$goal_reached',
	/** A contact's variant in an A/B test, logged once per contact and test (lib/experiments): {test, variant}. */
	experimentAssigned: '$experiment_assigned',
} as const;

/** System events that are also an interaction of the contact (they move "last activity"). */
const INTERACTIONS = new Set<string>([
	SYSTEM_EVENTS.emailOpened,
	SYSTEM_EVENTS.emailClicked,
	SYSTEM_EVENTS.emailReplied,
]);

export interface EventInput {
	contactId: string;
	name: string;
	properties?: unknown;
	/** When it happened (defaults to now): Date, epoch ms or ISO 8601. */
	time?: unknown;
	source?: string;
	/** A retried delivery with the same key changes nothing. */
	idempotencyKey?: string;
	chain?: ChainLink[];
	/** Create the contact when it does not exist yet (default true). */
	createContact?: boolean;
	/** Whether it counts as an interaction; default: user events and opens, clicks and replies. */
	activity?: boolean;
	/** The journey (workflow id) whose goal this event reaches: counted as its goalReached, once like the event. */
	journeyGoal?: string;
}

export interface RecordedEvent {
	contactId: string;
	duplicate: boolean;
	eventId?: string;
	contactCreated?: boolean;
}

export class Events {
	constructor(private readonly store: ContactStore) {}

	/** Records user events ("$" names are reserved): one script call per shard and chunk of events. */
	async record(inputs: EventInput[]): Promise<Array<Result<RecordedEvent>>> {
		return this.recordAny(inputs, false);
	}

	/** For the pack's own modules: may log "$" system events. */
	async recordSystem(inputs: EventInput[]): Promise<Array<Result<RecordedEvent>>> {
		return this.recordAny(inputs, true);
	}

	private async recordAny(inputs: EventInput[], allowSystem: boolean): Promise<Array<Result<RecordedEvent>>> {
		const { store } = this;
		const now = store.now();
		// A store that cannot be read (down, or of a newer format) fails every item, not the call.
		return store
			.runBatch<EventInput, RecordedEvent>({
				script: scripts.recordEvents,
				items: inputs,
				shared: JSON.stringify({ now, limits: store.limits }),
				contactOf: (input) => checkContactId(input?.contactId),
				argsOf: (input, _index, contactId) => {
					const name = checkName('name', input.name, LIMITS.eventNameLength, 'Event name');
					if (name.startsWith('$') && !allowSystem) {
						throw new ValidationError(
							'name',
							`Event names starting with "$" are reserved for the pack's own events ("${name}")`,
						);
					}
					const idempotencyKey =
						input.idempotencyKey === undefined || input.idempotencyKey === ''
							? ''
							: checkName('idempotencyKey', String(input.idempotencyKey), 200, 'Idempotency key');
					const ts = input.time === undefined || input.time === '' ? now : toEventTime(input.time, 'time', now);
					const journeyGoal =
						input.journeyGoal === undefined ? undefined : checkJourneyId(input.journeyGoal, 'journeyGoal');
					return [
						contactId,
						name,
						ts,
						checkProperties(input.properties),
						input.source ? checkName('source', input.source, 200, 'Source') : 'api',
						chainJson(input.chain),
						idempotencyKey,
						(input.createContact ?? true) ? '1' : '0',
						(input.activity ?? (!name.startsWith('$') || INTERACTIONS.has(name))) ? '1' : '0',
						journeyGoal ? JSON.stringify(counting(now, ts, [counterField('journey', 'goalReached', journeyGoal)])) : '',
					];
				},
				answer: (answer, _index, contactId) => {
					const [duplicate, eventId, created] = answer as [number, string | null, number];
					return {
						contactId,
						duplicate: duplicate === 1,
						eventId: eventId ?? undefined,
						contactCreated: created === 1,
					};
				},
				packed: true,
			})
			.catch((error: unknown) =>
				inputs.map((): Result<RecordedEvent> => ({ ok: false, error: toStoreError(error) as Error })),
			);
	}

	/** How many times a contact did `name` since `sinceMs` (events are kept for `retentionMs`). */
	async countSince(contactId: string, name: string, sinceMs: number): Promise<number> {
		if (!this.store.format.current) await this.store.format.upgradeContacts([contactId]);
		const key = this.store.keys.contactKey(contactId, 'events');
		const from = Math.max(sinceMs, this.store.now() - this.store.limits.retentionMs);
		return this.store.call((r) => r.zlexcount(key, `[${name}\0${eventTime(from)}`, `(${name}\x01`));
	}

	/**
	 * The contact's own history, newest first: the events its index keeps (each name's last
	 * `perNameMax` within `retentionMs`). The index is ordered by name, so this reads it whole.
	 */
	async history(contactId: string, limit = 50): Promise<HistoryEntry[]> {
		const id = checkContactId(contactId);
		if (!this.store.format.current) await this.store.format.upgradeContacts([id]);
		const [members, properties, core] = await Promise.all([
			this.store.call((r) => r.zrange(this.store.keys.contactKey(id, 'events'), 0, -1)),
			this.store.call((r) => r.hgetall(this.store.keys.contactKey(id, 'eventProperties'))),
			this.store.call((r) => r.hmget(this.store.keys.contact(id), CREATED_EVENT_FIELD, 'createdAt')),
		]);
		return [
			...members.map((member) => historyEntry(member, properties)),
			...createdEntry({ [CREATED_EVENT_FIELD]: core[0], createdAt: core[1] }),
		]
			.sort((a, b) => b.ts - a.ts || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
			.slice(0, limit)
			.map(({ ts, ...entry }) => entry);
	}
}

/** An event's time as the events index writes it (fixed width, so that member order is time order). */
export function eventTime(ms: number): string {
	return String(ms + EVENT_TIME_OFFSET).padStart(EVENT_TIME_DIGITS, '0');
}

/** The contact's $contact_created as a history entry, from its core hash (none before format 2). */
export function createdEntry(core: Record<string, string | null | undefined>): Array<HistoryEntry & { ts: number }> {
	const id = core[CREATED_EVENT_FIELD];
	if (!id || !core.createdAt) return [];
	const ts = Number(core.createdAt);
	return [{ id, name: SYSTEM_EVENTS.contactCreated, time: new Date(ts).toISOString(), source: '', properties: {}, ts }];
}

/**
 * One member of a contact's events index (CONTACT_KEY_SUFFIXES.events) as callers see it, with its
 * properties from the contact's properties hash (log entry id -> JSON).
 */
export function historyEntry(member: string, properties: Record<string, string>): HistoryEntry & { ts: number } {
	const [name, time, logId, source] = member.split('\0');
	const ts = Number(time) - EVENT_TIME_OFFSET;
	const id = logEntryId(ts, logId);
	const json = properties[id];
	return { id, name, time: new Date(ts).toISOString(), source, properties: json ? JSON.parse(json) : {}, ts };
}

/**
 * The log entry id an events index member names: whole ("<ms>-<seq>", format 2), or "+<ms - event
 * time>[-<seq>]" (format 3, when the entry was logged at or after the event time).
 */
export function logEntryId(ts: number, written: string): string {
	const relative = /^\+(\d+)(?:-(\d+))?$/.exec(written);
	return relative ? `${ts + Number(relative[1])}-${relative[2] ?? '0'}` : written;
}

export interface HistoryEntry {
	id: string;
	name: string;
	time: string;
	source: string;
	properties: unknown;
}

export { toTimestamp };
