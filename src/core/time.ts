/**
 * Time (spec/store-contract.md, section 3.5).
 *
 * T1. Commit time `at` is held as integer microseconds since the Unix epoch (`atUs`), exact as a
 *     JavaScript number until the year 2255.
 * T2. `at` is rendered as RFC 3339 UTC with exactly 6 fractional digits: 27 characters, so text
 *     order equals time order.
 * T3. Readers accept 0 to 9 fractional digits and any offset; digits past the sixth are truncated
 *     toward the past.
 * T4. The clock agrees with Date.now() to within one millisecond; the sub-millisecond digits come
 *     from performance.now().
 * T5. Within a book `at` never decreases: a store stamps max(clock, last at of the book).
 */
import { StoreError } from './errors.js';

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** performance.now() in µs plus this gives wall-clock µs; re-anchored whenever the two disagree. */
let performanceOriginUs = Date.now() * 1000 - Math.floor(performance.now() * 1000);

/** The wall clock in integer microseconds, within the millisecond that Date.now() reports. */
export function wallClockUs(): number {
  const wallUs = Date.now() * 1000;
  const fineUs = performanceOriginUs + Math.floor(performance.now() * 1000);
  if (fineUs < wallUs) {
    performanceOriginUs += wallUs - fineUs;
    return wallUs;
  }
  if (fineUs > wallUs + 999) {
    performanceOriginUs -= fineUs - (wallUs + 999);
    return wallUs + 999;
  }
  return fineUs;
}

/** The second formatAtUs rendered last, and its `YYYY-MM-DDTHH:MM:SS.` text. */
let renderedSecond = Number.NaN;
let renderedSecondText = '';

/**
 * Renders microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`. Commits come in runs
 * within one second: the calendar part is rendered once per second, the digits appended.
 */
export function formatAtUs(atUs: number): string {
  const second = Math.floor(atUs / 1_000_000);
  if (second !== renderedSecond) {
    renderedSecondText = new Date(second * 1000).toISOString().slice(0, 20); // YYYY-MM-DDTHH:MM:SS.
    renderedSecond = second;
  }
  return `${renderedSecondText}${String(atUs - second * 1_000_000).padStart(6, '0')}Z`;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** The value of `count` decimal digits of `text` from `start`, or -1 if one is not a digit. */
function digitsAt(text: string, start: number, count: number): number {
  let value = 0;
  for (let index = start; index < start + count; index++) {
    const digit = text.charCodeAt(index) - 0x30;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const shifted = month <= 2 ? year - 1 : year;
  const era = Math.floor(shifted / 400);
  const yearOfEra = shifted - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/**
 * Parses the reading grammar: `YYYY-MM-DDTHH:MM:SS`, optionally `.` and 1-9 digits, then `Z` or
 * `±HH:MM`, with a valid calendar date and time. Returns microseconds since the epoch (floored)
 * or `null` when the text does not match. Written out by hand: every commit validates its
 * `occurred_at` with it, and a regular expression's match array is garbage on the hot path.
 */
export function parseTimestampUs(text: string): number | null {
  if (text.length < 20) return null;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return null;
  if (text[4] !== '-' || text[7] !== '-' || text[10] !== 'T' || text[13] !== ':' || text[16] !== ':') return null;
  let position = 19;
  let micros = 0;
  if (text[position] === '.') {
    position++;
    const start = position;
    while (position < text.length && position - start < 9 && digitsAt(text, position, 1) >= 0) position++;
    const count = position - start;
    if (count === 0) return null;
    micros = digitsAt(text, start, Math.min(count, 6)) * 10 ** Math.max(0, 6 - count);
  }
  let offsetMinutes = 0;
  const zone = text[position];
  if (zone === 'Z') {
    if (position + 1 !== text.length) return null;
  } else if (zone === '+' || zone === '-') {
    if (position + 6 !== text.length || text[position + 3] !== ':') return null;
    const offsetHour = digitsAt(text, position + 1, 2);
    const offsetMinute = digitsAt(text, position + 4, 2);
    if (offsetHour < 0 || offsetMinute < 0 || offsetHour > 23 || offsetMinute > 59) return null;
    offsetMinutes = (offsetHour * 60 + offsetMinute) * (zone === '-' ? -1 : 1);
  } else {
    return null;
  }
  if (month < 1 || month > 12) return null;
  const daysInMonth = month === 2 && isLeapYear(year) ? 29 : (DAYS_IN_MONTH[month - 1] as number);
  if (day < 1 || day > daysInMonth) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3_600 + (minute - offsetMinutes) * 60 + second;
  return seconds * 1_000_000 + micros;
}

/** True when `text` is an RFC 3339 timestamp this store accepts as `occurred_at`. */
export function isRfc3339(text: string): boolean {
  return parseTimestampUs(text) !== null;
}

/**
 * Converts an `asOf` argument to microseconds: a Date gives ms × 1000; a string in the reading
 * grammar is floored to the microsecond. `undefined` and `null` mean "now" and give `null`.
 */
export function asOfToUs(asOf: unknown): number | null {
  if (asOf === undefined || asOf === null) return null;
  if (asOf instanceof Date) {
    const ms = asOf.getTime();
    if (Number.isNaN(ms)) throw StoreError.invalidArgument('asOf', 'is an Invalid Date');
    return ms * 1000;
  }
  if (typeof asOf === 'string') {
    const us = parseTimestampUs(asOf);
    if (us === null) throw StoreError.invalidArgument('asOf', `${JSON.stringify(asOf)} is not an RFC 3339 timestamp`);
    return us;
  }
  throw StoreError.invalidArgument('asOf', 'must be a Date, an RFC 3339 string, null or undefined');
}
