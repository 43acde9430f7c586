/**
 * Cross-process wake-ups for subscriptions (spec/postgres-store.md 4.6, 4.7).
 *
 * L1. Hints wake, the table decides: a notification, a poll tick or a local commit only means
 *     "read this book from your cursor"; notification payloads are never trusted.
 * L2. One listener connection per store, created with the first subscribed book; channel
 *     `talea_` + 24 hex digits of SHA-256(`<schema>/<book>`), LISTENed while the book has streams.
 * L3. A safety poll every `pollMs` reads the heads of every listened book, so a notification lost
 *     (a writer dying between COMMIT and NOTIFY, a listener reconnecting) delays, never loses.
 * L4. The listener never opens a transaction, and its failure never throws: it reconnects with
 *     backoff (100 ms doubling to 2 s), re-LISTENs, then wakes every book.
 * L5. `close()` stops the poll, ends the connection and always resolves.
 * L6. The connection's statements run one at a time (`#send`): several books subscribed at once
 *     would otherwise query a client that is still busy, which `pg` 8 deprecates and 9 refuses.
 * L7. Lost server (spec 4.7). The server counts as reached while the listener holds a connection
 *     (up to the moment it is lost) and whenever a poll reads the heads. A book whose window
 *     started (last reach, or the book's LISTEN request if later) `windowMs` or more ago is
 *     reported once through `onUnreachable`, checked at every poll tick; its window then starts
 *     again, and so it does whenever a stream subscribes to a book already listened to, so a
 *     stream subscribed after a report gets a whole window of its own (before, one subscribed
 *     late in the window that followed a report could be ended IO within milliseconds).
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';

/** The NOTIFY channel of a book (L2). */
export function channelOf(schema: string, book: string): string {
  return `talea_${createHash('sha256').update(`${schema}/${book}`).digest('hex').slice(0, 24)}`;
}

export interface ListenerOptions {
  schema: string;
  connect: () => pg.Client;
  pollMs: number;
  /** Reads the heads of books (L3). */
  heads: (books: string[]) => Promise<Map<string, number>>;
  /** Called when a book may have new events; the callee reads them. */
  wake: (book: string, head?: number) => void;
  /** Books still subscribed (the others are UNLISTENed at the next tick). */
  isSubscribed: (book: string) => boolean;
  onError: (error: unknown) => void;
  /** How long neither the listener nor the poll may reach the server before a book is reported (L7). */
  windowMs: number;
  /** Books whose window passed without reaching the server; the callee ends their streams (L7). */
  onUnreachable: (books: string[]) => void;
}

export class BookListener {
  readonly #options: ListenerOptions;
  readonly #books = new Map<string, string>(); // book → channel
  readonly #byChannel = new Map<string, string>();
  #client: pg.Client | null = null;
  #connecting: Promise<pg.Client | null> | null = null;
  #backoffMs = 100;
  #poll: NodeJS.Timeout | null = null;
  #closed = false;
  /** When the listener or the poll last reached the server (L7). */
  #reachedMs = Date.now();
  /** Per book, when its current window started at the earliest: its LISTEN request, or its last report (L7). */
  readonly #windowStartMs = new Map<string, number>();
  /** The last statement sent (L6); settled, never rejected. */
  #sent: Promise<unknown> = Promise.resolve();

  constructor(options: ListenerOptions) {
    this.#options = options;
  }

  /** Starts following a book: LISTEN, then a wake-up (the table may already be ahead). */
  add(book: string): void {
    if (this.#closed) return;
    if (this.#books.has(book)) {
      this.#windowStartMs.set(book, Date.now()); // L7: a new stream's whole window
      return;
    }
    const channel = channelOf(this.#options.schema, book);
    this.#books.set(book, channel);
    this.#byChannel.set(channel, book);
    this.#windowStartMs.set(book, Date.now());
    this.#poll ??= setInterval(() => void this.#tick(), this.#options.pollMs).unref();
    void this.#listen(book, channel);
  }

  /** Runs `text` on `client` after the statements sent before it have settled (L6). */
  #send(client: pg.Client, text: string): Promise<void> {
    const result = this.#sent.then(() => client.query(text));
    this.#sent = result.catch(() => undefined);
    return result.then(() => undefined);
  }

  async #listen(book: string, channel: string): Promise<void> {
    const client = await this.#connection();
    if (client !== null && this.#books.get(book) === channel) {
      try {
        await this.#send(client, `LISTEN ${channel}`);
        this.#reachedMs = Date.now();
      } catch (error) {
        this.#options.onError(error); // the reconnect re-LISTENs; the poll covers meanwhile
      }
    }
    this.#options.wake(book);
  }

  async #connection(): Promise<pg.Client | null> {
    if (this.#client !== null) return this.#client;
    this.#connecting ??= (async () => {
      while (!this.#closed) {
        const client = this.#options.connect();
        client.on('error', (error) => this.#lost(client, error));
        client.on('end', () => this.#lost(client, null));
        client.on('notification', (message) => {
          const book = this.#byChannel.get(message.channel);
          if (book !== undefined) this.#options.wake(book);
        });
        try {
          await client.connect();
          if (this.#closed) {
            await client.end().catch(() => undefined);
            return null;
          }
          this.#client = client;
          this.#backoffMs = 100;
          this.#reachedMs = Date.now();
          return client;
        } catch (error) {
          this.#options.onError(error);
          client.end().catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, this.#backoffMs).unref());
          this.#backoffMs = Math.min(this.#backoffMs * 2, 2000);
        }
      }
      return null;
    })().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  /** L4: a lost listener reconnects, re-LISTENs every book and wakes them all. */
  #lost(client: pg.Client, error: unknown): void {
    if (this.#client !== client) return;
    this.#client = null;
    this.#reachedMs = Date.now(); // connected until now (L7)
    if (error !== null) this.#options.onError(error);
    client.end().catch(() => undefined);
    if (this.#closed) return;
    setTimeout(() => {
      for (const [book, channel] of this.#books) void this.#listen(book, channel);
    }, this.#backoffMs).unref();
  }

  /** L3, and UNLISTEN of books whose streams all ended. */
  async #tick(): Promise<void> {
    for (const [book, channel] of [...this.#books]) {
      if (this.#options.isSubscribed(book)) continue;
      this.#books.delete(book);
      this.#byChannel.delete(channel);
      this.#windowStartMs.delete(book);
      if (this.#client !== null) this.#send(this.#client, `UNLISTEN ${channel}`).catch(() => undefined);
    }
    if (this.#books.size === 0) {
      if (this.#poll !== null) clearInterval(this.#poll);
      this.#poll = null;
      return;
    }
    if (this.#client !== null) this.#reachedMs = Date.now();
    this.#reportUnreachable(); // before the heads read, which may hang as long as the server does
    try {
      const heads = await this.#options.heads([...this.#books.keys()]);
      this.#reachedMs = Date.now();
      for (const [book, head] of heads) this.#options.wake(book, head);
    } catch (error) {
      this.#options.onError(error);
      this.#reportUnreachable();
    }
  }

  /** L7: reports the books whose window passed without reaching the server, once per window. */
  #reportUnreachable(): void {
    if (this.#closed) return;
    const nowMs = Date.now();
    const unreachable: string[] = [];
    for (const [book, startMs] of this.#windowStartMs) {
      if (nowMs - Math.max(startMs, this.#reachedMs) < this.#options.windowMs) continue;
      this.#windowStartMs.set(book, nowMs);
      unreachable.push(book);
    }
    if (unreachable.length > 0) this.#options.onUnreachable(unreachable);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#poll !== null) clearInterval(this.#poll);
    this.#poll = null;
    const client = this.#client;
    this.#client = null;
    if (client !== null) {
      try {
        await this.#send(client, 'UNLISTEN *');
      } catch {
        // Going away anyway.
      }
      await client.end().catch(() => undefined);
    }
  }
}
