/**
 * Deferred work is paced (spec/log-engine.md 8.6): a snapshot is written one bounded slice per
 * book per event-loop turn, however many messages arrive meanwhile. Messages run their batches at
 * once (Shard.handleNow); that must replace the pass already scheduled for the next turn, not add
 * a second chain of passes beside it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CommitPacker } from '../src/log/commit-wire.js';
import { RealFileSystem, type OpenFlags } from '../src/log/file-system.js';
import { normaliseAccount, normaliseAssetDef, normaliseTransaction } from '../src/core/input.js';
import { WATERMARK_SLOTS_PER_CHUNK } from '../src/core/limits.js';
import { Shard } from '../src/log/shard.js';
import { SYSTEM_BOOK } from '../src/core/types.js';
import type { ClonedJob, JobRequest, JobsMessage, ShardConfig, WorkerMessage } from '../src/log/worker-protocol.js';
import { BOOK, makeTempDir, mkTx, removeDir, UNSIDED, USD } from './support/log-store-fixtures.js';

/** The real file system, counting writes to snapshot temporary files. */
class SnapshotWriteCounter extends RealFileSystem {
  readonly #snapshotFds = new Set<number>();
  writes = 0;

  override openSync(path: string, flags: OpenFlags): number {
    const fd = super.openSync(path, flags);
    if (path.endsWith('.tsnap.tmp')) this.#snapshotFds.add(fd);
    return fd;
  }

  override writevSync(fd: number, chunks: readonly Uint8Array[]): number {
    if (this.#snapshotFds.has(fd)) this.writes++;
    return super.writevSync(fd, chunks);
  }
}

test('a snapshot is written one slice per turn while a message arrives every turn', async () => {
  const dir = makeTempDir();
  try {
    fs.mkdirSync(path.join(dir, 'books')); // LogStore.open makes it before any shard starts
    const fileSystem = new SnapshotWriteCounter();
    const config: ShardConfig = {
      workerIndex: 0,
      workerCount: 1,
      dataDir: dir,
      segmentMax: 128 * 1024 * 1024,
      snapshotEvery: 0,
      idemHotCap: 1_000_000_000,
      writerSpinUs: 0,
      fdsPerWorker: 256,
      clockUs: null,
      writeCounters: new BigInt64Array(new SharedArrayBuffer(16)),
      fileSystemModule: null,
      fileSystemConfig: null,
    };
    const replies: WorkerMessage[] = [];
    const shard = new Shard(config, fileSystem, (message) => replies.push(message));
    let nextId = 1;
    const send = (...jobs: JobRequest[]): void => {
      const message: JobsMessage = { type: 'jobs', jobs: jobs.map((job) => ({ ...job, id: nextId++ }) as ClonedJob), commits: null };
      shard.handleNow([message]);
    };
    send({ op: 'slots', chunkIndex: 0, buffer: new SharedArrayBuffer(WATERMARK_SLOTS_PER_CHUNK * 8) });
    const asset = normaliseAssetDef(USD);
    send({ op: 'registerAsset', book: SYSTEM_BOOK, slot: 0, def: asset.def, eventJson: asset.eventJson });
    for (const accountPath of ['cash', 'rev']) {
      const account = normaliseAccount({ id: { book: BOOK, path: accountPath }, asset: 'USD', kind: 'asset' }, UNSIDED);
      send({ op: 'openAccount', book: BOOK, slot: 1, def: account.def, cfg: account.cfg, eventJson: account.eventJson });
    }
    // About 6 MiB of snapshot: two dozen slices of 256 KiB.
    for (let chunk = 0; chunk < 40; chunk++) {
      const packer = new CommitPacker();
      for (let index = 0; index < 1000; index++) {
        const { tx, eventJson } = normaliseTransaction({ ...mkTx(`k-${chunk}-${index}`, 1n), id: randomUUID() });
        packer.add(nextId++, 0, 1, tx, eventJson, false);
      }
      shard.handleNow([{ type: 'jobs', jobs: [], commits: packer.take() }]);
    }
    send({ op: 'snapshot', book: BOOK, slot: 1 });
    const perTurn: number[] = [];
    for (let turn = 0; turn < 200 && !shard.idle; turn++) {
      const before = fileSystem.writes;
      send({ op: 'balance', book: BOOK, account: { book: BOOK, path: 'cash' }, asOfUs: null }); // a message every turn
      await new Promise((resolve) => setImmediate(resolve));
      perTurn.push(fileSystem.writes - before);
    }
    const errors = replies.flatMap((message) => (message.type === "replies" ? message.replies.filter((reply) => !reply.ok) : []));
    assert.deepEqual(errors.slice(0, 3), []);
    assert.ok(shard.idle, "the snapshot finished");
    assert.ok(perTurn.filter((writes) => writes > 0).length >= 6, `a snapshot of many slices: ${perTurn.join(',')}`);
    // Per turn: the pass the message ran and the one scheduled for the turn, a slice each, plus
    // the header or the trailer, written on their own. Never a growing number of passes.
    assert.ok(Math.max(...perTurn) <= 3, `snapshot writes per turn: ${perTurn.join(',')}`);
    assert.ok(replies.length > 0);
    shard.handleNow([{ type: 'jobs', jobs: [{ op: 'close', id: nextId++ }], commits: null }]);
  } finally {
    removeDir(dir);
  }
});
