/**
 * `talea-log inspect <dir> [book]`: what a data directory holds, cheaply: books, segment files with
 * sizes and seq ranges, snapshot and run files, leftovers, the last seq and commit time.
 *
 * I1. Read-only and lock-free, like verify; but it checks only what it must read: the final
 *     segment of each book (for the last seq, the last `at` and a torn tail), and the segment
 *     before it when the final one is empty. Sealed segments' seq ranges come from their names;
 *     `verify` checks them.
 * I2. Damage met on the way is shown and makes the exit code EXIT_CORRUPT.
 */
import fs from 'node:fs';
import path from 'node:path';
import { classifyBookFiles, FORMAT_NOT_CHECKED_NOTE } from '../book-files.js';
import { isStoreError } from '../errors.js';
import { stringifyJson } from '../json.js';
import { lockHolder } from '../lock-holder.js';
import { listBooks } from '../log-store.js';
import { checkSegmentBytes, type SegmentCheck } from '../segment-check.js';
import { formatAtUs } from '../time.js';
import type { JsonValue } from '../types.js';
import type { Command } from './command.js';
import { resolveBook, resolveDataDir } from './data-dir.js';
import { CliError, EXIT_CORRUPT, EXIT_OK } from './exit-codes.js';
import { formatBytes, plural } from './units.js';

type FileKind = 'segment' | 'snapshot' | 'run' | 'temporary' | 'unknown';

interface InspectedFile {
  name: string;
  kind: FileKind;
  sizeBytes: number;
  seqFirst: number | null;
  seqLast: number | null;
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
snapshot-*.snap and idem-*.run files (listed, not checked: the operator tools do not check
their formats yet), leftover *.tmp files, unknown files, the last seq and its commit time, and a
torn tail open would truncate. Reads without taking the lock and changes nothing.

Only the final segment of a book is read (and the one before it if the final one is empty);
sealed segments' seq ranges come from their file names. Use verify to check every frame.

Options:
  --json        one JSON object instead of text
  -h, --help    show this help

Exit codes: 0 shown; 1 damage found in a final segment or an invalid book directory;
5 no such data directory or book; 2 bad arguments.`,
  options: { json: { type: 'boolean' } },
  positionals: { names: ['dir', 'book'], required: 1 },
  async run([dir, bookArgument], values) {
    const root = resolveDataDir(dir!);
    let books: string[];
    if (bookArgument !== undefined) {
      books = [resolveBook(root, bookArgument)];
    } else {
      try {
        books = listBooks(root);
      } catch (error) {
        if (isStoreError(error, 'INVALID_BOOK')) throw new CliError(EXIT_CORRUPT, error.message);
        throw error;
      }
    }
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
  const files = classifyBookFiles(fs.readdirSync(bookDir));
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
    inspected.files.push({ name, kind: 'segment', sizeBytes, seqFirst, seqLast, note });
  });
  const others: Array<[FileKind, string[], string]> = [
    ['snapshot', files.snapshots, FORMAT_NOT_CHECKED_NOTE],
    ['run', files.runs, FORMAT_NOT_CHECKED_NOTE],
    ['temporary', files.temporary, 'leftover temporary file: open would remove it'],
    ['unknown', files.unknown, 'unknown file: ignored'],
  ];
  for (const [kind, names, note] of others) {
    for (const name of names) inspected.files.push({ name, kind, sizeBytes: sizeOf(name), seqFirst: null, seqLast: null, note });
  }
  return inspected;
}

function renderBook(book: InspectedBook): string[] {
  const last = book.lastSeq === 0 ? 'no events' : `last seq ${book.lastSeq}, last at ${book.lastAt}`;
  const lines = [`book ${book.book}: ${plural(book.segments, 'segment')}, ${formatBytes(book.segmentBytes)}, ${last}`];
  const width = Math.max(0, ...book.files.map((file) => file.name.length));
  for (const file of book.files) {
    const seqs = file.kind !== 'segment' ? '' : file.seqFirst === null || file.seqLast === null ? 'seq -  ' : `seq ${file.seqFirst}..${file.seqLast}  `;
    lines.push(`  ${file.name.padEnd(width)}  ${formatBytes(file.sizeBytes).padStart(10)}  ${seqs}${file.note}`);
  }
  for (const problem of book.problems) lines.push(`  ${problem}`);
  return lines;
}
