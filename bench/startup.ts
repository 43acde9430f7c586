/**
 * Startup and memory (spec/bench.md, section 6), LogStore only: the SQLite peer reads from its
 * database and has nothing to replay.
 *
 * T1. Build: one book of N transactions with commitBatch in chunks of 100, snapshots disabled so
 *     that no snapshot exists, then close. Runs in its own Node process.
 * T2. Measure, in a fresh Node process: open an empty store, collect garbage in every thread and
 *     read rss and each thread's heapUsed; close it. Time `LogStore.open` of the built directory
 *     with snapshots disabled (full replay); collect garbage in every thread and read again.
 *     Growth of rss ÷ postings is the resident cost per posting. Then write a snapshot at the
 *     tail, close, and time `LogStore.open` with the default options (opens from the snapshot).
 *     T1 and T2 also run for a book of N/4: the difference of the two growths ÷ the difference
 *     of their postings is the cost of one more posting (see T3 for why both are given).
 * T3. Accounts: one book of A accounts that never had a posting (a wallet per customer), built
 *     and measured the same way, and a second book of A/4. Growth of rss ÷ A is the whole cost;
 *     the difference of the two growths ÷ 3A/4 is the cost of one more account, without what a
 *     thread commits once whatever the book's size (its young generation, grown while the open
 *     allocates). The second is the figure the memory target is judged on.
 * Both processes run with --expose-gc and the thread probe, like the driver.
 *
 *   node dist/bench/startup.js build <dir> <events> <postingsPerTx>
 *   node dist/bench/startup.js measure <dir> <events> <postingsPerTx>
 *   node dist/bench/startup.js build-accounts <dir> <accounts>
 *   node dist/bench/startup.js measure-accounts <dir> <accounts>
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { LogStore } from '../src/log/log-store.js';
import type { Transaction } from '../src/core/types.js';
import { collectEveryThread } from './contenders.js';
import { assertAllOk, seedBooks, workloadDraft, workloadPostings } from './workload.js';

const BOOK = 'bench-startup';
const ACCOUNTS_BOOK = 'bench-accounts';
const ACCOUNTS_IN_FLIGHT = 512;
const CHUNK_DRAFTS = 100;
const CHUNKS_IN_FLIGHT = 8;

export interface StartupMeasurement {
  events: number;
  postings: number;
  build_s: number;
  full_replay_s: number;
  snapshot_open_s: number;
  rss_empty_bytes: number;
  rss_loaded_bytes: number;
  bytes_per_posting: number;
  /** The smaller book of the memory figure (events / 4). */
  smaller_events: number;
  /** (Growth of rss at `events` − growth at `smaller_events`) ÷ the difference of their postings. */
  marginal_bytes_per_posting: number;
  heap_used_bytes_per_thread: Array<{ thread: number; empty: number; loaded: number }>;
}

async function build(dir: string, events: number, postingsPerTx: number): Promise<number> {
  const startMs = performance.now();
  const store = await LogStore.open(dir, { snapshotEvery: 0 });
  try {
    await seedBooks(store, [BOOK]);
    const postings = workloadPostings(BOOK, postingsPerTx);
    const occurredAt = new Date().toISOString();
    let next = 0;
    const chunkWriter = async (): Promise<void> => {
      while (next < events) {
        const first = next;
        next = Math.min(events, next + CHUNK_DRAFTS);
        const drafts: Transaction[] = [];
        for (let n = first; n < next; n++) drafts.push(workloadDraft(BOOK, postings, `bench/startup/${n}`, occurredAt));
        assertAllOk(await store.commitBatch(drafts), 'startup build');
      }
    };
    await Promise.all(Array.from({ length: CHUNKS_IN_FLIGHT }, () => chunkWriter()));
  } finally {
    await store.close();
  }
  return (performance.now() - startMs) / 1000;
}

async function buildAccounts(dir: string, accounts: number): Promise<number> {
  const startMs = performance.now();
  const store = await LogStore.open(dir, { snapshotEvery: 0 });
  try {
    await seedBooks(store, [ACCOUNTS_BOOK]);
    const asset = (await store.readEvents('_system', 1, 1))[0]!.event;
    if (asset.kind !== 'asset_registered') throw new Error('startup: the seeded asset is missing');
    let next = 0;
    const opener = async (): Promise<void> => {
      while (next < accounts) {
        const n = next++;
        await store.openAccount({ id: { book: ACCOUNTS_BOOK, path: `wallets/customer-${n}` }, asset: asset.id, kind: 'liability' }, { normal_side: 'credit', min_balance: 0n });
      }
    };
    await Promise.all(Array.from({ length: ACCOUNTS_IN_FLIGHT }, () => opener()));
  } finally {
    await store.close();
  }
  return (performance.now() - startMs) / 1000;
}

/** Resident bytes per account that never had a posting (T3). */
async function measureAccountsInProcess(dir: string, accounts: number): Promise<AccountsGrowth> {
  const empty = await rssOfEmptyStore(dir);
  const startMs = performance.now();
  const store = await LogStore.open(dir, { snapshotEvery: 0 });
  const openS = (performance.now() - startMs) / 1000;
  const heaps = await collectEveryThread(1000);
  const rssLoaded = process.memoryUsage().rss;
  await store.close();
  const heapUsed = heaps.reduce((sum, heap) => sum + heap.heapUsed, 0);
  return {
    accounts,
    bytes_per_account: (rssLoaded - empty.rss) / accounts,
    heap_bytes_per_account: (heapUsed - empty.heapUsed) / accounts,
    open_s: openS,
  };
}

/** The rss of this process and the heap used by all its threads with an empty store open, after garbage collection. */
async function rssOfEmptyStore(dir: string): Promise<{ rss: number; heapUsed: number }> {
  const emptyDir = `${dir}-empty`;
  fs.rmSync(emptyDir, { recursive: true, force: true });
  const empty = await LogStore.open(emptyDir, { snapshotEvery: 0 });
  const heaps = await collectEveryThread(500);
  const rss = process.memoryUsage().rss;
  await empty.close();
  fs.rmSync(emptyDir, { recursive: true, force: true });
  return { rss, heapUsed: heaps.reduce((sum, heap) => sum + heap.heapUsed, 0) };
}

async function measure(dir: string, events: number, postingsPerTx: number): Promise<Omit<StartupMeasurement, 'build_s' | 'smaller_events' | 'marginal_bytes_per_posting'>> {
  const emptyDir = `${dir}-empty`;
  fs.rmSync(emptyDir, { recursive: true, force: true });
  const empty = await LogStore.open(emptyDir, { snapshotEvery: 0 });
  const heapsEmpty = await collectEveryThread(500);
  const rssEmpty = process.memoryUsage().rss;
  await empty.close();
  fs.rmSync(emptyDir, { recursive: true, force: true });

  let startMs = performance.now();
  const replayed = await LogStore.open(dir, { snapshotEvery: 0 });
  const fullReplayS = (performance.now() - startMs) / 1000;
  const heapsLoaded = await collectEveryThread(1000);
  const rssLoaded = process.memoryUsage().rss;
  const topSeq = replayed.durableSeq(BOOK);
  if (topSeq !== events + 2) throw new Error(`startup: replay found seq ${topSeq}, expected ${events + 2}`);
  await replayed.snapshot(BOOK);
  await replayed.close();

  startMs = performance.now();
  const fromSnapshot = await LogStore.open(dir);
  const snapshotOpenS = (performance.now() - startMs) / 1000;
  const snapshotTop = fromSnapshot.durableSeq(BOOK);
  await fromSnapshot.close();
  if (snapshotTop !== events + 2) throw new Error(`startup: snapshot open found seq ${snapshotTop}, expected ${events + 2}`);

  const postings = events * postingsPerTx;
  const threads = Math.max(heapsEmpty.length, heapsLoaded.length);
  const heapUsed: StartupMeasurement['heap_used_bytes_per_thread'] = [];
  for (let index = 0; index < threads; index++) {
    heapUsed.push({ thread: index, empty: heapsEmpty[index]?.heapUsed ?? 0, loaded: heapsLoaded[index]?.heapUsed ?? 0 });
  }
  return {
    events,
    postings,
    full_replay_s: fullReplayS,
    snapshot_open_s: snapshotOpenS,
    rss_empty_bytes: rssEmpty,
    rss_loaded_bytes: rssLoaded,
    bytes_per_posting: (rssLoaded - rssEmpty) / postings,
    heap_used_bytes_per_thread: heapUsed,
  };
}

/** Runs `mode` of this script in its own Node process with `nodeFlags`; returns its JSON answer. */
function runChild(nodeFlags: string[], mode: string, args: string[]): unknown {
  const script = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, [...nodeFlags, script, mode, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`startup ${mode} failed with exit code ${child.status}`);
  const lastLine = child.stdout.trim().split('\n').pop()!;
  return JSON.parse(lastLine) as unknown;
}

/** T1 and T2 for one book size. */
function buildAndMeasure(dir: string, events: number, postingsPerTx: number, nodeFlags: string[]): Omit<StartupMeasurement, 'smaller_events' | 'marginal_bytes_per_posting'> {
  fs.rmSync(dir, { recursive: true, force: true });
  const args = [dir, String(events), String(postingsPerTx)];
  const built = runChild(nodeFlags, 'build', args) as { build_s: number };
  const measured = runChild(nodeFlags, 'measure', args) as Omit<StartupMeasurement, 'build_s' | 'smaller_events' | 'marginal_bytes_per_posting'>;
  return { ...measured, build_s: built.build_s };
}

/**
 * Runs T1 and T2, each in its own Node process with the same flags as this one, for `events` and
 * for a quarter of it: the difference of the two rss growths ÷ the difference of their postings is
 * what one more posting costs, without what each thread commits once (as for accounts, T3).
 */
export function measureStartup(dir: string, events: number, postingsPerTx: number, nodeFlags: string[]): StartupMeasurement {
  const smallerEvents = Math.floor(events / 4);
  const smaller = buildAndMeasure(dir, smallerEvents, postingsPerTx, nodeFlags);
  const whole = buildAndMeasure(dir, events, postingsPerTx, nodeFlags);
  fs.rmSync(dir, { recursive: true, force: true });
  const growth = (measured: typeof whole): number => measured.rss_loaded_bytes - measured.rss_empty_bytes;
  return {
    ...whole,
    smaller_events: smallerEvents,
    marginal_bytes_per_posting: (growth(whole) - growth(smaller)) / (whole.postings - smaller.postings),
  };
}

interface AccountsGrowth {
  accounts: number;
  open_s: number;
  /** Growth of rss ÷ accounts. */
  bytes_per_account: number;
  /** Growth of the heap used by every thread (after garbage collection) ÷ accounts. */
  heap_bytes_per_account: number;
}

export interface AccountsMeasurement extends AccountsGrowth {
  build_s: number;
  /** The smaller book of T3 (A/4 accounts). */
  smaller_accounts: number;
  /** (Growth of rss at A − growth at A/4) ÷ 3A/4: what one more account costs. */
  marginal_bytes_per_account: number;
  /** The same for the heap used by every thread. */
  marginal_heap_bytes_per_account: number;
}

/** Builds a book of `accounts` empty accounts, then measures it in a fresh process. */
function accountsGrowth(dir: string, accounts: number, nodeFlags: string[]): AccountsGrowth & { build_s: number } {
  fs.rmSync(dir, { recursive: true, force: true });
  const built = runChild(nodeFlags, 'build-accounts', [dir, String(accounts)]) as { build_s: number };
  const measured = runChild(nodeFlags, 'measure-accounts', [dir, String(accounts)]) as AccountsGrowth;
  fs.rmSync(dir, { recursive: true, force: true });
  return { ...measured, build_s: built.build_s };
}

/** Runs T3 at `accounts` and at a quarter of it. */
export function measureAccounts(dir: string, accounts: number, nodeFlags: string[]): AccountsMeasurement {
  const smallerAccounts = Math.floor(accounts / 4);
  const smaller = accountsGrowth(dir, smallerAccounts, nodeFlags);
  const whole = accountsGrowth(dir, accounts, nodeFlags);
  const marginal = (perAccount: (growth: AccountsGrowth) => number): number =>
    (perAccount(whole) * accounts - perAccount(smaller) * smallerAccounts) / (accounts - smallerAccounts);
  return {
    ...whole,
    smaller_accounts: smallerAccounts,
    marginal_bytes_per_account: marginal((growth) => growth.bytes_per_account),
    marginal_heap_bytes_per_account: marginal((growth) => growth.heap_bytes_per_account),
  };
}

async function main(argv: string[]): Promise<void> {
  const [mode, dir, eventsText, postingsText] = argv;
  if (mode === 'build-accounts' || mode === 'measure-accounts') {
    const accounts = Number(eventsText);
    if (dir === undefined || !Number.isSafeInteger(accounts)) throw new Error(`usage: startup.js ${mode} <dir> <accounts>`);
    const answer = mode === 'build-accounts' ? { build_s: await buildAccounts(path.resolve(dir), accounts) } : await measureAccountsInProcess(path.resolve(dir), accounts);
    process.stdout.write(`${JSON.stringify(answer)}\n`);
    return;
  }
  const events = Number(eventsText);
  const postingsPerTx = Number(postingsText);
  if (dir === undefined || !Number.isSafeInteger(events) || !Number.isSafeInteger(postingsPerTx)) {
    throw new Error('usage: startup.js build|measure <dir> <events> <postingsPerTx>');
  }
  if (mode === 'build') {
    process.stdout.write(`${JSON.stringify({ build_s: await build(path.resolve(dir), events, postingsPerTx) })}\n`);
  } else if (mode === 'measure') {
    process.stdout.write(`${JSON.stringify(await measure(path.resolve(dir), events, postingsPerTx))}\n`);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
