/**
 * `talea-log dump <dir> <book>`: a book's events as JSON, one per line, straight from its segment
 * files, in the event JSON of the store contract (`{"seq":…,"at":"…","event":{…}}`, integers exact).
 *
 * U1. Read-only and lock-free. Events are streamed one segment at a time; segments that end before
 *     `--from` are skipped by name.
 * U2. Only events open would serve are written: every frame is checked (src/segment-check.ts) and
 *     the output stops at the first corruption (EXIT_CORRUPT, naming file and offset) or at a torn
 *     tail (a note on stderr; open would truncate it, so the output is complete: EXIT_OK).
 */
import fs from 'node:fs';
import path from 'node:path';
import { readBookFiles } from '../log/book-files.js';
import { RealFileSystem } from '../log/file-system.js';
import { encodeEvent, encodeSequencedPayload } from '../core/event-codec.js';
import { checkSegmentBytes, checkSegmentJoin, seqAfter, type SegmentProblem } from '../log/segment-check.js';
import { printErr, writeOut, type Command } from './command.js';
import { resolveBook, resolveDataDir } from './data-dir.js';
import { EXIT_CORRUPT, EXIT_OK } from './exit-codes.js';
import { choiceOption, integerOption } from './option-values.js';

export const dumpCommand: Command = {
  name: 'dump',
  summary: "write a book's events as JSON lines",
  help: `Usage: talea-log dump <dir> <book> [--from seq] [--limit n] [--format ndjson|json]

Writes the events of one book, in seq order, as the store's event JSON:
  {"seq":3,"at":"2026-06-05T12:00:00.123456Z","event":{"kind":"transaction_posted",...}}
Amounts and other integers are written exactly (no rounding above 2^53). Reads the segment files
directly, without taking the lock, and changes nothing. Output stops at the first corruption
(exit 1, naming file and offset); a torn tail that open would truncate ends the output with a
note on stderr.

Options:
  --from SEQ          first seq to write (default 1)
  --limit N           write at most N events (default: all)
  --format FORMAT     ndjson (default): one event per line; json: one array, one event per line
  -h, --help          show this help

Exit codes: 0 written; 1 corruption met; 2 bad arguments; 5 no such data directory or book.`,
  options: {
    from: { type: 'string' },
    limit: { type: 'string' },
    format: { type: 'string' },
  },
  positionals: { names: ['dir', 'book'], required: 2 },
  async run([dir, bookArgument], values) {
    const root = resolveDataDir(dir!);
    const book = resolveBook(root, bookArgument!);
    const from = integerOption('from', values.from, 1) ?? 1;
    const limit = integerOption('limit', values.limit, 0) ?? Number.POSITIVE_INFINITY;
    const format = choiceOption('format', values.format, ['ndjson', 'json'] as const, 'ndjson');
    const bookDir = path.join(root, 'books', book);
    const segments = readBookFiles(new RealFileSystem(), bookDir).segments;
    let written = 0;
    let problem: SegmentProblem | null = null;
    if (format === 'json') await writeOut('[');
    // The seq the next segment must start at; unknown after segments skipped for --from.
    let expectedSeq: number | null = 1;
    let lastAtUs: number | null = null;
    for (let index = 0; index < segments.length && written < limit && problem === null; index++) {
      const { name, base } = segments[index]!;
      const next = segments[index + 1];
      if (next !== undefined && next.base <= from) {
        expectedSeq = null; // U1: every event here is before --from
        continue;
      }
      const file = path.join(bookDir, name);
      const lines: string[] = [];
      const check = checkSegmentBytes(
        fs.readFileSync(file),
        { book, file, base, final: next === undefined },
        {
          stopAtFirstCorruption: true,
          visit: (decoded) => {
            if (decoded.seq < from) return true;
            lines.push(encodeSequencedPayload(decoded.seq, decoded.event.at, encodeEvent(decoded.event.event)));
            return written + lines.length < limit;
          },
        },
      );
      const join = expectedSeq === null ? null : checkSegmentJoin(expectedSeq, lastAtUs, check);
      problem = join ?? check.problems.find((candidate) => candidate.kind === 'corrupt') ?? null;
      if (join === null) {
        for (const line of lines) {
          await writeOut(format === 'json' ? `${written === 0 ? '\n' : ',\n'}${line}` : `${line}\n`);
          written++;
        }
      }
      if (check.tornTail !== null && problem === null && written < limit) {
        const { file: tornFile, offsetBytes, discardedBytes } = check.tornTail;
        printErr(`talea-log dump: note: stopped at a torn tail of ${discardedBytes} bytes in "${tornFile}" at offset ${offsetBytes}; open would truncate it`);
      }
      expectedSeq = seqAfter(expectedSeq ?? base, check);
      lastAtUs = check.lastAtUs ?? lastAtUs;
    }
    if (format === 'json') await writeOut(written === 0 ? ']\n' : '\n]\n');
    if (problem !== null) {
      printErr(`talea-log dump: CORRUPT: ${problem.message}`);
      return EXIT_CORRUPT;
    }
    return EXIT_OK;
  },
};
