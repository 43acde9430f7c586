/**
 * The process-crash loop (spec/log-engine.md, section 13.3), shared by the short run in `npm test`
 * and the long campaign script.
 *
 * Each cycle forks a child that commits under concurrent load, kills it with SIGKILL after a random
 * delay, reopens the same directory at once (so the lock must be free), and checks:
 *   C1. every acknowledged commit is present exactly once, with its original seq, txid and at;
 *   C2. every definite failure left nothing behind;
 *   C3. every call with an unknown outcome is present at most once, and retrying it with its key
 *       and content settles it: exactly once afterwards;
 *   C4. each book's seqs run 1..N with no gap, and per asset debits equal credits;
 *   and retrying acknowledged commits with their keys (every one of this cycle, a seeded sample
 *   of older ones) returns the original Committed and appends nothing.
 * The directory is reused from cycle to cycle, so damage would accumulate. With `options` (a small
 * snapshotEvery and idemHotCap) the child snapshots and spills all the time, so kills land during
 * snapshots, spills and merges (the second variant of section 13.3). At the end, the recovered
 * events replayed into a MemoryStore give the same answers (C7).
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LogStore } from '../../src/log/log-store.js';
import type { Committed, SequencedEvent } from '../../src/core/types.js';
import { crashDraft, CRASH_BOOKS, crashStoreOptions, type CrashStoreOptions } from './crash-workload.js';
import { verifyReplay } from './ledger-check.js';
import { mulberry32 } from './prng.js';

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url));

interface CallRecord {
  book: string;
  minor: bigint;
  state: 'invoke' | 'ok' | 'fail';
  code?: string;
  committed?: Committed;
}

export interface CampaignResult {
  cycles: number;
  acknowledgedChecked: number;
  unknownRetried: number;
  /** Acknowledged commits retried with their keys: each returned the original, appending nothing. */
  acknowledgedRetried: number;
  /** Distinct acknowledged commits at the end (acknowledgedChecked counts them once per cycle). */
  acknowledgedDistinct: number;
}

/** How many older acknowledged commits each cycle retries, besides every one of its own. */
const OLDER_RETRIES_PER_CYCLE = 25;


/**
 * One cycle: the child runs its workload and is killed `killDelayMs` after it is ready and has
 * had `acknowledgedBeforeKill` commits acknowledged, so each cycle does a minimum of work however
 * slow the machine is (a variant that must reach snapshots and spills needs that much).
 */
async function runChild(
  dir: string,
  cycle: number,
  killDelayMs: number,
  acknowledgedBeforeKill: number,
  calls: Map<string, CallRecord>,
  options: CrashStoreOptions,
): Promise<void> {
  const child = fork(CHILD, [dir, String(cycle), JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let ready = false;
  let acknowledged = 0;
  let armed = false;
  const armWhenDue = (): void => {
    if (armed || !ready || acknowledged < acknowledgedBeforeKill) return;
    armed = true;
    setTimeout(() => child.kill('SIGKILL'), killDelayMs);
  };
  child.on('message', (message: { type: string; key?: string; book?: string; minor?: string; code?: string; committed?: Committed }) => {
    switch (message.type) {
      case 'ready':
        ready = true;
        armWhenDue();
        break;
      case 'invoke':
        calls.set(message.key!, { book: message.book!, minor: BigInt(message.minor!), state: 'invoke' });
        break;
      case 'ok': {
        const record = calls.get(message.key!)!;
        record.state = 'ok';
        record.committed = message.committed!;
        acknowledged++;
        armWhenDue();
        break;
      }
      case 'fail': {
        const record = calls.get(message.key!)!;
        record.state = 'fail';
        record.code = message.code!;
        break;
      }
    }
  });
  // A child that never reports ready (a failed open) must not hang the campaign.
  const watchdog = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(watchdog);
}

async function readAll(store: LogStore, book: string): Promise<SequencedEvent[]> {
  const events: SequencedEvent[] = [];
  for (;;) {
    const page = await store.readEvents(book, events.length + 1, 5000);
    if (page.length === 0) return events;
    events.push(...page);
  }
}

export async function runCrashCampaign(
  dir: string,
  cycles: number,
  seed: number,
  log: (line: string) => void = () => {},
  options: CrashStoreOptions = {},
  acknowledgedBeforeKill = 0,
): Promise<CampaignResult> {
  const random = mulberry32(seed);
  const acknowledged = new Map<string, Committed & { book: string; minor: bigint }>();
  let acknowledgedChecked = 0;
  let unknownRetried = 0;
  let acknowledgedRetried = 0;
  for (let cycle = 0; cycle < cycles; cycle++) {
    const calls = new Map<string, CallRecord>();
    const killDelayMs = 20 + Math.floor(random() * 300);
    await runChild(dir, cycle, killDelayMs, acknowledgedBeforeKill, calls, options);

    const store = await LogStore.open(dir, crashStoreOptions(options));
    try {
      // Retry every call whose outcome is unknown, with its key and content (C3).
      for (const [key, record] of calls) {
        const unknown = record.state === 'invoke' || (record.state === 'fail' && record.code === 'BOOK_UNAVAILABLE');
        if (!unknown) continue;
        const committed = await store.commit(crashDraft(record.book, key, record.minor));
        record.state = 'ok';
        record.committed = committed;
        unknownRetried++;
      }
      for (const [key, record] of calls) {
        if (record.state === 'ok') acknowledged.set(key, { ...record.committed!, book: record.book, minor: record.minor });
      }
      // Scan every book: gapless seqs, each key once, every acknowledged commit as acknowledged.
      const seen = new Map<string, { book: string; seq: number; at: string; txid: string }>();
      for (const book of CRASH_BOOKS) {
        const events = await readAll(store, book);
        events.forEach((event, index) => assert.equal(event.seq, index + 1, `${book}: seq gap at index ${index}`)); // C4
        for (const event of events) {
          if (event.event.kind !== 'transaction_posted') continue;
          const key = event.event.idempotency_key;
          assert(!seen.has(key), `key ${key} appears twice`); // C1, C3
          seen.set(key, { book, seq: event.seq, at: event.at, txid: event.event.id });
        }
        const rows = await store.trialBalance(book);
        for (const row of rows) assert.equal(row.debits, row.credits, `${book}: debits and credits differ`); // C4
      }
      for (const [key, committed] of acknowledged) {
        const found = seen.get(key);
        assert(found !== undefined, `acknowledged key ${key} is missing`); // C1
        assert.deepEqual(found, { book: committed.book, seq: committed.seq, at: committed.at, txid: committed.txid }, `key ${key}`);
        acknowledgedChecked++;
      }
      // Retrying an acknowledged commit returns the original and appends nothing (C3): every key
      // of this cycle, and a sample of older ones, which by now live in spilled runs.
      const durableBefore = CRASH_BOOKS.map((book) => store.durableSeq(book));
      const older = [...acknowledged.keys()].filter((key) => !calls.has(key));
      const retryKeys = [...calls.keys()].filter((key) => acknowledged.has(key));
      for (let index = 0; index < OLDER_RETRIES_PER_CYCLE && older.length > 0; index++) retryKeys.push(older[Math.floor(random() * older.length)]!);
      for (const key of retryKeys) {
        const { book, minor, txid, seq, at } = acknowledged.get(key)!;
        assert.deepEqual(await store.commit(crashDraft(book, key, minor)), { txid, seq, at }, `retrying acknowledged key ${key}`);
        acknowledgedRetried++;
      }
      assert.deepEqual(
        CRASH_BOOKS.map((book) => store.durableSeq(book)),
        durableBefore,
        'retrying acknowledged commits appended events',
      );
      if (cycle === cycles - 1) await verifyReplay(store, [...CRASH_BOOKS], `seed ${seed}`); // C7
      for (const [key, record] of calls) {
        if (record.state === 'fail') assert(!seen.has(key), `key ${key} failed with ${record.code} but is present`); // C2
      }
    } finally {
      await store.close();
    }
    log(`cycle ${cycle + 1}/${cycles}: killed after ${killDelayMs} ms, ${calls.size} calls, ${acknowledged.size} acknowledged so far`);
  }
  return { cycles, acknowledgedChecked, unknownRetried, acknowledgedRetried, acknowledgedDistinct: acknowledged.size };
}
