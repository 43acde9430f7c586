/**
 * The shape of a micro-benchmark file (spec/bench.md, section 5): each file in bench/micro/ adds
 * its tasks to one tinybench `Bench` and returns a cleanup.
 *
 * Work under about 1 µs is timed as an inner loop of N calls per tinybench sample (`addLoop`),
 * because tinybench times each call separately and its timer would dominate. The sample's
 * `overriddenDuration` is the whole loop's time, so tinybench's time budget stays wall time (a
 * per-call override would make it run until the *sum of per-call times* reached the budget, that
 * is N times too long); the driver divides the latency figures by N (`callsPerSample`).
 */
import type { Bench } from 'tinybench';

export interface MicroGroup {
  group: string;
  /** Minimum samples per task (tinybench's `iterations`, default 64); lower for slow tasks. */
  iterations?: number;
  /** Adds the group's tasks; the returned function releases what they hold. */
  register(bench: Bench, preset: 'quick' | 'default' | 'full'): Promise<() => Promise<void>>;
}

/** Calls per tinybench sample, by task name (1 when absent). */
export const callsPerSample = new Map<string, number>();

/** Runs `call` `count` times and returns the loop's duration as tinybench's override (ms). */
export function timedLoop(count: number, call: (index: number) => unknown): { overriddenDuration: number } {
  const startNs = process.hrtime.bigint();
  for (let index = 0; index < count; index++) call(index);
  return { overriddenDuration: Number(process.hrtime.bigint() - startNs) / 1e6 };
}

/** Adds a task whose every sample is `count` calls of `call`. */
export function addLoop(bench: Bench, name: string, count: number, call: (index: number) => unknown): void {
  callsPerSample.set(name, count);
  bench.add(name, () => timedLoop(count, call));
}

/** Adds a task whose every sample does `count` operations its own way (returning the override). */
export function addScaled(bench: Bench, name: string, count: number, sample: () => unknown): void {
  callsPerSample.set(name, count);
  bench.add(name, sample);
}

/** Keeps a value alive so the optimiser cannot drop the work that made it. */
export let sink: unknown = null;
export function consume(value: unknown): void {
  sink = value;
}
