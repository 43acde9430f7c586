/**
 * A precheck helper thread of one shard worker's recovery (src/log/segment-precheck.ts): it
 * verifies the frames of segments the worker's snapshot covers, so the worker need not read them.
 * Nothing else lives here.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { runPrecheckHelper, type SegmentToPrecheck } from '../src/log/segment-precheck.js';

const { cells, segments, chunkBytes, port } = workerData as { cells: Int32Array; segments: SegmentToPrecheck[]; chunkBytes: number; port: MessagePort };
runPrecheckHelper(cells, segments, chunkBytes, port);
