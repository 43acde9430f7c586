/**
 * Progress of a long command on stderr: a bar redrawn in place on a terminal; plain lines only
 * when asked for (`--progress lines`), so a log file or CI gets no control characters and no
 * progress unless it wants it.
 *
 * Q1. Progress never goes to stdout, so the report on stdout stays clean for pipes.
 * Q2. Bytes per second and events per second are measured from the start of the current phase.
 * Q3. A bar is redrawn at most every 100 ms, a plain line written at most every second; the first
 *     and last state of every phase are always shown.
 */
import type { VerifyProgress } from '../log/verify.js';
import { formatBytes, formatCount } from './units.js';

export type ProgressMode = 'bar' | 'lines' | 'none';

const BAR_WIDTH = 24;
const BAR_INTERVAL_MS = 100;
const LINES_INTERVAL_MS = 1000;

export class ProgressReporter {
  #phase: string | null = null;
  #phaseStartMs = 0;
  #lastDrawMs = -Infinity;
  #barShown = false;
  #last: VerifyProgress | null = null;
  #drawn: VerifyProgress | null = null;

  constructor(
    readonly mode: ProgressMode,
    readonly label: string,
    readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(progress: VerifyProgress): void {
    if (this.mode === 'none') return;
    const now = performance.now();
    if (progress.phase !== this.#phase) {
      this.#drawLast(now); // the last state of the previous phase
      this.#endBar();
      this.#phase = progress.phase;
      this.#phaseStartMs = now;
      // A bar appears at once; a plain line only after a second, so a quick phase prints one line.
      this.#lastDrawMs = this.mode === 'bar' ? -Infinity : now;
    }
    this.#last = progress;
    const interval = this.mode === 'bar' ? BAR_INTERVAL_MS : LINES_INTERVAL_MS;
    const done = progress.bytesDone >= progress.bytesTotal;
    if (now - this.#lastDrawMs >= interval || (done && this.mode === 'bar')) this.#draw(progress, now);
  }

  /** Shows the final state and leaves the cursor on a fresh line. */
  finish(): void {
    if (this.mode === 'none') return;
    this.#drawLast(performance.now());
    this.#endBar();
    this.#last = null;
    this.#phase = null;
  }

  #drawLast(now: number): void {
    if (this.#last !== null && this.#last !== this.#drawn) this.#draw(this.#last, now);
  }

  #draw(progress: VerifyProgress, now: number): void {
    this.#lastDrawMs = now;
    this.#drawn = progress;
    const seconds = Math.max((now - this.#phaseStartMs) / 1000, 0.001);
    const fraction = progress.bytesTotal === 0 ? 1 : Math.min(progress.bytesDone / progress.bytesTotal, 1);
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const sizes = `${formatBytes(progress.bytesDone)} / ${formatBytes(progress.bytesTotal)}`;
    const rates = `${formatBytes(progress.bytesDone / seconds)}/s, ${formatCount(progress.eventsDone / seconds)} events/s`;
    if (this.mode === 'bar') {
      const filled = Math.round(fraction * BAR_WIDTH);
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
      this.stream.write(`\r\x1b[2K${this.label} ${progress.phase.padEnd(6)} ${bar} ${percent}  ${sizes}  ${rates}`);
      this.#barShown = true;
    } else {
      this.stream.write(`${this.label}: ${progress.phase} ${percent.trim()} ${sizes}, ${rates}\n`);
    }
  }

  #endBar(): void {
    if (!this.#barShown) return;
    this.stream.write('\n');
    this.#barShown = false;
  }
}

/**
 * `auto`: a bar when stderr is a terminal, nothing otherwise (a log file or CI gets only the
 * report); `lines` asks for plain lines explicitly.
 */
export function progressMode(requested: string, stream: NodeJS.WriteStream = process.stderr): ProgressMode {
  if (requested === 'bar' || requested === 'lines' || requested === 'none') return requested;
  return stream.isTTY === true ? 'bar' : 'none';
}
