/**
 * Recovery at open (spec/log-engine.md, section 5): the per-book decision table as data, and the
 * check phase that applies it to one book's segments.
 *
 * C1. The check phase only reads. It returns a repair plan (torn tail, leftover temporary files);
 *     the repair phase runs only after every book of the store has passed its checks, so a refused
 *     data directory is left exactly as it was found.
 * C2. A torn tail is truncated only when the bad frame runs to the physical end of the final
 *     segment (no intact frame after it). Any other bad frame, a bad payload, a seq gap, a segment
 *     whose base differs from its first seq, time going backwards or an impossible event refuses
 *     to open with CORRUPT naming the file and byte offset.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { ApplyError, BookState } from './book-state.js';
import { StoreError } from '../core/errors.js';
import type { DecodedPayload } from '../core/event-codec.js';
import { readFully, type FileSystem } from './file-system.js';
import { checkFrame, decodeSoundFrame, findIntactFrameAfter, FRAME_HEADER_BYTES, isBadFrame, peekSeq } from './frame.js';
import { attachRunsAtOpen, spillNow, writeRebuiltRuns } from './idem-spill.js';
import type { RunRecord } from './idem-runs.js';
import { bookDirectory, parseSegmentFileName, SegmentLog } from './segment.js';
import { listSnapshots, loadSnapshot, snapshotFileName, SnapshotUnusable, type LoadedSnapshot } from './snapshot.js';

export type RecoveryAction = 'open' | 'truncate-tail' | 'refuse-corrupt' | 'empty-book' | 'remove-tmp' | 'ignore' | 'ignore-snapshot' | 'rebuild-runs';

export interface RecoveryCase {
  readonly id: string;
  readonly when: string;
  readonly action: RecoveryAction;
}

/** The segment rows of the decision table (section 5.3) this engine implements. */
export const RECOVERY_CASES: readonly RecoveryCase[] = [
  { id: 'R1', when: 'every frame decodes and applies, seqs run 1, 2, 3 and each base equals its first seq', action: 'open' },
  { id: 'R2', when: 'a bad frame in the final segment with no intact frame after it', action: 'truncate-tail' },
  { id: 'R3', when: 'a bad frame in the final segment followed by an intact frame', action: 'refuse-corrupt' },
  { id: 'R4', when: 'a bad frame anywhere in a sealed segment', action: 'refuse-corrupt' },
  { id: 'R5', when: 'a frame whose CRC matches but whose payload is not a valid event', action: 'refuse-corrupt' },
  { id: 'R6', when: 'a frame seq that is not the previous seq + 1, or a first seq other than 1', action: 'refuse-corrupt' },
  { id: 'R7', when: 'a segment base that differs from the next expected seq, an empty sealed segment, or two files with one base', action: 'refuse-corrupt' },
  { id: 'R8', when: 'a book directory with no segment, or only an empty final segment with base 1', action: 'empty-book' },
  { id: 'R9', when: 'a commit time earlier than the previous event of the book', action: 'refuse-corrupt' },
  { id: 'R10', when: 'a frame that decodes but cannot be applied', action: 'refuse-corrupt' },
  { id: 'R11', when: 'no snapshot file', action: 'open' },
  { id: 'R12', when: 'a snapshot that fails its length, magic, version, CRC, name, schema or commit-time check', action: 'ignore-snapshot' },
  { id: 'R13', when: 'a usable snapshot that covers a seq beyond the end of the log', action: 'refuse-corrupt' },
  { id: 'R14', when: 'a usable snapshot within the log: load it and replay the tail after it', action: 'open' },
  { id: 'R15', when: 'idempotency runs that are valid and tile the required coverage', action: 'open' },
  { id: 'R16', when: 'an idempotency run that is damaged or missing: its keys are rebuilt from the log', action: 'rebuild-runs' },
  { id: 'R17', when: 'a valid idempotency run that covers a seq beyond the end of the log', action: 'refuse-corrupt' },
  { id: 'R18', when: 'leftover temporary files', action: 'remove-tmp' },
  { id: 'R19', when: 'files matching none of the known names', action: 'ignore' },
];

export interface TornTail {
  file: string;
  offsetBytes: number;
  discardedBytes: number;
}

export interface RepairPlan {
  tornTail: TornTail | null;
  temporaryFiles: string[];
  /** Invalid and retired idempotency runs, whose replacements are durable already. */
  obsoleteFiles: string[];
}

export interface RecoveredBook {
  state: BookState;
  log: SegmentLog;
  repair: RepairPlan;
  /** Warnings met while recovering: unusable snapshots, duplicates a Rust-written log may hold. */
  warnings: RecoveryWarning[];
  temporaryFiles: string[];
  /** The seq of the snapshot the state was loaded from (R14), or null after a full replay. */
  snapshotSeq: number | null;
  /** Where the log ends, as R13 and R17 name it. */
  logEnd: LogEnd;
}

/** The end of a book's log as R13 and R17 name it: the final segment (or the book directory) and its usable length. */
export interface LogEnd {
  book: string;
  lastSeq: number;
  file: string;
  offsetBytes: number;
}

export interface RecoveryWarning {
  code: string;
  message: string;
  file?: string;
}

/**
 * Check phase for one book: loads the newest usable snapshot, verifies every segment (CRC, seq and
 * naming for every frame), replays the events after the snapshot into the state, and decides the
 * fate of a bad final tail. Reads only (C1). Throws CORRUPT.
 */
export interface RecoverOptions {
  /** Spill the replayed idempotency keys above this many (section 9.8 step 6). */
  idemHotCap: number;
  /** False for read-only checks (the operator's verify): no run is written, a hole is only reported. */
  writeRuns: boolean;
}

const READ_ONLY: RecoverOptions = { idemHotCap: Number.POSITIVE_INFINITY, writeRuns: false };

export function recoverBook(fileSystem: FileSystem, dataDir: string, book: string, options: RecoverOptions = READ_ONLY): RecoveredBook {
  const bookDir = bookDirectory(dataDir, book);
  const warnings: RecoveryWarning[] = [];
  const temporaryFiles: string[] = [];
  const bases = new Map<number, string>();
  for (const name of fileSystem.readdirSync(bookDir)) {
    if (name.endsWith('.tmp')) {
      temporaryFiles.push(path.join(bookDir, name)); // R18: never read, removed in the repair phase
      continue;
    }
    const base = parseSegmentFileName(name);
    if (base === null) continue; // snapshots are listed below; anything else is R19
    const other = bases.get(base);
    if (other !== undefined) {
      const file = path.join(bookDir, name);
      throw StoreError.corrupt(book, file, 0, `segment "${file}" has the same base as "${path.join(bookDir, other)}"`);
    }
    bases.set(base, name);
  }
  const segments = [...bases.keys()].sort((left, right) => left - right).map((base) => ({ base, file: path.join(bookDir, bases.get(base)!) }));
  // Snapshots newest first; the first that passes its own checks and agrees with the log wins.
  for (const snapshotSeq of listSnapshots(fileSystem, bookDir)) {
    const file = path.join(bookDir, snapshotFileName(snapshotSeq));
    let snapshot: LoadedSnapshot;
    try {
      snapshot = loadSnapshot(fileSystem, file, book, snapshotSeq);
    } catch (error) {
      if (!(error instanceof SnapshotUnusable)) throw error;
      warnings.push({ code: 'SNAPSHOT_UNUSABLE', message: `snapshot "${file}" ${error.message}; ignored`, file });
      continue;
    }
    try {
      return { ...replayLog(fileSystem, book, bookDir, segments, snapshot, warnings, options), temporaryFiles };
    } catch (error) {
      if (!(error instanceof SnapshotUnusable)) throw error;
      warnings.push({ code: 'SNAPSHOT_UNUSABLE', message: `snapshot "${file}" ${error.message}; ignored`, file });
    }
  }
  return { ...replayLog(fileSystem, book, bookDir, segments, null, warnings, options), temporaryFiles };
}

interface ReplayResult {
  state: BookState;
  log: SegmentLog;
  repair: RepairPlan;
  warnings: RecoveryWarning[];
  snapshotSeq: number | null;
  logEnd: LogEnd;
}

function replayLog(
  fileSystem: FileSystem,
  book: string,
  bookDir: string,
  segments: Array<{ base: number; file: string }>,
  snapshot: LoadedSnapshot | null,
  warnings: RecoveryWarning[],
  options: RecoverOptions,
): ReplayResult & { temporaryFiles?: never } {
  const dataDir = path.dirname(path.dirname(bookDir));
  const log = new SegmentLog(fileSystem, dataDir, book);
  const state = snapshot?.state ?? new BookState(book);
  // Idempotency runs (section 9.8): the chosen runs tile (0, P]; the snapshot requires (0, H].
  const attached = attachRunsAtOpen(fileSystem, book, bookDir);
  warnings.push(...attached.warnings);
  const index = state.idempotency;
  const requiredThrough = index.spilledThroughSeq;
  const tiledThrough = attached.tiledThrough;
  index.runs = attached.runs;
  if (tiledThrough > requiredThrough) {
    index.dropThrough(tiledThrough); // on disk already
  }
  index.spilledThroughSeq = Math.max(tiledThrough, requiredThrough);
  const hole = tiledThrough < requiredThrough ? { start: tiledThrough, end: requiredThrough } : null;
  const context: ReplayContext = { book, state, log, snapshot, warnings, tornTail: null, expectedSeq: 1, hole, holeRecords: [], idemHotCap: options.writeRuns ? options.idemHotCap : Number.POSITIVE_INFINITY };
  for (let index = 0; index < segments.length; index++) {
    const { base, file } = segments[index]!;
    const final = index === segments.length - 1;
    const expectedSeq = context.expectedSeq;
    const bytes = readWholeFile(fileSystem, file);
    if (base !== expectedSeq) {
      // R6 when the first frame shows a gap (a lost first or middle segment); R7 when the frames
      // run on but the name is wrong.
      const checked = checkFrame(bytes, 0, bytes.length);
      const firstSeq = checked.kind === 'sound' ? peekSeq(bytes, FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + checked.payloadBytes) : null;
      if (firstSeq !== null && firstSeq !== expectedSeq) throw seqGap(book, file, 0, expectedSeq, firstSeq);
      throw StoreError.corrupt(book, file, 0, recoveryMessages.misplacedSegment(file, expectedSeq, false));
    }
    if (bytes.length === 0 && !final) {
      throw StoreError.corrupt(book, file, 0, recoveryMessages.misplacedSegment(file, expectedSeq, true));
    }
    log.adoptSegment(base, bytes.length);
    log.activeLengthBytes = replaySegment(bytes, file, final, context);
  }
  const lastSeq = context.expectedSeq - 1;
  const finalSegment = segments[segments.length - 1];
  const logEnd: LogEnd = { book, lastSeq, file: finalSegment?.file ?? bookDir, offsetBytes: finalSegment === undefined ? 0 : log.activeLengthBytes };
  // R13: the snapshot proves that events up to its seq were durable; never fall back.
  if (snapshot !== null) checkLogReaches(logEnd, `snapshot "${snapshot.file}"`, snapshot.seq);
  assert.equal(state.lastSeq, lastSeq);
  // R17: the run proves that events up to its end were durable.
  for (const run of attached.valid) checkLogReaches(logEnd, `idempotency run "${run.file}"`, run.end);
  if (hole !== null && options.writeRuns) {
    // R16: rebuild the missing keys from the log itself, over exactly the missing range.
    writeRebuiltRuns(fileSystem, attached.runs, bookDir, hole.start, hole.end, context.holeRecords, options.idemHotCap);
    warnings.push({ code: 'RUN_REBUILT', message: `idempotency keys of seqs ${hole.start + 1} to ${hole.end} of book ${book} were rebuilt from the log` });
  } else if (hole !== null) {
    warnings.push({ code: 'RUN_REBUILT', message: `idempotency keys of seqs ${hole.start + 1} to ${hole.end} of book ${book} are in no valid run; open rebuilds them from the log` });
  }
  return { state, log, repair: { tornTail: context.tornTail, temporaryFiles: [], obsoleteFiles: attached.obsolete }, warnings, snapshotSeq: snapshot?.seq ?? null, logEnd };
}

interface ReplayContext {
  book: string;
  state: BookState;
  log: SegmentLog;
  snapshot: LoadedSnapshot | null;
  warnings: RecoveryWarning[];
  tornTail: TornTail | null;
  /** The seq the next frame must carry. */
  expectedSeq: number;
  /** A seq range whose idempotency records no valid run holds, rebuilt from the frames. */
  hole: { start: number; end: number } | null;
  holeRecords: RunRecord[];
  idemHotCap: number;
}

/**
 * Walks one segment frame by frame. Frames the snapshot covers are verified (length, CRC, seq)
 * without a full decode; the snapshot's own frame is decoded to check its commit time; later
 * frames are decoded and applied. Returns the usable length of the segment.
 */
function replaySegment(bytes: Buffer, file: string, final: boolean, context: ReplayContext): number {
  const { book, state, log } = context;
  const snapshotSeq = context.snapshot?.seq ?? 0;
  let offset = 0;
  for (;;) {
    const checked = checkFrame(bytes, offset, bytes.length);
    if (checked.kind === 'end') return offset;
    if (isBadFrame(checked)) {
      const verdict = badFrameVerdict(bytes, offset, checked.reason, file, final);
      if (verdict.row !== 'R2') throw StoreError.corrupt(book, file, offset, verdict.message);
      context.tornTail = verdict.tornTail;
      return offset;
    }
    assert(checked.kind === 'sound');
    const payloadStart = offset + FRAME_HEADER_BYTES;
    const frameBytes = FRAME_HEADER_BYTES + checked.payloadBytes;
    const peeked = peekSeq(bytes, payloadStart, payloadStart + checked.payloadBytes);
    const expectedSeq = context.expectedSeq;
    const hole = context.hole;
    const inHole = (seq: number): boolean => hole !== null && seq > hole.start && seq <= hole.end;
    let applied = false;
    if (peeked !== null && peeked < snapshotSeq && !inHole(peeked)) {
      if (peeked !== expectedSeq) throw seqGap(book, file, offset, expectedSeq, peeked);
    } else {
      const result = decodeSoundFrame(bytes, offset, checked.payloadBytes);
      if (result.kind === 'invalid') {
        throw StoreError.corrupt(book, file, offset, recoveryMessages.invalidEvent(file, offset, result.reason));
      }
      assert(result.kind === 'frame');
      const decoded: DecodedPayload = result.decoded;
      if (decoded.seq !== expectedSeq) throw seqGap(book, file, offset, expectedSeq, decoded.seq);
      const event = decoded.event.event;
      if (inHole(decoded.seq) && event.kind === 'transaction_posted') {
        const base = log.catalog[log.catalog.length - 1]!;
        context.holeRecords.push({ key: event.idempotency_key, txid: event.id, seq: decoded.seq, atUs: decoded.atUs, segmentBase: base, offsetBytes: offset });
      }
      if (decoded.seq === snapshotSeq) {
        checkSnapshotCommitTime(context.snapshot!, decoded.atUs);
      } else if (decoded.seq > snapshotSeq) {
        applyReplayed(context, decoded, file, offset);
        applied = true;
      }
    }
    log.recordFrame(expectedSeq, offset);
    context.expectedSeq = expectedSeq + 1;
    // Keep memory within the hot cap while replaying (section 9.8 step 6).
    if (applied) spillNow(log.fileSystem, log, state.idempotency, context.idemHotCap);
    offset += frameBytes;
  }
}

/**
 * Rows R2 to R4 for a bad frame at `offset` of a segment's `bytes`: anywhere in a sealed segment it
 * is R4; in the final segment it is R3 when the forward scan finds an intact frame after it, and
 * otherwise a torn tail that the repair phase truncates (R2). Messages are those of section 5.5.
 */
export function badFrameVerdict(
  bytes: Buffer,
  offset: number,
  reason: string,
  file: string,
  final: boolean,
): { row: 'R2'; tornTail: TornTail } | { row: 'R4'; message: string } | { row: 'R3'; message: string; intactOffsetBytes: number } {
  if (!final) return { row: 'R4', message: `corrupt frame in sealed segment "${file}" at offset ${offset} (${reason})` };
  const intact = findIntactFrameAfter(bytes, offset, bytes.length);
  if (intact === null) return { row: 'R2', tornTail: { file, offsetBytes: offset, discardedBytes: bytes.length - offset } };
  const message = `corrupt frame in final segment "${file}" at offset ${offset} (${reason}); an intact frame follows at offset ${intact}`;
  return { row: 'R3', message, intactOffsetBytes: intact };
}

/**
 * R13, R17: a snapshot or a valid idempotency run (`what`, for example `snapshot "<file>"`) that
 * covers `seq` proves that events up to it were durable; a log that ends before it lost them.
 * Throws CORRUPT naming the end of the log.
 */
export function checkLogReaches(logEnd: LogEnd, what: string, seq: number): void {
  if (seq <= logEnd.lastSeq) return;
  const { book, file, offsetBytes, lastSeq } = logEnd;
  throw StoreError.corrupt(book, file, offsetBytes, `${what} covers seq ${seq} but the log of book ${book} ends at seq ${lastSeq}`);
}

/** Check 7 of section 8.8: a snapshot whose last commit time is not the `at` of frame S belongs to another history (R12). */
export function checkSnapshotCommitTime(snapshot: LoadedSnapshot, atUs: number): void {
  if (atUs !== snapshot.state.atLastUs) throw new SnapshotUnusable(`does not match the log's commit time at seq ${snapshot.seq} (another history)`);
}

function applyReplayed(context: ReplayContext, decoded: DecodedPayload, file: string, offset: number): void {
  const { book, state, log } = context;
  if (state.atLastUs !== null && decoded.atUs < state.atLastUs) {
    throw StoreError.corrupt(book, file, offset, recoveryMessages.timeBackwards(book, decoded.seq, file, offset));
  }
  try {
    const outcome = state.apply(decoded.seq, decoded.atUs, decoded.event.event);
    if (outcome.duplicate !== null) context.warnings.push({ code: 'REPLAY_DUPLICATE', message: `book ${book}: ${outcome.duplicate} at seq ${decoded.seq}`, file });
  } catch (error) {
    if (!(error instanceof ApplyError)) throw error;
    const base = log.catalog[log.catalog.length - 1];
    throw StoreError.corrupt(book, file, offset, `corrupt log in book ${book} at segment ${base} offset ${offset}: ${error.message}`);
  }
}

/** The words of rows R5, R6, R7 and R9: one source for recovery and `talea-log verify`. */
export const recoveryMessages = {
  invalidEvent: (file: string, offset: number, reason: string): string => `invalid event in segment "${file}" at offset ${offset}: ${reason}`,
  seqGap: (book: string, file: string, offset: number, expected: number, found: number): string =>
    `seq gap in book ${book}: expected seq ${expected}, found ${found} in "${file}" at offset ${offset}`,
  misplacedSegment: (file: string, expectedSeq: number, empty: boolean): string =>
    `segment "${file}" does not start at seq ${expectedSeq}${empty ? ' (it is empty and not the final segment)' : ''}`,
  timeBackwards: (book: string, seq: number, file: string, offset: number): string =>
    `commit time goes backwards in book ${book} at seq ${seq} in "${file}" at offset ${offset}`,
};

function seqGap(book: string, file: string, offset: number, expected: number, found: number): StoreError {
  return StoreError.corrupt(book, file, offset, recoveryMessages.seqGap(book, file, offset, expected, found));
}

function readWholeFile(fileSystem: FileSystem, file: string): Buffer {
  const fd = fileSystem.openSync(file, 'r');
  try {
    const size = fileSystem.fstatSizeSync(fd);
    const bytes = Buffer.allocUnsafe(size);
    const read = readFully(fileSystem, fd, bytes, 0);
    return bytes.subarray(0, read);
  } finally {
    fileSystem.closeSync(fd);
  }
}

/** Repair phase for one book (C1): truncate the torn tail, remove temporary files. */
export function repairBook(fileSystem: FileSystem, bookDir: string, plan: RepairPlan): void {
  if (plan.tornTail !== null) {
    const fd = fileSystem.openSync(plan.tornTail.file, 'r+');
    try {
      fileSystem.ftruncateSync(fd, plan.tornTail.offsetBytes);
      fileSystem.fsyncSync(fd);
    } finally {
      fileSystem.closeSync(fd);
    }
  }
  const files = [...plan.temporaryFiles, ...plan.obsoleteFiles];
  if (files.length > 0) {
    for (const file of files) fileSystem.unlinkSync(file);
    fileSystem.fsyncDirSync(bookDir);
  }
}

