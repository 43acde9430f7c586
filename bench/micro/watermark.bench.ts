/**
 * watermark: reading a book's durable seq from shared memory: `LogStore#durableSeq(book)` (name
 * check, book lookup, Atomics.load) and a bare `Atomics.load` on a BigInt64Array slot.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { LogStore } from '../../src/log/log-store.js';
import { seedBooks } from '../workload.js';
import { addLoop, consume, type MicroGroup } from './micro.js';

const BOOK = 'bench-watermark';
const INNER = 10_000;

export const watermarkGroup: MicroGroup = {
  group: 'watermark',
  async register(bench) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-bench-watermark-'));
    const store = await LogStore.open(dir);
    await seedBooks(store, [BOOK]);
    const slots = new BigInt64Array(new SharedArrayBuffer(1024 * 8));
    Atomics.store(slots, 17, 42n);
    addLoop(bench, 'LogStore#durableSeq(book)', INNER, () => consume(store.durableSeq(BOOK)));
    addLoop(bench, 'Atomics.load of a BigInt64Array slot', INNER, () => consume(Atomics.load(slots, 17)));
    return async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    };
  },
};
