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
 * B5. No transaction repeats an earlier txid or idempotency key of its book: validation refuses
 *     one at commit, and replay refuses a log that holds one (RepeatError, row R20), since no
 *     correct writer produces it and applying it would post the transaction twice.
 */
import assert from 'node:assert/strict';
import { accountKey, parseAccountKey } from '../core/account-key.js';
import { StoreError } from '../core/errors.js';
import { PostingIndex, postingRecordsOf, readTxid, writeTxid, type HistoryColumns } from './posting-index.js';
import { isDebit, keyOf, type DecodedFrames } from './replay-decode.js';
import { IdemIndex } from './idem-index.js';
import { TxidTable } from './txid-table.js';
import { AccountClasses, AccountState, AccountTable } from './account-table.js';

export { AccountState } from './account-table.js';
import { sameAccount, sameTransactionContent } from '../core/identity.js';
import {
  I64_MAX,
  I64_MIN,
  SYSTEM_BOOK,
  type AccountCfg,
  type AccountDef,
  type AccountId,
  type AssetDef,
  type Committed,
  type Direction,
  type LedgerEvent,
  type PostingRecord,
  type Transaction,
  type TrialBalanceRow,
} from '../core/types.js';
import { sortRows } from '../core/trial-balance.js';

/** Read-only stand-in for an account with no postings; nothing ever appends to it. */
const NO_POSTINGS = new PostingIndex();

/** An account's posting index for reading (empty when it never had a posting). */
export function postingsOf(account: AccountState): PostingIndex {
  return account.postings ?? NO_POSTINGS;
}

/** One posting as the writer sees it: the account's flat key, asset, amount and direction. */
const TXID_BYTES = 16;

export interface PostingEffect {
  key: string;
  asset: string;
  minor: bigint;
  direction: Direction;
}

/** What a transaction does to a book: all the writer needs to validate and apply it. */
export interface CommitEffect {
  txid: string;
  key: string;
  postings: PostingEffect[];
}

/** `keyOf` makes each posting's flat key (replay passes one that remembers the keys it made). */
export function effectOf(tx: Transaction, keyOf: (id: AccountId) => string = accountKey): CommitEffect {
  return {
    txid: tx.id,
    key: tx.idempotency_key,
    postings: tx.postings.map((posting) => ({
      key: keyOf(posting.account),
      asset: posting.amount.asset,
      minor: posting.amount.minor,
      direction: posting.direction,
    })),
  };
}


/** An event that decodes but cannot be applied (row R10 at replay). */
export class ApplyError extends Error {
  override readonly name = 'ApplyError';
}

/**
 * A transaction that repeats the txid or the idempotency key of an earlier transaction of the book
 * (B5; row R20 at replay). `txidSeq` and `keySeq` are the seqs of the earlier ones, null for what
 * does not repeat.
 */
export class RepeatError extends Error {
  override readonly name = 'RepeatError';
  constructor(
    readonly txid: string,
    readonly key: string,
    readonly txidSeq: number | null,
    readonly keySeq: number | null,
  ) {
    super(`transaction ${txid} repeats an earlier transaction of its book`);
  }
}

export interface ApplyOutcome {
  /** The lifetime sums saturated for the first time since open: warn once. */
  sumsSaturatedNow: boolean;
  /** An account or asset defined again, as a Rust-written log may hold; the first stays: warn. */
  duplicate: string | null;
}


export class BookState {
  seqNext = 1;
  atLastUs: number | null = null;
  readonly accounts: AccountTable;
  /** What the book's accounts share, one per combination (account-table A1). */
  readonly accountClasses = new AccountClasses();
  /** Idempotency key → the original commit. Permanent. */
  readonly idempotency = new IdemIndex();
  /** Txid → seq of its transaction. */
  readonly txids = new TxidTable();
  readonly sums = new Map<string, { debits: bigint; credits: bigint }>();
  sumsSaturated = false;
  /** `_system` only: the asset registry. */
  readonly assets = new Map<string, AssetDef>();
  /** Account path → flat key in this book, for replay (one entry per path posted to). */
  readonly #flatKeys = new Map<string, string>();
  /** The txid of the commit being applied, as 16 bytes: parsed once for every index it enters. */
  readonly #txidScratch = new Uint8Array(16);
  /** The worker that writes this book; a state has one writer for its whole life (B2). */
  #writer: number | null = null;

  constructor(readonly book: string) {
    this.accounts = new AccountTable(book);
  }

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
        if (this.accounts.byId(event.def.id) !== undefined) {
          outcome = { ...outcome, duplicate: `account ${this.accounts.keyOf(event.def.id.path)} opened again` };
        } else {
          this.accounts.add(AccountState.open(event.def, event.cfg, this.accounts.size, this.accountClasses));
        }
        break;
      }
      case 'transaction_posted': {
        if (event.book !== this.book) throw new ApplyError(`transaction of book ${event.book} in book ${this.book}`);
        // B5, before anything changes (B1).
        const txidSeq = this.txids.get(event.id) ?? null;
        const keySeq = this.#earlierKeySeq(seq, event.idempotency_key);
        if (txidSeq !== null || keySeq !== null) throw new RepeatError(event.id, event.idempotency_key, txidSeq, keySeq);
        outcome = this.#applyCommit(seq, atUs, effectOf(event, this.#flatKeyOf), false);
        break;
      }
    }
    this.seqNext = seq + 1;
    this.atLastUs = atUs;
    return outcome;
  }

  /**
   * Applies a transaction of this book that a replay helper decoded (src/log/replay-decode.ts,
   * entry `entry` of `decoded`): the checks and effects `apply` gives the same transaction.
   * `keyOfPath` keeps the flat key of each of the segment's strings met as an account path.
   */
  applyDecoded(seq: number, atUs: number, decoded: DecodedFrames, entry: number, keyOfPath: Array<string | undefined>): void {
    assert.equal(seq, this.seqNext);
    assert(Number.isSafeInteger(atUs));
    const txidOffset = entry * TXID_BYTES;
    const key = keyOf(decoded, entry);
    const txidSeq = this.txids.getBytes(decoded.txids, txidOffset) ?? null;
    const keySeq = this.#earlierKeySeq(seq, key);
    if (txidSeq !== null || keySeq !== null) throw new RepeatError(readTxid(decoded.txids, txidOffset), key, txidSeq, keySeq);
    const first = entry === 0 ? 0 : decoded.postingEnds[entry - 1]!;
    const end = decoded.postingEnds[entry]!;
    const postings: PostingEffect[] = new Array(end - first);
    for (let posting = first; posting < end; posting++) {
      const path = decoded.paths[posting]!;
      postings[posting - first] = {
        key: (keyOfPath[path] ??= this.flatKeyOfPath(decoded.strings[path]!)),
        asset: decoded.strings[decoded.assets[posting]!]!,
        minor: decoded.minors[posting]!,
        direction: isDebit(decoded, posting) ? 'debit' : 'credit',
      };
    }
    this.#txidScratch.set(decoded.txids.subarray(txidOffset, txidOffset + TXID_BYTES));
    this.#applyEffect(seq, atUs, key, postings, false);
    this.seqNext = seq + 1;
    this.atLastUs = atUs;
  }

  /**
   * The seq of an earlier transaction of `key`, for a replayed event of `seq` (B5). A key at or
   * below spilledThroughSeq is one replay finds already in a run, which this package checked when
   * it first applied it.
   */
  #earlierKeySeq(seq: number, key: string): number | null {
    return seq <= this.idempotency.spilledThroughSeq ? null : (this.idempotency.get(key)?.seq ?? null);
  }

  /** The flat key of an account path of this book (accountKey), made once per path. */
  flatKeyOfPath(path: string): string {
    return this.#flatKeyOf({ book: this.book, path });
  }

  /** accountKey, made once per account path of this book rather than once per replayed posting. */
  readonly #flatKeyOf = (id: AccountId): string => {
    if (id.book !== this.book) return accountKey(id);
    let key = this.#flatKeys.get(id.path);
    if (key === undefined) {
      key = this.accounts.keyOf(id.path);
      this.#flatKeys.set(id.path, key);
    }
    return key;
  };

  /**
   * Applies one durable commit (B1), the writer's fast path: no event object, and no second
   * idempotency lookup, because the commit was validated against this state in its batch.
   */
  applyCommit(seq: number, atUs: number, commit: CommitEffect): ApplyOutcome {
    assert.equal(seq, this.seqNext);
    assert(Number.isSafeInteger(atUs));
    const outcome = this.#applyCommit(seq, atUs, commit, true);
    this.seqNext = seq + 1;
    this.atLastUs = atUs;
    return outcome;
  }

  #applyCommit(seq: number, atUs: number, tx: CommitEffect, validated: boolean): ApplyOutcome {
    writeTxid(this.#txidScratch, 0, tx.txid);
    return this.#applyEffect(seq, atUs, tx.key, tx.postings, validated);
  }

  /** #applyCommit for a transaction whose txid is in #txidScratch. */
  #applyEffect(seq: number, atUs: number, key: string, postings: readonly PostingEffect[], validated: boolean): ApplyOutcome {
    // Compute and check everything first (B1). Flat keys of other books never match this book's.
    const count = postings.length;
    const accounts: AccountState[] = new Array(count);
    const running: bigint[] = new Array(count);
    for (let index = 0; index < count; index++) {
      const posting = postings[index]!;
      const account = this.accounts.get(posting.key);
      if (account === undefined) throw new ApplyError(`posting to unknown account ${posting.key}`);
      if (account.asset !== posting.asset) {
        throw new ApplyError(`posting in ${posting.asset} to ${posting.key}, which holds ${account.asset}`);
      }
      // The account's running balance: after its latest earlier posting in this transaction.
      let before = account.rawBalance;
      for (let earlier = index - 1; earlier >= 0; earlier--) {
        if (accounts[earlier] === account) {
          before = running[earlier]!;
          break;
        }
      }
      accounts[index] = account;
      running[index] = before + (posting.direction === 'debit' ? posting.minor : -posting.minor);
    }
    // Each posting records its account's balance after the whole transaction (they share seq and
    // at), and only that final balance must fit in i64 (store-contract 7.3 step 7): a running sum
    // between two postings of one account may leave the range, as validation allows.
    const finals: bigint[] = new Array(count);
    for (let index = count - 1; index >= 0; index--) {
      let final = running[index]!;
      for (let later = index + 1; later < count; later++) {
        if (accounts[later] === accounts[index]) {
          final = finals[later]!;
          break;
        }
      }
      if (final < I64_MIN || final > I64_MAX) throw new ApplyError(`balance of ${accountKey(accounts[index]!.id)} leaves the i64 range`);
      finals[index] = final;
    }
    // Write.
    const txid = this.#txidScratch;
    let saturatedNow = false;
    for (let index = 0; index < count; index++) {
      const posting = postings[index]!;
      const account = accounts[index]!;
      (account.postings ??= new PostingIndex()).append(seq, atUs, txid, posting.minor, posting.direction, finals[index]!);
      let row = this.sums.get(posting.asset);
      if (row === undefined) {
        row = { debits: 0n, credits: 0n };
        this.sums.set(posting.asset, row);
      }
      const debit = posting.direction === 'debit';
      const sum = (debit ? row.debits : row.credits) + posting.minor;
      const saturated = sum > I64_MAX || sum < I64_MIN;
      const kept = sum > I64_MAX ? I64_MAX : sum < I64_MIN ? I64_MIN : sum;
      if (debit) row.debits = kept;
      else row.credits = kept;
      if (saturated && !this.sumsSaturated) {
        this.sumsSaturated = true;
        saturatedNow = true;
      }
    }
    // Both inserts succeed: the writer validated the commit, and replay checked it first (B5), so
    // no second lookup. A replayed key at or below spilledThroughSeq is in a run already.
    const keyNew = (!validated && seq <= this.idempotency.spilledThroughSeq) || this.idempotency.insertNew(key, seq, atUs, txid);
    const txidNew = this.txids.setBytes(txid, 0, seq);
    if (!keyNew || !txidNew) assert.fail(`transaction ${readTxid(txid, 0)} repeats a txid or an idempotency key of book ${this.book}`);
    return { sumsSaturatedNow: saturatedNow, duplicate: null };
  }

  // --- reads from memory (section 7.4) ------------------------------------------------------

  account(id: AccountId): AccountState {
    const account = this.accounts.byId(id);
    if (account === undefined) throw StoreError.unknownAccount(id);
    return account;
  }

  balance(id: AccountId, asOfUs: number | null): { minor: bigint; asset: string; updatedSeq: number } {
    const account = this.account(id);
    if (asOfUs === null) {
      return { minor: account.effective(account.rawBalance), asset: account.asset, updatedSeq: account.updatedSeq };
    }
    const postings = postingsOf(account);
    const index = postings.firstAfterAtUs(asOfUs) - 1;
    if (index < 0) return { minor: 0n, asset: account.asset, updatedSeq: 0 };
    return {
      minor: account.effective(postings.rawAfterAt(index)),
      asset: account.asset,
      updatedSeq: postings.seqAt(index),
    };
  }

  /** A page of an account's history as columns, with the asset its records carry. */
  historyPage(id: AccountId, afterSeq: number, limit: number): { page: HistoryColumns; asset: string } {
    const account = this.account(id);
    return { page: postingsOf(account).historyPage(afterSeq, limit), asset: account.asset };
  }

  history(id: AccountId, afterSeq: number, limit: number): PostingRecord[] {
    const { page, asset } = this.historyPage(id, afterSeq, limit);
    return postingRecordsOf(page, id, asset);
  }

  trialBalance(): TrialBalanceRow[] {
    return sortRows(this.sums);
  }
}

// --- validation (sections 6.3, 6.4, 7.3) ------------------------------------------------------

/** A commit to validate: its effect, and its full content, produced only when a retry is compared. */
export interface CommitDraft extends CommitEffect {
  content(): Transaction;
}

export function draftOf(tx: Transaction): CommitDraft {
  return { ...effectOf(tx), content: () => tx };
}

/** The effects of the jobs accepted earlier in the same batch (section 6.4). */
export class BatchOverlay {
  readonly rawBalances = new Map<AccountState, bigint>();
  readonly accounts = new Map<string, { def: AccountDef; cfg: AccountCfg }>();
  readonly assets = new Map<string, AssetDef>();
  readonly keys = new Map<string, { draft: CommitDraft; committed: Committed }>();
  readonly txids = new Set<string>();
  /** Accounts staged in this batch are not in BookState yet; commits may post to them. */
  readonly stagedAccounts = new Map<string, AccountState>();
  /** What the staged accounts share (AccountState.open). */
  readonly accountClasses = new AccountClasses();
}

export type CommitVerdict =
  | { kind: 'replay'; committed: Committed }
  /** The accounts the commit touches, in order of first appearance, and their raw balances after it. */
  | { kind: 'accept'; accounts: AccountState[]; projected: bigint[] };

/** Loads the original of a committed key: its transaction and Committed (one positioned read). */
export type OriginalLoader = (seq: number) => { tx: Transaction; committed: Committed };

function accountIdOf(key: string): AccountId {
  const id = parseAccountKey(key);
  assert(id !== null); // built by accountKey on the main thread
  return id;
}

export function validateCommit(
  state: BookState,
  overlay: BatchOverlay,
  draft: CommitDraft,
  txidForeign: boolean,
  loadOriginal: OriginalLoader,
): CommitVerdict {
  // 1. Idempotency: a batchmate first, then the committed index.
  const batchmate = overlay.keys.get(draft.key);
  if (batchmate !== undefined) {
    if (sameTransactionContent(batchmate.draft.content(), draft.content())) return { kind: 'replay', committed: { ...batchmate.committed } };
    throw StoreError.idempotencyConflict(state.book, draft.key, { ...batchmate.committed });
  }
  const record = state.idempotency.get(draft.key);
  if (record !== undefined) {
    const original = loadOriginal(record.seq);
    if (sameTransactionContent(original.tx, draft.content())) return { kind: 'replay', committed: original.committed };
    throw StoreError.idempotencyConflict(state.book, draft.key, original.committed);
  }
  // 2. Txid uniqueness.
  if (txidForeign || state.txids.has(draft.txid) || overlay.txids.has(draft.txid)) {
    throw StoreError.alreadyExists(`transaction ${draft.txid}`);
  }
  // 3. Postings, one at a time: open in this book (a flat key of another book never matches), same asset.
  const postings = draft.postings;
  const accounts: AccountState[] = [];
  for (const posting of postings) {
    const account = state.accounts.get(posting.key) ?? overlay.stagedAccounts.get(posting.key);
    if (account === undefined) throw StoreError.unknownAccount(accountIdOf(posting.key));
    if (account.asset !== posting.asset) throw StoreError.assetMismatch(accountIdOf(posting.key), account.asset, posting.asset);
    accounts.push(account);
  }
  // 4. Overflow: checked per-account deltas in order, then the projected balances. Accounts in
  // order of first appearance; a transaction touches a handful, so a linear search beats a Map.
  const touched: AccountState[] = [];
  const deltas: bigint[] = [];
  for (let index = 0; index < postings.length; index++) {
    const posting = postings[index]!;
    const account = accounts[index]!;
    let slot = touched.indexOf(account);
    if (slot < 0) {
      slot = touched.push(account) - 1;
      deltas.push(0n);
    }
    const delta = deltas[slot]! + (posting.direction === 'debit' ? posting.minor : -posting.minor);
    if (delta < I64_MIN || delta > I64_MAX) throw StoreError.overflow(accountIdOf(posting.key));
    deltas[slot] = delta;
  }
  const projected: bigint[] = new Array(touched.length);
  for (let slot = 0; slot < touched.length; slot++) {
    const account = touched[slot]!;
    const raw = (overlay.rawBalances.get(account) ?? account.rawBalance) + deltas[slot]!;
    if (raw < I64_MIN || raw > I64_MAX) throw StoreError.overflow(account.id);
    if (account.normalSide === 'credit' && raw === I64_MIN) throw StoreError.overflow(account.id);
    projected[slot] = raw;
  }
  // 5. Minimum balance on the effective balance after the whole transaction.
  for (let slot = 0; slot < touched.length; slot++) {
    const account = touched[slot]!;
    const minBalance = account.minBalance;
    if (minBalance === null) continue;
    const wouldBe = account.effective(projected[slot]!);
    if (wouldBe < minBalance) throw StoreError.constraintViolation(account.id, minBalance, wouldBe);
  }
  return { kind: 'accept', accounts: touched, projected };
}

/** Folds an accepted commit into the overlay. */
export function stageCommit(overlay: BatchOverlay, draft: CommitDraft, verdict: Extract<CommitVerdict, { kind: 'accept' }>, committed: Committed): void {
  for (let slot = 0; slot < verdict.accounts.length; slot++) overlay.rawBalances.set(verdict.accounts[slot]!, verdict.projected[slot]!);
  overlay.keys.set(draft.key, { draft, committed });
  overlay.txids.add(draft.txid);
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
  overlay.stagedAccounts.set(key, AccountState.open(def, cfg, -1, overlay.accountClasses));
}

