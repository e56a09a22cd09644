/**
 * The dates the date recipes' tests give their contacts, made from the day the test runs: valid on
 * every day of the year, Feb 29 included (test/harness/e2eDates.test.ts walks years of days).
 */

/** A birthday on the month and day `monthDay` ("MM-DD"), born in a leap year so that "02-29" is a date. */
export const birthdayOn = (monthDay: string) => `1988-${monthDay}`;

/** The ISO time `years` years and `days` days before `ms`. */
export function yearsAgo(ms: number, years: number, days = 0): string {
	const d = new Date(ms);
	d.setUTCFullYear(d.getUTCFullYear() - years);
	d.setUTCDate(d.getUTCDate() - days);
	return d.toISOString();
}

/**
 * How many years before `ms` lies the latest day whose anniversary is the UTC day of `ms`: one, but
 * four on Feb 29 (a year earlier is Mar 1, whose anniversary is Mar 1; only a Feb 29 has one then).
 */
export function anniversaryYears(ms: number): number {
	const d = new Date(ms);
	return d.getUTCMonth() === 1 && d.getUTCDate() === 29 ? 4 : 1;
}
