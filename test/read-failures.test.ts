/**
 * Reads that fail, told apart by cause (G5 and G6 in src/log/segment.ts; spec/log-engine.md,
 * sections 4.5 and 12): only damage to the file is CORRUPT, named by file and frame offset, and
 * ends the book's writes. A read cut short by the reader itself, or failing for a reason that says
 * nothing about the bytes (out of descriptors, access withdrawn), rejects IO and leaves the book
 * writable. Real files throughout; faults come from a FileSystem wrapper, never from the engine.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { encodeAccountOpened } from '../src/core/event-codec.js';
import { StoreError } from '../src/core/errors.js';
import { formatAtUs } from '../src/core/time.js';
import type { SequencedEvent } from '../src/core/types.js';
import { RealFileSystem, type OpenFlags } from '../src/log/file-system.js';
import { FRAME_HEADER_BYTES } from '../src/log/frame.js';
import { LogStore } from '../src/log/log-store.js';
import { SegmentLog, segmentFileName } from '../src/log/segment.js';
import { expectStoreError } from './conformance/fixtures.js';
import { BOOK, metadataTx, seed, withDir } from './support/log-store-fixtures.js';
import { assertCorrupt, eventFrame, makeTempDir, re, removeTempDir, xorByte } from './support/segment-files.js';

type ReadFault =
  | { kind: 'none' }
  /** read(2) may return fewer bytes than asked: at most `bytes` per call. */
  | { kind: 'dribble'; bytes: number }
  /** The next read of a segment returns 0 although the file holds the bytes. */
  | { kind: 'zero' }
  /** Fail every open of a segment for reading, every fstat or every read with this errno. */
  | { kind: 'errno'; op: 'open' | 'fstat' | 'read'; errno: string };

/** The real file system, with faults on the reading of segment files only. */
class ReadFaults extends RealFileSystem {
  fault: ReadFault = { kind: 'none' };
  readonly #segments = new Set<number>();

  override openSync(file: string, flags: OpenFlags): number {
    const segment = flags === 'r' && path.basename(file).startsWith('segment-');
    if (segment) this.#fail('open', file);
    const fd = super.openSync(file, flags);
    if (segment) this.#segments.add(fd);
    return fd;
  }
  override closeSync(fd: number): void {
    this.#segments.delete(fd);
    super.closeSync(fd);
  }
  override fstatSizeSync(fd: number): number {
    if (this.#segments.has(fd)) this.#fail('fstat', `fd ${fd}`);
    return super.fstatSizeSync(fd);
  }
  override readSync(fd: number, target: Uint8Array, positionBytes: number): number {
    if (!this.#segments.has(fd)) return super.readSync(fd, target, positionBytes);
    this.#fail('read', `fd ${fd}`);
    const fault = this.fault;
    if (fault.kind === 'zero') {
      this.fault = { kind: 'none' };
      return 0;
    }
    if (fault.kind === 'dribble') return super.readSync(fd, target.subarray(0, Math.min(target.length, fault.bytes)), positionBytes);
    return super.readSync(fd, target, positionBytes);
  }
  #fail(op: 'open' | 'fstat' | 'read', what: string): void {
    const fault = this.fault;
    if (fault.kind === 'errno' && fault.op === op) {
      throw Object.assign(new Error(`${fault.errno}: injected ${op} failure on ${what}`), { code: fault.errno, syscall: op });
    }
  }
}

const BASE_US = Date.UTC(2026, 0, 1) * 1000;

/** An account_opened frame of seq `seq`, about `bytes` long. */
function frame(seq: number, bytes: number): Buffer {
  const eventJson = encodeAccountOpened({ id: { book: BOOK, path: `${seq}:${'p'.repeat(bytes)}` }, asset: 'USD', kind: 'asset' }, { normal_side: null, min_balance: null });
  return eventFrame(seq, formatAtUs(BASE_US + seq), eventJson);
}

function scanSeqs(log: SegmentLog): number[] {
  const seqs: number[] = [];
  log.scan(1, Number.MAX_SAFE_INTEGER, log.lastSeq, (decoded) => {
    seqs.push(decoded.seq);
    return true;
  });
  return seqs;
}

/** A book of frames over 64 KiB, each larger than the one before, plus small ones around them. */
function withLog(body: (log: SegmentLog, faults: ReadFaults, file: string, offsets: number[]) => void): void {
  const dataDir = makeTempDir();
  try {
    fs.mkdirSync(path.join(dataDir, 'books'));
    const faults = new ReadFaults();
    const log = new SegmentLog(faults, dataDir, BOOK);
    const sizes = [100, 70_000, 80_000, 10, 200_000, 50];
    log.appendBatch(sizes.map((bytes, index) => frame(index + 1, bytes)), 1, 1 << 30);
    const offsets = sizes.map((_, index) => log.offsetOf(index + 1));
    body(log, faults, path.join(dataDir, 'books', BOOK, segmentFileName(1)), offsets);
    log.close();
  } finally {
    removeTempDir(dataDir);
  }
}

function assertIo(error: unknown, message: RegExp): true {
  assert(error instanceof StoreError, `expected a StoreError, got ${String(error)}`);
  assert.equal(error.code, 'IO', error.message);
  assert.match(error.message, message);
  return true;
}

test('short reads the file system is allowed to return are completed, never damage', () => {
  withLog((log, faults) => {
    for (const bytes of [1, 3, 8, 4097]) {
      faults.fault = { kind: 'dribble', bytes };
      assert.deepEqual(scanSeqs(log), [1, 2, 3, 4, 5, 6]);
      assert.equal(log.readEvent(5).seq, 5);
    }
  });
});

test('a read the reader cut short while the file holds the frame is IO, not CORRUPT', () => {
  withLog((log, faults, file) => {
    // The next read after visiting `armAt` frames returns nothing, though fstat says the bytes are
    // there: at the scan's first read, and at each refill for the big frames after it.
    for (let armAt = 0; armAt <= 3; armAt++) {
      faults.fault = armAt === 0 ? { kind: 'zero' } : { kind: 'none' };
      const visited: number[] = [];
      assert.throws(
        () =>
          log.scan(1, Number.MAX_SAFE_INTEGER, log.lastSeq, (decoded) => {
            visited.push(decoded.seq);
            if (visited.length === armAt) faults.fault = { kind: 'zero' };
            return true;
          }),
        (error) => assertIo(error, new RegExp(`${re(file)}" at offset \\d+ returned 0 of \\d+ bytes`)),
      );
      assert(visited.length < 6, `armed after ${armAt} frames, the scan still read them all`);
    }
    faults.fault = { kind: 'zero' };
    assert.throws(() => log.readEvent(3), (error) => assertIo(error, /returned 0 of 8 bytes/));
    assert.deepEqual(scanSeqs(log), [1, 2, 3, 4, 5, 6]); // nothing was damaged
  });
});

test('read failures that say nothing about the bytes are IO; a failed read of the bytes is CORRUPT at the frame', () => {
  withLog((log, faults, file, offsets) => {
    faults.fault = { kind: 'errno', op: 'open', errno: 'EACCES' };
    assert.throws(() => scanSeqs(log), (error) => assertIo(error, new RegExp(`cannot open segment "${re(file)}" at offset 0: EACCES`)));
    assert.throws(() => log.readEvent(3), (error) => assertIo(error, new RegExp(`at offset ${offsets[2]}: EACCES`)));
    // Out of descriptors is no verdict on the log at all: the error passes through as it is (G7),
    // for the shard to refuse the job (OVERLOADED for a write, IO for a read: src/log/fd-budget.ts).
    for (const errno of ['EMFILE', 'ENFILE']) {
      faults.fault = { kind: 'errno', op: 'open', errno };
      const isPressure = (error: unknown): boolean => !(error instanceof StoreError) && (error as { code?: string }).code === errno;
      assert.throws(() => scanSeqs(log), isPressure);
      assert.throws(() => log.readEvent(3), isPressure);
    }
    faults.fault = { kind: 'errno', op: 'fstat', errno: 'ENOMEM' };
    assert.throws(() => log.readEvent(2), (error) => assertIo(error, /cannot read the length of segment/));
    faults.fault = { kind: 'errno', op: 'read', errno: 'EINTR' };
    assert.throws(() => log.readEvent(2), (error) => assertIo(error, /cannot read segment/));
    // A latent sector error reads as EIO: damage (section 12), named by file and frame offset.
    faults.fault = { kind: 'errno', op: 'read', errno: 'EIO' };
    assert.throws(() => log.readEvent(3), (error) => assertCorrupt(error, { book: BOOK, file, offset: offsets[2]!, message: /cannot read segment \(EIO/ }));
    assert.throws(() => scanSeqs(log), (error) => assertCorrupt(error, { book: BOOK, file, offset: 0, message: /EIO/ }));
    faults.fault = { kind: 'none' };
    assert.deepEqual(scanSeqs(log), [1, 2, 3, 4, 5, 6]);
  });
});

test('real damage in and around frames over a chunk is CORRUPT with the file and the frame offset', () => {
  withLog((log, _faults, file, offsets) => {
    const pristine = fs.readFileSync(file);
    const restore = (): void => fs.writeFileSync(file, pristine);
    // A flipped byte inside the larger of two big frames.
    xorByte(file, offsets[2]! + 40_000);
    assert.throws(() => scanSeqs(log), (error) => assertCorrupt(error, { book: BOOK, file, offset: offsets[2]!, message: /crc mismatch/ }));
    assert.throws(() => log.readEvent(3), (error) => assertCorrupt(error, { book: BOOK, file, offset: offsets[2]!, message: /crc mismatch/ }));
    restore();
    // A length field that points past the end of the file, and one of zero.
    const bytes = Buffer.from(pristine);
    bytes.writeUInt32LE(0x7fffff, offsets[4]!);
    fs.writeFileSync(file, bytes);
    assert.throws(() => scanSeqs(log), (error) => assertCorrupt(error, { book: BOOK, file, offset: offsets[4]!, message: /torn payload/ }));
    bytes.writeUInt32LE(0, offsets[4]!);
    fs.writeFileSync(file, bytes);
    assert.throws(() => scanSeqs(log), (error) => assertCorrupt(error, { book: BOOK, file, offset: offsets[4]!, message: /length 0 out of range/ }));
    restore();
    // The file loses the end of a big frame below the watermark, or its whole last frame.
    fs.truncateSync(file, offsets[4]! + FRAME_HEADER_BYTES + 100_000);
    assert.throws(() => scanSeqs(log), (error) => assertCorrupt(error, { book: BOOK, file, offset: offsets[4]!, message: /torn payload/ }));
    assert.throws(() => log.readEvent(5), (error) => assertCorrupt(error, { book: BOOK, file, offset: offsets[4]!, message: /torn payload/ }));
    fs.truncateSync(file, offsets[4]! + 3);
    assert.throws(() => log.readEvent(5), (error) => assertCorrupt(error, { book: BOOK, file, offset: offsets[4]!, message: /torn header/ }));
    restore();
    fs.truncateSync(file, offsets[5]!);
    assert.throws(() => scanSeqs(log), (error) => assertCorrupt(error, { book: BOOK, file, offset: offsets[5]!, message: /unexpected end of segment/ }));
    restore();
    assert.deepEqual(scanSeqs(log), [1, 2, 3, 4, 5, 6]);
  });
});

// --- through the store ----------------------------------------------------------------------------


async function firstEvent(store: LogStore): Promise<SequencedEvent> {
  const stream = store.subscribe(BOOK, 1);
  try {
    const next = await stream.next();
    assert.equal(next.done, false);
    return next.value!;
  } finally {
    await stream.return();
  }
}

test('store: a read failing IO leaves the book writable; damage found by a read ends its writes', async () => {
  await withDir(async (dir, track) => {
    const faults = new ReadFaults();
    const store = track(await LogStore.open(dir, { workers: 1, testHooks: { inProcess: true, fileSystem: faults } }));
    await seed(store);
    const big = metadataTx('x'.repeat(70_000));
    const bigger = metadataTx('y'.repeat(80_000));
    await store.commit(big);
    const committed = await store.commit(bigger);
    await store.commit(metadataTx(null));
    const file = path.join(dir, 'books', BOOK, segmentFileName(1));

    // Out of descriptors: every disk read fails IO, and nothing ends the book.
    faults.fault = { kind: 'errno', op: 'open', errno: 'EMFILE' };
    await expectStoreError(store.readEvents(BOOK, 1, 10), 'IO');
    await expectStoreError(store.trialBalance(BOOK, new Date()), 'IO');
    await expectStoreError(store.transaction(bigger.id), 'IO');
    await expectStoreError(firstEvent(store), 'IO');
    // An idempotent retry compares content with its original frame: that read finds no
    // descriptor, so the job is refused OVERLOADED (nothing written, retry later: fd-budget.ts);
    // it is never treated as a miss, and the book lives on.
    await expectStoreError(store.commit(bigger), 'OVERLOADED');
    assert.equal((await store.commit(metadataTx(null))).seq, 6);
    faults.fault = { kind: 'zero' }; // the reader's own short read
    await expectStoreError(store.readEvents(BOOK, 1, 10), 'IO');
    faults.fault = { kind: 'none' };
    assert.equal((await store.commit(metadataTx(null))).seq, 7);
    assert.deepEqual(await store.commit(bigger), committed);
    assert.equal((await store.readEvents(BOOK, 1, 10)).length, 7);
    assert.equal((await firstEvent(store)).seq, 1);

    // Damage inside the larger big frame: CORRUPT with its file and offset, and the book's writes end.
    const offset = fs.readFileSync(file).indexOf('{"seq":4,') - FRAME_HEADER_BYTES;
    assert(offset > 70_000);
    xorByte(file, offset + FRAME_HEADER_BYTES + 50_000);
    const corrupt = await expectStoreError(store.readEvents(BOOK, 1, 10), 'CORRUPT');
    assertCorrupt(corrupt, { book: BOOK, file, offset, message: /crc mismatch/ });
    await expectStoreError(store.commit(metadataTx(null)), 'BOOK_UNAVAILABLE');
    await store.close();
    // The next open refuses with the same file and offset (R3: intact frames follow).
    const reopened = await expectStoreError(LogStore.open(dir, { workers: 1 }), 'CORRUPT');
    assertCorrupt(reopened, { book: BOOK, file, offset });
  });
});
