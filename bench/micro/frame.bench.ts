/**
 * frame: encode one workload event into a frame; decode and verify one frame (length, CRC, then
 * the bigint-safe payload decode, as replay does); at a 200-byte and a 4 KiB payload.
 */
import { encodeSequencedPayload } from '../../src/core/event-codec.js';
import { decodeFrame, encodeFrameFromText } from '../../src/log/frame.js';
import { normaliseTransaction } from '../../src/core/input.js';
import { formatAtUs, wallClockUs } from '../../src/core/time.js';
import { benchBook, workloadDraft, workloadPostings } from '../workload.js';
import { addLoop, consume, type MicroGroup } from './micro.js';

const INNER = 1000;

/** A workload event whose payload is about `payloadBytes` long (padded through metadata). */
function payloadOf(payloadBytes: number): string {
  const book = benchBook(0);
  const draft = workloadDraft(book, workloadPostings(book, 2), 'bench/micro/frame', new Date().toISOString());
  const at = formatAtUs(wallClockUs());
  const base = encodeSequencedPayload(3, at, normaliseTransaction(draft).eventJson);
  const padding = Math.max(0, payloadBytes - base.length - 12);
  draft.metadata = padding > 0 ? { pad: 'x'.repeat(padding) } : null;
  return encodeSequencedPayload(3, at, normaliseTransaction(draft).eventJson);
}

export const frameGroup: MicroGroup = {
  group: 'frame',
  async register(bench) {
    for (const [label, bytes] of [['200 B', 200], ['4 KiB', 4096]] as const) {
      const payload = payloadOf(bytes);
      const frame = encodeFrameFromText(payload);
      addLoop(bench, `encode a workload event into a frame, ${label} payload`, INNER, () => consume(encodeFrameFromText(payload)));
      addLoop(bench, `decode and verify one frame, ${label} payload`, INNER, () => {
        const decoded = decodeFrame(frame, 0, frame.length);
        if (decoded.kind !== 'frame') throw new Error(`frame did not decode: ${decoded.kind}`);
        consume(decoded.decoded);
      });
    }
    return async () => undefined;
  },
};
