/**
 * `npm run bench:readme` (bench/report.ts, Y3 and Y4): one report goes into two files, the full
 * tables into docs/benchmarks.md and the headline table alone into README.md, each between its
 * `<!-- bench:begin -->` and `<!-- bench:end -->` markers, leaving the rest of both files as it was.
 *
 * The report below carries the post-one-book medians of the run the README publishes
 * (20261125T181802.582), so the headline row can be checked against the published one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  BENCH_BEGIN,
  BENCH_END,
  PUBLISHED_FILES,
  postgresFloors,
  floorMet,
  publicationRefusal,
  publishedTexts,
  renderHeadline,
  renderMarkdown,
  replaceBenchSection,
  statOf,
  type BenchReport,
  type Percentiles,
  type ScenarioResult,
  type StepResult,
} from '../bench/report.js';

// This file runs as dist/test/bench-report.test.js, so the package root is two levels up.
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Three rounds around a median. */
function stat(median: number): ReturnType<typeof statOf> {
  return statOf([median * 0.98, median, median * 1.02]);
}

function percentiles(p50Us: number): Percentiles {
  return { count: 3000, p50_us: stat(p50Us), p90_us: stat(p50Us * 2), p99_us: stat(p50Us * 4), p999_us: stat(p50Us * 8), max_us: stat(p50Us * 16) };
}

function step(label: string, callers: number, opsPerS: number, kind: string, invalid = false): StepResult {
  return {
    label,
    callers,
    measured_s: 2,
    throughput_ops_s: stat(opsPerS),
    successes: stat(opsPerS * 2),
    shed: stat(0),
    deduplicated: stat(0),
    errors: {},
    invalid,
    latency: { [kind]: percentiles(1000) },
  };
}

function scenario(name: ScenarioResult['scenario'], contender: ScenarioResult['contender'], steps: StepResult[]): ScenarioResult {
  return { scenario: name, batch_size: 1, contender, steps };
}

function postOneBook(contender: ScenarioResult['contender'], rates: number[]): ScenarioResult {
  const callers = [1, 8, 64, 256, 1024];
  return scenario('post-one-book', contender, callers.map((count, index) => step(`c${count}`, count, rates[index]!, 'post')));
}

function fixtureReport(): BenchReport {
  return {
    schema: 1,
    run_id: '20261125T181802.582',
    started_at: '2026-11-25T18:18:02.582Z',
    preset: 'default',
    profiled: false,
    git: { sha: '3429acf34ac4aaaaaaaaaaaaaaaaaaaaaaaaaaaa', dirty: true },
    env: {
      node: '20.20.2',
      v8: '11.3.244.8-node.38',
      os: 'Linux 6.18.44-fc-v669',
      arch: 'x64',
      cpu_model: 'Intel(R) Xeon(R) Processor',
      cpu_count: 2,
      memory_bytes: 24 * 2 ** 30,
      data_dir: '/tmp/bench',
      fs_type: 'ext4',
      packages: { 'better-sqlite3': '12.11.1' },
      sqlite: { library_version: '3.53.2', journal_mode: 'wal', synchronous: 2 },
      fsync_probe: { start: { p50_us: 192, p99_us: 285, max_us: 900 }, end: { p50_us: 228, p99_us: 984, max_us: 2000 }, unstable: false },
    },
    config: { warmup_s: 1, window_s: 2, rounds: 3, store_options: {} },
    scenarios: [
      postOneBook('log', [3257, 14428, 38752, 68309, 65577]),
      postOneBook('sqlite', [3750, 9284, 12160, 10880, 12800]),
      // An invalid step is shown but never a peak (Y2), however fast it looked.
      scenario('reads', 'log', [step('balance/c8', 8, 2_025_409, 'balance'), step('balance/c64', 64, 9_000_000, 'balance', true)]),
      scenario('reads', 'sqlite', [step('balance/c8', 8, 220_713, 'balance'), step('balance/c64', 64, 215_621, 'balance')]),
    ],
    raw_limit: [1, 8, 64, 256, 1024].map((batchFrames, index) => ({
      batch_frames: batchFrames,
      frames_per_s: stat([5040, 36804, 218752, 531840, 569856][index]!),
      latency: percentiles(200),
    })),
    micro: [{ group: 'crc', task: 'zlib.crc32, 200 B', mean_ns: 137, p50_ns: 135, p99_ns: 176, ops_per_s: 7_288_102, rme_pct: 0.5, samples: 3645 }],
    verification: [{ scenario: 'post-one-book', contender: 'log', round: 0, ok: true, observed: 10, expected_min: 10, expected_max: 10, warnings: [] }],
  };
}

const README = `# talea-store-log

Intro that stays.

## Benchmarks

${BENCH_BEGIN}
an old table
${BENCH_END}

Text after the markers stays too.
`;

const DOCS = `# Benchmarks

How to run them.

${BENCH_BEGIN}
old full tables
${BENCH_END}
`;

/** The text between a document's markers. */
function section(document: string): string {
  const begin = document.indexOf(BENCH_BEGIN);
  const end = document.indexOf(BENCH_END);
  assert.ok(begin !== -1 && end > begin, 'markers present');
  return document.slice(begin + BENCH_BEGIN.length, end);
}

const HEADLINE_ROW = '| post-one-book | 68,309 | 12,800 | 569,856 | 5.34× | 0.12× |';

/** The fixture plus a postgres contender: its steps, a /p2 step, and its server's settings. */
function withPostgres(): BenchReport {
  const report = fixtureReport();
  const pg = postOneBook('postgres', [900, 4000, 6000, 6200, 5800]);
  const p2 = { ...step('c64/p2', 64, 5400, 'post'), processes: 2 };
  for (const entry of [...pg.steps, p2]) entry.server_cpu_us_per_op = stat(55);
  pg.steps.push(p2);
  report.scenarios.push(pg, scenario('reads', 'postgres', [step('balance/c8', 8, 5000, 'balance')]));
  report.env.postgres = {
    server_version: '18.4',
    fsync: 'on',
    synchronous_commit: 'on',
    full_page_writes: 'on',
    max_connections: '200',
    shared_buffers: '256MB',
    embedded: true,
    client: 'pg 8.23.1',
  };
  return report;
}

describe('bench:readme', () => {
  test('the markers are the ones spec/bench.md 7.2 names', () => {
    assert.equal(BENCH_BEGIN, '<!-- bench:begin -->');
    assert.equal(BENCH_END, '<!-- bench:end -->');
    assert.deepEqual(PUBLISHED_FILES.map((entry) => entry.file), ['README.md', 'docs/benchmarks.md']);
  });

  test('the headline takes each contender peak over valid steps, with the raw limit at its best batch size', () => {
    const headline = renderHeadline(fixtureReport());
    assert.ok(headline.includes(HEADLINE_ROW), headline);
    // reads: the invalid balance/c64 step (9,000,000) is left out; sqlite's peak is balance/c8.
    assert.ok(headline.includes('| reads | 2,025,409 | 220,713 | — | 9.18× | — |'), headline);
    assert.ok(!headline.includes('9,000,000'));
  });

  test('the README gets the conditions and the headline table only; the docs page gets every table', () => {
    const report = fixtureReport();
    const texts = publishedTexts(report, { 'README.md': README, 'docs/benchmarks.md': DOCS });
    const readme = section(texts['README.md']!);
    const docs = section(texts['docs/benchmarks.md']!);

    // The README: the machine and run it comes from, and the headline.
    assert.match(readme, /Run `20261125T181802\.582` \(2026-11-25\), preset `default`/);
    assert.match(readme, /- Machine: 2 cores \(Intel\(R\) Xeon\(R\) Processor\)/);
    assert.match(readme, /fsync probe .*start p50 192 µs .*end p50 228 µs/);
    assert.ok(readme.includes(HEADLINE_ROW));
    // … and nothing of the step tables, the raw-limit, startup or micro tables.
    assert.ok(!readme.includes('**post-one-book**'), 'no step table in the README');
    assert.ok(!readme.includes('| c256 |'), 'no step rows in the README');
    assert.ok(!readme.includes('raw limit (append'), 'no raw-limit table in the README');
    assert.ok(!readme.includes('micro-benchmarks'), 'no micro table in the README');

    // The docs page: exactly the full Markdown, the same headline included.
    assert.equal(docs.trim(), renderMarkdown(report).trim());
    assert.ok(docs.includes(HEADLINE_ROW));
    assert.ok(docs.includes('**post-one-book**'));
    assert.match(docs, /\| c256 \| post \| 68,309 \(/);
    assert.ok(docs.includes('raw limit (append'));
    assert.ok(docs.includes('| crc | zlib.crc32, 200 B |'));

    // The headline table is one table, the same in both files.
    const table = (text: string): string => text.slice(text.indexOf('**Headline'), text.indexOf('Raw is the physical limit'));
    assert.equal(table(readme), table(docs));
  });

  test('text outside the markers is left exactly as it was, and publishing twice changes nothing more', () => {
    const report = fixtureReport();
    const once = publishedTexts(report, { 'README.md': README, 'docs/benchmarks.md': DOCS });
    for (const [file, original] of [['README.md', README], ['docs/benchmarks.md', DOCS]] as const) {
      const text = once[file]!;
      assert.equal(text.slice(0, text.indexOf(BENCH_BEGIN)), original.slice(0, original.indexOf(BENCH_BEGIN)), file);
      assert.equal(text.slice(text.indexOf(BENCH_END)), original.slice(original.indexOf(BENCH_END)), file);
      assert.ok(!text.includes('an old table') && !text.includes('old full tables'), file);
    }
    const twice = publishedTexts(report, once);
    assert.deepEqual(twice, once);
  });

  test('a file without its markers (or with the old bench:start) is refused by name, before anything is written', () => {
    const oldMarkers = README.replace(BENCH_BEGIN, '<!-- bench:start -->');
    assert.throws(() => publishedTexts(fixtureReport(), { 'README.md': oldMarkers, 'docs/benchmarks.md': DOCS }), /README\.md has no <!-- bench:begin -->/);
    assert.throws(() => publishedTexts(fixtureReport(), { 'README.md': README, 'docs/benchmarks.md': '# nothing' }), /docs\/benchmarks\.md has no/);
    assert.throws(() => publishedTexts(fixtureReport(), { 'README.md': README }), /docs\/benchmarks\.md is missing/);
    assert.throws(() => replaceBenchSection(`${README}${BENCH_BEGIN}\n${BENCH_END}\n`, 'x', 'README.md'), /more than one/);
    assert.throws(() => replaceBenchSection(`${BENCH_END}\n${BENCH_BEGIN}\n`, 'x', 'README.md'), /has no/);
  });

  test('only a default or full run that passed verification and was not profiled is published (Y3)', () => {
    assert.equal(publicationRefusal(fixtureReport()), null);
    assert.match(publicationRefusal({ ...fixtureReport(), preset: 'quick' }) ?? '', /quick run/);
    assert.match(publicationRefusal({ ...fixtureReport(), profiled: true }) ?? '', /profiled/);
    const failed = fixtureReport();
    failed.verification[0]!.ok = false;
    assert.match(publicationRefusal(failed) ?? '', /verification failed/);
    assert.match(publicationRefusal({ ...fixtureReport(), failures: ['SEQ MISMATCH'] }) ?? '', /SEQ MISMATCH/);
  });

  test('a report without postgres renders no postgres column (Y5)', () => {
    const markdown = renderMarkdown(fixtureReport());
    assert.ok(!markdown.includes('postgres'), 'no postgres text');
    assert.ok(!markdown.includes('floors'));
  });

  test('postgres: headline column and ratio, server CPU, the /p2 ratio and the floors (Y5)', () => {
    const report = withPostgres();
    const headline = renderHeadline(report);
    assert.ok(headline.includes('| scenario | log ops/s | sqlite ops/s | postgres ops/s | raw frames/s | log ÷ sqlite | log ÷ postgres | log ÷ raw |'), headline);
    // The peak leaves the /p2 step out: it is a variant, shown with its ratio to one process.
    assert.ok(headline.includes('| post-one-book | 68,309 | 12,800 | 6,200 | 569,856 | 5.34× | 11.0× | 0.12× |'), headline);
    assert.match(headline, /PostgreSQL 18\.4 \(embedded .*fsync=on, synchronous_commit=on, full_page_writes=on, max_connections=200, shared_buffers=256MB/);
    const markdown = renderMarkdown(report);
    assert.ok(markdown.includes('server CPU µs/op'));
    assert.match(markdown, /\| c64\/p2 \| post \|( — \|){15} 5,400 \(.*\| 55\.0 \| — \| — \| 0\.90× \|/);
    const floors = postgresFloors(report);
    const byName = new Map(floors.map((floor) => [floor.what, floor]));
    assert.equal(byName.get('post-one-book peak, c64–c1024 (commits/s)')!.measured, 6200);
    assert.equal(byName.get('reads balance at c8 (per s)')!.measured, 5000);
    assert.equal(byName.get('post-one-book batch-100 at c8 (drafts/s)')!.measured, null);
    assert.ok(Math.abs(byName.get('post-one-book c64/p2 ÷ one process')!.measured! - 0.9) < 1e-9);
    assert.ok(markdown.includes('| post-one-book peak, c64–c1024 (commits/s) | ≥ 5,600 | 6,200 | yes |'));
    assert.ok(markdown.includes('| reads balance at c8 (per s) | ≥ 5,400 | 5,000 | **no** |'));
    assert.ok(markdown.includes('| post-one-book batch-100 at c8 (drafts/s) | ≥ 8,800 | — | not measured |'));
    assert.ok(markdown.includes('| post-one-book c64/p2 ÷ one process | ≥ 0.80× | 0.90× | yes |'));
  });

  test('postgres: the subscribe lag of the same and of another process, each against its ceiling', () => {
    const report = withPostgres();
    const lagStep = (label: string, p50Us: number): StepResult => ({ ...step(label, 4, 0, 'subscribe-lag'), latency: { 'subscribe-lag': percentiles(p50Us) } });
    report.scenarios.push(
      scenario('mixed', 'postgres', [step('c32', 32, 4000, 'post'), step('c32/p2', 32, 3000, 'post'), lagStep('subscribe-lag', 3500), lagStep('subscribe-lag/p2', 9000)]),
    );
    const byName = new Map(postgresFloors(report).map((floor) => [floor.what, floor]));
    const same = byName.get('subscribe lag p50, same process (mixed)')!;
    const other = byName.get('subscribe lag p50, other process (mixed /p2)')!;
    assert.equal(same.measured, 3.5);
    assert.equal(other.measured, 9);
    // A latency is a ceiling: 3.5 ms misses 2 ms, 9 ms meets 10 ms.
    assert.equal(floorMet(same), false);
    assert.equal(floorMet(other), true);
    const markdown = renderMarkdown(report);
    assert.ok(markdown.includes('| subscribe lag p50, same process (mixed) | ≤ 2.00 ms | 3.50 ms | **no** |'), markdown);
    assert.ok(markdown.includes('| subscribe lag p50, other process (mixed /p2) | ≤ 10.0 ms | 9.00 ms | yes |'));
    // The lag pseudo-steps are neither peaks nor /p2 variants of a step.
    assert.match(markdown, /\| subscribe-lag\/p2 \| subscribe-lag \|( — \|){16} 9\.00 \|/);
    assert.equal(byName.get('mixed c32 (ops/s)')!.measured, 4000);
    // Without a mixed scenario, both are not measured.
    const bare = new Map(postgresFloors(withPostgres()).map((floor) => [floor.what, floor]));
    assert.equal(floorMet(bare.get('subscribe lag p50, same process (mixed)')!), null);
  });

  test('a report whose PostgreSQL read back a durability setting off is never published', () => {
    assert.equal(publicationRefusal(withPostgres()), null);
    for (const change of [{ fsync: 'off' }, { synchronous_commit: 'local' }, { full_page_writes: 'off' }]) {
      const report = withPostgres();
      report.env.postgres = { ...report.env.postgres!, ...change };
      assert.match(publicationRefusal(report) ?? '', /durability was not equal/);
    }
  });

  test('README.md and docs/benchmarks.md of this checkout each hold one bench section', () => {
    for (const { file } of PUBLISHED_FILES) {
      const text = readFileSync(join(packageRoot, file), 'utf8');
      assert.doesNotThrow(() => replaceBenchSection(text, 'x', file), file);
      assert.ok(!text.includes('<!-- bench:start -->'), `${file} has no old marker`);
    }
  });
});
