/**
 * Pure calendar and time-zone arithmetic (luxon), shared by the Contact Trigger's date schedules,
 * Segment Filter ("anniversary today") and Send Campaign (send windows). No Redis here.
 *
 * Rules, chosen once for the whole pack:
 * - A date field's calendar day is its UTC date (date-only values are stored at 00:00 UTC, so
 *   "1990-02-28" stays Feb 28 whatever the contact's zone).
 * - Feb 29 in a year without one: Feb 28 (`leapDay: 'feb28'`, the default) or Mar 1 (`'mar1'`).
 * - A local time that does not exist on the day (spring-forward gap) happens at the first instant
 *   after the gap (02:30 on a 02:00->03:00 day is 03:00).
 * - A local time that exists twice (fall-back) happens once, at its first occurrence.
 * - Unknown or missing zones fall back to the given fallback zone, then UTC.
 */
import { DateTime, IANAZone } from 'luxon';
import { ValidationError } from '../errors';

export type LeapDayRule = 'feb28' | 'mar1';

export interface CalendarDate {
	year: number;
	month: number;
	day: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** The contact's zone when valid, else the fallback when valid, else UTC. */
export function resolveZone(zone: string | null | undefined, fallback?: string | null): string {
	if (zone && IANAZone.isValidZone(zone)) return zone;
	if (fallback && IANAZone.isValidZone(fallback)) return fallback;
	return 'UTC';
}

/** The calendar day of a stored date value (Date, epoch ms, ISO text): its UTC date. */
export function calendarDate(value: unknown, field = 'date'): CalendarDate {
	let dt: DateTime | undefined;
	if (value instanceof Date) dt = DateTime.fromJSDate(value, { zone: 'UTC' });
	else if (typeof value === 'number') dt = DateTime.fromMillis(value, { zone: 'UTC' });
	else if (typeof value === 'string' && value.trim() !== '') {
		// A bare date keeps its day; a date-time with an offset is read at its UTC date.
		dt = DateTime.fromISO(value.trim(), { zone: 'UTC' });
	}
	if (!dt || !dt.isValid) {
		throw new ValidationError(
			field,
			`${JSON.stringify(value)?.slice(0, 60)} is not a date`,
			'Use ISO 8601 such as "1990-05-17".',
		);
	}
	return { year: dt.year, month: dt.month, day: dt.day };
}

export function isLeapYear(year: number): boolean {
	return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** The date's anniversary in `year`, applying the Feb 29 rule. */
export function anniversaryDate(date: CalendarDate, year: number, leapDay: LeapDayRule = 'feb28'): CalendarDate {
	if (date.month === 2 && date.day === 29 && !isLeapYear(year)) {
		return leapDay === 'mar1' ? { year, month: 3, day: 1 } : { year, month: 2, day: 28 };
	}
	return { year, month: date.month, day: date.day };
}

export function addDays(date: CalendarDate, days: number): CalendarDate {
	const dt = DateTime.fromObject(date, { zone: 'UTC' }).plus({ days });
	return { year: dt.year, month: dt.month, day: dt.day };
}

/** Wall-clock reading of an instant in a zone, as if it were UTC (for comparisons). */
function wallClock(ms: number, zone: string): number {
	const dt = DateTime.fromMillis(ms, { zone });
	return ms + dt.offset * MINUTE;
}

/**
 * The instant at which the local time `hour:minute` of `date` happens in `zone`: its first
 * occurrence when the clock passes it twice, the end of the gap when the clock skips it.
 */
export function localTimeToInstant(date: CalendarDate, hour: number, minute: number, zone: string): number {
	const wanted = Date.UTC(date.year, date.month - 1, date.day, hour, minute);
	// Every offset in force around that day; an instant is valid when its wall clock reads `wanted`.
	const offsets = new Set<number>();
	for (const probe of [wanted - DAY, wanted - HOUR * 3, wanted, wanted + HOUR * 3, wanted + DAY]) {
		offsets.add(DateTime.fromMillis(probe, { zone }).offset);
	}
	const valid = [...offsets].map((offset) => wanted - offset * MINUTE).filter((ms) => wallClock(ms, zone) === wanted);
	if (valid.length > 0) return Math.min(...valid);
	// In a gap: the first instant whose wall clock is past `wanted` (the moment the clock jumped).
	let lo = wanted - 30 * HOUR;
	let hi = wanted + 30 * HOUR;
	while (hi - lo > MINUTE) {
		const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
		if (wallClock(mid, zone) >= wanted) hi = mid;
		else lo = mid;
	}
	return hi;
}

/** How a date field turns into fire times. */
export interface DateRule {
	/** 'yearly': every anniversary (birthday); 'once': the date itself (N days after sign-up). */
	repeat: 'yearly' | 'once';
	/** Days after (positive) or before (negative) the date or its anniversary. */
	offsetDays: number;
	/** Local time of day in the contact's zone. */
	hour: number;
	minute: number;
	leapDay?: LeapDayRule;
}

export interface Occurrence {
	/** Identifies the occurrence for fire-once markers: the anniversary year, or "once". */
	key: string;
	/** The local calendar day it fires on. */
	date: CalendarDate;
	fireAt: number;
}

export function checkDateRule(rule: DateRule): DateRule {
	if (rule.repeat !== 'yearly' && rule.repeat !== 'once')
		throw new ValidationError('repeat', `"${rule.repeat}" is not "yearly" or "once"`);
	if (!Number.isInteger(rule.offsetDays) || Math.abs(rule.offsetDays) > 3660) {
		throw new ValidationError(
			'offsetDays',
			`Offset days must be a whole number between -3660 and 3660, got ${rule.offsetDays}`,
		);
	}
	if (!Number.isInteger(rule.hour) || rule.hour < 0 || rule.hour > 23)
		throw new ValidationError('hour', `Hour must be 0-23, got ${rule.hour}`);
	if (!Number.isInteger(rule.minute) || rule.minute < 0 || rule.minute > 59)
		throw new ValidationError('minute', `Minute must be 0-59, got ${rule.minute}`);
	if (rule.leapDay !== undefined && rule.leapDay !== 'feb28' && rule.leapDay !== 'mar1') {
		throw new ValidationError('leapDay', `"${rule.leapDay}" is not "feb28" or "mar1"`);
	}
	return rule;
}

function occurrenceFor(rule: DateRule, date: CalendarDate, zone: string, year: number | undefined): Occurrence {
	const base = year === undefined ? date : anniversaryDate(date, year, rule.leapDay);
	const day = addDays(base, rule.offsetDays);
	return {
		key: year === undefined ? 'once' : String(year),
		date: day,
		fireAt: localTimeToInstant(day, rule.hour, rule.minute, zone),
	};
}

/** Candidate occurrences around an instant, oldest first (anniversaries start the year after the date). */
function candidates(rule: DateRule, date: CalendarDate, zone: string, aroundMs: number): Occurrence[] {
	if (rule.repeat === 'once') return [occurrenceFor(rule, date, zone, undefined)];
	const shiftYears = Math.ceil(Math.abs(rule.offsetDays) / 365) + 1;
	const year = DateTime.fromMillis(aroundMs, { zone: 'UTC' }).year;
	const out: Occurrence[] = [];
	for (let y = Math.max(date.year + 1, year - shiftYears); y <= year + shiftYears; y++)
		out.push(occurrenceFor(rule, date, zone, y));
	return out;
}

/** The first occurrence that fires strictly after `afterMs`, or null ("once" already passed). */
export function nextOccurrence(rule: DateRule, date: CalendarDate, zone: string, afterMs: number): Occurrence | null {
	return candidates(rule, date, zone, afterMs).find((o) => o.fireAt > afterMs) ?? null;
}

/** The latest occurrence that fired at or before `atMs`, or null. */
export function latestOccurrence(rule: DateRule, date: CalendarDate, zone: string, atMs: number): Occurrence | null {
	const past = candidates(rule, date, zone, atMs).filter((o) => o.fireAt <= atMs);
	return past.length > 0 ? past[past.length - 1] : null;
}

/** The contact's local calendar day at an instant. */
export function localDate(ms: number, zone: string): CalendarDate {
	const dt = DateTime.fromMillis(ms, { zone });
	return { year: dt.year, month: dt.month, day: dt.day };
}

/** Whether it is the date's anniversary today in the zone (Feb 29 rule applied). */
export function isAnniversaryOn(date: CalendarDate, ms: number, zone: string, leapDay: LeapDayRule = 'feb28'): boolean {
	const today = localDate(ms, zone);
	const anniversary = anniversaryDate(date, today.year, leapDay);
	return anniversary.month === today.month && anniversary.day === today.day;
}

/** Whole days from the date to the local day of `ms` (negative when the date is later). */
export function daysSince(date: CalendarDate, ms: number, zone: string): number {
	const today = localDate(ms, zone);
	return Math.round(
		(Date.UTC(today.year, today.month - 1, today.day) - Date.UTC(date.year, date.month - 1, date.day)) / DAY,
	);
}

/** A daily local window such as 09:00-18:00 on weekdays (1 = Monday ... 7 = Sunday). */
export interface LocalWindow {
	startHour: number;
	endHour: number;
	weekdays?: number[];
}

export function checkWindow(window: LocalWindow): LocalWindow {
	for (const [field, value] of [
		['startHour', window.startHour],
		['endHour', window.endHour],
	] as const) {
		if (!Number.isInteger(value) || value < 0 || value > 24)
			throw new ValidationError(field, `${field} must be 0-24, got ${value}`);
	}
	if (window.startHour === window.endHour)
		throw new ValidationError('endHour', 'The window is empty: start and end hours are equal');
	if (
		window.weekdays &&
		(window.weekdays.length === 0 || window.weekdays.some((d) => !Number.isInteger(d) || d < 1 || d > 7))
	) {
		throw new ValidationError('weekdays', 'Weekdays are 1 (Monday) to 7 (Sunday), at least one');
	}
	return window;
}

function hourInWindow(hour: number, window: LocalWindow): boolean {
	// A window may wrap midnight (22-6).
	return window.startHour < window.endHour
		? hour >= window.startHour && hour < window.endHour
		: hour >= window.startHour || hour < window.endHour;
}

/** Whether `ms` falls in the local window. */
export function isWithinWindow(ms: number, zone: string, window: LocalWindow): boolean {
	const dt = DateTime.fromMillis(ms, { zone });
	return hourInWindow(dt.hour, window) && (!window.weekdays || window.weekdays.includes(dt.weekday));
}

/** `ms` itself when inside the window, else the next instant the window opens (DST rules above). */
export function nextWindowStart(ms: number, zone: string, window: LocalWindow): number {
	if (isWithinWindow(ms, zone, window)) return ms;
	const today = localDate(ms, zone);
	for (let i = 0; i <= 8; i++) {
		const day = addDays(today, i);
		const start = localTimeToInstant(day, window.startHour % 24, 0, zone);
		if (start > ms && isWithinWindow(start, zone, window)) return start;
	}
	throw new ValidationError('weekdays', 'The send window never opens');
}
