/**
 * Helpers for tests that build, inspect and damage segment files on disk (conformance.md 2.1,
 * 2.5): temporary directories, frame walking, hand-encoded frames with correct CRCs, copies and
 * byte-for-byte snapshots of directory trees.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeSequencedPayload } from '../../src/core/event-codec.js';
import { decodeFrame, encodeFrameFromText } from '../../src/log/frame.js';
import { StoreError } from '../../src/core/errors.js';

/** A fresh temporary directory; remove it with `removeTempDir`. */
export function makeTempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'talea-'));
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export interface FrameInfo {
  offset: number;
  /** Header plus payload bytes. */
  length: number;
  seq: number;
  /** The payload as UTF-8 text. */
  payload: string;
}

/** Walks a segment with the frame decoder; every frame must be intact. */
export function readFrames(file: string): FrameInfo[] {
  const bytes = fs.readFileSync(file);
  const frames: FrameInfo[] = [];
  let offset = 0;
  for (;;) {
    const result = decodeFrame(bytes, offset, bytes.length);
    if (result.kind === 'end') return frames;
    assert.equal(result.kind, 'frame', `frame at offset ${offset} of ${file}`);
    if (result.kind !== 'frame') return frames;
    frames.push({
      offset,
      length: result.frameBytes,
      seq: result.decoded.seq,
      payload: bytes.toString('utf8', offset + 8, offset + result.frameBytes),
    });
    offset += result.frameBytes;
  }
}

/** Each frame's start offset (conformance.md 2.1 `frameOffsets`). */
export function frameOffsets(file: string): number[] {
  return readFrames(file).map((frame) => frame.offset);
}

/** The three parts of a payload `{"seq":…,"at":"…","event":…}` as this project writes it. */
export function splitPayload(payload: string): { seq: number; at: string; eventJson: string } {
  const match = /^\{"seq":(\d+),"at":"([^"]+)","event":(.*)\}$/s.exec(payload);
  assert(match !== null, `payload of unexpected form: ${payload}`);
  return { seq: Number(match[1]), at: match[2]!, eventJson: match[3]! };
}

/** A frame with a correct CRC around any payload text. */
export function frameOf(payload: string): Buffer {
  return encodeFrameFromText(payload);
}

/** A frame with a correct CRC for `(seq, at, event JSON)`. */
export function eventFrame(seq: number, at: string, eventJson: string): Buffer {
  return encodeFrameFromText(encodeSequencedPayload(seq, at, eventJson));
}

/** The segment files of a book directory, sorted by name. */
export function segmentFiles(bookDir: string): string[] {
  return fs
    .readdirSync(bookDir)
    .filter((name) => /^segment-\d+\.log$/.test(name))
    .sort()
    .map((name) => path.join(bookDir, name));
}

/** The segment file with the highest name (conformance.md 2.1 `newestSegment`). */
export function newestSegment(bookDir: string): string {
  const files = segmentFiles(bookDir);
  assert(files.length > 0, `no segment in ${bookDir}`);
  return files[files.length - 1]!;
}

export function copyDir(source: string, target: string): void {
  fs.cpSync(source, target, { recursive: true });
}

/** XORs one byte of a file in place. */
export function xorByte(file: string, offset: number, mask = 0xff): void {
  const bytes = fs.readFileSync(file);
  assert(offset >= 0 && offset < bytes.length);
  bytes[offset]! ^= mask;
  fs.writeFileSync(file, bytes);
}

/** Every file under `dir` (relative path → bytes), and every directory (relative path → null). */
export function snapshotTree(dir: string): Map<string, Buffer | null> {
  const tree = new Map<string, Buffer | null>();
  const walk = (current: string): void => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      const relative = path.relative(dir, full);
      if (entry.isDirectory()) {
        tree.set(relative, null);
        walk(full);
      } else {
        tree.set(relative, fs.readFileSync(full));
      }
    }
  };
  walk(dir);
  return tree;
}

/** Asserts that two tree snapshots are equal, byte for byte. */
export function assertSameTree(actual: Map<string, Buffer | null>, expected: Map<string, Buffer | null>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [name, bytes] of expected) {
    const other = actual.get(name);
    if (bytes === null) assert.equal(other, null, name);
    else assert(other !== null && other !== undefined && bytes.equals(other), `${name} changed`);
  }
}

export interface CorruptExpectation {
  book: string;
  file: string;
  offset: number;
  message?: RegExp;
}

/** Checks that `error` is CORRUPT with exactly this book, file and offset. */
export function assertCorrupt(error: unknown, expected: CorruptExpectation): true {
  assert(error instanceof StoreError, `expected a StoreError, got ${String(error)}`);
  assert.equal(error.code, 'CORRUPT', error.message);
  const details = error as StoreError & { book: string; file: string; offset: number };
  assert.equal(details.file, expected.file, error.message);
  assert.equal(details.offset, expected.offset, error.message);
  assert.equal(details.book, expected.book, error.message);
  if (expected.message !== undefined) assert.match(error.message, expected.message);
  return true;
}

/** Escapes text for use inside a RegExp. */
export function re(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
