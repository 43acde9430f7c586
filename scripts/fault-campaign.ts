/**
 * The long fault campaign (spec/log-engine.md sections 13.6 and 13.7): the I/O-error loop over
 * every N of a larger scripted workload, in-process and with real worker threads, and the
 * power-loss simulation over many seeds per crash mode. npm test runs a short version
 * (test/fault-campaign.test.ts).
 *
 *   npm run fault-campaign
 *   npm run fault-campaign -- --steps 16 --mode both --power-seeds 1000 --seed 1
 */
import { runFaultLoop, type FaultMode } from '../test/support/fault-campaign.js';
import { runPowerLossCampaign } from '../test/support/power-loss.js';
import { CRASH_MODES } from '../test/support/sim-file-system.js';
import { parseArgs } from './args.js';

const args = parseArgs(process.argv.slice(2));
const steps = args.number('steps', 16);
const modeArg = args.value('mode') ?? 'both';
const modes: FaultMode[] = modeArg === 'both' ? ['in-process', 'workers'] : [modeArg as FaultMode];
const powerSeeds = args.number('power-seeds', 1000);
const seed = args.number('seed', (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0);
const started = performance.now();
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;

try {
  for (const mode of modes) {
    const summary = await runFaultLoop(mode, steps, { log: (line) => console.log(`  ${line} (${elapsed()})`) });
    console.log(
      `I/O-error loop (${mode}, ${steps} steps): ${summary.cases} cases, ${summary.fired} faults fired, ` +
        `${summary.acknowledgedChecked} acknowledged commits checked, ${summary.unknownRetried} unknown outcomes retried (${elapsed()})`,
    );
  }
  if (powerSeeds > 0) {
    const power = await runPowerLossCampaign(CRASH_MODES, powerSeeds, seed, steps, (line) => console.log(`  ${line} (${elapsed()})`));
    console.log(
      `power loss: ${power.cases} cases (${powerSeeds} seeds x ${CRASH_MODES.length} modes, first seed ${seed}), opened ${power.opened}, ` +
        `refused (mixed mode, R3) ${power.refused}, ${power.acknowledgedChecked} acknowledged commits checked, ${power.unknownRetried} unknown outcomes retried (${elapsed()})`,
    );
  }
} catch (error) {
  console.log((error as Error).stack);
  console.log(`fault campaign FAILED (seed ${seed}), ${elapsed()}`);
  process.exitCode = 1;
}
