/**
 * The data model of the store contract (spec/store-contract.md, section 4).
 *
 * Data objects keep the snake_case field names of the event JSON, so an event on disk and the
 * object the API returns have the same shape. Money is `bigint` (i64); seqs are `number`.
 */
import type { StoreError } from './errors.js';

export type Direction = 'debit' | 'credit';

export type AccountKind = 'asset' | 'liability' | 'income' | 'expense' | 'equity' | 'clearing';

export const ACCOUNT_KINDS: readonly AccountKind[] = [
  'asset',
  'liability',
  'income',
  'expense',
  'equity',
  'clearing',
];

export interface AccountId {
  book: string;
  path: string;
}

export type AssetClass = 'fiat' | { crypto: { network: string; native_id: string | null } };

export interface AssetDef {
  id: string;
  class: AssetClass;
  /** Integer 0..255: decimal places of the minor unit. Immutable once registered. */
  precision: number;
  name: string;
}

export interface AccountDef {
  id: AccountId;
  asset: string;
  /** Classification only; arithmetic uses `cfg.normal_side`. */
  kind: AccountKind;
}

export interface AccountCfg {
  /** `null`: unsided (the balance is reported raw, debit-positive). */
  normal_side: Direction | null;
  /** i64; `null`: unconstrained. */
  min_balance: bigint | null;
}

export interface Amount {
  /** Integer minor units, i64. */
  minor: bigint;
  asset: string;
}

export interface Posting {
  account: AccountId;
  amount: Amount;
  direction: Direction;
}

export interface ExternalRef {
  kind: string;
  value: string;
}

export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

export interface Transaction {
  /** Caller-chosen UUID (any version); normalised to lowercase. */
  id: string;
  book: string;
  postings: Posting[];
  idempotency_key: string;
  external_refs: ExternalRef[];
  metadata: JsonValue;
  /** RFC 3339, kept verbatim. Never used by the store. */
  occurred_at: string;
}

export interface Committed {
  txid: string;
  seq: number;
  /** Commit time, RFC 3339 UTC with exactly 6 fractional digits. */
  at: string;
}

export interface BalanceSnapshot {
  /** `minor` is the effective balance: negated raw balance for credit-normal accounts. */
  amount: Amount;
  /** Seq of the last transaction that touched the account; 0 if none. */
  updated_seq: number;
}

export interface PostingRecord {
  seq: number;
  txid: string;
  account: AccountId;
  /** The posting's raw amount, not normal-side adjusted. */
  amount: Amount;
  direction: Direction;
  at: string;
}

export interface StoredTransaction {
  transaction: Transaction;
  seq: number;
  at: string;
}

export interface TrialBalanceRow {
  asset: string;
  debits: bigint;
  credits: bigint;
}

export type AssetRegisteredEvent = { kind: 'asset_registered' } & AssetDef;
export interface AccountOpenedEvent {
  kind: 'account_opened';
  def: AccountDef;
  cfg: AccountCfg;
}
export type TransactionPostedEvent = { kind: 'transaction_posted' } & Transaction;

export type LedgerEvent = AssetRegisteredEvent | AccountOpenedEvent | TransactionPostedEvent;

export interface SequencedEvent {
  seq: number;
  at: string;
  event: LedgerEvent;
}

export type CommitResult = { ok: true; value: Committed } | { ok: false; error: StoreError };

export const SYSTEM_BOOK = '_system';

export const I64_MIN = -9223372036854775808n;
export const I64_MAX = 9223372036854775807n;

/** The conventional normal side of an account kind. Classification only. */
export function normalSideOf(kind: AccountKind): Direction | null {
  switch (kind) {
    case 'asset':
    case 'expense':
      return 'debit';
    case 'liability':
    case 'income':
    case 'equity':
      return 'credit';
    case 'clearing':
      return null;
  }
}
