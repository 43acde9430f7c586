/**
 * LogStore options and environment tunables (spec/log-engine.md, section 11).
 *
 * O1. An option that is present wins; otherwise the environment variable, if set; otherwise the
 *     default. A variable is parsed only when its option is absent.
 * O2. The environment is read once, at open, from `options.env` or `process.env`.
 * O3. Everything is checked before the data directory is touched; a bad value is INVALID_ARGUMENT
 *     naming the option (`options.<name>`) or the variable.
 */
import os from 'node:os';
import { StoreError } from '../core/errors.js';
import type { FileSystem } from './file-system.js';
import { FDS_MAX_LIMIT, PREALLOCATE_CHUNK_BYTES, QUEUE_DEPTH_MAX_DEFAULT, WORKER_FDS_MIN } from '../core/limits.js';

export interface LogStoreWarning {
  code: string;
  message: string;
  book?: string;
  file?: string;
}

export interface LogStoreTestHooks {
  /** One element over a SharedArrayBuffer; when non-zero, the engine's clock reads it (µs). */
  clockUs?: BigInt64Array;
  /** URL of a module exporting createFileSystem(config): FileSystem, imported by every worker. */
  fileSystemModule?: string;
  /** Structured-cloneable; may hold SharedArrayBuffers for live control. */
  fileSystemConfig?: unknown;
  /** Run the shards on the main thread over MessageChannels. */
  inProcess?: boolean;
  /** Only with inProcess: the FileSystem object to use. */
  fileSystem?: FileSystem;
  /** Bytes a segment scan reads at a time (default 64 KiB), so tests can put frames across every boundary. */
  scanChunkBytes?: number;
  /**
   * Segment preallocation (src/log/segment.ts G9): from what length of frames, and how many bytes
   * at a time (at most PREALLOCATE_CHUNK_BYTES), so small test logs run on preallocated segments.
   */
  preallocate?: { fromBytes: number; chunkBytes: number };
  /**
   * From how many bytes of covered segments helper threads verify them at open (default 32 MiB,
   * src/log/segment-precheck.ts), so small test books take that path too; their chunk is scanChunkBytes.
   */
  precheckFromBytes?: number;
  /** The soft open-files limit to size the descriptor budget from, instead of the process's own. */
  openFilesLimit?: number;
}

export interface LogStoreOptions {
  /** Shard worker threads; default os.availableParallelism(); 1 to 256. */
  workers?: number;
  /** Overrides TALEA_LOG_SNAPSHOT_EVERY. */
  snapshotEvery?: number;
  /** Overrides TALEA_LOG_IDEM_HOT_CAP. */
  idemHotCap?: number;
  /** Overrides TALEA_LOG_SEGMENT_MAX (bytes). */
  segmentMax?: number;
  /** Overrides TALEA_LOG_WRITER_SPIN_US; 0 to 10,000 µs, default 100; 0 never spins. */
  writerSpinUs?: number;
  /** Write jobs in flight per book before OVERLOADED; default 4096; 1 to 1048576. */
  queueDepthMax?: number;
  /**
   * Overrides TALEA_LOG_FDS_MAX: descriptors all workers together may hold open; 4 per worker to
   * 1048576. Default: derived at open from the soft RLIMIT_NOFILE (src/log/fd-budget.ts).
   */
  fdsMax?: number;
  /** Where the variables are read; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default: process.emitWarning. */
  onWarning?: (warning: LogStoreWarning) => void;
  /** Tests only; no stability promise. */
  testHooks?: LogStoreTestHooks;
}

export interface ResolvedOptions {
  workers: number;
  snapshotEvery: number;
  idemHotCap: number;
  segmentMax: number;
  writerSpinUs: number;
  queueDepthMax: number;
  /** null: derive it at open from the process's descriptor limit. */
  fdsMax: number | null;
  onWarning: (warning: LogStoreWarning) => void;
  testHooks: LogStoreTestHooks;
}

const KNOWN_OPTIONS = new Set(['workers', 'snapshotEvery', 'idemHotCap', 'segmentMax', 'writerSpinUs', 'queueDepthMax', 'fdsMax', 'env', 'onWarning', 'testHooks']);

const TUNABLES = [
  { option: 'snapshotEvery', variable: 'TALEA_LOG_SNAPSHOT_EVERY', fallback: 100_000, max: Number.MAX_SAFE_INTEGER },
  { option: 'idemHotCap', variable: 'TALEA_LOG_IDEM_HOT_CAP', fallback: 1_000_000, max: Number.MAX_SAFE_INTEGER },
  { option: 'segmentMax', variable: 'TALEA_LOG_SEGMENT_MAX', fallback: 128 * 1024 * 1024, max: Number.MAX_SAFE_INTEGER },
  { option: 'writerSpinUs', variable: 'TALEA_LOG_WRITER_SPIN_US', fallback: 100, max: 10_000 },
] as const;

function integerOption(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw StoreError.invalidArgument(`options.${name}`, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** A variable's value: plain decimal digits, a safe integer from `min` to `max` (O3). */
function integerVariable(text: string, variable: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw StoreError.invalidArgument(variable, `invalid ${variable}: ${JSON.stringify(text)} (expected an integer from ${min} to ${max})`);
  }
  return value;
}

export function resolveOptions(options: LogStoreOptions | undefined): ResolvedOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw StoreError.invalidArgument('options', 'must be an object');
  }
  const given = (options ?? {}) as Record<string, unknown>;
  for (const name of Object.keys(given)) {
    if (!KNOWN_OPTIONS.has(name)) throw StoreError.invalidArgument(`options.${name}`, 'is not a LogStore option');
  }
  const env = (given.env === undefined ? process.env : given.env) as Record<string, string | undefined>;
  if (typeof env !== 'object' || env === null) throw StoreError.invalidArgument('options.env', 'must be an object');
  const tunables: Record<string, number> = {};
  for (const { option, variable, fallback, max } of TUNABLES) {
    if (given[option] !== undefined) {
      tunables[option] = integerOption(given[option], option, 0, max);
    } else if (env[variable] !== undefined) {
      tunables[option] = integerVariable(env[variable], variable, 0, max);
    } else {
      tunables[option] = fallback;
    }
  }
  const workers = given.workers === undefined ? Math.min(256, Math.max(1, os.availableParallelism())) : integerOption(given.workers, 'workers', 1, 256);
  const queueDepthMax =
    given.queueDepthMax === undefined ? QUEUE_DEPTH_MAX_DEFAULT : integerOption(given.queueDepthMax, 'queueDepthMax', 1, 1_048_576);
  // The descriptor budget (src/log/fd-budget.ts): at least the smallest useful share per worker.
  const fdsMin = WORKER_FDS_MIN * workers;
  const fdsMax =
    given.fdsMax !== undefined
      ? integerOption(given.fdsMax, 'fdsMax', fdsMin, FDS_MAX_LIMIT)
      : env.TALEA_LOG_FDS_MAX !== undefined
        ? integerVariable(env.TALEA_LOG_FDS_MAX, 'TALEA_LOG_FDS_MAX', fdsMin, FDS_MAX_LIMIT)
        : null;
  if (given.onWarning !== undefined && typeof given.onWarning !== 'function') {
    throw StoreError.invalidArgument('options.onWarning', 'must be a function');
  }
  const onWarning =
    (given.onWarning as ResolvedOptions['onWarning'] | undefined) ??
    ((warning: LogStoreWarning) => process.emitWarning(warning.message, { code: warning.code }));
  const testHooks = (given.testHooks === undefined ? {} : given.testHooks) as LogStoreTestHooks;
  if (typeof testHooks !== 'object' || testHooks === null) throw StoreError.invalidArgument('options.testHooks', 'must be an object');
  if (testHooks.scanChunkBytes !== undefined) integerOption(testHooks.scanChunkBytes, 'testHooks.scanChunkBytes', 1, 2 ** 30);
  if (testHooks.precheckFromBytes !== undefined) integerOption(testHooks.precheckFromBytes, 'testHooks.precheckFromBytes', 0, 2 ** 40);
  if (testHooks.preallocate !== undefined) {
    integerOption(testHooks.preallocate.fromBytes, 'testHooks.preallocate.fromBytes', 0, 2 ** 40);
    integerOption(testHooks.preallocate.chunkBytes, 'testHooks.preallocate.chunkBytes', 1, PREALLOCATE_CHUNK_BYTES);
  }
  return {
    workers,
    snapshotEvery: tunables.snapshotEvery!,
    idemHotCap: tunables.idemHotCap!,
    segmentMax: tunables.segmentMax!,
    writerSpinUs: tunables.writerSpinUs!,
    queueDepthMax,
    fdsMax,
    onWarning,
    testHooks,
  };
}
