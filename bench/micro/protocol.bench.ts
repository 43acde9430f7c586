/**
 * protocol: main ⇄ worker round trips through LogStore's router (requests batched per turn, one
 * reply message per batch) with 1, 64 and 1,024 requests outstanding. Each request is a
 * `balance()` read, the smallest job a worker answers; the figure is the time per request.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { LogStore } from '../../src/log/log-store.js';
import { seedBooks } from '../workload.js';
import { addScaled, type MicroGroup } from './micro.js';

const BOOK = 'bench-protocol';

export const protocolGroup: MicroGroup = {
  group: 'protocol',
  async register(bench) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-bench-protocol-'));
    const store = await LogStore.open(dir);
    await seedBooks(store, [BOOK]);
    const cash = { book: BOOK, path: 'cash' };
    for (const outstanding of [1, 64, 1024]) {
      addScaled(bench, `balance() round trip through the router, ${outstanding} outstanding`, outstanding, async () => {
        const startNs = process.hrtime.bigint();
        const calls: Promise<unknown>[] = new Array(outstanding);
        for (let index = 0; index < outstanding; index++) calls[index] = store.balance(cash);
        await Promise.all(calls);
        return { overriddenDuration: Number(process.hrtime.bigint() - startNs) / 1e6 };
      });
    }
    return async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    };
  },
};
