/**
 * BookState: the in-memory projection of one book's log (spec/log-engine.md, section 7), and the
 * validation of new jobs against it plus the batch overlay (sections 6.3, 6.4, 7.3).
 *
 * B1. Apply is all or nothing: every change of an event is computed and checked first, then
 *     written. At run time a failing check is a bug; at replay it is corruption (row R10).
 * B2. Only the owning worker mutates a BookState, and only after the fsync of the event's batch.
 * B3. Validation never changes BookState; accepted jobs change only the overlay, which is
 *     discarded at the end of the batch.
 * B4. Checks run in the contract's order (store-contract 7.3): idempotency, txid, postings,
 *     overflow, minimum balance. The first failure decides.
 */
import assert from 'node:assert/strict';
import { accountKey } from './account-key.js';
import { StoreError } from './errors.js';
import { PostingIndex } from './posting-index.js';
import { IdemIndex } from './idem-index.js';
import { formatAtUs } from './time.js';
import { sameAccount, sameTransactionContent } from './identity.js';
import {
  I64_MAX,
  I64_MIN,
  SYSTEM_BOOK,
  type AccountCfg,
  type AccountDef,
  type AccountId,
  type AssetDef,
  type Committed,
  type LedgerEvent,
  type PostingRecord,
  type Transaction,
  type TrialBalanceRow,
} from './types.js';

export interface AccountState {
  def: AccountDef;
  cfg: AccountCfg;
  rawBalance: bigint;
  updatedSeq: number;
  postings: PostingIndex;
}

/** An event that decodes but cannot be applied (row R10 at replay). */
export class ApplyError extends Error {
  override readonly name = 'ApplyError';
}

export interface ApplyOutcome {
  /** The lifetime sums saturated for the first time since open: warn once. */
  sumsSaturatedNow: boolean;
  /** A duplicate a Rust-written log may hold, kept out of the indexes: warn. */
  duplicate: string | null;
}

export function effectiveBalance(cfg: AccountCfg, raw: bigint): bigint {
  return cfg.normal_side === 'credit' ? -raw : raw;
}

function saturatingAdd(left: bigint, right: bigint): { sum: bigint; saturated: boolean } {
  const sum = left + right;
  if (sum > I64_MAX) return { sum: I64_MAX, saturated: true };
  if (sum < I64_MIN) return { sum: I64_MIN, saturated: true };
  return { sum, saturated: false };
}

export class BookState {
  seqNext = 1;
  atLastUs: number | null = null;
  readonly accounts = new Map<string, AccountState>();
  /** Idempotency key → the original commit. Permanent. */
  readonly idempotency = new IdemIndex();
  /** Txid → seq of its transaction. */
  readonly txids = new Map<string, number>();
  readonly sums = new Map<string, { debits: bigint; credits: bigint }>();
  sumsSaturated = false;
  /** `_system` only: the asset registry. */
  readonly assets = new Map<string, AssetDef>();
  /** The worker that writes this book; a state has one writer for its whole life (B2). */
  #writer: number | null = null;

  constructor(readonly book: string) {}

  /** Claims the book for one worker's writer. A second claim is a bug: the single-writer rule. */
  attachWriter(workerIndex: number): void {
    if (this.#writer !== null) {
      throw new Error(`single-writer rule violated: book ${this.book} already has the writer of worker ${this.#writer}`);
    }
    this.#writer = workerIndex;
  }

  get writer(): number | null {
    return this.#writer;
  }

  get lastSeq(): number {
    return this.seqNext - 1;
  }

  /** Applies one durable event (B1). Throws ApplyError when the event is impossible here. */
  apply(seq: number, atUs: number, event: LedgerEvent): ApplyOutcome {
    assert.equal(seq, this.seqNext);
    assert(Number.isSafeInteger(atUs));
    let outcome: ApplyOutcome = { sumsSaturatedNow: false, duplicate: null };
    switch (event.kind) {
      case 'asset_registered': {
        if (this.book !== SYSTEM_BOOK) throw new ApplyError(`asset_registered outside ${SYSTEM_BOOK}`);
        const { kind: _kind, ...def } = event;
        if (this.assets.has(def.id)) outcome = { ...outcome, duplicate: `asset ${def.id} registered again` };
        else this.assets.set(def.id, def);
        break;
      }
      case 'account_opened': {
        if (event.def.id.book !== this.book) throw new ApplyError(`account ${accountKey(event.def.id)} opened in book ${this.book}`);
        const key = accountKey(event.def.id);
        if (this.accounts.has(key)) {
          outcome = { ...outcome, duplicate: `account ${key} opened again` };
        } else {
          this.accounts.set(key, { def: event.def, cfg: event.cfg, rawBalance: 0n, updatedSeq: 0, postings: new PostingIndex() });
        }
        break;
      }
      case 'transaction_posted':
        outcome = this.#applyTransaction(seq, atUs, event);
        break;
    }
    this.seqNext = seq + 1;
    this.atLastUs = atUs;
    return outcome;
  }

  #applyTransaction(seq: number, atUs: number, tx: Transaction): ApplyOutcome {
    if (tx.book !== this.book) throw new ApplyError(`transaction of book ${tx.book} in book ${this.book}`);
    // Compute and check everything first (B1).
    const balances = new Map<AccountState, bigint>();
    const raws: bigint[] = [];
    const accounts: AccountState[] = [];
    for (const posting of tx.postings) {
      const key = accountKey(posting.account);
      const account = posting.account.book === this.book ? this.accounts.get(key) : undefined;
      if (account === undefined) throw new ApplyError(`posting to unknown account ${key}`);
      if (account.def.asset !== posting.amount.asset) {
        throw new ApplyError(`posting in ${posting.amount.asset} to ${key}, which holds ${account.def.asset}`);
      }
      const before = balances.get(account) ?? account.rawBalance;
      const after = before + (posting.direction === 'debit' ? posting.amount.minor : -posting.amount.minor);
      if (after < I64_MIN || after > I64_MAX) throw new ApplyError(`balance of ${key} leaves the i64 range`);
      balances.set(account, after);
      raws.push(after);
      accounts.push(account);
    }
    // Write.
    let saturatedNow = false;
    for (let index = 0; index < tx.postings.length; index++) {
      const posting = tx.postings[index]!;
      const account = accounts[index]!;
      account.rawBalance = raws[index]!;
      account.updatedSeq = seq;
      account.postings.push({
        seq,
        atUs,
        txid: tx.id,
        minor: posting.amount.minor,
        direction: posting.direction,
        rawAfter: raws[index]!,
      });
      const row = this.sums.get(posting.amount.asset) ?? { debits: 0n, credits: 0n };
      const column = posting.direction === 'debit' ? 'debits' : 'credits';
      const { sum, saturated } = saturatingAdd(row[column], posting.amount.minor);
      row[column] = sum;
      this.sums.set(posting.amount.asset, row);
      if (saturated && !this.sumsSaturated) {
        this.sumsSaturated = true;
        saturatedNow = true;
      }
    }
    let duplicate: string | null = null;
    if (!this.idempotency.insert(tx.idempotency_key, { txid: tx.id, seq, atUs })) {
      duplicate = `idempotency key ${JSON.stringify(tx.idempotency_key)} seen again`;
    }
    if (this.txids.has(tx.id)) duplicate = `txid ${tx.id} seen again`;
    else this.txids.set(tx.id, seq);
    return { sumsSaturatedNow: saturatedNow, duplicate };
  }

  // --- reads from memory (section 7.4) ------------------------------------------------------

  account(id: AccountId): AccountState {
    const account = id.book === this.book ? this.accounts.get(accountKey(id)) : undefined;
    if (account === undefined) throw StoreError.unknownAccount(id);
    return account;
  }

  balance(id: AccountId, asOfUs: number | null): { minor: bigint; asset: string; updatedSeq: number } {
    const account = this.account(id);
    if (asOfUs === null) {
      return { minor: effectiveBalance(account.cfg, account.rawBalance), asset: account.def.asset, updatedSeq: account.updatedSeq };
    }
    const index = account.postings.firstAfterAtUs(asOfUs) - 1;
    if (index < 0) return { minor: 0n, asset: account.def.asset, updatedSeq: 0 };
    return {
      minor: effectiveBalance(account.cfg, account.postings.rawAfterAt(index)),
      asset: account.def.asset,
      updatedSeq: account.postings.seqAt(index),
    };
  }

  history(id: AccountId, afterSeq: number, limit: number): PostingRecord[] {
    const account = this.account(id);
    const records: PostingRecord[] = [];
    const postings = account.postings;
    let seqCount = 0;
    let lastSeq = -1;
    for (let index = postings.firstAfterSeq(afterSeq); index < postings.length; index++) {
      const entry = postings.get(index);
      if (entry.seq !== lastSeq) {
        if (seqCount === limit) break;
        seqCount++;
        lastSeq = entry.seq;
      }
      records.push({
        seq: entry.seq,
        txid: entry.txid,
        account: { book: id.book, path: id.path },
        amount: { minor: entry.minor, asset: account.def.asset },
        direction: entry.direction,
        at: formatAtUs(entry.atUs),
      });
    }
    return records;
  }

  trialBalance(): TrialBalanceRow[] {
    return sortRows(this.sums);
  }
}

/** Trial-balance rows sorted by asset id in UTF-8 byte order. */
export function sortRows(sums: Map<string, { debits: bigint; credits: bigint }>): TrialBalanceRow[] {
  return [...sums.entries()]
    .sort(([left], [right]) => Buffer.compare(Buffer.from(left), Buffer.from(right)))
    .map(([asset, row]) => ({ asset, debits: row.debits, credits: row.credits }));
}

// --- validation (sections 6.3, 6.4, 7.3) ------------------------------------------------------

/** The effects of the jobs accepted earlier in the same batch (section 6.4). */
export class BatchOverlay {
  readonly rawBalances = new Map<AccountState, bigint>();
  readonly accounts = new Map<string, { def: AccountDef; cfg: AccountCfg }>();
  readonly assets = new Map<string, AssetDef>();
  readonly keys = new Map<string, { tx: Transaction; committed: Committed }>();
  readonly txids = new Set<string>();
  /** Accounts staged in this batch are not in BookState yet; commits may post to them. */
  readonly stagedAccounts = new Map<string, AccountState>();
}

export type CommitVerdict =
  | { kind: 'replay'; committed: Committed }
  | { kind: 'accept'; projected: Map<AccountState, bigint> };

/** Loads the original of a committed key: its transaction and Committed (one positioned read). */
export type OriginalLoader = (seq: number) => { tx: Transaction; committed: Committed };

export function validateCommit(
  state: BookState,
  overlay: BatchOverlay,
  tx: Transaction,
  txidForeign: boolean,
  loadOriginal: OriginalLoader,
): CommitVerdict {
  // 1. Idempotency: a batchmate first, then the committed index.
  const batchmate = overlay.keys.get(tx.idempotency_key);
  if (batchmate !== undefined) {
    if (sameTransactionContent(batchmate.tx, tx)) return { kind: 'replay', committed: { ...batchmate.committed } };
    throw StoreError.idempotencyConflict(state.book, tx.idempotency_key, { ...batchmate.committed });
  }
  const record = state.idempotency.get(tx.idempotency_key);
  if (record !== undefined) {
    const original = loadOriginal(record.seq);
    if (sameTransactionContent(original.tx, tx)) return { kind: 'replay', committed: original.committed };
    throw StoreError.idempotencyConflict(state.book, tx.idempotency_key, original.committed);
  }
  // 2. Txid uniqueness.
  if (txidForeign || state.txids.has(tx.id) || overlay.txids.has(tx.id)) {
    throw StoreError.alreadyExists(`transaction ${tx.id}`);
  }
  // 3. Postings, one at a time: open in this book, same asset.
  const accounts: AccountState[] = [];
  for (const posting of tx.postings) {
    const key = accountKey(posting.account);
    const account =
      posting.account.book === state.book ? (state.accounts.get(key) ?? overlay.stagedAccounts.get(key)) : undefined;
    if (account === undefined) throw StoreError.unknownAccount({ ...posting.account });
    if (account.def.asset !== posting.amount.asset) {
      throw StoreError.assetMismatch({ ...posting.account }, account.def.asset, posting.amount.asset);
    }
    accounts.push(account);
  }
  // 4. Overflow: checked per-account deltas in order, then the projected balances.
  const deltas = new Map<AccountState, bigint>();
  for (let index = 0; index < tx.postings.length; index++) {
    const posting = tx.postings[index]!;
    const account = accounts[index]!;
    const delta = (deltas.get(account) ?? 0n) + (posting.direction === 'debit' ? posting.amount.minor : -posting.amount.minor);
    if (delta < I64_MIN || delta > I64_MAX) throw StoreError.overflow({ ...posting.account });
    deltas.set(account, delta);
  }
  const projected = new Map<AccountState, bigint>();
  for (const [account, delta] of deltas) {
    const raw = (overlay.rawBalances.get(account) ?? account.rawBalance) + delta;
    if (raw < I64_MIN || raw > I64_MAX) throw StoreError.overflow({ ...account.def.id });
    if (account.cfg.normal_side === 'credit' && raw === I64_MIN) throw StoreError.overflow({ ...account.def.id });
    projected.set(account, raw);
  }
  // 5. Minimum balance on the effective balance after the whole transaction.
  for (const [account, raw] of projected) {
    const minBalance = account.cfg.min_balance;
    if (minBalance === null) continue;
    const wouldBe = effectiveBalance(account.cfg, raw);
    if (wouldBe < minBalance) throw StoreError.constraintViolation({ ...account.def.id }, minBalance, wouldBe);
  }
  return { kind: 'accept', projected };
}

/** Folds an accepted commit into the overlay. */
export function stageCommit(overlay: BatchOverlay, tx: Transaction, verdict: Extract<CommitVerdict, { kind: 'accept' }>, committed: Committed): void {
  for (const [account, raw] of verdict.projected) overlay.rawBalances.set(account, raw);
  overlay.keys.set(tx.idempotency_key, { tx, committed });
  overlay.txids.add(tx.id);
}

export type OpenAccountVerdict = 'identical' | 'new';

export function validateOpenAccount(
  state: BookState,
  overlay: BatchOverlay,
  def: AccountDef,
  cfg: AccountCfg,
  assetKnown: (id: string) => boolean,
): OpenAccountVerdict {
  if (!assetKnown(def.asset)) throw StoreError.unknownAsset(def.asset);
  const key = accountKey(def.id);
  const existing = state.accounts.get(key) ?? overlay.accounts.get(key);
  if (existing === undefined) return 'new';
  if (sameAccount(existing, { def, cfg })) return 'identical';
  throw StoreError.alreadyExists(`account ${key}`);
}

export function stageOpenAccount(overlay: BatchOverlay, def: AccountDef, cfg: AccountCfg): void {
  const key = accountKey(def.id);
  overlay.accounts.set(key, { def, cfg });
  overlay.stagedAccounts.set(key, { def, cfg, rawBalance: 0n, updatedSeq: 0, postings: new PostingIndex() });
}

