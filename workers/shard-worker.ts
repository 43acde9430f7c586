/**
 * The shard worker entry point: wires a Shard (src/log/shard.ts) to worker_threads. Nothing else
 * lives here; the shard logic is pure and also runs on the main thread in tests.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { FileSystem } from '../src/log/file-system.js';
import { ConcurrentSyncFileSystem } from '../src/log/sync-pool.js';
import { Shard } from '../src/log/shard.js';
import type { JobsMessage, ShardConfig, WorkerMessage } from '../src/log/worker-protocol.js';

const config = workerData as ShardConfig;
const port = parentPort;
if (port === null) throw new Error('shard-worker.js must run as a worker thread');

let fileSystem: FileSystem = new ConcurrentSyncFileSystem();
if (config.fileSystemModule !== null) {
  // Tests only: a fault-injecting file system, controlled through shared memory.
  const module = (await import(config.fileSystemModule)) as { createFileSystem(config: unknown): FileSystem };
  fileSystem = module.createFileSystem(config.fileSystemConfig);
}

const shard = new Shard(config, fileSystem, (message: WorkerMessage) => port.postMessage(message));
/** Every message the port holds now, after `first`: they all join one pass's batches. */
function drainPort(first: JobsMessage): JobsMessage[] {
  const messages = [first];
  for (let next = receiveMessageOnPort(port!); next !== undefined; next = receiveMessageOnPort(port!)) messages.push(next.message as JobsMessage);
  return messages;
}

/**
 * Writer spin (option writerSpinUs): after a pass, a writer whose last job came back within the
 * window polls its port for that long instead of sleeping, because waking a sleeping thread costs
 * this machine about as much as the work of a lone commit. It never spins while the shard has
 * deferred work, and stops spinning at the first window that passes with nothing.
 */
const spinMs = config.writerSpinUs / 1000;
let passEndedAt = Number.NEGATIVE_INFINITY;

function pollPort(deadline: number): JobsMessage | undefined {
  while (performance.now() < deadline) {
    const next = receiveMessageOnPort(port!);
    if (next !== undefined) return next.message as JobsMessage;
  }
  return undefined;
}

port.on('message', (first: JobsMessage) => {
  let spin = spinMs > 0 && performance.now() - passEndedAt <= spinMs;
  for (let message: JobsMessage | undefined = first; message !== undefined; ) {
    shard.handleNow(drainPort(message)); // the batches run now, not one event-loop turn later
    passEndedAt = performance.now();
    message = spin && shard.idle ? pollPort(passEndedAt + spinMs) : undefined;
    spin = message !== undefined;
  }
});
