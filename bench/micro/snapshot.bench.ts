/**
 * snapshot: msgpackr encode and decode of a 100,000-account book state: the engine's snapshot
 * payload encoder (src/snapshot.ts) over a consistent cut, and msgpackr decoding those records
 * back (the decoder's schema checks are not included).
 */
import { Unpackr } from 'msgpackr';

import { BookState } from '../../src/log/book-state.js';
import { captureCut, encodeSnapshotPayload } from '../../src/log/snapshot.js';
import { wallClockUs } from '../../src/core/time.js';
import type { LedgerEvent } from '../../src/core/types.js';
import { ASSET_ID } from '../workload.js';
import { consume, type MicroGroup } from './micro.js';

const BOOK = 'bench-snapshot';
const ACCOUNTS = 100_000;

export const snapshotGroup: MicroGroup = {
  group: 'snapshot',
  iterations: 8,
  async register(bench) {
    const state = new BookState(BOOK);
    const atUs = wallClockUs();
    for (let index = 0; index < ACCOUNTS; index++) {
      const event: LedgerEvent = {
        kind: 'account_opened',
        def: { id: { book: BOOK, path: `acct-${index}` }, asset: ASSET_ID, kind: 'clearing' },
        cfg: { normal_side: null, min_balance: null },
      };
      state.apply(state.seqNext, atUs, event);
    }
    const encode = (): Buffer[] => [...encodeSnapshotPayload(captureCut(state, () => ({ base: 1, offset: 0 })))];
    const records = encode();
    const unpackr = new Unpackr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true });
    bench.add(`encode a ${ACCOUNTS.toLocaleString('en-US')}-account book state (MessagePack records)`, () => consume(encode()));
    bench.add(`decode a ${ACCOUNTS.toLocaleString('en-US')}-account book state (MessagePack records)`, () => {
      for (const record of records) consume(unpackr.unpack(record));
    });
    return async () => undefined;
  },
};
