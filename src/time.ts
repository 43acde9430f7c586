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

const TIMESTAMP_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

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

/** Renders microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function formatAtUs(atUs: number): string {
  const ms = Math.floor(atUs / 1000);
  const microsWithinMs = atUs - ms * 1000;
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 23)}${String(microsWithinMs).padStart(3, '0')}Z`;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/**
 * Parses the reading grammar: `YYYY-MM-DDTHH:MM:SS`, optionally `.` and 1-9 digits, then `Z` or
 * `±HH:MM`, with a valid calendar date and time. Returns microseconds since the epoch (floored)
 * or `null` when the text does not match.
 */
export function parseTimestampUs(text: string): number | null {
  const match = TIMESTAMP_PATTERN.exec(text);
  if (match === null) return null;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const hour = Number(match[4]);
  const minute = Number(match[5]);
  const second = Number(match[6]);
  if (month < 1 || month > 12) return null;
  const daysInMonth = month === 2 && isLeapYear(year) ? 29 : (DAYS_IN_MONTH[month - 1] as number);
  if (day < 1 || day > daysInMonth) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
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
  date.setUTCFullYear(year, month - 1, day); // not Date.UTC: it maps years 0-99 to 1900-1999
  date.setUTCHours(hour, minute - offsetMinutes, second, 0);
  return date.getTime() * 1000 + micros;
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
