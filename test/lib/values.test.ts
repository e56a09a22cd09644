import fc from 'fast-check';
import { DateTime } from 'luxon';
import { checkName, encodeFieldValue, LIMITS, toTimestamp } from '../../lib/values';

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

/** PLAIN_ISO texts, their parts a little beyond their ranges too: month 13, February 30, hour 24, second 60, years below 100 (Date.UTC reads them as 19xx), years beyond LIMITS.dateYears. */
const plainIsoTexts = fc
	.record({
		year: fc.oneof(
			fc.integer({ min: 0, max: 99 }),
			fc.integer({ min: 1900, max: 2100 }),
			fc.integer({ min: 1000, max: 9999 }),
		),
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

describe('toTimestamp', () => {
	it('reads plain ISO dates and UTC times as luxon does, out-of-range parts included (property)', () => {
		fc.assert(
			fc.property(plainIsoTexts, (t) => {
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

/** What encodeFieldValue makes of a value, or its error's message. */
function encodedOrMessage(value: unknown, type?: 'date' | 'string'): string {
	try {
		return encodeFieldValue('signupDate', value, type);
	} catch (error) {
		return (error as Error).message;
	}
}

describe('encodeFieldValue', () => {
	it("writes a plain ISO date's text as toISOString writes luxon's reading of it, or refuses it alike (property)", () => {
		fc.assert(
			fc.property(plainIsoTexts, (t) => {
				const millis = luxonMillis(t);
				const got = encodedOrMessage(t, 'date');
				const span = LIMITS.dateYears * 365.25 * 86_400_000;
				if (millis === 'invalid') expect(got).toBe(`"${t}" is not a valid date`);
				else if (Math.abs(millis - Date.now()) > span)
					expect(got).toBe(
						`"${t}" is more than ${LIMITS.dateYears} years from now; dates must lie within ${LIMITS.dateYears} years`,
					);
				else expect(got).toBe(`d:${new Date(millis).toISOString()}`);
			}),
			{ numRuns: 3000 },
		);
	});

	it('writes dates of every other form through toISOString', () => {
		// 19 characters, as many as a plain date and time, but with an offset.
		expect(encodedOrMessage('2024-05-17T09:30+02', 'date')).toBe('d:2024-05-17T07:30:00.000Z');
		expect(encodedOrMessage('2024-05-17T09:30:00.5Z', 'date')).toBe('d:2024-05-17T09:30:00.500Z');
		expect(encodedOrMessage(new Date(Date.UTC(2024, 4, 17)), undefined)).toBe('d:2024-05-17T00:00:00.000Z');
		expect(encodedOrMessage(Date.UTC(2024, 4, 17, 1), 'date')).toBe('d:2024-05-17T01:00:00.000Z');
	});

	it('refuses a text value of more UTF-8 bytes than the limit, and only such (property)', () => {
		// Units of 1, 2, 3 and (a surrogate pair) 4 bytes, from about a quarter of the limit in length to half.
		const texts = fc
			.array(fc.constantFrom('a', '\u00e9', '\u20ac', '\u{1f600}'), {
				minLength: Math.floor(LIMITS.fieldValueBytes / 4) - 20,
				maxLength: LIMITS.fieldValueBytes / 2,
			})
			.map((units) => units.join(''));
		fc.assert(
			fc.property(texts, (text) => {
				const bytes = Buffer.byteLength(text);
				// Compared as short texts: a failure's diff of 8 KB texts is slow.
				const got = encodedOrMessage(text, 'string');
				expect(got === `s:${text}` ? 'kept' : got).toBe(
					bytes > LIMITS.fieldValueBytes
						? `Field "signupDate" is ${bytes} bytes; the limit is ${LIMITS.fieldValueBytes}`
						: 'kept',
				);
			}),
			{ numRuns: 300, endOnFailure: true },
		);
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
