/**
 * Segment preallocation (src/log/segment.ts G9) on real files: a busy segment runs ahead of its
 * frames with zeros; a sealed segment and a cleanly closed store hold frames only; a crash leaves a
 * zero tail that recovery truncates as a torn tail (with its warning) and `talea-log verify` reports
 * as one, and no acknowledged commit is lost.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PREALLOCATE_CHUNK_BYTES, PREALLOCATE_FROM_BYTES } from '../src/core/limits.js';
import { checkFrame, FRAME_HEADER_BYTES } from '../src/log/frame.js';
import type { LogStore } from '../src/log/log-store.js';
import type { LogStoreOptions, LogStoreWarning } from '../src/log/options.js';
import { BOOK, makeTempDir, metadataTx, openStore, removeDir, seed, segmentFiles } from './support/log-store-fixtures.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Where the sound frames at the start of `file` end, and the file's length. */
function framesEnd(file: string): { frames: number; end: number; length: number } {
  const bytes = fs.readFileSync(file);
  let end = 0;
  let frames = 0;
  for (let checked = checkFrame(bytes, 0, bytes.length); checked.kind === 'sound'; checked = checkFrame(bytes, end, bytes.length)) {
    end += FRAME_HEADER_BYTES + checked.payloadBytes;
    frames++;
  }
  return { frames, end, length: bytes.length };
}

/** Commits `count` transactions of about 1 KiB each, one at a time (each its own batch); returns their keys. */
async function commitMany(store: LogStore, count: number): Promise<string[]> {
  const keys: string[] = [];
  for (let index = 0; index < count; index++) {
    const tx = metadataTx(`${index}-${'m'.repeat(1000)}`);
    await store.commit(tx);
    keys.push(tx.idempotency_key);
  }
  return keys;
}

function copyWithoutLock(dir: string): string {
  const copy = `${dir}-crashed`;
  fs.cpSync(dir, copy, { recursive: true });
  fs.rmSync(path.join(copy, 'LOCK'), { force: true });
  return copy;
}

test('a busy segment is preallocated in chunks, and a clean close cuts the zeros: the file holds frames only', async () => {
  const dir = makeTempDir();
  try {
    const store = await openStore(dir, { workers: 1 });
    await seed(store);
    await commitMany(store, 150); // about 150 KiB: past PREALLOCATE_FROM_BYTES
    const [segment] = segmentFiles(dir, BOOK);
    const live = framesEnd(segment!);
    assert.ok(live.end > PREALLOCATE_FROM_BYTES);
    assert.equal(live.length % PREALLOCATE_CHUNK_BYTES, 0, 'the file ends on a chunk boundary');
    assert.ok(live.length > live.end, 'zeros run ahead of the frames');
    assert.ok(fs.readFileSync(segment!).subarray(live.end).every((byte) => byte === 0), 'the tail is zeros');
    await store.close();

    const closed = framesEnd(segment!);
    assert.equal(closed.length, closed.end, 'after a clean close the segment ends with its last frame');
    assert.equal(closed.end, live.end);
    const warnings: LogStoreWarning[] = [];
    const reopened = await openStore(dir, { workers: 1, onWarning: (warning) => warnings.push(warning) });
    try {
      assert.deepEqual(warnings, [], 'a cleanly closed store reopens with nothing to repair');
      assert.equal((await reopened.readEvents(BOOK, 1, 1000)).length, closed.frames);
    } finally {
      await reopened.close();
    }
  } finally {
    removeDir(dir);
  }
});

test('a crash leaves a zero tail: open truncates it as a torn tail, verify reports it, no acknowledged commit is lost', async () => {
  const dir = makeTempDir();
  let copy: string | null = null;
  try {
    const store = await openStore(dir, { workers: 1 });
    await seed(store);
    const acknowledged = await commitMany(store, 120);
    copy = copyWithoutLock(dir); // the files as a power cut would find them, every commit acknowledged
    await store.close();
    const [segment] = segmentFiles(copy, BOOK);
    const crashed = framesEnd(segment!);
    assert.ok(crashed.length > crashed.end);

    const verify = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'verify', copy!, '--progress', 'none'], { encoding: 'utf8' }, (error, stdout) =>
        resolve({ code: error === null ? 0 : Number(error.code), stdout }),
      );
    });
    assert.equal(verify.code, 3, verify.stdout); // repairable, like any torn tail
    assert.ok(
      verify.stdout.includes(`torn tail in final segment "${segment}" at offset ${crashed.end}: open would truncate ${crashed.length - crashed.end} bytes`),
      verify.stdout,
    );

    const warnings: LogStoreWarning[] = [];
    const options: LogStoreOptions = { workers: 1, onWarning: (warning) => warnings.push(warning) };
    const reopened = await openStore(copy, options);
    try {
      assert.deepEqual(
        warnings.map((warning) => warning.code),
        ['TORN_TAIL_TRUNCATED'],
      );
      assert.ok(warnings[0]!.message.includes(`torn tail of ${crashed.length - crashed.end} bytes`), warnings[0]!.message);
      const events = await reopened.readEvents(BOOK, 1, 1000);
      assert.equal(events.length, crashed.frames);
      const keys = new Set(events.flatMap(({ event }) => (event.kind === 'transaction_posted' ? [event.idempotency_key] : [])));
      for (const key of acknowledged) assert.ok(keys.has(key), `acknowledged commit ${key}`);
      await commitMany(reopened, 5); // and the book writes on from the cut
    } finally {
      await reopened.close();
    }
    assert.equal(framesEnd(segment!).length, framesEnd(segment!).end);
  } finally {
    removeDir(dir);
    if (copy !== null) removeDir(copy);
  }
});

test('rotation seals a preallocated segment at its last frame, and zeros never pass segmentMax', async () => {
  const dir = makeTempDir();
  const segmentMax = 40 * 1024;
  try {
    const store = await openStore(dir, { workers: 1, segmentMax, testHooks: { preallocate: { fromBytes: 0, chunkBytes: 16 * 1024 } } });
    await seed(store);
    await commitMany(store, 130);
    const live = segmentFiles(dir, BOOK);
    assert.ok(live.length >= 3, `${live.length} segments`);
    for (const file of live.slice(0, -1)) {
      const sealed = framesEnd(file);
      assert.equal(sealed.length, sealed.end, `${file} is sealed with no tail`);
    }
    const active = framesEnd(live.at(-1)!);
    assert.ok(active.length <= Math.max(active.end, segmentMax), 'no zeros past segmentMax');
    await store.close();
    let frames = 0;
    for (const file of segmentFiles(dir, BOOK)) {
      const closed = framesEnd(file);
      assert.equal(closed.length, closed.end);
      frames += closed.frames;
    }
    const reopened = await openStore(dir, { workers: 1, segmentMax });
    try {
      assert.equal((await reopened.readEvents(BOOK, 1, 1000)).length, frames);
    } finally {
      await reopened.close();
    }
  } finally {
    removeDir(dir);
  }
});
