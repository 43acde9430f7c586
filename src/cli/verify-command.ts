/**
 * `talea-log verify <dir>`: checks a data directory (segments, snapshots, idempotency runs) without
 * changing it or taking its lock (src/verify.ts), and exits with the most serious outcome:
 * corruption, imbalance, repair, ok.
 */
import { verifyDataDir, type Finding, type VerifyReport } from '../log/verify.js';
import type { BookSummary } from '../log/verify-tasks.js';
import type { Command } from './command.js';
import { resolveDataDir } from './data-dir.js';
import { EXIT_CORRUPT, EXIT_OK, EXIT_REPAIRABLE, EXIT_UNBALANCED } from './exit-codes.js';
import { choiceOption, integerOption } from './option-values.js';
import { ProgressReporter, progressMode } from './progress.js';
import { formatBytes, formatCount, plural } from './units.js';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check every frame, segment, snapshot and idempotency run of a data directory (read-only)',
  help: `Usage: talea-log verify <dir> [--all] [--progress auto|bar|lines|none] [--threads n]

Checks a data directory the way LogStore.open would, without changing anything and without
taking the write lock (a running store keeps working):
  - every frame of every segment: length, CRC, payload, seq continuity, commit time order;
    sealed segments are checked in parallel on a thread pool;
  - segment names: each base equals the seq of its first frame, no gaps, no duplicates;
  - every book replayed by the engine's own recovery code, and its trial balance per asset;
  - every transaction balanced per asset;
  - no transaction repeats the txid or the idempotency key of an earlier one of its book (from
    seq 1, whatever snapshots cover); a txid that two books hold is a warning;
  - every snapshot file of this package (snapshot-*.tsnap, and snapshot-*.snap of 0.1.x: format,
    CRC, contents, and against the log: its seq within the log, its last commit time equal to the
    log's) and every idempotency run (idem-*.trun, and idem-*.run of 0.1.x: format, CRCs, key
    order, and its seqs within the log), and that the runs cover the seqs the snapshot open loads
    needs. Another store's files under those names (the Rust store's) are a warning: open leaves
    them alone.

Prints one line per book and one line per finding (CORRUPT:, UNBALANCED:, REPAIR: what open
would repair or skip, WARNING: for example an unusable snapshot older than the one open loads,
which open never reads), then a verdict. Exits on the first corruption unless --all is given.

Options:
  --all               report every problem instead of stopping at the first corruption
  --progress MODE     auto (default: a bar on a terminal, nothing otherwise), bar, lines, none
  --threads N         pool threads for the parallel checks (default: the number of cores)
  -h, --help          show this help

Exit codes: 0 sound; 1 corruption (open would refuse), including a snapshot or an idempotency run
beyond the end of the log; 3 no corruption, but open would repair something: truncate a torn
tail, remove leftover *.tmp files, skip an unusable snapshot, delete a damaged or left-over
idempotency run or rebuild missing idempotency keys from the log; 4 a transaction or trial
balance does not balance; 5 no such data directory; 8 I/O error.`,
  options: {
    all: { type: 'boolean' },
    progress: { type: 'string' },
    threads: { type: 'string' },
  },
  positionals: { names: ['dir'], required: 1 },
  async run([dir], values) {
    const root = resolveDataDir(dir!);
    const mode = progressMode(choiceOption('progress', values.progress, ['auto', 'bar', 'lines', 'none'] as const, 'auto'));
    const threads = integerOption('threads', values.threads, 1, 256);
    const all = values.all === true;
    const reporter = new ProgressReporter(mode, 'verify');
    let report: VerifyReport;
    try {
      report = await verifyDataDir(root, { all, threads, onProgress: (progress) => reporter.update(progress) });
    } finally {
      reporter.finish();
    }
    const lines = renderReport(report);
    process.stdout.write(`${lines.join('\n')}\n`);
    return exitCodeOf(report.findings);
  },
};

export function exitCodeOf(findings: readonly Finding[]): number {
  if (findings.some((finding) => finding.kind === 'corrupt')) return EXIT_CORRUPT;
  if (findings.some((finding) => finding.kind === 'unbalanced')) return EXIT_UNBALANCED;
  if (findings.some((finding) => finding.kind === 'repair')) return EXIT_REPAIRABLE;
  return EXIT_OK;
}

function renderReport(report: VerifyReport): string[] {
  const lines = [`verify ${report.dir} (read-only; the write lock is not taken)`];
  const holder = report.lockHolder;
  if (holder.kind === 'held') {
    lines.push(
      `lock: held by process ${holder.pid}: a store has the directory open; frames being written at the end of a final segment may show as a torn tail`,
    );
  } else if (holder.kind === 'free') {
    lines.push('lock: not held');
  } else {
    lines.push(`lock: unknown (${holder.why})`);
  }
  const corruptBooks = new Set(report.findings.filter((finding) => finding.kind === 'corrupt').map((finding) => finding.book));
  let segments = 0;
  let bytes = 0;
  let events = 0;
  for (const book of report.books) {
    segments += book.segments;
    bytes += book.bytes;
    const head = `book ${book.book}: ${plural(book.segments, 'segment')}, ${formatBytes(book.bytes)}`;
    const summary = book.summary;
    if (summary !== null) {
      events += summary.lastSeq;
      const last = summary.lastSeq === 0 ? 'no events' : `seqs 1..${summary.lastSeq}, last at ${summary.lastAt}`;
      const balance = summary.sumsSaturated
        ? 'trial balance not checked (sums saturated)'
        : summary.trialBalance.length === 0
          ? 'no postings'
          : `trial balance ${summary.trialBalance.map((row) => `${row.asset} ${row.debits === row.credits ? 'balanced' : 'UNBALANCED'}`).join(', ')}`;
      lines.push(`${head}, ${last}; ${[...cacheFilesSummary(summary), balance].join('; ')}`);
    } else {
      events += book.frames;
      lines.push(`${head}: ${corruptBooks.has(book.book) ? 'CORRUPT (see below)' : 'not replayed (verification stopped earlier)'}`);
    }
  }
  for (const finding of report.findings) lines.push(finding.line);
  const count = (kind: Finding['kind']) => report.findings.filter((finding) => finding.kind === kind).length;
  const totals = `${plural(report.books.length, 'book')}, ${plural(segments, 'segment')}, ${formatBytes(bytes)}, ${plural(events, 'event')}`;
  if (count('corrupt') > 0) {
    const how = report.stoppedEarly ? 'stopped at the first corruption (--all reports every problem)' : `${plural(count('corrupt'), 'corruption')} found`;
    lines.push(`verify: CORRUPT: open would refuse this directory; ${how} (${totals})`);
  } else if (count('unbalanced') > 0) {
    lines.push(`verify: UNBALANCED: the log is sound, but ${plural(count('unbalanced'), 'finding')} of imbalance (${totals})`);
  } else if (count('repair') > 0) {
    lines.push(`verify: REPAIRABLE: no corruption; open would repair ${plural(count('repair'), 'thing')} listed above (${totals})`);
  } else {
    lines.push(`verify: OK (${totals})`);
  }
  return lines;
}

/** The snapshot and run files of a book, for its line: how many, and the snapshot open loads. */
function cacheFilesSummary(summary: BookSummary): string[] {
  const { snapshots, runs } = summary.cacheFiles!;
  const parts: string[] = [];
  if (snapshots.length > 0) {
    const loaded = snapshots.find((snapshot) => snapshot.role === 'loaded');
    parts.push(`${plural(snapshots.length, 'snapshot')} (${loaded === undefined ? 'none usable' : `open loads seq ${loaded.seq}`})`);
  }
  if (runs.length > 0) {
    const attached = runs.filter((run) => run.role === 'attached').length;
    parts.push(`${plural(runs.length, 'idempotency run')}${attached === runs.length ? '' : ` (${formatCount(attached)} usable)`}`);
  }
  return parts;
}
