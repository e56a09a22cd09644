import { DateTime, IANAZone } from 'luxon';
import { ValidationError } from './errors';
import { LIMITS } from './limits';

export { LIMITS };

export type FieldValue = string | number | boolean | Date;
export type FieldType = 'string' | 'number' | 'boolean' | 'date';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Printable ASCII with a character other than a space. */
const PLAIN_NAME = /^ *[\x21-\x7e][\x20-\x7e]*$/;

function describe(value: unknown): string {
	if (value === null) return 'null';
	if (Array.isArray(value)) return 'an array';
	return typeof value === 'string' ? `"${value.length > 40 ? value.slice(0, 40) + '...' : value}"` : typeof value;
}

/** Validates a name-like string (id, tag, event name, field name). */
export function checkName(field: string, value: unknown, maxLength: number, what: string): string {
	if (typeof value !== 'string') {
		throw new ValidationError(field, `${what} must be a string, got ${describe(value)}`);
	}
	// Most names: every check below passes, and NFC leaves the text as it is (a batch checks thousands).
	if (value.length <= maxLength && PLAIN_NAME.test(value)) return value;
	if (value.trim() === '') throw new ValidationError(field, `${what} is empty`);
	if (value.length > maxLength) {
		throw new ValidationError(field, `${what} is ${value.length} characters long; the limit is ${maxLength}`);
	}
	if (CONTROL.test(value)) {
		throw new ValidationError(field, `${what} contains control characters (line breaks, tabs or NUL)`);
	}
	return value.normalize('NFC');
}

export function checkContactId(value: unknown, field = 'contactId'): string {
	return checkName(field, typeof value === 'number' ? String(value) : value, LIMITS.idLength, 'Contact ID');
}

const EMAIL = /^[^\s@"<>(),;:\\[\]]+@[^\s@"<>(),;:\\[\]]+\.[^\s@"<>(),;:\\[\]]+$/;

/** Trims and lower-cases an e-mail address; throws when it is not one. */
export function normalizeEmail(value: unknown, field = 'email'): string {
	if (typeof value !== 'string') {
		throw new ValidationError(field, `E-mail must be a string, got ${describe(value)}`);
	}
	const email = value.trim().toLowerCase();
	if (email.length > LIMITS.emailLength || !EMAIL.test(email) || CONTROL.test(email)) {
		throw new ValidationError(
			field,
			`"${value.slice(0, 80)}" is not a valid e-mail address`,
			'Expected name@domain.tld',
		);
	}
	return email;
}

/** Time zones found valid (luxon builds an Intl.DateTimeFormat per check: most of a bulk upsert's time). */
const validZones = new Map<string, string>();
const VALID_ZONES_KEPT = 1000;

export function checkTimeZone(value: unknown, field = 'timezone'): string {
	const known = typeof value === 'string' ? validZones.get(value) : undefined;
	if (known) return known;
	if (typeof value !== 'string' || !IANAZone.isValidZone(value)) {
		throw new ValidationError(
			field,
			`${describe(value)} is not an IANA time zone`,
			'Use a name such as "Europe/Berlin" or "America/Los_Angeles".',
		);
	}
	const name = new IANAZone(value).name;
	if (validZones.size < VALID_ZONES_KEPT) validZones.set(value, name);
	return name;
}

/** "2024-05-17" and "2024-05-17T09:30:00(.000)(Z)": the forms bulk imports carry. */
const PLAIN_ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}))?Z?)?$/;

/** Days per month of a common year. */
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Epoch ms of a PLAIN_ISO text read as UTC, as luxon reads it (undefined for any other text). Luxon
 * costs about 10 us and 4 KB of garbage per date: most of a bulk upsert's validation.
 */
function plainIsoMillis(text: string): number | undefined {
	const m = PLAIN_ISO.exec(text);
	if (!m) return undefined;
	// The parts read one by one: no copies of the match, and no Date, per date (a batch reads thousands).
	const year = Number(m[1]);
	const month = Number(m[2]);
	const day = Number(m[3]);
	const hour = m[4] ? Number(m[4]) : 0;
	const minute = m[5] ? Number(m[5]) : 0;
	const second = m[6] ? Number(m[6]) : 0;
	const milli = m[7] ? Number(m[7]) : 0;
	// Date.UTC rolls parts over (February 30, hour 24) and maps years below 100 to 19xx: luxon judges those.
	const leapDay = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0;
	const exact =
		year >= 1000 &&
		month >= 1 &&
		month <= 12 &&
		day >= 1 &&
		day <= MONTH_DAYS[month - 1] + leapDay &&
		hour <= 23 &&
		minute <= 59 &&
		second <= 59;
	return exact ? Date.UTC(year, month - 1, day, hour, minute, second, milli) : undefined;
}

/**
 * toISOString's text of a PLAIN_ISO text that plainIsoMillis read: the same digits (a year of four,
 * at least 1000), the parts left out as zeros. Each form has its own length.
 */
function plainIsoText(text: string): string {
	switch (text.length) {
		case 10:
			return `${text}T00:00:00.000Z`;
		case 19:
			return `${text}.000Z`;
		case 20:
			return `${text.slice(0, 19)}.000Z`;
		case 23:
			return `${text}Z`;
		default:
			return text;
	}
}

/** Accepts a Date, epoch milliseconds or an ISO 8601 string; returns epoch milliseconds. */
export function toTimestamp(value: unknown, field: string): number {
	const ms = typeof value === 'string' ? plainIsoMillis(value.trim()) : undefined;
	return withinDateYears(ms === undefined ? anyDateMillis(value, field) : ms, value, field);
}

/** toTimestamp's reading of any form but PLAIN_ISO, through luxon. */
function anyDateMillis(value: unknown, field: string): number {
	let dt: DateTime | undefined;
	if (value instanceof Date) dt = DateTime.fromJSDate(value);
	else if (typeof value === 'number') dt = DateTime.fromMillis(value);
	// Times without an offset are UTC, whatever the process's (or n8n's workflow) default zone is.
	else if (typeof value === 'string' && value.trim() !== '')
		dt = DateTime.fromISO(value.trim(), { zone: 'utc', setZone: true });
	else if (value && typeof value === 'object' && typeof (value as DateTime).toMillis === 'function')
		dt = value as DateTime;
	if (!dt || !dt.isValid) {
		throw new ValidationError(
			field,
			`${describe(value)} is not a valid date`,
			'Use ISO 8601, e.g. "2024-05-17" or "2024-05-17T09:30:00Z", or epoch milliseconds.',
		);
	}
	return dt.toMillis();
}

/** A date centuries away is a mistake (or an attack: +275760 would keep a contact active forever). */
function withinDateYears(ms: number, value: unknown, field: string): number {
	const span = LIMITS.dateYears * 365.25 * 86_400_000;
	if (Math.abs(ms - Date.now()) > span) {
		throw new ValidationError(
			field,
			`${describe(value)} is more than ${LIMITS.dateYears} years from now; dates must lie within ${LIMITS.dateYears} years`,
		);
	}
	return ms;
}

/**
 * A date field's stored text (toISOString's): a PLAIN_ISO text's from its own digits, without a
 * Date (about 1 us less per date).
 */
function dateFieldText(value: unknown, field: string): string {
	if (typeof value === 'string') {
		const text = value.trim();
		const ms = plainIsoMillis(text);
		if (ms !== undefined) {
			withinDateYears(ms, value, field);
			return plainIsoText(text);
		}
	}
	return new Date(toTimestamp(value, field)).toISOString();
}

/** When an event happened (epoch ms): a date, and no later than LIMITS.eventAheadMs after now. */
export function toEventTime(value: unknown, field: string, now: number): number {
	const ms = toTimestamp(value, field);
	if (ms > now + LIMITS.eventAheadMs) {
		throw new ValidationError(
			field,
			`${describe(value)} is in the future; an event may be dated at most ${LIMITS.eventAheadMs / 3_600_000} hours ahead`,
			'Give the time the event happened; a future date would keep the contact active until then.',
		);
	}
	return ms;
}

/** Whether objects and arrays nest deeper than `max` (iterative: a hostile depth cannot overflow the stack). */
function nestsDeeper(value: unknown, max: number): boolean {
	const stack: Array<[unknown, number]> = [[value, 1]];
	while (stack.length > 0) {
		const [v, depth] = stack.pop() as [unknown, number];
		if (v === null || typeof v !== 'object') continue;
		if (depth > max) return true;
		for (const child of Object.values(v)) stack.push([child, depth + 1]);
	}
	return false;
}

/**
 * How a typed field value is stored: "<code>:<text>" (a boolean's text is 1 or 0, a date's ISO).
 * The one table of the codes: Lua gets it as FIELD_TYPE from the helper "field_types".
 */
export const FIELD_TYPE_CODES = { string: 's', number: 'n', boolean: 'b', date: 'd' } as const;

/**
 * Whether a text's UTF-8 form holds at most `max` bytes. A UTF-16 unit takes at most 3 bytes (a
 * surrogate pair, two units, 4), so a text of at most max / 3 units needs no count: most field
 * values, and counting costs a call into the runtime per value.
 */
export function withinBytes(text: string, max: number): boolean {
	return text.length * 3 <= max || Buffer.byteLength(text) <= max;
}

/** Stored form of a typed field value (FIELD_TYPE_CODES). */
export function encodeFieldValue(field: string, value: unknown, type?: FieldType): string {
	const want = type ?? (value instanceof Date ? 'date' : (typeof value as FieldType));
	switch (want) {
		case 'string': {
			if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') break;
			const text = String(value);
			if (!withinBytes(text, LIMITS.fieldValueBytes)) {
				throw new ValidationError(
					field,
					`Field "${field}" is ${Buffer.byteLength(text)} bytes; the limit is ${LIMITS.fieldValueBytes}`,
					'Keep long texts elsewhere and store a reference.',
				);
			}
			return `${FIELD_TYPE_CODES.string}:${text}`;
		}
		case 'number': {
			const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
			if (typeof n !== 'number' || !Number.isFinite(n)) {
				throw new ValidationError(field, `Field "${field}" should be a number, got ${describe(value)}`);
			}
			return `${FIELD_TYPE_CODES.number}:${n}`;
		}
		case 'boolean': {
			const b = value === 'true' ? true : value === 'false' ? false : value;
			if (typeof b !== 'boolean') {
				throw new ValidationError(field, `Field "${field}" should be true or false, got ${describe(value)}`);
			}
			return `${FIELD_TYPE_CODES.boolean}:${b ? 1 : 0}`;
		}
		case 'date':
			return `${FIELD_TYPE_CODES.date}:${dateFieldText(value, field)}`;
	}
	throw new ValidationError(
		field,
		`Field "${field}" has an unsupported value (${describe(value)})`,
		'Fields hold strings, numbers, booleans or dates; store objects as JSON text.',
	);
}

export function decodeFieldValue(encoded: string): { type: FieldType; value: string | number | boolean } {
	const value = fieldValueOf(encoded);
	switch (encoded[0]) {
		case FIELD_TYPE_CODES.number:
			return { type: 'number', value };
		case FIELD_TYPE_CODES.boolean:
			return { type: 'boolean', value };
		case FIELD_TYPE_CODES.date:
			return { type: 'date', value };
		default:
			return { type: 'string', value };
	}
}

/** A stored field value's value alone (decodeFieldValue's, without an object per value). */
export function fieldValueOf(encoded: string): string | number | boolean {
	const text = encoded.slice(2);
	switch (encoded[0]) {
		case FIELD_TYPE_CODES.number:
			return Number(text);
		case FIELD_TYPE_CODES.boolean:
			return text === '1';
		default:
			return text;
	}
}

export function checkProperties(value: unknown, field = 'properties'): string {
	if (value === undefined || value === null || value === '') return '{}';
	let obj = value;
	if (typeof value === 'string') {
		try {
			obj = JSON.parse(value);
		} catch {
			throw new ValidationError(field, 'Event properties are not valid JSON');
		}
	}
	if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
		throw new ValidationError(field, `Event properties must be an object, got ${describe(obj)}`);
	}
	if (nestsDeeper(obj, LIMITS.propertiesDepth)) {
		throw new ValidationError(
			field,
			`Event properties nest more than ${LIMITS.propertiesDepth} levels deep; the limit is ${LIMITS.propertiesDepth}`,
			'Flatten the properties.',
		);
	}
	const json = JSON.stringify(obj);
	const bytes = Buffer.byteLength(json);
	if (bytes > LIMITS.propertiesBytes) {
		throw new ValidationError(
			field,
			`Event properties are ${Math.round(bytes / 1024)} KB; the limit is ${LIMITS.propertiesBytes / 1024} KB`,
			'Keep large payloads elsewhere and store a reference.',
		);
	}
	return json;
}

/** JSON text (or its UTF-8 bytes) parsed, or not ok when it is not JSON. */
export function parseJson(raw: Buffer | string): { ok: true; value: unknown } | { ok: false } {
	try {
		return { ok: true, value: JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : raw) };
	} catch {
		return { ok: false };
	}
}
