/**
 * The flat account key (spec/store-contract.md, section 3.3): the book with every `:` and `\`
 * escaped by a backslash, one `:`, then the path unchanged. The mapping is injective, so the key
 * can serve as a map key and be parsed back.
 */
import type { AccountId } from './types.js';

const BACKSLASH = 0x5c;
const COLON = 0x3a;

export function accountKey(id: AccountId): string {
  const book = id.book;
  // Valid book names never need escaping; skip the scan's allocation in that common case.
  if (book.indexOf(':') === -1 && book.indexOf('\\') === -1) return `${book}:${id.path}`;
  let escaped = '';
  for (const char of book) {
    if (char === ':' || char === '\\') escaped += '\\';
    escaped += char;
  }
  return `${escaped}:${id.path}`;
}

/** Parses a flat key. Returns `null` for a key with no unescaped `:` or a trailing lone `\`. */
export function parseAccountKey(key: string): AccountId | null {
  let book = '';
  for (let index = 0; index < key.length; index++) {
    const code = key.charCodeAt(index);
    if (code === BACKSLASH) {
      if (index + 1 >= key.length) return null;
      index++;
      book += key[index];
    } else if (code === COLON) {
      return { book, path: key.slice(index + 1) };
    } else {
      book += key[index];
    }
  }
  return null;
}
