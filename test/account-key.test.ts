/**
 * The flat account key (store-contract 3.3): the exact table, injectivity over the contract's
 * eight fragments, the invalid keys, and a round-trip property over arbitrary strings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { accountKey, parseAccountKey } from '../src/core/account-key.js';

test('3.3: the table of flat keys, both directions', () => {
  const table: Array<[book: string, path: string, key: string]> = [
    ['onramp', 'treasury:btc', 'onramp:treasury:btc'],
    ['onramp', 'cash', 'onramp:cash'],
    ['a:b', 'c', 'a\\:b:c'],
    ['a', 'b:c', 'a:b:c'],
    ['a\\', 'b', 'a\\\\:b'],
    ['\\:', 'x', '\\\\\\::x'],
    ['onramp', '', 'onramp:'],
  ];
  for (const [book, path, key] of table) {
    assert.equal(accountKey({ book, path }), key, `key of (${book}, ${path})`);
    assert.deepEqual(parseAccountKey(key), { book, path }, `parse of ${key}`);
  }
  // The raw characters of the table, spelled out, so the escapes above cannot mislead.
  assert.equal(accountKey({ book: 'a:b', path: 'c' }).length, 6);
  assert.equal(accountKey({ book: '\\:', path: 'x' }), String.raw`\\\::x`);
  assert.equal(accountKey({ book: 'a\\', path: 'b' }), String.raw`a\\:b`);
});

test('3.3: a book without ":" or "\\" gives plain book:path, and the path is never escaped', () => {
  assert.equal(accountKey({ book: 'treasury.eu', path: 'a\\b:c' }), 'treasury.eu:a\\b:c');
  assert.deepEqual(parseAccountKey('treasury.eu:a\\b:c'), { book: 'treasury.eu', path: 'a\\b:c' });
  assert.equal(accountKey({ book: '', path: '' }), ':');
  assert.deepEqual(parseAccountKey(':'), { book: '', path: '' });
});

test('3.3: the 64 pairs of the eight fragments give 64 distinct keys that parse back', () => {
  const fragments = ['a', 'a:', 'a\\', ':', '\\', '\\:', ':a', 'a:b'];
  const keys = new Map<string, [string, string]>();
  for (const book of fragments) {
    for (const path of fragments) {
      const key = accountKey({ book, path });
      assert.ok(!keys.has(key), `key ${key} of (${book}, ${path}) collides with ${JSON.stringify(keys.get(key))}`);
      keys.set(key, [book, path]);
      assert.deepEqual(parseAccountKey(key), { book, path });
    }
  }
  assert.equal(keys.size, 64);
});

test('3.3: the older bare join collided; the escaped keys do not', () => {
  const left = accountKey({ book: 'a:b', path: 'c' });
  const right = accountKey({ book: 'a', path: 'b:c' });
  assert.notEqual(left, right);
});

test('3.3: invalid keys parse to null', () => {
  for (const key of ['', 'onramp', 'a\\:b', '\\:', 'a\\', '\\', 'a\\\\\\', 'abc\\:def\\']) {
    assert.equal(parseAccountKey(key), null, JSON.stringify(key));
  }
});

test('3.3: a backslash in the book part takes any next character literally', () => {
  assert.deepEqual(parseAccountKey('\\a\\b:c'), { book: 'ab', path: 'c' });
  assert.deepEqual(parseAccountKey('a\\\\:'), { book: 'a\\', path: '' });
});

test('3.3 property: parseAccountKey(accountKey(id)) equals id for arbitrary strings', () => {
  const fragment = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: fc.constantFrom('a', ':', '\\', 'é', '😀', '\u0000') }),
  );
  fc.assert(
    fc.property(fragment, fragment, (book, path) => {
      const key = accountKey({ book, path });
      assert.deepEqual(parseAccountKey(key), { book, path });
    }),
    { numRuns: 2000 },
  );
});

test('3.3 property: the mapping is injective', () => {
  const fragment = fc.string({ unit: fc.constantFrom('a', ':', '\\', 'b') , maxLength: 6 });
  fc.assert(
    fc.property(fragment, fragment, fragment, fragment, (book1, path1, book2, path2) => {
      if (book1 === book2 && path1 === path2) return;
      assert.notEqual(accountKey({ book: book1, path: path1 }), accountKey({ book: book2, path: path2 }));
    }),
    { numRuns: 5000 },
  );
});
