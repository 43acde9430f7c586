/**
 * Preloaded into every thread of the bench process (`node --import`; worker threads inherit the
 * flag), so the bench can force a garbage collection in every thread, the store's workers
 * included, and read each thread's heap, without any hook in the engine (spec/bench.md, sections
 * 2.2 and 6).
 *
 * P1. On a `gc` request on the broadcast channel, a worker thread runs `gc()` (Node was started
 *     with `--expose-gc`) and answers with its thread id and `heapUsed` after the collection. The
 *     main thread ignores the request: the driver collects it itself.
 * P2. The channel is unreferenced: it never keeps a thread or the process alive.
 */
import { isMainThread, threadId } from 'node:worker_threads';

export const PROBE_CHANNEL = 'talea-bench-thread-probe';
export const PROBE_REPLY_CHANNEL = 'talea-bench-thread-probe-reply';

export interface ThreadHeap {
  threadId: number;
  main: boolean;
  heapUsed: number;
  /** The heap the thread's isolate has committed (used, free and young generation). */
  heapTotal: number;
  requestId: number;
}

const channel = new BroadcastChannel(PROBE_CHANNEL);
(channel as unknown as { unref(): void }).unref();
channel.onmessage = (message: MessageEvent) => {
  const data = message.data as { op?: string; requestId?: number } | null;
  if (data?.op !== 'gc' || isMainThread) return; // the driver collects the main thread itself
  (globalThis as { gc?: () => void }).gc?.();
  const reply = new BroadcastChannel(PROBE_REPLY_CHANNEL);
  const heap: ThreadHeap = { threadId, main: isMainThread, ...heapOfThisThread(), requestId: data.requestId ?? 0 };
  reply.postMessage(heap);
  reply.close();
};

/** This thread's heap, used and committed. */
export function heapOfThisThread(): { heapUsed: number; heapTotal: number } {
  const { heapUsed, heapTotal } = process.memoryUsage();
  return { heapUsed, heapTotal };
}
