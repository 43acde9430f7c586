/**
 * Idempotency content comparison (spec/store-contract.md, section 7.4).
 *
 * Two drafts with one (book, key) are "the same content" when their postings (in order), external
 * refs (in order) and normalised metadata (key order ignored) are equal. The txid and
 * `occurred_at` are not compared: a retry usually carries a fresh UUID and a new timestamp.
 */
import { jsonEqual } from './json.js';
import type { Transaction } from './types.js';

export function sameTransactionContent(original: Transaction, retry: Transaction): boolean {
  if (original.postings.length !== retry.postings.length) return false;
  for (let index = 0; index < original.postings.length; index++) {
    const left = original.postings[index]!;
    const right = retry.postings[index]!;
    if (
      left.account.book !== right.account.book ||
      left.account.path !== right.account.path ||
      left.amount.minor !== right.amount.minor ||
      left.amount.asset !== right.amount.asset ||
      left.direction !== right.direction
    ) {
      return false;
    }
  }
  if (original.external_refs.length !== retry.external_refs.length) return false;
  for (let index = 0; index < original.external_refs.length; index++) {
    const left = original.external_refs[index]!;
    const right = retry.external_refs[index]!;
    if (left.kind !== right.kind || left.value !== right.value) return false;
  }
  return jsonEqual(original.metadata, retry.metadata);
}
