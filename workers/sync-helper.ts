/**
 * A sync helper thread of one shard writer (src/log/sync-pool.ts): it fsyncs the descriptors the
 * writer hands it through shared memory, so the fsyncs of several books run at once. Nothing else
 * lives here.
 */
import { workerData } from 'node:worker_threads';
import { runSyncHelper } from '../src/log/sync-pool.js';

const { cells, index } = workerData as { cells: Int32Array; index: number };
runSyncHelper(cells, index);
