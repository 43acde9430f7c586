/**
 * Trial-balance rows and sums (spec/store-contract.md, section 6.9), shared by every store.
 *
 * T1. Rows are sorted by asset id in UTF-8 byte order, one row per asset that has a posting.
 * T2. Sums saturate at the i64 bounds instead of failing: a trial balance is a report, and a book
 *     whose lifetime sums pass 2^63 - 1 must still answer. The first saturation of a book is
 *     reported once, with the warning `sumsSaturatedWarning` makes.
 */
import { I64_SATURATION_WARNING } from './limits.js';
import { I64_MAX, I64_MIN, type Direction, type TrialBalanceRow } from './types.js';

/** Trial-balance rows sorted by asset id in UTF-8 byte order (T1). */
export function sortRows(sums: Map<string, { debits: bigint; credits: bigint }>): TrialBalanceRow[] {
  return [...sums.entries()]
    .sort(([left], [right]) => Buffer.compare(Buffer.from(left), Buffer.from(right)))
    .map(([asset, row]) => ({ asset, debits: row.debits, credits: row.credits }));
}

/**
 * Adds `minor` to a row's debit or credit sum, clamped at the i64 bounds (T2); true when it
 * clamped. Every store's trial-balance sums go through it, in commit order.
 */
export function addSaturating(row: { debits: bigint; credits: bigint }, direction: Direction, minor: bigint): boolean {
  const column = direction === 'debit' ? 'debits' : 'credits';
  const sum = row[column] + minor;
  const clamped = sum > I64_MAX ? I64_MAX : sum < I64_MIN ? I64_MIN : sum;
  row[column] = clamped;
  return clamped !== sum;
}

/** Per-asset debit and credit sums, added in commit order and saturating at the i64 bounds (T2). */
export class TrialBalanceSums {
  readonly #byAsset = new Map<string, { debits: bigint; credits: bigint }>();
  /** True once a sum was clamped. */
  saturated = false;

  add(asset: string, direction: Direction, minor: bigint): void {
    let row = this.#byAsset.get(asset);
    if (row === undefined) {
      row = { debits: 0n, credits: 0n };
      this.#byAsset.set(asset, row);
    }
    if (addSaturating(row, direction, minor)) this.saturated = true;
  }

  /** Sets an asset's sums outright (a database that summed them itself). */
  set(asset: string, direction: Direction, sum: bigint): void {
    const row = this.#byAsset.get(asset) ?? { debits: 0n, credits: 0n };
    row[direction === 'debit' ? 'debits' : 'credits'] = sum;
    this.#byAsset.set(asset, row);
  }

  rows(): TrialBalanceRow[] {
    return sortRows(this.#byAsset);
  }
}

/** The warning of a book's first saturated trial balance (T2). */
export function sumsSaturatedWarning(book: string): { code: string; message: string; book: string } {
  return { code: I64_SATURATION_WARNING, message: `trial-balance sums of book ${book} reached the i64 bound and are saturated`, book };
}
