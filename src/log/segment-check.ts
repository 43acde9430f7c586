/**
 * Checks one segment file on its own, frame by frame, and reports every problem it finds instead
 * of stopping at the first (spec/log-engine.md, sections 3.5, 3.7 and 5.3). Used by `verify`, which
 * runs it on sealed segments in parallel (workers/verify-task.ts), and by `dump` and `inspect`.
 *
 * S1. Read-only and pure: it takes the file's bytes and returns a report; it never throws for bad
 *     input (frame decoding never does, F1).
 * S2. The same decisions as recovery (src/recovery.ts), in the same words: a bad frame is decided by
 *     recovery's own badFrameVerdict (R4 in a sealed segment; in the final segment R3 when an intact
 *     frame follows, a torn tail when none does: R2, reported in `tornTail`, not as a problem); a
 *     CRC-valid invalid payload is R5; a seq other than the previous + 1 (the segment's base for
 *     the first frame) is R6; an empty sealed segment is R7; a commit time going backwards is R9.
 * S3. After a bad frame the check resumes at the next intact frame (the forward scan, section 3.7),
 *     so one flipped byte yields one problem, not a cascade of seq gaps.
 * S4. Rows that need more than one file (a segment's base against the previous segment's end, time
 *     across files) are checked by `checkSegmentJoin`; rows that need the book's state (R10) only
 *     by the replay in recovery.
 * S5. Beyond recovery: a `transaction_posted` whose postings do not balance per asset (debits and
 *     credits summed by direction, as the trial balance does) is reported as kind `unbalanced`.
 *     The store contract allows such transactions (store-contract 4.3), so this is not corruption.
 * S6. On request (`collectTransactions`) the check also returns the seq, offset, txid and
 *     idempotency key of every transaction it decoded, so that verify can find repeats across a
 *     book's segments (R20) and txids shared by books without decoding any frame twice.
 */
import { type DecodedPayload } from '../core/event-codec.js';
import { decodeFrame, findIntactFrameAfter, FRAME_HEADER_BYTES, isBadFrame, peekSeq } from './frame.js';
import { badFrameVerdict, recoveryMessages, type TornTail } from './recovery.js';

export interface SegmentCheckTarget {
  book: string;
  /** The path as recovery names it: path.join(dataDir, 'books', book, name). */
  file: string;
  base: number;
  /** The segment with the highest base of its book: only there can a bad tail be a torn write. */
  final: boolean;
  /** Return the transactions' identities (S6). */
  collectTransactions?: boolean;
}

/** The identities of a segment's transactions, in frame order (S6), as columns. */
export interface SegmentTransactions {
  seqs: number[];
  offsets: number[];
  txids: string[];
  keys: string[];
}

export type SegmentProblemKind = 'corrupt' | 'unbalanced';

export interface SegmentProblem {
  /** The recovery row (R3 … R10), or `TX` for an unbalanced transaction. */
  row: string;
  kind: SegmentProblemKind;
  book: string;
  file: string;
  offsetBytes: number;
  /** Recovery's wording, without the `CORRUPT: ` prefix. */
  message: string;
}

export interface SegmentCheck extends SegmentCheckTarget {
  lengthBytes: number;
  /** Frames that decoded (including those with a problem of seq or time). */
  frames: number;
  firstSeq: number | null;
  firstOffsetBytes: number | null;
  firstAtUs: number | null;
  lastSeq: number | null;
  lastAtUs: number | null;
  problems: SegmentProblem[];
  /** Final segment only: the damage runs to the end of the file and open would truncate it (R2). */
  tornTail: TornTail | null;
  /** With `collectTransactions` (S6); null otherwise. */
  transactions: SegmentTransactions | null;
}

export interface SegmentCheckOptions {
  /** Stop at the first `corrupt` problem (dump: nothing after damage is trusted). */
  stopAtFirstCorruption?: boolean;
  /** Called for every frame that decoded with the expected seq; return false to stop early. */
  visit?: (decoded: DecodedPayload, offsetBytes: number) => boolean;
}

/** Checks every frame of one segment's bytes (S1 to S3, S5). */
export function checkSegmentBytes(bytes: Buffer, target: SegmentCheckTarget, options: SegmentCheckOptions = {}): SegmentCheck {
  const check: SegmentCheck = {
    ...target,
    lengthBytes: bytes.length,
    frames: 0,
    firstSeq: null,
    firstOffsetBytes: null,
    firstAtUs: null,
    lastSeq: null,
    lastAtUs: null,
    problems: [],
    tornTail: null,
    transactions: target.collectTransactions === true ? { seqs: [], offsets: [], txids: [], keys: [] } : null,
  };
  const transactions = check.transactions;
  const { book, file } = target;
  const report = (row: string, offsetBytes: number, message: string, kind: SegmentProblemKind = 'corrupt'): boolean => {
    check.problems.push({ row, kind, book, file, offsetBytes, message });
    return kind === 'corrupt' && options.stopAtFirstCorruption === true;
  };
  let offset = 0;
  let expectedSeq = target.base;
  // After damage the seq of the next intact frame is taken as it is (S3).
  let resync = false;
  for (;;) {
    const result = decodeFrame(bytes, offset, bytes.length);
    if (result.kind === 'end') break;
    if (isBadFrame(result)) {
      const verdict = badFrameVerdict(bytes, offset, result.reason, file, target.final);
      if (verdict.row === 'R2') {
        check.tornTail = verdict.tornTail;
        break;
      }
      if (report(verdict.row, offset, verdict.message)) break;
      // S3: resume at the next intact frame (recovery needs no scan after R4; this check does).
      const intact = verdict.row === 'R3' ? verdict.intactOffsetBytes : findIntactFrameAfter(bytes, offset, bytes.length);
      if (intact === null) break;
      offset = intact;
      resync = true;
      continue;
    }
    if (result.kind === 'invalid') {
      if (report('R5', offset, recoveryMessages.invalidEvent(file, offset, result.reason))) break;
      const seq = peekSeq(bytes, offset + FRAME_HEADER_BYTES, offset + result.frameBytes);
      if (seq === null) resync = true;
      else expectedSeq = seq + 1;
      offset += result.frameBytes;
      continue;
    }
    const decoded = result.decoded;
    if (resync) {
      expectedSeq = decoded.seq;
      resync = false;
    }
    if (decoded.seq !== expectedSeq) {
      if (report('R6', offset, recoveryMessages.seqGap(book, file, offset, expectedSeq, decoded.seq))) break;
    }
    if (check.lastAtUs !== null && decoded.atUs < check.lastAtUs) {
      if (report('R9', offset, recoveryMessages.timeBackwards(book, decoded.seq, file, offset))) break;
    }
    const event = decoded.event.event;
    if (transactions !== null && event.kind === 'transaction_posted') {
      transactions.seqs.push(decoded.seq);
      transactions.offsets.push(offset);
      transactions.txids.push(event.id);
      transactions.keys.push(event.idempotency_key);
    }
    const imbalance = transactionImbalance(decoded);
    if (imbalance !== null) {
      report('TX', offset, `transaction ${imbalance.txid} at seq ${decoded.seq} in "${file}" at offset ${offset} ${imbalance.what}`, 'unbalanced');
    }
    expectedSeq = decoded.seq + 1;
    check.frames++;
    if (check.firstSeq === null) {
      check.firstSeq = decoded.seq;
      check.firstOffsetBytes = offset;
      check.firstAtUs = decoded.atUs;
    }
    check.lastSeq = decoded.seq;
    check.lastAtUs = decoded.atUs;
    if (options.visit !== undefined && !options.visit(decoded, offset)) break;
    offset += result.frameBytes;
  }
  if (bytes.length === 0 && !target.final) {
    report('R7', 0, recoveryMessages.misplacedSegment(file, target.base, true));
  }
  return check;
}

/**
 * The checks between consecutive segments of one book (S4): the segment's base must be the next
 * expected seq (R6 when it is beyond it: a lost segment; R7 otherwise), and its first commit time
 * must not be earlier than the previous segment's last (R9).
 */
export function checkSegmentJoin(expectedSeq: number, previousLastAtUs: number | null, check: SegmentCheck): SegmentProblem | null {
  const { book, file, base } = check;
  if (base > expectedSeq) {
    return { row: 'R6', kind: 'corrupt', book, file, offsetBytes: 0, message: recoveryMessages.seqGap(book, file, 0, expectedSeq, base) };
  }
  if (base < expectedSeq) {
    return { row: 'R7', kind: 'corrupt', book, file, offsetBytes: 0, message: recoveryMessages.misplacedSegment(file, expectedSeq, false) };
  }
  if (previousLastAtUs !== null && check.firstAtUs !== null && check.firstAtUs < previousLastAtUs) {
    const offset = check.firstOffsetBytes ?? 0;
    return { row: 'R9', kind: 'corrupt', book, file, offsetBytes: offset, message: recoveryMessages.timeBackwards(book, check.firstSeq!, file, offset) };
  }
  return null;
}

/** The seq the segment after `check` must start at. */
export function seqAfter(expectedSeq: number, check: SegmentCheck): number {
  return check.lastSeq === null ? expectedSeq : check.lastSeq + 1;
}

/** The first asset in which a transaction's debits and credits differ, or null (S5). */
function transactionImbalance(decoded: DecodedPayload): { txid: string; what: string } | null {
  const event = decoded.event.event;
  if (event.kind !== 'transaction_posted') return null;
  const sums = new Map<string, { debits: bigint; credits: bigint }>();
  for (const posting of event.postings) {
    const row = sums.get(posting.amount.asset) ?? { debits: 0n, credits: 0n };
    if (posting.direction === 'debit') row.debits += posting.amount.minor;
    else row.credits += posting.amount.minor;
    sums.set(posting.amount.asset, row);
  }
  for (const [asset, { debits, credits }] of sums) {
    if (debits !== credits) return { txid: event.id, what: `does not balance in ${asset}: debits ${debits}, credits ${credits}` };
  }
  return null;
}
