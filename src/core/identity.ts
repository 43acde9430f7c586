/**
 * When two definitions are "the same" (spec/store-contract.md, sections 4.1, 7.2 and 7.4). These
 * rules decide between an idempotent repeat and ALREADY_EXISTS or IDEMPOTENCY_CONFLICT, so every
 * store uses this one module.
 *
 * - Assets: id, class (with network and native_id), precision and name all equal.
 * - Accounts: asset, kind, normal side and minimum balance all equal.
 * - Transactions with one (book, key): postings (in order), external refs (in order) and
 *   normalised metadata (key order ignored) equal. The txid and `occurred_at` are not compared: a
 *   retry usually carries a fresh UUID and a new timestamp.
 */
import { jsonEqual } from './json.js';
import type { AccountCfg, AccountDef, AssetDef, Transaction } from './types.js';

export function sameAssetDef(left: AssetDef, right: AssetDef): boolean {
  if (left.id !== right.id || left.precision !== right.precision || left.name !== right.name) return false;
  if (left.class === 'fiat' || right.class === 'fiat') return left.class === right.class;
  return left.class.crypto.network === right.class.crypto.network && left.class.crypto.native_id === right.class.crypto.native_id;
}

export function sameAccount(
  left: { def: AccountDef; cfg: AccountCfg },
  right: { def: AccountDef; cfg: AccountCfg },
): boolean {
  return (
    left.def.asset === right.def.asset &&
    left.def.kind === right.def.kind &&
    left.cfg.normal_side === right.cfg.normal_side &&
    left.cfg.min_balance === right.cfg.min_balance
  );
}

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
