/**
 * `talea-log pg-verify` (spec/postgres-store.md 5.4): checks one PgStore schema against itself.
 * The `events` table is the only authority (5.1); everything else is a projection of it, kept
 * without foreign keys (2.1), so this is where those relations are checked.
 *
 * PV1. One REPEATABLE READ READ ONLY transaction: every check sees one snapshot while writers run.
 *      Nothing is locked or written.
 * PV2. Per book: seqs in `events` are gapless from 1; the `books` head (`last_seq`, `last_at`,
 *      `case_key`) equals the last event; `at` is non-decreasing in seq order; every `event_json`
 *      decodes with the package's event codec, its kind column matches, and it belongs to the book.
 * PV3. Every projection equals a replay of the events: `assets`, `accounts`, `transactions`,
 *      `postings`, `book_assets` are compared with the rows the replay makes, both ways (missing
 *      and extra rows), column by column. Rows of a book with no head are extra rows too.
 * PV4. Streaming: events, transactions and postings are read through cursors per book and merged
 *      in seq order; only one book's accounts and trial-balance rows, and the asset ids, are held.
 * PV5. Every finding is counted; the first DIFFERENCES_LISTED_MAX are kept, each naming its table,
 *      book and seq or key. An event that does not decode, or that the store's rules would have
 *      refused, is one finding: the rows stored at its seq are then not checked (there is no
 *      replay to compare them with), which keeps one damage from listing as many.
 *
 * Why the replay folds the events here instead of running them through MemoryStore: MemoryStore
 * keeps every event of every book in memory (PV4 would not hold), stamps its own seqs and times,
 * and exposes neither raw balances nor the raw balance after each posting, which `accounts.raw`
 * and `postings.raw_after` store. The fold below uses the rules every store shares instead
 * (commit-checks.ts K1-K3 for postings, deltas, overflow and minimums; identity of definitions;
 * the saturating trial-balance sums of trial-balance.ts T2), which is exactly what MemoryStore and
 * PgStore's flush (pg-flush.ts V2, V4) apply, so a row that differs from it is a row the store
 * could not have written.
 */
import assert from 'node:assert/strict';
import type pg from 'pg';

import { bookCaseKey } from '../core/book-name.js';
import { checkedDeltas, postingAccount, type LoadedAccount } from '../core/commit-checks.js';
import { StoreError } from '../core/errors.js';
import { decodeEvent } from '../core/event-codec.js';
import { formatAtUs } from '../core/time.js';
import { addSaturating } from '../core/trial-balance.js';
import { SYSTEM_BOOK, type Direction, type LedgerEvent } from '../core/types.js';
import {
  connect,
  cursorRows,
  DIFFERENCES_LISTED_MAX,
  ImpexError,
  importOrder,
  inSnapshot,
  requireSchema,
  target,
  toNumber,
  type PgTarget,
  type Row,
} from './pg-impex.js';
import { US } from './pg-schema.js';

/** One broken promise of the schema (PV5). */
export interface Finding {
  /** The table holding (or lacking) the row. */
  table: string;
  /** The book, or null for a row with no book (an asset). */
  book: string | null;
  /** Where in the table: `seq 12`, `seq 12 idx 1 path "cash"`, `path "cash"`, `asset "USD"`. */
  key: string;
  message: string;
}

export interface VerifyOptions extends PgTarget {
  /** Only these books (and `_system`, whose assets they use); default every book. */
  books?: readonly string[];
}

export interface VerifyResult {
  clean: boolean;
  /** Every finding counted. */
  findingCount: number;
  /** The first DIFFERENCES_LISTED_MAX findings. */
  findings: Finding[];
  /** The books checked, with their head's last seq (0 for `_system` without a head). */
  books: Array<{ book: string; lastSeq: number }>;
  /** Events read. */
  events: number;
}

class Findings {
  count = 0;
  readonly listed: Finding[] = [];

  add(table: string, book: string | null, key: string, message: string): void {
    this.count++;
    if (this.listed.length < DIFFERENCES_LISTED_MAX) this.listed.push({ table, book, key, message });
  }
}

/** The head row of a book. */
interface Head {
  caseKey: string;
  lastSeq: number;
  lastAtUs: number;
}

/** An account as the replay leaves it. */
interface ReplayAccount extends LoadedAccount {
  openedSeq: number;
  /** The seq of the last transaction that posted to it, 0 if none. */
  updatedSeq: number;
}

/** A book's trial-balance row of one asset as the replay leaves it (pg-flush.ts V4). */
interface ReplaySums {
  debits: bigint;
  credits: bigint;
  updatedSeq: number;
}

/** A row the replay expects in `transactions` or `postings`, with its merge key. */
interface ExpectedRow {
  /** (seq) for transactions, (seq, idx) for postings: the order of the cursor (PV4). */
  order: number[];
  key: string;
  /** Column → expected value, rendered as text (bigints exact). */
  columns: Record<string, string>;
}

const q = JSON.stringify;

/** A cursor with one row of look-ahead, so it can be merged with the replay (PV4). */
class PeekableRows {
  readonly #rows: AsyncIterator<Row>;
  #head: Row | null | undefined = undefined;

  constructor(rows: AsyncGenerator<Row>) {
    this.#rows = rows[Symbol.asyncIterator]();
  }

  async peek(): Promise<Row | null> {
    if (this.#head === undefined) {
      const next = await this.#rows.next();
      this.#head = next.done === true ? null : next.value;
    }
    return this.#head;
  }

  take(): void {
    assert(this.#head !== undefined); // peeked first
    assert(this.#head !== null); // and found a row
    this.#head = undefined;
  }
}

function compareOrder(left: readonly number[], right: readonly number[]): number {
  for (let index = 0; index < left.length; index++) {
    const difference = left[index]! - right[index]!;
    if (difference !== 0) return difference;
  }
  return 0;
}

/**
 * Merges expected rows (in order) with a table's cursor (same order): a row only in the table is
 * extra, one only expected is missing, and a pair whose columns differ names every column that
 * differs. Rows at a seq in `unchecked` are passed over (PV5).
 */
class MergedTable {
  constructor(
    readonly table: string,
    readonly book: string,
    readonly rows: PeekableRows,
    readonly orderOf: (row: Row) => number[],
    readonly keyOf: (row: Row) => string,
    readonly columnsOf: (row: Row) => Record<string, string>,
    readonly found: Findings,
    readonly unchecked: ReadonlySet<number>,
  ) {}

  /** Reports the table's rows before `order` (all, when null) as extra. */
  async #extraBefore(order: readonly number[] | null): Promise<void> {
    for (let row = await this.rows.peek(); row !== null; row = await this.rows.peek()) {
      const rowOrder = this.orderOf(row);
      if (order !== null && compareOrder(rowOrder, order) >= 0) return;
      this.rows.take();
      if (this.unchecked.has(rowOrder[0]!)) continue;
      this.found.add(this.table, this.book, this.keyOf(row), 'extra row: no event makes it');
    }
  }

  async expect(expected: ExpectedRow): Promise<void> {
    await this.#extraBefore(expected.order);
    const row = await this.rows.peek();
    if (row === null || compareOrder(this.orderOf(row), expected.order) !== 0) {
      this.found.add(this.table, this.book, expected.key, `missing row (expected ${describeColumns(expected.columns)})`);
      return;
    }
    this.rows.take();
    const stored = this.columnsOf(row);
    const differing = Object.keys(expected.columns).filter((column) => stored[column] !== expected.columns[column]);
    if (differing.length > 0) {
      this.found.add(this.table, this.book, expected.key, differing.map((column) => `${column} ${stored[column]}, replay gives ${expected.columns[column]}`).join('; '));
    }
  }

  async finish(): Promise<void> {
    await this.#extraBefore(null);
  }
}

function describeColumns(columns: Record<string, string>): string {
  return Object.entries(columns)
    .map(([column, value]) => `${column} ${value}`)
    .join(', ');
}

/** Text of a nullable column, as `columnsOf` and the replay both render it. */
function text(value: unknown): string {
  return value === null || value === undefined ? 'null' : String(value);
}

// --- one book -----------------------------------------------------------------------------------

/** What the replay of `_system` gives the other books: asset id → seq of its registration. */
type Assets = Map<string, number>;

interface BookContext {
  client: pg.Client;
  S: string;
  book: string;
  head: Head | undefined;
  assets: Assets;
  found: Findings;
}

/** PV2, PV3 for one book; returns the number of events read. */
async function verifyBook(context: BookContext): Promise<number> {
  const { client, S, book, head, found } = context;
  const accounts = new Map<string, ReplayAccount>();
  const sums = new Map<string, ReplaySums>();
  const unchecked = new Set<number>();
  const transactions = new MergedTable(
    'transactions',
    book,
    new PeekableRows(cursorRows(client, `SELECT txid, idempotency_key, seq FROM ${S}.transactions WHERE book = $1 ORDER BY seq, txid`, [book])),
    (row) => [toNumber(row.seq)],
    (row) => `seq ${toNumber(row.seq)} txid ${String(row.txid)}`,
    (row) => ({ txid: String(row.txid), idempotency_key: q(String(row.idempotency_key)) }),
    found,
    unchecked,
  );
  const postings = new MergedTable(
    'postings',
    book,
    new PeekableRows(
      cursorRows(
        client,
        `SELECT path, seq, idx, txid, asset, direction, minor, raw_after, ${US('at')} AS at_us FROM ${S}.postings WHERE book = $1 ORDER BY seq, idx, path`,
        [book],
      ),
    ),
    (row) => [toNumber(row.seq), Number(row.idx)],
    (row) => `seq ${toNumber(row.seq)} idx ${Number(row.idx)} path ${q(String(row.path))}`,
    (row) => ({
      path: q(String(row.path)),
      txid: String(row.txid),
      asset: q(String(row.asset)),
      direction: String(row.direction),
      minor: text(row.minor),
      raw_after: text(row.raw_after),
      at: formatAtUs(toNumber(row.at_us)),
    }),
    found,
    unchecked,
  );

  let seqExpected = 1;
  let eventCount = 0;
  let last: { seq: number; atUs: number } | null = null;
  for await (const row of cursorRows(client, `SELECT seq, ${US('at')} AS at_us, kind, event_json FROM ${S}.events WHERE book = $1 ORDER BY seq`, [book])) {
    const seq = toNumber(row.seq);
    const atUs = toNumber(row.at_us);
    if (seq !== seqExpected) {
      const missing = seq > seqExpected ? `seq ${seqExpected}${seq - 1 > seqExpected ? `..${seq - 1}` : ''} missing` : 'out of order';
      found.add('events', book, `seq ${seq}`, `seqs are not gapless: expected seq ${seqExpected}, found seq ${seq} (${missing})`);
    }
    if (last !== null && atUs < last.atUs) {
      found.add('events', book, `seq ${seq}`, `at goes backwards: ${formatAtUs(atUs)} is before seq ${last.seq}'s ${formatAtUs(last.atUs)}`);
    }
    seqExpected = seq + 1;
    eventCount++;
    last = { seq, atUs };
    let event: LedgerEvent;
    try {
      event = decodeEvent(String(row.event_json));
    } catch (error) {
      found.add('events', book, `seq ${seq}`, `event_json does not decode: ${(error as Error).message}`);
      unchecked.add(seq);
      continue;
    }
    if (event.kind !== row.kind) found.add('events', book, `seq ${seq}`, `kind column ${q(row.kind)}, event_json holds ${q(event.kind)}`);
    const replayed = replayEvent(context, accounts, sums, seq, atUs, event);
    if (typeof replayed === 'string') {
      found.add('events', book, `seq ${seq}`, replayed);
      unchecked.add(seq);
      continue;
    }
    for (const expected of replayed.transactions) await transactions.expect(expected);
    for (const expected of replayed.postings) await postings.expect(expected);
  }
  await transactions.finish();
  await postings.finish();
  checkHead(book, head, last, found);
  await checkAccounts(context, accounts);
  await checkSums(context, sums);
  return eventCount;
}

/** PV2: the head equals the last event. */
function checkHead(book: string, head: Head | undefined, last: { seq: number; atUs: number } | null, found: Findings): void {
  if (head === undefined) {
    if (last !== null) found.add('books', book, 'head', `no head row, but events run to seq ${last.seq}`);
    return;
  }
  const key = `seq ${head.lastSeq}`;
  if (head.caseKey !== bookCaseKey(book)) found.add('books', book, key, `case_key ${q(head.caseKey)}, expected ${q(bookCaseKey(book))}`);
  if (last === null) {
    found.add('books', book, key, `head says last_seq ${head.lastSeq}, but the book has no events`);
    return;
  }
  if (head.lastSeq !== last.seq) found.add('books', book, key, `head last_seq ${head.lastSeq}, the last event is seq ${last.seq}`);
  if (head.lastAtUs !== last.atUs) found.add('books', book, key, `head last_at ${formatAtUs(head.lastAtUs)}, the last event's at is ${formatAtUs(last.atUs)}`);
}

/**
 * Applies one event to the book's replay state, with the store's rules (see the module comment);
 * returns why the store would have refused it, or the transaction and posting rows it makes.
 */
function replayEvent(
  context: BookContext,
  accounts: Map<string, ReplayAccount>,
  sums: Map<string, ReplaySums>,
  seq: number,
  atUs: number,
  event: LedgerEvent,
): string | { transactions: ExpectedRow[]; postings: ExpectedRow[] } {
  const { book, assets } = context;
  const none = { transactions: [], postings: [] };
  switch (event.kind) {
    case 'asset_registered':
      if (book !== SYSTEM_BOOK) return `an asset_registered event outside ${SYSTEM_BOOK}`;
      if (assets.has(event.id)) return `asset ${q(event.id)} registered again (first at seq ${assets.get(event.id)})`;
      assets.set(event.id, seq);
      return none;
    case 'account_opened': {
      const { def, cfg } = event;
      if (def.id.book !== book) return `an account_opened event of book ${def.id.book}`;
      if (!assets.has(def.asset)) return `account ${q(def.id.path)} opened with asset ${q(def.asset)}, which ${SYSTEM_BOOK} never registered`;
      if (accounts.has(def.id.path)) return `account ${q(def.id.path)} opened again (first at seq ${accounts.get(def.id.path)!.openedSeq})`;
      accounts.set(def.id.path, { def, cfg, raw: 0n, openedSeq: seq, updatedSeq: 0 });
      return none;
    }
    case 'transaction_posted':
      return replayTransaction(context, accounts, sums, seq, atUs, event);
  }
}

function replayTransaction(
  context: BookContext,
  accounts: Map<string, ReplayAccount>,
  sums: Map<string, ReplaySums>,
  seq: number,
  atUs: number,
  tx: Extract<LedgerEvent, { kind: 'transaction_posted' }>,
): string | { transactions: ExpectedRow[]; postings: ExpectedRow[] } {
  if (tx.book !== context.book) return `a transaction_posted event of book ${tx.book}`;
  let touched: ReplayAccount[];
  let deltas: Map<ReplayAccount, bigint>;
  try {
    touched = tx.postings.map((posting) => postingAccount(posting, posting.account.book === tx.book ? accounts.get(posting.account.path) : undefined));
    deltas = checkedDeltas(tx.postings, touched);
  } catch (error) {
    if (error instanceof StoreError) return `transaction ${tx.id}: the store would refuse it (${error.code}: ${error.message})`;
    throw error;
  }
  for (const [account, delta] of deltas) {
    account.raw += delta;
    account.updatedSeq = seq;
  }
  const at = formatAtUs(atUs);
  const postings: ExpectedRow[] = tx.postings.map((posting, index) => {
    addToSums(sums, posting.amount.asset, posting.direction, posting.amount.minor, seq);
    return {
      order: [seq, index],
      key: `seq ${seq} idx ${index} path ${q(posting.account.path)}`,
      columns: {
        path: q(posting.account.path),
        txid: tx.id,
        asset: q(posting.amount.asset),
        direction: posting.direction,
        minor: posting.amount.minor.toString(),
        raw_after: touched[index]!.raw.toString(),
        at,
      },
    };
  });
  const transaction: ExpectedRow = { order: [seq], key: `seq ${seq} txid ${tx.id}`, columns: { txid: tx.id, idempotency_key: q(tx.idempotency_key) } };
  return { transactions: [transaction], postings };
}

/** The replay's trial-balance sums, saturating in (seq, idx) order (T2, V4). */
function addToSums(sums: Map<string, ReplaySums>, asset: string, direction: Direction, minor: bigint, seq: number): void {
  let row = sums.get(asset);
  if (row === undefined) {
    row = { debits: 0n, credits: 0n, updatedSeq: 0 };
    sums.set(asset, row);
  }
  addSaturating(row, direction, minor);
  row.updatedSeq = seq;
}

/** PV3: `accounts` both ways, every column. */
async function checkAccounts(context: BookContext, accounts: Map<string, ReplayAccount>): Promise<void> {
  const { client, S, book, found } = context;
  const remaining = new Map(accounts);
  const sql = `SELECT path, asset, kind, normal_side, min_balance, opened_seq, raw, updated_seq FROM ${S}.accounts WHERE book = $1 ORDER BY path`;
  for await (const row of cursorRows(client, sql, [book])) {
    const accountPath = String(row.path);
    const key = `path ${q(accountPath)}`;
    const account = remaining.get(accountPath);
    if (account === undefined) {
      found.add('accounts', book, key, 'extra row: no account_opened event makes it');
      continue;
    }
    remaining.delete(accountPath);
    const expected: Record<string, string> = {
      asset: q(account.def.asset),
      kind: account.def.kind,
      normal_side: text(account.cfg.normal_side),
      min_balance: text(account.cfg.min_balance),
      opened_seq: String(account.openedSeq),
      raw: account.raw.toString(),
      updated_seq: String(account.updatedSeq),
    };
    const stored: Record<string, string> = {
      asset: q(String(row.asset)),
      kind: String(row.kind),
      normal_side: text(row.normal_side),
      min_balance: text(row.min_balance),
      opened_seq: text(row.opened_seq),
      raw: text(row.raw),
      updated_seq: text(row.updated_seq),
    };
    const differing = Object.keys(expected).filter((column) => stored[column] !== expected[column]);
    if (differing.length > 0) found.add('accounts', book, key, differing.map((column) => `${column} ${stored[column]}, replay gives ${expected[column]}`).join('; '));
  }
  for (const [accountPath, account] of remaining) {
    found.add('accounts', book, `path ${q(accountPath)}`, `missing row (opened at seq ${account.openedSeq})`);
  }
}

/** PV3: `book_assets` both ways. */
async function checkSums(context: BookContext, sums: Map<string, ReplaySums>): Promise<void> {
  const { client, S, book, found } = context;
  const remaining = new Map(sums);
  for await (const row of cursorRows(client, `SELECT asset, debits, credits, updated_seq FROM ${S}.book_assets WHERE book = $1 ORDER BY asset`, [book])) {
    const asset = String(row.asset);
    const key = `asset ${q(asset)}`;
    const replayed = remaining.get(asset);
    if (replayed === undefined) {
      found.add('book_assets', book, key, 'extra row: the book has no posting of this asset');
      continue;
    }
    remaining.delete(asset);
    const differing: string[] = [];
    if (text(row.debits) !== replayed.debits.toString()) differing.push(`debits ${text(row.debits)}, replay gives ${replayed.debits}`);
    if (text(row.credits) !== replayed.credits.toString()) differing.push(`credits ${text(row.credits)}, replay gives ${replayed.credits}`);
    if (text(row.updated_seq) !== String(replayed.updatedSeq)) differing.push(`updated_seq ${text(row.updated_seq)}, replay gives ${replayed.updatedSeq}`);
    if (differing.length > 0) found.add('book_assets', book, key, differing.join('; '));
  }
  for (const [asset, replayed] of remaining) {
    found.add('book_assets', book, `asset ${q(asset)}`, `missing row (debits ${replayed.debits}, credits ${replayed.credits}, updated_seq ${replayed.updatedSeq})`);
  }
}

/** PV3: `assets` both ways, after `_system` was replayed. */
async function checkAssets(client: pg.Client, S: string, assets: Assets, found: Findings): Promise<void> {
  const remaining = new Map(assets);
  for await (const row of cursorRows(client, `SELECT id, seq FROM ${S}.assets ORDER BY id`, [])) {
    const id = String(row.id);
    const seq = remaining.get(id);
    if (seq === undefined) {
      found.add('assets', SYSTEM_BOOK, `asset ${q(id)}`, `extra row (seq ${text(row.seq)}): no asset_registered event makes it`);
      continue;
    }
    remaining.delete(id);
    if (toNumber(row.seq) !== seq) found.add('assets', SYSTEM_BOOK, `asset ${q(id)}`, `seq ${text(row.seq)}, registered at seq ${seq}`);
  }
  for (const [id, seq] of remaining) found.add('assets', SYSTEM_BOOK, `asset ${q(id)}`, `missing row (registered at seq ${seq})`);
}

const BOOK_TABLES = ['events', 'accounts', 'transactions', 'postings', 'book_assets'] as const;

/** PV3: rows of a book that has no head row (and so no place in the per-book checks). */
async function checkHeadless(client: pg.Client, S: string, heads: ReadonlyMap<string, Head>, found: Findings): Promise<void> {
  for (const table of BOOK_TABLES) {
    const sql = `SELECT t.book, count(*) AS row_count FROM ${S}.${table} t
      WHERE NOT EXISTS (SELECT 1 FROM ${S}.books b WHERE b.name = t.book) GROUP BY t.book ORDER BY t.book`;
    for (const row of (await client.query(sql)).rows as Row[]) {
      const book = String(row.book);
      assert(!heads.has(book)); // one snapshot: the anti-join and the heads agree
      found.add(table, book, 'all rows', `${text(row.row_count)} rows of a book with no head row in books`);
    }
  }
}

// --- the schema ---------------------------------------------------------------------------------

async function readHeads(client: pg.Client, S: string): Promise<Map<string, Head>> {
  const rows = (await client.query(`SELECT name, case_key, last_seq, ${US('last_at')} AS last_at_us FROM ${S}.books ORDER BY name`)).rows as Row[];
  return new Map(rows.map((row) => [String(row.name), { caseKey: String(row.case_key), lastSeq: toNumber(row.last_seq), lastAtUs: toNumber(row.last_at_us) }]));
}

/** PV1-PV5 inside the snapshot the caller opened. */
async function verifyInSnapshot(client: pg.Client, schema: string, only: readonly string[] | null): Promise<VerifyResult> {
  const S = `"${schema}"`;
  const heads = await readHeads(client, S);
  // `_system` is always replayed first: the other books' accounts need its assets (PV3).
  let names = importOrder([...new Set([SYSTEM_BOOK, ...heads.keys()])]);
  if (only !== null) {
    const unknown = only.find((name) => !heads.has(name));
    if (unknown !== undefined) throw new ImpexError('usage', `no book ${unknown} in schema ${schema}`);
    names = names.filter((name) => name === SYSTEM_BOOK || only.includes(name));
  }
  const found = new Findings();
  const assets: Assets = new Map();
  const books: VerifyResult['books'] = [];
  let events = 0;
  for (const book of names) {
    const head = heads.get(book);
    events += await verifyBook({ client, S, book, head, assets, found });
    books.push({ book, lastSeq: head?.lastSeq ?? 0 });
    if (book === SYSTEM_BOOK) await checkAssets(client, S, assets, found);
  }
  if (only === null) await checkHeadless(client, S, heads, found);
  return { clean: found.count === 0, findingCount: found.count, findings: found.listed, books, events };
}

/** `talea-log pg-verify` (5.4): one schema against a replay of its own events, one snapshot, no lock. */
export async function verifyPgSchema(options: VerifyOptions = {}): Promise<VerifyResult> {
  const { url, schema } = target(options);
  const client = await connect(url);
  try {
    await requireSchema(client, schema);
    return await inSnapshot(client, () => verifyInSnapshot(client, schema, options.books ?? null));
  } finally {
    await client.end().catch(() => undefined);
  }
}
