import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import CRC32 from 'crc-32';
import { encodeSequencedPayload, encodeTransactionPosted } from '../src/core/event-codec.js';
import {
  checkFrame,
  decodeFrame,
  encodeFrame,
  encodeFrameAroundEvent,
  encodeFrameFromText,
  findIntactFrameAfter,
  FRAME_HEADER_BYTES,
  peekSeq,
} from '../src/log/frame.js';
import { FRAME_PAYLOAD_BYTES_MAX } from '../src/core/limits.js';
import type { Transaction } from '../src/core/types.js';

const tx: Transaction = {
  id: '0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e',
  book: 'b',
  postings: [],
  idempotency_key: 'k',
  external_refs: [],
  metadata: { note: 'frame fixture' },
  occurred_at: '2026-06-05T12:00:00Z',
};

function frameFor(seq: number): Buffer {
  return encodeFrameFromText(encodeSequencedPayload(seq, '2026-06-05T12:00:00.000001Z', encodeTransactionPosted(tx)));
}

test('header_len_is_8', () => {
  assert.equal(FRAME_HEADER_BYTES, 8);
});

test('frame_round_trips', () => {
  const frame = frameFor(7);
  const result = decodeFrame(frame, 0, frame.length);
  assert.equal(result.kind, 'frame');
  if (result.kind !== 'frame') return;
  assert.equal(result.frameBytes, frame.length);
  assert.equal(result.decoded.seq, 7);
  assert.equal(result.decoded.event.event.kind, 'transaction_posted');
  assert.deepEqual(result.decoded.event.event, { kind: 'transaction_posted', ...tx });
});

test('encodeFrame and encodeFrameFromText write the same bytes', () => {
  const text = encodeSequencedPayload(3, '2026-06-05T12:00:00.000001Z', encodeTransactionPosted({ ...tx, metadata: 'é€😀' }));
  assert.deepEqual(encodeFrame(Buffer.from(text)), encodeFrameFromText(text));
});

test('encodeFrameAroundEvent frames the event bytes exactly as encodeFrameFromText frames its text', () => {
  const at = '2026-06-05T12:00:00.000001Z';
  for (const seq of [1, 99, 2 ** 40]) {
    const eventJson = encodeTransactionPosted({ ...tx, metadata: 'é€😀' });
    const framed = encodeFrameAroundEvent(seq, at, Buffer.from(eventJson, 'utf8'));
    assert.deepEqual(framed, encodeFrameFromText(encodeSequencedPayload(seq, at, eventJson)));
    const decoded = decodeFrame(framed, 0, framed.length);
    assert.equal(decoded.kind, 'frame');
  }
});

test('short_buffer_is_torn_not_corrupt', () => {
  const frame = frameFor(7);
  for (const cut of [3, 8, frame.length - 1]) {
    const result = decodeFrame(frame, 0, cut);
    assert.equal(result.kind, 'torn', `cut at ${cut}`);
  }
  assert.equal(decodeFrame(frame, 0, 0).kind, 'end');
});

test('empty_buffer_is_clean_end', () => {
  assert.deepEqual(decodeFrame(Buffer.alloc(0), 0, 0), { kind: 'end' });
});

test('bit_flip_with_full_length_is_corrupt', () => {
  const frame = frameFor(7);
  frame[frame.length - 1]! ^= 0xff;
  assert.deepEqual(decodeFrame(frame, 0, frame.length), { kind: 'corrupt', reason: 'crc mismatch' });
});

test('chained_frames_decode_sequentially', () => {
  const both = Buffer.concat([frameFor(7), frameFor(8)]);
  const first = decodeFrame(both, 0, both.length);
  assert.equal(first.kind, 'frame');
  if (first.kind !== 'frame') return;
  const second = decodeFrame(both, first.frameBytes, both.length);
  assert.equal(second.kind, 'frame');
  if (second.kind !== 'frame') return;
  assert.equal(first.decoded.seq, 7);
  assert.equal(second.decoded.seq, 8);
  assert.equal(first.frameBytes + second.frameBytes, both.length);
});

test('adversarial_large_len_header_returns_torn_not_panic', () => {
  const buffer = Buffer.alloc(12);
  buffer.writeUInt32LE(0xffffffff, 0);
  buffer.writeUInt32LE(0, 4);
  assert.deepEqual(decodeFrame(buffer, 0, buffer.length), { kind: 'torn', reason: 'torn payload' });
});

test('a length above the frame limit is corrupt when the bytes are there, without allocating', () => {
  const length = FRAME_PAYLOAD_BYTES_MAX + 1;
  const buffer = Buffer.alloc(FRAME_HEADER_BYTES + length);
  buffer.writeUInt32LE(length, 0);
  assert.deepEqual(checkFrame(buffer, 0, buffer.length), { kind: 'corrupt', reason: `length ${length} out of range` });
});

test('a zero length is corrupt, although CRC 0 matches an empty payload', () => {
  const buffer = Buffer.alloc(16);
  assert.deepEqual(decodeFrame(buffer, 0, buffer.length), { kind: 'corrupt', reason: 'length 0 out of range' });
});

test('a frame whose CRC matches but whose JSON is not a valid event is invalid', () => {
  for (const text of ['{"seq":1,"at":"x","event":{}}', '{"seq":1}', 'not json', '{"seq":0,"at":"2026-06-05T12:00:00Z","event":{"kind":"nope"}}']) {
    const frame = encodeFrame(Buffer.from(text));
    const result = decodeFrame(frame, 0, frame.length);
    assert.equal(result.kind, 'invalid', text);
  }
});

test('the CRC equals the crc-32 package value for the same bytes', () => {
  const frame = frameFor(42);
  const payload = frame.subarray(FRAME_HEADER_BYTES);
  assert.equal(frame.readUInt32LE(4), CRC32.buf(payload) >>> 0);
  assert.equal(frame.readUInt32LE(4), zlib.crc32(payload));
});

test('peekSeq reads the leading seq and refuses anything unusual', () => {
  const frame = frameFor(123456);
  assert.equal(peekSeq(frame, FRAME_HEADER_BYTES, frame.length), 123456);
  for (const text of ['{"seq":01,', '{"seq":,', '{ "seq":1,', '{"seq":0,', '{"seq":1}', '{"seq":12345678901234567,']) {
    const buffer = Buffer.from(`${text}"at":"x"}`);
    assert.equal(peekSeq(buffer, 0, buffer.length), null, text);
  }
});

test('the forward scan finds the next intact frame and nothing in noise', () => {
  const frames = [frameFor(1), frameFor(2), frameFor(3)];
  const log = Buffer.concat(frames);
  const secondOffset = frames[0]!.length;
  log[secondOffset + 20]! ^= 0xff; // damage frame 2
  const thirdOffset = secondOffset + frames[1]!.length;
  assert.equal(findIntactFrameAfter(log, secondOffset, log.length), thirdOffset);
  assert.equal(findIntactFrameAfter(log, thirdOffset, log.length), null);
  const garbage = Buffer.concat([frames[0]!, Buffer.from('{"seq":{"seq":{"seq":'), Buffer.alloc(40, 0xff)]);
  assert.equal(findIntactFrameAfter(garbage, frames[0]!.length, garbage.length), null);
});
