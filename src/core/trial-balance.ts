/**
 * Trial-balance rows (spec/store-contract.md, section 6.9), shared by every store.
 *
 * T1. Rows are sorted by asset id in UTF-8 byte order, one row per asset that has a posting.
 */
import type { TrialBalanceRow } from './types.js';

/** Trial-balance rows sorted by asset id in UTF-8 byte order (T1). */
export function sortRows(sums: Map<string, { debits: bigint; credits: bigint }>): TrialBalanceRow[] {
  return [...sums.entries()]
    .sort(([left], [right]) => Buffer.compare(Buffer.from(left), Buffer.from(right)))
    .map(([asset, row]) => ({ asset, debits: row.debits, credits: row.credits }));
}
