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

/** The shard of a contact (or e-mail address, or name): its hashOf modulo SHARD_COUNT. */
export function shardOf(value: string): number {
	return hashOf(value) % SHARD_COUNT;
}

/** FNV-1a (32 bits) over the UTF-8 bytes: stable across processes and languages. */
export function hashOf(value: string): number {
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
	if (ascii) return hash;
	hash = 0x811c9dc5;
	for (const byte of Buffer.from(value, 'utf8')) {
		hash ^= byte;
		hash = Math.imul(hash, 0x01000193) >>> 0;
	}
	return hash;
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
 * The store's data format. Stored in the store's meta hash (`Keys.meta()`, field `format`); a node
 * meeting a newer format refuses to run, an older one is upgraded in place (lib/migrate).
 * Format 2: a contact's fields, tags and event counters live in its core hash, its events in one
 * lex-ordered index; no per-contact registries (erase and export derive every key and index).
 * Format 3: the events index names a log entry relative to the event's time (shorter members), and
 * long idempotency keys are kept as 11-character digests; it reads format 2's data as it is, so a
 * format-2 store becomes format 3 without a change to its data, while a release that knows only
 * format 2 (and would misread the new members and keys) stops.
 * Format 4: Lead Score's running sums (`~cache` of a contact's values hash per model) are written
 * as MessagePack (read in C, with no pattern or number parsing per contact); format 3's text is
 * read as it is and rewritten packed when the contact is scored again, while a format-3 release
 * (which would misread the packed sums) stops.
 */
export const STORE_FORMAT = 4;
/** The oldest format this release reads as it is (no upgrade of the data). */
export const STORE_FORMAT_READ_AS_IS = 2;

/**
 * A contact's keys besides its core hash (its base, `keys.contact(id)`): `<base>:<suffix>`, and
 * `<base>:<suffix>:<name>` for the kinds kept per score model or Loop Guard scope. Only the events
 * index exists for every contact; the others appear when a module writes to them.
 * The one table of these suffixes: Lua scripts get it as `SUFFIX` (`base .. SUFFIX.events`), from
 * the helper "contact_keys" that scripts/build-lua.js writes from this table.
 */
export const CONTACT_KEY_SUFFIXES = {
	/**
	 * zset, every score 0, ordered by member: `<event name> NUL <time (EVENT_TIME_DIGITS digits,
	 * epoch ms + EVENT_TIME_OFFSET)> NUL <event-log entry id> NUL <source>`, the entry id written
	 * `+<its ms - the time>[-<seq> unless 0]` when not negative (format 3; format 2 wrote it whole:
	 * both are read, lib/events logEntryId). "X at least K times since T" is one ZLEXCOUNT; erase finds
	 * the contact's log entries here. Members stay under Redis's 64-byte listpack limit for usual
	 * names, so the set stays compact: properties live apart.
	 */
	events: 'e',
	/** hash: event-log entry id -> properties JSON, for the events of the index that have any */
	eventProperties: 'p',
	/**
	 * zset: idempotency key -> when it was used; a key of more than 10 bytes as "#" and 60 bits of its
	 * SHA-1 in 10 base-64 characters (format 3, lib/redis/lua/events.lua idempotency_member)
	 */
	idempotency: 'i',
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
	/**
	 * zset: "<dead-letter stream name> <entry id>" of the contact's dead-lettered events, and
	 * "<DEAD_LETTER_REPLAYS> <log entry id>" of the log entries their replays wrote (erase deletes both)
	 */
	deadLetters: 'dl',
	/**
	 * zset: id of each browser visitor merged into the contact (lib/visitors) -> when; erase unlinks
	 * them (Keys.visitor), so a visitor of an erased contact starts over as anonymous
	 */
	visitors: 'vis',
	/**
	 * string, for REPLAY_ANSWER_MS after an erase: the address the erase removed from the contact, so
	 * that its resend (a lost reply) answers it too (erase_contact.lua); its caller deletes it once
	 * it has released the address (lib/contacts erase)
	 */
	erasedEmail: 'er',
} as const;

/** The per-contact kinds kept once per score model or Loop Guard scope (`<suffix>:<name>`). */
export const NAMED_CONTACT_KEYS: ReadonlySet<ContactKeyKind> = new Set(['scoreAwards', 'scoreValues', 'loopGuard']);

/**
 * Field-name prefixes of the core hash for what a contact holds many of: `f:<field>` -> typed
 * value (lib/values.ts), `t:<tag>` -> "" and `n:<event name>` -> "<count>|<first>|<last>" (epoch
 * ms), `topic:<topic>` -> "1" subscribed or "0" unsubscribed (lib/topics), and per score model
 * `score:<model>`, `grade:<model>`, `scoredAt:<model>` (lib/scoring). Core attributes (CORE_FIELDS)
 * and the other fields modules keep (`tier`...) never start with one of them. Lua gets them as
 * `HP.field`, `HP.tag`...
 */
export const CONTACT_HASH_PREFIXES = {
	field: 'f:',
	tag: 't:',
	counter: 'n:',
	topic: 'topic:',
	score: 'score:',
	grade: 'grade:',
	scoredAt: 'scoredAt:',
	/** `x:<test>` -> "<variant>|<assignedAt>[|<convertedAt>]": the contact's A/B test variant (lib/experiments) */
	experiment: 'x:',
	/** `g:<goal event>` -> lines "<test> TAB <variant> TAB <from> TAB <until>": tests waiting for that goal */
	goal: 'g:',
} as const;

/**
 * Core hash field holding the log entry id of the contact's $contact_created, which is kept nowhere
 * else on the contact (createdAt says when, the contact's state what).
 */
export const CREATED_EVENT_FIELD = 'createdEvent';

/** Events index members: time as fixed-width digits of epoch ms + offset, so that member order is time order back to 1653. */
export const EVENT_TIME_OFFSET = 10_000_000_000_000;
export const EVENT_TIME_DIGITS = 14;

/** The name part of the dead-letter entries (":" never occurs in an encoded stream name). */
export const DEAD_LETTER_REPLAYS = ':log';

/**
 * A shard's own keys besides its indexes: `<shard prefix>:<part>`. `schedules` and `loopScopes`
 * list the trigger schedules and Loop Guard scopes the shard has, so erase finds a contact's entries
 * in them without a registry per contact. Lua gets them as `SHARD_KEY.<kind>`.
 */
export const SHARD_KEY_PARTS = {
	/**
	 * prefix of the contacts' base keys: `c:<encoded contact id>` (Keys.contact). A batch script
	 * (runBatch) gets each item's encoded id and builds the base key itself (lib/redis/lua/batch.lua).
	 */
	contact: 'c',
	/** stream: the shard's event log */
	log: 'log',
	/**
	 * hash: how far the log's trimming may go (lib/redis/lua/events.lua trim_log): `n` entries
	 * appended so far, and `0`...`9` the ids of every (logKeep / 10)-th entry appended, a ring whose
	 * oldest id was appended about logKeep entries ago.
	 */
	logMarks: 'logm',
	/** prefix of the index keys: `ix:<name>` */
	index: 'ix',
	/** prefix of the dead-letter streams: `dead:<trigger>` */
	deadLetters: 'dead',
	/** set: the trigger schedule keys ("due" zsets) of the shard */
	schedules: 'schedules',
	/** set: the Loop Guard scopes with per-contact entries in the shard */
	loopScopes: 'lgscopes',
	/** prefix of the A/B test counters: `x:<test>` hash "assigned:<variant>", "converted:<variant>" (lib/experiments) */
	experiments: 'x',
	/**
	 * prefix of the analytics day hashes: `an:<UTC day number>` -> aggregate counters per journey and
	 * campaign (lib/analytics); they name no contact, and expire after ANALYTICS_RETENTION_DAYS.
	 */
	analytics: 'an',
	/**
	 * prefix of the replay guards' answers: `rg:<token>` string, a write script call's answer
	 * (MessagePack), expiring REPLAY_ANSWER_MS after the call ran (lib/redis/lua/replay_guard.lua).
	 * A call resent after a lost reply finds it and answers it again instead of writing twice.
	 */
	replayGuards: 'rg',
	/**
	 * zset: the shard's replay guards, token -> when the guard expires (server time, ms,
	 * REPLAY_GUARD_MS after the call ran). A member is the mark that the call ran: a resend whose
	 * answer is gone still finds it and writes nothing. Erase withholds the answers of the members
	 * recent enough to have one (an answer may hold the erased contact's data).
	 */
	replayGuardList: 'rgl',
	/**
	 * never written: the second key a script over the shard declares besides the shard prefix, when it
	 * has no other (Keys.shardScriptKeys). Both are missing on every node, so while a Redis Cluster
	 * moves the shard's hash slot Redis answers the call TRYAGAIN until the move ends, instead of
	 * running it on a node that holds only part of the shard (scripts/build-lua.js checkShardKeys).
	 */
	pin: 'pin',
} as const;

/** What comes between a shard's prefix and a contact's encoded id in its base key. */
const CONTACT_BASE_PART = `:${SHARD_KEY_PARTS.contact}:`;

/**
 * How long a write script call's replay guard remembers that it ran (its member of
 * SHARD_KEY_PARTS.replayGuardList). A call is resent only when the client reconnects (ioredis sends
 * the commands a dropped connection left unanswered again, even after their caller stopped
 * waiting): the guard must outlast the outage, a restart of Redis with its append-only file loaded,
 * or a cluster failover (cluster-node-timeout, 15 s by default), with room to spare. It costs a
 * call about 122 bytes (a member of a sorted set over 128 members: docs/architecture.md#replay-guards),
 * whatever the call wrote.
 */
export const REPLAY_GUARD_MS = 600_000;

/**
 * How long a guarded call's answer is kept for a resend (SHARD_KEY_PARTS.replayGuards): only a
 * caller still waiting reads it, and none waits longer than the client's command timeout, which
 * createClient keeps at most half of this (lib/redis/connection.ts MAX_STORE_WAIT_MS). The answer
 * is about 21 bytes per event of an events.record chunk; after it expires a resend writes nothing
 * and answers REPLAYED.
 */
export const REPLAY_ANSWER_MS = 60_000;

/**
 * A shard's indexes (`keys.index(shard, name)`), whose members are contact ids. The kinds kept per
 * value end with ":" and take the value after it (`SHARD_INDEXES.tag + tag`, `grade` takes
 * `<model>:<grade>`). Lua gets them as `IX` (`shard .. SHARD_KEY.index .. IX.tag .. tag`).
 */
export const SHARD_INDEXES = {
	/** zset: every contact, by creation time */
	all: 'all',
	/** zset: contacts by last activity */
	active: 'act',
	/** hash: e-mail address -> contact id (kept in the shard of the address) */
	email: 'email',
	/** set per tag */
	tag: 'tag:',
	/** set per lifecycle stage */
	stage: 'stage:',
	/** set per subscription status */
	status: 'status:',
	/** set per topic: the contacts subscribed to it */
	topic: 'topic:',
	/** set per score model and grade: `<model>:<grade>` */
	grade: 'grade:',
	/** zset per score model: contacts by their score's upper bound (decay only lowers it) */
	score: 'score:',
	/** zset per score model: contacts by their score's lower bound */
	scoreFloor: 'scoremin:',
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
	/** Built once per shard: a batch names a shard's contacts thousands of times. */
	private readonly shardPrefixes: string[] = [];

	constructor(readonly prefix: string) {
		validatePrefix(prefix);
	}

	/** The key-name prefix of a shard; every key of the shard starts with it. */
	shard(shard: number): string {
		return (this.shardPrefixes[shard] ??= `${this.prefix}{s${shard}}`);
	}

	shardOfContact(contactId: string): number {
		return shardOf(contactId);
	}

	/** The store's meta hash (format version, migration progress): one key per workspace, not in a shard. */
	meta(): string {
		return `${this.prefix}meta`;
	}

	/** The base key of a contact: its core hash; all its other keys are `${base}:<suffix>`. `shard`: its shardOf, when known. */
	contact(contactId: string, shard = shardOf(contactId)): string {
		return `${this.shard(shard)}${CONTACT_BASE_PART}${encodeKeyPart(contactId)}`;
	}

	/** The contact id of a contact base key (as `contact(id)` builds it), or undefined for any other key. */
	contactIdOf(key: string): string | undefined {
		const at = key.indexOf(`}${CONTACT_BASE_PART}`);
		if (!key.startsWith(`${this.prefix}{s`) || at < 0) return undefined;
		const encoded = key.slice(at + 1 + CONTACT_BASE_PART.length);
		return encoded.includes(':') ? undefined : decodeURIComponent(encoded);
	}

	/** One of a contact's other keys (CONTACT_KEY_SUFFIXES); `name` for the kinds kept per name. */
	contactKey(contactId: string, kind: ContactKeyKind, name?: string): string {
		const key = `${this.contact(contactId)}:${CONTACT_KEY_SUFFIXES[kind]}`;
		return name === undefined ? key : `${key}:${name}`;
	}

	/** The e-mail -> id index lives in the shard of the e-mail address. */
	emailIndex(email: string): string {
		return this.index(shardOf(email), SHARD_INDEXES.email);
	}

	log(shard: number): string {
		return `${this.shard(shard)}:${SHARD_KEY_PARTS.log}`;
	}

	/** One of a shard's registries (SHARD_KEY_PARTS schedules, loopScopes). */
	shardKey(shard: number, kind: 'schedules' | 'loopScopes'): string {
		return `${this.shard(shard)}:${SHARD_KEY_PARTS[kind]}`;
	}

	/** An A/B test's counters in one shard (test ids are key-safe: lib/experiments checkTestId). */
	experimentCounts(shard: number, test: string): string {
		return `${this.shard(shard)}:${SHARD_KEY_PARTS.experiments}:${test}`;
	}

	/**
	 * An A/B test's winner decision (lib/experiments): one hash per test, so that workers deciding at
	 * once agree (HSETNX); it names no contact.
	 */
	experimentDecision(test: string): string {
		return this.global('xd', test);
	}

	/** The keys of a script over one contact: its base and its shard's prefix (KEYS[1], KEYS[2]). */
	contactScriptKeys(contactId: string): [string, string] {
		return [this.contact(contactId), this.shard(shardOf(contactId))];
	}

	/** The keys of a script over the shard that names no key of its own: the prefix and the pin. */
	shardScriptKeys(shard: number): [string, string] {
		return [this.shard(shard), `${this.shard(shard)}:${SHARD_KEY_PARTS.pin}`];
	}

	/** The replay guard of one write script call in a shard (`token`: replayToken()). */
	replayGuard(shard: number, token: string): string {
		return `${this.shard(shard)}:${SHARD_KEY_PARTS.replayGuards}:${token}`;
	}

	/** Whether the key is a replay guard (replayGuard) of this workspace. */
	isReplayGuard(key: string): boolean {
		return key.startsWith(this.prefix) && key.includes(`:${SHARD_KEY_PARTS.replayGuards}:`);
	}

	/**
	 * A campaign's totals in one shard (lib/campaigns): the sends and first outcomes of the shard's
	 * contacts, counted by the script that records them, so no kill between the contact's record and
	 * its count loses one. A report adds up every shard's. In the campaign's own shard this is the
	 * key `global('campaign', id)`, where earlier releases kept every count.
	 */
	campaignTotals(shard: number, campaignId: string): string {
		return `${this.shard(shard)}:campaign:${encodeKeyPart(campaignId)}`;
	}

	/** The shard's analytics counters of one UTC day (days since the epoch): lib/analytics. */
	analyticsDay(shard: number, day: number): string {
		return `${this.shard(shard)}:${SHARD_KEY_PARTS.analytics}:${day}`;
	}

	/** The name part of a trigger's dead-letter streams (its consumer group, encoded). */
	deadLetterName(trigger: string): string {
		return encodeKeyPart(trigger);
	}

	/** A trigger's dead-letter stream in one shard: next to the log, so one script moves an entry. */
	deadLetters(shard: number, trigger: string): string {
		return `${this.shard(shard)}:${SHARD_KEY_PARTS.deadLetters}:${this.deadLetterName(trigger)}`;
	}

	/** Per-shard index keys (sets or sorted sets whose members are contact ids). */
	index(shard: number, name: string): string {
		return `${this.shard(shard)}:${SHARD_KEY_PARTS.index}:${name}`;
	}

	/** Keys that are not per contact (campaigns, loop records with custom keys...), spread by name. */
	global(kind: string, name: string): string {
		return `${this.shard(this.shardOfGlobal(kind, name))}:${kind}:${encodeKeyPart(name)}`;
	}

	/**
	 * An anonymous browser visitor (lib/visitors), in the shard of its id: a hash (the contact it is
	 * tied to, when seen) and `<key>:h`, the list of its events kept until it is identified.
	 */
	visitor(visitorId: string): string {
		return this.global('v', visitorId);
	}

	shardOfGlobal(kind: string, name: string): number {
		return shardOf(`${kind}:${name}`);
	}
}
