/**
 * Shared pieces of the HTTP tests: a server on 127.0.0.1, port 0, over each kind of store, a small
 * client that reads bodies with the package's bigint-safe reader, and a seeded demo book.
 *
 * Every server started here is closed, and its store closed and directory removed, by `stop()`;
 * tests call it in `after`/`finally`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parseJson, stringifyJson } from '../../src/core/json.js';
import type { Store } from '../../src/core/store.js';
import type { JsonValue } from '../../src/core/types.js';
import { LogStore } from '../../src/log/log-store.js';
import { MemoryStore } from '../../src/memory/memory-store.js';
import { SqliteStore } from '../../src/sqlite/index.js';
import { createServer, type CreateServerOptions } from '../../src/http/index.js';

export type StoreKind = 'memory' | 'log' | 'sqlite';
export const STORE_KINDS: readonly StoreKind[] = ['memory', 'log', 'sqlite'];

export interface StoreHandle {
  store: Store;
  dir: string | null;
  dispose(): Promise<void>;
}

export async function openTestStore(kind: StoreKind, options: { queueDepthMax?: number } = {}): Promise<StoreHandle> {
  if (kind === 'memory') {
    const store = new MemoryStore();
    return { store, dir: null, dispose: () => store.close() };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `talea-http-${kind}-`));
  const store =
    kind === 'log'
      ? await LogStore.open(dir, { workers: 1, env: {}, ...(options.queueDepthMax === undefined ? {} : { queueDepthMax: options.queueDepthMax }) })
      : await SqliteStore.open(path.join(dir, 'ledger.sqlite'), options);
  return {
    store,
    dir,
    async dispose() {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The body read with the bigint-safe reader, or undefined when it is not JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export class Client {
  constructor(
    readonly base: string,
    public token: string | null = null,
  ) {}

  async request(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const allHeaders: Record<string, string> = { ...headers };
    if (this.token !== null && allHeaders.authorization === undefined) allHeaders.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : stringifyJson(body as JsonValue);
      if (allHeaders['content-type'] === undefined) allHeaders['content-type'] = 'application/json';
    }
    const response = await fetch(this.base + url, { method, headers: allHeaders, body: payload, signal: AbortSignal.timeout(20_000) });
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : parseJson(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  get(url: string, headers?: Record<string, string>): Promise<Reply> {
    return this.request('GET', url, undefined, headers);
  }

  post(url: string, body: unknown, headers?: Record<string, string>): Promise<Reply> {
    return this.request('POST', url, body, headers);
  }
}

export interface TestServer {
  app: FastifyInstance;
  client: Client;
  base: string;
  handle: StoreHandle;
  stop(): Promise<void>;
}

export async function startServer(kind: StoreKind, options: Partial<CreateServerOptions> & { queueDepthMax?: number } = {}, handle?: StoreHandle): Promise<TestServer> {
  const storeHandle = handle ?? (await openTestStore(kind, options.queueDepthMax === undefined ? {} : { queueDepthMax: options.queueDepthMax }));
  const { queueDepthMax: _ignored, ...serverOptions } = options;
  const app = await createServer({ store: storeHandle.store, ...serverOptions });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  const base = `http://127.0.0.1:${address.port}`;
  return {
    app,
    base,
    client: new Client(base),
    handle: storeHandle,
    async stop() {
      await app.close();
      await storeHandle.dispose();
    },
  };
}

export const USD = { id: 'USD', class: 'fiat', precision: 2, name: 'US Dollar' };

/** USD, and in `book`: cash (asset, debit), equity (equity, credit), floor (asset, debit, min 0). */
export async function seedBook(client: Client, book = 'demo'): Promise<void> {
  const replies = [
    await client.post('/v1/assets', USD),
    await client.post('/v1/accounts', { book, path: 'cash', asset: 'USD', kind: 'asset', normal_side: 'debit' }),
    await client.post('/v1/accounts', { book, path: 'equity', asset: 'USD', kind: 'equity', normal_side: 'credit' }),
    await client.post('/v1/accounts', { book, path: 'floor', asset: 'USD', kind: 'asset', normal_side: 'debit', min_balance: 0 }),
  ];
  for (const reply of replies) if (reply.status !== 204) throw new Error(`seeding failed: ${reply.status} ${reply.text}`);
}

/** A balanced draft moving `minor` from equity to cash. */
export function transfer(book: string, key: string, minor: number | bigint, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    book,
    idempotency_key: key,
    postings: [
      { account: 'cash', amount: { minor, asset: 'USD' }, direction: 'debit' },
      { account: 'equity', amount: { minor, asset: 'USD' }, direction: 'credit' },
    ],
    ...extra,
  };
}

/** The number of events in a book, read straight from the store. */
export async function eventCount(store: Store, book: string): Promise<number> {
  return (await store.readEvents(book, 0, 1_000_000)).length;
}

/** Reads an SSE body into events until `count` have arrived or `ms` passed. */
export class SseReader {
  readonly events: Array<{ id: string | null; event: string | null; data: string }> = [];
  #buffer = '';
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  ended = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /**
   * The read in progress. A read that loses the race with a timeout is kept for the next pump: it
   * will still receive the next chunk, and dropping it would drop that chunk's events.
   */
  #reading: ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]> | null = null;

  async #pump(deadline: number): Promise<boolean> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    this.#reading ??= this.#reader.read();
    const result = await Promise.race([
      this.#reading,
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), remaining);
      }),
    ]);
    clearTimeout(timer);
    if (result === null) return false;
    this.#reading = null;
    if (result.done) {
      this.ended = true;
      return false;
    }
    this.#buffer += this.#decoder.decode(result.value, { stream: true });
    let end: number;
    while ((end = this.#buffer.indexOf('\n\n')) !== -1) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      let id: string | null = null;
      let event: string | null = null;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (id !== null || event !== null || data.length > 0) this.events.push({ id, event, data: data.join('\n') });
    }
    return true;
  }

  /** Waits until at least `count` events arrived (true) or `ms` passed or the stream ended (false). */
  async waitFor(count: number, ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.events.length < count) {
      if (!(await this.#pump(deadline))) return this.events.length >= count;
    }
    return true;
  }

  /** Waits for the end of the stream. */
  async waitEnd(ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      if (!(await this.#pump(deadline)) && !this.ended) return false;
    }
    return true;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => undefined);
  }
}

/** A store whose writes wait for `release()`: to hold requests in flight deterministically. */
export function gatedStore(inner: Store): { store: Store; release(): void; waiting(): number } {
  let gate: { promise: Promise<void>; open(): void } = makeGate();
  let waiting = 0;
  function makeGate() {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    return { promise, open };
  }
  const store = new Proxy(inner, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      if (property === 'commit' || property === 'commitBatch') {
        return async (...args: unknown[]) => {
          waiting++;
          await gate.promise;
          waiting--;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return {
    store,
    release() {
      gate.open();
      gate = makeGate();
    },
    waiting: () => waiting,
  };
}
