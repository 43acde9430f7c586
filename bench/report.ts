/**
 * The bench's output (spec/bench.md, section 7): the JSON report of one run, its Markdown tables,
 * and `npm run bench:readme`, which publishes a report: the full tables into docs/benchmarks.md,
 * the headline table alone into README.md.
 *
 * Y1. Scenario and raw-limit figures are kept per round and summarised as median and range
 *     (`Stat`); a figure whose max ÷ min exceeds 1.5 is marked noisy (`~`).
 * Y2. Ratios are computed within one run, step by step, from medians. Invalid steps are shown,
 *     marked [INVALID], and left out of peaks and ratios.
 * Y3. The README and the docs page only ever get a report from a `default` or `full` run that
 *     passed verification and was not profiled.
 * Y4. Both files carry their section between `<!-- bench:begin -->` and `<!-- bench:end -->`
 *     (spec/bench.md 7.2). Both sections come from the same report and both start with its
 *     conditions; if either file lacks its markers, neither is written.
 * Y5. The `postgres` columns appear only in a report that measured PgStore, so earlier reports
 *     render as they did. Its rows carry the server's CPU per operation beside Node's, its `/p2`
 *     steps the ratio to one process, and the docs page its floors (spec/postgres-store.md 9.4),
 *     each marked met or not. A report whose server read back any durability setting off is never
 *     published.
 *
 *   node dist/bench/report.js readme [report.json]    (newest in bench-results/ when omitted)
 *   node dist/bench/report.js markdown <report.json>  (prints the tables)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { PgSettings } from './postgres.js';
import type { ProbeResult } from './raw-limit.js';

export type { ProbeResult };

export interface Stat {
  median: number;
  min: number;
  max: number;
  rounds: number[];
}

export interface Percentiles {
  count: number;
  p50_us: Stat;
  p90_us: Stat;
  p99_us: Stat;
  p999_us: Stat;
  max_us: Stat;
}

export interface StepResult {
  label: string;
  callers: number;
  measured_s: number;
  throughput_ops_s: Stat;
  /** Process CPU time (all threads) per measured success, µs; absent in reports made before it existed. */
  cpu_us_per_op?: Stat;
  /** PgStore: the server processes' CPU time per measured success, µs. */
  server_cpu_us_per_op?: Stat;
  /** Node processes the callers ran in, when more than one (`/p2` steps). */
  processes?: number;
  successes: Stat;
  shed: Stat;
  deduplicated: Stat;
  errors: Record<string, number>;
  error_rate?: Stat;
  avg_batch_frames?: Stat;
  invalid: boolean;
  latency: Record<string, Percentiles>;
}

export interface ScenarioResult {
  scenario: 'post-one-book' | 'post-many-books' | 'reads' | 'mixed' | 'overload';
  batch_size: number;
  contender: Contender;
  steps: StepResult[];
}

export type Contender = 'log' | 'sqlite' | 'postgres';
const CONTENDERS: readonly Contender[] = ['log', 'sqlite', 'postgres'];

/** The postgres contender's server, as read back at the start of the run. */
export interface PgEnv extends PgSettings {
  embedded: boolean;
  client: string;
}

export interface MicroResult {
  group: string;
  task: string;
  mean_ns: number;
  p50_ns: number;
  p99_ns: number;
  ops_per_s: number;
  rme_pct: number;
  samples: number;
}

export interface StartupResult {
  events: number;
  full_replay_s: Stat;
  snapshot_open_s: Stat;
  bytes_per_posting: Stat;
}

export interface VerificationEntry {
  scenario: string;
  contender: string;
  round: number;
  ok: boolean;
  observed: number;
  expected_min: number;
  expected_max: number;
  warnings: string[];
}

export interface BenchReport {
  schema: 1;
  run_id: string;
  started_at: string;
  preset: 'quick' | 'default' | 'full';
  profiled: boolean;
  git: { sha: string; dirty: boolean };
  env: {
    node: string;
    v8: string;
    os: string;
    arch: string;
    cpu_model: string;
    cpu_count: number;
    memory_bytes: number;
    data_dir: string;
    fs_type: string;
    packages: Record<string, string>;
    sqlite: { library_version: string; journal_mode: string; synchronous: number };
    fsync_probe: { start: ProbeResult; end: ProbeResult; unstable: boolean };
    postgres?: PgEnv;
  };
  config: {
    warmup_s: number;
    window_s: number;
    rounds: number;
    store_options: Record<string, Record<string, unknown>>;
  };
  scenarios: ScenarioResult[];
  raw_limit: { batch_frames: number; frames_per_s: Stat; latency: Percentiles }[];
  micro: MicroResult[];
  startup?: StartupResult & {
    /** Additions beyond the schema's fields: what the memory figure is made of. */
    postings?: number;
    /** Absent in reports older than the two-size measurement. */
    smaller_events?: number;
    marginal_bytes_per_posting?: number;
    rss_empty_bytes?: number;
    rss_loaded_bytes?: number;
    heap_used_bytes_per_thread?: Array<{ thread: number; empty: number; loaded: number }>;
    build_s?: number;
    /** One book of empty accounts (bench/startup.ts T3). */
    accounts?: {
      accounts: number;
      bytes_per_account: number;
      heap_bytes_per_account: number;
      open_s: number;
      build_s: number;
      /** Absent in reports older than the two-size measurement. */
      smaller_accounts?: number;
      marginal_bytes_per_account?: number;
      marginal_heap_bytes_per_account?: number;
    };
  };
  /** PgStore: reopen time on the reads scenario's populated database (its startup step). */
  postgres_open?: { transactions: number; open_s: Stat };
  verification: VerificationEntry[];
  /** Additions beyond the schema: failures that make the run fail, notes, and part timings. */
  failures?: string[];
  notes?: string[];
  timings_s?: Record<string, number>;
}

// --- statistics ------------------------------------------------------------------------------

export function statOf(rounds: number[]): Stat {
  if (rounds.length === 0) return { median: 0, min: 0, max: 0, rounds: [] };
  const sorted = [...rounds].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, rounds: [...rounds] };
}

export const NOISY_RATIO = 1.5;

export function isNoisy(stat: Stat): boolean {
  return stat.rounds.length > 1 && stat.min > 0 && stat.max / stat.min > NOISY_RATIO;
}

// --- Markdown ----------------------------------------------------------------------------------

function formatCount(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function formatRate(stat: Stat | undefined): string {
  if (stat === undefined || stat.rounds.length === 0) return '—';
  const noisy = isNoisy(stat) ? '~' : '';
  if (stat.rounds.length === 1) return `${noisy}${formatCount(stat.median)}`;
  return `${noisy}${formatCount(stat.median)} (${formatCount(stat.min)}–${formatCount(stat.max)})`;
}

function formatMs(stat: Stat | undefined): string {
  if (stat === undefined || stat.rounds.length === 0) return '—';
  const ms = stat.median / 1000;
  const text = ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
  return `${isNoisy(stat) ? '~' : ''}${text}`;
}

function formatRatio(numerator: number | null, denominator: number | null): string {
  if (numerator === null || denominator === null || denominator === 0 || !Number.isFinite(numerator)) return '—';
  const ratio = numerator / denominator;
  return ratio >= 10 ? `${ratio.toFixed(1)}×` : `${ratio.toFixed(2)}×`;
}

function formatErrors(errors: Record<string, number>): string {
  const entries = Object.entries(errors).filter(([, count]) => count > 0);
  if (entries.length === 0) return '0';
  return entries.map(([code, count]) => `${code} ${count}`).join(', ');
}

/** The main op kind of a step (its throughput's kind). */
function mainKind(scenario: string, label: string): string {
  if (scenario === 'reads') return label.split('/')[0]!;
  if (scenario === 'mixed') return 'all';
  return 'post';
}

/** The mixed scenario's lag pseudo-steps: this process's commits, and other processes' (`/p2`). */
function isLagLabel(label: string): boolean {
  return label === 'subscribe-lag' || label === 'subscribe-lag/p2';
}

/** The rows of one step: its op kind, or (mixed) all operations then each kind, or (overload) post then shed. */
function rowKinds(scenario: string, label: string, steps: Array<StepResult | undefined>): string[] {
  if (isLagLabel(label)) return ['subscribe-lag'];
  const present = (kind: string): boolean => steps.some((step) => step?.latency[kind] !== undefined);
  if (scenario === 'mixed') return ['all', ...['post', 'balance', 'history', 'trial-balance'].filter(present)];
  if (scenario === 'overload') return ['post', ...(present('shed') ? ['shed'] : [])];
  return [mainKind(scenario, label)];
}

type StepLookup = Partial<Record<Contender, StepResult>>;

/** Y5: whether the report measured PgStore. */
function hasPostgres(report: BenchReport): boolean {
  return report.scenarios.some((result) => result.contender === 'postgres');
}

function scenarioGroups(report: BenchReport): Array<{ scenario: string; batchSize: number; title: string }> {
  const groups: Array<{ scenario: string; batchSize: number; title: string }> = [];
  for (const result of report.scenarios) {
    if (groups.some((group) => group.scenario === result.scenario && group.batchSize === result.batch_size)) continue;
    const title = result.batch_size === 1 ? result.scenario : `${result.scenario}, batch-${result.batch_size}`;
    groups.push({ scenario: result.scenario, batchSize: result.batch_size, title });
  }
  return groups;
}

function stepsOf(report: BenchReport, scenario: string, batchSize: number): { labels: string[]; byLabel: Map<string, StepLookup> } {
  const labels: string[] = [];
  const byLabel = new Map<string, StepLookup>();
  for (const result of report.scenarios) {
    if (result.scenario !== scenario || result.batch_size !== batchSize) continue;
    for (const step of result.steps) {
      if (!byLabel.has(step.label)) {
        labels.push(step.label);
        byLabel.set(step.label, {});
      }
      byLabel.get(step.label)![result.contender] = step;
    }
  }
  return { labels, byLabel };
}

function rawStat(report: BenchReport, k: number): Stat | null {
  return report.raw_limit.find((entry) => entry.batch_frames === k)?.frames_per_s ?? null;
}

function validMedian(step: StepResult | undefined): number | null {
  if (step === undefined || step.invalid || isLagLabel(step.label)) return null;
  return step.throughput_ops_s.median;
}

function peak(steps: Array<StepResult | undefined>): number | null {
  let best: number | null = null;
  for (const step of steps) {
    const value = validMedian(step);
    if (value !== null && (best === null || value > best)) best = value;
  }
  return best;
}

function callersOfLabel(label: string): number | null {
  const match = /^c(\d+)$/.exec(label);
  return match === null ? null : Number(match[1]);
}

/** How to read the step tables (renderMarkdown only: the headline has no ranges or latencies). */
const READING_LINES = [
  'Throughput is the median over rounds (range in brackets); `~` marks a figure whose range exceeds 1.5×. ' +
    'Latency columns are medians of the per-round percentiles, in ms, closed loop (ceilings, not service levels).',
  '',
];

/** The full tables: conditions, headline, one step table per scenario, raw limit, startup, micro. */
export function renderMarkdown(report: BenchReport): string {
  return [...conditionLines(report), ...READING_LINES, ...headlineLines(report), ...floorLines(report), ...detailLines(report)].join('\n');
}

/**
 * One floor of spec/postgres-store.md 9.4 (and the issue's): a postgres figure and its bound. A
 * rate or a ratio is a minimum; a latency (`ms`) is a maximum.
 */
export interface FloorCheck {
  what: string;
  floor: number;
  /** The measured figure (a median), or null when the step was not run or was invalid. */
  measured: number | null;
  unit: 'per-s' | 'ratio' | 'ms';
}

export function floorMet(check: FloorCheck): boolean | null {
  if (check.measured === null) return null;
  return check.unit === 'ms' ? check.measured <= check.floor : check.measured >= check.floor;
}

function postgresStep(report: BenchReport, scenario: string, batchSize: number, label: string): StepResult | undefined {
  return report.scenarios
    .find((result) => result.scenario === scenario && result.batch_size === batchSize && result.contender === 'postgres')
    ?.steps.find((step) => step.label === label);
}

/** Y5: the floors of the postgres contender, with what this report measured. */
export function postgresFloors(report: BenchReport): FloorCheck[] {
  const rate = (scenario: string, batchSize: number, label: string): number | null => validMedian(postgresStep(report, scenario, batchSize, label));
  const oneBook = report.scenarios.find((result) => result.scenario === 'post-one-book' && result.batch_size === 1 && result.contender === 'postgres');
  const peakSteps = (oneBook?.steps ?? []).filter((step) => {
    const callers = callersOfLabel(step.label);
    return callers !== null && callers >= 64;
  });
  const lagP50Ms = (label: string): number | null => {
    const step = postgresStep(report, 'mixed', 1, label);
    const p50 = step === undefined || step.invalid ? undefined : step.latency['subscribe-lag']?.p50_us.median;
    return p50 === undefined ? null : p50 / 1000;
  };
  const floors: FloorCheck[] = [
    { what: 'post-one-book c1 (commits/s)', floor: 700, measured: rate('post-one-book', 1, 'c1'), unit: 'per-s' },
    { what: 'post-one-book peak, c64–c1024 (commits/s)', floor: 5_600, measured: peak(peakSteps), unit: 'per-s' },
    { what: 'post-one-book batch-100 at c8 (drafts/s)', floor: 8_800, measured: rate('post-one-book', 100, 'c8'), unit: 'per-s' },
    { what: 'post-many-books books8 (commits/s)', floor: 3_500, measured: rate('post-many-books', 1, 'books8'), unit: 'per-s' },
    { what: 'reads balance at c8 (per s)', floor: 5_400, measured: rate('reads', 1, 'balance/c8'), unit: 'per-s' },
    { what: 'reads trial balance at c8 (per s)', floor: 5_000, measured: rate('reads', 1, 'trial-balance/c8'), unit: 'per-s' },
    { what: 'reads history at c8 (per s)', floor: 1_000, measured: rate('reads', 1, 'history/c8'), unit: 'per-s' },
    { what: 'mixed c32 (ops/s)', floor: 2_000, measured: rate('mixed', 1, 'c32'), unit: 'per-s' },
    { what: 'subscribe lag p50, same process (mixed)', floor: 2, measured: lagP50Ms('subscribe-lag'), unit: 'ms' },
    { what: 'subscribe lag p50, other process (mixed /p2)', floor: 10, measured: lagP50Ms('subscribe-lag/p2'), unit: 'ms' },
  ];
  for (const step of oneBook?.steps ?? []) {
    if (!step.label.endsWith('/p2')) continue;
    const one = rate('post-one-book', 1, step.label.slice(0, -'/p2'.length));
    const two = validMedian(step);
    floors.push({ what: `post-one-book ${step.label} ÷ one process`, floor: 0.8, measured: one === null || two === null || one === 0 ? null : two / one, unit: 'ratio' });
  }
  return floors;
}

/** The floors table (docs page only), when the report measured PgStore. */
function floorLines(report: BenchReport): string[] {
  if (!hasPostgres(report)) return [];
  const lines = ['**postgres floors (spec/postgres-store.md 9.4, pass/fail for the first published run)**', ''];
  lines.push('| step | floor | postgres | met |');
  lines.push('|---|---:|---:|---|');
  for (const check of postgresFloors(report)) {
    const show = (value: number): string =>
      check.unit === 'ratio' ? `${value.toFixed(2)}×` : check.unit === 'ms' ? `${formatCount(value)} ms` : formatCount(value);
    const met = floorMet(check);
    const bound = check.unit === 'ms' ? '≤' : '≥';
    lines.push(`| ${check.what} | ${bound} ${show(check.floor)} | ${check.measured === null ? '—' : show(check.measured)} | ${met === null ? 'not measured' : met ? 'yes' : '**no**'} |`);
  }
  lines.push('');
  return lines;
}

/** What the README shows: the same conditions and headline table as renderMarkdown, nothing more. */
export function renderHeadline(report: BenchReport): string {
  return [...conditionLines(report), ...headlineLines(report)].join('\n');
}

/** The run, the machine and everything else the numbers depend on (spec/bench.md 7.2, 8.7). */
function conditionLines(report: BenchReport): string[] {
  const lines: string[] = [];
  const env = report.env;
  const probe = env.fsync_probe;
  const date = report.started_at.slice(0, 10);
  lines.push(`Run \`${report.run_id}\` (${date}), preset \`${report.preset}\`${report.profiled ? ', **profiled: not for publication**' : ''}; ` +
    `${report.config.rounds} round(s), ${report.config.warmup_s} s warm-up and ${report.config.window_s} s window per step.`);
  lines.push('');
  lines.push(`- Machine: ${env.cpu_count} cores (${env.cpu_model}), ${(env.memory_bytes / 2 ** 30).toFixed(0)} GiB, ${env.os} ${env.arch}; ` +
    `Node ${env.node} (V8 ${env.v8}); file system \`${env.fs_type}\`.`);
  lines.push(`- fsync probe (200 B append + fsync): start p50 ${probe.start.p50_us.toFixed(0)} µs / p99 ${probe.start.p99_us.toFixed(0)} µs, ` +
    `end p50 ${probe.end.p50_us.toFixed(0)} µs / p99 ${probe.end.p99_us.toFixed(0)} µs${probe.unstable ? ' — **unstable disk**: absolute figures do not hold, ratios within a step do' : ''}.`);
  lines.push(`- Peer: SQLite ${env.sqlite.library_version} via better-sqlite3 ${env.packages['better-sqlite3'] ?? '?'}, ` +
    `journal_mode=${env.sqlite.journal_mode}, synchronous=${env.sqlite.synchronous} (FULL).`);
  if (env.postgres !== undefined) {
    const pg = env.postgres;
    lines.push(`- PostgreSQL ${pg.server_version} (${pg.embedded ? 'embedded cluster on the same machine and file system, sharing its cores' : 'external server'}), ` +
      `client ${pg.client}; read back: fsync=${pg.fsync}, synchronous_commit=${pg.synchronous_commit}, full_page_writes=${pg.full_page_writes}, ` +
      `max_connections=${pg.max_connections}, shared_buffers=${pg.shared_buffers}; a fresh database per scenario per round.`);
  }
  const options = Object.entries(report.config.store_options)
    .map(([contender, values]) => `${contender}: ${Object.entries(values).map(([key, value]) => `${key}=${String(value)}`).join(', ') || 'defaults'}`)
    .join('; ');
  lines.push(`- Store options that differ from the defaults: ${options || 'none'}.`);
  lines.push(`- git \`${report.git.sha.slice(0, 12)}\`${report.git.dirty ? ' (with uncommitted changes)' : ''}.`);
  const failed = report.verification.filter((entry) => !entry.ok).length;
  lines.push(`- Verification: ${report.verification.length} checks, ${failed === 0 ? 'all passed' : `**${failed} failed**`}` +
    `${(report.failures?.length ?? 0) > 0 ? '; **the run failed** (see the end)' : ''}.`);
  lines.push('');
  return lines;
}

/** One row per scenario: the peak (best valid step) of each contender, and the ratios. */
function headlineLines(report: BenchReport): string[] {
  const lines: string[] = [];
  lines.push('**Headline (peak throughput per scenario)**');
  lines.push('');
  const pg = hasPostgres(report);
  lines.push(pg
    ? '| scenario | log ops/s | sqlite ops/s | postgres ops/s | raw frames/s | log ÷ sqlite | log ÷ postgres | log ÷ raw |'
    : '| scenario | log ops/s | sqlite ops/s | raw frames/s | log ÷ sqlite | log ÷ raw |');
  lines.push(pg ? '|---|---:|---:|---:|---:|---:|---:|---:|' : '|---|---:|---:|---:|---:|---:|');
  const rawPeak = report.raw_limit.length === 0 ? null : Math.max(...report.raw_limit.map((entry) => entry.frames_per_s.median));
  for (const group of scenarioGroups(report)) {
    const { labels, byLabel } = stepsOf(report, group.scenario, group.batchSize);
    const plainLabels = labels.filter((label) => !label.endsWith('/w1') && !label.endsWith('/p2') && !isLagLabel(label) && label !== 'retry-to-success');
    const logPeak = peak(plainLabels.map((label) => byLabel.get(label)!.log));
    const sqlitePeak = peak(plainLabels.map((label) => byLabel.get(label)!.sqlite));
    const postgresPeak = peak(plainLabels.map((label) => byLabel.get(label)!.postgres));
    let raw: number | null = null;
    if (group.scenario === 'post-one-book') {
      raw = group.batchSize === 1 ? rawPeak : (rawStat(report, group.batchSize)?.median ?? null);
    } else if (group.scenario === 'post-many-books' || group.scenario === 'overload') {
      raw = rawPeak;
    }
    let title = group.title;
    if (group.scenario === 'overload') title = 'overload (goodput, raw-overloaded)';
    else if (group.scenario === 'mixed') title = 'mixed (all operations)';
    else if (group.batchSize > 1) title = `${group.title} (drafts/s)`;
    if (pg) {
      lines.push(`| ${title} | ${formatCount(logPeak ?? NaN)} | ${formatCount(sqlitePeak ?? NaN)} | ${formatCount(postgresPeak ?? NaN)} | ${formatCount(raw ?? NaN)} | ` +
        `${formatRatio(logPeak, sqlitePeak)} | ${formatRatio(logPeak, postgresPeak)} | ${formatRatio(logPeak, raw)} |`);
    } else {
      lines.push(`| ${title} | ${formatCount(logPeak ?? NaN)} | ${formatCount(sqlitePeak ?? NaN)} | ${formatCount(raw ?? NaN)} | ` +
        `${formatRatio(logPeak, sqlitePeak)} | ${formatRatio(logPeak, raw)} |`);
    }
  }
  lines.push('');
  lines.push('Raw is the physical limit: pre-encoded frames appended to one file and fsynced per batch, no store; ' +
    'the headline shows its best batch size (for a batch variant, k = the batch size). Per-step ceilings (k = callers) are in the post-one-book tables.');
  lines.push('');
  return lines;
}

/** Everything after the headline: step tables, raw limit, startup and memory, micro-benchmarks. */
function detailLines(report: BenchReport): string[] {
  const lines: string[] = [];
  const probe = report.env.fsync_probe;
  // Step tables.
  const present = CONTENDERS.filter((contender) => report.scenarios.some((result) => result.contender === contender));
  const shown: Contender[] = present.includes('postgres') ? [...CONTENDERS] : ['log', 'sqlite'];
  for (const group of scenarioGroups(report)) {
    const { labels, byLabel } = stepsOf(report, group.scenario, group.batchSize);
    lines.push(`**${group.title}**`);
    lines.push('');
    const withRaw = group.scenario === 'post-one-book';
    const withW1 = group.scenario === 'post-many-books' && labels.some((label) => label.endsWith('/w1'));
    const withP2 = labels.some((label) => label.endsWith('/p2') && !isLagLabel(label));
    const overload = group.scenario === 'overload';
    const header = ['step', 'op'];
    for (const contender of shown) {
      header.push(`${contender} ops/s`, 'p50', 'p99', 'p999', overload ? 'shed / error rate' : 'shed', 'errors', contender === 'postgres' ? 'Node CPU µs/op' : 'CPU µs/op');
      if (contender === 'log') header.push('frames/fsync');
      if (contender === 'postgres') header.push('server CPU µs/op');
    }
    header.push('log ÷ sqlite');
    if (shown.includes('postgres')) header.push('log ÷ postgres');
    if (withP2) header.push('postgres /p2 ÷ 1 process');
    if (withRaw) header.push('raw frames/s (k)', 'log ÷ raw');
    if (withW1) header.push('log ÷ log/w1');
    lines.push(`| ${header.join(' | ')} |`);
    lines.push(`|${header.map((_, index) => (index < 2 ? '---' : '---:')).join('|')}|`);
    for (const label of labels) {
      const lookup = byLabel.get(label)!;
      const { log, sqlite, postgres } = lookup;
      const steps = shown.map((contender) => lookup[contender]);
      for (const [rowIndex, op] of rowKinds(group.scenario, label, steps).entries()) {
        const first = rowIndex === 0;
        const cells: string[] = [first ? `${label}${steps.some((step) => step?.invalid) ? ' [INVALID]' : ''}` : '', op];
        for (const contender of shown) {
          const step = lookup[contender];
          if (step === undefined) {
            cells.push('—', '—', '—', '—', '—', '—', '—');
            if (contender === 'log' || contender === 'postgres') cells.push('—');
            continue;
          }
          const latency = op === 'all' ? undefined : step.latency[op];
          let rate: string;
          if (isLagLabel(label)) rate = '—';
          else if (op === 'all' || (first && group.scenario !== 'mixed')) rate = formatRate(step.throughput_ops_s);
          else rate = latency === undefined ? '—' : formatCount(latency.count / Math.max(1, step.throughput_ops_s.rounds.length) / step.measured_s);
          const shed = overload ? `${formatInteger(step.shed.median)} / ${formatPct(step.error_rate)}` : formatInteger(step.shed.median);
          cells.push(
            rate,
            formatMs(latency?.p50_us),
            formatMs(latency?.p99_us),
            formatMs(latency?.p999_us),
            first ? shed : '',
            first ? formatErrors(step.errors) : '',
            first && step.cpu_us_per_op !== undefined ? step.cpu_us_per_op.median.toFixed(1) : first ? '—' : '',
          );
          if (contender === 'log') cells.push(first && step.avg_batch_frames !== undefined ? step.avg_batch_frames.median.toFixed(1) : first ? '—' : '');
          if (contender === 'postgres') cells.push(first && step.server_cpu_us_per_op !== undefined ? step.server_cpu_us_per_op.median.toFixed(1) : first ? '—' : '');
        }
        cells.push(first ? formatRatio(validMedian(log), validMedian(sqlite)) : '');
        if (shown.includes('postgres')) cells.push(first ? formatRatio(validMedian(log), validMedian(postgres)) : '');
        if (withP2) {
          const one = label.endsWith('/p2') && !isLagLabel(label) ? byLabel.get(label.slice(0, -'/p2'.length))?.postgres : undefined;
          cells.push(first && one !== undefined ? formatRatio(validMedian(postgres), validMedian(one)) : first ? '—' : '');
        }
        if (withRaw) {
          const k = group.batchSize > 1 ? group.batchSize : callersOfLabel(label);
          const raw = k === null ? null : rawStat(report, k);
          cells.push(first && raw !== null ? `${formatRate(raw)} (${k})` : first ? '—' : '');
          cells.push(first ? formatRatio(validMedian(log), raw?.median ?? null) : '');
        }
        if (withW1) {
          const w1 = label.endsWith('/w1') ? undefined : byLabel.get(`${label}/w1`)?.log;
          cells.push(first ? formatRatio(validMedian(log), validMedian(w1)) : '');
        }
        lines.push(`| ${cells.join(' | ')} |`);
      }
    }
    if (group.scenario === 'post-one-book' && group.batchSize === 1) {
      const c1 = byLabel.get('c1')?.log;
      const p50 = c1?.latency.post?.p50_us.median ?? null;
      if (p50 !== null && c1 !== undefined && !c1.invalid) {
        lines.push('');
        lines.push(`log c1 p50 ÷ fsync probe p50: ${formatRatio(p50, probe.start.p50_us)} of the start probe, ` +
          `${formatRatio(p50, probe.end.p50_us)} of the end probe — how close one commit is to one fsync.`);
      }
    }
    lines.push('');
  }

  // Raw limit.
  if (report.raw_limit.length > 0) {
    lines.push('**raw limit (append + fsync per batch, main thread, no store)**');
    lines.push('');
    lines.push('| frames per batch (k) | frames/s | batch p50 | batch p99 | batch p999 |');
    lines.push('|---:|---:|---:|---:|---:|');
    for (const entry of [...report.raw_limit].sort((left, right) => left.batch_frames - right.batch_frames)) {
      lines.push(`| ${entry.batch_frames} | ${formatRate(entry.frames_per_s)} | ${formatMs(entry.latency.p50_us)} | ${formatMs(entry.latency.p99_us)} | ${formatMs(entry.latency.p999_us)} |`);
    }
    lines.push('');
  }

  // Startup and memory.
  if (report.startup !== undefined) {
    const startup = report.startup;
    lines.push(`**startup and memory (LogStore, one book of ${startup.events.toLocaleString('en-US')} transactions)**`);
    lines.push('');
    lines.push('| measurement | value |');
    lines.push('|---|---:|');
    lines.push(`| full replay (snapshots disabled) | ${startup.full_replay_s.median.toFixed(2)} s, ${formatCount(startup.events / startup.full_replay_s.median)} events/s |`);
    lines.push(`| open from a snapshot at the tail | ${startup.snapshot_open_s.median.toFixed(2)} s |`);
    lines.push(`| resident memory per posting (rss growth ÷ ${((startup.postings ?? startup.events * 2)).toLocaleString('en-US')} postings) | ${startup.bytes_per_posting.median.toFixed(0)} bytes |`);
    if (startup.smaller_events !== undefined && startup.marginal_bytes_per_posting !== undefined) {
      lines.push(`| resident memory per additional posting (rss growth from ${startup.smaller_events.toLocaleString('en-US')} to ${startup.events.toLocaleString('en-US')} transactions ÷ the difference in postings) | ${startup.marginal_bytes_per_posting.toFixed(0)} bytes |`);
    }
    if (startup.heap_used_bytes_per_thread !== undefined) {
      const heaps = startup.heap_used_bytes_per_thread
        .map((entry) => `thread ${entry.thread}: ${(entry.empty / 2 ** 20).toFixed(0)} → ${(entry.loaded / 2 ** 20).toFixed(0)} MiB`)
        .join('; ');
      lines.push(`| heapUsed after GC, empty → loaded | ${heaps} |`);
    }
    if (startup.accounts !== undefined) {
      const { accounts, bytes_per_account, heap_bytes_per_account, open_s, smaller_accounts, marginal_bytes_per_account, marginal_heap_bytes_per_account } = startup.accounts;
      lines.push(`| resident memory per empty account (rss growth ÷ ${accounts.toLocaleString('en-US')} accounts with no posting; open ${open_s.toFixed(2)} s) | ${bytes_per_account.toFixed(0)} bytes (heap after GC: ${heap_bytes_per_account.toFixed(0)} bytes) |`);
      if (smaller_accounts !== undefined && marginal_bytes_per_account !== undefined && marginal_heap_bytes_per_account !== undefined) {
        lines.push(`| resident memory per additional empty account (rss growth from ${smaller_accounts.toLocaleString('en-US')} to ${accounts.toLocaleString('en-US')} accounts ÷ the difference) | ${marginal_bytes_per_account.toFixed(0)} bytes (heap after GC: ${marginal_heap_bytes_per_account.toFixed(0)} bytes) |`);
      }
    }
    lines.push('');
  }

  if (report.postgres_open !== undefined) {
    const open = report.postgres_open;
    const range = open.open_s.rounds.length > 1 ? ` (${(open.open_s.min * 1000).toFixed(0)}–${(open.open_s.max * 1000).toFixed(0)})` : '';
    lines.push(`**startup (PgStore)**: open on a populated schema (${open.transactions.toLocaleString('en-US')} transactions, no replay): ` +
      `${(open.open_s.median * 1000).toFixed(0)} ms${range}.`);
    lines.push('');
  }

  // Micro-benchmarks.
  if (report.micro.length > 0) {
    lines.push('**micro-benchmarks (tinybench)**');
    lines.push('');
    lines.push('| group | task | mean | p50 | p99 | ops/s | ±rme | samples |');
    lines.push('|---|---|---:|---:|---:|---:|---:|---:|');
    for (const task of report.micro) {
      lines.push(`| ${task.group} | ${task.task} | ${formatNs(task.mean_ns)} | ${formatNs(task.p50_ns)} | ${formatNs(task.p99_ns)} | ` +
        `${formatCount(task.ops_per_s)} | ${task.rme_pct.toFixed(1)}% | ${task.samples} |`);
    }
    lines.push('');
  }
  if ((report.failures?.length ?? 0) > 0) {
    lines.push(`**Failures:** ${report.failures!.join('; ')}`);
    lines.push('');
  }
  if ((report.notes?.length ?? 0) > 0) {
    lines.push(`Notes: ${report.notes!.join('; ')}`);
    lines.push('');
  }
  return lines;
}

function formatInteger(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function formatPct(stat: Stat | undefined): string {
  if (stat === undefined || stat.rounds.length === 0) return '—';
  return `${(stat.median * 100).toFixed(2)}%`;
}

function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

// --- README and docs/benchmarks.md ------------------------------------------------------------

export const BENCH_BEGIN = '<!-- bench:begin -->';
export const BENCH_END = '<!-- bench:end -->';

/** The files `bench:readme` writes, relative to the package root, and what each one gets (Y4). */
export const PUBLISHED_FILES = [
  { file: 'README.md', render: renderHeadline },
  { file: 'docs/benchmarks.md', render: renderMarkdown },
] as const;

/** Why a report may not be published (Y3), or null. */
export function publicationRefusal(report: BenchReport): string | null {
  if (report.profiled) return 'the run was profiled';
  const pg = report.env.postgres;
  if (pg !== undefined && (pg.fsync !== 'on' || pg.full_page_writes !== 'on' || !['on', 'remote_write', 'remote_apply'].includes(pg.synchronous_commit))) {
    return `PostgreSQL durability was not equal: fsync=${pg.fsync}, synchronous_commit=${pg.synchronous_commit}, full_page_writes=${pg.full_page_writes}`;
  }
  if (report.preset === 'quick') return 'a quick run is a smoke run; its figures are never published';
  if (report.verification.some((entry) => !entry.ok)) return 'its verification failed';
  if ((report.failures?.length ?? 0) > 0) return `it failed: ${report.failures!.join('; ')}`;
  return null;
}

/** `document` with the text between its bench markers replaced by `markdown`; `name` is for the error. */
export function replaceBenchSection(document: string, markdown: string, name: string): string {
  const begin = document.indexOf(BENCH_BEGIN);
  const end = document.indexOf(BENCH_END);
  if (begin === -1 || end === -1 || end < begin) throw new Error(`${name} has no ${BENCH_BEGIN} … ${BENCH_END} markers`);
  if (document.indexOf(BENCH_BEGIN, begin + 1) !== -1 || document.indexOf(BENCH_END, end + 1) !== -1) {
    throw new Error(`${name} has more than one ${BENCH_BEGIN} … ${BENCH_END} section`);
  }
  return `${document.slice(0, begin + BENCH_BEGIN.length)}\n${markdown.trim()}\n${document.slice(end)}`;
}

/**
 * The new text of every published file (Y4), from their current texts keyed by file name. It
 * writes nothing itself; it throws when a file is missing or lacks its markers, so `main` writes
 * either both files or neither.
 */
export function publishedTexts(report: BenchReport, current: Readonly<Record<string, string>>): Record<string, string> {
  const texts: Record<string, string> = {};
  for (const { file, render } of PUBLISHED_FILES) {
    const text = current[file];
    if (text === undefined) throw new Error(`${file} is missing`);
    texts[file] = replaceBenchSection(text, render(report), file);
  }
  return texts;
}

function newestReport(dir: string): string {
  // Run reports are named by their start time; the HTTP figures (http-*.json) beside them are not reports.
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => /^\d{4}-\d{2}-\d{2}T.*\.json$/.test(name)).sort() : [];
  if (files.length === 0) throw new Error(`no report in ${dir}; run npm run bench first`);
  return path.join(dir, files[files.length - 1]!);
}

function main(argv: string[]): void {
  const [command, file] = argv;
  if (command === 'markdown' && file !== undefined) {
    process.stdout.write(`${renderMarkdown(JSON.parse(fs.readFileSync(file, 'utf8')) as BenchReport)}\n`);
    return;
  }
  if (command !== 'readme') {
    process.stderr.write('usage: node dist/bench/report.js readme [report.json] | markdown <report.json>\n');
    process.exitCode = 2;
    return;
  }
  const reportFile = file ?? newestReport(path.resolve('bench-results'));
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as BenchReport;
  const refusal = publicationRefusal(report);
  if (refusal !== null) {
    process.stderr.write(`bench:readme: refusing ${reportFile}: ${refusal}\n`);
    process.exitCode = 1;
    return;
  }
  const current: Record<string, string> = {};
  for (const { file } of PUBLISHED_FILES) {
    const absolute = path.resolve(file);
    if (fs.existsSync(absolute)) current[file] = fs.readFileSync(absolute, 'utf8');
  }
  const texts = publishedTexts(report, current);
  for (const [file, text] of Object.entries(texts)) fs.writeFileSync(path.resolve(file), text);
  process.stderr.write(`bench:readme: ${Object.keys(texts).join(' and ')} now show ${path.basename(reportFile)}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
