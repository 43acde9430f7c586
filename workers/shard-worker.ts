/**
 * The shard worker entry point: wires a Shard (src/shard.ts) to worker_threads. Nothing else
 * lives here; the shard logic is pure and also runs on the main thread in tests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RealFileSystem, type FileSystem } from '../src/file-system.js';
import { Shard } from '../src/shard.js';
import type { JobsMessage, ShardConfig, WorkerMessage } from '../src/worker-protocol.js';

const config = workerData as ShardConfig;
const port = parentPort;
if (port === null) throw new Error('shard-worker.js must run as a worker thread');

let fileSystem: FileSystem = new RealFileSystem();
if (config.fileSystemModule !== null) {
  // Tests only: a fault-injecting file system, controlled through shared memory.
  const module = (await import(config.fileSystemModule)) as { createFileSystem(config: unknown): FileSystem };
  fileSystem = module.createFileSystem(config.fileSystemConfig);
}

const shard = new Shard(config, fileSystem, (message: WorkerMessage) => port.postMessage(message));
port.on('message', (message: JobsMessage) => shard.handle(message));
