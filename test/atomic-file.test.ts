/**
 * AtomicFileWriter (src/atomic-file.ts): the bytes and CRC of the installed file, and the
 * intermediate fsyncs that keep a large file's final fsync short.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { AtomicFileWriter } from '../src/log/atomic-file.js';
import { RealFileSystem } from '../src/log/file-system.js';
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
