/**
 * SimFileSystem: an in-memory, deterministic FileSystem for power-loss tests
 * (spec/log-engine.md, sections 13.2 and 13.7). It runs with `testHooks.inProcess`, so the shard
 * logic and recovery use this very object on the test's thread.
 *
 * The model:
 *   - Every file has a volatile view (what reads see) and a durable image. A write changes the view
 *     and joins the file's pending list; `fsyncSync(fd)` applies that file's pending writes, in
 *     order, to its durable image.
 *   - Creating, renaming and deleting a directory entry changes the directory's view and joins its
 *     pending list, until `fsyncDirSync` of that directory makes its entries durable (this one rule
 *     catches every missing directory fsync).
 *   - `crash(mode)` builds the image a power loss could leave, as a fresh SimFileSystem: each
 *     pending write is kept, dropped, zeroed, garbled (random bytes) or cut to a random prefix, as
 *     a whole write, or, in the `mixed` mode, 4 KiB sector by sector; each pending directory change
 *     is applied or lost (independently, unless told otherwise). From the moment of the crash the
 *     old object is dead: every call but `closeSync` throws EIO, so nothing can be acknowledged
 *     after the crash point.
 *   - `crashAfterCalls(n)` kills the object at its nth call (before that call does anything), so a
 *     test can crash a running store at an exact, seeded point of its file-system traffic.
 *   - fsyncgate (`failFsyncAt(n)`): the nth fsync throws EIO and drops that file's pending writes
 *     from every future image, while the volatile view still shows them.
 *
 * Everything random comes from one seeded PRNG; `seed` is part of every failure message a test
 * builds with `describe()`.
 */
import path from 'node:path';
import { fsyncEach, type FileSystem, type OpenFlags, type SyncRequest } from '../../src/log/file-system.js';
import { mulberry32 } from './prng.js';

export const CRASH_MODES = ['kept', 'dropped', 'zeroed', 'garbled', 'prefix', 'mixed'] as const;
export type CrashMode = (typeof CRASH_MODES)[number];
/** What happens to directory changes that no directory fsync made durable. */
export type DirectoryCrashMode = 'random' | 'applied' | 'lost';

export const SIM_OPS = ['open', 'close', 'read', 'writev', 'fsync', 'fstat', 'ftruncate', 'rename', 'unlink', 'mkdir', 'readdir', 'stat', 'fsyncDir'] as const;
export type SimOp = (typeof SIM_OPS)[number];

const SECTOR_BYTES = 4096;


type PendingWrite = { op: 'write'; offset: number; data: Buffer } | { op: 'truncate'; length: number };

interface FileNode {
  kind: 'file';
  id: number;
  /** The volatile view: bytes 0 .. size - 1 of `view`. */
  view: Buffer;
  size: number;
  durable: Buffer;
  pending: PendingWrite[];
}

type DirChange = { op: 'link'; name: string; node: Node } | { op: 'unlink'; name: string } | { op: 'rename'; from: string; to: string; node: Node };

interface DirNode {
  kind: 'dir';
  id: number;
  entries: Map<string, Node>;
  durableEntries: Map<string, Node>;
  pending: DirChange[];
}

type Node = FileNode | DirNode;

interface Descriptor {
  node: FileNode;
  flags: OpenFlags;
  position: number;
  path: string;
}

function fsError(code: string, syscall: string, target: string, message = code): Error {
  return Object.assign(new Error(`${code}: ${message}, ${syscall} '${target}'`), { code, syscall, path: target });
}

export interface SimOptions {
  seed: number;
  /** Directories that exist, durably, from the start (with all their ancestors). */
  directories?: readonly string[];
}

export class SimFileSystem implements FileSystem {
  readonly seed: number;
  readonly #random: () => number;
  readonly #root: DirNode;
  readonly #fds = new Map<number, Descriptor>();
  readonly #counts = new Map<SimOp, number>();
  #nextFd = 100;
  #nextId = 1;
  #calls = 0;
  #crashAtCall = Number.POSITIVE_INFINITY;
  #fsyncs = 0;
  #failFsyncAt = 0;
  #dead: string | null = null;
  /** Set once the fsyncgate fault fired: the path whose pending writes were dropped. */
  fsyncgateFired: string | null = null;

  constructor(options: SimOptions) {
    this.seed = options.seed >>> 0;
    this.#random = mulberry32(this.seed);
    this.#root = this.#newDir();
    for (const directory of options.directories ?? []) this.#makeDurableDirs(directory);
  }

  // --- control ----------------------------------------------------------------------------------

  /** Total calls so far (every method but closeSync). */
  get calls(): number {
    return this.#calls;
  }

  count(op: SimOp): number {
    return this.#counts.get(op) ?? 0;
  }

  get dead(): boolean {
    return this.#dead !== null;
  }

  /** The object dies at its `n`th call from now (1 = the next call), before that call acts. */
  crashAfterCalls(n: number): void {
    this.#crashAtCall = this.#calls + Math.max(1, n);
  }

  /** fsyncgate: the `n`th fsync from now throws EIO and drops the file's pending writes for good. */
  failFsyncAt(n: number): void {
    this.#failFsyncAt = this.#fsyncs + Math.max(1, n);
  }

  /** Stops the object now: every later call but closeSync throws EIO. */
  kill(reason = 'power lost'): void {
    this.#dead ??= reason;
  }

  /** "seed N": for failure messages, so a failing case can be repeated. */
  describe(): string {
    return `SimFileSystem seed ${this.seed}`;
  }

  /** The durable size of a file as of now (the crash point once dead), or null if it has no node. */
  /** A copy of a file's durable image, or null. */
  durableBytes(target: string): Buffer | null {
    const node = this.#lookup(target);
    return node !== null && node.kind === 'file' ? Buffer.from(node.durable) : null;
  }

  durableSize(target: string): number | null {
    const node = this.#lookup(target);
    return node !== null && node.kind === 'file' ? node.durable.length : null;
  }

  /** The volatile size of a file, or null. */
  viewSize(target: string): number | null {
    const node = this.#lookup(target);
    return node !== null && node.kind === 'file' ? node.size : null;
  }

  /**
   * Power loss: kills this object and returns the image a power loss could leave, as a fresh
   * SimFileSystem in which everything is durable. Deterministic for a given seed and history.
   */
  crash(mode: CrashMode, directories: DirectoryCrashMode = 'random'): SimFileSystem {
    this.kill(`crashed (${mode})`);
    const image = new SimFileSystem({ seed: (this.seed * 31 + 7) >>> 0 });
    const files = new Map<number, Node>();
    const copyDir = (dir: DirNode, target: DirNode): void => {
      const entries = new Map(dir.durableEntries);
      for (const change of dir.pending) {
        const apply = directories === 'applied' ? true : directories === 'lost' ? false : this.#random() < 0.5;
        if (!apply) continue;
        switch (change.op) {
          case 'link':
            entries.set(change.name, change.node);
            break;
          case 'unlink':
            entries.delete(change.name);
            break;
          case 'rename':
            entries.delete(change.from);
            entries.set(change.to, change.node);
            break;
        }
      }
      for (const name of [...entries.keys()].sort()) {
        const node = entries.get(name)!;
        let copy = files.get(node.id);
        if (copy === undefined) {
          if (node.kind === 'dir') {
            const newDir = image.#newDir();
            copy = newDir;
            files.set(node.id, copy);
            copyDir(node, newDir);
          } else {
            const bytes = this.#fileImage(node, mode);
            copy = image.#newFile(bytes);
            files.set(node.id, copy);
          }
        }
        target.entries.set(name, copy);
        target.durableEntries.set(name, copy);
      }
    };
    copyDir(this.#root, image.#root);
    return image;
  }

  #fileImage(node: FileNode, mode: CrashMode): Buffer {
    let image = Buffer.from(node.durable);
    const put = (offset: number, data: Buffer): void => {
      if (offset + data.length > image.length) {
        const grown = Buffer.alloc(offset + data.length);
        image.copy(grown);
        image = grown;
      }
      data.copy(image, offset);
    };
    const damaged = (data: Buffer, how: Exclude<CrashMode, 'mixed' | 'kept'>): Buffer | null => {
      switch (how) {
        case 'dropped':
          return null;
        case 'zeroed':
          return Buffer.alloc(data.length);
        case 'garbled': {
          const bytes = Buffer.alloc(data.length);
          for (let index = 0; index < bytes.length; index++) bytes[index] = Math.floor(this.#random() * 256);
          return bytes;
        }
        case 'prefix':
          return data.subarray(0, Math.floor(this.#random() * data.length));
      }
    };
    for (const pending of node.pending) {
      if (pending.op === 'truncate') {
        if (mode === 'kept' || this.#random() < 0.5) {
          const cut = Buffer.alloc(pending.length);
          image.copy(cut, 0, 0, Math.min(pending.length, image.length));
          image = cut;
        }
        continue;
      }
      const { offset, data } = pending;
      if (mode === 'kept') {
        put(offset, data);
      } else if (mode !== 'mixed') {
        const piece = damaged(data, mode);
        if (piece !== null) put(offset, piece);
      } else {
        // Sector by sector: each 4 KiB-aligned piece of the write meets its own fate.
        let start = 0;
        while (start < data.length) {
          const end = Math.min(data.length, (Math.floor((offset + start) / SECTOR_BYTES) + 1) * SECTOR_BYTES - offset);
          const sector = data.subarray(start, end);
          const fate = (['kept', 'dropped', 'zeroed', 'garbled', 'prefix'] as const)[Math.floor(this.#random() * 5)]!;
          const piece = fate === 'kept' ? sector : damaged(sector, fate);
          if (piece !== null) put(offset + start, piece);
          start = end;
        }
      }
    }
    return image;
  }

  // --- the FileSystem interface -----------------------------------------------------------------

  openSync(target: string, flags: OpenFlags): number {
    this.#enter('open', 'open', target);
    const { parent, name } = this.#parentOf(target, 'open');
    let node = parent.entries.get(name);
    if (node !== undefined && node.kind === 'dir') throw fsError('EISDIR', 'open', target, 'illegal operation on a directory');
    if (flags === 'wx' && node !== undefined) throw fsError('EEXIST', 'open', target, 'file already exists');
    if (node === undefined) {
      if (flags === 'r' || flags === 'r+') throw fsError('ENOENT', 'open', target, 'no such file or directory');
      node = this.#newFile(Buffer.alloc(0));
      node.durable = Buffer.alloc(0);
      parent.entries.set(name, node);
      parent.pending.push({ op: 'link', name, node });
    }
    const fd = this.#nextFd++;
    this.#fds.set(fd, { node, flags, position: 0, path: path.resolve(target) });
    return fd;
  }

  closeSync(fd: number): void {
    this.#bump('close');
    if (!this.#fds.delete(fd) && this.#dead === null) throw fsError('EBADF', 'close', String(fd), 'bad file descriptor');
  }

  readSync(fd: number, target: Uint8Array, positionBytes: number): number {
    const descriptor = this.#descriptor(fd, 'read');
    const node = descriptor.node;
    if (positionBytes >= node.size) return 0;
    const count = Math.min(target.length, node.size - positionBytes);
    node.view.copy(target, 0, positionBytes, positionBytes + count);
    return count;
  }

  writevSync(fd: number, chunks: readonly Uint8Array[], positionBytes?: number): number {
    const descriptor = this.#descriptor(fd, 'writev');
    if (descriptor.flags === 'r') throw fsError('EBADF', 'write', descriptor.path, 'bad file descriptor');
    const data = Buffer.concat(chunks.map((chunk) => Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    const node = descriptor.node;
    // Linux: a positioned write on an append-mode descriptor still appends.
    const offset = descriptor.flags === 'a' ? node.size : (positionBytes ?? descriptor.position);
    this.#writeView(node, offset, data);
    node.pending.push({ op: 'write', offset, data: Buffer.from(data) });
    descriptor.position = offset + data.length;
    return data.length;
  }

  /** fdatasync too: in this model a file's length is part of its data, which both make durable. */
  fsyncSync(fd: number): void {
    const descriptor = this.#descriptor(fd, 'fsync');
    const node = descriptor.node;
    this.#fsyncs++;
    if (this.#fsyncs === this.#failFsyncAt) {
      // fsyncgate: the error is reported once and the dirty pages are gone for every future image.
      node.pending = [];
      this.fsyncgateFired = descriptor.path;
      throw fsError('EIO', 'fsync', descriptor.path, 'i/o error (simulated fsyncgate)');
    }
    node.durable = applyWrites(node.durable, node.pending);
    node.pending = [];
  }

  /** One at a time, through fsyncSync: the shard still groups its books' batches before their fsyncs. */
  fsyncAllSync(requests: readonly SyncRequest[]): Array<Error | null> {
    return fsyncEach(this, requests);
  }

  fstatSizeSync(fd: number): number {
    return this.#descriptor(fd, 'fstat').node.size;
  }

  ftruncateSync(fd: number, lengthBytes: number): void {
    const descriptor = this.#descriptor(fd, 'ftruncate');
    if (descriptor.flags === 'r') throw fsError('EINVAL', 'ftruncate', descriptor.path, 'invalid argument');
    const node = descriptor.node;
    if (lengthBytes > node.view.length) this.#grow(node, lengthBytes);
    if (lengthBytes > node.size) node.view.fill(0, node.size, lengthBytes);
    node.size = lengthBytes;
    node.pending.push({ op: 'truncate', length: lengthBytes });
  }

  renameSync(source: string, target: string): void {
    this.#enter('rename', 'rename', target);
    const from = this.#parentOf(source, 'rename');
    const to = this.#parentOf(target, 'rename');
    const node = from.parent.entries.get(from.name);
    if (node === undefined) throw fsError('ENOENT', 'rename', source, 'no such file or directory');
    const existing = to.parent.entries.get(to.name);
    if (existing !== undefined && existing.kind === 'dir') throw fsError('EISDIR', 'rename', target, 'illegal operation on a directory');
    from.parent.entries.delete(from.name);
    to.parent.entries.set(to.name, node);
    if (from.parent === to.parent) {
      from.parent.pending.push({ op: 'rename', from: from.name, to: to.name, node });
    } else {
      from.parent.pending.push({ op: 'unlink', name: from.name });
      to.parent.pending.push({ op: 'link', name: to.name, node });
    }
  }

  unlinkSync(target: string): void {
    this.#enter('unlink', 'unlink', target);
    const { parent, name } = this.#parentOf(target, 'unlink');
    const node = parent.entries.get(name);
    if (node === undefined) throw fsError('ENOENT', 'unlink', target, 'no such file or directory');
    if (node.kind === 'dir') throw fsError('EISDIR', 'unlink', target, 'illegal operation on a directory');
    parent.entries.delete(name);
    parent.pending.push({ op: 'unlink', name });
  }

  mkdirSync(target: string): void {
    this.#enter('mkdir', 'mkdir', target);
    const { parent, name } = this.#parentOf(target, 'mkdir');
    const existing = parent.entries.get(name);
    if (existing !== undefined) {
      if (existing.kind === 'dir') return;
      throw fsError('EEXIST', 'mkdir', target, 'file already exists');
    }
    const node = this.#newDir();
    parent.entries.set(name, node);
    parent.pending.push({ op: 'link', name, node });
  }

  readdirSync(target: string): string[] {
    this.#enter('readdir', 'scandir', target);
    const node = this.#lookup(target);
    if (node === null) throw fsError('ENOENT', 'scandir', target, 'no such file or directory');
    if (node.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', target, 'not a directory');
    return [...node.entries.keys()].sort();
  }

  statKindSync(target: string): 'file' | 'directory' | 'other' | null {
    this.#enter('stat', 'stat', target);
    const node = this.#lookup(target);
    return node === null ? null : node.kind === 'dir' ? 'directory' : 'file';
  }

  fsyncDirSync(target: string): void {
    this.#enter('fsyncDir', 'fsync', target);
    const node = this.#lookup(target);
    if (node === null) throw fsError('ENOENT', 'open', target, 'no such file or directory');
    if (node.kind !== 'dir') throw fsError('ENOTDIR', 'fsync', target, 'not a directory');
    node.durableEntries = new Map(node.entries);
    node.pending = [];
  }

  // --- helpers ----------------------------------------------------------------------------------

  #bump(op: SimOp): void {
    this.#counts.set(op, (this.#counts.get(op) ?? 0) + 1);
  }

  /** Counts the call, and fails it if the object is dead or dies now. */
  #enter(op: SimOp, syscall: string, target: string): void {
    this.#bump(op);
    this.#calls++;
    if (this.#calls >= this.#crashAtCall) this.kill(`crashed at call ${this.#crashAtCall}`);
    if (this.#dead !== null) throw fsError('EIO', syscall, target, `i/o error (simulated: ${this.#dead})`);
  }

  #descriptor(fd: number, op: SimOp): Descriptor {
    const descriptor = this.#fds.get(fd);
    this.#enter(op, op, descriptor?.path ?? `fd ${fd}`);
    if (descriptor === undefined) throw fsError('EBADF', op, String(fd), 'bad file descriptor');
    return descriptor;
  }

  #newDir(): DirNode {
    return { kind: 'dir', id: this.#nextId++, entries: new Map(), durableEntries: new Map(), pending: [] };
  }

  #newFile(bytes: Buffer): FileNode {
    const view = Buffer.alloc(Math.max(64, bytes.length));
    bytes.copy(view);
    return { kind: 'file', id: this.#nextId++, view, size: bytes.length, durable: Buffer.from(bytes), pending: [] };
  }

  #makeDurableDirs(target: string): void {
    let dir = this.#root;
    for (const part of components(target)) {
      let next = dir.entries.get(part);
      if (next === undefined) {
        next = this.#newDir();
        dir.entries.set(part, next);
        dir.durableEntries.set(part, next);
      }
      if (next.kind !== 'dir') throw new Error(`${target}: ${part} is a file`);
      dir = next;
    }
  }

  #lookup(target: string): Node | null {
    let node: Node = this.#root;
    for (const part of components(target)) {
      if (node.kind !== 'dir') throw fsError('ENOTDIR', 'stat', target, 'not a directory');
      const next: Node | undefined = node.entries.get(part);
      if (next === undefined) return null;
      node = next;
    }
    return node;
  }

  #parentOf(target: string, syscall: string): { parent: DirNode; name: string } {
    const resolved = path.resolve(target);
    const parent = this.#lookup(path.dirname(resolved));
    if (parent === null) throw fsError('ENOENT', syscall, target, 'no such file or directory');
    if (parent.kind !== 'dir') throw fsError('ENOTDIR', syscall, target, 'not a directory');
    return { parent, name: path.basename(resolved) };
  }

  #grow(node: FileNode, capacity: number): void {
    const grown = Buffer.alloc(Math.max(capacity, node.view.length * 2));
    node.view.copy(grown, 0, 0, node.size);
    node.view = grown;
  }

  #writeView(node: FileNode, offset: number, data: Buffer): void {
    const end = offset + data.length;
    if (end > node.view.length) this.#grow(node, end);
    if (offset > node.size) node.view.fill(0, node.size, offset);
    data.copy(node.view, offset);
    node.size = Math.max(node.size, end);
  }
}

function components(target: string): string[] {
  return path
    .resolve(target)
    .split('/')
    .filter((part) => part.length > 0);
}

function applyWrites(durable: Buffer, pending: readonly PendingWrite[]): Buffer {
  let image = durable;
  for (const write of pending) {
    if (write.op === 'truncate') {
      const cut = Buffer.alloc(write.length);
      image.copy(cut, 0, 0, Math.min(write.length, image.length));
      image = cut;
      continue;
    }
    const end = write.offset + write.data.length;
    if (end > image.length) {
      const grown = Buffer.alloc(end);
      image.copy(grown);
      image = grown;
    } else if (image === durable) {
      image = Buffer.from(image);
    }
    write.data.copy(image, write.offset);
  }
  return image;
}
