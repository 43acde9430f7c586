/**
 * The history recorder and the recovered-state checks shared by the fault campaign, the power-loss
 * simulation and the kill -9 campaign (spec/log-engine.md, sections 13.1 and 13.2).
 *
 * A History records every write a client attempted, as `invoke` then `ok` (resolved), `fail` (a
 * definite rejection) or `info` (unknown outcome: BOOK_UNAVAILABLE, or no answer before the crash).
 * `verifyRecovered` then checks a reopened store against it:
 *   C1  every `ok` write is present, exactly once, with its original seq, txid, at and content;
 *   C2  every recovered transaction matches an attempt that was `ok` or `info`, content and txid;
 *   C3  each (book, key) is present at most once; retrying every `info` write with its key and
 *       content settles it, and retrying every `ok` commit returns the original Committed and
 *       appends nothing (durableSeq of every book is unchanged);
 *   C4  each book's seqs run 1..N with no gap, `at` never decreases, durableSeq equals N (a store
 *       without durableSeq, PgStore: N is what readEvents returns);
 *   C6  per book and asset, debits equal credits, recomputed from the events and as trialBalance
 *       reports them (for balanced workloads);
 *   C7  replaying the recovered events into a fresh MemoryStore gives the same events, balances and
 *       trial balances.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { accountKey } from '../../src/core/account-key.js';
import { StoreError } from '../../src/core/errors.js';
import { sameTransactionContent } from '../../src/core/identity.js';
import { normaliseTransaction } from '../../src/core/input.js';
import type { Store } from '../../src/core/store.js';
import { MemoryStore } from '../../src/memory/memory-store.js';
import { parseTimestampUs } from '../../src/core/time.js';
import {
  SYSTEM_BOOK,
  type AccountCfg,
  type AccountDef,
  type AccountId,
  type AssetDef,
  type Committed,
  type SequencedEvent,
  type Transaction,
  type TrialBalanceRow,
} from '../../src/core/types.js';

export type WriteOp =
  | { kind: 'registerAsset'; def: AssetDef }
  | { kind: 'openAccount'; def: AccountDef; cfg: AccountCfg }
  | { kind: 'commit'; tx: Transaction };

export type Outcome = 'invoke' | 'ok' | 'fail' | 'info';

export interface Attempt {
  id: number;
  op: WriteOp;
  outcome: Outcome;
  /** The Committed of an `ok` commit. */
  committed?: Committed;
  code?: string;
}

/** Codes after which the write may or may not have landed. */
export function isUnknownOutcome(error: unknown): boolean {
  return error instanceof StoreError && error.code === 'BOOK_UNAVAILABLE';
}

export function bookOf(op: WriteOp): string {
  switch (op.kind) {
    case 'registerAsset':
      return SYSTEM_BOOK;
    case 'openAccount':
      return op.def.id.book;
    case 'commit':
      return op.tx.book;
  }
}

/** A store under check: any Store; durableSeq is compared where the store has one (LogStore). */
export type CheckedStore = Store & { durableSeq?(book: string): number };

/** The head of a book: durableSeq where the store keeps one, else the last seq readEvents returns. */
async function headOf(store: CheckedStore, book: string): Promise<number> {
  if (store.durableSeq !== undefined) return store.durableSeq(book);
  const events = await readAllEvents(store, book);
  return events.length === 0 ? 0 : events[events.length - 1]!.seq;
}

export class History {
  readonly attempts: Attempt[] = [];

  invoke(op: WriteOp): Attempt {
    const attempt: Attempt = { id: this.attempts.length, op, outcome: 'invoke' };
    this.attempts.push(attempt);
    return attempt;
  }

  ok(attempt: Attempt, committed?: Committed): void {
    attempt.outcome = 'ok';
    if (committed !== undefined) attempt.committed = { ...committed };
  }

  fail(attempt: Attempt, error: unknown): void {
    if (!(error instanceof StoreError)) throw error;
    attempt.code = error.code;
    attempt.outcome = isUnknownOutcome(error) ? 'info' : 'fail';
  }

  /** Every attempt that is still `invoke` (no answer before the crash) becomes `info`. */
  crashed(): void {
    for (const attempt of this.attempts) if (attempt.outcome === 'invoke') attempt.outcome = 'info';
  }
}

export async function runWrite(store: Store, op: WriteOp): Promise<Committed | undefined> {
  switch (op.kind) {
    case 'registerAsset':
      await store.registerAsset(op.def);
      return undefined;
    case 'openAccount':
      await store.openAccount(op.def, op.cfg);
      return undefined;
    case 'commit':
      return store.commit(op.tx);
  }
}

export async function readAllEvents(store: { readEvents(book: string, from: number, limit: number): Promise<SequencedEvent[]> }, book: string): Promise<SequencedEvent[]> {
  const events: SequencedEvent[] = [];
  for (;;) {
    const page = await store.readEvents(book, events.length + 1, 1000);
    if (page.length === 0) return events;
    events.push(...page);
  }
}

export interface VerifyOptions {
  /** Books to scan besides `_system` and the books the history names. */
  books?: readonly string[];
  /** Check per-asset debits = credits (the workload only posts balanced transactions). */
  balanced?: boolean;
  /** Replay the recovered events into a MemoryStore and compare (C7). */
  replay?: boolean;
  /** Retry at most this many `ok` commits (a seeded sample beyond it); default all. */
  okRetryLimit?: number;
  /** Prefix for assertion messages (the seed, the case). */
  context?: string;
}

export interface VerifyResult {
  acknowledgedChecked: number;
  unknownRetried: number;
  okRetried: number;
  events: number;
}

function normalised(tx: Transaction): Transaction {
  return normaliseTransaction(tx).tx;
}

/** Every attempt's book, plus `_system` and the extra books, in a stable order. */
function booksOf(history: History, extra: readonly string[]): string[] {
  const books = new Set<string>([SYSTEM_BOOK, ...extra]);
  for (const attempt of history.attempts) books.add(bookOf(attempt.op));
  return [...books].sort();
}

/** Runs the checks of C1 to C4, C6 and C7 on a reopened store; settles every `info` attempt. */
export async function verifyRecovered(store: CheckedStore, history: History, options: VerifyOptions = {}): Promise<VerifyResult> {
  const where = options.context === undefined ? '' : `${options.context}: `;
  const books = booksOf(history, options.books ?? []);
  const result: VerifyResult = { acknowledgedChecked: 0, unknownRetried: 0, okRetried: 0, events: 0 };

  // Before any retry: C4 and at-most-once per key (C3), C1 and C2 on the recovered log.
  await checkLog(store, history, books, where, false);

  // Settle every unknown outcome by retrying it with its key and content (C3).
  for (const attempt of history.attempts) {
    if (attempt.outcome !== 'info' && attempt.outcome !== 'invoke') continue;
    try {
      const value = await runWrite(store, attempt.op);
      attempt.outcome = 'ok';
      if (value !== undefined) attempt.committed = value;
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      assert(!isUnknownOutcome(error), `${where}retrying attempt ${attempt.id} after reopening failed: ${error.message}`);
      attempt.outcome = 'fail';
      attempt.code = error.code;
    }
    result.unknownRetried++;
  }

  const logs = await checkLog(store, history, books, where, true);
  for (const attempt of history.attempts) if (attempt.outcome === 'ok' && attempt.op.kind === 'commit') result.acknowledgedChecked++;

  // Retrying an acknowledged commit returns the original Committed and appends nothing (C3).
  const before = new Map<string, number>();
  for (const book of books) before.set(book, await headOf(store, book));
  const okCommits = history.attempts.filter((attempt) => attempt.outcome === 'ok' && attempt.op.kind === 'commit');
  const limit = options.okRetryLimit ?? okCommits.length;
  const step = okCommits.length <= limit ? 1 : okCommits.length / limit;
  for (let position = 0; position < okCommits.length; position += step) {
    const attempt = okCommits[Math.floor(position)]!;
    const tx = (attempt.op as { tx: Transaction }).tx;
    const retried = await store.commit({ ...tx, id: randomUUID() });
    assert.deepEqual(retried, attempt.committed, `${where}retrying key ${tx.idempotency_key} of book ${tx.book} did not return the original`);
    result.okRetried++;
  }
  for (const book of books) {
    assert.equal(await headOf(store, book), before.get(book), `${where}retries of acknowledged commits appended to book ${book}`);
  }

  if (options.balanced === true) await checkBalanced(store, logs, where);
  if (options.replay === true) await checkReplay(store, logs, where);
  for (const events of logs.values()) result.events += events.length;
  return result;
}

/** C1, C2, C4 and at-most-once per key, on the log as it is now. */
async function checkLog(store: CheckedStore, history: History, books: readonly string[], where: string, settled: boolean): Promise<Map<string, SequencedEvent[]>> {
  const logs = new Map<string, SequencedEvent[]>();
  const byKey = new Map<string, SequencedEvent & { event: Transaction & { kind: 'transaction_posted' } }>();
  for (const book of books) {
    const events = await readAllEvents(store, book);
    logs.set(book, events);
    let previousAtUs = Number.NEGATIVE_INFINITY;
    events.forEach((event, index) => {
      assert.equal(event.seq, index + 1, `${where}book ${book}: seq gap at index ${index}`); // C4
      const atUs = parseTimestampUs(event.at)!;
      assert(atUs >= previousAtUs, `${where}book ${book}: at goes backwards at seq ${event.seq}`);
      previousAtUs = atUs;
      if (event.event.kind === 'transaction_posted') {
        const id = `${book}\u0000${event.event.idempotency_key}`;
        assert(!byKey.has(id), `${where}book ${book}: key ${event.event.idempotency_key} is present twice`); // C3
        byKey.set(id, event as never);
      }
    });
    if (store.durableSeq !== undefined) assert.equal(store.durableSeq(book), events.length, `${where}book ${book}: durableSeq differs from the events read`);
  }

  const attemptsByKey = new Map<string, Attempt[]>();
  for (const attempt of history.attempts) {
    const op = attempt.op;
    if (op.kind === 'commit') {
      const id = `${op.tx.book}\u0000${op.tx.idempotency_key}`;
      const list = attemptsByKey.get(id) ?? [];
      list.push(attempt);
      attemptsByKey.set(id, list);
    }
    if (attempt.outcome !== 'ok') continue;
    switch (op.kind) {
      case 'commit': {
        const found = byKey.get(`${op.tx.book}\u0000${op.tx.idempotency_key}`);
        assert(found !== undefined, `${where}acknowledged key ${op.tx.idempotency_key} of book ${op.tx.book} is missing`); // C1
        assert.deepEqual(
          { seq: found.seq, at: found.at, txid: found.event.id },
          { seq: attempt.committed!.seq, at: attempt.committed!.at, txid: attempt.committed!.txid },
          `${where}acknowledged key ${op.tx.idempotency_key} of book ${op.tx.book} changed`,
        );
        assert(sameTransactionContent(found.event, normalised(op.tx)), `${where}key ${op.tx.idempotency_key}: content differs`);
        break;
      }
      case 'registerAsset': {
        const def = await store.asset(op.def.id);
        assert(def !== null, `${where}acknowledged asset ${op.def.id} is missing`);
        break;
      }
      case 'openAccount': {
        const events = logs.get(op.def.id.book) ?? [];
        const opened = events.some((event) => event.event.kind === 'account_opened' && accountKey(event.event.def.id) === accountKey(op.def.id));
        assert(opened, `${where}acknowledged account ${accountKey(op.def.id)} is missing`);
        break;
      }
    }
  }

  // C2: every transaction comes from an attempt that was `ok` or of unknown outcome, same content
  // and (for the attempt that wrote it) the same txid.
  for (const [id, event] of byKey) {
    const attempts = attemptsByKey.get(id) ?? [];
    const writer = attempts.find(
      (attempt) =>
        (attempt.outcome === 'ok' || (!settled && (attempt.outcome === 'info' || attempt.outcome === 'invoke'))) &&
        (attempt.op as { tx: Transaction }).tx.id.toLowerCase() === event.event.id &&
        sameTransactionContent(event.event, normalised((attempt.op as { tx: Transaction }).tx)),
    );
    assert(writer !== undefined, `${where}book ${event.event.book}: key ${event.event.idempotency_key} at seq ${event.seq} comes from no attempt that may have landed`);
  }
  return logs;
}

/** C6: per asset, Σ debits = Σ credits in the events and in trialBalance. */
async function checkBalanced(store: Store, logs: Map<string, SequencedEvent[]>, where: string): Promise<void> {
  for (const [book, events] of logs) {
    const sums = new Map<string, { debits: bigint; credits: bigint }>();
    for (const { event } of events) {
      if (event.kind !== 'transaction_posted') continue;
      for (const posting of event.postings) {
        const row = sums.get(posting.amount.asset) ?? { debits: 0n, credits: 0n };
        row[posting.direction === 'debit' ? 'debits' : 'credits'] += posting.amount.minor;
        sums.set(posting.amount.asset, row);
      }
    }
    const expected: TrialBalanceRow[] = [...sums]
      .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0))
      .map(([asset, row]) => ({ asset, debits: row.debits, credits: row.credits }));
    const reported = await store.trialBalance(book);
    assert.deepEqual(reported, expected, `${where}book ${book}: trialBalance differs from the sums of its events`);
    for (const row of reported) assert.equal(row.debits, row.credits, `${where}book ${book}: ${row.asset} debits ${row.debits} != credits ${row.credits}`);
  }
}

/** C7 on its own: every listed book (and `_system`), replayed into a MemoryStore, gives the same answers. */
export async function verifyReplay(store: Store, books: readonly string[], context?: string): Promise<void> {
  const logs = new Map<string, SequencedEvent[]>();
  for (const book of new Set([SYSTEM_BOOK, ...books])) logs.set(book, await readAllEvents(store, book));
  await checkReplay(store, logs, context === undefined ? '' : `${context}: `);
}

/** C7: the recovered events, fed to a fresh MemoryStore, give the same answers. */
async function checkReplay(store: Store, logs: Map<string, SequencedEvent[]>, where: string): Promise<void> {
  let clockUs = 0;
  const model = new MemoryStore({ clockUs: () => clockUs, onWarning: () => undefined });
  const order = [...logs.keys()].sort((left, right) => (left === SYSTEM_BOOK ? -1 : right === SYSTEM_BOOK ? 1 : left < right ? -1 : 1));
  const accounts: AccountId[] = [];
  for (const book of order) {
    for (const sequenced of logs.get(book)!) {
      clockUs = parseTimestampUs(sequenced.at)!;
      const event = sequenced.event;
      switch (event.kind) {
        case 'asset_registered': {
          const { kind: _kind, ...def } = event;
          await model.registerAsset(def);
          break;
        }
        case 'account_opened':
          await model.openAccount(event.def, event.cfg);
          accounts.push(event.def.id);
          break;
        case 'transaction_posted': {
          const { kind: _kind, ...tx } = event;
          const committed = await model.commit(tx);
          assert.deepEqual(committed, { txid: tx.id, seq: sequenced.seq, at: sequenced.at }, `${where}replaying book ${book} seq ${sequenced.seq}`);
          break;
        }
      }
    }
  }
  for (const book of order) {
    assert.deepEqual(await readAllEvents(model, book), logs.get(book), `${where}book ${book}: the replayed events differ`);
    assert.deepEqual(await model.trialBalance(book), await store.trialBalance(book), `${where}book ${book}: the replayed trial balance differs`);
  }
  for (const account of accounts) {
    assert.deepEqual(await store.balance(account), await model.balance(account), `${where}balance of ${accountKey(account)} differs from the replay`);
    assert.deepEqual(
      await store.accountHistory(account, null, 1_000_000),
      await model.accountHistory(account, null, 1_000_000),
      `${where}history of ${accountKey(account)} differs from the replay`,
    );
  }
  await model.close();
}
