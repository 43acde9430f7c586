/**
 * codec: the bigint-safe event JSON (src/event-codec.ts): stringify and parse a
 * `transaction_posted` event with 2 and 4 postings.
 */
import { decodeEvent, encodeEvent } from '../../src/core/event-codec.js';
import type { LedgerEvent } from '../../src/core/types.js';
import { benchBook, workloadDraft, workloadPostings } from '../workload.js';
import { addLoop, consume, type MicroGroup } from './micro.js';

const INNER = 1000;

export const codecGroup: MicroGroup = {
  group: 'codec',
  async register(bench) {
    for (const postings of [2, 4]) {
      const book = benchBook(0);
      const draft = workloadDraft(book, workloadPostings(book, postings), 'bench/micro/codec', new Date().toISOString());
      const event: LedgerEvent = { kind: 'transaction_posted', ...draft };
      const json = encodeEvent(event);
      addLoop(bench, `stringify transaction_posted, ${postings} postings`, INNER, () => consume(encodeEvent(event)));
      addLoop(bench, `parse transaction_posted, ${postings} postings`, INNER, () => consume(decodeEvent(json)));
    }
    return async () => undefined;
  },
};
