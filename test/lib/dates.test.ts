import fc from 'fast-check';
import { DateTime } from 'luxon';
import {
	anniversaryDate,
	calendarDate,
	checkDateRule,
	checkWindow,
	daysSince,
	isAnniversaryOn,
	isWithinWindow,
	latestOccurrence,
	localTimeToInstant,
	nextOccurrence,
	nextWindowStart,
	resolveZone,
	type DateRule,
} from '../../lib/dates';
import { ValidationError } from '../../lib/errors';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const birthday: DateRule = { repeat: 'yearly', offsetDays: 0, hour: 9, minute: 0 };

describe('calendar dates', () => {
	it('reads the UTC calendar day of stored values', () => {
		expect(calendarDate('1990-02-28')).toEqual({ year: 1990, month: 2, day: 28 });
		expect(calendarDate('1990-02-28T00:00:00.000Z')).toEqual({ year: 1990, month: 2, day: 28 });
		expect(calendarDate('1990-02-28T23:30:00-05:00')).toEqual({ year: 1990, month: 3, day: 1 });
		expect(calendarDate(Date.UTC(2000, 6, 4))).toEqual({ year: 2000, month: 7, day: 4 });
	});

	it.each([['not a date'], [''], [null], [{}], ['2024-13-01']])('rejects %p naming the field', (value) => {
		expect(() => calendarDate(value, 'birthday')).toThrow(ValidationError);
		try {
			calendarDate(value, 'birthday');
		} catch (error) {
			expect((error as ValidationError).field).toBe('birthday');
		}
	});

	it('Feb 29 falls on Feb 28 in non-leap years by default, Mar 1 when asked, itself in leap years', () => {
		const leap = { year: 2000, month: 2, day: 29 };
		expect(anniversaryDate(leap, 2027)).toEqual({ year: 2027, month: 2, day: 28 });
		expect(anniversaryDate(leap, 2027, 'mar1')).toEqual({ year: 2027, month: 3, day: 1 });
		expect(anniversaryDate(leap, 2028)).toEqual({ year: 2028, month: 2, day: 29 });
		expect(anniversaryDate(leap, 2100)).toEqual({ year: 2100, month: 2, day: 28 });
		const occ = nextOccurrence(birthday, leap, 'Europe/Berlin', Date.UTC(2027, 0, 1));
		expect(occ).toMatchObject({ key: '2027', date: { year: 2027, month: 2, day: 28 } });
		expect(iso(occ?.fireAt)).toBe('2027-02-28T08:00:00.000Z');
		expect(isAnniversaryOn(leap, Date.UTC(2027, 1, 28, 12), 'UTC')).toBe(true);
		expect(isAnniversaryOn(leap, Date.UTC(2027, 2, 1, 12), 'UTC')).toBe(false);
		expect(isAnniversaryOn(leap, Date.UTC(2028, 1, 28, 12), 'UTC')).toBe(false);
	});

	it('falls back to the given zone, then UTC', () => {
		expect(resolveZone('Asia/Tokyo', 'Europe/Paris')).toBe('Asia/Tokyo');
		expect(resolveZone('Mars/Olympus', 'Europe/Paris')).toBe('Europe/Paris');
		expect(resolveZone(undefined, 'nope')).toBe('UTC');
	});
});

describe('local times and DST', () => {
	const la = 'America/Los_Angeles';

	it('a local time in the spring-forward gap happens when the gap ends', () => {
		// 2026-03-08: 02:00 PST jumps to 03:00 PDT (10:00Z).
		expect(iso(localTimeToInstant({ year: 2026, month: 3, day: 8 }, 2, 30, la))).toBe('2026-03-08T10:00:00.000Z');
		expect(iso(localTimeToInstant({ year: 2026, month: 3, day: 8 }, 2, 0, la))).toBe('2026-03-08T10:00:00.000Z');
		expect(iso(localTimeToInstant({ year: 2026, month: 3, day: 8 }, 3, 0, la))).toBe('2026-03-08T10:00:00.000Z');
		expect(iso(localTimeToInstant({ year: 2026, month: 3, day: 8 }, 1, 59, la))).toBe('2026-03-08T09:59:00.000Z');
		// Lord Howe shifts by 30 minutes: 02:00 -> 02:30 on 2026-10-04.
		expect(
			DateTime.fromMillis(localTimeToInstant({ year: 2026, month: 10, day: 4 }, 2, 10, 'Australia/Lord_Howe'), {
				zone: 'Australia/Lord_Howe',
			}).toFormat('HH:mm'),
		).toBe('02:30');
	});

	it('a local time the clock passes twice happens once, at its first occurrence', () => {
		// 2026-11-01: 01:00-02:00 happens in PDT then again in PST.
		expect(iso(localTimeToInstant({ year: 2026, month: 11, day: 1 }, 1, 30, la))).toBe('2026-11-01T08:30:00.000Z');
		const rule: DateRule = { repeat: 'yearly', offsetDays: 0, hour: 1, minute: 30 };
		const date = { year: 1980, month: 11, day: 1 };
		const first = nextOccurrence(rule, date, la, Date.UTC(2026, 9, 31));
		expect(iso(first?.fireAt)).toBe('2026-11-01T08:30:00.000Z');
		// After it fired, the next one is a year later, not the repeated 01:30 an hour later.
		const after = nextOccurrence(rule, date, la, first!.fireAt);
		expect(after?.key).toBe('2027');
	});

	it('9:00 everywhere: Pacific/Kiritimati and America/Los_Angeles on the same UTC instant', () => {
		const date = { year: 1990, month: 3, day: 11 };
		const instant = Date.UTC(2026, 2, 10, 19, 0); // 09:00 Mar 11 in Kiritimati (+14), 12:00 Mar 10 in LA (PDT)
		const kiri = nextOccurrence(birthday, date, 'Pacific/Kiritimati', instant - 1);
		const los = nextOccurrence(birthday, date, la, instant - 1);
		expect(iso(kiri?.fireAt)).toBe('2026-03-10T19:00:00.000Z');
		expect(iso(los?.fireAt)).toBe('2026-03-11T16:00:00.000Z');
		expect(latestOccurrence(birthday, date, 'Pacific/Kiritimati', instant)?.key).toBe('2026');
		expect(latestOccurrence(birthday, date, la, instant)?.key).toBe('2025');
		expect(isAnniversaryOn(date, instant, 'Pacific/Kiritimati')).toBe(true);
		expect(isAnniversaryOn(date, instant, la)).toBe(false);
		expect(daysSince(date, instant, 'Pacific/Kiritimati') - daysSince(date, instant, la)).toBe(1);
	});

	it('occurrences are strictly after / at-or-before the instant and a year apart (property)', () => {
		const zones = [
			'UTC',
			'America/Los_Angeles',
			'Pacific/Kiritimati',
			'Europe/Berlin',
			'Australia/Lord_Howe',
			'Asia/Kathmandu',
		];
		fc.assert(
			fc.property(
				fc.record({
					year: fc.integer({ min: 1950, max: 2010 }),
					month: fc.integer({ min: 1, max: 12 }),
					day: fc.integer({ min: 1, max: 28 }),
				}),
				fc.constantFrom(...zones),
				fc.integer({ min: -40, max: 40 }),
				fc.integer({ min: 0, max: 23 }),
				fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) }),
				(date, zone, offsetDays, hour, at) => {
					const rule: DateRule = { repeat: 'yearly', offsetDays, hour, minute: 0 };
					const next = nextOccurrence(rule, date, zone, at)!;
					const last = latestOccurrence(rule, date, zone, at)!;
					expect(next.fireAt).toBeGreaterThan(at);
					expect(last.fireAt).toBeLessThanOrEqual(at);
					expect(Number(next.key) - Number(last.key)).toBe(1);
					const local = DateTime.fromMillis(next.fireAt, { zone });
					expect({ year: local.year, month: local.month, day: local.day }).toEqual(next.date);
				},
			),
			{ numRuns: 300 },
		);
	});

	it('"once" rules fire N days after the date and never again', () => {
		const rule: DateRule = { repeat: 'once', offsetDays: 7, hour: 10, minute: 15 };
		const signup = { year: 2026, month: 1, day: 28 };
		const occ = nextOccurrence(rule, signup, 'Europe/Berlin', Date.UTC(2026, 0, 28));
		expect(occ).toMatchObject({ key: 'once', date: { year: 2026, month: 2, day: 4 } });
		expect(iso(occ?.fireAt)).toBe('2026-02-04T09:15:00.000Z');
		expect(nextOccurrence(rule, signup, 'Europe/Berlin', occ!.fireAt)).toBeNull();
		expect(latestOccurrence(rule, signup, 'Europe/Berlin', occ!.fireAt)?.key).toBe('once');
	});

	it('N days before an anniversary', () => {
		const rule: DateRule = { repeat: 'yearly', offsetDays: -3, hour: 8, minute: 0 };
		const occ = nextOccurrence(rule, { year: 1985, month: 1, day: 2 }, 'UTC', Date.UTC(2026, 5, 1));
		expect(occ).toMatchObject({ key: '2027', date: { year: 2026, month: 12, day: 30 } });
	});

	it.each([
		[{ repeat: 'weekly' }, 'repeat'],
		[{ offsetDays: 1.5 }, 'offsetDays'],
		[{ hour: 24 }, 'hour'],
		[{ minute: -1 }, 'minute'],
		[{ leapDay: 'mar2' }, 'leapDay'],
	])('rejects rule %p naming the field', (patch, field) => {
		expect(() => checkDateRule({ ...birthday, ...(patch as object) } as DateRule)).toThrow(
			expect.objectContaining({ field }),
		);
	});
});

describe('send windows', () => {
	const window = { startHour: 9, endHour: 18, weekdays: [1, 2, 3, 4, 5] };

	it('is inside during local office hours on weekdays only', () => {
		expect(isWithinWindow(Date.UTC(2026, 2, 10, 19), 'America/Los_Angeles', window)).toBe(true); // Tue 12:00
		expect(isWithinWindow(Date.UTC(2026, 2, 10, 19), 'Pacific/Kiritimati', window)).toBe(true); // Wed 09:00
		expect(isWithinWindow(Date.UTC(2026, 2, 10, 19), 'Europe/Berlin', window)).toBe(false); // Tue 20:00
	});

	it('defers to the next opening, skipping the weekend', () => {
		// Friday 2026-03-13 20:00 Berlin -> Monday 09:00 Berlin (08:00Z).
		expect(iso(nextWindowStart(Date.UTC(2026, 2, 13, 19), 'Europe/Berlin', window))).toBe('2026-03-16T08:00:00.000Z');
		const inside = Date.UTC(2026, 2, 10, 19);
		expect(nextWindowStart(inside, 'America/Los_Angeles', window)).toBe(inside);
		// A window across midnight.
		expect(isWithinWindow(Date.UTC(2026, 2, 10, 23), 'UTC', { startHour: 22, endHour: 6 })).toBe(true);
	});

	it.each([
		[{ startHour: 25, endHour: 3 }, 'startHour'],
		[{ startHour: 9, endHour: 9 }, 'endHour'],
		[{ startHour: 9, endHour: 17, weekdays: [0] }, 'weekdays'],
	])('rejects window %p naming the field', (w, field) => {
		expect(() => checkWindow(w)).toThrow(expect.objectContaining({ field }));
	});
});
