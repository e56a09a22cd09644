import fc from 'fast-check';
import { DateTime } from 'luxon';
import { checkName, toTimestamp } from '../../lib/values';

/** What luxon makes of a text (toTimestamp's reading of any form), or 'invalid'. */
function luxonMillis(text: string): number | 'invalid' {
	const dt = DateTime.fromISO(text.trim(), { zone: 'utc', setZone: true });
	return dt.isValid ? dt.toMillis() : 'invalid';
}

function timestampOrInvalid(text: string): number | 'invalid' | 'too far' {
	try {
		return toTimestamp(text, 'signupDate');
	} catch (error) {
		return /is not a valid date/.test((error as Error).message) ? 'invalid' : 'too far';
	}
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

describe('toTimestamp', () => {
	it('reads plain ISO dates and UTC times as luxon does, out-of-range parts included (property)', () => {
		// Parts a little beyond their ranges too: month 13, February 30, hour 24, second 60, years below 100 (Date.UTC reads them as 19xx).
		const text = fc
			.record({
				year: fc.oneof(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 1900, max: 2100 })),
				month: fc.integer({ min: 0, max: 13 }),
				day: fc.integer({ min: 0, max: 32 }),
				time: fc.option(
					fc.record({
						hour: fc.integer({ min: 0, max: 24 }),
						minute: fc.integer({ min: 0, max: 60 }),
						second: fc.integer({ min: 0, max: 60 }),
						milli: fc.option(fc.integer({ min: 0, max: 999 })),
						zulu: fc.boolean(),
					}),
				),
				space: fc.constantFrom('', ' '),
			})
			.map(({ year, month, day, time, space }) => {
				let text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
				if (time) {
					text += `T${pad(time.hour, 2)}:${pad(time.minute, 2)}:${pad(time.second, 2)}`;
					if (time.milli !== null) text += `.${pad(time.milli, 3)}`;
					if (time.zulu) text += 'Z';
				}
				return `${space}${text}${space}`;
			});
		fc.assert(
			fc.property(text, (t) => {
				const expected = luxonMillis(t);
				const got = timestampOrInvalid(t);
				// Dates beyond LIMITS.dateYears are refused whatever reads them.
				if (got !== 'too far') expect(got).toBe(expected);
				else expect(expected).not.toBe('invalid');
			}),
			{ numRuns: 3000 },
		);
	});

	it('still reads every other ISO form through luxon', () => {
		expect(toTimestamp('2024-05-17T09:30:00+02:00', 'at')).toBe(Date.UTC(2024, 4, 17, 7, 30));
		expect(toTimestamp('2024-05-17T09:30', 'at')).toBe(Date.UTC(2024, 4, 17, 9, 30));
		expect(toTimestamp('2024-05-17T09:30:00.5Z', 'at')).toBe(Date.UTC(2024, 4, 17, 9, 30, 0, 500));
		expect(toTimestamp('2024-W20-5', 'at')).toBe(Date.UTC(2024, 4, 17));
		expect(() => toTimestamp('2024-02-30', 'at')).toThrow(/is not a valid date/);
	});
});

describe('checkName', () => {
	const check = (value: string) => {
		try {
			return checkName('id', value, 5, 'ID');
		} catch (error) {
			return (error as Error).message;
		}
	};

	it.each<[string, string]>([
		['abc', 'abc'],
		['  a b', '  a b'],
		['~!{}', '~!{}'],
		['abcde', 'abcde'],
		['abcdef', 'ID is 6 characters long; the limit is 5'],
		['     ', 'ID is empty'],
		['', 'ID is empty'],
		['\t', 'ID is empty'],
		['a\tb', 'ID contains control characters (line breaks, tabs or NUL)'],
		['a\x7fb', 'ID contains control characters (line breaks, tabs or NUL)'],
		['e\u0301', '\u00e9'],
		['Zoë', 'Zoë'],
		['\u00a0', 'ID is empty'],
	])('takes %j as %j', (value, expected) => {
		expect(check(value)).toBe(expected);
	});
});
