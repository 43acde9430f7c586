/**
 * The power-loss simulation (spec/log-engine.md, section 13.7): the scripted workload of
 * fault-workload.ts runs in-process on a SimFileSystem, which dies after a seeded number of
 * file-system calls (every later call fails, so nothing is acknowledged after that point); the
 * store is closed, a crash image is built in the given mode, and a new store opens on it.
 *
 * Checks:
 *   - whole-write modes (kept, dropped, zeroed, garbled, prefix): open succeeds, because only
 *     bytes no fsync covered can be damaged, and the reopened store passes verifyRecovered
 *     (C1 to C4, C6, C7: acknowledged writes present with seq, txid and at; unknown outcomes at
 *     most once and settled by a retry; retries of acknowledged commits append nothing);
 *   - mixed mode (sector by sector): open succeeds with the same checks, or refuses with CORRUPT
 *     naming a segment and an offset inside the bytes no fsync covered (R3), never opening with an
 *     acknowledged event missing (C8);
 *   - lost directory changes never lose an acknowledged event;
 *   - fsyncgate: after an fsync fails, nothing more of that book is acknowledged, and after a crash
 *     C1 holds.
 * Every failure message carries the seed, the mode and the crash point.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StoreError } from '../../src/core/errors.js';
import { checkFrame, FRAME_HEADER_BYTES } from '../../src/log/frame.js';
import { LogStore } from '../../src/log/log-store.js';
import type { LogStoreOptions } from '../../src/log/options.js';
import { SYSTEM_BOOK, type SequencedEvent } from '../../src/core/types.js';
import { within } from './fault-campaign.js';
import { FAULT_BOOKS, runFaultWorkload, WORKLOAD_SETTINGS } from './fault-workload.js';
import { readAllEvents, verifyRecovered } from './ledger-check.js';
import { mulberry32 } from './prng.js';
import { SimFileSystem, type CrashMode, type DirectoryCrashMode } from './sim-file-system.js';

export interface PowerLossCase {
  seed: number;
  mode: CrashMode;
  directories: DirectoryCrashMode;
  /** The sim dies at this call (1 = the first call of the workload). */
  crashAtCall: number;
  /** fsyncgate: the nth fsync fails and loses its writes (0: none). */
  fsyncgateAt?: number;
  /** Segments preallocated from their first byte (src/log/segment.ts G9). */
  preallocate: boolean;
  steps: number;
}

export interface PowerLossResult {
  opened: boolean;
  acknowledgedChecked: number;
  unknownRetried: number;
}

/** Half the cases run on preallocated segments from the first byte (src/log/segment.ts G9), 512 bytes at a time. */
function options(fileSystem: SimFileSystem, clock: BigInt64Array | null, preallocate: boolean): LogStoreOptions {
  const testHooks: NonNullable<LogStoreOptions['testHooks']> = { inProcess: true, fileSystem };
  if (preallocate) testHooks.preallocate = { fromBytes: 0, chunkBytes: 512 };
  if (clock !== null) testHooks.clockUs = clock;
  return { workers: 2, ...WORKLOAD_SETTINGS, onWarning: () => undefined, testHooks };
}

export function describeCase(powerLoss: PowerLossCase): string {
  return `power loss seed ${powerLoss.seed}, mode ${powerLoss.mode}, directories ${powerLoss.directories}, crash at call ${powerLoss.crashAtCall}${powerLoss.fsyncgateAt ? `, fsyncgate at fsync ${powerLoss.fsyncgateAt}` : ''}, ${powerLoss.steps} steps${powerLoss.preallocate ? ', preallocated segments' : ''}`;
}

/** File-system calls (and fsyncs) a fault-free run of the workload makes, from open to close. */
export async function measureWorkload(steps: number, preallocate: boolean): Promise<{ calls: number; fsyncs: number }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-power-'));
  try {
    const sim = new SimFileSystem({ seed: 1, directories: [root] });
    const clock = new BigInt64Array(new SharedArrayBuffer(8));
    const store = await LogStore.open(root, options(sim, clock, preallocate));
    await runFaultWorkload(store, clock, steps);
    await store.close();
    return { calls: sim.calls, fsyncs: sim.count('fsync') };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export async function runPowerLossCase(powerLoss: PowerLossCase): Promise<PowerLossResult> {
  const what = describeCase(powerLoss);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-power-'));
  try {
    const sim = new SimFileSystem({ seed: powerLoss.seed, directories: [root] });
    const clock = new BigInt64Array(new SharedArrayBuffer(8));
    const store = await LogStore.open(root, options(sim, clock, powerLoss.preallocate));
    sim.crashAfterCalls(powerLoss.crashAtCall);
    if (powerLoss.fsyncgateAt !== undefined && powerLoss.fsyncgateAt > 0) sim.failFsyncAt(powerLoss.fsyncgateAt);
    const run = await within(runFaultWorkload(store, clock, powerLoss.steps), 30_000, `${what}: the workload`);
    // The rule is about the writes after a failed fsync. An fsync that fails inside close() (the
    // one after cutting a preallocated zero tail) has no write after it, and what it lost is only
    // that cut: the reopen below reads the zeros as a torn tail.
    const fsyncgateBeforeClose = sim.fsyncgateFired;
    await within(store.close(), 15_000, `${what}: close()`);
    run.history.crashed();
    if (fsyncgateBeforeClose !== null) checkFsyncgate(run.transcript, fsyncgateBeforeClose, what);

    const image = sim.crash(powerLoss.mode, powerLoss.directories);
    let reopened: LogStore;
    try {
      reopened = await LogStore.open(root, options(image, null, powerLoss.preallocate));
    } catch (error) {
      // Only the mixed mode may refuse, and only for damage inside bytes no fsync covered (R3).
      assert(error instanceof StoreError && error.code === 'CORRUPT', `${what}: open failed: ${(error as Error).stack}`);
      assert.equal(powerLoss.mode, 'mixed', `${what}: a whole-write crash image was refused: ${error.message}`);
      const { file, offset } = error as StoreError & { file: string; offset: number };
      assert(/\/segment-\d+\.log$/.test(file), `${what}: the refusal names no segment: ${error.message}`);
      // The fsynced frames: with preallocation, durable zeros follow them and are not the log.
      const durable = durableFramesEnd(sim, file);
      assert(durable !== null && offset >= durable, `${what}: refused at ${file}:${offset}, inside the ${durable} bytes of fsynced frames: ${error.message}`);
      return { opened: false, acknowledgedChecked: 0, unknownRetried: 0 };
    }
    let logs: Map<string, SequencedEvent[]>;
    let verified;
    try {
      verified = await verifyRecovered(reopened, run.history, { books: FAULT_BOOKS, balanced: true, replay: true, context: what });
      logs = await readLogs(reopened);
    } finally {
      await within(reopened.close(), 15_000, `${what}: close() after recovery`);
    }
    // Recovery and the retries left a state that opens again, identically.
    const again = await LogStore.open(root, options(image, null, powerLoss.preallocate));
    try {
      assert.deepEqual(await readLogs(again), logs, `${what}: a second open found a different log`);
    } finally {
      await again.close();
    }
    return { opened: true, acknowledgedChecked: verified.acknowledgedChecked, unknownRetried: verified.unknownRetried };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Where the sound frames at the start of a file's durable image end, or null for no such file. */
function durableFramesEnd(sim: SimFileSystem, file: string): number | null {
  const durable = sim.durableBytes(file);
  if (durable === null) return null;
  let offset = 0;
  for (let checked = checkFrame(durable, 0, durable.length); checked.kind === 'sound'; checked = checkFrame(durable, offset, durable.length)) {
    offset += FRAME_HEADER_BYTES + checked.payloadBytes;
  }
  return offset;
}

async function readLogs(store: LogStore): Promise<Map<string, SequencedEvent[]>> {
  const logs = new Map<string, SequencedEvent[]>();
  for (const book of [SYSTEM_BOOK, ...FAULT_BOOKS]) logs.set(book, await readAllEvents(store, book));
  return logs;
}

/** fsyncgate: once an fsync of a book's segment failed, no later write of that book succeeded. */
function checkFsyncgate(transcript: Awaited<ReturnType<typeof runFaultWorkload>>['transcript'], file: string, what: string): void {
  const match = /\/books\/([^/]+)\/segment-\d+\.log$/.exec(file);
  if (match === null) return; // a snapshot or run file: only that work is lost
  const book = match[1]!;
  const failedAt = Math.min(...transcript.filter((entry) => entry.book === book && !entry.answer.ok && entry.answer.code === 'BOOK_UNAVAILABLE').map((entry) => entry.resolvedAt));
  assert(failedAt < Infinity, `${what}: the fsync of ${file} failed but book ${book} went on`);
  for (const entry of transcript) {
    if (entry.book === book && entry.kind === 'write' && entry.resolvedAt > failedAt) {
      assert(!entry.answer.ok, `${what}: ${entry.label} was acknowledged after the failed fsync of ${file}`);
    }
  }
}

export interface PowerLossSummary {
  cases: number;
  opened: number;
  refused: number;
  acknowledgedChecked: number;
  unknownRetried: number;
}

/** `seeds` cases per crash mode, each with a seeded crash point, directory mode and fsyncgate. */
export async function runPowerLossCampaign(
  modes: readonly CrashMode[],
  seeds: number,
  firstSeed: number,
  steps: number,
  log: (line: string) => void = () => undefined,
): Promise<PowerLossSummary> {
  const workloads = [await measureWorkload(steps, false), await measureWorkload(steps, true)];
  for (const [index, { calls, fsyncs }] of workloads.entries()) {
    log(`the workload makes ${calls} file-system calls and ${fsyncs} fsyncs without faults${index === 1 ? ' on preallocated segments' : ''}`);
  }
  const summary: PowerLossSummary = { cases: 0, opened: 0, refused: 0, acknowledgedChecked: 0, unknownRetried: 0 };
  for (const mode of modes) {
    for (let index = 0; index < seeds; index++) {
      const seed = (firstSeed + index * 7919 + mode.length * 104_729) >>> 0;
      const random = mulberry32(seed);
      const preallocate = index % 2 === 1;
      const { calls, fsyncs } = workloads[preallocate ? 1 : 0]!;
      const directories = (['random', 'random', 'applied', 'lost'] as const)[Math.floor(random() * 4)]!;
      const crashAtCall = 1 + Math.floor(random() * calls);
      const fsyncgateAt = random() < 0.15 ? 1 + Math.floor(random() * fsyncs) : 0;
      const result = await runPowerLossCase({ seed, mode, directories, crashAtCall, fsyncgateAt, steps, preallocate });
      summary.cases++;
      if (result.opened) summary.opened++;
      else summary.refused++;
      summary.acknowledgedChecked += result.acknowledgedChecked;
      summary.unknownRetried += result.unknownRetried;
    }
    log(`${mode}: ${seeds} seeds`);
  }
  return summary;
}
