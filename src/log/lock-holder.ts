/**
 * Who holds a data directory's LOCK (spec/log-engine.md, section 10), found without touching the
 * lock: the operator tools read `/proc/locks`, where Linux lists every flock with its holder's pid,
 * device and inode.
 *
 * H1. Never opens, locks or creates anything: trying the lock, even for a moment, could make a
 *     store that opens at that instant fail with "already locked".
 * H2. The answer is advice, not a guarantee: `unknown` where `/proc/locks` cannot be read (not
 *     Linux) or the lock file cannot be stat'ed; a lock taken right after the look is not seen.
 */
import fs from 'node:fs';
import path from 'node:path';

export type LockHolder = { kind: 'held'; pid: number } | { kind: 'free' } | { kind: 'unknown'; why: string };

const PROC_LOCKS = '/proc/locks';

/** Reads who holds `<dir>/LOCK` (H1, H2). */
export function lockHolder(dir: string): LockHolder {
  let stats: fs.BigIntStats;
  try {
    stats = fs.statSync(path.join(dir, 'LOCK'), { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'free' }; // no store ever opened it
    return { kind: 'unknown', why: (error as Error).message };
  }
  let table: string;
  try {
    table = fs.readFileSync(PROC_LOCKS, 'utf8');
  } catch (error) {
    return { kind: 'unknown', why: `${PROC_LOCKS} is not readable (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  // Linux encodes st_dev as (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12).
  const major = (stats.dev >> 8n) & 0xfffn;
  const minor = (stats.dev & 0xffn) | ((stats.dev >> 12n) & 0xfff00n);
  for (const line of table.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 18713 fe:00:2146501 0 EOF"; a blocked waiter reads "1: -> FLOCK …".
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== 'FLOCK') continue;
    const [pidText, deviceText] = [fields[4], fields[5]];
    if (pidText === undefined || deviceText === undefined) continue;
    const [majorText, minorText, inodeText] = deviceText.split(':');
    if (majorText === undefined || minorText === undefined || inodeText === undefined) continue;
    if (BigInt(`0x${majorText}`) !== major || BigInt(`0x${minorText}`) !== minor || BigInt(inodeText) !== stats.ino) continue;
    return { kind: 'held', pid: Number(pidText) };
  }
  return { kind: 'free' };
}
