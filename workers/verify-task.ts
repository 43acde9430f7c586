/**
 * The piscina task file for verification (DESIGN: piscina runs stateless side work). Each task is
 * one segment to check or one book to replay; the work itself lives in src/log/verify-tasks.ts, which
 * also runs on the main thread in tests. Nothing here keeps state between tasks.
 */
import { runVerifyTask, type BookReplay, type VerifyTask } from '../src/log/verify-tasks.js';
import type { SegmentCheck } from '../src/log/segment-check.js';

export default function verifyTask(task: VerifyTask): SegmentCheck | BookReplay {
  return runVerifyTask(task);
}
