/**
 * `talea-log inspect <dir> [book]`: what a data directory holds, cheaply: books, segment files with
 * sizes and seq ranges, snapshots with their seq and usability, idempotency runs with their
 * intervals and record counts, leftovers, the last seq and commit time.
 *
 * I1. Read-only and lock-free, like verify; but it checks only what it must read: the final
 *     segment of each book (for the last seq, the last `at` and a torn tail), and the segment
 *     before it when the final one is empty. Sealed segments' seq ranges come from their names;
 *     `verify` checks them.
 * I2. Snapshot and run files are checked with the engine's own functions (src/cache-file-check.ts),
 *     which read each file whole; for a snapshot, the segment holding its seq is read as well, to
 *     compare its last commit time with the log's.
 * I3. Damage met on the way is shown and makes the exit code EXIT_CORRUPT: in a final segment, and a
 *     snapshot or run that covers seqs beyond the log's end (open refuses it, R13 and R17).
 */
import fs from 'node:fs';
import path from 'node:path';
import { readBookFiles, type SegmentName } from '../log/book-files.js';
import { checkRunFile, checkSnapshotFile } from '../log/cache-file-check.js';
import { runFileName } from '../log/idem-runs.js';
import { snapshotFileName } from '../log/snapshot.js';
import { StoreError } from '../core/errors.js';
import { RealFileSystem } from '../log/file-system.js';
import { stringifyJson } from '../core/json.js';
import { lockHolder } from '../log/lock-holder.js';
import type { LogEnd } from '../log/recovery.js';
import { checkSegmentBytes, type SegmentCheck } from '../log/segment-check.js';
import { formatAtUs } from '../core/time.js';
import type { JsonValue } from '../core/types.js';
import type { Command } from './command.js';
import { resolveBook, resolveBooks, resolveDataDir } from './data-dir.js';
import { EXIT_CORRUPT, EXIT_OK } from './exit-codes.js';
import { formatBytes, plural } from './units.js';

type FileKind = 'segment' | 'snapshot' | 'run' | 'temporary' | 'foreign' | 'unknown';

interface InspectedFile {
  name: string;
  kind: FileKind;
  sizeBytes: number;
  /** Segments and runs: the first seq they hold; null when unknown, and for snapshots. */
  seqFirst: number | null;
  /** Segments and runs: the last seq they hold; snapshots: the seq they cover; null when unknown. */
  seqLast: number | null;
  /** Snapshots: whether open could load it; runs: whether open could attach it; null for other files. */
  usable: boolean | null;
  /** Runs: the records they hold, null when invalid or for other files. */
  records: number | null;
  note: string;
}

interface InspectedBook {
  book: string;
  segments: number;
  segmentBytes: number;
  lastSeq: number;
  lastAt: string | null;
  files: InspectedFile[];
  /** Corruption met while reading the final segment(s), one line each. */
  problems: string[];
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'list books, segments, sizes, seq ranges, snapshots, run files, last commit time',
  help: `Usage: talea-log inspect <dir> [book] [--json]

Shows what a data directory holds, per book: segment files with their sizes and seq ranges,
snapshot files with their seq and whether open could load them (or why not), idempotency-run
files with the seqs they cover and their record count (or why they are invalid), leftover *.tmp
files, files another store wrote under the names it shares with this package (such as the Rust
store's snapshot-*.snap and idem-*.run, which open leaves alone), unknown files, the last seq and
its commit time, and a torn tail open would truncate.
Reads without taking the lock and changes nothing.

Only the final segment of a book is read (and the one before it if the final one is empty),
plus the snapshot and run files and, per snapshot, the segment holding its seq; sealed
segments' seq ranges come from their file names. Use verify to check every frame.

Options:
  --json        one JSON object instead of text
  -h, --help    show this help

Exit codes: 0 shown; 1 damage found in a final segment, a snapshot or idempotency run beyond the
end of the log, or an invalid book directory; 5 no such data directory or book; 2 bad arguments.`,
  options: { json: { type: 'boolean' } },
  positionals: { names: ['dir', 'book'], required: 1 },
  async run([dir, bookArgument], values) {
    const root = resolveDataDir(dir!);
    const books = bookArgument === undefined ? resolveBooks(root) : [resolveBook(root, bookArgument)];
    const inspected = books.map((book) => inspectBook(root, book));
    const holder = lockHolder(root);
    if (values.json === true) {
      const document = { dir: root, lock: holder, books: inspected } as unknown as JsonValue;
      process.stdout.write(`${stringifyJson(document)}\n`);
    } else {
      const lock = holder.kind === 'held' ? `held by process ${holder.pid}` : holder.kind === 'free' ? 'not held' : `unknown (${holder.why})`;
      const lines = [`data dir ${root}`, `lock: ${lock}`, plural(inspected.length, 'book')];
      for (const book of inspected) lines.push(...renderBook(book));
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return inspected.some((book) => book.problems.length > 0) ? EXIT_CORRUPT : EXIT_OK;
  },
};

function inspectBook(root: string, book: string): InspectedBook {
  const bookDir = path.join(root, 'books', book);
  const fileSystem = new RealFileSystem();
  const files = readBookFiles(fileSystem, bookDir);
  const sizeOf = (name: string) => fs.statSync(path.join(bookDir, name)).size;
  const inspected: InspectedBook = { book, segments: files.segments.length, segmentBytes: 0, lastSeq: 0, lastAt: null, files: [], problems: [] };
  for (const { base, names } of files.duplicateBases) {
    inspected.problems.push(`CORRUPT: segment files ${names.map((name) => `"${name}"`).join(' and ')} have the same base ${base}`);
  }
  // Check the final segment, and earlier ones only while they hold no frame (I1).
  const checks = new Map<number, SegmentCheck>();
  for (let index = files.segments.length - 1; index >= 0; index--) {
    const { name, base } = files.segments[index]!;
    const file = path.join(bookDir, name);
    const check = checkSegmentBytes(fs.readFileSync(file), { book, file, base, final: index === files.segments.length - 1 });
    checks.set(index, check);
    for (const problem of check.problems) {
      if (problem.kind === 'corrupt') inspected.problems.push(`CORRUPT: ${problem.message}`);
    }
    if (check.lastSeq !== null) {
      inspected.lastSeq = check.lastSeq;
      inspected.lastAt = check.lastAtUs === null ? null : formatAtUs(check.lastAtUs);
      break;
    }
  }
  files.segments.forEach(({ name, base }, index) => {
    const sizeBytes = sizeOf(name);
    inspected.segmentBytes += sizeBytes;
    const check = checks.get(index);
    const final = index === files.segments.length - 1;
    const next = files.segments[index + 1];
    let seqFirst: number | null = base;
    let seqLast: number | null = next === undefined ? null : next.base - 1;
    let note = final ? 'final' : 'sealed (seq range from file names)';
    if (check !== undefined) {
      seqFirst = check.firstSeq;
      seqLast = check.lastSeq;
      if (check.frames === 0 && check.tornTail === null) note += ', empty';
      if (check.tornTail !== null) {
        const { offsetBytes, discardedBytes } = check.tornTail;
        note += `, torn tail: ${plural(discardedBytes, 'byte')} at offset ${offsetBytes} that open would truncate`;
      }
    }
    inspected.files.push({ name, kind: 'segment', sizeBytes, seqFirst, seqLast, usable: null, records: null, note });
  });
  // Where the log ends, named as recovery names it (R13, R17): the final segment's usable length.
  const finalCheck = checks.get(files.segments.length - 1);
  const logEnd: LogEnd = {
    book,
    lastSeq: inspected.lastSeq,
    file: finalCheck?.file ?? bookDir,
    offsetBytes: finalCheck === undefined ? 0 : (finalCheck.tornTail?.offsetBytes ?? finalCheck.lengthBytes),
  };
  const atUsOf = commitTimeReader(book, bookDir, files.segments);
  // This package's files under layout-1 names (0.1.x), which open renames (R21).
  const layout1 = (legacy: boolean, name: string): string => (legacy ? `; layout 1: open renames it to ${name}` : '');
  for (const { name, seq, legacy } of files.snapshots) {
    const verdict = checkSnapshotFile(fileSystem, path.join(bookDir, name), seq, logEnd, atUsOf);
    let note = verdict.kind === 'usable' ? 'usable' : verdict.kind === 'unusable' ? `unusable: ${verdict.reason}` : 'beyond the end of the log: open would refuse (R13)';
    note += layout1(legacy, snapshotFileName(seq));
    if (verdict.kind === 'ahead') inspected.problems.push(verdict.message);
    inspected.files.push({ name, kind: 'snapshot', sizeBytes: sizeOf(name), seqFirst: null, seqLast: seq, usable: verdict.kind === 'usable', records: null, note });
  }
  for (const { name, number, legacy } of files.runs) {
    const verdict = checkRunFile(fileSystem, path.join(bookDir, name), number, logEnd);
    const entry: InspectedFile = { name, kind: 'run', sizeBytes: sizeOf(name), seqFirst: null, seqLast: null, usable: false, records: null, note: '' };
    if (verdict.kind === 'invalid') {
      entry.note = `invalid: ${verdict.reason}`;
    } else {
      entry.seqFirst = verdict.start + 1; // the interval (start, end] holds seqs start + 1 to end
      entry.seqLast = verdict.end;
      entry.records = verdict.recordCount;
      entry.usable = verdict.kind === 'valid';
      entry.note = plural(verdict.recordCount, 'record') + layout1(legacy, runFileName(number));
      if (verdict.kind === 'beyond') {
        entry.note += '; beyond the end of the log: open would refuse (R17)';
        inspected.problems.push(verdict.message);
      }
    }
    inspected.files.push(entry);
  }
  const others: Array<[FileKind, string[], string]> = [
    ['temporary', files.temporary, 'leftover temporary file: open would remove it'],
    ['foreign', files.foreign, "not this package's (no magic; another store's, such as the Rust store's): open leaves it alone"],
    ['unknown', files.unknown, 'unknown file: ignored'],
  ];
  for (const [kind, names, note] of others) {
    for (const name of names) inspected.files.push({ name, kind, sizeBytes: sizeOf(name), seqFirst: null, seqLast: null, usable: null, records: null, note });
  }
  return inspected;
}

/**
 * Reads the commit time of one frame for the snapshot checks (I2): from the segment holding its
 * seq, the one with the highest base not above it. A frame that cannot be found is CORRUPT.
 */
function commitTimeReader(book: string, bookDir: string, segments: readonly SegmentName[]): (seq: number) => number {
  return (seq) => {
    const index = segments.findLastIndex((segment) => segment.base <= seq);
    const segment = segments[index];
    const file = segment === undefined ? bookDir : path.join(bookDir, segment.name);
    let atUs = null as number | null; // set by the visit below
    if (segment !== undefined) {
      checkSegmentBytes(fs.readFileSync(file), { book, file, base: segment.base, final: index === segments.length - 1 }, {
        visit: (decoded) => {
          if (decoded.seq === seq) atUs = decoded.atUs;
          return decoded.seq < seq;
        },
      });
    }
    if (atUs === null) throw StoreError.corrupt(book, file, 0, `no intact frame of seq ${seq} in "${file}"`);
    return atUs;
  };
}

function renderBook(book: InspectedBook): string[] {
  const last = book.lastSeq === 0 ? 'no events' : `last seq ${book.lastSeq}, last at ${book.lastAt}`;
  const lines = [`book ${book.book}: ${plural(book.segments, 'segment')}, ${formatBytes(book.segmentBytes)}, ${last}`];
  const width = Math.max(0, ...book.files.map((file) => file.name.length));
  for (const file of book.files) {
    let seqs = '';
    if (file.kind === 'segment' || file.kind === 'snapshot' || file.kind === 'run') {
      seqs = file.seqLast === null ? 'seq -  ' : file.seqFirst === null ? `seq ${file.seqLast}  ` : `seq ${file.seqFirst}..${file.seqLast}  `;
    }
    lines.push(`  ${file.name.padEnd(width)}  ${formatBytes(file.sizeBytes).padStart(10)}  ${seqs}${file.note}`);
  }
  for (const problem of book.problems) lines.push(`  ${problem}`);
  return lines;
}
