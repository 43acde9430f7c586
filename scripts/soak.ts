/**
 * The long model-based soak (spec/log-engine.md section 13.8, spec/conformance.md B18): the
 * side-by-side property of test/support/model-check.ts, LogStore against MemoryStore, for many
 * runs. Prints progress, then the runs and operations it checked and the seed.
 *
 *   npm run soak                                  10,000 runs, up to 60 commands each
 *   npm run soak -- --runs 500 --seed 42          (or SOAK_RUNS, SOAK_SEED)
 *   npm run soak -- --max-commands 100 --backends in-process,sim
 *
 * A failure prints fast-check's report (seed, replay path, shrunk counterexample) and exits 1;
 * rerun with the printed --seed to reproduce it.
 */
import { runModelCheck, type Backend, type ModelStats } from '../test/support/model-check.js';
import { parseArgs } from './args.js';

const args = parseArgs(process.argv.slice(2));
const runs = args.number('runs', 10_000, 'SOAK_RUNS');
const maxCommands = args.number('max-commands', 60, 'SOAK_MAX_COMMANDS');
const seed = args.number('seed', (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0, 'SOAK_SEED');
const backends = (args.value('backends', 'SOAK_BACKENDS') ?? 'workers,in-process,sim').split(',') as Backend[];
const every = Math.max(1, Math.floor(runs / 50));
const started = performance.now();
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const line = (stats: ModelStats): string =>
  `runs ${stats.runs}, operations ${stats.ops} (reopens ${stats.reopens}, crashes ${stats.crashes}; workers ${stats.byBackend.workers}, in-process ${stats.byBackend['in-process']}, sim ${stats.byBackend.sim})`;

console.log(`model-based soak: ${runs} runs of up to ${maxCommands} commands, backends ${backends.join(',')}, seed ${seed}`);
let last: ModelStats | null = null;
try {
  const { stats } = await runModelCheck({
    numRuns: runs,
    maxCommands,
    seed,
    backends,
    onRun: (stats) => {
      last = stats;
      if (stats.runs % every === 0) console.log(`  ${line(stats)}, ${elapsed()}, ${(stats.runs / ((performance.now() - started) / 1000)).toFixed(1)} runs/s`);
    },
  });
  console.log(`soak passed: ${line(stats)}, seed ${seed}, ${elapsed()}`);
} catch (error) {
  console.log((error as Error).message);
  if (last !== null) console.log(`soak FAILED after ${line(last)}, seed ${seed}, ${elapsed()}`);
  else console.log(`soak FAILED, seed ${seed}, ${elapsed()}`);
  process.exitCode = 1;
}
