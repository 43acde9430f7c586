/**
 * The files of one book directory, sorted into the kinds of spec/log-engine.md section 2.2, for
 * the operator tools (src/cli/) and verification (src/verify.ts).
 *
 * K1. Classification only reads names: it opens nothing, so it is safe on a live directory.
 * K2. Segments are returned in base order; two names with one base are both kept and reported in
 *     `duplicateBases` (recovery refuses them, row R7).
 * K3. Every name lands in exactly one kind; a name that matches no pattern is `unknown` (row R19).
 */
import { parseSegmentFileName } from './segment.js';

/** What the operator tools say of snapshot and run files, whose formats they do not check yet. */
export const FORMAT_NOT_CHECKED_NOTE = 'not checked (format not implemented yet)';

const SNAPSHOT_NAME_PATTERN = /^snapshot-(\d+)\.snap$/;
const RUN_NAME_PATTERN = /^idem-(\d+)\.run$/;
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
  snapshots: string[];
  /** `idem-<n>.run`, in name order. */
  runs: string[];
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
    if (base !== null) {
      const holders = namesByBase.get(base) ?? [];
      holders.push(name);
      namesByBase.set(base, holders);
      files.segments.push({ name, base });
    } else if (SNAPSHOT_NAME_PATTERN.test(name)) {
      files.snapshots.push(name);
    } else if (RUN_NAME_PATTERN.test(name)) {
      files.runs.push(name);
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
