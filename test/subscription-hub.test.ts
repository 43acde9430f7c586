/**
 * SubscriptionHub and Subscription on their own (src/core/subscription.ts): how a stream moves
 * from reading the log to live events. The "log" here is an array of durable events and the page
 * reader reads it, as every store's page reader reads its durable events; the test publishes to
 * the hub as a store does once an event is durable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SubscriptionHub, type PageReader } from '../src/core/subscription.js';
import { SUBSCRIBE_PAGE_EVENTS } from '../src/core/limits.js';
import type { SequencedEvent } from '../src/core/types.js';

function eventOf(seq: number): SequencedEvent {
  return { seq, at: '2026-12-04T00:00:00.000000Z', event: { kind: 'asset_registered', id: `A${seq}`, class: 'fiat', precision: 2, name: 'asset' } };
}

/** A durable log and a reader over it that counts its reads. */
function durableLog(count: number): { reads: () => number; reader: PageReader; append: (seq: number) => SequencedEvent } {
  const events = Array.from({ length: count }, (_, index) => eventOf(index + 1));
  let reads = 0;
  return {
    reads: () => reads,
    reader: async (from, limit) => {
      reads++;
      return events.filter((event) => event.seq >= from).slice(0, limit);
    },
    append: (seq) => {
      const event = eventOf(seq);
      events.push(event);
      return event;
    },
  };
}

/** Resolves with the next value, or with 'pending' if none comes within a few turns. */
async function nextOrPending(stream: AsyncIterator<SequencedEvent>): Promise<{ next: Promise<IteratorResult<SequencedEvent>>; settled: boolean }> {
  const next = stream.next();
  let settled = false;
  void next.then(() => (settled = true));
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
  return { next, settled };
}

test('U7: a page shorter than asked ends catch-up: the stream waits for live events instead of reading again', async () => {
  const log = durableLog(3);
  const hub = new SubscriptionHub();
  const stream = hub.open('b', 1, undefined, log.reader);
  for (let seq = 1; seq <= 3; seq++) assert.equal(((await stream.next()).value as SequencedEvent).seq, seq);
  const waiting = await nextOrPending(stream);
  assert.equal(waiting.settled, false, 'nothing more is durable: the stream waits');
  assert.equal(log.reads(), 1, 'one short page was enough');
  hub.publish('b', [log.append(4)]);
  assert.equal(((await waiting.next).value as SequencedEvent).seq, 4);
  assert.equal(log.reads(), 1, 'the live event came from the hub, not from the log');
  await stream.return?.();
});

test('U7: full pages keep the stream reading until a short one', async () => {
  const log = durableLog(SUBSCRIBE_PAGE_EVENTS + 5);
  const hub = new SubscriptionHub();
  const stream = hub.open('b', 1, undefined, log.reader);
  for (let seq = 1; seq <= SUBSCRIBE_PAGE_EVENTS + 5; seq++) assert.equal(((await stream.next()).value as SequencedEvent).seq, seq);
  assert.equal(log.reads(), 2);
  const waiting = await nextOrPending(stream);
  assert.equal(waiting.settled, false);
  assert.equal(log.reads(), 2);
  hub.publish('b', [log.append(SUBSCRIBE_PAGE_EVENTS + 6)]);
  assert.equal(((await waiting.next).value as SequencedEvent).seq, SUBSCRIBE_PAGE_EVENTS + 6);
  await stream.return?.();
});

test('U2 after U7: a live event past a gap sends the stream back to the log for the missing ones', async () => {
  const log = durableLog(3);
  const hub = new SubscriptionHub();
  const stream = hub.open('b', 1, undefined, log.reader);
  for (let seq = 1; seq <= 3; seq++) await stream.next();
  log.append(4); // durable, never pushed
  hub.publish('b', [log.append(5)]);
  assert.equal(((await stream.next()).value as SequencedEvent).seq, 4);
  assert.equal(((await stream.next()).value as SequencedEvent).seq, 5);
  assert.equal(log.reads(), 2, 'the gap was read from the log');
  await stream.return?.();
});

test('U1 with U7: events that become durable while the short page is read arrive once, in order', async () => {
  const log = durableLog(2);
  const hub = new SubscriptionHub();
  // The store makes seq 3 durable and publishes it while the stream's first read is in flight.
  const stream = hub.open('b', 1, undefined, async (from, limit) => {
    const page = await log.reader(from, limit);
    hub.publish('b', [log.append(3)]);
    return page;
  });
  const seqs: number[] = [];
  for (let index = 0; index < 3; index++) seqs.push(((await stream.next()).value as SequencedEvent).seq);
  assert.deepEqual(seqs, [1, 2, 3]);
  const waiting = await nextOrPending(stream);
  assert.equal(waiting.settled, false);
  await stream.return?.();
});
