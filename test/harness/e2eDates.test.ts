/**
 * The dates the date recipes' end-to-end tests make from the day they run (test/e2e/support/dates)
 * hold on every day: a birthday today and a purchase whose anniversary is today, Feb 29 included.
 */
import { calendarDate, isAnniversaryOn } from '../../lib/dates';
import { anniversaryYears, birthdayOn, yearsAgo } from '../e2e/support/dates';

const DAY = 86_400_000;

describe('the e2e date recipes on any day', () => {
	// Two leap days, and years beginning and ending.
	const days = Array.from({ length: 8 * 366 }, (_, n) => Date.UTC(2026, 0, 1, 12) + n * DAY);

	it("give a birthday that is a date and is today's, in every year", () => {
		for (const ms of days) {
			const monthDay = new Date(ms).toISOString().slice(5, 10);
			const birthday = calendarDate(birthdayOn(monthDay));
			expect([monthDay, isAnniversaryOn(birthday, ms, 'UTC')]).toEqual([monthDay, true]);
		}
	});

	it('give a purchase whose anniversary is today, and one a day earlier whose anniversary is not', () => {
		for (const ms of days) {
			const years = anniversaryYears(ms);
			const day = new Date(ms).toISOString().slice(0, 10);
			expect([day, isAnniversaryOn(calendarDate(yearsAgo(ms, years)), ms, 'UTC')]).toEqual([day, true]);
			expect([day, isAnniversaryOn(calendarDate(yearsAgo(ms, years, 1)), ms, 'UTC')]).toEqual([day, false]);
			expect(years === 1 || day.endsWith('-02-29')).toBe(true);
		}
	});
});
