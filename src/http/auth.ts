/**
 * Bearer tokens (docs/reference-http-api.md, "Authentication"; spec/http-api.md H3).
 *
 * K1. With no token configured every request is allowed (open mode); the server logs one warning.
 * K2. Otherwise every `/v1` request needs `Authorization: Bearer <token>` (scheme case-insensitive,
 *     one or more spaces); a missing or unknown token is 401 `unauthorized`.
 * K3. Tokens are compared in constant time: both sides are hashed to 32 bytes and compared with
 *     crypto.timingSafeEqual, so neither the content nor the length of a secret shows in timing.
 * K4. A scope is a set of books (or every book, `["*"]`) with `ro` or `rw` access. Reads need the
 *     book in scope, writes need `rw` too, the asset registry needs `rw` on `["*"]`.
 * K5. The tokens file is TOML (`[tokens.<name>]` with `token`, `books`, `access`); unknown fields
 *     are refused, and no error message ever contains a secret.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { parse as parseToml } from 'smol-toml';

export type Access = 'ro' | 'rw';

/** What one token may reach. `books === '*'` is every book. */
export interface TokenScope {
  /** The entry's name, safe for logs; never the secret. */
  readonly name: string;
  readonly books: '*' | ReadonlySet<string>;
  readonly access: Access;
}

export interface TokenEntry {
  name: string;
  token: string;
  books: '*' | readonly string[];
  access: Access;
}

/** The scope of every request in open mode, and of TALEA_API_TOKEN. */
export const ALL_BOOKS_RW: TokenScope = Object.freeze({ name: 'all', books: '*', access: 'rw' });

export function allowsRead(scope: TokenScope, book: string): boolean {
  return scope.books === '*' || scope.books.has(book);
}

export function allowsWrite(scope: TokenScope, book: string): boolean {
  return scope.access === 'rw' && allowsRead(scope, book);
}

export function allowsRegistry(scope: TokenScope): boolean {
  return scope.access === 'rw' && scope.books === '*';
}

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** The configured tokens, ready for constant-time lookup. */
export class TokenTable {
  readonly #entries: Array<{ digest: Buffer; scope: TokenScope }>;

  constructor(entries: readonly TokenEntry[]) {
    this.#entries = entries.map((entry) => ({
      digest: digest(entry.token),
      scope: Object.freeze({
        name: entry.name,
        books: entry.books === '*' ? '*' : new Set(entry.books),
        access: entry.access,
      }),
    }));
  }

  /** Open mode (K1). */
  get open(): boolean {
    return this.#entries.length === 0;
  }

  /** The scope of an Authorization header's token, or null (K2, K3). */
  authenticate(header: string | undefined): TokenScope | null {
    if (this.open) return ALL_BOOKS_RW;
    const token = bearerToken(header);
    if (token === null) return null;
    const offered = digest(token);
    let found: TokenScope | null = null;
    // Every entry is compared, so the time does not depend on which one matched.
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, offered) && found === null) found = entry.scope;
    }
    return found;
  }
}

/** RFC 7235 credentials: a case-insensitive scheme, one or more spaces, the token. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^([A-Za-z]+) +(\S.*)$/.exec(header);
  if (match === null || match[1]!.toLowerCase() !== 'bearer') return null;
  return match[2]!.trimEnd();
}

/** Parses a tokens file (K5). Throws an Error whose message names the entry, never the secret. */
export function parseTokensFile(text: string): TokenEntry[] {
  let document: Record<string, unknown>;
  try {
    document = parseToml(text) as Record<string, unknown>;
  } catch (error) {
    // smol-toml's message quotes the offending line, which may hold a secret: keep only its position.
    const { line, column } = error as { line?: number; column?: number };
    throw new Error(`tokens file is not valid TOML${line === undefined ? '' : ` (line ${line}, column ${column})`}`);
  }
  for (const key of Object.keys(document)) {
    if (key !== 'tokens') throw new Error(`tokens file: unknown top-level key "${key}" (expected [tokens.<name>] tables)`);
  }
  const tokens = document.tokens ?? {};
  if (typeof tokens !== 'object' || tokens === null || Array.isArray(tokens)) throw new Error('tokens file: "tokens" must be a table of [tokens.<name>] entries');
  const entries: TokenEntry[] = [];
  for (const [name, value] of Object.entries(tokens as Record<string, unknown>)) {
    const where = `tokens file: entry "${name}"`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where} must be a table`);
    const entry = value as Record<string, unknown>;
    for (const key of Object.keys(entry)) {
      if (key !== 'token' && key !== 'books' && key !== 'access') throw new Error(`${where}: unknown field "${key}"`);
    }
    if (typeof entry.token !== 'string' || entry.token === '') throw new Error(`${where}: token must be a non-empty string`);
    const books = entry.books;
    if (!Array.isArray(books) || books.some((book) => typeof book !== 'string' || book === '')) {
      throw new Error(`${where}: books must be a list of book names, or ["*"]`);
    }
    if (books.length === 0) throw new Error(`${where}: books must not be empty`);
    if (books.includes('*') && books.length > 1) throw new Error(`${where}: "*" cannot be mixed with named books`);
    if (entry.access !== 'ro' && entry.access !== 'rw') throw new Error(`${where}: access must be "ro" or "rw"`);
    if (entries.some((other) => other.token === entry.token)) throw new Error(`${where}: duplicate token value (secrets must be unique)`);
    entries.push({ name, token: entry.token, books: books[0] === '*' ? '*' : (books as string[]), access: entry.access });
  }
  return entries;
}

/** The token table of a configuration: TALEA_API_TOKEN is an unnamed all-books `rw` entry. */
export function tokenTable(apiToken: string | undefined, fileEntries: readonly TokenEntry[] = []): TokenTable {
  const entries = [...fileEntries];
  if (apiToken !== undefined && apiToken !== '') entries.push({ name: 'TALEA_API_TOKEN', token: apiToken, books: '*', access: 'rw' });
  return new TokenTable(entries);
}
