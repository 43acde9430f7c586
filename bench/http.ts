/**
 * The HTTP transport of the bench (spec/http-api.md section 8): `talea-log serve` on `log://` and
 * `sqlite://`, driven over keep-alive HTTP on loopback by a load generator in its own process
 * (bench/http-load.ts), beside in-process figures of the same run, so the wire's cost is a ratio.
 *
 * B1. Scenarios: post-one-book (c64, c128), post-many-books (16 books, c128), reads (balance, c128),
 *     mixed (60/25/10/5, 16 books, c128), and the batch route (100 drafts per request, c8), whose
 *     figure is drafts/s.
 * B2. Steps alternate between the two servers, which run one at a time on fresh data directories;
 *     the in-process steps open the same kind of store in this process with the server stopped.
 * B3. Server limits are raised (TALEA_MAX_INFLIGHT, TALEA_WRITE_QUEUE_DEPTH = 4096) so a closed
 *     loop of at most 128 callers never sheds; any non-200 answer is reported next to the figure.
 * B4. Figures are single runs here; the report says so. Ratios are taken within the run only.
 * B5. CPU per operation beside each figure: the server process's (every thread) and the load
 *     generator's over the window; in-process, the measuring process's (store workers included).
 * B6. The transport's ceiling: the post-one-book steps also run against servers that do no ledger
 *     work (bench/http-ceiling.ts: Node's http module, and Fastify with one route), so the report
 *     shows what any server reaches with this load generator on these cores, and the service's
 *     figure as a share of it.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LogStore } from '../src/log/log-store.js';
import { SqliteStore, SQLITE_FILE_NAME } from '../src/sqlite/index.js';
import type { Store } from '../src/core/store.js';
import type { CeilingKind } from './http-ceiling.js';
import type { HttpScenario, LoadResult, LoadSpec } from './http-load.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(HERE, '..', 'src', 'cli', 'main.js');
const LOAD = path.join(HERE, 'http-load.js');
const CEILING = path.join(HERE, 'http-ceiling.js');

type Contender = 'log' | 'sqlite' | CeilingKind;

interface Step {
  scenario: HttpScenario;
  concurrency: number;
  books: number;
  batchSize: number;
}

const STEPS: Step[] = [
  { scenario: 'post-one-book', concurrency: 64, books: 1, batchSize: 1 },
  { scenario: 'post-one-book', concurrency: 128, books: 1, batchSize: 1 },
  { scenario: 'post-many-books', concurrency: 128, books: 16, batchSize: 1 },
  { scenario: 'reads', concurrency: 128, books: 1, batchSize: 1 },
  { scenario: 'mixed', concurrency: 128, books: 16, batchSize: 1 },
  { scenario: 'batch', concurrency: 8, books: 8, batchSize: 100 },
];

interface Figure {
  contender: Contender;
  transport: 'http' | 'in-process';
  step: string;
  perSecond: number;
  unit: 'req/s' | 'drafts/s' | 'commits/s';
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
  /** B5: CPU µs per operation of the server (http) or of this process (in-process); null if unread. */
  cpuUsPerOp: number | null;
  /** B5: the load generator's CPU µs per operation (http only). */
  loadCpuUsPerOp: number | null;
}

const CEILINGS: readonly CeilingKind[] = ['node-http', 'fastify'];

function stepName(step: Step): string {
  return step.scenario === 'batch' ? `batch b${step.batchSize} c${step.concurrency}` : `${step.scenario} c${step.concurrency}`;
}

/** `talea-log serve` on a fresh store of `contender`, or a ceiling server (B6). */
async function startServer(contender: Contender, dir: string): Promise<{ child: ChildProcess; url: string }> {
  const args = contender === 'log' || contender === 'sqlite' ? [CLI, 'serve'] : [CEILING, contender];
  const url = contender === 'log' ? `log://${dir}` : `sqlite://${path.join(dir, SQLITE_FILE_NAME)}`;
  const child = spawn(process.execPath, args, {
    env: { ...process.env, TALEA_DB_URL: url, TALEA_BIND: '127.0.0.1:0', TALEA_MAX_INFLIGHT: '4096', TALEA_WRITE_QUEUE_DEPTH: '4096', TALEA_API_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((candidate) => candidate.includes('talea listening'));
      if (line !== undefined) resolve({ child, url: (JSON.parse(line) as { url: string }).url });
    });
    child.once('exit', (code) => reject(new Error(`${contender} server exited with ${code}`)));
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function post(url: string, route: string, body: unknown): Promise<void> {
  const response = await fetch(url + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (response.status !== 204 && response.status !== 200) throw new Error(`seeding ${route}: ${response.status} ${await response.text()}`);
}

/** USD; cash and equity in bench-0..bench-15 and bench-read; 100 postings in bench-read. */
async function seed(url: string): Promise<void> {
  await post(url, '/v1/assets', { id: 'USD', class: 'fiat', precision: 2, name: 'US Dollar' });
  for (const book of [...Array.from({ length: 16 }, (_, index) => `bench-${index}`), 'bench-read']) {
    await post(url, '/v1/accounts', { book, path: 'cash', asset: 'USD', kind: 'asset', normal_side: 'debit' });
    await post(url, '/v1/accounts', { book, path: 'equity', asset: 'USD', kind: 'equity', normal_side: 'credit' });
  }
  const drafts = Array.from({ length: 100 }, (_, index) => ({
    book: 'bench-read',
    idempotency_key: `seed-${index}`,
    postings: [
      { account: 'cash', amount: { minor: 100, asset: 'USD' }, direction: 'debit' },
      { account: 'equity', amount: { minor: 100, asset: 'USD' }, direction: 'credit' },
    ],
  }));
  await post(url, '/v1/transactions/batch', drafts);
}

function runLoad(spec: LoadSpec): LoadResult {
  const output = execFileSync(process.execPath, [LOAD, JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(output.trim().split('\n').pop()!) as LoadResult;
}

/** The in-process closed loop of post-one-book at `concurrency`, on a fresh store. */
async function inProcess(contender: 'log' | 'sqlite', dir: string, concurrency: number, warmupMs: number, windowMs: number, runId: string): Promise<Figure> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const store: Store = contender === 'log' ? await LogStore.open(dir) : await SqliteStore.open(path.join(dir, SQLITE_FILE_NAME));
  try {
    await store.registerAsset({ id: 'USD', class: 'fiat', precision: 2, name: 'US Dollar' });
    await store.openAccount({ id: { book: 'bench-0', path: 'cash' }, asset: 'USD', kind: 'asset' }, { normal_side: 'debit', min_balance: null });
    await store.openAccount({ id: { book: 'bench-0', path: 'equity' }, asset: 'USD', kind: 'equity' }, { normal_side: 'credit', min_balance: null });
    const occurredAt = new Date().toISOString();
    const latencies: number[] = [];
    let ops = 0;
    const start = performance.now();
    const measureFrom = start + warmupMs;
    const end = measureFrom + windowMs;
    // Sampled by the callers, not by timers: a synchronous store may never yield to a timer.
    let cpuAtOpen: NodeJS.CpuUsage | null = null;
    let cpuUs = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async (_, caller) => {
        for (let n = 0; performance.now() < end; n++) {
          const began = performance.now();
          await store.commit({
            id: crypto.randomUUID(),
            book: 'bench-0',
            postings: [
              { account: { book: 'bench-0', path: 'cash' }, amount: { minor: 100n, asset: 'USD' }, direction: 'debit' },
              { account: { book: 'bench-0', path: 'equity' }, amount: { minor: 100n, asset: 'USD' }, direction: 'credit' },
            ],
            idempotency_key: `inproc/${runId}/${concurrency}/${caller}/${n}`,
            external_refs: [],
            metadata: null,
            occurred_at: occurredAt,
          });
          const done = performance.now();
          if (began >= measureFrom) {
            ops++;
            latencies.push(done - began);
          }
          if (cpuAtOpen === null && done >= measureFrom) cpuAtOpen = process.cpuUsage();
          if (cpuUs === 0 && cpuAtOpen !== null && done >= end) {
            const used = process.cpuUsage(cpuAtOpen);
            cpuUs = used.user + used.system;
          }
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
    const cpuUsPerOp = ops > 0 && cpuUs > 0 ? cpuUs / ops : null;
    return { contender, transport: 'in-process', step: `post-one-book c${concurrency}`, perSecond: (ops * 1000) / windowMs, unit: 'commits/s', p50Ms: at(0.5), p99Ms: at(0.99), statuses: {}, cpuUsPerOp, loadCpuUsPerOp: null };
  } finally {
    await store.close();
  }
}

/** CPU µs per operation for a table cell ('—' when it was not read). */
function cpuDigits(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : value.toFixed(1);
}

function micros(value: number | null): string {
  return value === null ? '—' : `${cpuDigits(value)} µs`;
}

function rate(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)}k` : value.toFixed(0);
}

export async function runHttpBench(options: { quick: boolean; out?: string }): Promise<Figure[]> {
  const warmupMs = options.quick ? 1000 : 3000;
  const windowMs = options.quick ? 3000 : 10_000;
  const runId = new Date().toISOString().replace(/[-:]/g, '').replace('Z', '');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-http-bench-'));
  const figures: Figure[] = [];
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`HTTP transport: ${options.quick ? 'quick' : 'default'} (warm-up ${warmupMs / 1000} s, window ${windowMs / 1000} s per step, one round), node ${process.version}, ${os.cpus().length} cores`);
  const serve = async (contender: Contender, steps: readonly Step[]): Promise<void> => {
    const dir = path.join(root, `${contender}-http`);
    fs.mkdirSync(dir, { recursive: true });
    const server = await startServer(contender, dir);
    try {
      if (contender === 'log' || contender === 'sqlite') await seed(server.url);
      for (const step of steps) {
        const result = runLoad({ url: server.url, scenario: step.scenario, step: stepName(step).replace(/ /g, '-'), concurrency: step.concurrency, warmupMs, windowMs, runId, books: step.books, batchSize: step.batchSize, serverPid: server.child.pid });
        const perSecond = ((step.scenario === 'batch' ? result.drafts : result.ops) * 1000) / windowMs;
        const perOp = (us: number | null) => (us === null || us <= 0 || result.ops === 0 ? null : us / result.ops);
        const figure: Figure = {
          contender,
          transport: 'http',
          step: stepName(step),
          perSecond,
          unit: step.scenario === 'batch' ? 'drafts/s' : 'req/s',
          p50Ms: result.p50Ms,
          p99Ms: result.p99Ms,
          statuses: result.statuses,
          cpuUsPerOp: perOp(result.serverCpuUs),
          loadCpuUsPerOp: perOp(result.loadCpuUs),
        };
        figures.push(figure);
        say(`  ${contender} http ${figure.step}: ${rate(perSecond)} ${figure.unit}; p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms; CPU per request: server ${micros(figure.cpuUsPerOp)}, load generator ${micros(figure.loadCpuUsPerOp)}; answers ${JSON.stringify(result.statuses)}`);
      }
    } finally {
      await stopServer(server.child);
    }
  };
  try {
    for (const contender of ['log', 'sqlite'] as const) {
      await serve(contender, STEPS);
      for (const concurrency of [64, 128]) {
        const figure = await inProcess(contender, path.join(root, `${contender}-inproc-${concurrency}`), concurrency, warmupMs, windowMs, runId);
        figures.push(figure);
        say(`  ${contender} in-process ${figure.step}: ${rate(figure.perSecond)} commits/s; p50 ${figure.p50Ms.toFixed(2)} ms, p99 ${figure.p99Ms.toFixed(2)} ms; CPU per commit ${micros(figure.cpuUsPerOp)}`);
      }
    }
    for (const ceiling of CEILINGS) await serve(ceiling, STEPS.filter((step) => step.scenario === 'post-one-book'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  const figureOf = (contender: Contender, transport: Figure['transport'], step: string) => figures.find((figure) => figure.contender === contender && figure.transport === transport && figure.step === step);
  const find = (contender: Contender, transport: Figure['transport'], step: string) => figureOf(contender, transport, step)?.perSecond ?? 0;
  say('');
  say('| step | log http | log in-process | wire ratio (http ÷ in-process) | sqlite http | sqlite in-process | log http ÷ sqlite http | CPU µs per request, log: server / load generator / in-process |');
  say('|---|---|---|---|---|---|---|---|');
  for (const step of STEPS.map(stepName)) {
    const logHttp = find('log', 'http', step);
    const logIn = find('log', 'in-process', step);
    const sqliteHttp = find('sqlite', 'http', step);
    const sqliteIn = find('sqlite', 'in-process', step);
    const ratio = (a: number, b: number) => (a > 0 && b > 0 ? (a / b).toFixed(2) : '—');
    const cell = (value: number) => (value > 0 ? rate(value) : '—');
    const served = figureOf('log', 'http', step);
    const cpuCell = `${cpuDigits(served?.cpuUsPerOp)} / ${cpuDigits(served?.loadCpuUsPerOp)} / ${cpuDigits(figureOf('log', 'in-process', step)?.cpuUsPerOp)}`;
    say(`| ${step} | ${cell(logHttp)} | ${cell(logIn)} | ${ratio(logHttp, logIn)} | ${cell(sqliteHttp)} | ${cell(sqliteIn)} | ${ratio(logHttp, sqliteHttp)} | ${cpuCell} |`);
  }
  say('');
  say('Transport ceiling (B6): servers that do no ledger work, same load generator, same cores.');
  say('');
  say('| step | bare node:http | bare fastify | log http | log http ÷ bare fastify | CPU µs per request, server: node:http / fastify / log |');
  say('|---|---|---|---|---|---|');
  for (const step of STEPS.filter((candidate) => candidate.scenario === 'post-one-book').map(stepName)) {
    const nodeHttp = figureOf('node-http', 'http', step);
    const fastify = figureOf('fastify', 'http', step);
    const log = figureOf('log', 'http', step);
    const cell = (figure: Figure | undefined) => (figure === undefined || figure.perSecond <= 0 ? '—' : rate(figure.perSecond));
    const share = log !== undefined && fastify !== undefined && fastify.perSecond > 0 ? (log.perSecond / fastify.perSecond).toFixed(2) : '—';
    say(`| ${step} | ${cell(nodeHttp)} | ${cell(fastify)} | ${cell(log)} | ${share} | ${cpuDigits(nodeHttp?.cpuUsPerOp)} / ${cpuDigits(fastify?.cpuUsPerOp)} / ${cpuDigits(log?.cpuUsPerOp)} |`);
  }
  if (options.out !== undefined) {
    fs.mkdirSync(path.dirname(options.out), { recursive: true });
    fs.writeFileSync(options.out, `${JSON.stringify({ runId, quick: options.quick, warmupMs, windowMs, node: process.version, cores: os.cpus().length, figures }, null, 2)}\n`);
    say(`HTTP figures written to ${options.out}`);
  }
  return figures;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const quick = process.argv.includes('--quick');
  await runHttpBench({ quick, out: path.resolve('bench-results', `http-${quick ? 'quick' : 'default'}.json`) });
}
