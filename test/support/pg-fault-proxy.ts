/**
 * A fault-injecting TCP proxy in front of a PostgreSQL server, for the unknown-outcome and restart
 * tests (spec/postgres-store.md 7.1).
 *
 * X1. It listens on 127.0.0.1 on a free port and forwards each connection to the target. It keeps
 *     no process alive by itself (its server and sockets are unref'd) and `close()` destroys every
 *     connection and stops listening.
 * X2. It parses the frontend (client → server) stream into messages: the untyped startup packet
 *     (int32 length, int32 code; an SSLRequest or GSSENCRequest is followed by another), then
 *     typed messages (one type byte, int32 length including itself). A COMMIT is a simple query
 *     (`Q` "COMMIT") or, in the extended protocol, the `E`xecute that follows a `P`arse of
 *     "COMMIT" (the server runs it at the Execute; a named statement reused without a new Parse
 *     is not recognised). PgStore sends COMMIT as a simple query.
 * X3. Faults, each deterministic:
 *     - `dropAtBegin(n)`: the next n `BEGIN`s are never forwarded; their connections are destroyed
 *       (the client loses its connection before it could send COMMIT).
 *     - `dropBeforeCommit(n)`: the next n COMMITs are never forwarded; their connections are
 *       destroyed in both directions (the server sees the client vanish inside a transaction and
 *       rolls back; the client sent COMMIT and cannot know that it never arrived).
 *     - `dropAfterCommit(n)`: the next n COMMITs are forwarded, and the connection is destroyed
 *       as soon as the server's first reply bytes after them arrive, which are never forwarded:
 *       the commit has run (its CommandComplete came back), the client never learns it.
 *     - `refuseConnections(on)`: new connections are accepted and destroyed at once (the server
 *       looks unreachable; existing connections go on).
 *     - `{ isolate: true }` on a drop: when it fires, every other connection is destroyed too and
 *       new ones are refused until `refuseConnections(false)` (the server vanished at that COMMIT).
 *     - `hold()` / `release()`: no byte moves in either direction until release (bytes are kept,
 *       in order); `delay(ms)`: every chunk waits `ms` before it is forwarded.
 *     - `holdAtCommit(n)`: at each of the next n COMMITs, the messages before it are forwarded and
 *       then the proxy holds (as `hold()`), the COMMIT included: the client froze inside its
 *       transaction, still holding its locks, until `release()` or the server ends the session.
 *     - `dropAll()`: destroys every open connection now.
 * X4. Counters: connections accepted, COMMITs seen, drops at BEGIN, before and after COMMIT,
 *     holds at COMMIT.
 */
import net from 'node:net';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

type Direction = 'up' | 'down';

export interface Fault {
  /** Also cut every other connection and refuse new ones until refuseConnections(false). */
  isolate: boolean;
}

class ProxiedConnection {
  readonly #proxy: PgFaultProxy;
  readonly client: net.Socket;
  readonly server: net.Socket;
  #frontend: Buffer = Buffer.alloc(0);
  #startupDone = false;
  /** A Parse of COMMIT was seen; the COMMIT is the next Execute. */
  #parsedCommit = false;
  /** A COMMIT was forwarded under dropAfterCommit: the next server bytes end the connection. */
  #dropOnReply: Fault | null = null;
  #destroyed = false;
  /** Chunks waiting while the proxy holds or delays traffic, per direction, in order. */
  readonly #pending: Record<Direction, Buffer[]> = { up: [], down: [] };
  readonly #draining: Record<Direction, boolean> = { up: false, down: false };

  constructor(proxy: PgFaultProxy, client: net.Socket, server: net.Socket) {
    this.#proxy = proxy;
    this.client = client;
    this.server = server;
    client.on('data', (chunk: Buffer) => this.#fromClient(chunk));
    server.on('data', (chunk: Buffer) => this.#fromServer(chunk));
    for (const socket of [client, server]) {
      socket.on('error', () => this.destroy());
      socket.on('close', () => this.destroy());
    }
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.client.destroy();
    this.server.destroy();
    this.#proxy.forget(this);
  }

  /** Splits the frontend stream into whole messages and decides on each (X2, X3). */
  #fromClient(chunk: Buffer): void {
    this.#frontend = this.#frontend.length === 0 ? chunk : Buffer.concat([this.#frontend, chunk]);
    let forward: Buffer[] = [];
    for (;;) {
      if (this.#destroyed) return;
      const message = this.#nextMessage();
      if (message === null) break;
      if (this.#startupDone && message[0] === 0x51 && /^\s*BEGIN\b/i.test(message.subarray(5, message.length - 1).toString('utf8'))) {
        const begin = this.#proxy.takeFault('begin');
        if (begin !== null) {
          this.#send('up', forward);
          this.destroy();
          if (begin.isolate) this.#proxy.isolate();
          return;
        }
      }
      const commit = this.#isCommit(message);
      const before = commit ? this.#proxy.takeFault('before') : null;
      if (before !== null) {
        this.#send('up', forward);
        this.destroy();
        if (before.isolate) this.#proxy.isolate();
        return;
      }
      if (commit && this.#proxy.takeHoldAtCommit()) {
        this.#send('up', forward);
        forward = [];
        this.#proxy.hold(); // this COMMIT and everything after it wait for release()
      }
      forward.push(message);
      if (commit) {
        this.#proxy.commitsSeen++;
        const after = this.#proxy.takeFault('after');
        if (after !== null) {
          this.#send('up', forward);
          forward = [];
          this.#dropOnReply = after;
        }
      }
    }
    this.#send('up', forward);
  }

  #fromServer(chunk: Buffer): void {
    if (this.#dropOnReply !== null) {
      // The reply to the COMMIT (the client sends nothing after it until it has the reply).
      this.destroy();
      if (this.#dropOnReply.isolate) this.#proxy.isolate();
      return;
    }
    this.#send('down', [chunk]);
  }

  #nextMessage(): Buffer | null {
    const buffer = this.#frontend;
    if (!this.#startupDone) {
      if (buffer.length < 8) return null;
      const length = buffer.readInt32BE(0);
      if (buffer.length < length) return null;
      const code = buffer.readInt32BE(4);
      if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) this.#startupDone = true;
      this.#frontend = buffer.subarray(length);
      return buffer.subarray(0, length);
    }
    if (buffer.length < 5) return null;
    const length = 1 + buffer.readInt32BE(1);
    if (buffer.length < length) return null;
    this.#frontend = buffer.subarray(length);
    return buffer.subarray(0, length);
  }

  /** A simple-query COMMIT, or the Execute after a Parse of COMMIT. */
  #isCommit(message: Buffer): boolean {
    if (!this.#startupDone) return false;
    const type = String.fromCharCode(message[0]!);
    if (type === 'Q') return isCommitText(message.subarray(5, message.length - 1).toString('utf8'));
    if (type === 'P') {
      const nameEnd = message.indexOf(0, 5);
      const textEnd = message.indexOf(0, nameEnd + 1);
      if (isCommitText(message.subarray(nameEnd + 1, textEnd).toString('utf8'))) this.#parsedCommit = true;
      return false;
    }
    if (type === 'E' && this.#parsedCommit) {
      this.#parsedCommit = false;
      return true;
    }
    return false;
  }

  /** Forwards chunks now, or after the hold or delay in force, keeping their order. */
  #send(direction: Direction, chunks: Buffer[]): void {
    if (chunks.length === 0) return;
    this.#pending[direction].push(...chunks);
    this.drain(direction);
  }

  drain(direction: Direction): void {
    if (this.#draining[direction] || this.#destroyed) return;
    const target = direction === 'up' ? this.server : this.client;
    const pending = this.#pending[direction];
    if (this.#proxy.held) return; // release() drains again
    const delayMs = this.#proxy.delayMs;
    if (delayMs === 0) {
      if (pending.length > 0) target.write(Buffer.concat(pending.splice(0)));
      return;
    }
    this.#draining[direction] = true;
    const batch = Buffer.concat(pending.splice(0));
    const timer = setTimeout(() => {
      this.#draining[direction] = false;
      if (this.#destroyed) return;
      target.write(batch);
      if (pending.length > 0) this.drain(direction);
    }, delayMs);
    timer.unref();
  }
}

function isCommitText(text: string): boolean {
  return /^\s*(COMMIT|END)\s*;?\s*$/i.test(text);
}

export class PgFaultProxy {
  readonly #server: net.Server;
  readonly #target: { host: string; port: number };
  readonly #connections = new Set<ProxiedConnection>();
  readonly #dropBegin: Fault[] = [];
  readonly #dropBefore: Fault[] = [];
  readonly #dropAfter: Fault[] = [];
  #holdsAtCommit = 0;
  #refusing = false;
  held = false;
  delayMs = 0;
  connectionsAccepted = 0;
  commitsSeen = 0;
  droppedAtBegin = 0;
  droppedBeforeCommit = 0;
  droppedAfterCommit = 0;
  heldAtCommit = 0;

  private constructor(server: net.Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
  }

  /** A proxy to the server of `targetUrl` (postgres://…); `url(targetUrl)` is the URL through it. */
  static async start(targetUrl: string): Promise<PgFaultProxy> {
    const parsed = new URL(targetUrl);
    const target = { host: parsed.hostname, port: Number(parsed.port || 5432) };
    const server = net.createServer();
    const proxy = new PgFaultProxy(server, target);
    server.on('connection', (socket) => proxy.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    server.unref();
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  #accept(client: net.Socket): void {
    client.unref();
    if (this.#refusing) {
      client.destroy();
      return;
    }
    this.connectionsAccepted++;
    client.setNoDelay(true);
    const server = net.connect({ host: this.#target.host, port: this.#target.port });
    server.setNoDelay(true);
    server.unref();
    this.#connections.add(new ProxiedConnection(this, client, server));
  }

  /** @internal */
  forget(connection: ProxiedConnection): void {
    this.#connections.delete(connection);
  }

  /** @internal Consumes one armed fault of the kind, if any. */
  takeFault(kind: 'begin' | 'before' | 'after'): Fault | null {
    const fault = (kind === 'begin' ? this.#dropBegin : kind === 'before' ? this.#dropBefore : this.#dropAfter).shift() ?? null;
    if (fault !== null) {
      if (kind === 'begin') this.droppedAtBegin++;
      else if (kind === 'before') this.droppedBeforeCommit++;
      else this.droppedAfterCommit++;
    }
    return fault;
  }

  /** @internal The server vanishes: every connection cut, new ones refused (X3). */
  isolate(): void {
    this.#refusing = true;
    this.dropAll();
  }

  dropAtBegin(count = 1, fault: Fault = { isolate: false }): void {
    for (let index = 0; index < count; index++) this.#dropBegin.push({ ...fault });
  }

  dropBeforeCommit(count = 1, fault: Fault = { isolate: false }): void {
    for (let index = 0; index < count; index++) this.#dropBefore.push({ ...fault });
  }

  dropAfterCommit(count = 1, fault: Fault = { isolate: false }): void {
    for (let index = 0; index < count; index++) this.#dropAfter.push({ ...fault });
  }

  holdAtCommit(count = 1): void {
    this.#holdsAtCommit += count;
  }

  /** @internal Consumes one armed hold at COMMIT, if any. */
  takeHoldAtCommit(): boolean {
    if (this.#holdsAtCommit === 0) return false;
    this.#holdsAtCommit--;
    this.heldAtCommit++;
    return true;
  }

  /** Faults armed and not yet consumed. */
  get armed(): number {
    return this.#dropBegin.length + this.#dropBefore.length + this.#dropAfter.length + this.#holdsAtCommit;
  }

  refuseConnections(on: boolean): void {
    this.#refusing = on;
  }

  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    for (const connection of this.#connections) {
      connection.drain('up');
      connection.drain('down');
    }
  }

  delay(ms: number): void {
    this.delayMs = ms;
  }

  dropAll(): void {
    for (const connection of [...this.#connections]) connection.destroy();
  }

  get openConnections(): number {
    return this.#connections.size;
  }

  async close(): Promise<void> {
    this.#refusing = true;
    this.dropAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
