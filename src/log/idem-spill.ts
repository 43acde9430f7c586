/**
 * Spilling, merging and rebuilding a book's idempotency runs (spec/log-engine.md, sections 9.3,
 * 9.6, 9.7, 9.8). Used by the book's worker after a batch's replies, one bounded slice at a time,
 * and synchronously during recovery.
 *
 * S1. A spill takes the oldest records (the FIFO front), so the runs keep tiling (0, H].
 * S2. Nothing is deleted before its replacement is durable: merge inputs and damaged runs are
 *     removed only after the new run is renamed into place and its directory fsynced.
 * S3. A failed spill puts the records back at the front of the FIFO; nothing is lost.
 */
import path from 'node:path';
import { readBookFiles } from './book-files.js';
import type { IdemIndex } from './idem-index.js';
import { readTxid } from './posting-index.js';
import {
  IdemRuns,
  mergeRecords,
  readRun,
  RunInvalid,
  RunWriter,
  sortByKey,
  writeRun,
  type RunMeta,
  type RunRecord,
} from './idem-runs.js';
import type { FileSystem } from './file-system.js';
import type { SegmentLog } from './segment.js';

/** Records per spill unit: half the hot cap, at least one. */
export function spillUnit(idemHotCap: number): number {
  return Math.max(1, Math.ceil(idemHotCap / 2));
}

/** A run's size tier: floor(log4(records / spillUnit)). */
export function runTier(recordCount: number, unit: number): number {
  return Math.floor(Math.log(Math.max(1, recordCount / unit)) / Math.log(4));
}

export type IdemWorkKind = 'spill' | 'merge' | 'rebuild';

interface IdemWork {
  kind: IdemWorkKind;
  writer: RunWriter;
  /** Runs this work replaces once its output is installed. */
  replaces: RunMeta[];
}

export interface IdemWarning {
  code: string;
  message: string;
  file?: string;
}

function runsOf(fileSystem: FileSystem, book: string, bookDir: string, index: IdemIndex): IdemRuns {
  if (index.runs === null) index.runs = new IdemRuns(fileSystem, book, bookDir);
  return index.runs as IdemRuns;
}

/** The records of the spill in flight with their frame positions (section 9.2). */
function positioned(index: IdemIndex, log: SegmentLog): RunRecord[] {
  const records: RunRecord[] = [];
  for (const { key, seq, atUs, txids, txidOffset } of index.spillingEntries()) {
    records.push({ key, txid: readTxid(txids, txidOffset), seq, atUs, segmentBase: log.baseOf(seq), offsetBytes: log.offsetOf(seq) });
  }
  return records;
}

/** Spills synchronously during recovery whenever the hot map exceeds the cap (section 9.8 step 6). */
export function spillNow(fileSystem: FileSystem, log: SegmentLog, index: IdemIndex, idemHotCap: number): void {
  if (index.hotSize <= idemHotCap) return;
  const runs = runsOf(fileSystem, log.book, log.bookDir, index);
  index.beginSpill(Math.floor(idemHotCap / 2));
  const records = positioned(index, log);
  const end = records[records.length - 1]!.seq;
  try {
    runs.install(writeRun(fileSystem, log.bookDir, runs.nextNumber(), index.spilledThroughSeq, end, sortByKey(records)));
  } catch (error) {
    index.abortSpill();
    throw error;
  }
  index.endSpill(end);
}

/** The idempotency work of one book at run time: one job in flight at a time. */
export class IdemMaintenance {
  #work: IdemWork | null = null;
  readonly #damaged = new Set<RunMeta>();
  /** After a failed spill or merge: the log's last seq then. It is retried once the log grows. */
  #failedAtSeq: number | null = null;

  constructor(
    readonly fileSystem: FileSystem,
    readonly log: SegmentLog,
    readonly index: IdemIndex,
    readonly idemHotCap: number,
    readonly warn: (warning: IdemWarning) => void,
  ) {}

  get busy(): boolean {
    return this.#work !== null;
  }

  /**
   * A lookup met damage in `file`: if it is one of the book's runs, rebuild it from the log as soon
   * as possible (section 9.6) and return true; false for any other file.
   */
  markDamaged(file: string): boolean {
    const runs = this.index.runs as IdemRuns | null;
    const run = runs?.runs.find((candidate) => candidate.file === file);
    if (run !== undefined) this.#damaged.add(run);
    return run !== undefined;
  }

  /** Starts the next job if one is due: a rebuild, a spill, or a merge. Returns whether one started. */
  start(): boolean {
    if (this.#work !== null) return false;
    const runs = runsOf(this.fileSystem, this.log.book, this.log.bookDir, this.index);
    const damaged = this.#damaged.values().next();
    if (damaged.done !== true) {
      const run = damaged.value;
      const records: RunRecord[] = [];
      // Rebuild from the log itself (never from another cache): every key of seqs (a, b].
      this.log.scan(run.start + 1, run.end - run.start, run.end, (decoded) => {
        const event = decoded.event.event;
        if (event.kind === 'transaction_posted') {
          records.push({ key: event.idempotency_key, txid: event.id, seq: decoded.seq, atUs: decoded.atUs, segmentBase: this.log.baseOf(decoded.seq), offsetBytes: this.log.offsetOf(decoded.seq) });
        }
        return true;
      });
      this.#begin('rebuild', run.start, run.end, mergeRecords([records]).sorted, [run]);
      // Only now: a scan or start that failed leaves the run waiting for the next attempt.
      this.#damaged.delete(run);
      return true;
    }
    // A failed spill or merge is retried later, after the next batch, never in a loop that would
    // keep the book's snapshots waiting behind it (log-engine section 12).
    if (this.#failedAtSeq !== null && this.log.lastSeq <= this.#failedAtSeq) return false;
    this.#failedAtSeq = null;
    if (this.index.hotSize > this.idemHotCap) {
      this.index.beginSpill(Math.floor(this.idemHotCap / 2));
      const records = positioned(this.index, this.log);
      try {
        this.#begin('spill', this.index.spilledThroughSeq, records[records.length - 1]!.seq, sortByKey(records), []);
      } catch (error) {
        // S3: a spill that cannot even start (numbering its run lists the directory) ends here;
        // its records never left the hot records.
        this.index.abortSpill();
        return this.#cannotStart('spill', error);
      }
      return true;
    }
    const unit = spillUnit(this.idemHotCap);
    const top = runs.runs.slice(-4);
    if (top.length === 4 && top.every((run) => !run.damaged && runTier(run.recordCount, unit) === runTier(top[0]!.recordCount, unit))) {
      const inputs: RunRecord[][] = [];
      for (const run of top) {
        try {
          inputs.push(readRun(this.fileSystem, run.file, run.number).records);
        } catch (error) {
          if (!(error instanceof RunInvalid)) throw error;
          this.warn({ code: 'MERGE_FAILED', message: `merge skipped: run "${run.file}" ${error.message}`, file: run.file });
          this.#damaged.add(run);
          return false;
        }
      }
      const { sorted, conflicts } = mergeRecords(inputs);
      if (conflicts > 0) this.warn({ code: 'MERGE_FAILED', message: `${conflicts} duplicate keys with different records while merging; the lower seq was kept` });
      try {
        this.#begin('merge', top[0]!.start, top[3]!.end, sorted, top);
      } catch (error) {
        return this.#cannotStart('merge', error);
      }
      return true;
    }
    return false;
  }

  /** Like a failure while writing: a warning, and a retry once the log has grown. */
  #cannotStart(kind: 'spill' | 'merge', error: unknown): false {
    this.#failedAtSeq = this.log.lastSeq;
    this.warn({ code: kind === 'spill' ? 'SPILL_FAILED' : 'MERGE_FAILED', message: `${kind} of idempotency records could not start: ${(error as Error).message}` });
    return false;
  }

  #begin(kind: IdemWorkKind, start: number, end: number, sorted: Array<{ record: RunRecord; keyBytes: Buffer }>, replaces: RunMeta[]): void {
    const runs = this.index.runs as IdemRuns;
    this.#work = { kind, writer: new RunWriter(this.fileSystem, this.log.bookDir, runs.nextNumber(), start, end, sorted), replaces };
  }

  /** One slice of the job in flight. Returns true when the job finished (installed or failed). */
  slice(budgetBytes: number): boolean {
    const work = this.#work;
    if (work === null) return true;
    let meta: RunMeta | null;
    try {
      meta = work.writer.step(budgetBytes);
    } catch (error) {
      this.abandon();
      if (work.kind !== 'rebuild') this.#failedAtSeq = this.log.lastSeq;
      this.warn({ code: work.kind === 'spill' ? 'SPILL_FAILED' : 'MERGE_FAILED', message: `${work.kind} of idempotency records failed: ${(error as Error).message}`, file: work.writer.file });
      return true;
    }
    if (meta === null) return false;
    this.#work = null;
    const runs = this.index.runs as IdemRuns;
    runs.runs = runs.runs.filter((run) => !work.replaces.includes(run));
    runs.install(meta);
    // A merge input damaged after the merge read it needs no rebuild: its keys are in the output.
    for (const run of work.replaces) this.#damaged.delete(run);
    if (work.kind === 'spill') this.index.endSpill(meta.end);
    // S2: the replacement is durable; now the replaced files may go.
    let deleted = false;
    for (const run of work.replaces) {
      try {
        this.fileSystem.unlinkSync(run.file);
        deleted = true;
      } catch (error) {
        this.warn({ code: 'DELETE_FAILED', message: `could not delete run "${run.file}": ${(error as Error).message}`, file: run.file });
      }
    }
    if (deleted) {
      try {
        this.fileSystem.fsyncDirSync(this.log.bookDir);
      } catch (error) {
        this.warn({ code: 'DELETE_FAILED', message: `could not fsync ${this.log.bookDir}: ${(error as Error).message}` });
      }
    }
    return true;
  }

  /** Stops the job in flight (S3 for a spill); its temporary file is removed if possible. */
  abandon(): void {
    const work = this.#work;
    if (work === null) return;
    this.#work = null;
    work.writer.abandon();
    if (work.kind === 'spill') this.index.abortSpill();
  }
}


export interface AttachedRuns {
  runs: IdemRuns;
  /** The end of the covered prefix (0, P] that the chosen runs tile. */
  tiledThrough: number;
  /** Every valid run, chosen or not: R17 checks them against the log's end. */
  valid: RunMeta[];
  /** Files to delete in the repair phase: invalid runs, and valid runs the tiling left out. */
  obsolete: string[];
  warnings: IdemWarning[];
}

/**
 * Section 9.8 steps 1 and 5: reads and checks every run of the book that is this package's (of
 * either layout; another store's runs are not even read, O2 in src/log/book-files.ts), then chooses
 * runs that tile (0, P] from seq 0, each time taking the run that starts at the current point and
 * reaches furthest. Reads only; nothing is deleted here.
 */
export function attachRunsAtOpen(fileSystem: FileSystem, book: string, bookDir: string): AttachedRuns {
  const runs = new IdemRuns(fileSystem, book, bookDir);
  const valid: RunMeta[] = [];
  const obsolete: string[] = [];
  const warnings: IdemWarning[] = [];
  for (const { name, number } of readBookFiles(fileSystem, bookDir).runs) {
    const file = path.join(bookDir, name);
    try {
      valid.push(readRun(fileSystem, file, number).meta);
    } catch (error) {
      if (!(error instanceof RunInvalid)) throw error;
      obsolete.push(file);
      warnings.push({ code: 'RUN_INVALID', message: `idempotency run "${file}" ${error.message}; its keys are rebuilt from the log`, file });
    }
  }
  let point = 0;
  for (;;) {
    let best: RunMeta | null = null;
    for (const run of valid) {
      if (run.start === point && (best === null || run.end > best.end)) best = run;
    }
    if (best === null) break;
    runs.install(best);
    point = best.end;
  }
  for (const run of valid) {
    if (!runs.runs.includes(run)) obsolete.push(run.file);
  }
  return { runs, tiledThrough: point, valid, obsolete, warnings };
}

/** Section 9.8 step 4: writes runs of at most one spill unit each that tile (start, end]. */
export function writeRebuiltRuns(fileSystem: FileSystem, runs: IdemRuns, bookDir: string, start: number, end: number, records: RunRecord[], idemHotCap: number): void {
  const unit = spillUnit(idemHotCap);
  let from = start;
  for (let first = 0; first < records.length || from < end; first += unit) {
    const group = records.slice(first, first + unit);
    const last = first + unit >= records.length;
    const through = last ? end : group[group.length - 1]!.seq;
    runs.install(writeRun(fileSystem, bookDir, runs.nextNumber(), from, through, sortByKey(group)));
    from = through;
    if (last) break;
  }
}
