/**
 * crc: `zlib.crc32` (what frames use) at 200 B, 4 KiB and 200 KiB; `crc-32` (kept as the test
 * oracle) at the same sizes, for the record. Small sizes run in an inner loop over 64 buffers.
 */
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import CRC32 from 'crc-32';
import { addLoop, consume, type MicroGroup } from './micro.js';

const SIZES: ReadonlyArray<[string, number, number]> = [
  ['200 B', 200, 1000],
  ['4 KiB', 4096, 100],
  ['200 KiB', 200 * 1024, 1],
];

export const crcGroup: MicroGroup = {
  group: 'crc',
  async register(bench) {
    for (const [label, bytes, inner] of SIZES) {
      const buffers = Array.from({ length: 64 }, () => randomBytes(bytes));
      if (zlib.crc32(buffers[0]!) !== CRC32.buf(buffers[0]!) >>> 0) throw new Error('crc: zlib.crc32 and crc-32 disagree');
      addLoop(bench, `zlib.crc32, ${label}`, inner, (index) => consume(zlib.crc32(buffers[index & 63]!)));
      addLoop(bench, `crc-32 buf, ${label}`, inner, (index) => consume(CRC32.buf(buffers[index & 63]!)));
    }
    return async () => undefined;
  },
};
