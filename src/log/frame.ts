/**
 * Frames: the unit of the log, byte-compatible with the Rust store (spec/log-engine.md, section 3).
 *
 *   offset 0   u32 LE   payload length in bytes
 *   offset 4   u32 LE   CRC-32 (IEEE, as zlib.crc32) of the payload only
 *   offset 8   payload  UTF-8 JSON: {"seq":…,"at":"…","event":{…}}
 *
 * Frames follow each other with no padding and no segment header.
 *
 * F1. Decoding never throws for bad input and never allocates more than the bytes available.
 * F2. The checks run in the order of section 3.5: end, torn header, torn payload, zero or
 *     oversized length, CRC, payload. The first that applies decides.
 * F3. A *bad frame* (torn or corrupt) may be a torn write; a *bad payload* has a matching CRC, so
 *     some writer wrote exactly those bytes, and it is never repaired.
 */
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { decodeCanonicalPayload } from './canonical-payload.js';
import { decodeSequencedPayload, EventDecodeError, type DecodedPayload } from '../core/event-codec.js';
import { FRAME_HEADER_BYTES, FRAME_PAYLOAD_BYTES_MAX } from '../core/limits.js';

export { FRAME_HEADER_BYTES };

/** Every payload starts with these bytes, whichever implementation wrote it. */
export const PAYLOAD_PREFIX = Buffer.from('{"seq":');

export type FrameDecodeResult =
  | { kind: 'end' }
  | { kind: 'torn'; reason: 'torn header' | 'torn payload' }
  | { kind: 'corrupt'; reason: string }
  | { kind: 'invalid'; reason: string; frameBytes: number }
  | { kind: 'frame'; decoded: DecodedPayload; frameBytes: number };

/** A bad frame: bytes that do not form a frame, as a torn write can leave them. */
export function isBadFrame(result: { kind: string }): result is Extract<FrameDecodeResult, { kind: 'torn' | 'corrupt' }> {
  return result.kind === 'torn' || result.kind === 'corrupt';
}

/** Builds one frame around an already encoded UTF-8 payload. */
export function encodeFrame(payload: Buffer): Buffer {
  assert(payload.length > 0);
  assert(payload.length <= FRAME_PAYLOAD_BYTES_MAX); // oversized events were refused at input
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(zlib.crc32(payload), 4);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** Encodes a payload string straight into a frame, without an intermediate buffer copy. */
export function encodeFrameFromText(payloadText: string): Buffer {
  const payloadBytes = Buffer.byteLength(payloadText, 'utf8');
  assert(payloadBytes > 0);
  assert(payloadBytes <= FRAME_PAYLOAD_BYTES_MAX);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
  frame.write(payloadText, FRAME_HEADER_BYTES, 'utf8');
  frame.writeUInt32LE(payloadBytes, 0);
  frame.writeUInt32LE(zlib.crc32(frame.subarray(FRAME_HEADER_BYTES)), 4);
  return frame;
}

/**
 * Builds the frame of `{"seq":…,"at":"…","event":<event>}` around an event already encoded as
 * UTF-8: its bytes are copied once and never encoded again. Byte for byte the frame of
 * encodeSequencedPayload's text.
 */
export function encodeFrameAroundEvent(seq: number, at: string, event: Uint8Array, arena?: FrameArena): Buffer {
  const prefix = `{"seq":${seq},"at":"${at}","event":`; // ASCII: one byte a character
  const payloadBytes = prefix.length + event.length + 1;
  assert(payloadBytes <= FRAME_PAYLOAD_BYTES_MAX);
  const frame = arena === undefined ? Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes) : arena.take(FRAME_HEADER_BYTES + payloadBytes);
  frame.writeUInt32LE(payloadBytes, 0);
  frame.write(prefix, FRAME_HEADER_BYTES, 'latin1');
  frame.set(event, FRAME_HEADER_BYTES + prefix.length);
  frame[FRAME_HEADER_BYTES + payloadBytes - 1] = 0x7d; // }
  frame.writeUInt32LE(zlib.crc32(frame.subarray(FRAME_HEADER_BYTES)), 4);
  return frame;
}

/**
 * Room for one batch's frames, laid out back to back in one buffer that every batch reuses, so a
 * batch allocates no buffer per frame and goes to the file as one chunk (src/log/segment.ts). A
 * frame taken from it is valid until the next `reset`.
 */
export class FrameArena {
  #buffer = Buffer.allocUnsafeSlow(64 * 1024);
  #used = 0;

  /** Starts a batch: the frames of the previous one are overwritten from here on. */
  reset(): void {
    this.#used = 0;
  }

  take(bytes: number): Buffer {
    if (this.#used + bytes > this.#buffer.length) {
      // A new buffer: the frames already taken stay valid in the old one (the batch is then
      // written as more than one chunk).
      this.#buffer = Buffer.allocUnsafeSlow(Math.max(this.#buffer.length * 2, bytes));
      this.#used = 0;
    }
    const frame = this.#buffer.subarray(this.#used, this.#used + bytes);
    this.#used += bytes;
    return frame;
  }
}

/**
 * Checks the frame at `offset` up to its CRC, without decoding the payload. `end` is the end of
 * the available bytes (for a file: its length within the buffer).
 */
export function checkFrame(buffer: Buffer, offset: number, end: number): FrameDecodeResult | { kind: 'sound'; payloadBytes: number } {
  const available = end - offset;
  if (available <= 0) return { kind: 'end' };
  if (available < FRAME_HEADER_BYTES) return { kind: 'torn', reason: 'torn header' };
  const payloadBytes = buffer.readUInt32LE(offset);
  if (FRAME_HEADER_BYTES + payloadBytes > available) return { kind: 'torn', reason: 'torn payload' };
  if (payloadBytes === 0 || payloadBytes > FRAME_PAYLOAD_BYTES_MAX) {
    return { kind: 'corrupt', reason: `length ${payloadBytes} out of range` };
  }
  const payloadStart = offset + FRAME_HEADER_BYTES;
  const crc = zlib.crc32(buffer.subarray(payloadStart, payloadStart + payloadBytes));
  if (crc !== buffer.readUInt32LE(offset + 4)) return { kind: 'corrupt', reason: 'crc mismatch' };
  return { kind: 'sound', payloadBytes };
}

/** Decodes the frame at `offset` completely (F2). */
export function decodeFrame(buffer: Buffer, offset: number, end: number): FrameDecodeResult {
  const checked = checkFrame(buffer, offset, end);
  if (checked.kind !== 'sound') return checked;
  return decodeSoundFrame(buffer, offset, checked.payloadBytes);
}

/** Decodes the payload of a frame that checkFrame found sound, without checking it again. */
export function decodeSoundFrame(buffer: Buffer, offset: number, payloadBytes: number): FrameDecodeResult {
  const frameBytes = FRAME_HEADER_BYTES + payloadBytes;
  const payloadStart = offset + FRAME_HEADER_BYTES;
  const canonical = decodeCanonicalPayload(buffer, payloadStart, payloadStart + payloadBytes);
  if (canonical !== null) return { kind: 'frame', decoded: canonical, frameBytes };
  try {
    const text = buffer.toString('utf8', payloadStart, payloadStart + payloadBytes);
    return { kind: 'frame', decoded: decodeSequencedPayload(text), frameBytes };
  } catch (error) {
    if (error instanceof EventDecodeError) return { kind: 'invalid', reason: error.message, frameBytes };
    throw error;
  }
}

/**
 * Reads the seq from a sound payload's leading `{"seq":<digits>,` without decoding the rest.
 * Returns null when the payload does not start that way (the caller then decodes it in full).
 */
export function peekSeq(buffer: Buffer, payloadStart: number, payloadEnd: number): number | null {
  if (payloadEnd - payloadStart < PAYLOAD_PREFIX.length + 2) return null;
  if (buffer.compare(PAYLOAD_PREFIX, 0, PAYLOAD_PREFIX.length, payloadStart, payloadStart + PAYLOAD_PREFIX.length) !== 0) {
    return null;
  }
  let position = payloadStart + PAYLOAD_PREFIX.length;
  let seq = 0;
  let digits = 0;
  while (position < payloadEnd) {
    const code = buffer[position]!;
    if (code < 0x30 || code > 0x39) break;
    seq = seq * 10 + (code - 0x30);
    digits++;
    position++;
  }
  if (digits === 0 || digits > 16 || buffer[position] !== 0x2c) return null;
  if (digits > 1 && buffer[payloadStart + PAYLOAD_PREFIX.length] === 0x30) return null; // leading zero
  if (!Number.isSafeInteger(seq) || seq < 1) return null;
  return seq;
}

/**
 * The forward scan (section 3.7): is there an intact frame anywhere after `badOffset`? Candidates
 * are found by the payload prefix; each is checked in full, so the answer equals testing every
 * offset.
 */
export function findIntactFrameAfter(buffer: Buffer, badOffset: number, end: number): number | null {
  let searchFrom = badOffset + 1 + FRAME_HEADER_BYTES;
  for (;;) {
    const hit = buffer.indexOf(PAYLOAD_PREFIX, searchFrom);
    if (hit === -1 || hit >= end) return null;
    const candidate = hit - FRAME_HEADER_BYTES;
    if (candidate > badOffset && decodeFrame(buffer, candidate, end).kind === 'frame') return candidate;
    searchFrom = hit + 1;
  }
}
