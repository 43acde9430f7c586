/**
 * Book state unit tests (conformance.md Part 2, section 2.6): validation against BookState plus
 * the batch overlay, apply, input validation of reserved books, and the posting index.
 *
 * book_state_serde_round_trips and posting_index_serde_round_trips are not here: snapshots (the
 * snapshot codec) are a later issue.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accountKey } from '../src/core/account-key.js';
import {
  AccountState,
  ApplyError,
  BatchOverlay,
  BookState,
  RepeatError,
  draftOf,
  postingsOf,
  stageCommit,
  stageOpenAccount,
  validateCommit,
  validateOpenAccount,
  type OriginalLoader,
} from '../src/log/book-state.js';
import { StoreError, type StoreErrorCode } from '../src/core/errors.js';
import { normaliseTransaction } from '../src/core/input.js';
import { PostingIndex, type PostingEntry } from '../src/log/posting-index.js';
import {
  I64_MAX,
  I64_MIN,
  type AccountCfg,
  type AccountId,
  type Committed,
  type Direction,
  type LedgerEvent,
  type Posting,
  type Transaction,
} from '../src/core/types.js';

// --- fixture: cash (debit-normal, min 0), rev (credit-normal, no minimum), both USD ---------------

const BOOK = 'b';
const CASH: AccountId = { book: BOOK, path: 'cash' };
const REV: AccountId = { book: BOOK, path: 'rev' };
const AT_US = Date.UTC(2026, 5, 5, 12, 0, 0) * 1000;

function addAccount(state: BookState, path: string, cfg: AccountCfg, asset = 'USD', kind: 'asset' | 'income' = 'asset'): AccountState {
  const account = AccountState.open({ id: { book: state.book, path }, asset, kind }, cfg, state.accounts.size, state.accountClasses);
  account.postings = new PostingIndex();
  state.accounts.add(account);
  return account;
}

/** Puts an account at a raw balance, as a posting would (an account's balance is its last posting's). */
function setRaw(account: AccountState, raw: bigint): void {
  const seq = account.updatedSeq;
  (account.postings ??= new PostingIndex()).push({ seq, atUs: AT_US, txid: '00000000-0000-4000-8000-000000000000', minor: 0n, direction: 'debit', rawAfter: raw });
}

function fixture(): { state: BookState; cash: AccountState; rev: AccountState } {
  const state = new BookState(BOOK);
  const cash = addAccount(state, 'cash', { normal_side: 'debit', min_balance: 0n });
  const rev = addAccount(state, 'rev', { normal_side: 'credit', min_balance: null }, 'USD', 'income');
  return { state, cash, rev };
}

let txCounter = 0;

function txid(): string {
  txCounter++;
  return `0190f3c2-8c1e-7a4b-9d2e-${txCounter.toString(16).padStart(12, '0')}`;
}

function post(path: string, direction: Direction, minor: bigint, asset = 'USD', book = BOOK): Posting {
  return { account: { book, path }, amount: { minor, asset }, direction };
}

function tx(postings: Posting[], key = `key-${txCounter + 1}`, book = BOOK): Transaction {
  return { id: txid(), book, postings, idempotency_key: key, external_refs: [], metadata: null, occurred_at: '2026-06-05T12:00:00Z' };
}

const noOriginal: OriginalLoader = (seq) => assert.fail(`no original should be loaded (seq ${seq})`);

function validate(state: BookState, overlay: BatchOverlay, draft: Transaction) {
  return validateCommit(state, overlay, draftOf(draft), false, noOriginal);
}

/** Validates, and on acceptance stages into the overlay as the writer does. */
function validateAndStage(state: BookState, overlay: BatchOverlay, draft: Transaction, seq: number): void {
  const verdict = validate(state, overlay, draft);
  assert.equal(verdict.kind, 'accept');
  if (verdict.kind !== 'accept') return;
  const committed: Committed = { txid: draft.id, seq, at: '2026-06-05T12:00:00.000000Z' };
  stageCommit(overlay, draftOf(draft), verdict, committed);
}

function expectCode<C extends StoreErrorCode>(run: () => unknown, code: C): StoreError & Record<string, unknown> {
  let caught: unknown;
  assert.throws(run, (error) => {
    caught = error;
    assert(error instanceof StoreError, `expected a StoreError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
  return caught as StoreError & Record<string, unknown>;
}

/** Everything of an account that apply or validation could change. */
function accountView(account: AccountState): unknown {
  return { raw: account.rawBalance, updatedSeq: account.updatedSeq, postings: postingsOf(account).length };
}

function stateView(state: BookState): unknown {
  return {
    seqNext: state.seqNext,
    atLastUs: state.atLastUs,
    accounts: [...state.accounts.entries()].map(([key, account]) => [key, accountView(account)]),
    idempotency: [...state.idempotency.hotRecords()],
    txids: [...state.txids.entries()],
    sums: [...state.sums.entries()].map(([asset, row]) => [asset, row.debits, row.credits]),
  };
}

// --- conformance.md 2.6 ------------------------------------------------------------------------

test('overdraft_rejected_with_projected_would_be', () => {
  const { state } = fixture();
  const before = stateView(state);
  const error = expectCode(() => validate(state, new BatchOverlay(), tx([post('cash', 'credit', 100n), post('rev', 'debit', 100n)])), 'CONSTRAINT_VIOLATION');
  assert.deepEqual(error.account, CASH);
  assert.equal(error.would_be, -100n);
  assert.equal(error.min_balance, 0n);
  assert.deepEqual(stateView(state), before);
});

test('min_balance equality is allowed', () => {
  const { state, cash } = fixture();
  setRaw(cash, 100n);
  const verdict = validate(state, new BatchOverlay(), tx([post('cash', 'credit', 100n), post('rev', 'debit', 100n)]));
  assert.equal(verdict.kind, 'accept');
});

test('scratch_carries_earlier_batchmates_balances', () => {
  const { state, cash } = fixture();
  const overlay = new BatchOverlay();
  const before = stateView(state);
  validateAndStage(state, overlay, tx([post('cash', 'debit', 100n), post('rev', 'credit', 100n)], 'fund'), 1);
  assert.equal(overlay.rawBalances.get(cash), 100n);
  validateAndStage(state, overlay, tx([post('cash', 'credit', 80n), post('rev', 'debit', 80n)], 'spend80'), 2);
  assert.equal(overlay.rawBalances.get(cash), 20n);
  const error = expectCode(
    () => validate(state, overlay, tx([post('cash', 'credit', 30n), post('rev', 'debit', 30n)], 'spend30')),
    'CONSTRAINT_VIOLATION',
  );
  assert.equal(error.would_be, -10n);
  assert.equal(error.min_balance, 0n);
  assert.deepEqual(error.account, CASH);
  // Validation and staging never touch BookState (B3); the rejected job left the overlay alone.
  assert.deepEqual(stateView(state), before);
  assert.equal(overlay.rawBalances.get(cash), 20n);
  assert.deepEqual([...overlay.keys.keys()], ['fund', 'spend80']);
  // Without the overlay (a fresh batch), the same spend is judged against the committed state.
  assert.equal(expectCode(() => validate(state, new BatchOverlay(), tx([post('cash', 'credit', 30n)])), 'CONSTRAINT_VIOLATION').would_be, -30n);
});

test('a batchmate with the same key and content replays; different content conflicts', () => {
  const { state } = fixture();
  const overlay = new BatchOverlay();
  const fund = tx([post('cash', 'debit', 100n), post('rev', 'credit', 100n)], 'fund');
  validateAndStage(state, overlay, fund, 1);
  const retry = { ...fund, id: txid() };
  const verdict = validate(state, overlay, retry);
  assert.deepEqual(verdict, { kind: 'replay', committed: { txid: fund.id, seq: 1, at: '2026-06-05T12:00:00.000000Z' } });
  const changed = { ...fund, postings: [post('cash', 'debit', 101n), post('rev', 'credit', 101n)] };
  const error = expectCode(() => validate(state, overlay, changed), 'IDEMPOTENCY_CONFLICT');
  assert.deepEqual(error.original, { txid: fund.id, seq: 1, at: '2026-06-05T12:00:00.000000Z' });
  // A batchmate's txid is taken.
  expectCode(() => validate(state, overlay, { ...tx([post('cash', 'debit', 1n)], 'other'), id: fund.id }), 'ALREADY_EXISTS');
});

test('unknown_account_and_asset_mismatch', () => {
  const { state } = fixture();
  const overlay = new BatchOverlay();
  const unknown = expectCode(() => validate(state, overlay, tx([post('cash', 'debit', 1n), post('nope', 'credit', 1n)])), 'UNKNOWN_ACCOUNT');
  assert.deepEqual(unknown.account, { book: BOOK, path: 'nope' });
  const mismatch = expectCode(() => validate(state, overlay, tx([post('cash', 'debit', 1n, 'BTC'), post('rev', 'credit', 1n)])), 'ASSET_MISMATCH');
  assert.deepEqual(mismatch.account, CASH);
  assert.equal(mismatch.account_asset, 'USD');
  assert.equal(mismatch.asset, 'BTC');
  // Postings are checked one at a time in order: the first bad posting decides.
  const first = expectCode(() => validate(state, overlay, tx([post('rev', 'credit', 1n, 'EUR'), post('nope', 'debit', 1n)])), 'ASSET_MISMATCH');
  assert.deepEqual(first.account, REV);
  // Another book's account is unknown here, even with the same path.
  const foreign = expectCode(() => validate(state, overlay, tx([post('cash', 'debit', 1n, 'USD', 'other')])), 'UNKNOWN_ACCOUNT');
  assert.deepEqual(foreign.account, { book: 'other', path: 'cash' });
});

test('an account opened earlier in the batch can be posted to', () => {
  const { state } = fixture();
  const overlay = new BatchOverlay();
  const def = { id: { book: BOOK, path: 'fresh' }, asset: 'USD', kind: 'asset' as const };
  const cfg: AccountCfg = { normal_side: 'debit', min_balance: 0n };
  assert.equal(validateOpenAccount(state, overlay, def, cfg, () => true), 'new');
  stageOpenAccount(overlay, def, cfg);
  assert.equal(validateOpenAccount(state, overlay, def, cfg, () => true), 'identical');
  expectCode(() => validateOpenAccount(state, overlay, def, { normal_side: 'credit', min_balance: 0n }, () => true), 'ALREADY_EXISTS');
  validateAndStage(state, overlay, tx([post('fresh', 'debit', 5n), post('rev', 'credit', 5n)]), 2);
  const error = expectCode(() => validate(state, overlay, tx([post('fresh', 'credit', 6n), post('rev', 'debit', 6n)])), 'CONSTRAINT_VIOLATION');
  assert.equal(error.would_be, -1n);
  assert.equal(state.accounts.has(accountKey(def.id)), false);
  expectCode(() => validateOpenAccount(state, new BatchOverlay(), { ...def, asset: 'XYZ' }, cfg, (id) => id === 'USD'), 'UNKNOWN_ASSET');
});

test('reserved_book_rejected', () => {
  const draft = tx([post('cash', 'debit', 1n, 'USD', '_system'), post('rev', 'credit', 1n, 'USD', '_system')], 'k', '_system');
  const error = expectCode(() => normaliseTransaction(draft), 'INVALID_BOOK');
  assert.equal(error.book, '_system');
  assert.equal(error.reason, 'reserved');
});

test('reserved_book_wins_over_unknown_account', () => {
  const draft = tx([post('ghost', 'debit', 1n, 'USD', '_x'), post('ghost2', 'credit', 1n, 'USD', '_x')], 'k', '_x');
  const error = expectCode(() => normaliseTransaction(draft), 'INVALID_BOOK');
  assert.equal(error.book, '_x');
  assert.equal(error.reason, 'reserved');
  // Also ahead of other shape errors in the draft.
  expectCode(() => normaliseTransaction({ ...draft, id: 'not-a-uuid', postings: 'nope' }), 'INVALID_BOOK');
});

test('apply_updates_balances_indexes_and_sums', () => {
  const { state, cash, rev } = fixture();
  const draft = tx([post('cash', 'debit', 100n), post('rev', 'credit', 100n)], 'k1');
  const outcome = state.apply(1, AT_US, { kind: 'transaction_posted', ...draft });
  assert.deepEqual(outcome, { sumsSaturatedNow: false, duplicate: null });
  assert.equal(cash.rawBalance, 100n);
  assert.equal(cash.updatedSeq, 1);
  assert.equal(postingsOf(cash).length, 1);
  assert.deepEqual(postingsOf(cash).get(0), { seq: 1, atUs: AT_US, txid: draft.id, minor: 100n, direction: 'debit', rawAfter: 100n });
  assert.equal(rev.rawBalance, -100n);
  assert.equal(rev.updatedSeq, 1);
  assert.deepEqual(postingsOf(rev).get(0), { seq: 1, atUs: AT_US, txid: draft.id, minor: 100n, direction: 'credit', rawAfter: -100n });
  assert.deepEqual(state.trialBalance(), [{ asset: 'USD', debits: 100n, credits: 100n }]);
  const record = state.idempotency.get('k1'); // in the hot map, at the back of the FIFO
  assert(record !== undefined);
  assert.equal(record.seq, 1);
  assert.equal(record.txid, draft.id);
  assert.equal(record.atUs, AT_US);
  assert.deepEqual([...state.idempotency.hotRecords()].map(([key]) => key), ['k1']);
  assert.equal(state.txids.get(draft.id), 1);
  assert.equal(state.seqNext, 2);
  assert.equal(state.lastSeq, 1);
  assert.equal(state.atLastUs, AT_US);
  // Reads from memory.
  assert.deepEqual(state.balance(CASH, null), { minor: 100n, asset: 'USD', updatedSeq: 1 });
  assert.deepEqual(state.balance(REV, null), { minor: 100n, asset: 'USD', updatedSeq: 1 }); // credit-normal: effective
  assert.deepEqual(state.balance(CASH, AT_US - 1), { minor: 0n, asset: 'USD', updatedSeq: 0 });
  assert.deepEqual(state.balance(CASH, AT_US), { minor: 100n, asset: 'USD', updatedSeq: 1 });
  // The applied key and txid now decide validation: a same-content retry replays the original.
  const verdict = validateCommit(state, new BatchOverlay(), draftOf({ ...draft, id: txid() }), false, (seq) => {
    assert.equal(seq, 1);
    return { tx: draft, committed: { txid: draft.id, seq: 1, at: '2026-06-05T12:00:00.000000Z' } };
  });
  assert.equal(verdict.kind, 'replay');
  expectCode(() => validate(state, new BatchOverlay(), { ...tx([post('cash', 'debit', 1n)], 'k2'), id: draft.id }), 'ALREADY_EXISTS');
});

test('apply of account_opened and asset_registered', () => {
  const state = new BookState(BOOK);
  state.apply(1, AT_US, {
    kind: 'account_opened',
    def: { id: CASH, asset: 'USD', kind: 'asset' },
    cfg: { normal_side: null, min_balance: null },
  });
  assert.equal(state.accounts.get(accountKey(CASH))?.rawBalance, 0n);
  assert.equal(state.seqNext, 2);
  const again = state.apply(2, AT_US, {
    kind: 'account_opened',
    def: { id: CASH, asset: 'EUR', kind: 'asset' },
    cfg: { normal_side: null, min_balance: null },
  });
  assert.notEqual(again.duplicate, null); // a Rust log may hold it: the first definition stays
  assert.equal(state.accounts.get(accountKey(CASH))?.def.asset, 'USD');
  assert.throws(() => state.apply(3, AT_US, { kind: 'asset_registered', id: 'USD', class: 'fiat', precision: 2, name: 'Dollar' }), ApplyError);
  assert.equal(state.seqNext, 3);
  const system = new BookState('_system');
  system.apply(1, AT_US, { kind: 'asset_registered', id: 'USD', class: 'fiat', precision: 2, name: 'Dollar' });
  assert.deepEqual(system.assets.get('USD'), { id: 'USD', class: 'fiat', precision: 2, name: 'Dollar' });
});

test('overflow_in_projection_is_rejected_not_wrapped', () => {
  const { state, cash } = fixture();
  setRaw(cash, I64_MAX);
  const overlay = new BatchOverlay();
  const before = stateView(state);
  const error = expectCode(() => validate(state, overlay, tx([post('cash', 'debit', 1n), post('rev', 'credit', 1n)])), 'OVERFLOW');
  assert.deepEqual(error.account, CASH);
  assert.deepEqual(stateView(state), before);
  assert.equal(cash.rawBalance, I64_MAX);
  assert.equal(overlay.rawBalances.size, 0);
  assert.equal(overlay.keys.size, 0);
  // Through the overlay: a batchmate brought cash to the limit.
  const { state: other, cash: otherCash } = fixture();
  const batch = new BatchOverlay();
  setRaw(otherCash, I64_MAX - 10n);
  validateAndStage(other, batch, tx([post('cash', 'debit', 10n), post('rev', 'credit', 10n)]), 1);
  assert.deepEqual(expectCode(() => validate(other, batch, tx([post('cash', 'debit', 1n)])), 'OVERFLOW').account, CASH);
  // An intermediate fold outside i64 is OVERFLOW even if later postings would bring it back.
  const { state: third } = fixture();
  const folded = expectCode(
    () => validate(third, new BatchOverlay(), tx([post('cash', 'debit', I64_MAX), post('cash', 'debit', 1n), post('cash', 'credit', 5n)])),
    'OVERFLOW',
  );
  assert.deepEqual(folded.account, CASH);
});

test('same_account_twice_in_one_tx_folds_cumulatively', () => {
  const { state } = fixture();
  const error = expectCode(
    () => validate(state, new BatchOverlay(), tx([post('cash', 'debit', 100n), post('cash', 'credit', 60n), post('cash', 'credit', 60n)])),
    'CONSTRAINT_VIOLATION',
  );
  assert.equal(error.would_be, -20n);
  assert.deepEqual(error.account, CASH);
  // The minimum applies to the balance after the whole transaction, not after each posting.
  const verdict = validate(state, new BatchOverlay(), tx([post('cash', 'credit', 60n), post('cash', 'debit', 100n), post('cash', 'credit', 40n)]));
  assert.equal(verdict.kind, 'accept');
});

test('the first violator in posting order is reported', () => {
  const make = () => {
    const { state } = fixture();
    addAccount(state, 'savings', { normal_side: 'debit', min_balance: 0n });
    addAccount(state, 'loan', { normal_side: 'credit', min_balance: -5n }, 'USD', 'income');
    return state;
  };
  const savingsFirst = expectCode(
    () => validate(make(), new BatchOverlay(), tx([post('savings', 'credit', 10n), post('cash', 'credit', 20n), post('rev', 'debit', 30n)])),
    'CONSTRAINT_VIOLATION',
  );
  assert.deepEqual(savingsFirst.account, { book: BOOK, path: 'savings' });
  assert.equal(savingsFirst.would_be, -10n);
  const cashFirst = expectCode(
    () => validate(make(), new BatchOverlay(), tx([post('cash', 'credit', 20n), post('savings', 'credit', 10n), post('rev', 'debit', 30n)])),
    'CONSTRAINT_VIOLATION',
  );
  assert.deepEqual(cashFirst.account, CASH);
  assert.equal(cashFirst.would_be, -20n);
  // Order of first appearance: loan appears first (its second posting does not move it back).
  const loanFirst = expectCode(
    () =>
      validate(
        make(),
        new BatchOverlay(),
        tx([post('loan', 'debit', 3n), post('cash', 'credit', 1n), post('loan', 'debit', 3n), post('rev', 'credit', 5n)]),
      ),
    'CONSTRAINT_VIOLATION',
  );
  assert.deepEqual(loanFirst.account, { book: BOOK, path: 'loan' });
  assert.equal(loanFirst.would_be, -6n);
  assert.equal(loanFirst.min_balance, -5n);
});

test('an effective balance of 2^63 is OVERFLOW', () => {
  const { state, rev } = fixture();
  setRaw(rev, I64_MIN + 5n);
  const error = expectCode(() => validate(state, new BatchOverlay(), tx([post('cash', 'debit', 5n), post('rev', 'credit', 5n)])), 'OVERFLOW');
  assert.deepEqual(error.account, REV);
  assert.equal(rev.rawBalance, I64_MIN + 5n);
  // One less is fine: effective 2^63 - 1.
  assert.equal(validate(state, new BatchOverlay(), tx([post('cash', 'debit', 4n), post('rev', 'credit', 4n)])).kind, 'accept');
  // Raw -2^63 is a valid balance for an unsided or debit-normal account.
  const plain = addAccount(state, 'plain', { normal_side: null, min_balance: null });
  setRaw(plain, I64_MIN + 5n);
  assert.equal(validate(state, new BatchOverlay(), tx([post('plain', 'credit', 5n), post('cash', 'debit', 5n)])).kind, 'accept');
});

test('apply is all or nothing: an impossible event changes nothing', () => {
  const { state, cash, rev } = fixture();
  setRaw(cash, I64_MAX);
  const before = stateView(state);
  // The first posting would apply fine; the second overflows.
  assert.throws(
    () => state.apply(1, AT_US, { kind: 'transaction_posted', ...tx([post('rev', 'credit', 1n), post('cash', 'debit', 1n)]) }),
    ApplyError,
  );
  assert.throws(
    () => state.apply(1, AT_US, { kind: 'transaction_posted', ...tx([post('rev', 'credit', 1n), post('ghost', 'debit', 1n)]) }),
    ApplyError,
  );
  assert.throws(
    () => state.apply(1, AT_US, { kind: 'transaction_posted', ...tx([post('rev', 'credit', 1n), post('cash', 'debit', 1n, 'EUR')]) }),
    ApplyError,
  );
  assert.deepEqual(stateView(state), before);
  assert.equal(postingsOf(rev).length, 0);
});

test('a replayed transaction that repeats a txid or an idempotency key is refused before anything changes (B5)', () => {
  const { state } = fixture();
  const first = tx([post('cash', 'debit', 5n), post('rev', 'credit', 5n)], 'first');
  const second = tx([post('cash', 'debit', 7n), post('rev', 'credit', 7n)], 'second');
  state.apply(1, AT_US, { kind: 'transaction_posted', ...first });
  state.apply(2, AT_US, { kind: 'transaction_posted', ...second });
  const before = stateView(state);
  const repeat = (draft: Transaction): RepeatError => {
    let caught: unknown;
    assert.throws(
      () => state.apply(3, AT_US + 1, { kind: 'transaction_posted', ...draft }),
      (error) => (caught = error) instanceof RepeatError,
    );
    assert.deepEqual(stateView(state), before);
    return caught as RepeatError;
  };
  const both = repeat(first);
  assert.deepEqual([both.txid, both.key, both.txidSeq, both.keySeq], [first.id, 'first', 1, 1]);
  const keyOnly = repeat({ ...first, id: txid(), postings: [post('cash', 'debit', 9n), post('rev', 'credit', 9n)] });
  assert.deepEqual([keyOnly.txidSeq, keyOnly.keySeq], [null, 1]);
  const txidOnly = repeat({ ...second, idempotency_key: 'third' });
  assert.deepEqual([txidOnly.txidSeq, txidOnly.keySeq], [2, null]);
  const mixed = repeat({ ...first, idempotency_key: 'second' });
  assert.deepEqual([mixed.txidSeq, mixed.keySeq], [1, 2]);
  // A new txid and key still apply.
  state.apply(3, AT_US + 1, { kind: 'transaction_posted', ...tx([post('cash', 'debit', 1n), post('rev', 'credit', 1n)], 'third') });
  assert.equal(state.lastSeq, 3);
});

test('lifetime sums saturate and report it once', () => {
  const { state, cash, rev } = fixture();
  setRaw(cash, 0n);
  const first = state.apply(1, AT_US, { kind: 'transaction_posted', ...tx([post('cash', 'debit', I64_MAX), post('rev', 'credit', I64_MAX)]) });
  assert.equal(first.sumsSaturatedNow, false);
  setRaw(cash, 0n); // keep the account inside i64; only the sums saturate
  setRaw(rev, 0n);
  const second = state.apply(2, AT_US, { kind: 'transaction_posted', ...tx([post('cash', 'debit', 1n), post('rev', 'credit', 1n)]) });
  assert.equal(second.sumsSaturatedNow, true);
  assert.deepEqual(state.trialBalance(), [{ asset: 'USD', debits: I64_MAX, credits: I64_MAX }]);
  const third = state.apply(3, AT_US, { kind: 'transaction_posted', ...tx([post('cash', 'debit', 1n), post('rev', 'credit', 1n)]) });
  assert.equal(third.sumsSaturatedNow, false);
});

// --- posting index -------------------------------------------------------------------------------

const CHUNK = 4096;
const TOTAL = 2 * CHUNK + 100; // 8,292
const BASE_US = Date.UTC(2026, 0, 1) * 1000;

function entryAt(index: number): PostingEntry {
  return {
    seq: index + 1,
    atUs: BASE_US + index * 1_000_000,
    txid: `0190f3c2-8c1e-7a4b-9d2e-${index.toString(16).padStart(12, '0')}`,
    minor: BigInt(index + 1),
    direction: index % 2 === 0 ? 'debit' : 'credit',
    rawAfter: BigInt(index) * 1_000_000_000_000n - 5n,
  };
}

function bigIndex(): PostingIndex {
  const index = new PostingIndex();
  for (let position = 0; position < TOTAL; position++) index.push(entryAt(position));
  return index;
}

test('posting_index_preserves_order_and_search over 8,292 entries', () => {
  const index = bigIndex();
  assert.equal(index.length, TOTAL);
  assert.equal(TOTAL, 8292);
  // Search by seq: the first index whose seq is above the given one.
  for (const seq of [0, CHUNK, 2 * CHUNK, TOTAL, TOTAL / 2, CHUNK + 1]) assert.equal(index.firstAfterSeq(seq), seq, `seq ${seq}`);
  assert.equal(index.firstAfterSeq(TOTAL + 100), TOTAL);
  // Search by time: at the chunk boundary (the entry at index 4095 is at base + 4095 s).
  assert.equal(index.firstAfterAtUs(BASE_US + (CHUNK - 1) * 1_000_000), CHUNK);
  assert.equal(index.firstAfterAtUs(BASE_US + (CHUNK - 1) * 1_000_000 + 999_999), CHUNK);
  assert.equal(index.firstAfterAtUs(BASE_US - 1), 0);
  assert.equal(index.firstAfterAtUs(BASE_US), 1);
  assert.equal(index.firstAfterAtUs(BASE_US + TOTAL * 1_000_000), TOTAL);
  // get at the first, last and cross-chunk positions; out of range throws.
  for (const position of [0, TOTAL - 1, CHUNK - 1, CHUNK, 2 * CHUNK - 1, 2 * CHUNK]) {
    assert.deepEqual(index.get(position), entryAt(position), `get(${position})`);
    assert.equal(index.seqAt(position), position + 1);
    assert.equal(index.atUsAt(position), entryAt(position).atUs);
    assert.equal(index.rawAfterAt(position), entryAt(position).rawAfter);
  }
  assert.throws(() => index.get(TOTAL));
  assert.throws(() => index.get(-1));
  // Iteration in append order, across every boundary.
  let previous: PostingEntry | null = null;
  for (let position = 0; position < index.length; position++) {
    const entry = index.get(position);
    assert.deepEqual(entry, entryAt(position));
    if (previous !== null) {
      assert(entry.seq > previous.seq);
      assert(entry.atUs > previous.atUs);
    }
    previous = entry;
  }
});

test('posting index keeps equal seqs of one transaction together and rejects going backwards', () => {
  const index = new PostingIndex();
  const base = entryAt(0);
  index.push({ ...base, seq: 1 });
  index.push({ ...base, seq: 1, rawAfter: 7n });
  index.push({ ...base, seq: 2, atUs: base.atUs + 1 });
  assert.equal(index.firstAfterSeq(0), 0);
  assert.equal(index.firstAfterSeq(1), 2);
  assert.equal(index.firstAfterAtUs(base.atUs), 2);
  assert.throws(() => index.push({ ...base, seq: 1 })); // seq goes backwards
  assert.throws(() => index.push({ ...base, seq: 3, atUs: base.atUs - 1 })); // at goes backwards
  assert.equal(index.length, 3);
  // Extreme i64 values round-trip.
  index.push({ ...base, seq: 3, atUs: base.atUs + 1, minor: I64_MAX, rawAfter: I64_MIN });
  assert.equal(index.get(3).minor, I64_MAX);
  assert.equal(index.get(3).rawAfter, I64_MIN);
});

test('history pages by transaction over the posting index', () => {
  const { state } = fixture();
  for (let seq = 1; seq <= 5; seq++) {
    state.apply(seq, AT_US + seq, { kind: 'transaction_posted', ...tx([post('cash', 'debit', 2n), post('cash', 'credit', 1n), post('rev', 'credit', 1n)]) });
  }
  const page = state.history(CASH, 1, 2);
  assert.deepEqual(page.map((record) => record.seq), [2, 2, 3, 3]);
  assert.deepEqual(state.history(CASH, 0, 0), []);
  assert.deepEqual(state.history(CASH, 5, 10), []);
  assert.deepEqual(state.balance(CASH, AT_US + 3), { minor: 3n, asset: 'USD', updatedSeq: 3 });
});

test('second_writer_on_same_state_is_refused', () => {
  const state = new BookState('b');
  state.attachWriter(0);
  assert.equal(state.writer, 0);
  assert.throws(() => state.attachWriter(1), /single-writer rule violated/);
  assert.throws(() => state.attachWriter(0), /single-writer rule violated/);
  assert.equal(state.writer, 0);
});

test('an opened account is numbered in opening order, shares its strings and has no posting index until its first posting', () => {
  const state = new BookState(BOOK);
  const open = (seq: number, path: string): void => {
    // Fresh strings, as a decoder makes them: equal in content, distinct in identity.
    const event = JSON.parse(
      JSON.stringify({ kind: 'account_opened', def: { id: { book: BOOK, path }, asset: 'USD', kind: 'asset' }, cfg: { normal_side: 'debit', min_balance: null } }),
    ) as LedgerEvent;
    state.apply(seq, AT_US, event);
  };
  open(1, 'cash');
  open(2, 'fees');
  const cash = state.accounts.get('b:cash')!;
  const fees = state.accounts.get('b:fees')!;
  assert.deepEqual([cash.ordinal, fees.ordinal], [0, 1]);
  assert.equal(cash.postings, null);
  assert.equal(postingsOf(cash).length, 0);
  assert.deepEqual(state.balance(CASH, AT_US), { minor: 0n, asset: 'USD', updatedSeq: 0 });
  assert.deepEqual(state.historyPage(CASH, 0, 10).page.seqs.length, 0);
  assert.ok(cash.def.asset === fees.def.asset && cash.def.id.book === fees.def.id.book, 'one copy of the asset id and book name');
  state.apply(3, AT_US + 1, { kind: 'transaction_posted', ...tx([post('cash', 'debit', 5n), post('fees', 'credit', 5n)]) });
  assert.equal(postingsOf(cash).length, 1);
  assert.ok(state.accounts.get('b:cash')!.postings !== null, 'the first posting made the index');
  assert.equal(postingsOf(fees).length, 1);
  assert.deepEqual(state.balance(CASH, null), { minor: 5n, asset: 'USD', updatedSeq: 3 });
});
