/**
 * Book names (store-contract 3.2): every example of the contract, the length bounds and the
 * reserved-name rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BOOK_NAME_PATTERN, bookCaseKey, isReservedBook, isValidBookName } from '../src/core/book-name.js';

const validExamples = [
  'onramp',
  'b',
  'book-3f1a0b2c-4d5e-6f70-8192-a3b4c5d6e7f8'.slice(0, 37),
  'treasury.eu',
  '_system',
  '_sneaky',
];

const invalidExamples = ['', '.', '..', '../evil', 'a/b', 'a\\b', 'a:b', 'a b', 'café', 'x'.repeat(129), 'a\u0000b'];

test('3.2: the contract examples that match the pattern', () => {
  assert.equal(validExamples[2]?.length, 37);
  for (const name of validExamples) assert.equal(isValidBookName(name), true, JSON.stringify(name));
});

test('3.2: the contract examples that break the pattern', () => {
  for (const name of invalidExamples) assert.equal(isValidBookName(name), false, JSON.stringify(name));
});

test('3.2: the pattern is exactly the contract regular expression', () => {
  assert.equal(BOOK_NAME_PATTERN.source, String.raw`^(?!\.{1,2}$)[A-Za-z0-9._-]{1,128}$`);
  assert.equal(BOOK_NAME_PATTERN.flags, '');
});

test('3.2: length bounds 1 and 128', () => {
  assert.equal(isValidBookName('x'), true);
  assert.equal(isValidBookName('x'.repeat(128)), true);
  assert.equal(isValidBookName('x'.repeat(129)), false);
  assert.equal(isValidBookName('_'.repeat(128)), true);
});

test('3.2: dots are allowed except the names "." and ".."', () => {
  for (const name of ['...', '.a', 'a.', '.hidden', '..a', 'a..b', '-', '_', '.-', '._']) {
    assert.equal(isValidBookName(name), true, name);
  }
  assert.equal(isValidBookName('.'), false);
  assert.equal(isValidBookName('..'), false);
});

test('3.2: other characters are refused, including newlines at either end', () => {
  for (const name of ['a\n', '\na', 'a\r', 'a\t', 'a+b', 'a@b', 'a%b', 'ä', 'ａ', 'a\u2028', '😀', 'a,b', 'a*b']) {
    assert.equal(isValidBookName(name), false, JSON.stringify(name));
  }
});

test('3.2 property: a name is valid exactly when the contract regex says so', () => {
  const contractPattern = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,128}$/;
  const name = fc.oneof(
    fc.string({ unit: fc.constantFrom('a', 'Z', '0', '.', '_', '-', '/', ':', ' ', 'é'), maxLength: 130 }),
    fc.string(),
  );
  fc.assert(
    fc.property(name, (text) => {
      assert.equal(isValidBookName(text), contractPattern.test(text));
    }),
    { numRuns: 3000 },
  );
});

test('3.2: a name starting with "_" is reserved, and only those', () => {
  assert.equal(isReservedBook('_system'), true);
  assert.equal(isReservedBook('_sneaky'), true);
  assert.equal(isReservedBook('_'), true);
  assert.equal(isReservedBook('onramp'), false);
  assert.equal(isReservedBook('a_'), false);
  assert.equal(isReservedBook('-x'), false);
});

test('3.2: the case key folds ASCII case only', () => {
  assert.equal(bookCaseKey('Onramp'), 'onramp');
  assert.equal(bookCaseKey('ONRAMP-3F'), bookCaseKey('onramp-3f'));
  assert.notEqual(bookCaseKey('onramp-a'), bookCaseKey('onramp-b'));
});
