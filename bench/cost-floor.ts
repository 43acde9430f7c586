/**
 * What a commit costs before any store work: `node dist/bench/cost-floor.js [--callers N]
 * [--rounds N] [--window-s S] [--dir D]`. Runs `post-one-book`'s closed loop (bench/load.ts, the
 * same drafts, 1,024 callers by default) against four contenders, alternating them each round, and
 * prints throughput and the process's CPU per commit for each:
 *
 * - `harness`: the load loop and its drafts, with an answer that needs no store at all;
 * - `front`: plus the contract's input validation and event encoding (`normaliseTransaction`, the
 *   shared validating front every store runs, which also builds the event JSON), answered at once;
 * - `memory`: `MemoryStore`, the whole contract in memory on the caller's thread, no disk;
 * - `log`: `LogStore` with its defaults.
 *
 * The first three bound from below what any store in this package can spend per commit, so they
 * say how far the CPU-per-commit target is from what the contract's own work costs here.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { normaliseTransaction } from '../src/core/input.js';
import type { Store } from '../src/core/store.js';
import type { Committed, Transaction } from '../src/core/types.js';
import { LogStore } from '../src/log/log-store.js';
import { MemoryStore } from '../src/memory/memory-store.js';
import { okOutcome, runClosedLoop, type Operation } from './load.js';
import { commitOperation } from './operations.js';
import { statOf } from './report.js';
import { benchBook, DraftFactory, runIdOf, seedBooks } from './workload.js';

type Contender = 'harness' | 'front' | 'memory' | 'log';
const CONTENDERS: readonly Contender[] = ['harness', 'front', 'memory', 'log'];
const BOOK = benchBook(0);

interface Options {
  callers: number;
  rounds: number;
  windowS: number;
  dir: string;
  contenders: Contender[];
}

function parseOptions(argv: string[]): Options {
  const options: Options = { callers: 1024, rounds: 3, windowS: 3, dir: os.tmpdir(), contenders: [...CONTENDERS] };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index];
    const value = argv[++index];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--callers') options.callers = Number(value);
    else if (flag === '--rounds') options.rounds = Number(value);
    else if (flag === '--window-s') options.windowS = Number(value);
    else if (flag === '--dir') options.dir = value;
    else if (flag === '--contenders') options.contenders = value.split(',').map(contenderOf);
    else throw new Error(`unknown flag ${flag}`);
  }
  return options;
}

function contenderOf(name: string): Contender {
  const contender = CONTENDERS.find((known) => known === name);
  if (contender === undefined) throw new Error(`unknown contender ${name} (known: ${CONTENDERS.join(', ')})`);
  return contender;
}

/** An answer without a store: the txid and a seq, one resolved promise per commit. */
function answerAtOnce(draft: Transaction, seq: number): Promise<Committed> {
  return Promise.resolve({ txid: draft.id, seq, at: '2026-12-04T00:00:00.000000Z' });
}

function operationOf(contender: Contender, store: Store | null, drafts: DraftFactory): Operation<Transaction> {
  if (store !== null) return commitOperation(store, drafts, () => BOOK);
  let seq = 0;
  const validate = contender === 'front';
  return {
    kindOf: () => 'post',
    writes: () => true,
    prepare: (caller, n) => drafts.draft(BOOK, caller, n),
    run: async (draft) => {
      if (validate) normaliseTransaction(draft);
      const committed = await answerAtOnce(draft, ++seq);
      return okOutcome('post', committed.txid !== draft.id);
    },
  };
}

async function measure(contender: Contender, options: Options, round: number): Promise<{ opsPerS: number; cpuUsPerOp: number }> {
  const dir = fs.mkdtempSync(path.join(options.dir, `cost-floor-${contender}-`));
  let store: Store | null = null;
  try {
    if (contender === 'memory') store = new MemoryStore();
    if (contender === 'log') store = await LogStore.open(dir);
    if (store !== null) await seedBooks(store, [BOOK]);
    const drafts = new DraftFactory(runIdOf(new Date()), 'cost-floor', `${contender}-${round}`, 2);
    const step = await runClosedLoop(operationOf(contender, store, drafts), {
      callers: options.callers,
      warmupMs: 1000,
      windowMs: options.windowS * 1000,
    });
    return { opsPerS: step.measuredSuccesses / options.windowS, cpuUsPerOp: step.cpuUs / step.measuredSuccesses };
  } finally {
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const options = parseOptions(process.argv.slice(2));
const chosen = options.contenders;
const results = new Map<Contender, { opsPerS: number; cpuUsPerOp: number }[]>(chosen.map((name) => [name, []]));
for (let round = 0; round < options.rounds; round++) {
  // Rotate the order each round so no contender always runs first or last on a drifting machine.
  const order = chosen.map((_, index) => chosen[(index + round) % chosen.length] as Contender);
  for (const contender of order) {
    const result = await measure(contender, options, round);
    results.get(contender)?.push(result);
    process.stdout.write(`round ${round + 1} ${contender}: ${Math.round(result.opsPerS)} commits/s, ${result.cpuUsPerOp.toFixed(2)} CPU µs per commit\n`);
  }
}
process.stdout.write(`\nc${options.callers}, ${options.rounds} round(s) of ${options.windowS} s, medians\n\n| contender | commits/s | CPU µs per commit |\n|---|---:|---:|\n`);
for (const [contender, runs] of results) {
  const ops = statOf(runs.map((run) => run.opsPerS)).median;
  const cpu = statOf(runs.map((run) => run.cpuUsPerOp)).median;
  process.stdout.write(`| ${contender} | ${Math.round(ops).toLocaleString('en-US')} | ${cpu.toFixed(2)} |\n`);
}
