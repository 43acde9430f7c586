/**
 * Recovery at open (spec/log-engine.md, section 5): the per-book decision table as data, and the
 * check phase that applies it to one book's segments.
 *
 * C1. The check phase only reads. It returns a repair plan (torn tail, leftover temporary files);
 *     the repair phase runs only after every book of the store has passed its checks, so a refused
 *     data directory is left exactly as it was found.
 * C2. A torn tail is truncated only when the bad frame runs to the physical end of the final
 *     segment (no intact frame after it). Any other bad frame, a bad payload, a seq gap, a segment
 *     whose base differs from its first seq, time going backwards, an impossible event or a
 *     repeated transaction refuses to open with CORRUPT naming the file and byte offset.
 * C3. Every replayed transaction is checked against every earlier txid of its book and every
 *     earlier idempotency key the index can name without a run read (R20): keys replay finds in
 *     runs already, and frames a snapshot covers, were checked when this package first applied
 *     them. `talea-log verify` checks every frame from seq 1.
 * C4. Only this package's files are read as snapshots or runs, or removed (O1 to O3 in
 *     src/log/book-files.ts); another store's files get one warning per book and are left alone.
 * C5. This package's files under layout-1 names (0.1.x), which the Rust store would take for its
 *     own, are loaded like any other and renamed to their layout-2 names in the repair phase (R21).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { ApplyError, BookState, RepeatError } from './book-state.js';
import { readBookFiles, type BookFiles } from './book-files.js';
import { StoreError } from '../core/errors.js';
import { FRAME_PAYLOAD_BYTES_MAX } from '../core/limits.js';
import type { DecodedPayload } from '../core/event-codec.js';
import { readFully, type FileSystem } from './file-system.js';
import { checkFrame, decodeSoundFrame, findIntactFrameAfter, FRAME_HEADER_BYTES, isBadFrame, peekSeq } from './frame.js';
import { attachRunsAtOpen, spillNow, writeRebuiltRuns } from './idem-spill.js';
import { parseLegacyRunFileName, runFileName, type IdemRuns, type RunMeta, type RunRecord } from './idem-runs.js';
import type { PartRange, SegmentPrecheck, SegmentPrechecks } from './segment-precheck.js';
import { bookDirectory, SegmentLog } from './segment.js';
import { loadSnapshot, snapshotFileName, SnapshotUnusable, type LoadedSnapshot } from './snapshot.js';

export type RecoveryAction = 'open' | 'truncate-tail' | 'refuse-corrupt' | 'empty-book' | 'remove-tmp' | 'ignore' | 'ignore-snapshot' | 'rebuild-runs' | 'rename';

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
  { id: 'R18', when: 'leftover temporary files of this package', action: 'remove-tmp' },
  { id: 'R19', when: 'files matching none of the known names, and files at shared names that another store wrote', action: 'ignore' },
  { id: 'R20', when: 'a replayed transaction that repeats an earlier txid or idempotency key of its book', action: 'refuse-corrupt' },
  { id: 'R21', when: 'snapshots and runs of this package under layout-1 names, which the Rust store also reads', action: 'rename' },
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
  /** This package's layout-1 files and their layout-2 names (C5, R21); `run` is the attached run to repoint. */
  renames: Array<{ from: string; to: string; run: RunMeta | null }>;
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
  /** The file of that snapshot, or null. */
  snapshotFile: string | null;
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
  /** Frames helper threads verified while the snapshot loaded (src/log/segment-precheck.ts). */
  prechecks?: SegmentPrechecks | null;
  /** The book directory's listing, when the caller has just read it (null: list it here). */
  files?: BookFiles | null;
}

const READ_ONLY: RecoverOptions = { idemHotCap: Number.POSITIVE_INFINITY, writeRuns: false };

export function recoverBook(fileSystem: FileSystem, dataDir: string, book: string, options: RecoverOptions = READ_ONLY): RecoveredBook {
  const bookDir = bookDirectory(dataDir, book);
  const warnings: RecoveryWarning[] = [];
  const files = options.files ?? readBookFiles(fileSystem, bookDir);
  // R18: never read, removed in the repair phase (ours only, C4).
  const temporaryFiles = files.temporary.map((name) => path.join(bookDir, name));
  const duplicate = files.duplicateBases[0];
  if (duplicate !== undefined) {
    const [first, second] = duplicate.names.map((name) => path.join(bookDir, name)) as [string, string];
    throw StoreError.corrupt(book, second, 0, `segment "${second}" has the same base as "${first}"`);
  }
  if (files.foreign.length > 0) warnings.push(foreignFilesWarning(book, bookDir, files.foreign));
  const segments = files.segments.map(({ base, name }) => ({ base, file: path.join(bookDir, name) }));
  // Snapshots newest first (of one seq, the layout-2 file first); the first that passes its own
  // checks and agrees with the log wins.
  const snapshots = files.snapshots
    .map(({ name, seq, legacy }) => ({ file: path.join(bookDir, name), seq, legacy }))
    .sort((left, right) => right.seq - left.seq || Number(left.legacy) - Number(right.legacy));
  for (const { file, seq: snapshotSeq } of snapshots) {
    let snapshot: LoadedSnapshot;
    try {
      snapshot = loadSnapshot(fileSystem, file, book, snapshotSeq);
    } catch (error) {
      if (!(error instanceof SnapshotUnusable)) throw error;
      warnings.push({ code: 'SNAPSHOT_UNUSABLE', message: `snapshot "${file}" ${error.message}; ignored`, file });
      continue;
    }
    try {
      return withRenames(fileSystem, bookDir, snapshots, { ...replayLog(fileSystem, book, bookDir, segments, snapshot, warnings, options), temporaryFiles });
    } catch (error) {
      if (!(error instanceof SnapshotUnusable)) throw error;
      warnings.push({ code: 'SNAPSHOT_UNUSABLE', message: `snapshot "${file}" ${error.message}; ignored`, file });
    }
  }
  return withRenames(fileSystem, bookDir, snapshots, { ...replayLog(fileSystem, book, bookDir, segments, null, warnings, options), temporaryFiles });
}

/**
 * C5: plans to rename this package's layout-1 snapshots and attached runs to their layout-2 names
 * (runs that are deleted anyway, and names already taken, are left out). Reads only.
 */
function withRenames(fileSystem: FileSystem, bookDir: string, snapshots: Array<{ file: string; seq: number; legacy: boolean }>, recovered: RecoveredBook): RecoveredBook {
  const renames = recovered.repair.renames;
  const plan = (from: string, name: string, run: RunMeta | null): void => {
    const to = path.join(bookDir, name);
    if (fileSystem.statKindSync(to) === null) renames.push({ from, to, run });
  };
  for (const { file, seq, legacy } of snapshots) if (legacy) plan(file, snapshotFileName(seq), null);
  for (const run of (recovered.state.idempotency.runs as IdemRuns | null)?.runs ?? []) {
    if (parseLegacyRunFileName(path.basename(run.file)) !== null) plan(run.file, runFileName(run.number), run);
  }
  return recovered;
}

/** The one warning per book about files at shared names that another store wrote (C4, R19). */
function foreignFilesWarning(book: string, bookDir: string, names: string[]): RecoveryWarning {
  const listed = names.length <= 4 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
  const message =
    `book ${book}: ${names.length} file${names.length === 1 ? '' : 's'} at snapshot or run names without this package's magic ` +
    `(written by another store, such as the Rust store) left alone and not read: ${listed}`;
  return { code: 'FOREIGN_FILES', message, file: bookDir };
}

interface ReplayResult {
  state: BookState;
  log: SegmentLog;
  repair: RepairPlan;
  warnings: RecoveryWarning[];
  snapshotSeq: number | null;
  snapshotFile: string | null;
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
  const context: ReplayContext = { book, state, log, snapshot, warnings, tornTail: null, expectedSeq: 1, hole, holeRecords: [], holeKeys: new Map(), idemHotCap: options.writeRuns ? options.idemHotCap : Number.POSITIVE_INFINITY };
  const readBuffer = new SegmentReadBuffer();
  for (let index = 0; index < segments.length; index++) {
    const { base, file } = segments[index]!;
    const final = index === segments.length - 1;
    const expectedSeq = context.expectedSeq;
    const segment = new SegmentBytes(fileSystem, file, readBuffer);
    try {
      // P1 of src/log/segment-precheck.ts: frames a helper verified and the snapshot covers are
      // adopted unread; the walk starts at the first other frame. Never across a hole of the
      // idempotency runs, whose covered frames are decoded.
      let prechecks = hole === null && base === expectedSeq ? (options.prechecks ?? null) : null;
      let precheck = prechecks?.take(file) ?? null;
      if (precheck !== null && precheck.fileBytes !== segment.fileBytes) {
        prechecks = precheck = null; // not the file the helper read (it cannot change under the LOCK)
      }
      const skipped = precheck !== null ? Math.min(precheck.frames, Math.max(0, (snapshot?.seq ?? 0) - base)) : 0;
      const walkFrom = skipped === 0 ? 0 : skipped < precheck!.frames ? precheck!.offsets[skipped]! : precheck!.verifiedEnd;
      if (base !== expectedSeq) {
        // R6 when the first frame shows a gap (a lost first or middle segment); R7 when the frames
        // run on but the name is wrong.
        const bytes = segment.toEnd(0);
        const checked = checkFrame(bytes, 0, bytes.length);
        const firstSeq = checked.kind === 'sound' ? peekSeq(bytes, FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + checked.payloadBytes) : null;
        if (firstSeq !== null && firstSeq !== expectedSeq) throw seqGap(book, file, 0, expectedSeq, firstSeq);
        throw StoreError.corrupt(book, file, 0, recoveryMessages.misplacedSegment(file, expectedSeq, false));
      }
      if (segment.fileBytes === 0 && !final) {
        throw StoreError.corrupt(book, file, 0, recoveryMessages.misplacedSegment(file, expectedSeq, true));
      }
      log.adoptSegment(base, segment.fileBytes);
      if (walkFrom > 0) {
        log.recordFrames(base, precheck!.offsets.subarray(0, skipped));
        context.expectedSeq = base + skipped;
      }
      const parts = new PartCursor(prechecks, file, segment.fileBytes, precheck);
      log.framesEndAt(replaySegment(segment, file, final, context, walkFrom, parts));
      parts.finish();
    } finally {
      segment.close();
    }
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
  return { state, log, repair: { tornTail: context.tornTail, temporaryFiles: [], obsoleteFiles: attached.obsolete, renames: [] }, warnings, snapshotSeq: snapshot?.seq ?? null, snapshotFile: snapshot?.file ?? null, logEnd };
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
  /** Key → seq of the hole's records, so a rebuilt run never holds a key twice (R20). */
  holeKeys: Map<string, number>;
  idemHotCap: number;
}

/**
 * The prechecked parts of one segment, as the walk reaches them (P6 of src/log/segment-precheck.ts).
 * A part serves only the frames it verified, and only from where it meets the frames before it.
 */
class PartCursor {
  #part: SegmentPrecheck | null;
  #number = 0;
  readonly #ranges: readonly PartRange[];
  /** The flat keys of the current part's decoded strings met as account paths. */
  keyOfPath: Array<string | undefined> = [];

  constructor(
    private readonly prechecks: SegmentPrechecks | null,
    private readonly file: string,
    private readonly fileBytes: number,
    first: SegmentPrecheck | null,
  ) {
    this.#part = first;
    this.#ranges = prechecks?.partsOf(file) ?? [];
  }

  /** The part that verified the frame of `seq` at `offset`, or null: the walk reads that frame itself. */
  at(offset: number, seq: number): SegmentPrecheck | null {
    while (this.#number + 1 < this.#ranges.length && this.#ranges[this.#number + 1]!.startBytes <= offset) {
      const part = this.#part;
      if (part !== null && offset < part.verifiedEnd) break; // the frames of this part go on past the next one's start
      this.#number++;
      this.finish();
      const next = this.prechecks!.take(this.file, this.#number);
      const meets = next !== null && next.frames > 0 && next.firstOffset === offset && next.firstSeq === seq && next.fileBytes === this.fileBytes;
      this.#part = meets ? next : null;
      this.keyOfPath = [];
    }
    const part = this.#part;
    if (part === null) return null;
    const index = seq - part.firstSeq;
    return index >= 0 && index < part.frames && part.offsets[index] === offset ? part : null;
  }

  /** Done with the current part: its arrays go back to its helper (D3 of src/log/replay-decode.ts). */
  finish(): void {
    if (this.#part !== null) this.prechecks?.recycle(this.#part);
    this.#part = null;
  }
}

/**
 * Walks one segment frame by frame from `offset` (0, or the first frame a precheck did not let it
 * skip). Frames the snapshot covers are verified (length, CRC, seq) without a full decode; the
 * snapshot's own frame is decoded to check its commit time; later frames are decoded and applied.
 * A frame a precheck verified is not verified again, and one it decoded (P5 of
 * src/log/segment-precheck.ts) is applied from the helper's columns without being read. Returns
 * the usable length of the segment.
 */
function replaySegment(segment: SegmentBytes, file: string, final: boolean, context: ReplayContext, offset: number, parts: PartCursor): number {
  const { book, state, log } = context;
  const snapshotSeq = context.snapshot?.seq ?? 0;
  for (;;) {
    const expectedSeq = context.expectedSeq;
    const part = parts.at(offset, expectedSeq);
    let bytes: Buffer;
    let payloadBytes: number;
    if (part !== null) {
      // A sound frame of seq expectedSeq (P1).
      const frameIndex = expectedSeq - part.firstSeq;
      if (expectedSeq < snapshotSeq) {
        // It and the part's frames after it up to the snapshot's are adopted unread, at once.
        const covered = Math.min(part.frames - frameIndex, snapshotSeq - expectedSeq);
        log.recordFrames(expectedSeq, part.offsets.subarray(frameIndex, frameIndex + covered));
        context.expectedSeq = expectedSeq + covered;
        offset = frameIndex + covered < part.frames ? part.offsets[frameIndex + covered]! : part.verifiedEnd;
        continue;
      }
      const next = frameIndex + 1 < part.frames ? part.offsets[frameIndex + 1]! : part.verifiedEnd;
      const decoded = part.decoded;
      const entry = decoded === null ? -1 : decoded.entryOf[frameIndex]!;
      if (entry >= 0 && expectedSeq > snapshotSeq) {
        const atUs = decoded!.atUs[entry]!;
        applyReplayed(context, expectedSeq, atUs, file, offset, () => state.applyDecoded(expectedSeq, atUs, decoded!, entry, parts.keyOfPath));
        log.recordFrame(expectedSeq, offset);
        context.expectedSeq = expectedSeq + 1;
        spillNow(log.fileSystem, log, state.idempotency, context.idemHotCap);
        offset = next;
        continue;
      }
      bytes = segment.window(offset);
      payloadBytes = next - offset - FRAME_HEADER_BYTES;
    } else {
      bytes = segment.window(offset);
      let checked = checkFrame(bytes, offset, bytes.length);
      if (checked.kind !== 'sound' && bytes.length < segment.fileBytes) {
        bytes = segment.toEnd(offset); // the verdict looks at everything after a bad frame
        checked = checkFrame(bytes, offset, bytes.length);
      }
      if (checked.kind === 'end') return offset;
      if (isBadFrame(checked)) {
        const verdict = badFrameVerdict(bytes, offset, checked.reason, file, final);
        if (verdict.row !== 'R2') throw StoreError.corrupt(book, file, offset, verdict.message);
        context.tornTail = verdict.tornTail;
        return offset;
      }
      assert(checked.kind === 'sound');
      payloadBytes = checked.payloadBytes;
    }
    const payloadStart = offset + FRAME_HEADER_BYTES;
    const frameBytes = FRAME_HEADER_BYTES + payloadBytes;
    const peeked = peekSeq(bytes, payloadStart, payloadStart + payloadBytes);
    const hole = context.hole;
    const inHole = (seq: number): boolean => hole !== null && seq > hole.start && seq <= hole.end;
    let applied = false;
    if (peeked !== null && peeked < snapshotSeq && !inHole(peeked)) {
      if (peeked !== expectedSeq) throw seqGap(book, file, offset, expectedSeq, peeked);
    } else {
      const result = decodeSoundFrame(bytes, offset, payloadBytes);
      if (result.kind === 'invalid') {
        throw StoreError.corrupt(book, file, offset, recoveryMessages.invalidEvent(file, offset, result.reason));
      }
      assert(result.kind === 'frame');
      const decoded: DecodedPayload = result.decoded;
      if (decoded.seq !== expectedSeq) throw seqGap(book, file, offset, expectedSeq, decoded.seq);
      const event = decoded.event.event;
      if (inHole(decoded.seq) && event.kind === 'transaction_posted') {
        checkHoleRepeat(context, event.id, event.idempotency_key, decoded.seq, file, offset);
        const base = log.catalog[log.catalog.length - 1]!;
        context.holeRecords.push({ key: event.idempotency_key, txid: event.id, seq: decoded.seq, atUs: decoded.atUs, segmentBase: base, offsetBytes: offset });
      }
      if (decoded.seq === snapshotSeq) {
        checkSnapshotCommitTime(context.snapshot!, decoded.atUs);
      } else if (decoded.seq > snapshotSeq) {
        const { seq, atUs } = decoded;
        applyReplayed(context, seq, atUs, file, offset, () => {
          const outcome = state.apply(seq, atUs, event);
          if (outcome.duplicate !== null) context.warnings.push({ code: 'REPLAY_DUPLICATE', message: `book ${book}: ${outcome.duplicate} at seq ${seq}`, file });
        });
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

/** Runs `apply` for the event of `seq` after checking its commit time; maps what it throws to R10 and R20. */
function applyReplayed(context: ReplayContext, seq: number, atUs: number, file: string, offset: number, apply: () => void): void {
  const { book, state, log } = context;
  if (state.atLastUs !== null && atUs < state.atLastUs) {
    throw StoreError.corrupt(book, file, offset, recoveryMessages.timeBackwards(book, seq, file, offset));
  }
  try {
    apply();
  } catch (error) {
    if (error instanceof RepeatError) {
      throw StoreError.corrupt(book, file, offset, recoveryMessages.repeat(book, seq, file, offset, error));
    }
    if (!(error instanceof ApplyError)) throw error;
    const base = log.catalog[log.catalog.length - 1];
    throw StoreError.corrupt(book, file, offset, `corrupt log in book ${book} at segment ${base} offset ${offset}: ${error.message}`);
  }
}

/**
 * R20 for a frame of the idempotency hole, which a snapshot covers and which is decoded only to
 * rebuild the hole's run: its txid must be the snapshot's record of that seq, and its key new in
 * the hole (the keys before the hole are in runs already, C3).
 */
function checkHoleRepeat(context: ReplayContext, txid: string, key: string, seq: number, file: string, offset: number): void {
  const txidSeq = context.state.txids.get(txid);
  const keySeq = context.holeKeys.get(key);
  const repeat: Repeat = { txid, key, txidSeq: txidSeq !== undefined && txidSeq < seq ? txidSeq : null, keySeq: keySeq ?? null };
  if (repeat.txidSeq !== null || repeat.keySeq !== null) {
    throw StoreError.corrupt(context.book, file, offset, recoveryMessages.repeat(context.book, seq, file, offset, repeat));
  }
  context.holeKeys.set(key, seq);
}

/** A transaction that repeats earlier ones of its book (R20): the seqs of the earlier txid and key, null for what is new. */
export interface Repeat {
  txid: string;
  key: string;
  txidSeq: number | null;
  keySeq: number | null;
}

/** The words of rows R5, R6, R7, R9 and R20: one source for recovery and `talea-log verify`. */
export const recoveryMessages = {
  invalidEvent: (file: string, offset: number, reason: string): string => `invalid event in segment "${file}" at offset ${offset}: ${reason}`,
  seqGap: (book: string, file: string, offset: number, expected: number, found: number): string =>
    `seq gap in book ${book}: expected seq ${expected}, found ${found} in "${file}" at offset ${offset}`,
  misplacedSegment: (file: string, expectedSeq: number, empty: boolean): string =>
    `segment "${file}" does not start at seq ${expectedSeq}${empty ? ' (it is empty and not the final segment)' : ''}`,
  timeBackwards: (book: string, seq: number, file: string, offset: number): string =>
    `commit time goes backwards in book ${book} at seq ${seq} in "${file}" at offset ${offset}`,
  repeat: (book: string, seq: number, file: string, offset: number, repeat: Repeat): string => {
    const txid = repeat.txidSeq === null ? null : `the txid ${repeat.txid}`;
    const key = repeat.keySeq === null ? null : `the idempotency key ${JSON.stringify(repeat.key)}`;
    const what =
      txid !== null && key !== null && repeat.txidSeq === repeat.keySeq
        ? `${txid} and ${key} of seq ${repeat.txidSeq}`
        : [txid === null ? null : `${txid} of seq ${repeat.txidSeq}`, key === null ? null : `${key} of seq ${repeat.keySeq}`].filter((part) => part !== null).join(' and ');
    return `repeated transaction in book ${book}: seq ${seq} in "${file}" at offset ${offset} repeats ${what}`;
  },
};

function seqGap(book: string, file: string, offset: number, expected: number, found: number): StoreError {
  return StoreError.corrupt(book, file, offset, recoveryMessages.seqGap(book, file, offset, expected, found));
}

/** Bytes a walk reads at a time, unless a frame needs more (see SegmentBytes). */
const WALK_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * A segment's bytes, read as the walk comes to them, a window at a time: frames the helpers decoded
 * are not read at all (P5 of src/log/segment-precheck.ts). Holds the file open until `close`.
 */
class SegmentBytes {
  readonly fileBytes: number;
  readonly #fd: number;
  #bytes: Buffer | null = null;
  #from = 0;

  constructor(
    private readonly fileSystem: FileSystem,
    file: string,
    private readonly readBuffer: SegmentReadBuffer,
  ) {
    this.#fd = fileSystem.openSync(file, 'r');
    try {
      this.fileBytes = fileSystem.fstatSizeSync(this.#fd);
    } catch (error) {
      fileSystem.closeSync(this.#fd);
      throw error;
    }
  }

  /**
   * The file's bytes at their offsets, read from `offset` on at least as far as the frame there
   * reaches by its length (at most the largest frame), or to the end of the file (the bytes before
   * `offset` hold anything: a walk only ever looks forward). Where a frame is bad, `toEnd` gives
   * what the verdict needs: all of the rest.
   */
  window(offset: number): Buffer {
    let bytes = this.#cover(offset, offset + FRAME_HEADER_BYTES);
    if (bytes.length >= offset + FRAME_HEADER_BYTES) {
      bytes = this.#cover(offset, offset + FRAME_HEADER_BYTES + Math.min(bytes.readUInt32LE(offset), FRAME_PAYLOAD_BYTES_MAX));
    }
    return bytes;
  }

  /** The bytes, read again from `offset` unless they reach `end` (or the end of the file) already. */
  #cover(offset: number, end: number): Buffer {
    const needed = Math.min(end, this.fileBytes);
    if (this.#bytes === null || offset < this.#from || this.#bytes.length < needed) {
      this.#read(offset, Math.min(this.fileBytes, Math.max(needed, offset + WALK_WINDOW_BYTES)));
    }
    return this.#bytes!;
  }

  /** The file's bytes from `offset` to its end, at their offsets. */
  toEnd(offset: number): Buffer {
    if (this.#bytes === null || offset < this.#from || this.#bytes.length < this.fileBytes) this.#read(offset, this.fileBytes);
    return this.#bytes!;
  }

  #read(from: number, until: number): void {
    this.#bytes = this.readBuffer.read(this.fileSystem, this.#fd, this.fileBytes, from, until);
    this.#from = from;
  }

  close(): void {
    this.fileSystem.closeSync(this.#fd);
  }
}

/**
 * One buffer for the segments of a replay, read one after another: nothing keeps a view of a
 * segment's bytes once it is walked (decoded strings and times are copies). A fresh buffer per
 * segment (tens of MiB each) adds to the memory V8 collects for: opening a book of 1,000,000
 * transactions ran 9 or 10 full collections with one per segment, 7 with this.
 */
class SegmentReadBuffer {
  #buffer: Buffer | null = null;

  /** Reads [from, until) of a file of `size` bytes to the same offsets; returns the buffer up to where the read ended. */
  read(fileSystem: FileSystem, fd: number, size: number, from: number, until: number): Buffer {
    if (this.#buffer === null || this.#buffer.length < size) this.#buffer = Buffer.allocUnsafeSlow(size);
    const start = Math.min(from, size);
    const read = readFully(fileSystem, fd, this.#buffer.subarray(start, Math.max(start, Math.min(until, size))), start);
    return this.#buffer.subarray(0, start + read);
  }
}

/** R21: the one warning of a book whose repair phase renamed layout-1 files. */
export function renamedFilesWarning(renames: RepairPlan['renames']): RecoveryWarning {
  const names = renames.map(({ from, to }) => `${path.basename(from)} -> ${path.basename(to)}`).join(', ');
  return { code: 'FILES_RENAMED', message: `renamed this package's layout-1 files to names the Rust store does not read: ${names}`, file: path.dirname(renames[0]!.from) };
}

/**
 * Repair phase for one book (C1): truncate the torn tail, remove temporary files and obsolete runs,
 * rename this package's layout-1 files (C5; an attached run is repointed to its new name).
 */
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
  for (const file of files) fileSystem.unlinkSync(file);
  for (const { from, to, run } of plan.renames) {
    fileSystem.renameSync(from, to); // the same bytes: a crash leaves one name or the other, both read
    if (run !== null) run.file = to;
  }
  if (files.length + plan.renames.length > 0) fileSystem.fsyncDirSync(bookDir);
}

