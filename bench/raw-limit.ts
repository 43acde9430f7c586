/**
 * The physical limit and the fsync probe (spec/bench.md, sections 4.2 and 4.3). Both run on the
 * bench's main thread, with no store, no worker and no messaging, on the same file system as the
 * data directories.
 *
 * R1. Raw limit: one file opened in append mode; for the whole step, `writevSync` of `k`
 *     pre-encoded frames then `fsyncSync`, back to back. Frames are byte-identical to what LogStore
 *     writes for the workload transaction (8-byte header + the `{seq, at, event}` JSON), built
 *     once before the loop. Reports frames per second over the window and the latency of each
 *     writev + fsync. Warm-up and window are the step's.
 * R2. Probe: a 200-byte append + `fsyncSync`, 300 iterations after 10 discarded, in a fresh file.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RecordableHistogram } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';

import { encodeSequencedPayload } from '../src/core/event-codec.js';
import { encodeFrameFromText } from '../src/log/frame.js';
import { normaliseTransaction } from '../src/core/input.js';
import { formatAtUs, wallClockUs } from '../src/core/time.js';
import { newHistogram, recordNs } from './load.js';
import { benchBook, workloadDraft, workloadPostings } from './workload.js';

export interface ProbeResult {
  p50_us: number;
  p99_us: number;
  max_us: number;
}

const PROBE_BYTES = 200;
const PROBE_ITERATIONS = 300;
const PROBE_DISCARDED = 10;

/** R2. */
export function fsyncProbe(dir: string): ProbeResult {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `fsync-probe-${process.pid}-${Date.now()}.bin`);
  const payload = Buffer.alloc(PROBE_BYTES, 0x61);
  const histogram = newHistogram();
  const fd = fs.openSync(file, 'a');
  try {
    for (let iteration = 0; iteration < PROBE_DISCARDED + PROBE_ITERATIONS; iteration++) {
      const startNs = process.hrtime.bigint();
      fs.writeSync(fd, payload);
      fs.fsyncSync(fd);
      const elapsedNs = Number(process.hrtime.bigint() - startNs);
      if (iteration >= PROBE_DISCARDED) recordNs(histogram, elapsedNs);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return {
    p50_us: histogram.percentile(50) / 1000,
    p99_us: histogram.percentile(99) / 1000,
    max_us: histogram.max / 1000,
  };
}

/** The frames LogStore writes for `k` workload transactions of `bench-0` (R1). */
export function workloadFrames(k: number, postingsPerTx: number): Buffer[] {
  const book = benchBook(0);
  const postings = workloadPostings(book, postingsPerTx);
  const occurredAt = new Date().toISOString();
  const atUs = wallClockUs();
  const frames: Buffer[] = [];
  for (let index = 0; index < k; index++) {
    const draft = workloadDraft(book, postings, `bench/raw/${index}`, occurredAt);
    const { eventJson } = normaliseTransaction(draft);
    frames.push(encodeFrameFromText(encodeSequencedPayload(index + 3, formatAtUs(atUs), eventJson)));
  }
  return frames;
}

export interface RawMeasurement {
  batchFrames: number;
  framesPerS: number;
  latency: RecordableHistogram;
}

/**
 * R1: appends batches of `k` frames with an fsync after each, for warm-up + window. It yields
 * one event-loop turn every 20 ms so timers keep running; the yield is outside any timed batch.
 */
export async function runRawLimit(dir: string, k: number, postingsPerTx: number, warmupMs: number, windowMs: number): Promise<RawMeasurement> {
  fs.mkdirSync(dir, { recursive: true });
  const frames = workloadFrames(k, postingsPerTx);
  const file = path.join(dir, `raw-limit-k${k}-${process.pid}-${Date.now()}.log`);
  const latency = newHistogram();
  const fd = fs.openSync(file, 'a');
  let measuredFrames = 0;
  try {
    const startMs = performance.now();
    const warmEndMs = startMs + warmupMs;
    const endMs = warmEndMs + windowMs;
    let yieldAtMs = startMs + 20;
    for (let nowMs = startMs; nowMs < endMs; ) {
      const startedMs = nowMs;
      fs.writevSync(fd, frames);
      fs.fsyncSync(fd);
      nowMs = performance.now();
      if (startedMs >= warmEndMs) {
        measuredFrames += k;
        recordNs(latency, (nowMs - startedMs) * 1e6);
      }
      if (nowMs >= yieldAtMs) {
        await nextTurn();
        nowMs = performance.now();
        yieldAtMs = nowMs + 20;
      }
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return { batchFrames: k, framesPerS: measuredFrames / (windowMs / 1000), latency };
}
