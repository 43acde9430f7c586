/**
 * AtomicFileWriter (src/atomic-file.ts): the bytes and CRC of the installed file, and the
 * intermediate fsyncs that keep a large file's final fsync short, on the writer's thread or in the
 * background.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { AtomicFileWriter } from '../src/log/atomic-file.js';
import { RealFileSystem, type PendingSync, type SyncRequest } from '../src/log/file-system.js';
import { makeTempDir, removeDir } from './support/log-store-fixtures.js';

/** The real file system, with a log of the fsyncs and of the bytes written before each. */
class FsyncLog extends RealFileSystem {
  written = 0;
  readonly fsyncsAtBytes: number[] = [];

  override writevSync(fd: number, chunks: readonly Uint8Array[]): number {
    const count = super.writevSync(fd, chunks);
    this.written += count;
    return count;
  }

  override fsyncSync(fd: number): void {
    this.fsyncsAtBytes.push(this.written);
    super.fsyncSync(fd);
  }
}

test('a 20 MiB file is fsynced every 8 MiB while written, then installed whole with its CRC', () => {
  const dir = makeTempDir();
  try {
    const fileSystem = new FsyncLog();
    const target = path.join(dir, 'big.bin');
    const writer = new AtomicFileWriter(fileSystem, target);
    const chunk = Buffer.alloc(1024 * 1024);
    const expected: Buffer[] = [];
    for (let index = 0; index < 20; index++) {
      chunk.fill(index);
      writer.write([chunk]);
      expected.push(Buffer.from(chunk));
    }
    assert.deepEqual(fileSystem.fsyncsAtBytes, [8 * 1024 * 1024, 16 * 1024 * 1024], 'one fsync per 8 MiB, none before');
    writer.install();
    assert.deepEqual(fileSystem.fsyncsAtBytes, [8 * 1024 * 1024, 16 * 1024 * 1024, 20 * 1024 * 1024]);
    const bytes = fs.readFileSync(target);
    assert.ok(bytes.equals(Buffer.concat(expected)));
    assert.equal(writer.crc, zlib.crc32(bytes));
    assert.equal(fs.existsSync(`${target}.tmp`), false);
  } finally {
    removeDir(dir);
  }
});

test('a small file is fsynced once, at install', () => {
  const dir = makeTempDir();
  try {
    const fileSystem = new FsyncLog();
    const writer = new AtomicFileWriter(fileSystem, path.join(dir, 'small.bin'));
    writer.write([Buffer.from('hello')]);
    writer.install();
    assert.deepEqual(fileSystem.fsyncsAtBytes, [5]);
  } finally {
    removeDir(dir);
  }
});

/**
 * The real file system with a scripted fsyncStart: each background flush is recorded with the
 * bytes written when it started, runs on a real SyncPool helper when `pool` is set, and fails
 * with EIO when its number is in `failing`.
 */
class BackgroundFlushes extends FsyncLog {
  readonly startedAtBytes: number[] = [];
  readonly finished: number[] = [];
  closedWhilePending = false;
  #pending = 0;

  constructor(readonly failing: ReadonlySet<number> = new Set()) {
    super();
  }

  fsyncStart(request: SyncRequest): PendingSync {
    const number = this.startedAtBytes.length;
    this.startedAtBytes.push(this.written);
    this.#pending++;
    return {
      finish: () => {
        this.#pending--;
        this.finished.push(number);
        if (this.failing.has(number)) return Object.assign(new Error('EIO: injected background fsync failure'), { code: 'EIO' });
        fs.fsyncSync(request.fd);
        return null;
      },
    };
  }

  override closeSync(fd: number): void {
    if (this.#pending > 0) this.closedWhilePending = true;
    super.closeSync(fd);
  }
}

test('with background flushes, each is collected at the next flush or at install, before the final fsync', () => {
  const dir = makeTempDir();
  try {
    const fileSystem = new BackgroundFlushes();
    const target = path.join(dir, 'big.bin');
    const writer = new AtomicFileWriter(fileSystem, target);
    const chunk = Buffer.alloc(1024 * 1024, 7);
    for (let index = 0; index < 20; index++) writer.write([chunk]);
    assert.deepEqual(fileSystem.startedAtBytes, [8 * 1024 * 1024, 16 * 1024 * 1024]);
    assert.deepEqual(fileSystem.finished, [0], 'the first is collected when the second starts');
    assert.deepEqual(fileSystem.fsyncsAtBytes, [], 'the writer fsyncs nothing itself before install');
    writer.install();
    assert.deepEqual(fileSystem.finished, [0, 1]);
    assert.deepEqual(fileSystem.fsyncsAtBytes, [20 * 1024 * 1024], 'then the final fsync, on the writer');
    assert.equal(fileSystem.closedWhilePending, false);
    assert.equal(fs.statSync(target).size, 20 * 1024 * 1024);
  } finally {
    removeDir(dir);
  }
});

test('a failed background flush fails the next step; abandon waits for a pending one before closing', () => {
  const dir = makeTempDir();
  try {
    const chunk = Buffer.alloc(1024 * 1024, 1);
    // Fails at the next flush: the write that would start the second one throws.
    let fileSystem = new BackgroundFlushes(new Set([0]));
    let writer = new AtomicFileWriter(fileSystem, path.join(dir, 'a.bin'));
    for (let index = 0; index < 8; index++) writer.write([chunk]);
    for (let index = 0; index < 7; index++) writer.write([chunk]);
    assert.throws(() => writer.write([chunk]), /EIO: injected/);
    writer.abandon();
    assert.equal(fs.existsSync(path.join(dir, 'a.bin.tmp')), false);
    assert.equal(fs.existsSync(path.join(dir, 'a.bin')), false);

    // Fails at install: nothing is installed, and the final fsync never runs.
    fileSystem = new BackgroundFlushes(new Set([0]));
    writer = new AtomicFileWriter(fileSystem, path.join(dir, 'b.bin'));
    for (let index = 0; index < 9; index++) writer.write([chunk]);
    assert.throws(() => writer.install(), /EIO: injected/);
    assert.deepEqual(fileSystem.fsyncsAtBytes, []);
    writer.abandon();
    assert.equal(fs.existsSync(path.join(dir, 'b.bin')), false);

    // Abandoned with a flush pending: it is collected before the descriptor closes.
    fileSystem = new BackgroundFlushes();
    writer = new AtomicFileWriter(fileSystem, path.join(dir, 'c.bin'));
    for (let index = 0; index < 9; index++) writer.write([chunk]);
    writer.abandon();
    assert.deepEqual(fileSystem.finished, [0]);
    assert.equal(fileSystem.closedWhilePending, false);
    assert.equal(fs.existsSync(path.join(dir, 'c.bin.tmp')), false);
  } finally {
    removeDir(dir);
  }
});
