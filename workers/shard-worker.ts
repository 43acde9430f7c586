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
 *
 * A pass of at most LONE_JOBS jobs (a caller or two waiting on each commit) spins LONE_SPIN_FACTOR
 * times as long: such a caller's next commit comes back after two thread hops and its own work,
 * longer than the window, so the writer slept before every one of them. Busier books keep the
 * short window: there the spin would only take CPU from the threads that produce the next jobs.
 */
const spinMs = config.writerSpinUs / 1000;
const LONE_JOBS = 2;
const LONE_SPIN_FACTOR = 3;
let passEndedAt = Number.NEGATIVE_INFINITY;
let passWindowMs = spinMs;

/** Jobs in these messages: cloned ones and packed commits. */
function jobCount(messages: readonly JobsMessage[]): number {
  let count = 0;
  for (const message of messages) count += message.jobs.length + (message.commits?.count ?? 0);
  return count;
}

function pollPort(deadline: number): JobsMessage | undefined {
  while (performance.now() < deadline) {
    const next = receiveMessageOnPort(port!);
    if (next !== undefined) return next.message as JobsMessage;
  }
  return undefined;
}

port.on('message', (first: JobsMessage) => {
  let spin = spinMs > 0 && performance.now() - passEndedAt <= passWindowMs;
  for (let message: JobsMessage | undefined = first; message !== undefined; ) {
    const messages = drainPort(message);
    shard.handleNow(messages); // the batches run now, not one event-loop turn later
    passEndedAt = performance.now();
    passWindowMs = jobCount(messages) <= LONE_JOBS ? spinMs * LONE_SPIN_FACTOR : spinMs;
    message = spin && shard.idle ? pollPort(passEndedAt + passWindowMs) : undefined;
    spin = message !== undefined;
  }
});
