/**
 * Every micro-benchmark group, in report order (spec/bench.md, section 5).
 */
import { bookStateGroup } from './book-state.bench.js';
import { codecGroup } from './codec.bench.js';
import { crcGroup } from './crc.bench.js';
import { frameGroup } from './frame.bench.js';
import type { MicroGroup } from './micro.js';
import { protocolGroup } from './protocol.bench.js';
import { snapshotGroup } from './snapshot.bench.js';
import { watermarkGroup } from './watermark.bench.js';

export const MICRO_GROUPS: readonly MicroGroup[] = [
  frameGroup,
  crcGroup,
  codecGroup,
  bookStateGroup,
  protocolGroup,
  watermarkGroup,
  snapshotGroup,
];
