/**
 * The idempotency index of one book (spec/log-engine.md, section 9): key → the original commit.
 *
 * I1. A record exists for every transaction_posted event of the book's log, forever.
 * I2. Records enter in seq order, so the hot map's insertion order (a Map iterates in insertion
 *     order) is its FIFO, oldest first.
 * I3. Prefix property: every key with seq <= spilledThroughSeq is in a durable run; every key with
 *     a higher seq is in the hot map or in the spilling map.
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
  /** Records being written to a run: still found by lookups until the run is installed. */
  spilling: Map<string, IdemRecord> | null = null;
  /** H of section 9.2. */
  spilledThroughSeq = 0;
  /** The book's run files, attached at open; null for a book with none yet. */
  runs: RunLookup | null = null;

  /** Hot map, spilling map, then the runs. A run that cannot be read throws CORRUPT, never a miss. */
  get(key: string): IdemRecord | undefined {
    return this.hot.get(key) ?? this.spilling?.get(key) ?? this.runs?.get(key);
  }

  /**
   * Adds a record at the back of the FIFO. A record at or below spilledThroughSeq is already in a
   * run (replay after the runs were attached) and is not added. False when the key is already
   * known: the first record is kept (I1).
   */
  insert(key: string, record: IdemRecord): boolean {
    if (record.seq <= this.spilledThroughSeq) return true;
    if (this.get(key) !== undefined) return false;
    this.hot.set(key, record);
    return true;
  }

  /**
   * Adds a record the writer has just validated as new (its lookup ran in the same batch): no
   * second lookup, so applying a durable commit never reads a run block.
   */
  insertNew(key: string, record: IdemRecord): void {
    this.hot.set(key, record);
  }

  /** Moves the oldest records, leaving `keep` in the hot map, to the spilling map (section 9.3). */
  beginSpill(keep: number): Map<string, IdemRecord> {
    const spilling = new Map<string, IdemRecord>();
    let excess = this.hot.size - keep;
    for (const [key, record] of this.hot) {
      if (excess-- <= 0) break;
      spilling.set(key, record);
    }
    for (const key of spilling.keys()) this.hot.delete(key);
    this.spilling = spilling;
    return spilling;
  }

  /** The run holding the spilling records is durable and installed. */
  endSpill(throughSeq: number): void {
    this.spilledThroughSeq = throughSeq;
    this.spilling = null;
  }

  /** The spill failed: the records go back to the front of the FIFO in their original order. */
  abortSpill(): void {
    if (this.spilling === null) return;
    const rest = [...this.hot];
    this.hot.clear();
    for (const [key, record] of this.spilling) this.hot.set(key, record);
    for (const [key, record] of rest) this.hot.set(key, record);
    this.spilling = null;
  }
}
