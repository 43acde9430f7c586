/**
 * The HTTP load generator (spec/http-api.md section 8): a process of its own, so it never shares
 * the server's event loop. Closed loop: `concurrency` callers, each with at most one request in
 * flight over a keep-alive undici Pool of `concurrency` connections to the server on loopback.
 *
 * L1. Only requests that started after the warm-up count in throughput and latency; every answer
 *     of the whole step is counted by status, so the driver can check nothing was lost.
 * L2. Idempotency keys carry the run id, scenario, step, caller and operation number: distinct
 *     operations never collide and no run deduplicates against another.
 * L3. Input: one JSON argument (LoadSpec). Output: one JSON line (LoadResult) on stdout.
 * L4. CPU over the window: this process's own (`process.cpuUsage`) and, given its pid, the server
 *     process's (all its threads, from /proc), both sampled when the window opens and closes.
 */
import { Pool } from 'undici';
import { processCpuUs } from './proc-stat.js';

export type HttpScenario = 'post-one-book' | 'post-many-books' | 'reads' | 'mixed' | 'batch';

export interface LoadSpec {
  url: string;
  scenario: HttpScenario;
  step: string;
  concurrency: number;
  warmupMs: number;
  windowMs: number;
  runId: string;
  /** Books bench-0..bench-(books-1) for writes; reads use bench-read. */
  books: number;
  /** Drafts per request on the batch route. */
  batchSize: number;
  /** The server's process, for its CPU over the window (L4). */
  serverPid?: number;
}

export interface LoadResult {
  /** Operations (requests) that started after the warm-up and succeeded. */
  ops: number;
  /** Drafts committed by those operations (batch: drafts per request). */
  drafts: number;
  windowMs: number;
  statuses: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  /** CPU µs over the window (L4): the load generator's, and the server's (null if unreadable). */
  loadCpuUs: number;
  serverCpuUs: number | null;
}

function draft(book: string, key: string): string {
  return `{"book":"${book}","idempotency_key":"${key}","postings":[{"account":"cash","amount":{"minor":100,"asset":"USD"},"direction":"debit"},{"account":"equity","amount":{"minor":100,"asset":"USD"},"direction":"credit"}]}`;
}

/** The mixed scenario's weights: 60 post / 25 balance / 10 history / 5 trial balance. */
function mixedKind(n: number): 'post' | 'balance' | 'history' | 'trial' {
  const slot = n % 100;
  return slot < 60 ? 'post' : slot < 85 ? 'balance' : slot < 95 ? 'history' : 'trial';
}

async function run(spec: LoadSpec): Promise<LoadResult> {
  const pool = new Pool(spec.url, { connections: spec.concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  let ops = 0;
  let drafts = 0;
  const start = performance.now();
  const measureFrom = start + spec.warmupMs;
  const end = measureFrom + spec.windowMs;
  const json = { 'content-type': 'application/json' };
  const serverCpu = () => (spec.serverPid === undefined ? null : processCpuUs(spec.serverPid));
  // L4: sampled by the callers as they cross the window's edges (a timer could fire after the last one ended).
  let cpuAtOpen: NodeJS.CpuUsage | null = null;
  let serverAtOpen: number | null = null;
  let loadCpuUs = 0;
  let serverCpuUs: number | null = null;
  let closed = false;
  function sampleCpu(now: number): void {
    if (cpuAtOpen === null && now >= measureFrom) {
      cpuAtOpen = process.cpuUsage();
      serverAtOpen = serverCpu();
    } else if (!closed && cpuAtOpen !== null && now >= end) {
      closed = true;
      const used = process.cpuUsage(cpuAtOpen);
      loadCpuUs = used.user + used.system;
      const serverNow = serverCpu();
      serverCpuUs = serverNow === null || serverAtOpen === null ? null : serverNow - serverAtOpen;
    }
  }

  async function caller(index: number): Promise<void> {
    const book = `bench-${index % spec.books}`;
    for (let n = 0; performance.now() < end; n++) {
      const key = `http/${spec.runId}/${spec.scenario}/${spec.step}/${index}/${n}`;
      let method: 'GET' | 'POST' = 'POST';
      let path = '/v1/transactions';
      let body: string | undefined;
      let count = 1;
      switch (spec.scenario) {
        case 'post-one-book':
        case 'post-many-books':
          body = draft(book, key);
          break;
        case 'batch': {
          path = '/v1/transactions/batch';
          const items: string[] = [];
          for (let k = 0; k < spec.batchSize; k++) items.push(draft(book, `${key}/${k}`));
          body = `[${items.join(',')}]`;
          count = spec.batchSize;
          break;
        }
        case 'reads':
          method = 'GET';
          path = '/v1/books/bench-read/accounts/cash/balance';
          break;
        case 'mixed': {
          const kind = mixedKind(n);
          if (kind === 'post') body = draft(book, key);
          else {
            method = 'GET';
            path =
              kind === 'balance'
                ? `/v1/books/${book}/accounts/cash/balance`
                : kind === 'history'
                  ? `/v1/books/${book}/accounts/cash/history?limit=10`
                  : `/v1/books/${book}/trial-balance`;
          }
          break;
        }
      }
      const began = performance.now();
      let status: string;
      try {
        const response = await pool.request({ method, path, body, headers: body === undefined ? undefined : json });
        const text = await response.body.text();
        status = String(response.statusCode);
        // A batch answers 200 with one slot per draft: count the committed ones.
        if (spec.scenario === 'batch' && status === '200') count = text.split('"tx_id"').length - 1;
      } catch {
        status = 'transport';
      }
      const done = performance.now();
      sampleCpu(done);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (began >= measureFrom && done <= end + 1000 && status === '200') {
        ops++;
        drafts += count;
        latencies.push(done - began);
      }
    }
  }

  await Promise.all(Array.from({ length: spec.concurrency }, (_, index) => caller(index)));
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => (latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!);
  return { ops, drafts, windowMs: spec.windowMs, statuses, p50Ms: at(0.5), p99Ms: at(0.99), loadCpuUs, serverCpuUs };
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
process.stdout.write(`${JSON.stringify(await run(spec))}\n`);
