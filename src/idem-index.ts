/**
 * The idempotency index of one book (spec/log-engine.md, section 9): key → the original commit.
 *
 * I1. A record exists for every transaction_posted event of the book's log, forever.
 * I2. Records enter in seq order, so the hot map's insertion order (a Map iterates in insertion
 *     order) is its FIFO, oldest first.
 * I3. Prefix property: every key with seq <= spilledThroughSeq is in a durable run; every key with
 *     a higher seq is in the hot map.
 */
export interface IdemRecord {
  txid: string;
  seq: number;
  atUs: number;
}

/** What the index needs from the book's run files (src/idem-runs.ts). */
export interface RunLookup {
  get(key: string): IdemRecord | undefined;
}

export class IdemIndex {
  readonly hot = new Map<string, IdemRecord>();
  /** H of section 9.2. */
  spilledThroughSeq = 0;
  /** The book's run files, attached at open or created by spills; null until attached. */
  runs: RunLookup | null = null;

  /** Hot map first, then the runs. A run that cannot be read throws CORRUPT, never a miss. */
  get(key: string): IdemRecord | undefined {
    return this.hot.get(key) ?? this.runs?.get(key);
  }

  /** Adds a record at the back of the FIFO. False when the key is already known (I1 keeps the first). */
  insert(key: string, record: IdemRecord): boolean {
    if (this.get(key) !== undefined) return false;
    this.hot.set(key, record);
    return true;
  }
}
