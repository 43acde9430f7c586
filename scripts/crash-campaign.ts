/**
 * The kill -9 campaign (spec/log-engine.md section 13.3, second variant): a child commits under
 * mixed load (concurrent commits and commitBatch over four books, workers: 2) with snapshots and
 * idempotency spills switched on by small settings, and is killed with SIGKILL at a random moment;
 * the parent reopens the same directory, checks the invariants and starts the next cycle.
 *
 *   npm run crash-campaign                    200 cycles
 *   npm run crash-campaign -- 1000 --seed 7   (or CRASH_CYCLES, CRASH_SEED)
 *   npm run crash-campaign -- 50 --snapshot-every 20 --idem-hot-cap 16 --segment-max 16384 --preallocate-chunk 4096 --precheck-from 0
 *   npm run crash-campaign -- 50 --plain      (the engine's default snapshot and spill settings)
 *   npm run crash-campaign -- 50 --dir /tmp/x --keep
 *
 * Prints the cycles run and the acknowledged commits checked.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCrashCampaign } from '../test/support/crash-campaign.js';
import type { CrashStoreOptions } from '../test/support/crash-workload.js';
import { parseArgs } from './args.js';

const args = parseArgs(process.argv.slice(2));
const cycles = args.positional[0] !== undefined ? Number(args.positional[0]) : args.number('cycles', 200, 'CRASH_CYCLES');
if (!Number.isSafeInteger(cycles) || cycles < 1) throw new Error(`the number of cycles must be a positive integer, not ${args.positional[0]}`);
const seed = args.number('seed', (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0, 'CRASH_SEED');
const options: CrashStoreOptions = args.flag('plain')
  ? {}
  : {
      snapshotEvery: args.number('snapshot-every', 20),
      idemHotCap: args.number('idem-hot-cap', 16),
      segmentMax: args.number('segment-max', 16 * 1024),
      // Kills also land in preallocated segments: zero tails, fdatasyncs, cuts at rotation (segment.ts G9).
      preallocateChunkBytes: args.number('preallocate-chunk', 4096),
      // Every reopen verifies the segments its snapshots cover on helper threads, however small.
      precheckFromBytes: args.number('precheck-from', 0),
    };
const given = args.value('dir');
const dir = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'talea-crash-campaign-'));
fs.mkdirSync(dir, { recursive: true });
const keep = args.flag('keep') || given !== undefined;
const started = performance.now();
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const every = Math.max(1, Math.floor(cycles / 40));

console.log(`kill -9 campaign: ${cycles} cycles, seed ${seed}, options ${JSON.stringify(options)}, directory ${dir}`);
let cycle = 0;
try {
  const result = await runCrashCampaign(
    dir,
    cycles,
    seed,
    (line) => {
      cycle++;
      if (cycle % every === 0 || cycle === cycles) console.log(`  ${line} (${elapsed()})`);
    },
    options,
  );
  console.log(
    `campaign passed: cycles run ${result.cycles}, acknowledged commits checked ${result.acknowledgedDistinct} ` +
      `(${result.acknowledgedChecked} checks over all cycles), unknown outcomes retried ${result.unknownRetried}, ` +
      `acknowledged commits retried ${result.acknowledgedRetried}, seed ${seed}, ${elapsed()}`,
  );
} catch (error) {
  console.log((error as Error).stack);
  console.log(`campaign FAILED in cycle ${cycle + 1} of ${cycles}, seed ${seed}, directory ${dir} (kept), ${elapsed()}`);
  process.exitCode = 1;
} finally {
  if (!keep && process.exitCode !== 1) fs.rmSync(dir, { recursive: true, force: true });
}
