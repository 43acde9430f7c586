/**
 * Idempotency run files (spec/log-engine.md, sections 9.4 to 9.8): spilled idempotency records,
 * sorted by key in UTF-8 byte order, in CRC-protected blocks.
 *
 *   offset 0    8   magic "TALEARUN"
 *   offset 8    4   format version, u32 LE (1)
 *   offset 12   4   flags, u32 LE (0)
 *   offset 16   8   interval start a (exclusive), u64 LE
 *   offset 24   8   interval end b (inclusive), u64 LE: the run holds every key with a < seq <= b
 *   offset 32   …   blocks: u32 LE length, u32 LE CRC-32, MessagePack array of up to 256 records
 *   end - 16    4   block count, u32 LE
 *   end - 12    8   record count, u64 LE
 *   end - 4     4   CRC-32 of every preceding byte
 *
 * A record is [key, txid (16 bytes), seq, atUs, segmentBase, offsetBytes].
 *
 * K1. A lookup reads at most one block of a run, found through the in-memory block index, after
 *     the run's Bloom filter and key range have said the key may be there.
 * K2. A run that cannot be read fails the lookup with CORRUPT and is rebuilt; it never counts as
 *     a miss. A run that cannot be opened for want of a descriptor (EMFILE, ENFILE) fails it with
 *     that error as it is (src/log/fd-budget.ts), and a read that fails for another reason that
 *     says nothing about the run's bytes (isNotDamage) fails it with IO: in both the run is not at
 *     fault, stays trusted and is not rebuilt.
 * K3. Runs are written as tmp → fsync → rename → directory fsync, and never change afterwards.
 * K4. Names (on-disk layout 2): written as `idem-<n:06>.trun`, a name the Rust store never reads,
 *     with n past every run name in the directory, of either layout and either store. Layout 1
 *     (`idem-<n>.run`, this package up to 0.1.x) is the Rust store's name too: such a file is this
 *     package's only when it begins with TALEARUN (a Rust run begins with a CRC and then JSON);
 *     any other is left alone (O2 in src/log/book-files.ts).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import zlib from 'node:zlib';
import { Packr } from 'msgpackr';
import { AtomicFileWriter } from './atomic-file.js';
import { BloomFilter } from './bloom.js';
import { StoreError } from '../core/errors.js';
import { isDescriptorPressure, isNotDamage, readFully, startsWithBytes, type FileSystem } from './file-system.js';
import type { IdemRecord, RunLookup } from './idem-index.js';
import { readTxid, writeTxid } from './posting-index.js';

export const RUN_MAGIC = Buffer.from('TALEARUN', 'ascii');
export const RUN_VERSION = 1;
const HEADER_BYTES = 32;
const TRAILER_BYTES = 16;
const BLOCK_HEADER_BYTES = 8;
/** Records per block. */
export const RUN_BLOCK_RECORDS_MAX = 256;

/** Layout 2 (K4). */
const RUN_NAME_PATTERN = /^idem-(\d+)\.trun$/;
/** Layout 1, shared with the Rust store (K4). */
const LEGACY_RUN_NAME_PATTERN = /^idem-(\d+)\.run$/;
const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });

export interface RunRecord extends IdemRecord {
  key: string;
  segmentBase: number;
  offsetBytes: number;
}

export interface RunMeta {
  file: string;
  number: number;
  start: number;
  end: number;
  recordCount: number;
  keyMin: Buffer;
  keyMax: Buffer;
  blocks: Array<{ keyFirst: Buffer; offset: number; length: number }>;
  bloom: BloomFilter;
  damaged: boolean;
}

/** The name this version writes (layout 2, K4). */
export function runFileName(number: number): string {
  return `idem-${String(number).padStart(6, '0')}.trun`;
}

/** The number of a layout-2 run name, or null. */
export function parseRunFileName(name: string): number | null {
  return numberOf(RUN_NAME_PATTERN.exec(name));
}

/** The number of a layout-1 run name (this package up to 0.1.x, or the Rust store), or null. */
export function parseLegacyRunFileName(name: string): number | null {
  return numberOf(LEGACY_RUN_NAME_PATTERN.exec(name));
}

function numberOf(match: RegExpExecArray | null): number | null {
  if (match === null) return null;
  const number = Number(match[1]);
  return Number.isSafeInteger(number) ? number : null;
}

/** Whether a layout-1 run file is this package's: it begins with the magic (K4). */
export function isOwnLegacyRun(fileSystem: FileSystem, file: string): boolean {
  return startsWithBytes(fileSystem, file, RUN_MAGIC);
}

export class RunInvalid extends Error {
  override readonly name = 'RunInvalid';
}

/** Sorts records by key in UTF-8 byte order (not JavaScript's UTF-16 order). */
export function sortByKey(records: RunRecord[]): Array<{ record: RunRecord; keyBytes: Buffer }> {
  return records
    .map((record) => ({ record, keyBytes: Buffer.from(record.key, 'utf8') }))
    .sort((left, right) => Buffer.compare(left.keyBytes, right.keyBytes));
}

/**
 * Writes one run in steps (K3), so a worker can interleave it with batches: each `step` encodes
 * about `budgetBytes` of blocks; the last one fsyncs, renames and returns the run's metadata.
 * `sorted` must come from sortByKey.
 */
export class RunWriter {
  readonly file: string;
  readonly tmp: string;
  readonly #sorted: Array<{ record: RunRecord; keyBytes: Buffer }>;
  readonly #blocks: RunMeta['blocks'] = [];
  readonly #bloom: BloomFilter;
  readonly #target: AtomicFileWriter;
  #started = false;
  #offset = HEADER_BYTES;
  #next = 0;

  constructor(
    readonly fileSystem: FileSystem,
    readonly bookDir: string,
    readonly number: number,
    readonly start: number,
    readonly end: number,
    sorted: Array<{ record: RunRecord; keyBytes: Buffer }>,
  ) {
    assert(start < end);
    this.#target = new AtomicFileWriter(fileSystem, path.join(bookDir, runFileName(number)));
    this.file = this.#target.finalPath;
    this.tmp = this.#target.tmpPath;
    this.#sorted = sorted;
    this.#bloom = new BloomFilter(sorted.length);
  }

  /** One slice; returns the installed run's metadata when done, else null. Throws on failure. */
  step(budgetBytes: number): RunMeta | null {
    if (!this.#started) {
      this.#started = true;
      const header = Buffer.alloc(HEADER_BYTES);
      RUN_MAGIC.copy(header, 0);
      header.writeUInt32LE(RUN_VERSION, 8);
      header.writeUInt32LE(0, 12);
      header.writeBigUInt64LE(BigInt(this.start), 16);
      header.writeBigUInt64LE(BigInt(this.end), 24);
      this.#target.write([header]);
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    while (this.#next < this.#sorted.length && bytes < budgetBytes) {
      const slice = this.#sorted.slice(this.#next, this.#next + RUN_BLOCK_RECORDS_MAX);
      this.#next += slice.length;
      const payload = packr.pack(
        slice.map(({ record }) => {
          assert(record.seq > this.start && record.seq <= this.end);
          const txid = Buffer.allocUnsafe(16);
          writeTxid(txid, 0, record.txid);
          return [record.key, txid, record.seq, record.atUs, record.segmentBase, record.offsetBytes];
        }),
      );
      const blockHeader = Buffer.allocUnsafe(BLOCK_HEADER_BYTES);
      blockHeader.writeUInt32LE(payload.length, 0);
      blockHeader.writeUInt32LE(zlib.crc32(payload), 4);
      chunks.push(blockHeader, payload);
      this.#blocks.push({ keyFirst: slice[0]!.keyBytes, offset: this.#offset + bytes, length: BLOCK_HEADER_BYTES + payload.length });
      bytes += BLOCK_HEADER_BYTES + payload.length;
      for (const { keyBytes } of slice) this.#bloom.add(keyBytes);
    }
    if (chunks.length > 0) {
      this.#target.write(chunks);
      this.#offset += bytes;
    }
    if (this.#next < this.#sorted.length) return null;
    const trailer = Buffer.alloc(TRAILER_BYTES);
    trailer.writeUInt32LE(this.#blocks.length, 0);
    trailer.writeBigUInt64LE(BigInt(this.#sorted.length), 4);
    this.#target.write([trailer.subarray(0, 12)]);
    trailer.writeUInt32LE(this.#target.crc, 12);
    this.#target.writeUnchecked([trailer.subarray(12)]);
    this.#target.install();
    const sorted = this.#sorted;
    return {
      file: this.file,
      number: this.number,
      start: this.start,
      end: this.end,
      recordCount: sorted.length,
      keyMin: sorted[0]?.keyBytes ?? Buffer.alloc(0),
      keyMax: sorted[sorted.length - 1]?.keyBytes ?? Buffer.alloc(0),
      blocks: this.#blocks,
      bloom: this.#bloom,
      damaged: false,
    };
  }

  /** Gives up: closes and removes the temporary file if it can. */
  abandon(): void {
    this.#target.abandon();
  }
}

/** Writes a whole run at once (at open, and in tests). */
export function writeRun(
  fileSystem: FileSystem,
  bookDir: string,
  number: number,
  start: number,
  end: number,
  sorted: Array<{ record: RunRecord; keyBytes: Buffer }>,
): RunMeta {
  const writer = new RunWriter(fileSystem, bookDir, number, start, end, sorted);
  try {
    for (;;) {
      const meta = writer.step(Number.POSITIVE_INFINITY);
      if (meta !== null) return meta;
    }
  } catch (error) {
    writer.abandon();
    throw error;
  }
}

function invalid(message: string): never {
  throw new RunInvalid(message);
}

function safeInteger(value: unknown, what: string): number {
  const number = typeof value === 'bigint' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) invalid(`${what} is not a safe integer`);
  return number;
}

function decodeBlock(payload: Buffer): RunRecord[] {
  let items: unknown;
  try {
    items = packr.unpack(payload);
  } catch (error) {
    invalid(`a block does not decode (${(error as Error).message})`);
  }
  if (!Array.isArray(items)) invalid('a block is not an array');
  return items.map((item: unknown) => {
    if (!Array.isArray(item) || item.length !== 6) invalid('a record has the wrong shape');
    const [key, txid, seq, atUs, segmentBase, offsetBytes] = item as unknown[];
    if (typeof key !== 'string') invalid('a key is not a string');
    if (!(txid instanceof Uint8Array) || txid.length !== 16) invalid('a txid is not 16 bytes');
    return {
      key,
      txid: readTxid(txid, 0),
      seq: safeInteger(seq, 'seq'),
      atUs: safeInteger(atUs, 'atUs'),
      segmentBase: safeInteger(segmentBase, 'segmentBase'),
      offsetBytes: safeInteger(offsetBytes, 'offsetBytes'),
    };
  });
}

/** Reads and checks a whole run (section 9.8 step 1), building its block index and Bloom filter. */
export function readRun(fileSystem: FileSystem, file: string, number: number): { meta: RunMeta; records: RunRecord[] } {
  let bytes: Buffer;
  try {
    const fd = fileSystem.openSync(file, 'r');
    try {
      bytes = Buffer.allocUnsafe(fileSystem.fstatSizeSync(fd));
      bytes = bytes.subarray(0, readFully(fileSystem, fd, bytes, 0));
    } finally {
      fileSystem.closeSync(fd);
    }
  } catch (error) {
    if (isDescriptorPressure(error)) throw error; // no descriptor: the run is not at fault
    invalid(`cannot be read (${(error as Error).message})`);
  }
  if (bytes.length < HEADER_BYTES + TRAILER_BYTES) invalid('is too short');
  if (!bytes.subarray(0, 8).equals(RUN_MAGIC)) invalid('has no TALEARUN magic');
  if (bytes.readUInt32LE(8) !== RUN_VERSION) invalid(`has format version ${bytes.readUInt32LE(8)}`);
  if (bytes.readUInt32LE(12) !== 0) invalid('has unknown flags');
  if (zlib.crc32(bytes.subarray(0, bytes.length - 4)) !== bytes.readUInt32LE(bytes.length - 4)) invalid('fails its CRC');
  const start = safeInteger(bytes.readBigUInt64LE(16), 'interval start');
  const end = safeInteger(bytes.readBigUInt64LE(24), 'interval end');
  if (end <= start) invalid('has an empty interval');
  const blockCount = bytes.readUInt32LE(bytes.length - TRAILER_BYTES);
  const recordCount = safeInteger(bytes.readBigUInt64LE(bytes.length - TRAILER_BYTES + 4), 'record count');
  const records: RunRecord[] = [];
  const blocks: RunMeta['blocks'] = [];
  const bloom = new BloomFilter(recordCount);
  let offset = HEADER_BYTES;
  let previousKey: Buffer | null = null;
  const blocksEnd = bytes.length - TRAILER_BYTES;
  while (offset < blocksEnd) {
    if (offset + BLOCK_HEADER_BYTES > blocksEnd) invalid('has a torn block header');
    const length = bytes.readUInt32LE(offset);
    const payloadStart = offset + BLOCK_HEADER_BYTES;
    if (length === 0 || payloadStart + length > blocksEnd) invalid(`has a block of impossible length at offset ${offset}`);
    const payload = bytes.subarray(payloadStart, payloadStart + length);
    if (zlib.crc32(payload) !== bytes.readUInt32LE(offset + 4)) invalid(`has a block that fails its CRC at offset ${offset}`);
    const blockRecords = decodeBlock(payload);
    if (blockRecords.length === 0 || blockRecords.length > RUN_BLOCK_RECORDS_MAX) invalid('has a block with a wrong record count');
    for (const record of blockRecords) {
      const keyBytes = Buffer.from(record.key, 'utf8');
      if (previousKey !== null && Buffer.compare(previousKey, keyBytes) >= 0) invalid('has keys out of order');
      if (record.seq <= start || record.seq > end) invalid(`holds seq ${record.seq} outside (${start}, ${end}]`);
      if (record === blockRecords[0]) blocks.push({ keyFirst: keyBytes, offset, length: BLOCK_HEADER_BYTES + length });
      previousKey = keyBytes;
      bloom.add(keyBytes);
      records.push(record);
    }
    offset = payloadStart + length;
  }
  if (blocks.length !== blockCount || records.length !== recordCount) invalid('disagrees with its trailer counts');
  return {
    meta: {
      file,
      number,
      start,
      end,
      recordCount,
      keyMin: records.length === 0 ? Buffer.alloc(0) : Buffer.from(records[0]!.key, 'utf8'),
      keyMax: previousKey ?? Buffer.alloc(0),
      blocks,
      bloom,
      damaged: false,
    },
    records,
  };
}

/** The runs of one book, tiling (0, spilledThroughSeq] (section 9.2). */
export class IdemRuns implements RunLookup {
  /** Sorted by interval start. */
  runs: RunMeta[] = [];
  /** Block reads so far: lets tests check that Bloom negatives never touch the disk. */
  blockReads = 0;

  constructor(
    readonly fileSystem: FileSystem,
    readonly book: string,
    readonly bookDir: string,
  ) {}

  /** Past every run name in the directory, of either layout and either store (K4), and past every run held. */
  nextNumber(): number {
    let highest = -1;
    for (const run of this.runs) highest = Math.max(highest, run.number);
    for (const name of this.fileSystem.readdirSync(this.bookDir)) {
      const final = name.endsWith('.tmp') ? name.slice(0, -4) : name;
      const number = parseRunFileName(final) ?? parseLegacyRunFileName(final);
      if (number !== null) highest = Math.max(highest, number);
    }
    return highest + 1;
  }

  install(run: RunMeta): void {
    this.runs.push(run);
    this.runs.sort((left, right) => left.start - right.start);
  }

  /** K1, K2: newest interval first; Bloom and key range first; then one block. */
  get(key: string): IdemRecord | undefined {
    const keyBytes = Buffer.from(key, 'utf8');
    for (let index = this.runs.length - 1; index >= 0; index--) {
      const run = this.runs[index]!;
      if (run.recordCount === 0) continue;
      if (Buffer.compare(keyBytes, run.keyMin) < 0 || Buffer.compare(keyBytes, run.keyMax) > 0) continue;
      if (!run.bloom.mayContain(keyBytes)) continue;
      const found = this.#lookupInRun(run, keyBytes, key);
      if (found !== undefined) return { txid: found.txid, seq: found.seq, atUs: found.atUs };
    }
    return undefined;
  }

  #lookupInRun(run: RunMeta, keyBytes: Buffer, key: string): RunRecord | undefined {
    let low = 0;
    let high = run.blocks.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (Buffer.compare(run.blocks[middle]!.keyFirst, keyBytes) <= 0) low = middle;
      else high = middle - 1;
    }
    const block = run.blocks[low]!;
    const damage = (reason: string): StoreError => {
      run.damaged = true;
      return StoreError.corrupt(this.book, run.file, block.offset, `idempotency run "${run.file}" is damaged at offset ${block.offset}: ${reason}`);
    };
    if (run.damaged) throw damage('awaiting its rebuild from the log');
    this.blockReads++;
    const bytes = Buffer.allocUnsafe(block.length);
    try {
      const fd = this.fileSystem.openSync(run.file, 'r');
      try {
        if (readFully(this.fileSystem, fd, bytes, block.offset) !== block.length) throw new Error('short read');
      } finally {
        this.fileSystem.closeSync(fd);
      }
    } catch (error) {
      if (isDescriptorPressure(error)) throw error; // no descriptor: the run is not damaged (K2)
      // Other failures that say nothing about the run's bytes: the lookup fails, the run stays trusted (K2).
      if (isNotDamage(error)) throw StoreError.io(`idempotency run "${run.file}" cannot be read now: ${(error as Error).message}`, error);
      throw damage(`cannot be read (${(error as Error).message})`);
    }
    const payload = bytes.subarray(BLOCK_HEADER_BYTES, BLOCK_HEADER_BYTES + bytes.readUInt32LE(0));
    if (payload.length !== block.length - BLOCK_HEADER_BYTES || zlib.crc32(payload) !== bytes.readUInt32LE(4)) throw damage('a block fails its CRC');
    let records: RunRecord[];
    try {
      records = decodeBlock(payload);
    } catch (error) {
      throw damage((error as Error).message);
    }
    let lowRecord = 0;
    let highRecord = records.length - 1;
    while (lowRecord <= highRecord) {
      const middle = (lowRecord + highRecord) >> 1;
      const order = Buffer.compare(Buffer.from(records[middle]!.key, 'utf8'), keyBytes);
      if (order === 0) return records[middle];
      if (order < 0) lowRecord = middle + 1;
      else highRecord = middle - 1;
    }
    void key;
    return undefined;
  }
}

/** Merges adjacent runs into one (k-way by key; duplicates kept once, the lower seq wins). */
export function mergeRecords(inputs: RunRecord[][]): { sorted: Array<{ record: RunRecord; keyBytes: Buffer }>; conflicts: number } {
  const byKey = new Map<string, RunRecord>();
  let conflicts = 0;
  for (const records of inputs) {
    for (const record of records) {
      const existing = byKey.get(record.key);
      if (existing === undefined) byKey.set(record.key, record);
      else {
        if (existing.seq !== record.seq || existing.txid !== record.txid) conflicts++;
        if (record.seq < existing.seq) byKey.set(record.key, record);
      }
    }
  }
  return { sorted: sortByKey([...byKey.values()]), conflicts };
}
