/**
 * Verification after every write scenario (spec/bench.md, section 2.8).
 *
 * V1. Before the load each touched book gets a probe commit; after it, another. The sum over the
 *     books of (after seq − before seq) is the observed count. It must lie in
 *     [expected minimum, expected minimum + ambiguous outcomes], where the minimum is every
 *     successful commit of the scenario plus one after-probe per book. Outside: `SEQ MISMATCH`.
 *     Inside but above the minimum: a warning naming how many ambiguous outcomes committed.
 * V2. Every trial-balance row of a touched book has debits === credits, else `UNBALANCED`.
 * V3. LogStore only: durableSeq(book) equals the after-probe's seq.
 * The pure checks (`checkSeqCount`, `checkTrialBalance`) have their own unit tests.
 */
import type { Store } from '../src/core/store.js';
import type { TrialBalanceRow } from '../src/core/types.js';
import { commitProbe } from './workload.js';

export interface SeqCountCheck {
  ok: boolean;
  observed: number;
  expectedMin: number;
  expectedMax: number;
  warnings: string[];
  error: string | null;
}

/** V1: the pure count check. */
export function checkSeqCount(observed: number, successes: number, books: number, ambiguous: number): SeqCountCheck {
  const expectedMin = successes + books;
  const expectedMax = expectedMin + ambiguous;
  const warnings: string[] = [];
  let error: string | null = null;
  if (observed < expectedMin || observed > expectedMax) {
    error = `SEQ MISMATCH: observed ${observed} new seqs, expected ${expectedMin}${expectedMax === expectedMin ? '' : ` to ${expectedMax}`}`;
  } else if (observed > expectedMin) {
    warnings.push(`${observed - expectedMin} of ${ambiguous} ambiguous outcomes did commit`);
  }
  return { ok: error === null, observed, expectedMin, expectedMax, warnings, error };
}

/** V2: the pure balance check; returns the error text or null. */
export function checkTrialBalance(book: string, rows: readonly TrialBalanceRow[]): string | null {
  for (const row of rows) {
    if (row.debits !== row.credits) {
      return `UNBALANCED: book ${book}, asset ${row.asset}: debits ${row.debits}, credits ${row.credits}`;
    }
  }
  return null;
}

export interface ProbeMarks {
  label: string;
  before: Map<string, number>;
}

/** V1, before the load: one probe per touched book. */
export async function probeBefore(store: Store, runId: string, books: readonly string[], label: string): Promise<ProbeMarks> {
  const before = new Map<string, number>();
  for (const book of books) before.set(book, await commitProbe(store, runId, book, label, 'before'));
  return { label, before };
}

export interface VerificationOutcome extends SeqCountCheck {
  /** The after-probe's seq per book (the book's top seq). */
  after: Map<string, number>;
}

/** V1-V3 after the load. `durableSeq` is given for LogStore. */
export async function verifyAfter(
  store: Store,
  runId: string,
  marks: ProbeMarks,
  successes: number,
  ambiguous: number,
  durableSeq?: (book: string) => number,
): Promise<VerificationOutcome> {
  const after = new Map<string, number>();
  const problems: string[] = [];
  let observed = 0;
  for (const [book, beforeSeq] of marks.before) {
    const rows = await store.trialBalance(book);
    const unbalanced = checkTrialBalance(book, rows);
    if (unbalanced !== null) problems.push(unbalanced);
    const afterSeq = await commitProbe(store, runId, book, marks.label, 'after');
    after.set(book, afterSeq);
    observed += afterSeq - beforeSeq;
    if (durableSeq !== undefined && durableSeq(book) !== afterSeq) {
      problems.push(`DURABLE SEQ: book ${book}: durableSeq ${durableSeq(book)} after the probe at seq ${afterSeq}`);
    }
  }
  const count = checkSeqCount(observed, successes, marks.before.size, ambiguous);
  if (count.error !== null) problems.unshift(count.error);
  return { ...count, ok: problems.length === 0, error: problems.length === 0 ? null : problems.join('; '), after };
}

export interface BookFacts {
  topSeq: number;
  rows: TrialBalanceRow[];
}

/** `--verify-reopen`, before the restart: each book's top seq (the after-probe) and trial balance. */
export async function bookFacts(store: Store, after: Map<string, number>): Promise<Map<string, BookFacts>> {
  const facts = new Map<string, BookFacts>();
  for (const [book, topSeq] of after) facts.set(book, { topSeq, rows: await store.trialBalance(book) });
  return facts;
}

/** `--verify-reopen`, after it: every book's top seq and trial balance are unchanged. */
export async function verifyReopened(reopened: Store, facts: Map<string, BookFacts>): Promise<string | null> {
  for (const [book, { topSeq, rows }] of facts) {
    const events = await reopened.readEvents(book, topSeq, 2);
    if (events.length !== 1 || events[0]!.seq !== topSeq) {
      const seen = events.map((event) => event.seq).join(',') || 'none';
      return `REOPEN: book ${book}: top seq ${topSeq} before the restart; events from it after: ${seen}`;
    }
    const now = await reopened.trialBalance(book);
    const same =
      now.length === rows.length &&
      now.every((row, index) => row.asset === rows[index]!.asset && row.debits === rows[index]!.debits && row.credits === rows[index]!.credits);
    if (!same) return `REOPEN: book ${book}: the trial balance changed across the restart`;
  }
  return null;
}
