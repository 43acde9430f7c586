/**
 * The set-based flush of PgStore (spec/postgres-store.md 3.2, F4-F7): a flush of any number of
 * jobs reads its state in one statement, validates every job in JavaScript against that state
 * plus what its accepted batchmates changed, and writes everything in one statement. The round
 * trips of a flush no longer grow with its jobs; PgStore (pg-store.ts) runs the transaction
 * around it: the lock before (F3), COMMIT after (F8), reruns after a lost connection.
 *
 * V1. One state read (F4), after the lock: the idempotency records of the jobs' keys with their
 *     originals, the txids taken, the accounts named, the assets named, the book's trial-balance
 *     rows of the assets posted, whether a case twin owns the book's case key.
 * V2. Validation job by job in call order, with the shared rules in the contract's order
 *     (identity.ts, commit-checks.ts), against that state and an overlay: an accepted job's
 *     idempotency record, txid, opened account, registered asset, balances and sums are seen by
 *     the jobs after it, a refused job changes nothing. Same answers as the jobs run one by one.
 * V3. One write statement (F7) of writable CTEs over `unnest` arrays: a fixed parameter count,
 *     one plan, no parameter limit. Accounts and trial-balance rows are written with their final
 *     values (an account opened and posted to in one flush is inserted with its balance, since
 *     the CTEs of one statement do not see each other's rows); every update is guarded by the
 *     value it replaces, and the statement itself fails unless every CTE wrote exactly the rows
 *     staged for it (P5), so COMMIT can be sent behind it without waiting.
 * V4. Trial-balance rows (`book_assets`) hold the saturating sums of the book's postings per asset
 *     and direction in (seq, idx) order, so `trialBalance()` reads O(assets) rows.
 */
import { accountKey } from '../core/account-key.js';
import { checkedDeltas, postingAccount, type LoadedAccount } from '../core/commit-checks.js';
import { bookCaseKey } from '../core/book-name.js';
import { StoreError } from '../core/errors.js';
import { decodeAssetDef, decodeEvent, decodeTransaction } from '../core/event-codec.js';
import { sameAccount, sameAssetDef, sameTransactionContent } from '../core/identity.js';
import type { NormalisedAccount, NormalisedAsset, NormalisedTransaction } from '../core/input.js';
import { formatAtUs } from '../core/time.js';
import { addSaturating } from '../core/trial-balance.js';
import { SYSTEM_BOOK, type AccountKind, type Committed, type Direction, type SequencedEvent, type Transaction } from '../core/types.js';
import { US } from './pg-schema.js';

export type Job =
  | { kind: 'asset'; asset: NormalisedAsset }
  | { kind: 'account'; account: NormalisedAccount }
  | { kind: 'refuse'; error: StoreError }
  | { kind: 'commit'; draft: NormalisedTransaction };

/** The book head as locked by a flush, and what the flush appended so far. */
export interface FlushState {
  book: string;
  /** The head row exists (or a commit of this flush creates it: `createsHead`). */
  exists: boolean;
  /** A commit of this flush appends to a book without a head row: PgStore inserts it before F7. */
  createsHead: boolean;
  lastSeq: number;
  lastAtUs: number;
  /** The `at` of the next append: one per flush, or each imported event's own (P13). */
  atUs: number | null;
  /** The seq of the first append (`lastSeq + 1` when locked). */
  firstSeq: number;
  /** Per appended event: its `at` in µs, kind and JSON as inserted (a rerun compares them, P12). */
  atsUs: number[];
  kinds: EventKind[];
  eventJsons: string[];
}

type EventKind = 'asset_registered' | 'account_opened' | 'transaction_posted';

export function lockedState(book: string, head: { lastSeq: number; lastAtUs: number } | undefined): FlushState {
  const lastSeq = head?.lastSeq ?? 0;
  return {
    book,
    exists: head !== undefined,
    createsHead: false,
    lastSeq,
    lastAtUs: head?.lastAtUs ?? 0,
    atUs: null,
    firstSeq: lastSeq + 1,
    atsUs: [],
    kinds: [],
    eventJsons: [],
  };
}

/** The events a flush appended, decoded (for local subscribers). */
export function appendedEvents(state: FlushState): SequencedEvent[] {
  return state.eventJsons.map((json, index) => ({ seq: state.firstSeq + index, at: formatAtUs(state.atsUs[index]!), event: decodeEvent(json) }));
}

/** An account as a flush sees it: as read (V1), then as its accepted jobs left it (V2). */
interface WorkingAccount extends LoadedAccount {
  /** Opened by this flush: inserted with its final balance. */
  opened: { seq: number } | null;
  /** The raw balance read under the lock (the update's guard). */
  readRaw: bigint;
  /** The seq of the last commit of this flush that posted to it, 0 if none. */
  updatedSeq: number;
}

/** A book's trial-balance row of one asset, as read and as the flush's commits left it (V4). */
interface WorkingSums {
  asset: string;
  debits: bigint;
  credits: bigint;
  read: { debits: bigint; credits: bigint } | null;
  updatedSeq: number;
}

/** An idempotency record: stored (its original event decoded on demand) or accepted in this flush. */
interface IdempotencyRecord {
  committed: Committed;
  tx: Transaction | null;
  eventJson: string;
}

/** The inserts a flush's accepted jobs staged, column by column (V3). */
interface StagedRows {
  txids: string[];
  keys: string[];
  txSeqs: number[];
  postingPaths: string[];
  postingSeqs: number[];
  postingIdx: number[];
  postingTxids: string[];
  postingAssets: string[];
  postingDirections: Direction[];
  postingMinors: string[];
  postingRawAfter: string[];
  postingAts: string[];
  assetIds: string[];
  assetSeqs: number[];
}

/** The state read of F4, then the overlay of the flush's accepted jobs (V1, V2). */
export class FlushView {
  readonly #idempotency = new Map<string, IdempotencyRecord>();
  readonly #txids = new Set<string>();
  readonly #accounts = new Map<string, WorkingAccount>();
  /** Registered assets: their definition's event JSON (stored) or definition (this flush). */
  readonly #assets = new Map<string, string | NormalisedAsset['def']>();
  readonly #sums = new Map<string, WorkingSums>();
  readonly #twin: boolean;
  readonly #rows: StagedRows = {
    txids: [],
    keys: [],
    txSeqs: [],
    postingPaths: [],
    postingSeqs: [],
    postingIdx: [],
    postingTxids: [],
    postingAssets: [],
    postingDirections: [],
    postingMinors: [],
    postingRawAfter: [],
    postingAts: [],
    assetIds: [],
    assetSeqs: [],
  };

  private constructor(twin: boolean) {
    this.#twin = twin;
  }

  /** The parameters of the state read (`stateReadSql`) for these jobs of `book`. */
  static readParams(book: string, jobs: readonly Job[]): unknown[] {
    const keys = new Set<string>();
    const txids = new Set<string>();
    const paths = new Set<string>();
    const assets = new Set<string>();
    const postedAssets = new Set<string>();
    for (const job of jobs) {
      switch (job.kind) {
        case 'asset':
          assets.add(job.asset.def.id);
          break;
        case 'account':
          paths.add(job.account.def.id.path);
          assets.add(job.account.def.asset);
          break;
        case 'commit': {
          const tx = job.draft.tx;
          keys.add(tx.idempotency_key);
          txids.add(tx.id);
          for (const posting of tx.postings) {
            if (posting.account.book === book) paths.add(posting.account.path);
            postedAssets.add(posting.amount.asset);
          }
          break;
        }
        case 'refuse':
          break;
      }
    }
    return [book, [...keys], [...txids], [...paths], SYSTEM_BOOK, [...assets], [...postedAssets], bookCaseKey(book)];
  }

  /** The view of the state read's one row (V1). */
  static fromRow(book: string, row: Record<string, unknown>): FlushView {
    const view = new FlushView(row.twin === true);
    for (const [key, txid, seq, atUs, eventJson] of row.idempotency as Array<[string, string, string, string, string]>) {
      view.#idempotency.set(key, { committed: { txid, seq: Number(seq), at: formatAtUs(Number(atUs)) }, tx: null, eventJson });
    }
    for (const txid of row.txids as string[]) view.#txids.add(txid);
    for (const [path, asset, kind, normalSide, minBalance, raw] of row.accounts as Array<[string, string, string, string | null, string | null, string]>) {
      const balance = BigInt(raw);
      view.#accounts.set(path, {
        def: { id: { book, path }, asset, kind: kind as AccountKind },
        cfg: { normal_side: normalSide as Direction | null, min_balance: minBalance === null ? null : BigInt(minBalance) },
        raw: balance,
        readRaw: balance,
        opened: null,
        updatedSeq: 0,
      });
    }
    for (const [id, eventJson] of row.assets as Array<[string, string]>) view.#assets.set(id, eventJson);
    for (const [asset, debits, credits] of row.sums as Array<[string, string, string]>) {
      const read = { debits: BigInt(debits), credits: BigInt(credits) };
      view.#sums.set(asset, { asset, ...read, read, updatedSeq: 0 });
    }
    return view;
  }

  /**
   * Validates one job against the view (V2) and, when it passes, appends its event to `state`
   * and stages its rows; returns the job's answer or throws its StoreError. `clockUs` stamps the
   * flush's first append.
   */
  apply(state: FlushState, job: Job, clockUs: () => number): unknown {
    switch (job.kind) {
      case 'refuse':
        this.#checkCaseConflict(state);
        throw job.error;
      case 'asset': {
        const { def, eventJson } = job.asset;
        const existing = this.#assets.get(def.id);
        if (existing !== undefined) {
          if (sameAssetDef(typeof existing === 'string' ? decodeAssetDef(existing) : existing, def)) return undefined;
          throw StoreError.alreadyExists(`asset ${def.id}`);
        }
        const { seq } = append(state, 'asset_registered', eventJson, clockUs);
        this.#assets.set(def.id, def);
        this.#rows.assetIds.push(def.id);
        this.#rows.assetSeqs.push(seq);
        return undefined;
      }
      case 'account': {
        this.#checkCaseConflict(state);
        const { def, cfg, eventJson } = job.account;
        if (!this.#assets.has(def.asset)) throw StoreError.unknownAsset(def.asset);
        const existing = this.#accounts.get(def.id.path);
        if (existing !== undefined) {
          if (sameAccount(existing, job.account)) return undefined;
          throw StoreError.alreadyExists(`account ${accountKey(def.id)}`);
        }
        const { seq } = append(state, 'account_opened', eventJson, clockUs);
        this.#accounts.set(def.id.path, { def, cfg, raw: 0n, readRaw: 0n, opened: { seq }, updatedSeq: 0 });
        return undefined;
      }
      case 'commit':
        return this.#commit(state, job.draft, clockUs);
    }
  }

  /** INVALID_BOOK case_conflict when the book has no head and another book owns its case key. */
  #checkCaseConflict(state: FlushState): void {
    if (!state.exists && this.#twin) throw StoreError.invalidBook(state.book, 'case_conflict');
  }

  /** The checks of store-contract 7.3 in its order, then the append and the staged rows. */
  #commit(state: FlushState, draft: NormalisedTransaction, clockUs: () => number): Committed {
    const { tx, eventJson } = draft;
    // 4. Idempotency first: a same-content retry returns the original whatever happened since.
    const prior = this.#idempotency.get(tx.idempotency_key);
    if (prior !== undefined) {
      prior.tx ??= decodeTransaction(prior.eventJson);
      if (sameTransactionContent(prior.tx, tx)) return prior.committed;
      throw StoreError.idempotencyConflict(tx.book, tx.idempotency_key, prior.committed);
    }
    // 5. Txid uniqueness, store-wide.
    if (this.#txids.has(tx.id)) throw StoreError.alreadyExists(`transaction ${tx.id}`);
    // 6. Postings in order: open in tx.book, same asset.
    const accounts = tx.postings.map((posting) => postingAccount(posting, posting.account.book === tx.book ? this.#accounts.get(posting.account.path) : undefined));
    // 7-8. Overflow and minimum balances.
    const deltas = checkedDeltas(tx.postings, accounts);
    // 9. Append and stage. Each posting row carries its account's raw balance after the whole
    // transaction, so `balance(asOf)` is one row.
    const { seq, at } = append(state, 'transaction_posted', eventJson, clockUs);
    const rows = this.#rows;
    rows.txids.push(tx.id);
    rows.keys.push(tx.idempotency_key);
    rows.txSeqs.push(seq);
    for (const [account, delta] of deltas) {
      account.raw += delta;
      account.updatedSeq = seq;
    }
    for (let index = 0; index < tx.postings.length; index++) {
      const posting = tx.postings[index]!;
      rows.postingPaths.push(posting.account.path);
      rows.postingSeqs.push(seq);
      rows.postingIdx.push(index);
      rows.postingTxids.push(tx.id);
      rows.postingAssets.push(posting.amount.asset);
      rows.postingDirections.push(posting.direction);
      rows.postingMinors.push(posting.amount.minor.toString());
      rows.postingRawAfter.push(accounts[index]!.raw.toString());
      rows.postingAts.push(at);
      this.#addToSums(posting.amount.asset, posting.direction, posting.amount.minor, seq);
    }
    const committed: Committed = { txid: tx.id, seq, at };
    this.#idempotency.set(tx.idempotency_key, { committed, tx, eventJson });
    this.#txids.add(tx.id);
    return committed;
  }

  /** The flush's trial-balance sums, saturating in (seq, idx) order (V4). */
  #addToSums(asset: string, direction: Direction, minor: bigint, seq: number): void {
    let sums = this.#sums.get(asset);
    if (sums === undefined) {
      sums = { asset, debits: 0n, credits: 0n, read: null, updatedSeq: 0 };
      this.#sums.set(asset, sums);
    }
    addSaturating(sums, direction, minor);
    sums.updatedSeq = seq;
  }

  /** The parameters of the write statement (`writeSql`, V3). */
  writeParams(state: FlushState): unknown[] {
    const rows = this.#rows;
    const ats = state.atsUs.map(formatAtUs);
    const seqs = state.atsUs.map((_, index) => state.firstSeq + index);
    const opened: WorkingAccount[] = [];
    const updated: WorkingAccount[] = [];
    for (const account of this.#accounts.values()) {
      if (account.opened !== null) opened.push(account);
      else if (account.updatedSeq !== 0) updated.push(account);
    }
    const insertedSums: WorkingSums[] = [];
    const updatedSums: WorkingSums[] = [];
    for (const sums of this.#sums.values()) {
      if (sums.updatedSeq === 0) continue;
      (sums.read === null ? insertedSums : updatedSums).push(sums);
    }
    return [
      state.book,
      seqs,
      ats,
      state.kinds,
      state.eventJsons,
      rows.txids,
      rows.keys,
      rows.txSeqs,
      rows.postingPaths,
      rows.postingSeqs,
      rows.postingIdx,
      rows.postingTxids,
      rows.postingAssets,
      rows.postingDirections,
      rows.postingMinors,
      rows.postingRawAfter,
      rows.postingAts,
      opened.map((account) => account.def.id.path),
      opened.map((account) => account.def.asset),
      opened.map((account) => account.def.kind),
      opened.map((account) => account.cfg.normal_side),
      opened.map((account) => account.cfg.min_balance?.toString() ?? null),
      opened.map((account) => account.opened!.seq),
      opened.map((account) => account.raw.toString()),
      opened.map((account) => account.updatedSeq),
      updated.map((account) => account.def.id.path),
      updated.map((account) => account.raw.toString()),
      updated.map((account) => account.readRaw.toString()),
      updated.map((account) => account.updatedSeq),
      rows.assetIds,
      rows.assetSeqs,
      insertedSums.map((sums) => sums.asset),
      insertedSums.map((sums) => sums.debits.toString()),
      insertedSums.map((sums) => sums.credits.toString()),
      insertedSums.map((sums) => sums.updatedSeq),
      updatedSums.map((sums) => sums.asset),
      updatedSums.map((sums) => sums.debits.toString()),
      updatedSums.map((sums) => sums.credits.toString()),
      updatedSums.map((sums) => sums.updatedSeq),
      updatedSums.map((sums) => sums.read!.debits.toString()),
      updatedSums.map((sums) => sums.read!.credits.toString()),
      state.lastSeq,
      formatAtUs(state.atsUs[state.atsUs.length - 1]!),
      state.firstSeq - 1,
    ];
  }
}

/** Appends one event at the next seq, stamped with the flush's clamped time (P2, P7). */
function append(state: FlushState, kind: EventKind, eventJson: string, clockUs: () => number): { seq: number; at: string } {
  if (!state.exists) {
    // A transaction without postings creates its book (as in every store; commits never check
    // case twins): PgStore inserts the head before the write statement.
    state.exists = true;
    state.createsHead = true;
  }
  state.atUs ??= Math.max(clockUs(), state.lastAtUs);
  const seq = state.lastSeq + 1;
  state.lastSeq = seq;
  state.atsUs.push(state.atUs);
  state.kinds.push(kind);
  state.eventJsons.push(eventJson);
  return { seq, at: formatAtUs(state.atUs) };
}

/** F4 (V1): one row; `json` columns of `[…]` tuples, bigints as text (exact through JSON). */
export function stateReadSql(S: string): string {
  return `SELECT
  (SELECT coalesce(json_agg(json_build_array(t.idempotency_key, t.txid, t.seq::text, ${US('e.at')}::text, e.event_json)), '[]'::json)
     FROM ${S}.transactions t JOIN ${S}.events e ON e.book = t.book AND e.seq = t.seq
    WHERE t.book = $1 AND t.idempotency_key = ANY($2::text[])) AS idempotency,
  (SELECT coalesce(json_agg(t.txid), '[]'::json) FROM ${S}.transactions t WHERE t.txid = ANY($3::text[])) AS txids,
  (SELECT coalesce(json_agg(json_build_array(a.path, a.asset, a.kind, a.normal_side, a.min_balance::text, a.raw::text)), '[]'::json)
     FROM ${S}.accounts a WHERE a.book = $1 AND a.path = ANY($4::text[])) AS accounts,
  (SELECT coalesce(json_agg(json_build_array(s.id, e.event_json)), '[]'::json)
     FROM ${S}.assets s JOIN ${S}.events e ON e.book = $5 AND e.seq = s.seq WHERE s.id = ANY($6::text[])) AS assets,
  (SELECT coalesce(json_agg(json_build_array(b.asset, b.debits::text, b.credits::text)), '[]'::json)
     FROM ${S}.book_assets b WHERE b.book = $1 AND b.asset = ANY($7::text[])) AS sums,
  EXISTS (SELECT 1 FROM ${S}.books WHERE case_key = $8 AND name <> $1) AS twin`;
}

/**
 * The CTEs of the write statement (V3). One whose arrays are empty is written as a plain SELECT
 * over the same arrays, which PostgreSQL never runs (nothing reads it) but which still types its
 * parameters: a flush of commits does not pay for account, asset and new-sums inserts it does
 * not make, and every variant takes the same 44 parameters.
 */
interface WritePart {
  name: string;
  /** The arrays the CTE reads, as an `unnest(...)` call (none for the head). */
  unnest: string | null;
  sql: (S: string, rows: string) => string;
}

const WRITE_PARTS: readonly WritePart[] = [
  {
    name: 'events',
    unnest: 'unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS u(seq, at, kind, event_json)',
    sql: (S, rows) => `INSERT INTO ${S}.events (book, seq, at, kind, event_json)
    SELECT $1, u.seq, u.at::timestamptz, u.kind, u.event_json FROM ${rows}
    RETURNING 1`,
  },
  {
    name: 'transactions',
    unnest: 'unnest($6::text[], $7::text[], $8::bigint[]) AS u(txid, idempotency_key, seq)',
    sql: (S, rows) => `INSERT INTO ${S}.transactions (txid, book, idempotency_key, seq)
    SELECT u.txid, $1, u.idempotency_key, u.seq FROM ${rows}
    RETURNING 1`,
  },
  {
    name: 'postings',
    unnest: `unnest($9::text[], $10::bigint[], $11::int[], $12::text[], $13::text[], $14::text[], $15::bigint[], $16::bigint[], $17::text[])
      AS u(path, seq, idx, txid, asset, direction, minor, raw_after, at)`,
    sql: (S, rows) => `INSERT INTO ${S}.postings (book, path, seq, idx, txid, asset, direction, minor, raw_after, at)
    SELECT $1, u.path, u.seq, u.idx, u.txid, u.asset, u.direction, u.minor, u.raw_after, u.at::timestamptz FROM ${rows}
    RETURNING 1`,
  },
  {
    name: 'opened',
    unnest: `unnest($18::text[], $19::text[], $20::text[], $21::text[], $22::bigint[], $23::bigint[], $24::bigint[], $25::bigint[])
      AS u(path, asset, kind, normal_side, min_balance, opened_seq, raw, updated_seq)`,
    sql: (S, rows) => `INSERT INTO ${S}.accounts (book, path, asset, kind, normal_side, min_balance, opened_seq, raw, updated_seq)
    SELECT $1, u.path, u.asset, u.kind, u.normal_side, u.min_balance, u.opened_seq, u.raw, u.updated_seq FROM ${rows}
    RETURNING 1`,
  },
  {
    name: 'balances',
    unnest: 'unnest($26::text[], $27::bigint[], $28::bigint[], $29::bigint[]) AS u(path, raw, old_raw, updated_seq)',
    sql: (S, rows) => `UPDATE ${S}.accounts a SET raw = u.raw, updated_seq = u.updated_seq FROM ${rows}
     WHERE a.book = $1 AND a.path = u.path AND a.raw = u.old_raw
    RETURNING 1`,
  },
  {
    name: 'assets',
    unnest: 'unnest($30::text[], $31::bigint[]) AS u(id, seq)',
    sql: (S, rows) => `INSERT INTO ${S}.assets (id, seq) SELECT u.id, u.seq FROM ${rows}
    RETURNING 1`,
  },
  {
    name: 'new_sums',
    unnest: 'unnest($32::text[], $33::bigint[], $34::bigint[], $35::bigint[]) AS u(asset, debits, credits, updated_seq)',
    sql: (S, rows) => `INSERT INTO ${S}.book_assets (book, asset, debits, credits, updated_seq)
    SELECT $1, u.asset, u.debits, u.credits, u.updated_seq FROM ${rows}
    RETURNING 1`,
  },
  {
    name: 'sums',
    unnest: `unnest($36::text[], $37::bigint[], $38::bigint[], $39::bigint[], $40::bigint[], $41::bigint[])
      AS u(asset, debits, credits, updated_seq, old_debits, old_credits)`,
    sql: (S, rows) => `UPDATE ${S}.book_assets b SET debits = u.debits, credits = u.credits, updated_seq = u.updated_seq FROM ${rows}
     WHERE b.book = $1 AND b.asset = u.asset AND b.debits = u.old_debits AND b.credits = u.old_credits
    RETURNING 1`,
  },
  {
    name: 'head',
    unnest: null,
    sql: (S) => `UPDATE ${S}.books SET last_seq = $42, last_at = $43::timestamptz WHERE name = $1 AND last_seq = $44
    RETURNING 1`,
  },
];

/**
 * Each part's first array (`$n::type[]`), whose length is the rows the part must write, and its
 * parameter number; null for the head (one row).
 */
const FIRST_ARRAYS = WRITE_PARTS.map((part) => {
  const found = part.unnest?.match(/\$(\d+)::[a-z]+\[\]/);
  return found ? { text: found[0], param: Number(found[1]) } : null;
});

/**
 * F7 (V3): every insert and guarded update of a flush in one statement. guard() (migration 2)
 * raises SQLSTATE TL001 naming every count unless each CTE wrote exactly the rows staged for it
 * (the cardinality of its first array; 1 for the head), which aborts the transaction: the COMMIT
 * sent behind it then answers ROLLBACK.
 */
export function writeSql(S: string, values: readonly unknown[]): string {
  const active = FIRST_ARRAYS.map((first) => first === null || (values[first.param - 1] as unknown[]).length > 0);
  const key = `${S}:${active.map(Number).join('')}`;
  let text = writeSqlCache.get(key);
  if (text === undefined) {
    text = composeWriteSql(S, active);
    writeSqlCache.set(key, text);
  }
  return text;
}

/** The variants of the write statement built so far, by schema and active parts (a few per schema). */
const writeSqlCache = new Map<string, string>();

function composeWriteSql(S: string, activeParts: readonly boolean[]): string {
  const ctes: string[] = [];
  const written: string[] = [];
  const staged: string[] = [];
  for (const [index, part] of WRITE_PARTS.entries()) {
    const active = activeParts[index]!;
    const firstArray = FIRST_ARRAYS[index]?.text ?? null;
    ctes.push(active ? `${part.name} AS (\n    ${part.sql(S, part.unnest ?? '')})` : `${part.name} AS (SELECT FROM ${part.unnest})`);
    written.push(active ? `(SELECT count(*) FROM ${part.name})` : '0');
    staged.push(firstArray === null ? '1' : `cardinality(${firstArray})`);
  }
  const checks = written.map((count, index) => `${count} = ${staged[index]}`).join('\n     AND ');
  const report = WRITE_PARTS.map((part, index) => `'${part.name} ' || ${written[index]} || ' (' || ${staged[index]} || ')'`).join(" || ', ' || ");
  return `WITH\n  ${ctes.join(',\n  ')}\nSELECT ${S}.guard(\n     ${checks},\n     'rows written (of those staged): ' || ${report}) AS ok`;
}
