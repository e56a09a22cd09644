import { ValidationError } from './errors';

/**
 * Every contact lives in one of SHARD_COUNT shards. A shard's keys share one Redis Cluster hash
 * tag, so a Lua script can change a contact, its indexes and the shard's event log atomically.
 * Whole-base queries visit every shard: SHARD_COUNT commands, whatever the size of the base.
 * Changing this number re-homes every contact, so it is fixed.
 */
export const SHARD_COUNT = 16;

const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

export function validatePrefix(prefix: string): string {
	if (!PREFIX_PATTERN.test(prefix)) {
		throw new ValidationError(
			'keyPrefix',
			`Key prefix "${prefix}" is not valid`,
			'Use 1-64 letters, digits, "_", ".", ":" or "-" (braces are reserved for Redis Cluster hash tags).',
		);
	}
	return prefix;
}

/** FNV-1a over the UTF-8 bytes: stable across processes and languages. */
export function shardOf(value: string): number {
	let hash = 0x811c9dc5;
	// ASCII fast path (char codes are the UTF-8 bytes); same result, no Buffer per call.
	let ascii = true;
	for (let i = 0; i < value.length; i++) {
		const code = value.charCodeAt(i);
		if (code > 0x7f) {
			ascii = false;
			break;
		}
		hash ^= code;
		hash = Math.imul(hash, 0x01000193) >>> 0;
	}
	if (ascii) return hash % SHARD_COUNT;
	hash = 0x811c9dc5;
	for (const byte of Buffer.from(value, 'utf8')) {
		hash ^= byte;
		hash = Math.imul(hash, 0x01000193) >>> 0;
	}
	return hash % SHARD_COUNT;
}

/**
 * Ids may contain anything printable (":", "{", "}", "*", spaces, non-ASCII); inside key names
 * they are percent-encoded so that they can neither break a hash tag nor collide with a suffix.
 */
const KEY_SAFE = /^[A-Za-z0-9._@+-]*$/;

export function encodeKeyPart(value: string): string {
	// Fast path: nothing to encode (the common case for ids).
	if (KEY_SAFE.test(value)) return value;
	return Array.from(Buffer.from(value, 'utf8'))
		.map((byte) => {
			const ch = String.fromCharCode(byte);
			return /[A-Za-z0-9._@+-]/.test(ch) ? ch : '%' + byte.toString(16).toUpperCase().padStart(2, '0');
		})
		.join('');
}

/**
 * A contact's keys besides its core hash (its base, `keys.contact(id)`): `<base>:<suffix>`, and
 * `<base>:<suffix>:<name>` for the kinds kept per event name, score model or Loop Guard scope.
 * The one table of these suffixes: Lua scripts get it as `SUFFIX` (`base .. SUFFIX.tags`), from
 * the helper "contact_keys" that scripts/build-lua.js writes from this table.
 */
export const CONTACT_KEY_SUFFIXES = {
	/** set: every other key the contact has (erase and export read it) */
	keys: 'k',
	/** set: the shard indexes that hold the contact (erase reads it) */
	indexes: 'x',
	/** hash: custom field -> typed value (lib/values.ts) */
	fields: 'f',
	/** set: tags */
	tags: 't',
	/** hash: count:, first: and last:<event name> */
	counters: 'n',
	/** zset: recent events (JSON) by time */
	history: 'h',
	/** zset: the contact's event-log entry ids (erase deletes them) */
	logEntries: 'l',
	/** zset: idempotency key -> when it was used */
	idempotency: 'i',
	/** zset per event name: event times */
	eventTimes: 'e',
	/** zset per score model: award key -> award time */
	scoreAwards: 'sp',
	/** hash per score model: award key -> value, and the running sums */
	scoreValues: 'sv',
	/** hash: campaign id -> send record (JSON) */
	campaigns: 'cmp',
	/** hash: campaign id -> reservation not yet confirmed (JSON) */
	reservations: 'cmpr',
	/** zset: reservation token -> time of a marketing send (frequency cap) */
	sends: 'snd',
	/** zset per Loop Guard scope: entries by time */
	loopGuard: 'lg',
	/** hash: trigger id -> the occurrence that fired (fire-once marker) */
	triggerMarks: 'tf',
	/** zset: Message-ID lookup keys of the mails sent to the contact -> when they expire (erase deletes them) */
	messages: 'm',
	/** zset: "<dead-letter stream name> <entry id>" of the contact's dead-lettered events (erase deletes them) */
	deadLetters: 'dl',
} as const;

/**
 * Core attributes of a contact (fields of its core hash) that a field rule or segment condition may
 * name besides custom fields. The time ones hold epoch milliseconds; Lua scripts get them as the
 * set `CORE_TIME_FIELDS` from the helper "contact_keys".
 */
export const CORE_FIELDS = [
	'id',
	'email',
	'timezone',
	'lifecycleStage',
	'status',
	'consentSource',
	'consentAt',
	'createdAt',
	'updatedAt',
	'lastActivityAt',
	'lastEventAt',
] as const;
export const CORE_TIME_FIELDS: ReadonlySet<string> = new Set([
	'consentAt',
	'createdAt',
	'updatedAt',
	'lastActivityAt',
	'lastEventAt',
]);

export type ContactKeyKind = keyof typeof CONTACT_KEY_SUFFIXES;

export class Keys {
	constructor(readonly prefix: string) {
		validatePrefix(prefix);
	}

	/** The key-name prefix of a shard; every key of the shard starts with it. */
	shard(shard: number): string {
		return `${this.prefix}{s${shard}}`;
	}

	shardOfContact(contactId: string): number {
		return shardOf(contactId);
	}

	/** The base key of a contact: its core hash; all its other keys are `${base}:<suffix>`. */
	contact(contactId: string): string {
		return `${this.shard(shardOf(contactId))}:c:${encodeKeyPart(contactId)}`;
	}

	/** One of a contact's other keys (CONTACT_KEY_SUFFIXES); `name` for the kinds kept per name. */
	contactKey(contactId: string, kind: ContactKeyKind, name?: string): string {
		const key = `${this.contact(contactId)}:${CONTACT_KEY_SUFFIXES[kind]}`;
		return name === undefined ? key : `${key}:${name}`;
	}

	/** The e-mail -> id index lives in the shard of the e-mail address. */
	emailIndex(email: string): string {
		return `${this.shard(shardOf(email))}:ix:email`;
	}

	log(shard: number): string {
		return `${this.shard(shard)}:log`;
	}

	/** The name part of a trigger's dead-letter streams (its consumer group, encoded). */
	deadLetterName(trigger: string): string {
		return encodeKeyPart(trigger);
	}

	/** A trigger's dead-letter stream in one shard: next to the log, so one script moves an entry. */
	deadLetters(shard: number, trigger: string): string {
		return `${this.shard(shard)}:dead:${this.deadLetterName(trigger)}`;
	}

	/** Per-shard index keys (sets or sorted sets whose members are contact ids). */
	index(shard: number, name: string): string {
		return `${this.shard(shard)}:ix:${name}`;
	}

	/** Keys that are not per contact (campaigns, loop records with custom keys...), spread by name. */
	global(kind: string, name: string): string {
		return `${this.shard(this.shardOfGlobal(kind, name))}:${kind}:${encodeKeyPart(name)}`;
	}

	shardOfGlobal(kind: string, name: string): number {
		return shardOf(`${kind}:${name}`);
	}
}
