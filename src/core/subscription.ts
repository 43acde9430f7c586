/**
 * Subscriptions: catch-up from the log, then live events (spec/store-contract.md, section 7.12).
 * Store-independent: a store supplies a page reader over its durable events and pushes live
 * events into a SubscriptionHub once they are durable.
 *
 * U1. The stream listens before it catches up: it is registered with the hub when created, so a
 *     commit that lands during catch-up is never missed.
 * U2. Events are delivered in seq order with no gaps and no duplicates; live events at or below
 *     the last delivered seq are dropped.
 * U3. Live events are buffered up to SUBSCRIBER_EVENTS_BUFFERED_MAX. Past that the buffer is
 *     dropped and the stream re-reads from the log from its last delivered seq + 1.
 * U4. A failed book delivers everything up to its durable seq, then rejects once and ends.
 *     close() ends the stream (`done`); an aborted signal rejects with an AbortError. After a
 *     rejection the stream is finished and `next()` resolves `done`.
 * U5. Every delivered event is a fresh copy.
 * U6. A store may announce a durable event it does not push (hub.missed): the stream then reads
 *     the log from its next seq, as for a gap (U2), so the event arrives without waiting for the
 *     next one to reveal the gap.
 * U7. Catch-up ends with the first page shorter than asked: it reached the end of what was durable
 *     when it was read, and every later event is pushed (U1), so the stream waits for live events
 *     instead of reading again. (Ending only on an empty page kept a stream reading the log for as
 *     long as commits kept landing.) A live event past a gap still sends it back to the log (U2).
 */
import { subscribeArguments } from './input.js';
import { SUBSCRIBE_PAGE_EVENTS, SUBSCRIBER_EVENTS_BUFFERED_MAX } from './limits.js';
import type { EventStream } from './store.js';
import { copyJson } from './json.js';
import type { JsonValue, LedgerEvent, SequencedEvent } from './types.js';

/** Reads durable events of one book with seq >= from, at most `limit`. */
export type PageReader = (from: number, limit: number) => Promise<SequencedEvent[]>;

const DONE: IteratorResult<SequencedEvent, undefined> = Object.freeze({ done: true, value: undefined });

export interface HubHooks {
  /** A book got its first open stream (a durable store starts forwarding its events). */
  onFirst?(book: string): void;
  /** A book's last open stream ended. */
  onLast?(book: string): void;
}

export class SubscriptionHub {
  readonly #byBook = new Map<string, Set<Subscription>>();
  readonly #hooks: HubHooks;

  constructor(hooks: HubHooks = {}) {
    this.#hooks = hooks;
  }

  /** Creates a stream. `initialError` (validation, CLOSED) makes its first next() reject. */
  open(book: string, from: number, signal: AbortSignal | undefined, readPage: PageReader, initialError?: unknown): Subscription {
    const subscription = new Subscription(book, from, signal, readPage, initialError, (ended) => this.#remove(ended));
    if (initialError === undefined) {
      let subscribers = this.#byBook.get(book);
      if (subscribers === undefined) {
        subscribers = new Set();
        this.#byBook.set(book, subscribers);
        this.#hooks.onFirst?.(book);
      }
      subscribers.add(subscription);
    }
    return subscription;
  }

  /**
   * `Store#subscribe` for every store: checks the store is open (`checkOpen`) and the arguments in
   * the contract's order; any problem becomes the stream's first rejection, since subscribe never
   * throws. `readPage(book)` gives the page reader of a valid book.
   */
  subscribe(book: unknown, from: unknown, options: unknown, checkOpen: () => void, readPage: (book: string) => PageReader): Subscription {
    let initialError: unknown;
    let name = typeof book === 'string' ? book : '';
    let signal: AbortSignal | undefined;
    try {
      checkOpen();
      ({ book: name, signal } = subscribeArguments(book, from, options));
    } catch (error) {
      initialError = error;
    }
    return this.open(name, from as number, signal, readPage(name), initialError);
  }

  hasSubscribers(book: string): boolean {
    return this.#byBook.has(book);
  }

  /** Hands newly durable events of `book`, in seq order, to its streams. */
  publish(book: string, events: readonly SequencedEvent[]): void {
    const subscribers = this.#byBook.get(book);
    if (subscribers === undefined) return;
    for (const subscription of subscribers) subscription.push(events);
  }

  /**
   * A newly durable event of `book` is not pushed (a store kept no copy of it, since the book had
   * no stream when it was sent): each stream reads the log again from its next seq (U6).
   */
  missed(book: string): void {
    const subscribers = this.#byBook.get(book);
    if (subscribers === undefined) return;
    for (const subscription of subscribers) subscription.reread();
  }

  /** The book has died: its streams drain what is durable, then reject with `error`. */
  fail(book: string, error: unknown): void {
    const subscribers = this.#byBook.get(book);
    if (subscribers === undefined) return;
    for (const subscription of subscribers) subscription.fail(error);
  }

  /** The store is closing: every stream ends. */
  endAll(): void {
    for (const subscribers of this.#byBook.values()) {
      for (const subscription of subscribers) subscription.end();
    }
    this.#byBook.clear();
  }

  #remove(subscription: Subscription): void {
    const subscribers = this.#byBook.get(subscription.book);
    if (subscribers === undefined) return;
    subscribers.delete(subscription);
    if (subscribers.size === 0) {
      this.#byBook.delete(subscription.book);
      this.#hooks.onLast?.(subscription.book);
    }
  }
}

export class Subscription implements EventStream {
  readonly book: string;
  #seqNext: number;
  #live: SequencedEvent[] = [];
  #page: SequencedEvent[] = [];
  #pageIndex = 0;
  /** True once a log read came back short (U7): from then on, events arrive live. */
  #caughtUp = false;
  #pendingError: unknown;
  #hasPendingError: boolean;
  #endError: unknown;
  #hasEndError = false;
  #ended = false;
  #finished = false;
  #wake: (() => void) | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #signal: AbortSignal | undefined;
  readonly #readPage: PageReader;
  readonly #onFinish: (subscription: Subscription) => void;
  readonly #onAbort = (): void => this.#poke();

  constructor(
    book: string,
    from: number,
    signal: AbortSignal | undefined,
    readPage: PageReader,
    initialError: unknown,
    onFinish: (subscription: Subscription) => void,
  ) {
    this.book = book;
    this.#seqNext = Math.max(1, from);
    this.#signal = signal;
    this.#readPage = readPage;
    this.#onFinish = onFinish;
    this.#hasPendingError = initialError !== undefined;
    this.#pendingError = initialError;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<SequencedEvent, undefined>> {
    const result = this.#chain.then(() => this.#next());
    this.#chain = result.catch(() => undefined);
    return result;
  }

  async return(): Promise<IteratorResult<SequencedEvent, undefined>> {
    this.#finish();
    return DONE;
  }

  /** Called by the hub with durable events in seq order. */
  push(events: readonly SequencedEvent[]): void {
    if (this.#finished) return;
    for (const event of events) {
      if (event.seq < this.#seqNext) continue;
      if (this.#live.length >= SUBSCRIBER_EVENTS_BUFFERED_MAX) {
        // U3: too slow; forget the buffer and re-read from the log when the consumer returns.
        this.#live = [];
        this.#caughtUp = false;
        break;
      }
      this.#live.push(event);
    }
    this.#poke();
  }

  /** U6: an event was not pushed; read the log from the next seq before anything buffered. */
  reread(): void {
    if (this.#finished) return;
    this.#caughtUp = false;
    this.#poke();
  }

  fail(error: unknown): void {
    if (this.#hasEndError) return;
    this.#endError = error;
    this.#hasEndError = true;
    this.#poke();
  }

  end(): void {
    this.#ended = true;
    this.#poke();
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#live = [];
    this.#page = [];
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#onFinish(this);
    this.#poke();
  }

  async #next(): Promise<IteratorResult<SequencedEvent, undefined>> {
    for (;;) {
      if (this.#finished) return DONE;
      if (this.#signal?.aborted) {
        this.#finish();
        throw abortError(this.#signal);
      }
      if (this.#hasPendingError) {
        this.#hasPendingError = false;
        this.#finish();
        throw this.#pendingError;
      }
      if (this.#ended) {
        this.#finish();
        return DONE;
      }
      const event = this.#takeInOrder();
      if (event !== undefined) {
        this.#seqNext = event.seq + 1;
        // Each reader gets its own copy: events are shared by every stream of the book.
        return { done: false, value: { seq: event.seq, at: event.at, event: copyJson(event.event as unknown as JsonValue) as unknown as LedgerEvent } };
      }
      if (!this.#caughtUp) {
        let page: SequencedEvent[];
        try {
          page = await this.#readPage(this.#seqNext, SUBSCRIBE_PAGE_EVENTS);
        } catch (error) {
          if (this.#finished || this.#ended || this.#signal?.aborted) continue;
          this.#finish();
          throw error;
        }
        if (page.length > 0) {
          this.#page = page;
          this.#pageIndex = 0;
        }
        // U7: a short page reached the durable end when it was read; what follows comes live.
        if (page.length < SUBSCRIBE_PAGE_EVENTS) this.#caughtUp = true;
        continue;
      }
      if (this.#hasEndError) {
        this.#finish();
        throw this.#endError;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** The next event to deliver from the current page or the live buffer, if it is in hand. */
  #takeInOrder(): SequencedEvent | undefined {
    while (this.#pageIndex < this.#page.length) {
      const event = this.#page[this.#pageIndex++]!;
      if (event.seq === this.#seqNext) return event;
      if (event.seq > this.#seqNext) {
        // A page always starts at the requested seq; anything else means the log moved under us.
        this.#page = [];
        this.#caughtUp = false;
        return undefined;
      }
    }
    let dropCount = 0;
    while (dropCount < this.#live.length && this.#live[dropCount]!.seq < this.#seqNext) dropCount++;
    if (dropCount > 0) this.#live.splice(0, dropCount);
    const head = this.#live[0];
    if (head === undefined) return undefined;
    if (head.seq === this.#seqNext) {
      this.#live.shift();
      return head;
    }
    this.#caughtUp = false; // a gap before the buffered events: read it from the log
    return undefined;
  }
}

function abortError(signal: AbortSignal): Error {
  const error = new Error('The subscription was aborted', { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}
