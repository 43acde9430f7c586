/**
 * The bench's workload (spec/bench.md, section 2.3): seeding, the workload transaction, the
 * idempotency keys, the verification probes and the pseudo-random history cursor.
 *
 * K1. Every idempotency key of a run contains the run id, so no run deduplicates against another:
 *     `bench/<run_id>/<scenario>/<step>/<caller>/<n>`. Distinct operations never collide; a retry
 *     of the same operation (same n, same content) always deduplicates.
 * K2. The workload transaction: `postings_per_tx` postings alternating a debit of 100 minor units
 *     to `cash` and a credit of 100 to `equity`; no external refs, metadata null, a fresh UUID per
 *     draft and `occurred_at` = the step's start time.
 * K3. Postings are shared between drafts: a store copies its input and never aliases it.
 */
import { randomUUID } from 'node:crypto';

import type { Store } from '../src/core/store.js';
import type { CommitResult, Posting, Transaction } from '../src/core/types.js';

export const ASSET_ID = 'USD';
export const READ_BOOK = 'bench-read';
export const POSTING_MINOR = 100n;

export function benchBook(index: number): string {
  return `bench-${index}`;
}

/** `YYYYMMDDTHHMMSS.mmm` in UTC. */
export function runIdOf(date: Date): string {
  const iso = date.toISOString(); // 2026-11-24T06:35:12.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 23)}`;
}

/** The postings of the workload transaction of one book (K2). */
export function workloadPostings(book: string, postingsPerTx: number, minor: bigint = POSTING_MINOR): Posting[] {
  if (!Number.isSafeInteger(postingsPerTx) || postingsPerTx < 2 || postingsPerTx % 2 !== 0) {
    throw new Error(`postings_per_tx must be an even number >= 2, got ${postingsPerTx}`);
  }
  const postings: Posting[] = [];
  for (let index = 0; index < postingsPerTx; index++) {
    const debit = index % 2 === 0;
    postings.push({
      account: { book, path: debit ? 'cash' : 'equity' },
      amount: { minor, asset: ASSET_ID },
      direction: debit ? 'debit' : 'credit',
    });
  }
  return postings;
}

export function workloadDraft(book: string, postings: Posting[], key: string, occurredAt: string): Transaction {
  return {
    id: randomUUID(),
    book,
    postings,
    idempotency_key: key,
    external_refs: [],
    metadata: null,
    occurred_at: occurredAt,
  };
}

/** Builds the drafts of one step: keys per K1, postings per book prepared once. */
export class DraftFactory {
  readonly #prefix: string;
  readonly #occurredAt: string;
  readonly #postingsPerTx: number;
  readonly #postingsByBook = new Map<string, Posting[]>();

  constructor(runId: string, scenario: string, step: string, postingsPerTx: number) {
    this.#prefix = `bench/${runId}/${scenario}/${step}/`;
    this.#occurredAt = new Date().toISOString();
    this.#postingsPerTx = postingsPerTx;
  }

  draft(book: string, caller: number, n: number): Transaction {
    let postings = this.#postingsByBook.get(book);
    if (postings === undefined) {
      postings = workloadPostings(book, this.#postingsPerTx);
      this.#postingsByBook.set(book, postings);
    }
    return workloadDraft(book, postings, `${this.#prefix}${caller}/${n}`, this.#occurredAt);
  }
}

/** Seeding (idempotent, not measured): the asset, then `cash` and `equity` in each book. */
export async function seedBooks(store: Store, books: readonly string[]): Promise<void> {
  await store.registerAsset({ id: ASSET_ID, class: 'fiat', precision: 2, name: 'US Dollar' });
  const chunk = 32;
  for (let start = 0; start < books.length; start += chunk) {
    await Promise.all(
      books.slice(start, start + chunk).flatMap((book) => [
        store.openAccount({ id: { book, path: 'cash' }, asset: ASSET_ID, kind: 'asset' }, { normal_side: 'debit', min_balance: null }),
        store.openAccount({ id: { book, path: 'equity' }, asset: ASSET_ID, kind: 'equity' }, { normal_side: 'credit', min_balance: null }),
      ]),
    );
  }
}

/**
 * Fills a book to `depth` transactions with commitBatch in chunks of 100, keys
 * `bench/depth/0/<n>` (no run id: re-seeding an existing directory only deduplicates).
 */
export async function seedDepth(store: Store, book: string, depth: number, postingsPerTx: number, chunksInFlight = 4): Promise<void> {
  const postings = workloadPostings(book, postingsPerTx);
  const occurredAt = new Date().toISOString();
  const chunkSize = 100;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < depth) {
      const first = next;
      next = Math.min(depth, next + chunkSize);
      const drafts: Transaction[] = [];
      for (let n = first; n < next; n++) drafts.push(workloadDraft(book, postings, `bench/depth/0/${n}`, occurredAt));
      assertAllOk(await store.commitBatch(drafts), `seeding ${book}`);
    }
  };
  await Promise.all(Array.from({ length: chunksInFlight }, () => worker()));
}

export function assertAllOk(results: readonly CommitResult[], what: string): void {
  for (const result of results) {
    if (!result.ok) throw new Error(`${what}: ${result.error.message}`, { cause: result.error });
  }
}

/** The verification probe (section 2.8): debit cash 1, credit equity 1. Returns its seq. */
export async function commitProbe(store: Store, runId: string, book: string, label: string, when: 'before' | 'after'): Promise<number> {
  const committed = await store.commit(
    workloadDraft(book, workloadPostings(book, 2, 1n), `bench/${runId}/probe/${book}/${label}-${when}`, new Date().toISOString()),
  );
  return committed.seq;
}

const MASK64 = (1n << 64n) - 1n;

/** splitmix64 of (caller, n), as a number in [0, bound). */
export function splitmix64Below(caller: number, n: number, bound: number): number {
  if (bound <= 0) return 0;
  let z = ((BigInt(caller) << 32n) ^ BigInt(n)) + 0x9e3779b97f4a7c15n;
  z &= MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  z ^= z >> 31n;
  return Number(z % BigInt(bound));
}
