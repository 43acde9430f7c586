/**
 * The accounts of one book, and the per-account record they are kept in (spec/log-engine.md,
 * section 7). A book may hold millions of accounts that never have a posting (a wallet per
 * customer), so what an empty account costs is decided here.
 *
 * A1. An account record holds only what differs between accounts: its path, minimum balance,
 *     ordinal and postings. The book, asset, kind and normal side are one shared `AccountClass`
 *     per combination (a book has a handful); the minimum balance stays on the account because
 *     one per customer is normal, with the common `0n` shared. The balance and updated seq are
 *     those after the last posting (0 and 0 before the first), read from the posting index.
 * A2. The table is keyed by path, the same string the record holds, so an account costs one
 *     string; callers speak flat keys (account-key.ts), which this table turns into paths of its
 *     book. A flat key of another book is never found.
 */
import assert from 'node:assert/strict';
import { accountKey } from '../core/account-key.js';
import { ACCOUNT_KINDS, type AccountCfg, type AccountDef, type AccountId, type AccountKind, type Direction } from '../core/types.js';
import type { PostingIndex } from './posting-index.js';

/** What the accounts of one kind share (A1). */
export class AccountClass {
  constructor(
    readonly book: string,
    readonly asset: string,
    readonly kind: AccountKind,
    readonly normalSide: Direction | null,
  ) {}
}

/** The shared `AccountClass` of each combination, one table per book (and per batch overlay). */
export class AccountClasses {
  readonly #classes = new Map<string, AccountClass>();

  of(book: string, asset: string, kind: AccountKind, normalSide: Direction | null): AccountClass {
    const key = `${asset}\u0000${kind}\u0000${normalSide ?? ''}`;
    let known = this.#classes.get(key);
    if (known === undefined) {
      known = new AccountClass(book, asset, kind, normalSide);
      this.#classes.set(key, known);
    }
    return known;
  }
}

const ZERO = 0n;

/** One account of a book (A1). */
export class AccountState {
  /** Null until the first posting. */
  postings: PostingIndex | null = null;

  constructor(
    readonly shape: AccountClass,
    readonly path: string,
    readonly minBalance: bigint | null,
    /** The account's number in its book, in opening order (its balance slot, shared-balances M1); -1 while staged. */
    readonly ordinal: number,
  ) {}

  /** A new account from its event's def and cfg, sharing its class with the book's other accounts of that kind. */
  static open(def: AccountDef, cfg: AccountCfg, ordinal: number, classes: AccountClasses): AccountState {
    const kind = ACCOUNT_KINDS.find((known) => known === def.kind) ?? def.kind;
    const normalSide = cfg.normal_side === 'debit' ? 'debit' : cfg.normal_side === 'credit' ? 'credit' : null;
    const minBalance = cfg.min_balance === ZERO ? ZERO : cfg.min_balance;
    return new AccountState(classes.of(def.id.book, def.asset, kind, normalSide), def.id.path, minBalance, ordinal);
  }

  /** Debits minus credits after the last posting (A1). */
  get rawBalance(): bigint {
    const postings = this.postings;
    return postings === null || postings.length === 0 ? ZERO : postings.rawAfterAt(postings.length - 1);
  }

  /** The seq of the last posting, 0 before the first (A1). */
  get updatedSeq(): number {
    const postings = this.postings;
    return postings === null || postings.length === 0 ? 0 : postings.seqAt(postings.length - 1);
  }

  get book(): string {
    return this.shape.book;
  }

  get asset(): string {
    return this.shape.asset;
  }

  get kind(): AccountKind {
    return this.shape.kind;
  }

  get normalSide(): Direction | null {
    return this.shape.normalSide;
  }

  get id(): AccountId {
    return { book: this.shape.book, path: this.path };
  }

  get def(): AccountDef {
    return { id: this.id, asset: this.shape.asset, kind: this.shape.kind };
  }

  get cfg(): AccountCfg {
    return { normal_side: this.shape.normalSide, min_balance: this.minBalance };
  }

  /** The balance as the account's owner reads it: the raw balance negated for credit-normal accounts. */
  effective(raw: bigint): bigint {
    return this.shape.normalSide === 'credit' ? -raw : raw;
  }
}

/** The accounts of one book by path, looked up by flat key (A2). */
export class AccountTable {
  readonly #byPath = new Map<string, AccountState>();
  /** `<book>:` as one flat string: a flat key of this book is this prefix and a path. */
  readonly #keyPrefix: string;

  constructor(readonly book: string) {
    // Copied flat, so each flat key made from it is one rope over two flat strings.
    this.#keyPrefix = JSON.parse(JSON.stringify(accountKey({ book, path: '' }))) as string;
  }

  get size(): number {
    return this.#byPath.size;
  }

  /** The flat key of a path of this book. */
  keyOf(path: string): string {
    return this.#keyPrefix + path;
  }

  /** The account of a flat key, or undefined (always for a key of another book). */
  get(key: string): AccountState | undefined {
    return key.startsWith(this.#keyPrefix) ? this.#byPath.get(key.slice(this.#keyPrefix.length)) : undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  byId(id: AccountId): AccountState | undefined {
    return id.book === this.book ? this.#byPath.get(id.path) : undefined;
  }

  /** Adds an account of this book; the caller has checked that its path is new. */
  add(account: AccountState): void {
    assert(account.book === this.book);
    this.#byPath.set(account.path, account);
  }

  values(): IterableIterator<AccountState> {
    return this.#byPath.values();
  }

  /** The flat keys in opening order, made on the way. */
  *keys(): IterableIterator<string> {
    for (const path of this.#byPath.keys()) yield this.keyOf(path);
  }

  /** [flat key, account] in opening order; the keys are made on the way. */
  *entries(): IterableIterator<[string, AccountState]> {
    for (const [path, account] of this.#byPath) yield [this.keyOf(path), account];
  }

  [Symbol.iterator](): IterableIterator<[string, AccountState]> {
    return this.entries();
  }
}
