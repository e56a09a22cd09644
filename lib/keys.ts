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

	/** The e-mail -> id index lives in the shard of the e-mail address. */
	emailIndex(email: string): string {
		return `${this.shard(shardOf(email))}:ix:email`;
	}

	log(shard: number): string {
		return `${this.shard(shard)}:log`;
	}

	/** Per-shard index keys (sets or sorted sets whose members are contact ids). */
	index(shard: number, name: string): string {
		return `${this.shard(shard)}:ix:${name}`;
	}

	/** Keys that are not per contact (campaigns, loop records with custom keys...), spread by name. */
	global(kind: string, name: string): string {
		return `${this.shard(shardOf(`${kind}:${name}`))}:${kind}:${encodeKeyPart(name)}`;
	}
}
