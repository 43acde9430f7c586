/**
 * The files of one book directory, sorted into the kinds of spec/log-engine.md section 2.2, and
 * which of them this package owns: for recovery (src/log/recovery.ts), the operator tools
 * (src/cli/) and verification (src/verify.ts).
 *
 * K1. Classification reads names, and the first bytes of files at layout-1 names (O2); it opens
 *     nothing for writing, so it is safe on a live directory.
 * K2. Segments are returned in base order; two names with one base are both kept and reported in
 *     `duplicateBases` (recovery refuses them, row R7).
 * K3. Every name lands in exactly one kind, parsed by the engine's own name functions; a name that
 *     matches none of them is `unknown` (row R19), as recovery ignores it.
 *
 * Ownership (docs/rust-compatibility.md). A directory may be shared with the Rust store, which
 * writes segments like ours but its own snapshots and runs under the layout-1 names.
 *
 * O1. This version writes snapshots and runs under layout-2 names (`snapshot-<S>.tsnap`,
 *     `idem-<n>.trun`, and their `.tmp` files), which the Rust store never reads; they are ours.
 * O2. A file at a layout-1 name (`snapshot-<S>.snap`, `idem-<n>.run`, or such a name plus `.tmp`)
 *     is ours only when it begins with this package's magic (TALEASNP, TALEARUN): 0.1.x wrote
 *     these names. Any other is `foreign`: never loaded, never deleted, never replaced.
 * O3. Only files that are ours are ever deleted or replaced (R16, R18, snapshot pruning, merges).
 */
import path from 'node:path';
import type { FileSystem } from './file-system.js';
import { isOwnLegacyRun, parseLegacyRunFileName, parseRunFileName } from './idem-runs.js';
import { parseSegmentFileName } from './segment.js';
import { isOwnLegacySnapshot, parseLegacySnapshotFileName, parseSnapshotFileName } from './snapshot.js';

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
  /** This package's snapshots, in name order; `legacy` for a layout-1 name (O2). */
  snapshots: Array<{ name: string; seq: number; legacy: boolean }>;
  /** This package's idempotency runs, in name order; `legacy` for a layout-1 name (O2). */
  runs: Array<{ name: string; number: number; legacy: boolean }>;
  /** This package's temporary files: interrupted writes that open removes (row R18). */
  temporary: string[];
  /** Files at layout-1 names that are not this package's (O2): left alone. */
  foreign: string[];
  /** Names matching none of the patterns, `.tmp` files of such names included (row R19). */
  unknown: string[];
}

/** Sorts the entries of a book directory into their kinds (K1, K3) and owners (O1, O2). */
export function readBookFiles(fileSystem: FileSystem, bookDir: string): BookFiles {
  return classifyBookFiles(fileSystem.readdirSync(bookDir), (name, kind) =>
    kind === 'snapshot' ? isOwnLegacySnapshot(fileSystem, path.join(bookDir, name)) : isOwnLegacyRun(fileSystem, path.join(bookDir, name)),
  );
}

/**
 * Sorts the entry names of a book directory into their kinds (K3); `ownsLegacy(name, kind)` says
 * whether the file at a layout-1 name is this package's (O2).
 */
export function classifyBookFiles(names: readonly string[], ownsLegacy: (name: string, kind: 'snapshot' | 'run') => boolean): BookFiles {
  const files: BookFiles = { segments: [], duplicateBases: [], snapshots: [], runs: [], temporary: [], foreign: [], unknown: [] };
  const namesByBase = new Map<number, string[]>();
  for (const name of [...names].sort()) {
    if (name.endsWith(TEMPORARY_SUFFIX)) {
      const final = name.slice(0, -TEMPORARY_SUFFIX.length);
      if (parseSnapshotFileName(final) !== null || parseRunFileName(final) !== null) files.temporary.push(name);
      else if (parseLegacySnapshotFileName(final) !== null) (ownsLegacy(name, 'snapshot') ? files.temporary : files.foreign).push(name);
      else if (parseLegacyRunFileName(final) !== null) (ownsLegacy(name, 'run') ? files.temporary : files.foreign).push(name);
      else files.unknown.push(name);
      continue;
    }
    const base = parseSegmentFileName(name);
    if (base !== null) {
      const holders = namesByBase.get(base) ?? [];
      holders.push(name);
      namesByBase.set(base, holders);
      files.segments.push({ name, base });
      continue;
    }
    const seq = parseSnapshotFileName(name);
    const number = parseRunFileName(name);
    const legacySeq = parseLegacySnapshotFileName(name);
    const legacyNumber = parseLegacyRunFileName(name);
    if (seq !== null) files.snapshots.push({ name, seq, legacy: false });
    else if (number !== null) files.runs.push({ name, number, legacy: false });
    else if (legacySeq !== null) {
      if (ownsLegacy(name, 'snapshot')) files.snapshots.push({ name, seq: legacySeq, legacy: true });
      else files.foreign.push(name);
    } else if (legacyNumber !== null) {
      if (ownsLegacy(name, 'run')) files.runs.push({ name, number: legacyNumber, legacy: true });
      else files.foreign.push(name);
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
