/**
 * The checks of a commit that follow from its accounts alone (spec/store-contract.md, section 7.3,
 * steps 6 to 8), for the database-backed stores, which load the accounts a transaction names and
 * then decide in JavaScript. MemoryStore keeps its own copy on purpose (it is the oracle every
 * store is compared with) and LogStore its columnar one (src/log/book-state.ts).
 *
 * K1. Postings are checked in order: the first that names an account not open in the transaction's
 *     book is UNKNOWN_ACCOUNT, the first whose asset differs from its account's is ASSET_MISMATCH.
 * K2. Per-account deltas are summed in posting order and must stay inside i64 as they run; then
 *     each projected raw balance must be inside i64 (and not i64 min for a credit-normal account,
 *     whose effective balance would be its negation): OVERFLOW naming the account.
 * K3. The minimum balance applies to the effective balance after the whole transaction; the first
 *     account in order of first appearance below its minimum is CONSTRAINT_VIOLATION.
 */
import { StoreError } from './errors.js';
import { I64_MAX, I64_MIN, type AccountCfg, type AccountDef, type Posting } from './types.js';

/** An account as a database store loads it for a commit. */
export interface LoadedAccount {
  def: AccountDef;
  cfg: AccountCfg;
  /** Raw balance (debits minus credits) before the transaction. */
  raw: bigint;
}

/** The account a posting names, or UNKNOWN_ACCOUNT / ASSET_MISMATCH (K1). */
export function postingAccount<A extends LoadedAccount>(posting: Posting, account: A | undefined): A {
  if (account === undefined) throw StoreError.unknownAccount({ ...posting.account });
  if (account.def.asset !== posting.amount.asset) throw StoreError.assetMismatch({ ...posting.account }, account.def.asset, posting.amount.asset);
  return account;
}

/**
 * Checks K2 and K3 for postings whose accounts (`accounts[i]` for `postings[i]`) passed K1, and
 * returns each touched account with its delta, in order of first appearance.
 */
export function checkedDeltas<A extends LoadedAccount>(postings: readonly Posting[], accounts: readonly A[]): Map<A, bigint> {
  const deltas = new Map<A, bigint>();
  for (let index = 0; index < postings.length; index++) {
    const posting = postings[index]!;
    const account = accounts[index]!;
    const delta = (deltas.get(account) ?? 0n) + (posting.direction === 'debit' ? posting.amount.minor : -posting.amount.minor);
    if (delta < I64_MIN || delta > I64_MAX) throw StoreError.overflow({ ...posting.account });
    deltas.set(account, delta);
  }
  for (const [account, delta] of deltas) {
    const projected = account.raw + delta;
    if (projected < I64_MIN || projected > I64_MAX) throw StoreError.overflow({ ...account.def.id });
    if (account.cfg.normal_side === 'credit' && projected === I64_MIN) throw StoreError.overflow({ ...account.def.id });
  }
  for (const [account, delta] of deltas) {
    const minBalance = account.cfg.min_balance;
    if (minBalance === null) continue;
    const wouldBe = effectiveBalance(account.cfg, account.raw + delta);
    if (wouldBe < minBalance) throw StoreError.constraintViolation({ ...account.def.id }, minBalance, wouldBe);
  }
  return deltas;
}

/** The balance as the account's owner reads it: the raw balance negated for credit-normal accounts. */
export function effectiveBalance(cfg: Pick<AccountCfg, 'normal_side'>, raw: bigint): bigint {
  return cfg.normal_side === 'credit' ? -raw : raw;
}
