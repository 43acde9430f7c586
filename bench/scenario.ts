/**
 * What a scenario is to the driver (spec/bench.md, section 2.6): a sweep of steps over a set of
 * books, run against every contender with the steps interleaved, plus the parameters every
 * scenario reads.
 *
 * S1. `setup` seeds a fresh store (not measured). The driver then commits the verification probes
 *     (write scenarios), calls `afterProbes`, runs the steps in order, calls `finish`, verifies.
 * S2. A step's `rawK` names the raw-limit batch size that runs beside it (section 4.2), if any.
 * S3. A step with `variant` runs only on the store opened with that variant (`w1`: LogStore with
 *     one worker).
 * S4. A step with `processes: 2` (label `…/p2`) runs only on `postgres`: its callers are split over
 *     two Node processes with a PgStore each on the handle's database; the counts of both go to
 *     verification.
 */
import type { StoreHandle, StoreOverrides } from './contenders.js';
import type { OpKind, StepMeasurement } from './load.js';

export type ScenarioName = 'post-one-book' | 'post-many-books' | 'reads' | 'mixed' | 'overload';
export const SCENARIO_NAMES: readonly ScenarioName[] = ['post-one-book', 'post-many-books', 'reads', 'mixed', 'overload'];

export interface MixedWeights {
  post: number;
  balance: number;
  history: number;
  trialBalance: number;
}

export interface ScenarioParams {
  runId: string;
  round: number;
  warmupMs: number;
  windowMs: number;
  postingsPerTx: number;
  /** post-one-book concurrencies. */
  concurrency: number[];
  /** post-one-book batch variants: drafts per commitBatch call, and callers. */
  batchSizes: number[];
  batchCallers: number;
  /** post-many-books book counts, per-book concurrency, and the book counts also run with workers: 1. */
  books: number[];
  perBookConcurrency: number;
  booksW1: number[];
  /** reads. */
  readConcurrency: number[];
  depth: number;
  /** mixed. */
  mixedConcurrency: number[];
  mixedBooks: number;
  mixedSubscribers: number;
  mixedWeights: MixedWeights;
  /** overload: the per-book queue bound both stores run with, and the callers (4 × bound, >= 1024). */
  overloadQueueDepthMax: number;
  /** Raw-limit batch sizes (empty when raw does not take part); each runs beside the post-one-book step with k = c. */
  rawSizes: number[];
  /** S4: post-one-book and mixed concurrencies also run over two processes (postgres only). */
  p2Concurrency: number[];
  p2MixedConcurrency: number[];
}

export interface StepSpec {
  label: string;
  /** The batch variant's heading, e.g. `batch-25`; '' for plain steps. */
  heading: string;
  batchSize: number;
  rawK: number | null;
  variant: string;
  /** S4: 2 for a two-process step. */
  processes?: number;
}

/** A measured step, plus anything the scenario adds (the overload pass checks). */
export interface StepRun extends StepMeasurement {
  notes?: string[];
  failures?: string[];
}

/** A pseudo-step reported by `finish` (the mixed scenario's subscribe lag). */
export interface PseudoStep {
  label: string;
  kind: OpKind;
  measurement: StepMeasurement;
}

export interface Scenario {
  name: ScenarioName;
  /** Write scenarios are verified (section 2.8). */
  writes: boolean;
  steps(params: ScenarioParams): StepSpec[];
  /** The books the scenario touches: seeded, probed and verified. */
  books(params: ScenarioParams): string[];
  /** Store options that differ from the defaults for this scenario (both stores). */
  overrides(params: ScenarioParams): StoreOverrides;
  /** Extra store variants to open for `log` (e.g. `w1`) with their own overrides. */
  variants(params: ScenarioParams): Array<{ variant: string; overrides: StoreOverrides }>;
  setup(handle: StoreHandle, params: ScenarioParams): Promise<void>;
  afterProbes?(handle: StoreHandle, params: ScenarioParams, before: Map<string, number>): Promise<void>;
  runStep(handle: StoreHandle, step: StepSpec, params: ScenarioParams): Promise<StepRun>;
  finish?(handle: StoreHandle, params: ScenarioParams): Promise<PseudoStep[]>;
}

export function plainStep(label: string, rawK: number | null = null, variant = ''): StepSpec {
  return { label, heading: '', batchSize: 1, rawK, variant };
}
