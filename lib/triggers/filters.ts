import { ValidationError } from '../errors';
import { SYSTEM_EVENTS } from '../events';
import type { ChainLink } from '../results';
import { checkName, LIMITS } from '../values';

/** One entry of the event log, as the trigger hands it on. */
export interface LogEvent {
	/** The stream entry id (unique per shard). */
	id: string;
	shard: number;
	contactId: string;
	name: string;
	time: number;
	properties: Record<string, unknown>;
	source: string;
	chain: ChainLink[];
	/** Which delivery of the entry this is (1 the first; the trigger retries failed executions). */
	attempt: number;
	/** A replayed dead letter: the id of the log entry it was first delivered as (its event id). */
	replayOf?: string;
	/** A replayed dead letter is for one trigger (consumer group) only; every other one skips it. */
	onlyFor?: string;
}

/** The operators of a Contact Trigger's event property conditions, with the names users see. */
export const CONDITION_OPERATORS = {
	contains: 'Contains',
	equals: 'Equals',
	exists: 'Exists',
	greaterThan: 'Greater Than',
	lessThan: 'Less Than',
	notEquals: 'Not Equals',
	notExists: 'Not Exists',
} as const;

export type ConditionOperator = keyof typeof CONDITION_OPERATORS;

export interface PropertyCondition {
	/** Dotted path into the event properties ("cart.total"). */
	path: string;
	operator: ConditionOperator;
	value?: unknown;
}

/** What a log-driven Contact Trigger reacts to. Empty lists mean "any". */
export type LogFilter =
	| { kind: 'event'; names: string[]; conditions?: PropertyCondition[] }
	| { kind: 'tagAdded' | 'tagRemoved'; tags?: string[] }
	| { kind: 'fieldChanged'; field: string; from?: unknown; to?: unknown }
	| { kind: 'subscriptionChanged'; to?: string[] }
	| { kind: 'gradeChanged'; to?: string[] }
	| { kind: 'tierChanged'; to?: string[] }
	| { kind: 'topicChanged'; topics?: string[]; to?: string[] };

const OPERATORS = Object.keys(CONDITION_OPERATORS) as ConditionOperator[];

function lookup(obj: unknown, path: string): unknown {
	let value = obj;
	for (const part of path.split('.')) {
		if (value === null || typeof value !== 'object') return undefined;
		value = (value as Record<string, unknown>)[part];
	}
	return value;
}

/** Loose equality as users type values in a form: 42 matches "42", true matches "true". */
/** The tags a $contact_created event says the contact was created with. */
function createdTags(e: LogEvent): unknown[] {
	const list = e.properties.tags;
	return Array.isArray(list) ? list : [];
}

/** A field's (or core attribute's) value in a $contact_created event; undefined when not set. */
function initialValue(e: LogEvent, field: string): unknown {
	if (field === 'email' || field === 'timezone' || field === 'lifecycleStage') return e.properties[field];
	const fields = e.properties.fields as Record<string, unknown> | undefined;
	return fields && Object.prototype.hasOwnProperty.call(fields, field) ? fields[field] : undefined;
}

function same(actual: unknown, expected: unknown): boolean {
	if (actual === undefined) return false;
	if (actual === null || expected === null) return actual === expected || (actual === null && expected === '');
	return typeof actual === 'object'
		? JSON.stringify(actual) === JSON.stringify(expected)
		: String(actual) === String(expected);
}

function testCondition(props: unknown, c: PropertyCondition): boolean {
	const actual = lookup(props, c.path);
	switch (c.operator) {
		case 'exists':
			return actual !== undefined && actual !== null;
		case 'notExists':
			return actual === undefined || actual === null;
		case 'equals':
			return same(actual, c.value);
		case 'notEquals':
			return !same(actual, c.value);
		case 'contains':
			if (Array.isArray(actual)) return actual.some((a) => same(a, c.value));
			return typeof actual === 'string' && actual.toLowerCase().includes(String(c.value).toLowerCase());
		case 'greaterThan':
		case 'lessThan': {
			const a = Number(actual);
			const b = Number(c.value);
			if (actual === null || actual === undefined || actual === '' || Number.isNaN(a) || Number.isNaN(b)) return false;
			return c.operator === 'greaterThan' ? a > b : a < b;
		}
	}
}

function names(field: string, list: unknown, what: string, maxLength = 200): string[] {
	if (list === undefined || list === null || list === '') return [];
	const raw =
		typeof list === 'string'
			? list
					.split(',')
					.map((s) => s.trim())
					.filter(Boolean)
			: list;
	if (!Array.isArray(raw)) throw new ValidationError(field, `${what} must be a list or comma-separated text`);
	return raw.map((n) => checkName(field, typeof n === 'number' ? String(n) : n, maxLength, what));
}

function nameMatcher(patterns: string[]): (name: string) => boolean {
	const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
	const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
	return (name) => exact.has(name) || prefixes.some((p) => name.startsWith(p));
}

/** Validates a filter and returns its predicate; throws ValidationError naming the field. */
export function compileFilter(filter: LogFilter): (event: LogEvent) => boolean {
	switch (filter?.kind) {
		case 'event': {
			const list = names('eventNames', filter.names, 'Event name', LIMITS.eventNameLength);
			if (list.length === 0)
				throw new ValidationError(
					'eventNames',
					'Name at least one event',
					'Several names separated by commas; "checkout_*" matches every name starting with "checkout_".',
				);
			const matches = nameMatcher(list);
			const conditions = (filter.conditions ?? []).map((c, i) => {
				if (!c || typeof c.path !== 'string' || c.path.trim() === '')
					throw new ValidationError(`conditions[${i}].path`, 'A property condition needs a property path');
				if (!OPERATORS.includes(c.operator))
					throw new ValidationError(
						`conditions[${i}].operator`,
						`"${c.operator}" is not an operator`,
						`Use one of ${OPERATORS.join(', ')}.`,
					);
				if ((c.operator === 'greaterThan' || c.operator === 'lessThan') && Number.isNaN(Number(c.value))) {
					throw new ValidationError(
						`conditions[${i}].value`,
						`"${String(c.value)}" is not a number for "${c.operator}"`,
					);
				}
				return { ...c, path: c.path.trim() };
			});
			return (e) => matches(e.name) && conditions.every((c) => testCondition(e.properties, c));
		}
		case 'tagAdded':
		case 'tagRemoved': {
			const eventName = filter.kind === 'tagAdded' ? SYSTEM_EVENTS.tagAdded : SYSTEM_EVENTS.tagRemoved;
			const tags = new Set(names('tags', filter.tags, 'Tag', LIMITS.tagLength));
			// A tier tag is switched by its tier: the one $tier_changed event stands for the tag events.
			const tierSide = filter.kind === 'tagAdded' ? 'to' : 'from';
			const tag = (e: LogEvent): unknown =>
				e.name === eventName ? e.properties.tag : e.name === SYSTEM_EVENTS.tierChanged ? e.properties[tierSide] : null;
			const wanted = (value: unknown) =>
				value !== null && value !== undefined && (tags.size === 0 || tags.has(String(value)));
			// A new contact's tags come in its one $contact_created event.
			if (filter.kind === 'tagAdded')
				return (e) => (e.name === SYSTEM_EVENTS.contactCreated ? createdTags(e).some(wanted) : wanted(tag(e)));
			return (e) => wanted(tag(e));
		}
		case 'fieldChanged': {
			const field = checkName('field', filter.field, LIMITS.fieldNameLength, 'Field name');
			const { from, to } = filter;
			const changed = (old: unknown, value: unknown) =>
				(from === undefined || same(old, from)) && (to === undefined || same(value, to));
			return (e) => {
				if (e.name === SYSTEM_EVENTS.fieldChanged)
					return e.properties.field === field && changed(e.properties.from, e.properties.to);
				if (e.name !== SYSTEM_EVENTS.contactCreated) return false;
				// A new contact's values come in its one $contact_created event: each changed from null.
				const created = initialValue(e, field);
				return created !== undefined && changed(null, created);
			};
		}
		case 'topicChanged': {
			const topics = new Set(names('topics', filter.topics, 'Topic'));
			const to = new Set(names('to', filter.to, 'State'));
			for (const state of to)
				if (state !== 'subscribed' && state !== 'unsubscribed')
					throw new ValidationError('to', `"${state}" is not a topic state`, 'Use subscribed or unsubscribed.');
			return (e) =>
				e.name === SYSTEM_EVENTS.topicChanged &&
				(topics.size === 0 || topics.has(String(e.properties.topic))) &&
				(to.size === 0 || to.has(String(e.properties.to)));
		}
		case 'subscriptionChanged':
		case 'gradeChanged':
		case 'tierChanged': {
			const eventName = SYSTEM_EVENTS[filter.kind];
			const to = new Set(names('to', filter.to, 'Value'));
			return (e) => e.name === eventName && (to.size === 0 || to.has(String(e.properties.to)));
		}
	}
	throw new ValidationError('mode', `"${(filter as { kind?: string })?.kind}" is not a trigger mode`);
}

/** Parses a stream entry ([id, [field, value, ...]]) of shard `shard`. */
export function parseLogEntry(shard: number, id: string, fields: string[]): LogEvent {
	const f: Record<string, string> = {};
	for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
	const parse = <T>(text: string | undefined, fallback: T): T => {
		try {
			const value = text ? JSON.parse(text) : fallback;
			return value === null || typeof value !== 'object' ? fallback : (value as T);
		} catch {
			return fallback;
		}
	};
	const props = parse<Record<string, unknown>>(f.p, {});
	return {
		id,
		shard,
		contactId: f.c,
		name: f.n,
		time: Number(f.t),
		// cjson writes an empty Lua table as [].
		properties: Array.isArray(props) ? {} : props,
		source: f.s ?? '',
		chain: parse<ChainLink[]>(f.ch, []).filter((l) => l && typeof l === 'object'),
		attempt: 1,
		...(f.ro ? { replayOf: f.ro } : {}),
		...(f.rg ? { onlyFor: f.rg } : {}),
	};
}
