/**
 * Checks of one snapshot or idempotency-run file for the operator tools (`talea-log verify` and
 * `inspect`): the files open can do without, since a snapshot only shortens the replay (section
 * 8.1) and a run's keys can be rebuilt from the log (section 9.8).
 *
 * Q1. The checks are the engine's own: loadSnapshot and readRun for the file itself, and recovery's
 *     checkLogReaches (R13, R17) and checkSnapshotCommitTime (check 7 of section 8.8) against the
 *     log. Nothing here restates a rule, so a verdict is what open would decide.
 * Q2. Read-only: every read goes through the FileSystem given; nothing is written.
 * Q3. Bad file contents are a verdict, never an exception; only errors that are not about the file
 *     (bugs) are thrown.
 */
import { isStoreError } from '../core/errors.js';
import type { FileSystem } from './file-system.js';
import { readRun, RunInvalid, type RunMeta } from './idem-runs.js';
import { checkLogReaches, checkSnapshotCommitTime, type LogEnd } from './recovery.js';
import { loadSnapshot, SnapshotUnusable, type LoadedSnapshot } from './snapshot.js';

export type SnapshotVerdict =
  /** Passes every check of section 8.8: open may load it (R14). */
  | { kind: 'usable' }
  /** Fails a check of section 8.8: open skips it (R12). `reason` is the engine's, after the file name. */
  | { kind: 'unusable'; reason: string }
  /** Passes its own checks but covers a seq beyond the log's end: open refuses (R13). */
  | { kind: 'ahead'; message: string };

export type RunVerdict =
  /** Passes every check of section 9.8 step 1 and ends within the log (R15). */
  | { kind: 'valid'; start: number; end: number; recordCount: number }
  /** Fails a check: open deletes it and rebuilds its keys from the log (R16). */
  | { kind: 'invalid'; reason: string }
  /** Valid, but its interval ends beyond the log's end: open refuses (R17). */
  | { kind: 'beyond'; start: number; end: number; recordCount: number; message: string };

/**
 * Checks the snapshot `file` of seq `seq` (from its name) against the log ending at `logEnd`.
 * `atUsOf(seq)` reads the commit time of that frame of the log; a StoreError from it makes the
 * snapshot unusable, since open could not compare it either.
 */
export function checkSnapshotFile(fileSystem: FileSystem, file: string, seq: number, logEnd: LogEnd, atUsOf: (seq: number) => number): SnapshotVerdict {
  let snapshot: LoadedSnapshot;
  try {
    snapshot = loadSnapshot(fileSystem, file, logEnd.book, seq);
  } catch (error) {
    if (error instanceof SnapshotUnusable) return { kind: 'unusable', reason: error.message };
    throw error;
  }
  try {
    checkLogReaches(logEnd, `snapshot "${file}"`, seq);
  } catch (error) {
    if (isStoreError(error, 'CORRUPT')) return { kind: 'ahead', message: error.message };
    throw error;
  }
  let atUs: number;
  try {
    atUs = atUsOf(seq);
  } catch (error) {
    if (isStoreError(error)) return { kind: 'unusable', reason: `cannot be compared with the log: ${error.message}` };
    throw error;
  }
  try {
    checkSnapshotCommitTime(snapshot, atUs);
  } catch (error) {
    if (error instanceof SnapshotUnusable) return { kind: 'unusable', reason: error.message };
    throw error;
  }
  return { kind: 'usable' };
}

/** Checks the run `file` (number `number`, from its name) against the log ending at `logEnd`. */
export function checkRunFile(fileSystem: FileSystem, file: string, number: number, logEnd: LogEnd): RunVerdict {
  let meta: RunMeta;
  try {
    meta = readRun(fileSystem, file, number).meta;
  } catch (error) {
    if (error instanceof RunInvalid) return { kind: 'invalid', reason: error.message };
    throw error;
  }
  const { start, end, recordCount } = meta;
  try {
    checkLogReaches(logEnd, `idempotency run "${file}"`, end);
  } catch (error) {
    if (isStoreError(error, 'CORRUPT')) return { kind: 'beyond', start, end, recordCount, message: error.message };
    throw error;
  }
  return { kind: 'valid', start, end, recordCount };
}
