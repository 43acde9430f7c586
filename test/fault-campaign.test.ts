/**
 * The fault campaign, short version (spec/log-engine.md sections 13.6 and 13.7); the long one is
 * `npm run fault-campaign`.
 *
 * 1. The I/O-error loop, in-process: for each kind of file of book `alpha` (segments, snapshots,
 *    idempotency runs, the book directory) and each operation kind on it (write, fsync, rename,
 *    open, mkdir, directory fsync), fail the Nth call for every N up to the number of such calls
 *    a fault-free run makes, once and sticky; check the answers, close, reopen and check the
 *    invariants (test/support/fault-campaign.ts).
 * 2. The same through real worker threads (FaultyFileSystem loaded by each worker): the first N of
 *    each operation kind once, the last N sticky.
 * 3. Power loss on SimFileSystem: 200 seeded crash points spread over the crash modes, each
 *    reopened on its crash image and checked (test/support/power-loss.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFaultLoop } from './support/fault-campaign.js';
import { runPowerLossCampaign } from './support/power-loss.js';
import { CRASH_MODES } from './support/sim-file-system.js';

// Six steps still hold every kind of call of the script: batches, concurrent commits, a retry and a
// conflict, explicit snapshots, reads. `npm run fault-campaign` runs 16.
const STEPS = 6;

test('I/O-error loop (in-process): every N of every operation kind on segments, snapshots, runs and the book directory, once and sticky', async (t) => {
  const summary = await runFaultLoop('in-process', STEPS, { log: (line) => t.diagnostic(line) });
  t.diagnostic(`${summary.cases} cases, ${summary.acknowledgedChecked} acknowledged commits checked, ${summary.unknownRetried} unknown outcomes retried`);
  for (const { target, op, calls } of summary.perTarget) assert(calls > 0, `the workload makes no ${op} call on ${target} files, so nothing was tested`);
  assert.equal(summary.fired, summary.cases, 'in-process runs are deterministic: every armed fault must fire');
});

test('I/O-error loop (worker threads): the first N of every operation kind once, the last N sticky', async (t) => {
  const summary = await runFaultLoop('workers', STEPS, {
    cases: (calls) => [
      { nth: 1, sticky: false },
      { nth: calls, sticky: true },
    ],
    log: (line) => t.diagnostic(line),
  });
  t.diagnostic(`${summary.cases} cases, ${summary.fired} faults fired, ${summary.acknowledgedChecked} acknowledged commits checked`);
  // Batching depends on timing across threads, so the last call may not exist in every run.
  assert(summary.fired >= summary.cases / 2, `only ${summary.fired} of ${summary.cases} faults fired`);
});

test('power loss (SimFileSystem): 200 seeded crash points over every crash mode', async (t) => {
  const firstSeed = process.env.TALEA_POWER_SEED !== undefined ? Number(process.env.TALEA_POWER_SEED) : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0;
  t.diagnostic(`first seed ${firstSeed} (rerun with TALEA_POWER_SEED=${firstSeed}); every failure names its own seed`);
  const seedsPerMode = Math.ceil(200 / CRASH_MODES.length);
  const summary = await runPowerLossCampaign(CRASH_MODES, seedsPerMode, firstSeed, STEPS, (line) => t.diagnostic(line));
  t.diagnostic(
    `${summary.cases} cases: opened ${summary.opened}, refused (mixed mode, R3) ${summary.refused}, ` +
      `${summary.acknowledgedChecked} acknowledged commits checked, ${summary.unknownRetried} unknown outcomes retried`,
  );
  assert.equal(summary.cases, seedsPerMode * CRASH_MODES.length);
  assert(summary.acknowledgedChecked > 0);
});
