/**
 * A fault-injecting FileSystem for tests (spec/log-engine.md, section 13.2). It wraps the real
 * one and applies a fault plan kept in a SharedArrayBuffer, so a test on the main thread can arm a
 * fault at run time inside every shard worker (which load this module through
 * `testHooks.fileSystemModule`).
 *
 * The plan can: fail the Nth call of one operation kind (optionally only for paths containing a
 * substring) with EIO, ENOSPC, EDQUOT, EMFILE or ENFILE, once or sticky; hold every matching fsync until released;
 * and it counts calls per kind.
 */
import { fsyncEach, RealFileSystem, type FileSystem, type OpenFlags, type SyncRequest } from '../../src/log/file-system.js';

export const FAULT_OPS = ['writev', 'fsync', 'rename', 'fsyncDir', 'mkdir', 'open', 'readdir'] as const;
export type FaultOp = (typeof FAULT_OPS)[number];
/** EMFILE and ENFILE model a process or system out of descriptors: only `open` and `fsyncDir` meet them for real. */
const ERRNOS = ['EIO', 'ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE'] as const;
export type FaultErrno = (typeof ERRNOS)[number];

// Int32 slots of the control buffer.
const ARMED_OP = 0; // 1 + index into FAULT_OPS, 0: nothing armed
const NTH = 1; // fail when the matching-call counter reaches this value
const STICKY = 2; // 1: every later matching call fails too
const ERRNO = 3; // index into ERRNOS
const MATCHED = 4; // matching calls of the armed op so far
const HOLD_FSYNC = 5; // 1: matching fsyncs wait until it is 0
const FAILED = 6; // 1 once the fault has fired
const COUNTS = 8; // COUNTS + index: calls per op kind, all paths
const MATCHING_COUNTS = COUNTS + FAULT_OPS.length; // + index: calls per op kind on matching paths
const SLOTS = MATCHING_COUNTS + FAULT_OPS.length;

export interface FaultyConfig {
  control: SharedArrayBuffer;
  /** Faults (and holds) apply only to paths containing this text. */
  pathIncludes: string | null;
}

/** The test side: arms faults and reads counters. */
export class FaultPlan {
  readonly control = new SharedArrayBuffer(SLOTS * 4);
  readonly #slots = new Int32Array(this.control);

  constructor(readonly pathIncludes: string | null = null) {}

  config(): FaultyConfig {
    return { control: this.control, pathIncludes: this.pathIncludes };
  }

  /** Fails the `nth` matching call of `op` from now on (1 = the next one). */
  arm(op: FaultOp, nth = 1, options: { sticky?: boolean; errno?: FaultErrno } = {}): void {
    Atomics.store(this.#slots, MATCHED, 0);
    Atomics.store(this.#slots, FAILED, 0);
    Atomics.store(this.#slots, NTH, nth);
    Atomics.store(this.#slots, STICKY, options.sticky === true ? 1 : 0);
    Atomics.store(this.#slots, ERRNO, ERRNOS.indexOf(options.errno ?? 'EIO'));
    Atomics.store(this.#slots, ARMED_OP, FAULT_OPS.indexOf(op) + 1);
  }

  disarm(): void {
    Atomics.store(this.#slots, ARMED_OP, 0);
  }

  fired(): boolean {
    return Atomics.load(this.#slots, FAILED) === 1;
  }

  holdFsyncs(): void {
    Atomics.store(this.#slots, HOLD_FSYNC, 1);
  }

  releaseFsyncs(): void {
    Atomics.store(this.#slots, HOLD_FSYNC, 0);
    Atomics.notify(this.#slots, HOLD_FSYNC);
  }

  count(op: FaultOp): number {
    return Atomics.load(this.#slots, COUNTS + FAULT_OPS.indexOf(op));
  }

  /** Calls of `op` on paths matching `pathIncludes` so far (all calls when it is null). */
  countMatching(op: FaultOp): number {
    return Atomics.load(this.#slots, MATCHING_COUNTS + FAULT_OPS.indexOf(op));
  }
}

export class FaultyFileSystem implements FileSystem {
  readonly #real = new RealFileSystem();
  readonly #slots: Int32Array;
  readonly #pathIncludes: string | null;
  readonly #paths = new Map<number, string>();

  constructor(config: FaultyConfig) {
    this.#slots = new Int32Array(config.control);
    this.#pathIncludes = config.pathIncludes;
  }

  #check(op: FaultOp, path: string): void {
    const opIndex = FAULT_OPS.indexOf(op);
    Atomics.add(this.#slots, COUNTS + opIndex, 1);
    const matches = this.#pathIncludes === null || path.includes(this.#pathIncludes);
    if (matches) Atomics.add(this.#slots, MATCHING_COUNTS + opIndex, 1);
    if (op === 'fsync' && matches) {
      while (Atomics.load(this.#slots, HOLD_FSYNC) === 1) Atomics.wait(this.#slots, HOLD_FSYNC, 1, 50);
    }
    if (Atomics.load(this.#slots, ARMED_OP) !== opIndex + 1 || !matches) return;
    const matched = Atomics.add(this.#slots, MATCHED, 1) + 1;
    const nth = Atomics.load(this.#slots, NTH);
    const sticky = Atomics.load(this.#slots, STICKY) === 1;
    if (matched === nth || (sticky && matched > nth)) {
      Atomics.store(this.#slots, FAILED, 1);
      const errno = ERRNOS[Atomics.load(this.#slots, ERRNO)] ?? 'EIO';
      throw Object.assign(new Error(`${errno}: injected ${op} failure on ${path}`), { code: errno, syscall: op, path });
    }
  }

  openSync(path: string, flags: OpenFlags): number {
    this.#check('open', path);
    const fd = this.#real.openSync(path, flags);
    this.#paths.set(fd, path);
    return fd;
  }
  closeSync(fd: number): void {
    this.#paths.delete(fd);
    this.#real.closeSync(fd);
  }
  readSync(fd: number, target: Uint8Array, positionBytes: number): number {
    return this.#real.readSync(fd, target, positionBytes);
  }
  writevSync(fd: number, chunks: readonly Uint8Array[], positionBytes?: number): number {
    this.#check('writev', this.#paths.get(fd) ?? '');
    return this.#real.writevSync(fd, chunks, positionBytes);
  }
  fsyncSync(fd: number, dataOnly?: boolean): void {
    this.#check('fsync', this.#paths.get(fd) ?? ''); // an fdatasync is an fsync to inject into
    this.#real.fsyncSync(fd, dataOnly);
  }
  /** One at a time, each through fsyncSync and its fault point: the shard still groups its books' batches. */
  fsyncAllSync(requests: readonly SyncRequest[]): Array<Error | null> {
    return fsyncEach(this, requests);
  }
  fstatSizeSync(fd: number): number {
    return this.#real.fstatSizeSync(fd);
  }
  ftruncateSync(fd: number, lengthBytes: number): void {
    this.#real.ftruncateSync(fd, lengthBytes);
  }
  renameSync(source: string, target: string): void {
    this.#check('rename', target);
    this.#real.renameSync(source, target);
  }
  unlinkSync(path: string): void {
    this.#real.unlinkSync(path);
  }
  mkdirSync(path: string): void {
    this.#check('mkdir', path);
    this.#real.mkdirSync(path);
  }
  readdirSync(path: string): string[] {
    this.#check('readdir', path);
    return this.#real.readdirSync(path);
  }
  statKindSync(path: string): 'file' | 'directory' | 'other' | null {
    return this.#real.statKindSync(path);
  }
  fsyncDirSync(path: string): void {
    this.#check('fsyncDir', path);
    this.#real.fsyncDirSync(path);
  }
}

/** The entry point workers import through `testHooks.fileSystemModule`. */
export function createFileSystem(config: unknown): FileSystem {
  return new FaultyFileSystem(config as FaultyConfig);
}

/** The module URL to pass as `testHooks.fileSystemModule`. */
export const FAULTY_FILE_SYSTEM_MODULE = import.meta.url;
