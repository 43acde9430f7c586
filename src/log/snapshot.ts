/**
 * Snapshot files (spec/log-engine.md, section 8): a book's state as of seq S, so opening the book
 * replays only the frames after S. A snapshot is a cache, never an authority: the log decides.
 *
 *   offset 0       8   magic "TALEASNP"
 *   offset 8       4   format version, u32 LE (2 is written; 1 and 2 are read)
 *   offset 12      4   flags, u32 LE (0)
 *   offset 16      8   S, u64 LE (equals the seq in the file name)
 *   offset 24      n   payload: MessagePack records (section 8.3, with the changes of version 2)
 *   offset 24 + n  8   n, u64 LE
 *   offset 32 + n  4   CRC-32 of bytes 0 .. 32 + n - 1 (the whole file but this field)
 *
 * Version 2 keeps the framing and the records of version 1 (`book`, `account`, `postings`, `txids`,
 * `idem`, `sums`, `assets`, `end`, in that order), but its two large tables are columns: a `txids`
 * or `idem` record holds up to COLUMN_ENTRIES_PER_RECORD entries as a few MessagePack bins of
 * fixed-width little-endian values (docs/on-disk-format.md), not one small array per entry:
 *
 *   ['txids', count, txids 16×count, seqs f64×count, segment bases f64×count, offsets f64×count]
 *   ['idem', count, key byte lengths u32×count, keys (UTF-8, back to back), txids 16×count,
 *            seqs f64×count, atUs f64×count, segment bases f64×count, offsets f64×count]
 *
 * so that loading a million-entry table decodes about a thousand bins and copies them in bulk into the
 * tables (TxidTable#importColumns, IdemIndex#appendHot), instead of a million small arrays that the
 * garbage collector has to trace. Version 1 (one array per entry, `[txid, seq, base, offset]` and
 * `[key, txid, seq, atUs, base, offset]`, 4,096 per record) is still read; its encoder lives in
 * test/support/snapshot-v1.ts, for the tests that keep that path honest.
 *
 * N1. Written as tmp (created exclusively) → fsync → rename → directory fsync; the newest two are
 *     kept. A failure leaves the log intact; only the snapshot is lost.
 * N2. Taken from a consistent cut: what can still change is copied at the cut, what only grows is
 *     recorded by length, so encoding can proceed in slices while batches continue.
 * N3. Loading checks length, magic, version, flags, CRC, S against the name, and the whole schema
 *     (every count, column length, range and order); an unusable file is skipped with a warning
 *     (R12), never trusted.
 * N4. Names (on-disk layout 2): written as `snapshot-<S:020>.tsnap`, a name the Rust store never
 *     reads. Layout 1 (`snapshot-<S>.snap`, this package up to 0.1.x) is the Rust store's name too:
 *     such a file is read, pruned or replaced only when it begins with TALEASNP (a Rust snapshot
 *     begins with a CRC and then JSON, so it never does); any other is left alone (O2 in
 *     src/log/book-files.ts).
 * N5. Columns are little-endian, the byte order of every platform Node supports here (asserted at
 *     load of this module), so a column is copied byte for byte into a typed array.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { Packr } from 'msgpackr';
import { accountKey } from '../core/account-key.js';
import { AtomicFileWriter } from './atomic-file.js';
import { AccountState, BookState, postingsOf } from './book-state.js';
import type { FileSystem } from './file-system.js';
import { readFully, startsWithBytes } from './file-system.js';
import type { HotEntry, IdemIndex } from './idem-index.js';
import { PostingIndex } from './posting-index.js';
import type { TxidTable } from './txid-table.js';
import {
  ACCOUNT_KINDS,
  I64_MAX,
  I64_MIN,
  SYSTEM_BOOK,
  type AccountCfg,
  type AccountDef,
  type AssetClass,
  type AssetDef,
} from '../core/types.js';

export const SNAPSHOT_MAGIC = Buffer.from('TALEASNP', 'ascii');
/** The version this build writes. */
export const SNAPSHOT_VERSION = 2;
/** The versions this build reads. */
export const SNAPSHOT_VERSIONS_READ: readonly number[] = [1, 2];
export const SNAPSHOT_HEADER_BYTES = 24;
export const SNAPSHOT_TRAILER_BYTES = 12;
const HEADER_BYTES = SNAPSHOT_HEADER_BYTES;
const TRAILER_BYTES = SNAPSHOT_TRAILER_BYTES;
/**
 * Entries per `postings`, `txids` and `idem` record (version 2), as in version 1. A record costs the
 * loader a handful of objects whatever its size, so 4,096 is already few enough; what it bounds is
 * the writer's slice (N2, spec 8.6): one record is a few hundred KiB (a posting entry is 49 bytes,
 * a txid entry 40, an idempotency entry 52 plus its key) and a few milliseconds to encode. Measured
 * on the 1,000,000-transaction book: 16,384 per record made slices of up to 15 ms (p99) and loaded
 * no faster.
 */
export const COLUMN_ENTRIES_PER_RECORD = 4096;
/** An `idem` record ends early once its keys reach this many bytes (a key may be megabytes long). */
export const IDEM_KEY_BYTES_PER_RECORD_TARGET = 4 * 1024 * 1024;
const TXID_BYTES = 16;
const F64_BYTES = 8;
const U32_BYTES = 4;
export const SNAPSHOTS_RETAINED = 2;

// N5: column bytes are little-endian and copied into native typed arrays as they are.
assert.equal(os.endianness(), 'LE');
assert(SNAPSHOT_VERSIONS_READ.includes(SNAPSHOT_VERSION));
assert(COLUMN_ENTRIES_PER_RECORD * TXID_BYTES < 2 ** 32); // a column's length fits a MessagePack bin 32

/** Layout 2 (N4). */
const SNAPSHOT_NAME_PATTERN = /^snapshot-(\d+)\.tsnap$/;
/** Layout 1, shared with the Rust store (N4). */
const LEGACY_SNAPSHOT_NAME_PATTERN = /^snapshot-(\d+)\.snap$/;

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true });

/** The name this version writes (layout 2, N4). */
export function snapshotFileName(seq: number): string {
  return `snapshot-${String(seq).padStart(20, '0')}.tsnap`;
}

/** The seq of a layout-2 snapshot name, or null. */
export function parseSnapshotFileName(name: string): number | null {
  return seqOf(SNAPSHOT_NAME_PATTERN.exec(name));
}

/** The seq of a layout-1 snapshot name (this package up to 0.1.x, or the Rust store), or null. */
export function parseLegacySnapshotFileName(name: string): number | null {
  return seqOf(LEGACY_SNAPSHOT_NAME_PATTERN.exec(name));
}

function seqOf(match: RegExpExecArray | null): number | null {
  if (match === null) return null;
  const seq = Number(match[1]);
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : null;
}

/** Whether a layout-1 snapshot file is this package's: it begins with the magic (N4). */
export function isOwnLegacySnapshot(fileSystem: FileSystem, file: string): boolean {
  return startsWithBytes(fileSystem, file, SNAPSHOT_MAGIC);
}

// --- the cut and the encoder ------------------------------------------------------------------

/** What a snapshot needs from the book, fixed at one moment between batches (N2). */
export interface SnapshotCut {
  book: string;
  seq: number;
  atLastUs: number | null;
  spilledThroughSeq: number;
  sumsSaturated: boolean;
  sums: Array<[string, bigint, bigint]>;
  assets: AssetDef[];
  accounts: Array<{ key: string; def: AccountDef; cfg: AccountCfg; rawBalance: bigint; updatedSeq: number; postingCount: number; postings: PostingIndex }>;
  txidCount: number;
  txids: TxidTable;
  idemCount: number;
  idem: IdemIndex;
  /** The position of a seq's frame, for txid and idem entries. */
  positionOf(seq: number): { base: number; offset: number };
}

export function captureCut(state: BookState, positionOf: (seq: number) => { base: number; offset: number }): SnapshotCut {
  assert(state.lastSeq >= 1); // an empty book is never snapshotted
  return {
    book: state.book,
    seq: state.lastSeq,
    atLastUs: state.atLastUs,
    spilledThroughSeq: state.idempotency.spilledThroughSeq,
    sumsSaturated: state.sumsSaturated,
    sums: [...state.sums].map(([asset, row]) => [asset, row.debits, row.credits]),
    assets: [...state.assets.values()].map((def) => structuredClone(def)),
    accounts: [...state.accounts].map(([key, account]) => ({
      key,
      def: account.def,
      cfg: account.cfg,
      rawBalance: account.rawBalance,
      updatedSeq: account.updatedSeq,
      postingCount: postingsOf(account).length,
      postings: postingsOf(account),
    })),
    txidCount: state.txids.size,
    txids: state.txids,
    idemCount: state.idempotency.hotSize,
    idem: state.idempotency,
    positionOf,
  };
}

/** The payload as a sequence of packed records (version 2); each yielded buffer is one record. */
export function* encodeSnapshotPayload(cut: SnapshotCut): Generator<Buffer> {
  const counts = [cut.accounts.length, cut.accounts.reduce((sum, account) => sum + account.postingCount, 0), cut.txidCount, cut.idemCount, cut.assets.length];
  yield packr.pack(['book', cut.book, cut.seq + 1, cut.atLastUs, cut.spilledThroughSeq, cut.sumsSaturated, ...counts]);
  for (const account of cut.accounts) {
    yield packr.pack(['account', account.key, account.def, account.cfg, account.rawBalance, account.updatedSeq, account.postingCount]);
    for (let start = 0; start < account.postingCount; start += COLUMN_ENTRIES_PER_RECORD) {
      const columns = account.postings.exportColumns(start, Math.min(account.postingCount, start + COLUMN_ENTRIES_PER_RECORD));
      yield packr.pack(['postings', columns.seqs, columns.atUs, columns.txids, columns.minors, columns.directions, columns.rawAfters]);
    }
  }
  for (let start = 0; start < cut.txidCount; start += COLUMN_ENTRIES_PER_RECORD) {
    yield encodeTxidRecord(cut, start, Math.min(cut.txidCount, start + COLUMN_ENTRIES_PER_RECORD));
  }
  const hot = cut.idem.hotEntries(cut.idemCount);
  for (let start = 0; start < cut.idemCount; ) {
    const record = encodeIdemRecord(cut, hot, Math.min(cut.idemCount - start, COLUMN_ENTRIES_PER_RECORD));
    start += record.count;
    yield record.bytes;
  }
  assert(hot.next().done === true); // every record of the cut was written
  yield packr.pack(['sums', cut.sums]);
  if (cut.book === SYSTEM_BOOK) yield packr.pack(['assets', cut.assets]);
  yield packr.pack(['end', ...counts]);
}

/** A typed array's bytes as a Buffer over the same memory (packed as a MessagePack bin). */
function bytesOf(array: Float64Array | Uint32Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

/** `['txids', count, txids, seqs, bases, offsets]` for the txid entries [start, end). */
function encodeTxidRecord(cut: SnapshotCut, start: number, end: number): Buffer {
  const count = end - start;
  assert(count >= 1 && count <= COLUMN_ENTRIES_PER_RECORD);
  const keys = cut.txids.keyBytesView(); // read at once: growth replaces it (X1 of txid-table.ts)
  const txids = Buffer.from(keys.buffer, keys.byteOffset + start * TXID_BYTES, count * TXID_BYTES);
  const seqs = new Float64Array(count);
  const bases = new Float64Array(count);
  const offsets = new Float64Array(count);
  for (let index = 0; index < count; index++) {
    const seq = cut.txids.valueAt(start + index);
    const { base, offset } = cut.positionOf(seq);
    seqs[index] = seq;
    bases[index] = base;
    offsets[index] = offset;
  }
  return packr.pack(['txids', count, txids, bytesOf(seqs), bytesOf(bases), bytesOf(offsets)]);
}

/**
 * The next `idem` record: up to `countMax` hot records from `hot`, fewer when the keys reach
 * IDEM_KEY_BYTES_PER_RECORD_TARGET bytes (never none).
 */
function encodeIdemRecord(cut: SnapshotCut, hot: Generator<Readonly<HotEntry>>, countMax: number): { bytes: Buffer; count: number } {
  assert(countMax >= 1 && countMax <= COLUMN_ENTRIES_PER_RECORD);
  const keys: string[] = [];
  const keyLengths = new Uint32Array(countMax);
  const txids = Buffer.alloc(countMax * TXID_BYTES);
  const seqs = new Float64Array(countMax);
  const atUs = new Float64Array(countMax);
  const bases = new Float64Array(countMax);
  const offsets = new Float64Array(countMax);
  let keyBytes = 0;
  let count = 0;
  while (count < countMax && keyBytes < IDEM_KEY_BYTES_PER_RECORD_TARGET) {
    const entry = hot.next().value as HotEntry;
    const { base, offset } = cut.positionOf(entry.seq);
    // Input refuses lone surrogates (src/core/input.ts), and only a well-formed string has UTF-8
    // bytes that decode back to it; any other would come back with U+FFFD in its place.
    assert(entry.key.isWellFormed(), 'an idempotency key with a lone surrogate');
    keys.push(entry.key);
    keyLengths[count] = Buffer.byteLength(entry.key, 'utf8');
    keyBytes += keyLengths[count]!;
    txids.set(entry.txids.subarray(entry.txidOffset, entry.txidOffset + TXID_BYTES), count * TXID_BYTES);
    seqs[count] = entry.seq;
    atUs[count] = entry.atUs;
    bases[count] = base;
    offsets[count] = offset;
    count++;
  }
  const keyBlob = Buffer.allocUnsafe(keyBytes);
  let at = 0;
  for (let index = 0; index < count; index++) {
    const written = keyBlob.write(keys[index]!, at, 'utf8');
    assert.equal(written, keyLengths[index]); // the room was measured, so every key is written whole
    at += written;
  }
  assert.equal(at, keyBytes);
  const bytes = packr.pack([
    'idem',
    count,
    bytesOf(keyLengths.subarray(0, count)),
    keyBlob,
    txids.subarray(0, count * TXID_BYTES),
    bytesOf(seqs.subarray(0, count)),
    bytesOf(atUs.subarray(0, count)),
    bytesOf(bases.subarray(0, count)),
    bytesOf(offsets.subarray(0, count)),
  ]);
  return { bytes, count };
}

// --- writing ----------------------------------------------------------------------------------

/**
 * Writes one snapshot in steps, so a worker can interleave it with batches (N2): each `step` call
 * encodes and writes roughly `budgetBytes`, and the last one installs the file (N1).
 */
export class SnapshotWriter {
  readonly finalPath: string;
  readonly tmpPath: string;
  readonly #file: AtomicFileWriter;
  #started = false;
  #payloadBytes = 0;
  readonly #records: Generator<Buffer>;
  #done = false;

  constructor(
    readonly fileSystem: FileSystem,
    readonly bookDir: string,
    readonly cut: SnapshotCut,
  ) {
    this.#file = new AtomicFileWriter(fileSystem, path.join(bookDir, snapshotFileName(cut.seq)));
    this.finalPath = this.#file.finalPath;
    this.tmpPath = this.#file.tmpPath;
    this.#records = encodeSnapshotPayload(cut);
  }

  /** Does one slice of work; returns true when the snapshot is durable and installed. Throws on failure. */
  step(budgetBytes: number): boolean {
    assert(!this.#done);
    if (!this.#started) {
      this.#started = true;
      const header = Buffer.alloc(HEADER_BYTES);
      SNAPSHOT_MAGIC.copy(header, 0);
      header.writeUInt32LE(SNAPSHOT_VERSION, 8);
      header.writeUInt32LE(0, 12);
      header.writeBigUInt64LE(BigInt(this.cut.seq), 16);
      this.#file.write([header]);
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    for (;;) {
      const next = this.#records.next();
      if (next.done === true) break;
      chunks.push(next.value);
      bytes += next.value.length;
      this.#payloadBytes += next.value.length;
      if (bytes >= budgetBytes) {
        this.#file.write(chunks);
        return false;
      }
    }
    const trailer = Buffer.alloc(TRAILER_BYTES);
    trailer.writeBigUInt64LE(BigInt(this.#payloadBytes), 0);
    chunks.push(trailer.subarray(0, 8));
    this.#file.write(chunks);
    trailer.writeUInt32LE(this.#file.crc, 8);
    this.#file.writeUnchecked([trailer.subarray(8)]);
    this.#file.install();
    this.#done = true;
    return true;
  }

  /** Gives up: closes and removes the temporary file if it can (N1). */
  abandon(): void {
    this.#file.abandon();
  }
}

/**
 * Deletes all but the newest SNAPSHOTS_RETAINED of this package's snapshots, of either layout
 * (another store's files are never touched, N4); returns the files it could not delete.
 */
export function pruneSnapshots(fileSystem: FileSystem, bookDir: string): string[] {
  let snapshots: SnapshotFile[];
  try {
    snapshots = listSnapshotFiles(fileSystem, bookDir).ours;
  } catch {
    return [bookDir]; // pruning is retried after the next snapshot
  }
  const failed: string[] = [];
  const deleted: string[] = [];
  for (const { file } of snapshots.slice(SNAPSHOTS_RETAINED)) {
    try {
      fileSystem.unlinkSync(file);
      deleted.push(file);
    } catch {
      failed.push(file);
    }
  }
  if (deleted.length > 0) {
    try {
      fileSystem.fsyncDirSync(bookDir);
    } catch {
      failed.push(...deleted); // the deletions may not be durable: harmless, old snapshots are caches
    }
  }
  return failed;
}

/** The seqs of the layout-2 snapshots in the directory (the ones this version writes), newest first. */
export function listSnapshots(fileSystem: FileSystem, bookDir: string): number[] {
  const seqs: number[] = [];
  for (const name of fileSystem.readdirSync(bookDir)) {
    const seq = parseSnapshotFileName(name);
    if (seq !== null) seqs.push(seq);
  }
  return seqs.sort((left, right) => right - left);
}

export interface SnapshotFile {
  file: string;
  seq: number;
  /** A layout-1 name, whose file begins with this package's magic (N4). */
  legacy: boolean;
}

/**
 * This package's snapshot files of both layouts, newest first (of one seq, the layout-2 file
 * first), and the layout-1 files that are not this package's (N4), which nothing may touch.
 */
export function listSnapshotFiles(fileSystem: FileSystem, bookDir: string): { ours: SnapshotFile[]; foreign: string[] } {
  const ours: SnapshotFile[] = [];
  const foreign: string[] = [];
  for (const name of fileSystem.readdirSync(bookDir)) {
    const file = path.join(bookDir, name);
    const seq = parseSnapshotFileName(name);
    if (seq !== null) {
      ours.push({ file, seq, legacy: false });
      continue;
    }
    const legacySeq = parseLegacySnapshotFileName(name);
    if (legacySeq === null) continue;
    if (isOwnLegacySnapshot(fileSystem, file)) ours.push({ file, seq: legacySeq, legacy: true });
    else foreign.push(file);
  }
  ours.sort((left, right) => right.seq - left.seq || Number(left.legacy) - Number(right.legacy));
  return { ours, foreign };
}

// --- loading ----------------------------------------------------------------------------------

/** A snapshot that passed its own checks (N3), with the data the open still has to verify. */
export interface LoadedSnapshot {
  file: string;
  seq: number;
  state: BookState;
  /** Positions recorded in the snapshot, checked against the log by the caller if it wishes. */
}

export class SnapshotUnusable extends Error {
  override readonly name = 'SnapshotUnusable';
}

function unusable(message: string): never {
  throw new SnapshotUnusable(message);
}

/** Reads and checks one snapshot file (checks 1 to 6 of section 8.8). Throws SnapshotUnusable. */
/**
 * Bytes of a snapshot read at a time. The file is read twice through one buffer this size, never
 * into a buffer as long as the file: first for its CRC, then for its records, each decoded and
 * consumed while its bytes are in the buffer. A 200 MB snapshot read in one piece spent more time
 * faulting in the fresh buffer's pages than copying into them.
 */
export const SNAPSHOT_LOAD_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Loads and checks one snapshot file (N3). Throws SnapshotUnusable for anything wrong with it,
 * including a file that cannot be read. `chunkBytes` is for tests (records across every boundary).
 */
export function loadSnapshot(fileSystem: FileSystem, file: string, book: string, nameSeq: number, chunkBytes = SNAPSHOT_LOAD_CHUNK_BYTES): LoadedSnapshot {
  let fd: number;
  try {
    fd = fileSystem.openSync(file, 'r');
  } catch (error) {
    unusable(`cannot be read (${(error as Error).message})`);
  }
  try {
    const reader = new SnapshotReader(fileSystem, fd, chunkBytes);
    const size = reader.size;
    if (size < HEADER_BYTES + TRAILER_BYTES) unusable(`is ${size} bytes long, shorter than ${HEADER_BYTES + TRAILER_BYTES}`);
    const header = Buffer.from(reader.read(0, HEADER_BYTES));
    const trailer = Buffer.from(reader.read(size - TRAILER_BYTES, TRAILER_BYTES));
    if (!header.subarray(0, 8).equals(SNAPSHOT_MAGIC)) unusable('has no TALEASNP magic');
    const version = header.readUInt32LE(8);
    if (!SNAPSHOT_VERSIONS_READ.includes(version)) unusable(`has format version ${version}; this build reads versions ${SNAPSHOT_VERSIONS_READ.join(' and ')}`);
    if (header.readUInt32LE(12) !== 0) unusable('has unknown flags');
    if (trailer.readBigUInt64LE(0) !== BigInt(size - HEADER_BYTES - TRAILER_BYTES)) unusable('has a length field that does not match its size');
    let crc = 0;
    for (let at = 0; at < size - 4; at += reader.chunkBytes) {
      const length = Math.min(reader.chunkBytes, size - 4 - at);
      crc = zlib.crc32(reader.read(at, length), crc);
    }
    if (crc !== trailer.readUInt32LE(8)) unusable('fails its CRC');
    const seq = header.readBigUInt64LE(16);
    if (seq !== BigInt(nameSeq) || nameSeq < 1) unusable(`holds seq ${seq}, but its name says ${nameSeq}`);
    const records = new RecordStream(reader, HEADER_BYTES, size - TRAILER_BYTES);
    const state = decodeState(records, book, nameSeq, size, version);
    return { file, seq: nameSeq, state };
  } finally {
    try {
      fileSystem.closeSync(fd);
    } catch {
      // a failed close still frees the descriptor (Linux)
    }
  }
}

/** Reads a snapshot file through one reused buffer; a failed or short read makes it unusable. */
class SnapshotReader {
  readonly size: number;
  #buffer: Buffer;

  constructor(
    readonly fileSystem: FileSystem,
    readonly fd: number,
    readonly chunkBytes: number,
  ) {
    try {
      this.size = fileSystem.fstatSizeSync(fd);
    } catch (error) {
      unusable(`cannot be read (${(error as Error).message})`);
    }
    this.#buffer = Buffer.allocUnsafeSlow(Math.max(1, Math.min(chunkBytes, this.size)));
  }

  /** The `length` bytes at `position`, valid until the next call; room grows to fit them. */
  read(position: number, length: number, into = 0): Buffer {
    if (into + length > this.#buffer.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(into + length, this.#buffer.length * 2));
      this.#buffer.copy(grown, 0, 0, into);
      this.#buffer = grown;
    }
    let read: number;
    try {
      read = readFully(this.fileSystem, this.fd, this.#buffer.subarray(into, into + length), position);
    } catch (error) {
      unusable(`cannot be read (${(error as Error).message})`);
    }
    if (read !== length) unusable(`cannot be read (it ended at byte ${position + read} of ${this.size})`);
    return this.#buffer.subarray(0, into + length);
  }
}

const END_OF_RECORDS = Symbol('end of records');

/**
 * The payload's MessagePack records, decoded a buffer at a time as decodeState asks for them. A
 * record's binary values are views into the reader's buffer, valid until the next record is
 * asked for, so each is consumed (copied into the tables) before the next.
 */
class RecordStream {
  #records: unknown[] = [];
  #next = 0;
  /** The buffer's bytes from the file's `#bufferAt`: `#filled` of them, decoded up to `#decodedTo`. */
  #buffer: Buffer = Buffer.alloc(0);
  #bufferAt: number;
  #filled = 0;
  #decodedTo = 0;

  constructor(
    readonly reader: SnapshotReader,
    start: number,
    readonly end: number,
  ) {
    this.#bufferAt = start;
  }

  /** The next record without taking it, or END_OF_RECORDS. */
  peek(): unknown {
    while (this.#next === this.#records.length) {
      if (this.#bufferAt + this.#decodedTo === this.end) return END_OF_RECORDS;
      this.#decodeMore();
    }
    return this.#records[this.#next];
  }

  take(): unknown {
    const record = this.peek();
    if (record !== END_OF_RECORDS) this.#next++;
    return record;
  }

  /** Keeps the bytes not yet decoded, reads on, and decodes every whole record they hold. */
  #decodeMore(): void {
    const kept = this.#filled - this.#decodedTo;
    const keptAt = this.#bufferAt + this.#decodedTo;
    const room = Math.max(this.reader.chunkBytes, kept * 2); // a record longer than the buffer doubles it
    const length = Math.min(room - kept, this.end - keptAt - kept);
    if (kept > 0) this.#buffer.copy(this.#buffer, 0, this.#decodedTo, this.#filled); // before read() may reuse it
    this.#buffer = this.reader.read(keptAt + kept, length, kept);
    this.#bufferAt = keptAt;
    this.#filled = kept + length;
    this.#decodedTo = 0;
    this.#records = [];
    this.#next = 0;
    try {
      packr.unpackMultiple(this.#buffer.subarray(0, this.#filled), (record: unknown, _start?: number, recordEnd?: number) => {
        this.#records.push(record);
        this.#decodedTo = recordEnd!;
      });
    } catch (error) {
      const incomplete = (error as { incomplete?: boolean }).incomplete === true;
      if (!incomplete || this.#bufferAt + this.#filled === this.end) unusable(`does not decode (${(error as Error).message})`);
    }
  }
}

// Schema-driven normalisation (section 8.2): MessagePack picks integer widths, we pick types.

function safeInteger(value: unknown, what: string, min = 0): number {
  const number = typeof value === 'bigint' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < min) unusable(`${what} is not a safe integer >= ${min}`);
  if (typeof value === 'bigint' && BigInt(number) !== value) unusable(`${what} is not a safe integer`);
  return number;
}

function i64(value: unknown, what: string): bigint {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) unusable(`${what} is not an integer`);
    return BigInt(value);
  }
  if (typeof value !== 'bigint' || value < I64_MIN || value > I64_MAX) unusable(`${what} is not an i64`);
  return value;
}

function string(value: unknown, what: string): string {
  if (typeof value !== 'string') unusable(`${what} is not a string`);
  return value;
}

function binary(value: unknown, what: string): Buffer {
  if (!(value instanceof Uint8Array)) unusable(`${what} is not binary`);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function array(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) unusable(`${what} is not an array`);
  return value;
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) unusable(`${what} is not a map`);
  return value as Record<string, unknown>;
}

function decodeDef(value: unknown, book: string): AccountDef {
  const def = object(value, 'def');
  const id = object(def.id, 'def.id');
  const kind = def.kind;
  if (!(ACCOUNT_KINDS as readonly unknown[]).includes(kind)) unusable('def.kind is not an account kind');
  const decoded: AccountDef = { id: { book: string(id.book, 'def.id.book'), path: string(id.path, 'def.id.path') }, asset: string(def.asset, 'def.asset'), kind: kind as AccountDef['kind'] };
  if (decoded.id.book !== book) unusable(`an account of book ${decoded.id.book} is in book ${book}`);
  return decoded;
}

function decodeCfg(value: unknown): AccountCfg {
  const cfg = object(value, 'cfg');
  const side = cfg.normal_side ?? null;
  if (side !== null && side !== 'debit' && side !== 'credit') unusable('cfg.normal_side is not a direction');
  return { normal_side: side, min_balance: cfg.min_balance === null || cfg.min_balance === undefined ? null : i64(cfg.min_balance, 'cfg.min_balance') };
}

function decodeAsset(value: unknown): AssetDef {
  const def = object(value, 'asset');
  let assetClass: AssetClass;
  if (def.class === 'fiat') assetClass = 'fiat';
  else {
    const crypto = object(object(def.class, 'asset.class').crypto, 'asset.class.crypto');
    const nativeId = crypto.native_id ?? null;
    assetClass = { crypto: { network: string(crypto.network, 'network'), native_id: nativeId === null ? null : string(nativeId, 'native_id') } };
  }
  const precision = safeInteger(def.precision, 'precision');
  if (precision > 255) unusable('precision is above 255');
  return { id: string(def.id, 'asset.id'), class: assetClass, precision, name: string(def.name, 'asset.name') };
}

/** The fewest payload bytes a posting, txid or hot idempotency entry takes: bounds what a count may reserve. */
const ENTRY_BYTES_MIN = 16;

function decodeState(records: RecordStream, book: string, seq: number, fileBytes: number, version: number): BookState {
  // Counts come from the file; room is reserved only for what the file could actually hold.
  const reserveFor = (count: number): number => (count * ENTRY_BYTES_MIN <= fileBytes ? count : 0);
  let index = 0;
  const next = (tag: string): unknown[] => {
    const taken = records.take();
    const record = array(taken === END_OF_RECORDS ? undefined : taken, `record ${index}`);
    if (record[0] !== tag) unusable(`record ${index} is ${String(record[0])}, expected ${tag}`);
    index++;
    return record;
  };
  const peekTag = (): unknown => {
    const record = records.peek();
    return Array.isArray(record) ? (record[0] as unknown) : undefined;
  };

  const head = next('book');
  if (string(head[1], 'book') !== book) unusable(`belongs to book ${String(head[1])}`);
  const state = new BookState(book);
  state.seqNext = safeInteger(head[2], 'seqNext', 1);
  if (state.seqNext !== seq + 1) unusable(`has seqNext ${state.seqNext}, expected ${seq + 1}`);
  state.atLastUs = head[3] === null ? null : safeInteger(head[3], 'atLastUs');
  if (state.atLastUs === null) unusable('has no last commit time');
  state.idempotency.spilledThroughSeq = safeInteger(head[4], 'spilledThroughSeq');
  if (state.idempotency.spilledThroughSeq > seq) unusable('has spilledThroughSeq beyond its seq');
  if (typeof head[5] !== 'boolean') unusable('sumsSaturated is not a boolean');
  state.sumsSaturated = head[5];
  const counts = head.slice(6, 11).map((count, position) => safeInteger(count, `count ${position}`));
  if (counts.length !== 5) unusable('book record has no counts');
  const [accountCount, postingTotal, txidCount, idemCount, assetCount] = counts as [number, number, number, number, number];

  let postingsSeen = 0;
  for (let accountIndex = 0; accountIndex < accountCount; accountIndex++) {
    const record = next('account');
    const key = string(record[1], 'account key');
    const def = decodeDef(record[2], book);
    if (accountKey(def.id) !== key) unusable(`account key ${key} does not match its def`);
    const account = AccountState.open(def, decodeCfg(record[3]), state.accounts.size, state.accountClasses);
    const rawBalance = i64(record[4], 'rawBalance');
    const updatedSeq = safeInteger(record[5], 'updatedSeq');
    const postingCount = safeInteger(record[6], 'posting count');
    const postings = (account.postings = postingCount > 0 ? new PostingIndex() : null);
    postings?.reserve(reserveFor(postingCount));
    while (postings !== null && postings.length < postingCount) {
      const columns = next('postings');
      if (version >= 2 && binary(columns[1], 'seqs').length > COLUMN_ENTRIES_PER_RECORD * F64_BYTES) {
        unusable(`a postings record of ${key} holds more than ${COLUMN_ENTRIES_PER_RECORD} entries`);
      }
      const imported = postings.importColumns({
        seqs: binary(columns[1], 'seqs'),
        atUs: binary(columns[2], 'atUs'),
        txids: binary(columns[3], 'txids'),
        minors: binary(columns[4], 'minors'),
        directions: binary(columns[5], 'directions'),
        rawAfters: binary(columns[6], 'rawAfters'),
      });
      if (!imported) unusable(`the posting index of ${key} is malformed`);
    }
    if (postingsOf(account).length !== postingCount) unusable(`account ${key} has the wrong number of postings`);
    // The balance and updated seq are read from the last posting (0 and 0 with none): the record's must agree.
    if (rawBalance !== account.rawBalance || updatedSeq !== account.updatedSeq) unusable(`account ${key} disagrees with its last posting`);
    if (account.updatedSeq > seq) unusable(`account ${key} has a posting beyond the snapshot`);
    postingsSeen += postingCount;
    if (state.accounts.has(key)) unusable(`account ${key} appears twice`);
    state.accounts.add(account);
  }
  if (postingsSeen !== postingTotal) unusable('the posting count does not match');

  state.txids.reserve(reserveFor(txidCount));
  if (version === 1) {
    while (peekTag() === 'txids') decodeTxidEntriesV1(next('txids'), state, seq);
  } else {
    const txidSeqs = { previous: 0 };
    while (peekTag() === 'txids') decodeTxidColumns(next('txids'), state, seq, txidSeqs, columnScratch());
  }
  if (state.txids.size !== txidCount) unusable('the txid count does not match');

  state.idempotency.reserveHot(reserveFor(idemCount));
  const idemSeqs = { previous: state.idempotency.spilledThroughSeq };
  if (version === 1) {
    while (peekTag() === 'idem') decodeIdemEntriesV1(next('idem'), state, seq, idemSeqs);
  } else {
    const scratch = columnScratch();
    while (peekTag() === 'idem') decodeIdemColumns(next('idem'), state, seq, idemSeqs, scratch);
  }
  if (state.idempotency.hotSize !== idemCount) unusable('the idempotency count does not match');

  for (const row of array(next('sums')[1], 'sums')) {
    const [asset, debits, credits] = array(row, 'sums row');
    state.sums.set(string(asset, 'sums asset'), { debits: i64(debits, 'debits'), credits: i64(credits, 'credits') });
  }
  if (book === SYSTEM_BOOK) {
    for (const def of array(next('assets')[1], 'assets')) {
      const asset = decodeAsset(def);
      state.assets.set(asset.id, asset);
    }
  }
  if (state.assets.size !== assetCount) unusable('the asset count does not match');
  const end = next('end');
  const endCounts = end.slice(1).map((count) => Number(count));
  if (endCounts.join(',') !== counts.join(',')) unusable('the end record does not match the book record');
  if (records.peek() !== END_OF_RECORDS) unusable('has data after its end record');
  return state;
}

// --- the txid and idempotency tables ------------------------------------------------------------

/** Version 1: `['txids', [[txid, seq, base, offset], …]]`. */
function decodeTxidEntriesV1(record: unknown[], state: BookState, seq: number): void {
  for (const entry of array(record[1], 'txids')) {
    const [txid, txSeq] = array(entry, 'txid entry');
    const entrySeq = safeInteger(txSeq, 'txid seq', 1);
    if (entrySeq > seq) unusable('a txid lies beyond the snapshot');
    const bytes = binary(txid, 'txid');
    if (bytes.length !== TXID_BYTES) unusable('a txid is not 16 bytes');
    if (!state.txids.setBytes(bytes, 0, entrySeq)) unusable('a txid appears twice');
  }
}

/** Version 1: `['idem', [[key, txid, seq, atUs, base, offset], …]]`, in FIFO order. */
function decodeIdemEntriesV1(record: unknown[], state: BookState, seq: number, seqs: { previous: number }): void {
  for (const entry of array(record[1], 'idem')) {
    const [key, txid, seqValue, atUs] = array(entry, 'idem entry');
    const txidBytes = binary(txid, 'idem txid');
    if (txidBytes.length !== TXID_BYTES) unusable('an idempotency txid is not 16 bytes');
    const recordSeq = safeInteger(seqValue, 'idem seq', 1);
    if (recordSeq <= seqs.previous || recordSeq > seq) unusable('idempotency records are out of seq order');
    seqs.previous = recordSeq;
    if (!state.idempotency.insertNew(string(key, 'idem key'), recordSeq, safeInteger(atUs, 'idem atUs'), txidBytes)) {
      unusable('an idempotency key appears twice');
    }
  }
}

/**
 * Aligned arrays that one record's f64 and u32 columns are copied into to be checked (a column
 * inside the file's buffer may sit at any byte offset, and a Float64Array cannot). Reused from
 * record to record: loading a table allocates nothing per entry but each idempotency key's
 * string, and per record only a few views and arrays.
 */
interface ColumnScratch {
  first: Float64Array;
  second: Float64Array;
  bases: Float64Array;
  offsets: Float64Array;
  lengths: Uint32Array;
}

function columnScratch(): ColumnScratch {
  return {
    first: new Float64Array(COLUMN_ENTRIES_PER_RECORD),
    second: new Float64Array(COLUMN_ENTRIES_PER_RECORD),
    bases: new Float64Array(COLUMN_ENTRIES_PER_RECORD),
    offsets: new Float64Array(COLUMN_ENTRIES_PER_RECORD),
    lengths: new Uint32Array(COLUMN_ENTRIES_PER_RECORD),
  };
}

/** The entry count of a version-2 column record: `record[1]`, from 1 to COLUMN_ENTRIES_PER_RECORD. */
function columnCount(record: unknown[], fields: number, what: string): number {
  if (record.length !== fields) unusable(`a ${what} record has ${record.length} fields, expected ${fields}`);
  const count = safeInteger(record[1], `${what} count`, 1);
  if (count > COLUMN_ENTRIES_PER_RECORD) unusable(`a ${what} record holds ${count} entries, more than ${COLUMN_ENTRIES_PER_RECORD}`);
  return count;
}

/** A bin of exactly `count × width` bytes. */
function column(value: unknown, count: number, width: number, what: string): Buffer {
  const bytes = binary(value, what);
  if (bytes.length !== count * width) unusable(`the ${what} column is ${bytes.length} bytes, expected ${count * width}`);
  return bytes;
}

/** An f64 column of `count` values, copied into `target` (N5); its view of the values. */
function f64Column(value: unknown, count: number, target: Float64Array, what: string): Float64Array {
  const bytes = column(value, count, F64_BYTES, what);
  const values = target.subarray(0, count);
  new Uint8Array(values.buffer, values.byteOffset, values.byteLength).set(bytes);
  return values;
}

/**
 * Checks each entry's frame position: a segment base is a seq from 1 to the entry's own seq, an
 * offset a safe integer >= 0. Not used by the load (positions come from the log, see
 * docs/decisions.md), but a file that holds impossible ones is not trusted with the rest either.
 */
function checkPositions(seqs: Float64Array, bases: Float64Array, offsets: Float64Array, what: string): void {
  for (let index = 0; index < seqs.length; index++) {
    const base = bases[index]!;
    if (!Number.isSafeInteger(base) || base < 1 || base > seqs[index]!) unusable(`a ${what} segment base is not a seq from 1 to its entry's seq`);
    const offset = offsets[index]!;
    if (!Number.isSafeInteger(offset) || offset < 0) unusable(`a ${what} frame offset is not a safe integer >= 0`);
  }
}

/** Seqs that rise from one entry to the next, above `seqs.previous` and at most `seq`. */
function checkRisingSeqs(values: Float64Array, seq: number, seqs: { previous: number }, failure: string): void {
  let previous = seqs.previous;
  for (let index = 0; index < values.length; index++) {
    const value = values[index]!;
    if (!Number.isSafeInteger(value) || value <= previous || value > seq) unusable(failure);
    previous = value;
  }
  seqs.previous = previous;
}

/**
 * Version 2: `['txids', count, txids, seqs, bases, offsets]`. A book's txids enter its table when
 * their transaction is applied, one per seq, so their seqs rise through the table.
 */
function decodeTxidColumns(record: unknown[], state: BookState, seq: number, seqs: { previous: number }, scratch: ColumnScratch): void {
  const count = columnCount(record, 6, 'txids');
  const txids = column(record[2], count, TXID_BYTES, 'txids');
  const values = f64Column(record[3], count, scratch.first, 'txid seqs');
  checkRisingSeqs(values, seq, seqs, 'txid seqs do not rise, or one lies beyond the snapshot');
  checkPositions(values, f64Column(record[4], count, scratch.bases, 'txid bases'), f64Column(record[5], count, scratch.offsets, 'txid offsets'), 'txid');
  if (!state.txids.importColumns(txids, values)) unusable('a txid appears twice');
}

/**
 * Version 2: `['idem', count, key lengths, keys, txids, seqs, atUs, bases, offsets]`, in FIFO
 * order. Each key is decoded with Buffer#toString over its own byte range: V8 builds a new
 * sequential (flat) string from those bytes, which does not refer to the file's buffer (unlike a
 * slice of one large decoded string, which would be a sliced string keeping the whole of it alive).
 */
function decodeIdemColumns(record: unknown[], state: BookState, seq: number, seqs: { previous: number }, scratch: ColumnScratch): void {
  const count = columnCount(record, 9, 'idem');
  const lengthBytes = column(record[2], count, U32_BYTES, 'idem key lengths');
  const lengths = scratch.lengths.subarray(0, count);
  new Uint8Array(lengths.buffer, lengths.byteOffset, lengths.byteLength).set(lengthBytes);
  const keyBlob = binary(record[3], 'idem keys');
  let keyBytes = 0;
  for (let index = 0; index < count; index++) keyBytes += lengths[index]!;
  if (keyBytes !== keyBlob.length) unusable(`the idem keys are ${keyBlob.length} bytes, but their lengths add up to ${keyBytes}`);
  // The keys as a whole are UTF-8, and no key starts inside a character (on a continuation byte),
  // so each key alone is UTF-8 too: decoding one never substitutes U+FFFD.
  if (!isUtf8(keyBlob)) unusable('the idem keys are not UTF-8');
  const txids = column(record[4], count, TXID_BYTES, 'idem txids');
  const values = f64Column(record[5], count, scratch.first, 'idem seqs');
  const atUs = f64Column(record[6], count, scratch.second, 'idem atUs');
  checkRisingSeqs(values, seq, seqs, 'idempotency records are out of seq order');
  for (let index = 0; index < count; index++) {
    const value = atUs[index]!;
    if (!Number.isSafeInteger(value) || value < 0) unusable('an idem atUs is not a safe integer >= 0');
  }
  checkPositions(values, f64Column(record[7], count, scratch.bases, 'idem bases'), f64Column(record[8], count, scratch.offsets, 'idem offsets'), 'idem');
  const keys: string[] = new Array(count);
  let start = 0;
  for (let index = 0; index < count; index++) {
    const end = start + lengths[index]!;
    if (start < keyBlob.length && (keyBlob[start]! & 0xc0) === 0x80) unusable('an idem key starts inside a UTF-8 character');
    keys[index] = keyBlob.toString('utf8', start, end);
    start = end;
  }
  if (!state.idempotency.appendHot(keys, values, atUs, txids)) unusable('an idempotency key appears twice');
}
