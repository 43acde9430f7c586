/**
 * Import and export between a log data directory and a PgStore schema, and the comparison of the
 * two (spec/postgres-store.md 5.2-5.4; docs/postgres-store.md, "Import and export"). The CLI's
 * `pg-import`, `pg-export` and `pg-compare` are thin wrappers around these three functions. The
 * connection, snapshot and cursor helpers are exported for pg-verify.ts, which checks one schema.
 *
 * X1. Nothing here has its own idea of the formats. The log is read through the engine's recovery
 *     check (src/log/recovery.ts, read-only) and its frame decoder; it is written by the engine's
 *     segment writer (SegmentLog: framing, CRC, rotation, fsyncs). PostgreSQL rows are written only
 *     by PgStore's flush, in its import mode (P12 in pg-store.ts), so projections are exactly the
 *     ones the store's own writes make.
 * X2. Same bytes (5.1): the event part of every frame is stored as it is in `event_json`, and
 *     exported frames are built around `event_json` as it is. A frame whose event part is not
 *     this package's encoding (another writer's layout) is still kept byte for byte; compare then
 *     accepts the same event after decoding and re-encoding.
 * X3. Import refuses before it writes anything: a locked directory, what LogStore.open would refuse
 *     (CORRUPT) or repair (torn tail, leftover *.tmp, rebuilt idempotency runs, renames), a repeated
 *     asset or account event (the Rust store could write those; PgStore cannot hold them), a txid in
 *     two books, U+0000 in an account path, asset id or idempotency key (amendment A1), a schema
 *     that holds books (unless resuming over byte-identical prefixes).
 * X4. Import order: `_system` first, then the other books in UTF-8 name order; `batchEvents` events
 *     (1,000) per transaction, each under its book's lock. An interrupted import leaves whole
 *     batches; `resume` checks that every book in the schema is a byte-identical prefix of the log
 *     and continues after it.
 * X5. Export reads one REPEATABLE READ READ ONLY snapshot through cursors, writes a complete
 *     directory under `<dir>.tmp-<pid>`, fsyncs it, renames it into place, fsyncs the parent, and
 *     compares the result with the same snapshot. It refuses a target that exists and is not an
 *     empty directory.
 * X6. Compare reads one snapshot and reports every difference (the first 20 in full): books and
 *     last seqs; per seq `at` (as instants: a Rust-written `at` with 0 or 3 fractional digits
 *     equals the 6-digit one PostgreSQL gives back) and event bytes; balance and updated seq per
 *     account; trial balances; (book, key) → (txid, seq); registered assets.
 */
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';

import { isStoreError, StoreError } from '../core/errors.js';
import { decodeEvent, encodeEvent } from '../core/event-codec.js';
import { effectiveBalance } from '../core/commit-checks.js';
import { formatAtUs } from '../core/time.js';
import { TrialBalanceSums } from '../core/trial-balance.js';
import { SYSTEM_BOOK, type Direction, type LedgerEvent, type TrialBalanceRow } from '../core/types.js';
import { readBookFiles } from '../log/book-files.js';
import { DataDirLock } from '../log/data-dir-lock.js';
import { RealFileSystem } from '../log/file-system.js';
import { checkFrame, decodeSoundFrame, encodeFrameAroundEvent, FRAME_HEADER_BYTES, PAYLOAD_PREFIX } from '../log/frame.js';
import { listBooks } from '../log/log-store.js';
import { resolveOptions } from '../log/options.js';
import { recoverBook, type RecoveredBook } from '../log/recovery.js';
import { SegmentLog } from '../log/segment.js';
import { TxidTable } from '../log/txid-table.js';
import { SCHEMA_PATTERN, US } from './pg-schema.js';
import { loadDriver, PgStore, type ImportedEvent } from './pg-store.js';

/** Why an import, export or compare refused to start (the CLI maps each to an exit code). */
export type ImpexRefusal =
  /** Bad options: no URL, a malformed schema name, an unknown book in `books`. */
  | 'usage'
  /** The data directory or the schema does not exist. */
  | 'not-found'
  /** Export: the target exists and is not an empty directory. Import: the schema holds books. */
  | 'target-not-empty'
  /** Import: another process holds the data directory's lock. */
  | 'locked'
  /** Import: LogStore.open would repair the directory first (torn tail, *.tmp, runs). */
  | 'repairable'
  /** Import: the log holds something the schema cannot (X3), or resume found no matching prefix. */
  | 'refused';

export class ImpexError extends Error {
  override readonly name = 'ImpexError';

  constructor(
    readonly refusal: ImpexRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** One difference found by compare. */
export interface Difference {
  book: string | null;
  message: string;
}

export interface CompareResult {
  identical: boolean;
  /** Every difference counted. */
  differenceCount: number;
  /** The first DIFFERENCES_LISTED_MAX differences. */
  differences: Difference[];
  /** The books compared, with the log's last seq (0 when the log does not hold the book). */
  books: Array<{ book: string; lastSeq: number }>;
}

export const DIFFERENCES_LISTED_MAX = 20;
const IMPORT_BATCH_EVENTS = 1_000;
const CURSOR_ROWS = 1_000;

export interface PgTarget {
  /** Default: TALEA_PG_URL. */
  url?: string;
  /** Default: `talea`. */
  schema?: string;
}

export interface ImportOptions extends PgTarget {
  dir: string;
  /** Continue an interrupted import: each book in the schema must be a prefix of the log. */
  resume?: boolean;
  /** Events per transaction; default 1,000. */
  batchEvents?: number;
  /** Called after each committed batch (progress; tests interrupt an import here). */
  onBatch?: (book: string, lastSeq: number) => void | Promise<void>;
}

export interface ImportResult {
  books: Array<{ book: string; lastSeq: number; importedFrom: number }>;
  /** Events written by this run. */
  events: number;
  compare: CompareResult;
}

export interface ExportOptions extends PgTarget {
  dir: string;
  /** Only these books (and `_system`, which holds the assets they use); default every book. */
  books?: readonly string[];
  /** Segment size before rotation; default the engine's (TALEA_LOG_SEGMENT_MAX, 128 MiB). */
  segmentMax?: number;
}

export interface ExportResult {
  dir: string;
  books: Array<{ book: string; lastSeq: number; segments: number }>;
  events: number;
  compare: CompareResult;
}

export interface CompareOptions extends PgTarget {
  dir: string;
  /** Only these books; default every book of either side. */
  books?: readonly string[];
}

// --- the log side ---------------------------------------------------------------------------------

/** A frame of the log as import and compare read it. */
interface LogFrame {
  seq: number;
  atUs: number;
  event: LedgerEvent;
  /** The frame's event part, byte for byte (X2). */
  eventJson: string;
  /** Whether those bytes are this package's encoding of the event. */
  canonical: boolean;
}

interface CheckedBook {
  book: string;
  lastSeq: number;
}

function resolveLogDir(dir: string): string {
  const root = path.resolve(dir);
  let isDirectory = false;
  try {
    isDirectory = fs.statSync(path.join(root, 'books')).isDirectory();
  } catch {
    // missing: below
  }
  if (!isDirectory) throw new ImpexError('not-found', `not a talea-log data directory (no books/ folder): ${root}`);
  return root;
}

/** Books in import order (X4): `_system` first, then UTF-8 name order (book names are ASCII). */
export function importOrder(books: readonly string[]): string[] {
  return [...books].sort((left, right) => (left === SYSTEM_BOOK ? -1 : right === SYSTEM_BOOK ? 1 : left < right ? -1 : left > right ? 1 : 0));
}

function logBookNames(root: string): string[] {
  try {
    return listBooks(root);
  } catch (error) {
    if (isStoreError(error, 'INVALID_BOOK')) throw StoreError.corrupt(error.book, path.join(root, 'books', error.book), 0, error.message);
    throw error;
  }
}

/**
 * The engine's recovery check for one book, repairing nothing (X3): CORRUPT passes through; what
 * open would repair, or a repeated definition the store cannot hold, is refused.
 */
function checkBook(root: string, book: string): RecoveredBook {
  const recovered = recoverBook(new RealFileSystem(), root, book);
  const repairs: string[] = [];
  const { tornTail, temporaryFiles, obsoleteFiles, renames } = recovered.repair;
  if (tornTail !== null) repairs.push(`torn tail in "${tornTail.file}" at offset ${tornTail.offsetBytes}: open would truncate ${tornTail.discardedBytes} bytes`);
  for (const file of [...recovered.temporaryFiles, ...temporaryFiles]) repairs.push(`leftover temporary file "${file}": open would remove it`);
  for (const file of obsoleteFiles) repairs.push(`idempotency run "${file}": open would delete it`);
  for (const { from, to } of renames) repairs.push(`"${from}": open would rename it to "${path.basename(to)}"`);
  for (const warning of recovered.warnings) if (warning.code === 'RUN_REBUILT') repairs.push(warning.message);
  if (repairs.length > 0) {
    throw new ImpexError('repairable', `book ${book}: open would repair the directory first (run LogStore.open or talea-log snapshot on it, or restore it): ${repairs[0]}`);
  }
  const duplicate = recovered.warnings.find((warning) => warning.code === 'REPLAY_DUPLICATE');
  if (duplicate !== undefined) throw new ImpexError('refused', `${duplicate.message}: PostgreSQL holds each asset and account once`);
  recovered.log.close();
  return recovered;
}

const AT_OPEN = Buffer.from(',"at":"');
const EVENT_OPEN = Buffer.from('","event":');

/** The event part of a payload `{"seq":…,"at":"…","event":…}`, or null for another layout. */
function eventPart(bytes: Buffer, start: number, end: number): string | null {
  if (!bytes.subarray(start, start + PAYLOAD_PREFIX.length).equals(PAYLOAD_PREFIX)) return null;
  let index = start + PAYLOAD_PREFIX.length;
  while (index < end && bytes[index]! >= 0x30 && bytes[index]! <= 0x39) index++;
  if (!bytes.subarray(index, index + AT_OPEN.length).equals(AT_OPEN)) return null;
  const quote = bytes.indexOf(0x22, index + AT_OPEN.length);
  if (quote < 0 || quote >= end || !bytes.subarray(quote, quote + EVENT_OPEN.length).equals(EVENT_OPEN)) return null;
  if (bytes[end - 1] !== 0x7d) return null;
  return bytes.toString('utf8', quote + EVENT_OPEN.length, end - 1);
}

/**
 * The frames of `book` with seq in [from, lastSeq], in order, read segment by segment. The book
 * passed the recovery check, so anything but a sound frame with the next seq is CORRUPT.
 */
function* logFrames(root: string, book: string, from: number, lastSeq: number): Generator<LogFrame> {
  const bookDir = path.join(root, 'books', book);
  const segments = readBookFiles(new RealFileSystem(), bookDir).segments;
  for (let index = 0; index < segments.length; index++) {
    const { name, base } = segments[index]!;
    if (base > lastSeq) return;
    const next = segments[index + 1];
    if (next !== undefined && next.base <= from) continue;
    const file = path.join(bookDir, name);
    const bytes = fs.readFileSync(file);
    let offset = 0;
    let seq = base;
    while (seq <= lastSeq) {
      const checked = checkFrame(bytes, offset, bytes.length);
      if (checked.kind === 'end') break;
      const decoded = checked.kind === 'sound' ? decodeSoundFrame(bytes, offset, checked.payloadBytes) : checked;
      if (decoded.kind !== 'frame' || decoded.decoded.seq !== seq) {
        throw StoreError.corrupt(book, file, offset, `the frame of seq ${seq} in "${file}" at offset ${offset} changed while it was read`);
      }
      if (seq >= from) {
        const event = decoded.decoded.event.event;
        const canonicalJson = encodeEvent(event);
        const payloadStart = offset + FRAME_HEADER_BYTES;
        let eventJson = eventPart(bytes, payloadStart, payloadStart + (checked as { payloadBytes: number }).payloadBytes) ?? canonicalJson;
        if (eventJson !== canonicalJson) {
          try {
            decodeEvent(eventJson);
          } catch {
            eventJson = canonicalJson; // not a standalone event text after all: keep the decoded event
          }
        }
        yield { seq, atUs: decoded.decoded.atUs, event, eventJson, canonical: eventJson === canonicalJson };
      }
      offset += decoded.frameBytes;
      seq++;
    }
  }
}

/** U+0000 in a path, asset id or idempotency key (A1): the field's description, or null. */
function nulField(event: LedgerEvent): string | null {
  const has = (text: string): boolean => text.includes('\u0000');
  switch (event.kind) {
    case 'asset_registered':
      return has(event.id) ? `asset id ${JSON.stringify(event.id)}` : null;
    case 'account_opened':
      if (has(event.def.id.path)) return `account path ${JSON.stringify(event.def.id.path)}`;
      return has(event.def.asset) ? `asset id ${JSON.stringify(event.def.asset)}` : null;
    case 'transaction_posted':
      if (has(event.idempotency_key)) return `idempotency key ${JSON.stringify(event.idempotency_key)}`;
      for (const posting of event.postings) {
        if (has(posting.account.path)) return `account path ${JSON.stringify(posting.account.path)}`;
        if (has(posting.amount.asset)) return `asset id ${JSON.stringify(posting.amount.asset)}`;
      }
      return null;
  }
}

/** X3: a txid in two books, a U+0000 the schema cannot store; names the first offender. */
function scanUnrepresentable(root: string, books: readonly CheckedBook[]): void {
  const firstBook = new TxidTable();
  for (const [ordinal, { book, lastSeq }] of books.entries()) {
    for (const frame of logFrames(root, book, 1, lastSeq)) {
      const field = nulField(frame.event);
      if (field !== null) throw new ImpexError('refused', `book ${book} seq ${frame.seq}: the ${field} holds U+0000, which PostgreSQL text cannot store`);
      if (frame.event.kind !== 'transaction_posted') continue;
      const holder = firstBook.get(frame.event.id);
      if (holder !== undefined && holder !== ordinal) {
        throw new ImpexError(
          'refused',
          `txid ${frame.event.id} is in two books: ${books[holder]!.book} and ${book} (seq ${frame.seq}); PostgreSQL holds each txid once`,
        );
      }
      if (holder === undefined) firstBook.set(frame.event.id, ordinal);
    }
  }
}

// --- the PostgreSQL side --------------------------------------------------------------------------

export type Row = Record<string, unknown>;

export function target(options: PgTarget): { url: string; schema: string } {
  const url = options.url ?? process.env.TALEA_PG_URL;
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\/./.test(url)) throw new ImpexError('usage', 'no postgres:// URL: pass --url or set TALEA_PG_URL');
  const schema = options.schema ?? 'talea';
  if (!SCHEMA_PATTERN.test(schema)) throw new ImpexError('usage', `invalid schema name ${JSON.stringify(schema)}: must match [a-z_][a-z0-9_]{0,62}`);
  return { url, schema };
}

export async function connect(url: string): Promise<pg.Client> {
  const driver = await loadDriver();
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === 20 ? (value: string) => BigInt(value) : driver.types.getTypeParser(oid, format)) as typeof driver.types.getTypeParser,
  };
  const client = new driver.Client({ connectionString: url, application_name: 'talea-store-impex', keepAlive: true, types });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw StoreError.io(`cannot connect to PostgreSQL: ${(error as Error).message}`, error);
  }
  return client;
}

export async function requireSchema(client: pg.Client, schema: string): Promise<void> {
  const found = await client.query('SELECT to_regclass($1) IS NOT NULL AS ok', [`"${schema}".books`]);
  if ((found.rows[0] as Row).ok !== true) throw new ImpexError('not-found', `schema ${schema} holds no PgStore tables`);
}

export function toNumber(value: unknown): number {
  const number = Number(value as bigint);
  if (!Number.isSafeInteger(number)) throw new Error(`not a safe integer: ${String(value)}`);
  return number;
}

let cursorCount = 0;

/** The rows of a query inside the current transaction, through a cursor, CURSOR_ROWS at a time. */
export async function* cursorRows(client: pg.Client, text: string, values: unknown[]): AsyncGenerator<Row> {
  const name = `talea_impex_${++cursorCount}`;
  await client.query(`DECLARE ${name} NO SCROLL CURSOR FOR ${text}`, values);
  try {
    for (;;) {
      const rows = (await client.query(`FETCH ${CURSOR_ROWS} FROM ${name}`)).rows as Row[];
      if (rows.length === 0) return;
      yield* rows;
    }
  } finally {
    await client.query(`CLOSE ${name}`).catch(() => undefined);
  }
}

async function pgHeads(client: pg.Client, S: string): Promise<Map<string, number>> {
  const rows = (await client.query(`SELECT name, last_seq FROM ${S}.books ORDER BY name`)).rows as Row[];
  return new Map(rows.map((row) => [String(row.name), toNumber(row.last_seq)]));
}

// --- compare ----------------------------------------------------------------------------------------

class Differences {
  count = 0;
  readonly listed: Difference[] = [];

  add(book: string | null, message: string): void {
    this.count++;
    if (this.listed.length < DIFFERENCES_LISTED_MAX) this.listed.push({ book, message });
  }
}

/** Where two texts first differ, and each around that place. */
function firstDifference(left: string, right: string): { at: number; left: string; right: string } {
  let at = 0;
  while (at < left.length && at < right.length && left[at] === right[at]) at++;
  const around = (text: string): string => {
    const start = Math.max(0, at - 24);
    return `${start > 0 ? '...' : ''}${text.slice(start, at + 40)}${at + 40 < text.length ? '...' : ''}`;
  };
  return { at, left: JSON.stringify(around(left)), right: JSON.stringify(around(right)) };
}

function formatRows(rows: readonly TrialBalanceRow[]): string {
  return rows.length === 0 ? '(none)' : rows.map((row) => `${row.asset} debits ${row.debits} credits ${row.credits}`).join('; ');
}

/** Compares the log's events of `book` with the schema's, seq by seq (X2, X6). */
async function compareEvents(client: pg.Client, S: string, root: string, book: string, lastSeq: number, found: Differences): Promise<Map<string, { txid: string; seq: number }>> {
  const keys = new Map<string, { txid: string; seq: number }>();
  const rows = cursorRows(client, `SELECT seq, ${US('at')} AS at_us, event_json FROM ${S}.events WHERE book = $1 ORDER BY seq`, [book])[Symbol.asyncIterator]();
  const frames = logFrames(root, book, 1, lastSeq);
  let row = await rows.next();
  let frame = frames.next();
  while (!row.done || !frame.done) {
    const rowSeq = row.done ? Number.POSITIVE_INFINITY : toNumber(row.value.seq);
    const frameSeq = frame.done ? Number.POSITIVE_INFINITY : frame.value.seq;
    if (frameSeq < rowSeq) {
      found.add(book, `book ${book} seq ${frameSeq}: in the log, not in PostgreSQL`);
    } else if (rowSeq < frameSeq) {
      found.add(book, `book ${book} seq ${rowSeq}: in PostgreSQL, not in the log`);
    } else {
      const log = frame.value as LogFrame;
      const stored = row.value as Row;
      const storedAt = formatAtUs(toNumber(stored.at_us));
      if (storedAt !== formatAtUs(log.atUs)) found.add(book, `book ${book} seq ${log.seq}: at differs (log ${formatAtUs(log.atUs)}, PostgreSQL ${storedAt})`);
      const storedJson = String(stored.event_json);
      if (storedJson !== log.eventJson && !sameEventReencoded(log, storedJson)) {
        const where = firstDifference(log.eventJson, storedJson);
        found.add(book, `book ${book} seq ${log.seq}: event JSON differs at character ${where.at} (log ${where.left}, PostgreSQL ${where.right})`);
      }
      if (log.event.kind === 'transaction_posted' && !keys.has(log.event.idempotency_key)) keys.set(log.event.idempotency_key, { txid: log.event.id, seq: log.seq });
    }
    if (frameSeq <= rowSeq) frame = frames.next();
    if (rowSeq <= frameSeq) row = await rows.next();
  }
  return keys;
}

/** X2: only a log written by another encoder may differ in bytes, and then only in layout. */
function sameEventReencoded(log: LogFrame, storedJson: string): boolean {
  if (log.canonical) return false;
  try {
    return encodeEvent(decodeEvent(storedJson)) === encodeEvent(log.event);
  } catch {
    return false;
  }
}

async function compareBook(client: pg.Client, S: string, root: string, book: string, recovered: RecoveredBook, found: Differences): Promise<void> {
  const lastSeq = recovered.state.lastSeq;
  const keys = await compareEvents(client, S, root, book, lastSeq, found);
  // Accounts: balance and updated seq.
  const accounts = new Map([...recovered.state.accounts.values()].map((account) => [account.id.path, account]));
  for await (const row of cursorRows(client, `SELECT path, asset, normal_side, raw, updated_seq FROM ${S}.accounts WHERE book = $1 ORDER BY path`, [book])) {
    const accountPath = String(row.path);
    const account = accounts.get(accountPath);
    const name = `${book}/${JSON.stringify(accountPath)}`;
    if (account === undefined) {
      found.add(book, `account ${name}: in PostgreSQL, not in the log`);
      continue;
    }
    accounts.delete(accountPath);
    const storedBalance = effectiveBalance({ normal_side: row.normal_side as Direction | null }, row.raw as bigint);
    const logBalance = account.effective(account.rawBalance);
    const storedUpdated = toNumber(row.updated_seq);
    if (storedBalance !== logBalance || storedUpdated !== account.updatedSeq || row.asset !== account.def.asset) {
      found.add(
        book,
        `account ${name}: balance differs (log ${logBalance} ${account.def.asset} updated at seq ${account.updatedSeq}, ` +
          `PostgreSQL ${storedBalance} ${String(row.asset)} updated at seq ${storedUpdated})`,
      );
    }
  }
  for (const accountPath of accounts.keys()) found.add(book, `account ${book}/${JSON.stringify(accountPath)}: in the log, not in PostgreSQL`);
  // Trial balance: the saturating fold in (seq, idx) order, as every store sums.
  const sums = new TrialBalanceSums();
  for await (const row of cursorRows(client, `SELECT asset, direction, minor FROM ${S}.postings WHERE book = $1 ORDER BY seq, idx`, [book])) {
    sums.add(String(row.asset), row.direction as Direction, row.minor as bigint);
  }
  const logRows = formatRows(recovered.state.trialBalance());
  const storedRows = formatRows(sums.rows());
  if (logRows !== storedRows) found.add(book, `book ${book}: trial balance differs (log ${logRows}; PostgreSQL ${storedRows})`);
  // Idempotency: (book, key) → (txid, seq).
  for await (const row of cursorRows(client, `SELECT idempotency_key, txid, seq FROM ${S}.transactions WHERE book = $1 ORDER BY idempotency_key`, [book])) {
    const key = String(row.idempotency_key);
    const logged = keys.get(key);
    const stored = { txid: String(row.txid), seq: toNumber(row.seq) };
    if (logged === undefined) found.add(book, `book ${book} idempotency key ${JSON.stringify(key)}: in PostgreSQL (txid ${stored.txid}, seq ${stored.seq}), not in the log`);
    else if (logged.txid !== stored.txid || logged.seq !== stored.seq) {
      found.add(book, `book ${book} idempotency key ${JSON.stringify(key)}: log txid ${logged.txid} seq ${logged.seq}, PostgreSQL txid ${stored.txid} seq ${stored.seq}`);
    }
    keys.delete(key);
  }
  for (const [key, logged] of keys) found.add(book, `book ${book} idempotency key ${JSON.stringify(key)}: in the log (txid ${logged.txid}, seq ${logged.seq}), not in PostgreSQL`);
  if (book === SYSTEM_BOOK) {
    const assets = new Map<string, number>();
    for (const frame of logFrames(root, book, 1, lastSeq)) if (frame.event.kind === 'asset_registered') assets.set(frame.event.id, frame.seq);
    for await (const row of cursorRows(client, `SELECT id, seq FROM ${S}.assets ORDER BY id`, [])) {
      const id = String(row.id);
      const seq = assets.get(id);
      if (seq !== toNumber(row.seq)) found.add(book, `asset ${JSON.stringify(id)}: registered at seq ${seq ?? 'none'} in the log, ${toNumber(row.seq)} in PostgreSQL`);
      assets.delete(id);
    }
    for (const [id, seq] of assets) found.add(book, `asset ${JSON.stringify(id)}: registered at seq ${seq} in the log, not in PostgreSQL`);
  }
}

/** X6, inside a transaction the caller opened (one snapshot). */
async function compareInSnapshot(client: pg.Client, schema: string, root: string, only: readonly string[] | null): Promise<CompareResult> {
  const S = `"${schema}"`;
  const heads = await pgHeads(client, S);
  const logBooks = logBookNames(root);
  let names = importOrder([...new Set([...logBooks, ...heads.keys()])]);
  if (only !== null) {
    const unknown = only.find((name) => !names.includes(name));
    if (unknown !== undefined) throw new ImpexError('usage', `no book ${unknown} in the log or in schema ${schema}`);
    names = names.filter((name) => only.includes(name));
  }
  const found = new Differences();
  const books: CompareResult['books'] = [];
  for (const book of names) {
    const recovered = logBooks.includes(book) ? checkBookForCompare(root, book) : null;
    const logLast = recovered?.state.lastSeq ?? 0;
    const storedLast = heads.get(book) ?? 0;
    books.push({ book, lastSeq: logLast });
    if (logLast === 0 && storedLast === 0) continue;
    if (logLast === 0) {
      found.add(book, `book ${book}: in PostgreSQL (last seq ${storedLast}), not in the log`);
      continue;
    }
    if (storedLast === 0) {
      found.add(book, `book ${book}: in the log (last seq ${logLast}), not in PostgreSQL`);
      continue;
    }
    if (logLast !== storedLast) found.add(book, `book ${book}: last seq ${logLast} in the log, ${storedLast} in PostgreSQL`);
    await compareBook(client, S, root, book, recovered!, found);
  }
  return { identical: found.count === 0, differenceCount: found.count, differences: found.listed, books };
}

/** Compare reads what open would serve: a torn tail is left out, as open truncates it. */
function checkBookForCompare(root: string, book: string): RecoveredBook {
  const recovered = recoverBook(new RealFileSystem(), root, book);
  recovered.log.close();
  return recovered;
}

export async function inSnapshot<T>(client: pg.Client, body: () => Promise<T>): Promise<T> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const result = await body();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** `talea-log pg-compare` (5.4): the log directory against the schema, one snapshot, no lock. */
export async function comparePgWithLogDir(options: CompareOptions): Promise<CompareResult> {
  const { url, schema } = target(options);
  const root = resolveLogDir(options.dir);
  const client = await connect(url);
  try {
    await requireSchema(client, schema);
    return await inSnapshot(client, () => compareInSnapshot(client, schema, root, options.books ?? null));
  } finally {
    await client.end().catch(() => undefined);
  }
}

// --- import -----------------------------------------------------------------------------------------

/** `talea-log pg-import` (5.3): a log data directory into a PgStore schema (X1-X4), then compare. */
export async function importLogDirToPg(options: ImportOptions): Promise<ImportResult> {
  const { url, schema } = target(options);
  const batchEvents = options.batchEvents ?? IMPORT_BATCH_EVENTS;
  if (!Number.isSafeInteger(batchEvents) || batchEvents < 1) throw new ImpexError('usage', 'batchEvents must be a positive integer');
  const root = resolveLogDir(options.dir);
  let lock: DataDirLock;
  try {
    lock = DataDirLock.acquire(root);
  } catch (error) {
    const code = ((error as StoreError).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') throw new ImpexError('locked', (error as Error).message);
    throw error;
  }
  let store: PgStore | null = null;
  let client: pg.Client | null = null;
  try {
    // X3: every check before anything is written.
    const books: CheckedBook[] = importOrder(logBookNames(root)).map((book) => ({ book, lastSeq: checkBook(root, book).state.lastSeq }));
    scanUnrepresentable(root, books);
    try {
      store = await PgStore.open({ url, schema, writeConnections: 1, readConnections: 1 });
    } catch (error) {
      if (isStoreError(error, 'INVALID_ARGUMENT')) throw new ImpexError('usage', error.message);
      throw error;
    }
    client = await connect(url);
    const S = `"${schema}"`;
    const heads = await pgHeads(client, S);
    if (heads.size > 0 && options.resume !== true) {
      throw new ImpexError('target-not-empty', `schema ${schema} already holds ${heads.size} book${heads.size === 1 ? '' : 's'} (${[...heads.keys()].slice(0, 3).join(', ')}${heads.size > 3 ? ', ...' : ''}); import into an empty schema, or pass --resume to continue an interrupted import`);
    }
    if (heads.size > 0) await checkPrefixes(client, S, root, books, heads);
    const result: ImportResult['books'] = [];
    let events = 0;
    for (const { book, lastSeq } of books) {
      const from = (heads.get(book) ?? 0) + 1;
      result.push({ book, lastSeq, importedFrom: from });
      let batch: ImportedEvent[] = [];
      const flush = async (): Promise<void> => {
        await store!.importEvents(book, batch);
        events += batch.length;
        const last = batch[batch.length - 1]!.seq;
        batch = [];
        await options.onBatch?.(book, last);
      };
      for (const frame of logFrames(root, book, from, lastSeq)) {
        batch.push({ seq: frame.seq, atUs: frame.atUs, eventJson: frame.eventJson, event: frame.event });
        if (batch.length >= batchEvents) await flush();
      }
      if (batch.length > 0) await flush();
    }
    const compare = await inSnapshot(client, () => compareInSnapshot(client!, schema, root, null));
    return { books: result, events, compare };
  } finally {
    await store?.close();
    await client?.end().catch(() => undefined);
    lock.release();
  }
}

/** X4: every book the schema holds is a byte-identical prefix of the log. */
async function checkPrefixes(client: pg.Client, S: string, root: string, books: readonly CheckedBook[], heads: ReadonlyMap<string, number>): Promise<void> {
  const lastSeqs = new Map(books.map(({ book, lastSeq }) => [book, lastSeq]));
  await inSnapshot(client, async () => {
    for (const [book, storedLast] of heads) {
      const logLast = lastSeqs.get(book) ?? 0;
      const notPrefix = (why: string): ImpexError => new ImpexError('refused', `cannot resume: book ${book} in the schema is not a prefix of the log: ${why}`);
      if (storedLast > logLast) throw notPrefix(`it ends at seq ${storedLast}, the log at seq ${logLast}`);
      const frames = logFrames(root, book, 1, storedLast);
      for await (const row of cursorRows(client, `SELECT seq, ${US('at')} AS at_us, event_json FROM ${S}.events WHERE book = $1 ORDER BY seq`, [book])) {
        const frame = frames.next();
        const seq = toNumber(row.seq);
        if (frame.done || frame.value.seq !== seq) throw notPrefix(`seq ${seq} is not the log's next event`);
        if (toNumber(row.at_us) !== frame.value.atUs || String(row.event_json) !== frame.value.eventJson) throw notPrefix(`seq ${seq} differs`);
      }
      if (!frames.next().done) throw notPrefix(`its events end before its head (seq ${storedLast})`);
    }
  });
}

// --- export -----------------------------------------------------------------------------------------

function isEmptyDirectoryOrMissing(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory() && fs.readdirSync(dir).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** `talea-log pg-export` (5.2): a schema (or some books) into a new log data directory (X5). */
export async function exportPgToLogDir(options: ExportOptions): Promise<ExportResult> {
  const { url, schema } = target(options);
  const dir = path.resolve(options.dir);
  if (!isEmptyDirectoryOrMissing(dir)) throw new ImpexError('target-not-empty', `${dir} exists and is not an empty directory; export writes a new data directory`);
  const parent = path.dirname(dir);
  if (!fs.existsSync(parent)) throw new ImpexError('not-found', `no such directory: ${parent}`);
  const segmentMax = options.segmentMax ?? resolveOptions({}).segmentMax;
  const temporary = `${dir}.tmp-${process.pid}`;
  const client = await connect(url);
  try {
    await requireSchema(client, schema);
    const S = `"${schema}"`;
    return await inSnapshot(client, async () => {
      const heads = await pgHeads(client, S);
      let names = importOrder([...heads.keys()]);
      if (options.books !== undefined) {
        const unknown = options.books.find((book) => !heads.has(book));
        if (unknown !== undefined) throw new ImpexError('usage', `no book ${unknown} in schema ${schema}`);
        names = names.filter((book) => book === SYSTEM_BOOK || options.books!.includes(book));
      }
      fs.rmSync(temporary, { recursive: true, force: true }); // this process's own leftover
      fs.mkdirSync(path.join(temporary, 'books'), { recursive: true });
      fs.closeSync(fs.openSync(path.join(temporary, 'LOCK'), 'a'));
      const books: ExportResult['books'] = [];
      let events = 0;
      try {
        for (const book of names) {
          const log = new SegmentLog(new RealFileSystem(), temporary, book);
          log.preallocate = { fromBytes: Number.MAX_SAFE_INTEGER, chunkBytes: log.preallocate.chunkBytes }; // frames only
          let frames: Buffer[] = [];
          let firstSeq = 1;
          let expected = 1;
          try {
            for await (const row of cursorRows(client, `SELECT seq, ${US('at')} AS at_us, event_json FROM ${S}.events WHERE book = $1 ORDER BY seq`, [book])) {
              const seq = toNumber(row.seq);
              if (seq !== expected) throw StoreError.corrupt(book, `${schema}.events`, seq, `book ${book} in schema ${schema}: expected seq ${expected}, found ${seq}`);
              expected++;
              frames.push(encodeFrameAroundEvent(seq, formatAtUs(toNumber(row.at_us)), Buffer.from(String(row.event_json), 'utf8')));
              if (frames.length === CURSOR_ROWS) {
                log.appendBatch(frames, firstSeq, segmentMax);
                firstSeq += frames.length;
                frames = [];
              }
            }
            if (frames.length > 0) log.appendBatch(frames, firstSeq, segmentMax);
          } finally {
            log.trimAndClose();
          }
          const lastSeq = expected - 1;
          if (lastSeq !== heads.get(book)) throw StoreError.corrupt(book, `${schema}.books`, lastSeq, `book ${book} in schema ${schema}: head says seq ${heads.get(book)}, events end at ${lastSeq}`);
          books.push({ book, lastSeq, segments: log.catalog.length });
          events += lastSeq;
        }
        fsyncDir(path.join(temporary, 'books'));
        fsyncDir(temporary);
        fs.renameSync(temporary, dir); // replaces an empty directory
        fsyncDir(parent);
      } catch (error) {
        fs.rmSync(temporary, { recursive: true, force: true });
        throw error;
      }
      const compare = await compareInSnapshot(client, schema, dir, names);
      return { dir, books, events, compare };
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}
