/**
 * Snapshot files taken apart and put together again for tests, independently of the loader:
 * the payload records decoded as plain MessagePack, a file rebuilt from edited records with a
 * correct length and CRC (so only the edit can make it unusable), and the little-endian columns
 * of format version 2.
 */
import zlib from 'node:zlib';
import { Packr } from 'msgpackr';

const HEADER_BYTES = 24;
const TRAILER_BYTES = 12; // payload length (u64) and CRC-32 (u32)

export const snapshotPackr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true });

/** The payload records of a snapshot file's bytes. */
export function snapshotRecords(bytes: Buffer): unknown[][] {
  return snapshotPackr.unpackMultiple(bytes.subarray(HEADER_BYTES, bytes.length - TRAILER_BYTES)) as unknown[][];
}

/** The file's header followed by `payload`, with the length and CRC made right for it. */
export function withPayload(bytes: Buffer, payload: Buffer): Buffer {
  const out = Buffer.alloc(HEADER_BYTES + payload.length + TRAILER_BYTES);
  bytes.copy(out, 0, 0, HEADER_BYTES);
  payload.copy(out, HEADER_BYTES);
  out.writeBigUInt64LE(BigInt(payload.length), HEADER_BYTES + payload.length);
  out.writeUInt32LE(zlib.crc32(out.subarray(0, out.length - 4)), out.length - 4);
  return out;
}

/** The file with edited records, and a correct length and CRC. */
export function forgedSnapshot(bytes: Buffer, edit: (records: unknown[][]) => unknown[][]): Buffer {
  return withPayload(bytes, Buffer.concat(edit(snapshotRecords(bytes)).map((record) => snapshotPackr.pack(record))));
}

/** An f64 column (little-endian), as version 2 stores seqs, times and positions. */
export function f64Bytes(values: number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 8);
  values.forEach((value, index) => bytes.writeDoubleLE(value, index * 8));
  return bytes;
}

/** A u32 column (little-endian), as version 2 stores key lengths. */
export function u32Bytes(values: number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => bytes.writeUInt32LE(value, index * 4));
  return bytes;
}
