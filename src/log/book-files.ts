/**
 * The files of one book directory, sorted into the kinds of spec/log-engine.md section 2.2, for
 * the operator tools (src/cli/) and verification (src/verify.ts).
 *
 * K1. Classification only reads names: it opens nothing, so it is safe on a live directory.
 * K2. Segments are returned in base order; two names with one base are both kept and reported in
 *     `duplicateBases` (recovery refuses them, row R7).
 * K3. Every name lands in exactly one kind, parsed by the engine's own name functions; a name that
 *     matches none of them is `unknown` (row R19), as recovery ignores it.
 */
import { parseRunFileName } from './idem-runs.js';
import { parseSegmentFileName } from './segment.js';
import { parseSnapshotFileName } from './snapshot.js';

const TEMPORARY_SUFFIX = '.tmp';

export interface SegmentName {
  name: string;
  base: number;
}

export interface BookFiles {
  /** In base order (K2). */
  segments: SegmentName[];
  /** Bases held by more than one segment file, with every name that holds them. */
  duplicateBases: Array<{ base: number; names: string[] }>;
  /** `snapshot-<seq>.snap`, in name order. */
  snapshots: Array<{ name: string; seq: number }>;
  /** `idem-<n>.run`, in name order. */
  runs: Array<{ name: string; number: number }>;
  /** Any name ending in `.tmp`: interrupted writes that open removes (row R18). */
  temporary: string[];
  /** Names matching none of the patterns (row R19). */
  unknown: string[];
}

/** Sorts the entry names of a book directory into their kinds (K1, K3). */
export function classifyBookFiles(names: readonly string[]): BookFiles {
  const files: BookFiles = { segments: [], duplicateBases: [], snapshots: [], runs: [], temporary: [], unknown: [] };
  const namesByBase = new Map<number, string[]>();
  for (const name of [...names].sort()) {
    if (name.endsWith(TEMPORARY_SUFFIX)) {
      files.temporary.push(name);
      continue;
    }
    const base = parseSegmentFileName(name);
    const seq = parseSnapshotFileName(name);
    const number = parseRunFileName(name);
    if (base !== null) {
      const holders = namesByBase.get(base) ?? [];
      holders.push(name);
      namesByBase.set(base, holders);
      files.segments.push({ name, base });
    } else if (seq !== null) {
      files.snapshots.push({ name, seq });
    } else if (number !== null) {
      files.runs.push({ name, number });
    } else {
      files.unknown.push(name);
    }
  }
  files.segments.sort((left, right) => left.base - right.base || (left.name < right.name ? -1 : 1));
  for (const [base, holders] of namesByBase) {
    if (holders.length > 1) files.duplicateBases.push({ base, names: holders });
  }
  return files;
}
