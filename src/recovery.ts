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
import path from 'node:path';
import { ApplyError, type BookState } from './book-state.js';
import { StoreError } from './errors.js';
import type { DecodedPayload } from './event-codec.js';
import { readFully, type FileSystem } from './file-system.js';
import { decodeFrame, findIntactFrameAfter, isBadFrame } from './frame.js';
import { parseSegmentFileName, SegmentLog } from './segment.js';

export type RecoveryAction = 'open' | 'truncate-tail' | 'refuse-corrupt' | 'empty-book' | 'remove-tmp' | 'ignore';

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
}

export interface RecoveredBook {
  state: BookState;
  log: SegmentLog;
  repair: RepairPlan;
  /** Warnings met while replaying (duplicates a Rust-written log may hold). */
  warnings: string[];
}

/**
 * Check phase for one book: verifies every segment, replays every event into `state` and decides
 * the fate of a bad final tail. Reads only (C1). Throws CORRUPT.
 */
export function recoverBook(fileSystem: FileSystem, dataDir: string, state: BookState): RecoveredBook {
  const book = state.book;
  const log = new SegmentLog(fileSystem, dataDir, book);
  const repair: RepairPlan = { tornTail: null, temporaryFiles: [] };
  const warnings: string[] = [];
  const bases = new Map<number, string>();
  for (const name of fileSystem.readdirSync(log.bookDir)) {
    if (name.endsWith('.tmp')) {
      repair.temporaryFiles.push(path.join(log.bookDir, name));
      continue;
    }
    const base = parseSegmentFileName(name);
    if (base === null) continue; // R19
    const other = bases.get(base);
    if (other !== undefined) {
      const file = path.join(log.bookDir, name);
      throw StoreError.corrupt(book, file, 0, `segment "${file}" has the same base as "${path.join(log.bookDir, other)}"`);
    }
    bases.set(base, name);
  }
  const ordered = [...bases.keys()].sort((left, right) => left - right);
  for (let index = 0; index < ordered.length; index++) {
    const base = ordered[index]!;
    const final = index === ordered.length - 1;
    const file = path.join(log.bookDir, bases.get(base)!);
    const expectedSeq = state.seqNext;
    if (base !== expectedSeq) {
      // R6 for a lost first or middle segment (a gap before this base), R7 otherwise.
      if (base > expectedSeq) {
        throw StoreError.corrupt(book, file, 0, `seq gap in book ${book}: expected seq ${expectedSeq}, found ${base} in "${file}" at offset 0`);
      }
      throw StoreError.corrupt(book, file, 0, `segment "${file}" does not start at seq ${expectedSeq}`);
    }
    const bytes = readWholeFile(fileSystem, file);
    if (bytes.length === 0 && !final) {
      throw StoreError.corrupt(book, file, 0, `segment "${file}" does not start at seq ${expectedSeq} (it is empty and not the final segment)`);
    }
    log.adoptSegment(base, bytes.length);
    const usableBytes = replaySegment(bytes, file, final, state, log, repair, warnings);
    log.activeLengthBytes = usableBytes;
  }
  return { state, log, repair, warnings };
}

function replaySegment(
  bytes: Buffer,
  file: string,
  final: boolean,
  state: BookState,
  log: SegmentLog,
  repair: RepairPlan,
  warnings: string[],
): number {
  const book = state.book;
  let offset = 0;
  for (;;) {
    const result = decodeFrame(bytes, offset, bytes.length);
    if (result.kind === 'end') return offset;
    if (isBadFrame(result)) {
      if (!final) {
        throw StoreError.corrupt(book, file, offset, `corrupt frame in sealed segment "${file}" at offset ${offset} (${result.reason})`);
      }
      const intact = findIntactFrameAfter(bytes, offset, bytes.length);
      if (intact !== null) {
        throw StoreError.corrupt(
          book,
          file,
          offset,
          `corrupt frame in final segment "${file}" at offset ${offset} (${result.reason}); an intact frame follows at offset ${intact}`,
        );
      }
      repair.tornTail = { file, offsetBytes: offset, discardedBytes: bytes.length - offset };
      return offset;
    }
    if (result.kind === 'invalid') {
      throw StoreError.corrupt(book, file, offset, `invalid event in segment "${file}" at offset ${offset}: ${result.reason}`);
    }
    const decoded: DecodedPayload = result.decoded;
    if (decoded.seq !== state.seqNext) {
      throw StoreError.corrupt(
        book,
        file,
        offset,
        `seq gap in book ${book}: expected seq ${state.seqNext}, found ${decoded.seq} in "${file}" at offset ${offset}`,
      );
    }
    if (state.atLastUs !== null && decoded.atUs < state.atLastUs) {
      throw StoreError.corrupt(book, file, offset, `commit time goes backwards in book ${book} at seq ${decoded.seq} in "${file}" at offset ${offset}`);
    }
    try {
      const outcome = state.apply(decoded.seq, decoded.atUs, decoded.event.event);
      if (outcome.duplicate !== null) warnings.push(`${outcome.duplicate} at seq ${decoded.seq}`);
    } catch (error) {
      if (!(error instanceof ApplyError)) throw error;
      const base = log.catalog[log.catalog.length - 1];
      throw StoreError.corrupt(book, file, offset, `corrupt log in book ${book} at segment ${base} offset ${offset}: ${error.message}`);
    }
    log.recordFrame(decoded.seq, offset);
    offset += result.frameBytes;
  }
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
  if (plan.temporaryFiles.length > 0) {
    for (const file of plan.temporaryFiles) fileSystem.unlinkSync(file);
    fileSystem.fsyncDirSync(bookDir);
  }
}

