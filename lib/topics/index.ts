/**
 * Topics: what a workspace mails about (newsletter, product updates, offers...), and each
 * contact's choice per topic. A contact who never chose is subscribed to every topic (opt-out
 * topics): a send on a topic skips only the contacts who unsubscribed from it.
 *
 * Storage:
 * - declared topics: the hash `keys.global('topics', 'declared')`, topic name -> JSON {label, description?};
 * - per contact: core hash field `topic:<name>`, '1' subscribed or '0' unsubscribed (absent: never chose);
 * - per shard: the set `ix:topic:<name>` of the contacts subscribed (erase finds it from the field);
 * - each change logs `$topic_changed {topic, from, to}` ('subscribed' | 'unsubscribed' | null).
 */
import { CONTACT_HASH_PREFIXES } from '../keys';
import { ValidationError } from '../errors';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';
import { chainJson, settleAll, type ChangeContext, type Result } from '../results';
import { checkContactId } from '../values';
import type { Contact } from '../contacts';

export const TOPIC_LIMITS = {
	/** Topics one workspace declares (each is a checkbox of the preference centre). */
	topics: 50,
	nameLength: 64,
	labelLength: 200,
	descriptionLength: 1000,
};

/** Letters, digits, "_", "-", ".": a topic name is part of a hash field and of an index key name. */
const TOPIC_NAME = /^[A-Za-z0-9_.-]+$/;

/** The core hash field holding a contact's choice for a topic. */
export const TOPIC_FIELD_PREFIX = CONTACT_HASH_PREFIXES.topic;

export interface Topic {
	name: string;
	/** What the preference centre shows (default the name). */
	label: string;
	description?: string;
}

export type TopicState = 'subscribed' | 'unsubscribed';

export interface TopicChange {
	contactId: string;
	subscribe?: string[];
	unsubscribe?: string[];
}

export interface TopicChangeResult {
	contactId: string;
	/** The topics whose state changed (a topic set to what it was is not a change). */
	changed: Array<{ topic: string; from: TopicState | null; to: TopicState }>;
}

export function checkTopicName(value: unknown, field = 'topic'): string {
	if (typeof value !== 'string' || value.trim() === '')
		throw new ValidationError(field, 'A topic name is empty', 'Use a name such as "newsletter".');
	const name = value.trim();
	if (name.length > TOPIC_LIMITS.nameLength || !TOPIC_NAME.test(name))
		throw new ValidationError(
			field,
			`"${name.slice(0, 80)}" is not a valid topic name`,
			`Use 1-${TOPIC_LIMITS.nameLength} letters, digits, "_", "-" or ".".`,
		);
	return name;
}

function optionalText(value: unknown, field: string, max: number): string | undefined {
	if (value === undefined || value === null || value === '') return undefined;
	if (typeof value !== 'string') throw new ValidationError(field, `${field} must be text`);
	if (value.length > max)
		throw new ValidationError(field, `${field} is ${value.length} characters; the limit is ${max}`);
	return value;
}

const word = (stored: string): TopicState | null =>
	stored === '1' ? 'subscribed' : stored === '0' ? 'unsubscribed' : null;

/** A contact's choices, from its core hash fields `topic:<name>` (topics it never chose are absent). */
export function topicsOf(contact: Pick<Contact, 'attributes'>): Record<string, TopicState> {
	const topics: Record<string, TopicState> = {};
	for (const [field, value] of Object.entries(contact.attributes ?? {})) {
		const state = field.startsWith(TOPIC_FIELD_PREFIX) ? word(value) : null;
		if (state) topics[field.slice(TOPIC_FIELD_PREFIX.length)] = state;
	}
	return topics;
}

export class Topics {
	constructor(private readonly store: ContactStore) {}

	private get key(): string {
		return this.store.keys.global('topics', 'declared');
	}

	/** Declares topics, or changes their label and description. */
	async declare(inputs: Array<{ name: unknown; label?: unknown; description?: unknown }>): Promise<Topic[]> {
		const topics = inputs.map((input, i) => {
			const name = checkTopicName(input?.name, `topics[${i}].name`);
			const label = optionalText(input.label, `topics[${i}].label`, TOPIC_LIMITS.labelLength) ?? name;
			const description = optionalText(input.description, `topics[${i}].description`, TOPIC_LIMITS.descriptionLength);
			return { name, label, ...(description ? { description } : {}) };
		});
		const known = new Set((await this.list()).map((t) => t.name));
		for (const t of topics) known.add(t.name);
		if (known.size > TOPIC_LIMITS.topics)
			throw new ValidationError(
				'topics',
				`The workspace would have ${known.size} topics; the limit is ${TOPIC_LIMITS.topics}`,
				'Delete topics no longer used first.',
			);
		if (topics.length > 0) {
			const pairs = topics.flatMap((t) => [t.name, JSON.stringify({ label: t.label, description: t.description })]);
			await this.store.call((r) => r.hset(this.key, ...pairs));
		}
		return topics;
	}

	/** The declared topics, by name. */
	async list(): Promise<Topic[]> {
		const raw = await this.store.call((r) => r.hgetall(this.key));
		return Object.entries(raw)
			.map(([name, json]) => {
				const { label, description } = JSON.parse(json) as { label?: string; description?: string };
				return { name, label: label || name, ...(description ? { description } : {}) };
			})
			.sort((a, b) => a.name.localeCompare(b.name));
	}

	/**
	 * Removes declarations. Contacts keep their choices (a topic declared again finds them), but
	 * nothing can be sent on, or chosen for, a topic no longer declared.
	 */
	async remove(names: unknown[]): Promise<{ removed: string[]; unknown: string[] }> {
		const checked = names.map((n, i) => checkTopicName(n, `topics[${i}]`));
		const known = new Set((await this.list()).map((t) => t.name));
		const removed = checked.filter((n) => known.has(n));
		if (removed.length > 0) await this.store.call((r) => r.hdel(this.key, ...removed));
		return { removed, unknown: checked.filter((n) => !known.has(n)) };
	}

	/** Refuses, by name, the topics not declared. */
	async requireDeclared(names: string[], field: string): Promise<void> {
		if (names.length === 0) return;
		const known = new Set((await this.list()).map((t) => t.name));
		const unknown = names.filter((n) => !known.has(n));
		if (unknown.length > 0) throw unknownTopics(unknown, [...known], field);
	}

	/**
	 * Subscribes and unsubscribes contacts per topic: one script per contact, so its hash fields,
	 * the shard indexes and the $topic_changed events are written together or not at all. An item
	 * naming an undeclared topic, or a topic on both lists, fails alone and writes nothing.
	 */
	async set(changes: TopicChange[], context: ChangeContext = {}): Promise<Array<Result<TopicChangeResult>>> {
		const { store } = this;
		const declared = new Set((await this.list()).map((t) => t.name));
		return settleAll(changes, async (change) => {
			const contactId = checkContactId(change?.contactId);
			const subscribe = (change.subscribe ?? []).map((n) => checkTopicName(n, 'subscribe'));
			const unsubscribe = (change.unsubscribe ?? []).map((n) => checkTopicName(n, 'unsubscribe'));
			const both = subscribe.filter((n) => unsubscribe.includes(n));
			if (both.length > 0)
				throw new ValidationError('unsubscribe', `Topic "${both[0]}" is both subscribed and unsubscribed`);
			for (const [field, list] of [
				['subscribe', subscribe],
				['unsubscribe', unsubscribe],
			] as const) {
				const unknown = list.filter((n) => !declared.has(n));
				if (unknown.length > 0) throw unknownTopics(unknown, [...declared], field);
			}
			const args = [...subscribe.flatMap((n) => [n, '1']), ...unsubscribe.flatMap((n) => [n, '0'])];
			const { keys } = store;
			const raw = await store.run<string[]>(scripts.setTopics, keys.contactScriptKeys(contactId), [
				JSON.stringify({
					id: contactId,
					now: store.now(),
					source: context.source ?? 'contact',
					chain: chainJson(context.chain),
					limits: store.limits,
				}),
				...args,
			]);
			const changed: TopicChangeResult['changed'] = [];
			for (let i = 0; i < raw.length; i += 3)
				changed.push({ topic: raw[i], from: word(raw[i + 1]), to: word(raw[i + 2]) as TopicState });
			return { contactId, changed };
		});
	}
}

function unknownTopics(unknown: string[], declared: string[], field: string): ValidationError {
	return new ValidationError(
		field,
		`Unknown topic${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}`,
		declared.length > 0
			? `Declared topics: ${declared.sort().join(', ')}. Declare a topic first (Contact node, Topic > Declare).`
			: 'No topic is declared yet: declare one first (Contact node, Topic > Declare).',
	);
}
