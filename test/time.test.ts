/**
 * Time (store-contract 3.5, log-engine 3.9): the 27-character `at` form, the reading grammar with
 * 0 to 9 fractional digits and offsets, calendar validation, the wall clock and `asOf`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { asOfToUs, formatAtUs, isRfc3339, parseTimestampUs, wallClockUs } from '../src/core/time.js';
import { StoreError } from '../src/core/errors.js';

const AT_FORM = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** Microseconds of an ISO text that Date.parse reads exactly (whole milliseconds). */
function usOf(iso: string): number {
  const ms = Date.parse(iso);
  assert.ok(Number.isFinite(ms), iso);
  return ms * 1000;
}

test('T2: formatAtUs renders fixed 27-character UTC text', () => {
  assert.equal(formatAtUs(0), '1970-01-01T00:00:00.000000Z');
  assert.equal(formatAtUs(1), '1970-01-01T00:00:00.000001Z');
  assert.equal(formatAtUs(999), '1970-01-01T00:00:00.000999Z');
  assert.equal(formatAtUs(1000), '1970-01-01T00:00:00.001000Z');
  assert.equal(formatAtUs(-1), '1969-12-31T23:59:59.999999Z');
  assert.equal(formatAtUs(-1000), '1969-12-31T23:59:59.999000Z');
  assert.equal(formatAtUs(-1001), '1969-12-31T23:59:59.998999Z');
  assert.equal(formatAtUs(usOf('2026-06-05T12:00:00.123Z') + 456), '2026-06-05T12:00:00.123456Z');
  assert.equal(formatAtUs(usOf('2026-06-05T12:00:00Z')), '2026-06-05T12:00:00.000000Z');
  assert.equal(formatAtUs(Number.MAX_SAFE_INTEGER), '2255-06-05T23:47:34.740991Z');
  assert.equal(formatAtUs(-Number.MAX_SAFE_INTEGER), '1684-07-28T00:12:25.259009Z');
});

test('T2 property: formatAtUs agrees with Date for any microsecond, in any order of calls', () => {
  // The calendar part is kept per second: calls that jump between seconds, or stay in one, or
  // cross a second's edge by one microsecond, must all render what Date renders.
  const atUs = fc.oneof(
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), // 1684 .. 2255 (T1)
    fc.integer({ min: -3, max: 3 }).map((step) => 1_780_000_000_000_000 + step), // a second's edge
  );
  fc.assert(
    fc.property(fc.array(atUs, { minLength: 1, maxLength: 20 }), (values) => {
      for (const value of values) {
        const ms = Math.floor(value / 1000);
        const expected = `${new Date(ms).toISOString().slice(0, 23)}${String(value - ms * 1000).padStart(3, '0')}Z`;
        assert.equal(formatAtUs(value), expected);
      }
    }),
    { numRuns: 2000 },
  );
});

test('T2 property: formatAtUs is always 27 characters of the fixed form', () => {
  fc.assert(
    fc.property(fc.maxSafeInteger(), (us) => {
      const text = formatAtUs(us);
      assert.equal(text.length, 27, text);
      assert.match(text, AT_FORM);
    }),
    { numRuns: 3000 },
  );
});

test('T1/T2 property: parseTimestampUs(formatAtUs(us)) === us over the safe range', () => {
  fc.assert(
    fc.property(fc.maxSafeInteger(), (us) => {
      assert.equal(parseTimestampUs(formatAtUs(us)), us);
    }),
    { numRuns: 3000 },
  );
  // And over today's range densely, where real commit times live.
  const now = Date.now() * 1000;
  fc.assert(
    fc.property(fc.integer({ min: -1_000_000_000, max: 1_000_000_000 }), (delta) => {
      assert.equal(parseTimestampUs(formatAtUs(now + delta * 1000 + (delta % 1000))), now + delta * 1000 + (delta % 1000));
    }),
    { numRuns: 2000 },
  );
});

test('T2 property: text order equals time order', () => {
  fc.assert(
    fc.property(fc.maxSafeInteger(), fc.maxSafeInteger(), (left, right) => {
      const l = formatAtUs(left);
      const r = formatAtUs(right);
      assert.equal(Math.sign(left - right), l < r ? -1 : l > r ? 1 : 0);
    }),
    { numRuns: 2000 },
  );
});

test('T2: formatAtUs agrees with Date#toISOString on whole milliseconds', () => {
  fc.assert(
    fc.property(fc.integer({ min: -8_000_000_000_000, max: 8_000_000_000_000 }), (ms) => {
      const iso = new Date(ms).toISOString();
      assert.equal(formatAtUs(ms * 1000), `${iso.slice(0, 23)}000Z`);
    }),
  );
});

test('T3: 0, 3, 6 and 9 fractional digits read as 6', () => {
  const cases: Array<[string, string]> = [
    ['2026-06-05T03:04:05Z', '2026-06-05T03:04:05.000000Z'],
    ['2026-06-05T03:04:05.120Z', '2026-06-05T03:04:05.120000Z'],
    ['2026-06-05T03:04:05.123456Z', '2026-06-05T03:04:05.123456Z'],
    ['2026-06-05T03:04:05.123456789Z', '2026-06-05T03:04:05.123456Z'],
    ['2026-06-05T03:04:05.999999999Z', '2026-06-05T03:04:05.999999Z'],
    ['2026-06-05T03:04:05.1Z', '2026-06-05T03:04:05.100000Z'],
    ['2026-06-05T03:04:05.12Z', '2026-06-05T03:04:05.120000Z'],
    ['2026-06-05T03:04:05.1234Z', '2026-06-05T03:04:05.123400Z'],
    ['2026-06-05T03:04:05.12345Z', '2026-06-05T03:04:05.123450Z'],
    ['2026-06-05T03:04:05.1234567Z', '2026-06-05T03:04:05.123456Z'],
    ['2026-06-05T03:04:05.12345678Z', '2026-06-05T03:04:05.123456Z'],
    ['2026-06-05T03:04:05.000000001Z', '2026-06-05T03:04:05.000000Z'],
    ['2026-06-05T03:04:05.000Z', '2026-06-05T03:04:05.000000Z'],
  ];
  for (const [input, expected] of cases) {
    const us = parseTimestampUs(input);
    assert.notEqual(us, null, input);
    assert.equal(formatAtUs(us as number), expected, input);
  }
});

test('T3: digits past the sixth are truncated toward the past, before the epoch and with negative offsets', () => {
  const cases: Array<[string, string]> = [
    ['1969-12-31T23:59:59.999999999Z', '1969-12-31T23:59:59.999999Z'],
    ['1969-12-31T23:59:59.000000999Z', '1969-12-31T23:59:59.000000Z'],
    ['1900-01-01T00:00:00.000000500Z', '1900-01-01T00:00:00.000000Z'],
    ['2026-06-05T03:04:05.123456789-02:00', '2026-06-05T05:04:05.123456Z'],
    ['1969-12-31T23:59:59.999999999-00:30', '1970-01-01T00:29:59.999999Z'],
    ['1970-01-01T00:00:00.000000999+01:00', '1969-12-31T23:00:00.000000Z'],
    ['1969-12-31T22:59:59.9999999-01:00', '1969-12-31T23:59:59.999999Z'],
  ];
  for (const [input, expected] of cases) {
    const us = parseTimestampUs(input);
    assert.notEqual(us, null, input);
    assert.equal(formatAtUs(us as number), expected, input);
  }
  assert.equal(parseTimestampUs('1969-12-31T23:59:59.999999999Z'), -1);
  assert.equal(parseTimestampUs('1969-12-31T23:59:59.9999995Z'), -1);
  assert.equal(parseTimestampUs('1970-01-01T00:00:00.0000009Z'), 0);
});

test('T3: offsets convert to UTC', () => {
  const utc = parseTimestampUs('2026-06-05T12:00:00Z');
  assert.equal(utc, usOf('2026-06-05T12:00:00Z'));
  assert.equal(parseTimestampUs('2026-06-05T14:00:00+02:00'), utc);
  assert.equal(parseTimestampUs('2026-06-05T10:00:00-02:00'), utc);
  assert.equal(parseTimestampUs('2026-06-05T12:00:00+00:00'), utc);
  assert.equal(parseTimestampUs('2026-06-05T12:00:00-00:00'), utc);
  assert.equal(parseTimestampUs('2026-06-05T17:45:00+05:45'), utc);
  assert.equal(parseTimestampUs('2026-06-06T11:59:00+23:59'), utc);
  assert.equal(parseTimestampUs('2026-06-04T12:01:00-23:59'), utc);
  assert.equal(formatAtUs(parseTimestampUs('2026-06-05T14:00:00.5+02:00') as number), '2026-06-05T12:00:00.500000Z');
  // Across a day, month and year boundary.
  assert.equal(formatAtUs(parseTimestampUs('2027-01-01T01:30:00+02:00') as number), '2026-12-31T23:30:00.000000Z');
  assert.equal(formatAtUs(parseTimestampUs('2024-02-28T23:00:00-01:00') as number), '2024-02-29T00:00:00.000000Z');
});

test('T3 property: any precision and offset reads back the floored UTC microsecond', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -6_000_000_000_000, max: 7_000_000_000_000 }), // whole ms, roughly 1780 to 2190
      fc.integer({ min: 0, max: 999_999 }), // ns within the ms
      fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }), // offset in minutes
      fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
      (ms, nsInMs, offsetMinutes, digits) => {
        const local = new Date(ms + offsetMinutes * 60_000).toISOString(); // local wall time, as if UTC
        const ninedigits = `${local.slice(20, 23)}${String(nsInMs).padStart(6, '0')}`;
        const fraction = digits === 0 ? '' : `.${ninedigits.slice(0, digits)}`;
        const sign = offsetMinutes < 0 ? '-' : '+';
        const abs = Math.abs(offsetMinutes);
        const offset = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        const text = `${local.slice(0, 19)}${fraction}${offset}`;
        const wholeSecondMs = ms - (((ms % 1000) + 1000) % 1000);
        const keptNs = digits === 0 ? 0 : Number(ninedigits.slice(0, digits).padEnd(9, '0'));
        const expected = wholeSecondMs * 1000 + Math.floor(keptNs / 1000);
        assert.equal(parseTimestampUs(text), expected, text);
        if (offsetMinutes === 0) assert.equal(parseTimestampUs(`${local.slice(0, 19)}${fraction}Z`), expected);
      },
    ),
    { numRuns: 3000 },
  );
});

test('T3: malformed or impossible timestamps return null', () => {
  const invalid = [
    '',
    '2026-06-05t12:00:00Z',
    '2026-06-05T12:00:00z',
    '2026-06-05T12:00:00+02:00z',
    '2026-02-30T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-06-05',
    '2026-06-05T12:00:00',
    '2026-06-05T12:00Z',
    '2026-06-05 12:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-00-01T00:00:00Z',
    '2026-06-00T00:00:00Z',
    '2026-06-32T00:00:00Z',
    '2026-06-05T24:00:00Z',
    '2026-06-05T23:60:00Z',
    '2026-06-05T23:59:60Z',
    '2026-06-05T12:00:00+24:00',
    '2026-06-05T12:00:00-24:00',
    '2026-06-05T12:00:00+02:60',
    '2026-06-05T12:00:00+0200',
    '2026-06-05T12:00:00+02',
    '2026-06-05T12:00:00.1234567890Z',
    '2026-06-05T12:00:00.Z',
    '2026-06-05T12:00:00,5Z',
    '26-06-05T12:00:00Z',
    '+02026-06-05T12:00:00Z',
    '2026-6-05T12:00:00Z',
    '2026-06-05T1:00:00Z',
    ' 2026-06-05T12:00:00Z',
    '2026-06-05T12:00:00Z ',
    '2026-06-05T12:00:00Z\n',
    '2026-06-05T12:00:00ZZ',
    '２０２６-06-05T12:00:00Z',
    '2026-06-05T12:00:00UTC',
    '2026-06-05T12:00:00GMT',
  ];
  for (const text of invalid) {
    assert.equal(parseTimestampUs(text), null, JSON.stringify(text));
    assert.equal(isRfc3339(text), false, JSON.stringify(text));
  }
});

test('T3: leap years follow the Gregorian rule', () => {
  assert.equal(parseTimestampUs('2024-02-29T00:00:00Z'), usOf('2024-02-29T00:00:00Z'));
  assert.equal(parseTimestampUs('2000-02-29T00:00:00Z'), usOf('2000-02-29T00:00:00Z'));
  assert.equal(parseTimestampUs('2400-02-29T12:00:00Z'), usOf('2400-02-29T12:00:00Z'));
  assert.equal(parseTimestampUs('2023-02-29T00:00:00Z'), null);
  assert.equal(parseTimestampUs('1900-02-29T00:00:00Z'), null);
  assert.equal(parseTimestampUs('2100-02-29T00:00:00Z'), null);
  assert.equal(parseTimestampUs('2024-02-30T00:00:00Z'), null);
  assert.equal(parseTimestampUs('2023-02-28T23:59:59.999999999Z'), usOf('2023-02-28T23:59:59.999Z') + 999);
  assert.equal(isRfc3339('2024-02-29T00:00:00+05:00'), true);
});

test('T3: every month accepts its last day and refuses the next', () => {
  const lastDays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  lastDays.forEach((last, index) => {
    const month = String(index + 1).padStart(2, '0');
    assert.notEqual(parseTimestampUs(`2025-${month}-${last}T00:00:00Z`), null, `2025-${month}-${last}`);
    assert.equal(parseTimestampUs(`2025-${month}-${last + 1}T00:00:00Z`), null, `2025-${month}-${last + 1}`);
  });
});

test('T3: years 0000 to 0099 are read as themselves, not as 1900 to 1999', () => {
  for (const text of [
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00Z',
    '0004-02-29T00:00:00Z',
    '0050-06-15T12:34:56Z',
    '0099-12-31T23:59:59Z',
    '0100-03-01T00:00:00Z',
  ]) {
    const us = parseTimestampUs(text);
    assert.equal(us, usOf(text), text);
    assert.equal(formatAtUs(us as number), `${text.slice(0, 19)}.000000Z`, text);
  }
  assert.equal(parseTimestampUs('0000-02-29T00:00:00Z'), usOf('0000-02-29T00:00:00Z')); // year 0 is a leap year
  assert.equal(parseTimestampUs('0100-02-29T00:00:00Z'), null);
  assert.notEqual(parseTimestampUs('0050-06-15T12:34:56Z'), parseTimestampUs('1950-06-15T12:34:56Z'));
  assert.equal(
    formatAtUs(parseTimestampUs('0001-01-01T00:30:00+01:00') as number),
    '0000-12-31T23:30:00.000000Z',
  );
});

test('T4: wallClockUs agrees with Date.now() to within a millisecond', () => {
  for (let round = 0; round < 1000; round++) {
    const before = Date.now() * 1000;
    const us = wallClockUs();
    const after = Date.now() * 1000;
    assert.ok(Number.isSafeInteger(us), String(us));
    assert.ok(us >= before, `${us} < ${before}`);
    assert.ok(us < after + 1000, `${us} >= ${after} + 1000`);
  }
});

test('T4: wallClockUs renders in the at form', () => {
  assert.match(formatAtUs(wallClockUs()), AT_FORM);
});

test('asOf: a Date gives ms × 1000', () => {
  assert.equal(asOfToUs(new Date(0)), 0);
  assert.equal(asOfToUs(new Date('2026-06-05T12:00:00.123Z')), usOf('2026-06-05T12:00:00.123Z'));
  assert.equal(asOfToUs(new Date(-1)), -1000);
});

test('asOf: strings in the reading grammar, floored to the microsecond', () => {
  assert.equal(asOfToUs('2026-06-05T12:00:00Z'), usOf('2026-06-05T12:00:00Z'));
  assert.equal(asOfToUs('2026-06-05T14:00:00+02:00'), usOf('2026-06-05T12:00:00Z'));
  assert.equal(asOfToUs('2026-06-05T12:00:00.123456789Z'), usOf('2026-06-05T12:00:00.123Z') + 456);
  assert.equal(asOfToUs('2026-06-05T12:00:00.1Z'), usOf('2026-06-05T12:00:00.100Z'));
});

test('asOf: null and undefined mean now', () => {
  assert.equal(asOfToUs(null), null);
  assert.equal(asOfToUs(undefined), null);
});

function assertAsOfInvalid(value: unknown): void {
  assert.throws(
    () => asOfToUs(value),
    (error: unknown) => {
      assert.ok(error instanceof StoreError);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.equal((error as StoreError & { field: string }).field, 'asOf');
      assert.match(error.message, /^INVALID_ARGUMENT: /);
      return true;
    },
    String(value),
  );
}

test('asOf: Invalid Date, bad strings and other types are INVALID_ARGUMENT with field asOf', () => {
  assertAsOfInvalid(new Date(Number.NaN));
  assertAsOfInvalid(new Date('not a date'));
  assertAsOfInvalid('2026-06-05');
  assertAsOfInvalid('2026-02-30T00:00:00Z');
  assertAsOfInvalid('2026-06-05t12:00:00Z');
  assertAsOfInvalid('');
  assertAsOfInvalid('now');
  assertAsOfInvalid(0);
  assertAsOfInvalid(1_780_000_000_000);
  assertAsOfInvalid(1n);
  assertAsOfInvalid(true);
  assertAsOfInvalid({});
  assertAsOfInvalid([]);
  assertAsOfInvalid({ toISOString: () => '2026-06-05T12:00:00Z' });
  assertAsOfInvalid(Symbol('asOf'));
  assertAsOfInvalid(() => 0);
  assertAsOfInvalid(new String('2026-06-05T12:00:00Z'));
});

/**
 * The reading grammar as one regular expression and Date arithmetic: the first implementation,
 * kept here as the oracle for the hand-written parser.
 */
function oracleTimestampUs(text: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (match === null) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth[month - 1]! || hour > 23 || minute > 59 || second > 59) return null;
  let offsetMinutes = 0;
  if (match[8] !== 'Z') {
    const offsetHour = Number(match[10]);
    const offsetMinute = Number(match[11]);
    if (offsetHour > 23 || offsetMinute > 59) return null;
    offsetMinutes = (offsetHour * 60 + offsetMinute) * (match[9] === '-' ? -1 : 1);
  }
  const fraction = match[7] ?? '';
  const micros = fraction.length === 0 ? 0 : Number(fraction.slice(0, 6).padEnd(6, '0'));
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute - offsetMinutes, second, 0);
  return date.getTime() * 1000 + micros;
}

test('T3 property: the hand-written parser agrees with the regular-expression oracle', () => {
  const pad = (value: number, width: number): string => String(value).padStart(width, '0');
  const wellFormed = fc
    .record({
      year: fc.integer({ min: 0, max: 9999 }),
      month: fc.integer({ min: 0, max: 13 }),
      day: fc.integer({ min: 0, max: 32 }),
      hour: fc.integer({ min: 0, max: 25 }),
      minute: fc.integer({ min: 0, max: 60 }),
      second: fc.integer({ min: 0, max: 60 }),
      fraction: fc.option(fc.stringMatching(/^[0-9]{0,10}$/), { nil: undefined }),
      zone: fc.oneof(fc.constant('Z'), fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 })).map(([sign, h, m]) => `${sign}${pad(h, 2)}:${pad(m, 2)}`)),
    })
    .map(({ year, month, day, hour, minute, second, fraction, zone }) =>
      `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}${fraction === undefined ? '' : `.${fraction}`}${zone}`,
    );
  // Damage: one character replaced, removed or added anywhere.
  const damaged = fc.tuple(wellFormed, fc.nat(), fc.constantFrom('', '0', '9', 'T', 'Z', ':', '-', '+', '.', 't', 'z', ' ', '٣')).map(([text, at, char]) => {
    const index = at % (text.length + 1);
    return at % 2 === 0 ? text.slice(0, index) + char + text.slice(index + 1) : text.slice(0, index) + char + text.slice(index);
  });
  fc.assert(
    fc.property(fc.oneof(wellFormed, damaged, fc.string({ maxLength: 40 })), (text) => {
      assert.equal(parseTimestampUs(text), oracleTimestampUs(text), text);
    }),
    { numRuns: 20_000 },
  );
});
