/**
 * The encoder of snapshot format version 1, which the store wrote before version 2 (see the doc
 * comment of src/log/snapshot.ts) and still reads: kept here so that tests can write a version-1
 * file of any state and check that the loader reads it to the same BookState as a version-2 file.
 *
 * V1. Byte for byte what the last writer of version 1 produced: the same records, 4,096 entries per
 *     `postings`, `txids` and `idem` record, the two largest kinds packed by hand (EntryPacker).
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Packr } from 'msgpackr';
import { SNAPSHOT_MAGIC, snapshotFileName, type SnapshotCut } from '../../src/log/snapshot.js';
import type { HotEntry } from '../../src/log/idem-index.js';
import { SYSTEM_BOOK } from '../../src/core/types.js';
import { EntryPacker } from './entry-packer.js';

export const SNAPSHOT_VERSION_1 = 1;
const ENTRIES_PER_RECORD_V1 = 4096;
const TXID_BYTES = 16;
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true });

/** The version-1 payload as a sequence of packed records. */
export function* encodeSnapshotPayloadV1(cut: SnapshotCut): Generator<Buffer> {
  const counts = [cut.accounts.length, cut.accounts.reduce((sum, account) => sum + account.postingCount, 0), cut.txidCount, cut.idemCount, cut.assets.length];
  yield packr.pack(['book', cut.book, cut.seq + 1, cut.atLastUs, cut.spilledThroughSeq, cut.sumsSaturated, ...counts]);
  for (const account of cut.accounts) {
    yield packr.pack(['account', account.key, account.def, account.cfg, account.rawBalance, account.updatedSeq, account.postingCount]);
    for (let start = 0; start < account.postingCount; start += ENTRIES_PER_RECORD_V1) {
      const columns = account.postings.exportColumns(start, Math.min(account.postingCount, start + ENTRIES_PER_RECORD_V1));
      yield packr.pack(['postings', columns.seqs, columns.atUs, columns.txids, columns.minors, columns.directions, columns.rawAfters]);
    }
  }
  const packer = new EntryPacker();
  for (let start = 0; start < cut.txidCount; start += ENTRIES_PER_RECORD_V1) {
    const end = Math.min(cut.txidCount, start + ENTRIES_PER_RECORD_V1);
    const keys = cut.txids.keyBytesView();
    packer.begin('txids', end - start);
    for (let position = start; position < end; position++) {
      const seq = cut.txids.valueAt(position);
      const { base, offset } = cut.positionOf(seq);
      packer.arrayHeader(4);
      packer.binary(keys, position * TXID_BYTES, TXID_BYTES);
      packer.number(seq);
      packer.number(base);
      packer.number(offset);
    }
    yield packer.finish();
  }
  const hot = cut.idem.hotEntries(cut.idemCount);
  for (let start = 0; start < cut.idemCount; start += ENTRIES_PER_RECORD_V1) {
    const end = Math.min(cut.idemCount, start + ENTRIES_PER_RECORD_V1);
    packer.begin('idem', end - start);
    for (let index = start; index < end; index++) {
      const entry = hot.next().value as HotEntry;
      const { base, offset } = cut.positionOf(entry.seq);
      packer.arrayHeader(6);
      packer.string(entry.key);
      packer.binary(entry.txids, entry.txidOffset, TXID_BYTES);
      packer.number(entry.seq);
      packer.number(entry.atUs);
      packer.number(base);
      packer.number(offset);
    }
    yield packer.finish();
  }
  yield packr.pack(['sums', cut.sums]);
  if (cut.book === SYSTEM_BOOK) yield packr.pack(['assets', cut.assets]);
  yield packr.pack(['end', ...counts]);
}

/** The whole version-1 file of a cut: header, payload, length, CRC (section 8.2). */
export function snapshotFileV1(cut: SnapshotCut): Buffer {
  const payload = Buffer.concat([...encodeSnapshotPayloadV1(cut)]);
  const file = Buffer.alloc(24 + payload.length + 12);
  SNAPSHOT_MAGIC.copy(file, 0);
  file.writeUInt32LE(SNAPSHOT_VERSION_1, 8);
  file.writeUInt32LE(0, 12);
  file.writeBigUInt64LE(BigInt(cut.seq), 16);
  payload.copy(file, 24);
  file.writeBigUInt64LE(BigInt(payload.length), 24 + payload.length);
  file.writeUInt32LE(zlib.crc32(file.subarray(0, file.length - 4)), file.length - 4);
  return file;
}

/** Writes the version-1 file of a cut under the name the store uses (layout 2); returns its path. */
export function writeSnapshotV1(bookDir: string, cut: SnapshotCut): string {
  fs.mkdirSync(bookDir, { recursive: true });
  const file = path.join(bookDir, snapshotFileName(cut.seq));
  fs.writeFileSync(file, snapshotFileV1(cut));
  return file;
}
