/**
 * A precheck helper thread of one shard worker's recovery (src/log/segment-precheck.ts): it
 * verifies the frames of a book's segments, and decodes the transactions after its snapshot, so the
 * worker need not read them.
 * Nothing else lives here.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { runPrecheckHelper, type PrecheckItem } from '../src/log/segment-precheck.js';

const { cells, items, chunkBytes, port } = workerData as { cells: Int32Array; items: PrecheckItem[]; chunkBytes: number; port: MessagePort };
runPrecheckHelper(cells, items, chunkBytes, port);
