/**
 * Prometheus metrics (the reference README's "Metrics" catalogue), with prom-client.
 *
 * P1. Each server owns its own Registry, so two servers in one process never share counters.
 * P2. Labels never carry user-controlled values (H7): `route` is the route template
 *     (`/v1/books/:book/accounts/:path/balance`), `unmatched` when no route matched.
 * P3. Metrics are served only on their own listener (`TALEA_METRICS_BIND`), never on the API
 *     port; that listener answers `GET /metrics` and 404 for everything else.
 */
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Seconds, 1 ms .. 10 s, as in the reference. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'talea_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'talea_http_request_duration_seconds',
    help: 'HTTP request duration, by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly commits = new Counter({
    name: 'talea_commits_total',
    help: 'Transaction drafts answered, by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly commitDuration = new Histogram({
    name: 'talea_commit_duration_seconds',
    help: 'Time the store took to commit one draft or one batch',
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly shed = new Counter({
    name: 'talea_shed_total',
    help: 'Requests shed with 503 by admission control (TALEA_MAX_INFLIGHT)',
    registers: [this.registry],
  });
  readonly inflight = new Gauge({
    name: 'talea_http_inflight_requests',
    help: 'Requests holding an admission slot',
    registers: [this.registry],
  });
  readonly sseSubscribers = new Gauge({
    name: 'talea_sse_subscribers',
    help: 'Live event-stream connections',
    registers: [this.registry],
  });

  /** Adds Node's process metrics (CPU, memory, event-loop lag); `serve` does, tests need not. */
  collectProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one commit outcome: committed, deduplicated, or the API error code. */
  countCommit(result: 'committed' | 'deduplicated' | 'overloaded' | 'rejected'): void {
    this.commits.inc({ result });
  }
}

/** Serves `GET /metrics` of `metrics` on `host:port` (P3). Resolves with the listening server. */
export async function listenMetrics(metrics: ServiceMetrics, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found","what":"only GET /metrics is served here"}');
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal","message":"metrics failed"}'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
