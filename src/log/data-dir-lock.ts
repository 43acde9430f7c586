/**
 * The data-directory lock (spec/log-engine.md, section 10): `<dir>/LOCK`, held with an exclusive,
 * non-blocking kernel flock for the store's whole life.
 *
 * L1. A second open of the same directory fails at once, from another process or from this one
 *     (a flock belongs to an open file description, and each open makes a new one).
 * L2. The kernel drops the lock when the process dies, kill -9 included: no stale-lock window.
 * L3. The file is created if missing, never truncated and never deleted.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { StoreError } from '../core/errors.js';

const require = createRequire(import.meta.url);
const { flockSync } = require('fs-ext') as { flockSync(fd: number, flags: 'exnb' | 'un'): void };

export class DataDirLock {
  #fd: number | null;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** Takes the lock or throws IO (`data dir already locked by another process: <dir>`). */
  static acquire(dir: string): DataDirLock {
    let fd: number;
    try {
      fd = fs.openSync(path.join(dir, 'LOCK'), 'a'); // create if missing, never truncate
    } catch (error) {
      throw StoreError.io(`cannot open the lock file of data dir ${dir}`, error);
    }
    try {
      flockSync(fd, 'exnb');
    } catch (error) {
      fs.closeSync(fd);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        throw StoreError.io(`data dir already locked by another process: ${dir}`, error);
      }
      throw StoreError.io(`cannot lock data dir ${dir}`, error);
    }
    return new DataDirLock(fd);
  }

  /** Releases the lock by closing its descriptor. Idempotent. */
  release(): void {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    fs.closeSync(fd);
  }
}
