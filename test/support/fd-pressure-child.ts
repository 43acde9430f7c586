/**
 * The child of the descriptor tests (test/fd-budget.test.ts), started under a low `ulimit -n`. It
 * opens a LogStore and writes to many books at once (two accounts and a commit each), then to
 * every book again, then to books that are new; it closes, reopens and reads every book's durable
 * seq; and it prints one JSON line (`FdPressureReport`) on stdout.
 *
 * With `squeeze`, it plays an application that takes almost every free descriptor just after
 * open, and gives them back once the store has refused a write OVERLOADED (or after 2 s): the
 * writes of the first round meet real EMFILE, and retry OVERLOADED answers with the same keys.
 *
 * Argument: JSON `{ dir, books, workers, squeeze }`.
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { LogStore } from '../../src/log/log-store.js';
import { isStoreError } from '../../src/core/errors.js';
import type { Transaction } from '../../src/core/types.js';

export interface FdPressureReport {
  /** Soft RLIMIT_NOFILE seen by the child. */
  limit: number;
  /** Descriptors the process held at the most, sampled after each round and while squeezed. */
  peakFds: number;
  /** Errors other than OVERLOADED, by code, with the code of their cause. */
  failures: Record<string, number>;
  /** OVERLOADED answers, each retried with the same content. */
  overloaded: number;
  /** How many OVERLOADED answers said a descriptor was missing. */
  overloadedByDescriptors: number;
  /** Books whose durable seq is not what their writes make it, before and after reopening. */
  wrong: string[];
  wrongAfterReopen: string[];
  /** The codes of the store's warnings, in order. */
  warnings: string[];
}

const { dir, books: bookCount, workers, squeeze } = JSON.parse(process.argv[2]!) as { dir: string; books: number; workers: number; squeeze: boolean };

const report: FdPressureReport = { limit: 0, peakFds: 0, failures: {}, overloaded: 0, overloadedByDescriptors: 0, wrong: [], wrongAfterReopen: [], warnings: [] };
report.limit = Number(/^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))![1]);

let held: number[] = [];
let squeezedAt = 0;
function openFds(): number {
  const count = fs.readdirSync('/proc/self/fd').length - 1; // less the listing's own
  report.peakFds = Math.max(report.peakFds, count);
  return count;
}
function release(): void {
  for (const fd of held) fs.closeSync(fd);
  held = [];
}

/** Calls until it succeeds; OVERLOADED is retried with the same content, anything else is counted and thrown. */
async function retrying<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (isStoreError(error, 'OVERLOADED') && Date.now() < deadline) {
        report.overloaded++;
        if (/file descriptor/.test(error.message)) report.overloadedByDescriptors++;
        // The application gives its descriptors back a little after the store pushed back.
        if (held.length > 0 && Date.now() - squeezedAt > 100) release();
        await new Promise((resolve) => setTimeout(resolve, 2));
        continue;
      }
      const code = `${(error as { code?: string }).code ?? 'UNKNOWN'}/${(error as { cause?: { code?: string } }).cause?.code ?? '-'}`;
      report.failures[code] = (report.failures[code] ?? 0) + 1;
      throw error;
    }
  }
}

function draft(book: string, key: string): Transaction {
  return {
    id: randomUUID(),
    book,
    postings: [
      { account: { book, path: 'cash' }, amount: { minor: 1n, asset: 'USD' }, direction: 'debit' },
      { account: { book, path: 'rev' }, amount: { minor: 1n, asset: 'USD' }, direction: 'credit' },
    ],
    idempotency_key: key,
    external_refs: [],
    metadata: null,
    occurred_at: '2026-01-01T00:00:00Z',
  };
}

/** Writes to every book at once: two accounts and a commit for a new book, a commit for a known one. */
async function writeBooks(store: LogStore, names: readonly string[], round: string, opening: boolean): Promise<void> {
  await Promise.allSettled(
    names.map(async (book) => {
      if (opening) {
        // Both accounts in one batch (one fsync); a refused batch refuses both, each retried alone.
        await Promise.all(
          ['cash', 'rev'].map((path) =>
            retrying(() => store.openAccount({ id: { book, path }, asset: 'USD', kind: path === 'cash' ? 'asset' : 'income' }, { normal_side: null, min_balance: null })),
          ),
        );
      }
      const tx = draft(book, `${round}-${book}`);
      await retrying(() => store.commit(tx));
    }),
  );
  openFds();
}

const books = Array.from({ length: bookCount }, (_, index) => `book-${index}`);
const fresh = Array.from({ length: 20 }, (_, index) => `fresh-${index}`);
const expected = new Map<string, number>([...books.map((book): [string, number] => [book, 4]), ...fresh.map((book): [string, number] => [book, 3])]);
const wrongBooks = (store: LogStore): string[] => [...expected].filter(([book, seq]) => store.durableSeq(book) !== seq).map(([book]) => book);

const options = { workers, onWarning: (warning: { code: string }) => void report.warnings.push(warning.code) };
let store = await LogStore.open(dir, options);
await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'Dollar' });
if (squeeze) {
  // Leave the store a handful of descriptors for all its workers: far fewer than its budget.
  const spare = 2;
  const free = report.limit - openFds();
  for (let index = 0; index < free - spare; index++) held.push(fs.openSync('/dev/null', 'r'));
  squeezedAt = Date.now();
  openFds();
  setTimeout(release, 2000).unref(); // the pressure passes in any case
}
await writeBooks(store, books, 'first', true);
release();
await writeBooks(store, books, 'second', false); // a book refused or failed before must work now
await writeBooks(store, fresh, 'fresh', true); // and so must books never seen
report.wrong = wrongBooks(store);
await store.close();

store = await LogStore.open(dir, options);
report.wrongAfterReopen = wrongBooks(store);
openFds();
await store.close();
process.stdout.write(`${JSON.stringify(report)}\n`);
