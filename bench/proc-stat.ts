/**
 * CPU time of other processes, read from /proc (Linux): the bench's servers (PostgreSQL, `talea-log
 * serve`) run outside the measuring process, and their CPU per operation is reported beside it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let ticksPerSecond: number | null = null;

/** The kernel's clock ticks per second (the unit of /proc/<pid>/stat times). */
export function clockTicks(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export interface ProcStat {
  ppid: number;
  /** utime + stime of every thread, clock ticks. */
  own: number;
  /** cutime + cstime: reaped children, clock ticks. */
  children: number;
}

export function procStat(pid: number | string): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone, or not ours to read
  }
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), own: Number(fields[11]) + Number(fields[12]), children: Number(fields[13]) + Number(fields[14]) };
}

/** CPU µs (user + system, all threads) that process `pid` has used so far, or null if unreadable. */
export function processCpuUs(pid: number): number | null {
  const stat = procStat(pid);
  return stat === null ? null : (stat.own * 1e6) / clockTicks();
}
