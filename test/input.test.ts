/**
 * Validation and normalisation of caller input (store-contract 3.1, 3.4, 5.5, 5.6, 6.1, 7.1-7.3,
 * 8.3): the error code and `field` of every malformed input, the precedence of the checks, the
 * normalised values, the size limit, and that results share nothing with the input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StoreError } from '../src/core/errors.js';
import { decodeEvent, encodeEvent } from '../src/core/event-codec.js';
import {
  accountArgument,
  checkBook,
  countArgument,
  i64Field,
  normaliseAccount,
  normaliseAssetDef,
  normaliseMetadata,
  normaliseTransaction,
  txidArgument,
} from '../src/core/input.js';
import { EVENT_BYTES_MAX, METADATA_DEPTH_MAX } from '../src/core/limits.js';
import { I64_MAX, I64_MIN, type JsonValue, type TransactionPostedEvent } from '../src/core/types.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function storeError(run: () => unknown): StoreError & Record<string, unknown> {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof StoreError, `expected a StoreError, got ${String(error)}`);
    assert.match(error.message, new RegExp(`^${error.code}: `));
    return error as StoreError & Record<string, unknown>;
  }
  assert.fail('expected a StoreError, nothing was thrown');
}

function assertInvalid(run: () => unknown, field: string | RegExp, label = ''): void {
  const error = storeError(run);
  assert.equal(error.code, 'INVALID_ARGUMENT', `${label} ${error.message}`);
  if (typeof field === 'string') assert.equal(error.field, field, `${label} ${error.message}`);
  else assert.match(error.field as string, field, `${label} ${error.message}`);
}

function assertInvalidBook(run: () => unknown, book: string, reason: 'pattern' | 'reserved'): void {
  const error = storeError(run);
  assert.equal(error.code, 'INVALID_BOOK', error.message);
  assert.equal(error.book, book);
  assert.equal(error.reason, reason);
}

const TXID = '0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e';
const LONE_SURROGATE = 'a\ud800b';

function draft(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: TXID,
    book: 'onramp',
    postings: [
      { account: { book: 'onramp', path: 'deposits' }, amount: { minor: 100n, asset: 'USD' }, direction: 'credit' },
      { account: { book: 'onramp', path: 'cash' }, amount: { minor: 100n, asset: 'USD' }, direction: 'debit' },
    ],
    idempotency_key: 'dep-42',
    external_refs: [{ kind: 'btc_txid', value: 'ab12' }],
    metadata: { note: 'x' },
    occurred_at: '2026-06-05T12:00:00.123456789Z',
    ...overrides,
  };
}

function withPosting(index: number, change: (posting: Record<string, any>) => void): Record<string, unknown> {
  const tx = draft();
  const postings = tx.postings as Array<Record<string, any>>;
  change(postings[index] as Record<string, any>);
  return tx;
}

const accountDef = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: { book: 'onramp', path: 'cash' },
  asset: 'USD',
  kind: 'asset',
  ...overrides,
});
const accountCfg = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  normal_side: 'debit',
  min_balance: 0n,
  ...overrides,
});

/** Every object reachable from `value`. */
function objectsIn(value: unknown, found = new Set<object>()): Set<object> {
  if (typeof value === 'object' && value !== null && !found.has(value)) {
    found.add(value);
    for (const key of Object.keys(value)) objectsIn((value as Record<string, unknown>)[key], found);
  }
  return found;
}

function assertSharesNothing(input: unknown, output: unknown): void {
  const inputs = objectsIn(input);
  for (const object of objectsIn(output)) assert.ok(!inputs.has(object), 'the result shares an object with the input');
}

// ---------------------------------------------------------------------------------------------
// i64 fields (3.1)

test('3.1: i64 fields accept bigints in range and safe-integer numbers, output bigint', () => {
  assert.equal(i64Field(5n, 'f'), 5n);
  assert.equal(i64Field(I64_MIN, 'f'), I64_MIN);
  assert.equal(i64Field(I64_MAX, 'f'), I64_MAX);
  assert.equal(i64Field(100, 'f'), 100n);
  assert.equal(i64Field(-100, 'f'), -100n);
  assert.equal(i64Field(0, 'f'), 0n);
  assert.equal(i64Field(-0, 'f'), 0n);
  assert.equal(i64Field(Number.MAX_SAFE_INTEGER, 'f'), 9007199254740991n);
  assert.equal(i64Field(Number.MIN_SAFE_INTEGER, 'f'), -9007199254740991n);
  fc.assert(
    fc.property(fc.maxSafeInteger(), (value) => {
      const out = i64Field(value, 'f');
      assert.equal(typeof out, 'bigint');
      assert.equal(out, BigInt(value));
    }),
  );
});

test('3.1: anything else in an i64 field is INVALID_ARGUMENT naming the field', () => {
  const bad: unknown[] = [
    1.5,
    -0.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    2 ** 53,
    2 ** 53 + 2,
    -(2 ** 53),
    1e20,
    I64_MAX + 1n,
    I64_MIN - 1n,
    2n ** 100n,
    '100',
    '1n',
    null,
    undefined,
    true,
    {},
    [1],
    Object(5n),
    new Number(5),
  ];
  for (const value of bad) assertInvalid(() => i64Field(value, 'cfg.min_balance'), 'cfg.min_balance', String(value));
});

test('3.1: posting amounts follow the i64 rules, with the posting index in the field', () => {
  for (const [minor, expected] of [
    [100, 100n],
    [0, 0n],
    [-5, -5n],
    [I64_MAX, I64_MAX],
    [I64_MIN, I64_MIN],
    [Number.MAX_SAFE_INTEGER, 9007199254740991n],
  ] as Array<[unknown, bigint]>) {
    const { tx } = normaliseTransaction(withPosting(1, (posting) => (posting.amount.minor = minor)));
    assert.equal(tx.postings[1]?.amount.minor, expected);
    assert.equal(typeof tx.postings[1]?.amount.minor, 'bigint');
  }
  for (const minor of [1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53 + 2, '100', I64_MAX + 1n, I64_MIN - 1n, null, undefined]) {
    assertInvalid(() => normaliseTransaction(withPosting(1, (posting) => (posting.amount.minor = minor))), 'postings[1].amount.minor', String(minor));
    assertInvalid(() => normaliseTransaction(withPosting(0, (posting) => (posting.amount.minor = minor))), 'postings[0].amount.minor', String(minor));
  }
});

// ---------------------------------------------------------------------------------------------
// Transactions (7.3)

test('7.3: a valid draft normalises to the contract shape and its event JSON', () => {
  const { tx, eventJson } = normaliseTransaction(draft());
  assert.deepEqual(tx, {
    id: TXID,
    book: 'onramp',
    postings: [
      { account: { book: 'onramp', path: 'deposits' }, amount: { minor: 100n, asset: 'USD' }, direction: 'credit' },
      { account: { book: 'onramp', path: 'cash' }, amount: { minor: 100n, asset: 'USD' }, direction: 'debit' },
    ],
    idempotency_key: 'dep-42',
    external_refs: [{ kind: 'btc_txid', value: 'ab12' }],
    metadata: { note: 'x' },
    occurred_at: '2026-06-05T12:00:00.123456789Z',
  });
  assert.equal(eventJson, encodeEvent({ kind: 'transaction_posted', ...tx }));
  assert.deepEqual(decodeEvent(eventJson), { kind: 'transaction_posted', ...tx });
});

test('7.3: unknown input members are refused naming the member (V5); a transaction with no postings is valid', () => {
  const { tx } = normaliseTransaction(draft({ postings: [], external_refs: [], metadata: null }));
  assert.deepEqual(Object.keys(tx).sort(), ['book', 'external_refs', 'id', 'idempotency_key', 'metadata', 'occurred_at', 'postings']);
  assert.deepEqual(tx.postings, []);
  assert.equal(tx.metadata, null);
  assertInvalid(() => normaliseTransaction(draft({ extra: 1 })), 'extra');
  assertInvalid(() => normaliseTransaction(withPosting(0, (posting) => (posting.memo = 'm'))), 'postings[0].memo');
  assertInvalid(() => normaliseTransaction(withPosting(0, (posting) => (posting.account.extra = 1))), 'postings[0].account.extra');
  assertInvalid(() => normaliseTransaction(withPosting(0, (posting) => (posting.amount.scale = 2))), 'postings[0].amount.scale');
  // An inherited enumerable member counts too; a symbol key or a non-enumerable one does not.
  const inherited = Object.assign(Object.create({ inheritedExtra: 1 }) as Record<string, unknown>, draft({}));
  assertInvalid(() => normaliseTransaction(inherited), 'inheritedExtra');
  const hidden = draft({}) as Record<string | symbol, unknown>;
  hidden[Symbol('tag')] = 1;
  Object.defineProperty(hidden, 'note', { value: 1, enumerable: false });
  assert.deepEqual(Object.keys(normaliseTransaction(hidden).tx).length, 7);
});

test('3.4: txids: any case is accepted and lowercased, any version, the nil UUID', () => {
  assert.equal(normaliseTransaction(draft({ id: '0190F3C2-8C1E-7A4B-9D2E-3F1A2B3C4D5E' })).tx.id, TXID);
  assert.equal(normaliseTransaction(draft({ id: '0190f3C2-8c1E-7a4B-9D2e-3f1A2b3C4d5E' })).tx.id, TXID);
  assert.equal(normaliseTransaction(draft({ id: '00000000-0000-0000-0000-000000000000' })).tx.id, '00000000-0000-0000-0000-000000000000');
  assert.equal(normaliseTransaction(draft({ id: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF' })).tx.id, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
  const upper = normaliseTransaction(draft({ id: TXID.toUpperCase() }));
  assert.ok(upper.eventJson.includes(`"id":"${TXID}"`));
  fc.assert(
    fc.property(fc.uuid({ version: [1, 2, 3, 4, 5, 6, 7, 8] }), (uuid) => {
      assert.equal(normaliseTransaction(draft({ id: uuid.toUpperCase() })).tx.id, uuid.toLowerCase());
      assert.equal(txidArgument(uuid.toUpperCase()), uuid.toLowerCase());
    }),
  );
});

test('3.4: a malformed txid is INVALID_ARGUMENT with field id', () => {
  for (const id of [
    '',
    '0190f3c2',
    '0190f3c28c1e7a4b9d2e3f1a2b3c4d5e',
    '0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5',
    '0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e0',
    '0190f3c2-8c1e-7a4b-9d2e3f1a2b3c4d5e',
    '0190f3c-28c1e-7a4b-9d2e-3f1a2b3c4d5e',
    '0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5g',
    '{0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e}',
    'urn:uuid:0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e',
    ' 0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e',
    '0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e\n',
    '0190f3c2_8c1e_7a4b_9d2e_3f1a2b3c4d5e',
    '０190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e',
    42,
    null,
    undefined,
    { id: TXID },
  ]) {
    assertInvalid(() => normaliseTransaction(draft({ id })), 'id', String(id));
  }
  assertInvalid(() => txidArgument('nope'), 'txid');
  assertInvalid(() => txidArgument(5, 'original'), 'original');
});

test('3.4: txidArgument accepts exactly the 8-4-4-4-12 hex pattern, and lowercases only what has upper case', () => {
  const pattern = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
  const accepts = (text: string): boolean => {
    try {
      txidArgument(text);
      return true;
    } catch (error) {
      assert.ok(error instanceof StoreError && error.code === 'INVALID_ARGUMENT');
      return false;
    }
  };
  // Near misses of a UUID: each character drawn from hex of both cases, a hyphen and a few others.
  const nearUuid = fc
    .array(fc.constantFrom('0', '9', 'a', 'f', 'A', 'F', 'g', 'G', '-', ' ', '\u00e9'), { minLength: 34, maxLength: 38 })
    .map((chars) => chars.join(''));
  const mutatedUuid = fc
    .tuple(fc.uuid(), fc.nat(35), fc.constantFrom('-', 'x', 'A', '0', '/', ':', '@', '`', 'G'))
    .map(([uuid, at, char]) => uuid.slice(0, at) + char + uuid.slice(at + 1));
  fc.assert(
    fc.property(fc.oneof(nearUuid, mutatedUuid), (text) => {
      assert.equal(accepts(text), pattern.test(text), text);
      if (pattern.test(text)) assert.equal(txidArgument(text), text.toLowerCase());
    }),
    { numRuns: 5000 },
  );
  const lower = '0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e';
  assert.equal(txidArgument(lower), lower);
});

test('7.3: each malformed field is INVALID_ARGUMENT naming it', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [draft({ idempotency_key: 5 }), 'idempotency_key'],
    [draft({ idempotency_key: undefined }), 'idempotency_key'],
    [draft({ idempotency_key: LONE_SURROGATE }), 'idempotency_key'],
    [draft({ postings: undefined }), 'postings'],
    [draft({ postings: {} }), 'postings'],
    [draft({ postings: 'x' }), 'postings'],
    [draft({ postings: [null] }), 'postings[0]'],
    [draft({ postings: [[]] }), 'postings[0]'],
    [withPosting(1, (posting) => (posting.account = 'onramp:cash')), 'postings[1].account'],
    [withPosting(1, (posting) => (posting.account = null)), 'postings[1].account'],
    [withPosting(1, (posting) => (posting.account.book = 5)), 'postings[1].account.book'],
    [withPosting(1, (posting) => (posting.account.book = LONE_SURROGATE)), 'postings[1].account.book'],
    [withPosting(1, (posting) => delete posting.account.path), 'postings[1].account.path'],
    [withPosting(1, (posting) => (posting.amount = 100n)), 'postings[1].amount'],
    [withPosting(1, (posting) => delete posting.amount), 'postings[1].amount'],
    [withPosting(1, (posting) => (posting.amount.asset = 1)), 'postings[1].amount.asset'],
    [withPosting(1, (posting) => (posting.amount.asset = LONE_SURROGATE)), 'postings[1].amount.asset'],
    [withPosting(1, (posting) => (posting.direction = 'Debit')), 'postings[1].direction'],
    [withPosting(1, (posting) => (posting.direction = 'D')), 'postings[1].direction'],
    [withPosting(1, (posting) => delete posting.direction), 'postings[1].direction'],
    [withPosting(0, (posting) => (posting.direction = null)), 'postings[0].direction'],
    [draft({ external_refs: undefined }), 'external_refs'],
    [draft({ external_refs: {} }), 'external_refs'],
    [draft({ external_refs: ['btc_txid'] }), 'external_refs[0]'],
    [draft({ external_refs: [{ kind: 'a', value: 'b' }, { kind: 1, value: 'b' }] }), 'external_refs[1].kind'],
    [draft({ external_refs: [{ kind: 'a' }] }), 'external_refs[0].value'],
    [draft({ external_refs: [{ kind: 'a', value: LONE_SURROGATE }] }), 'external_refs[0].value'],
    [draft({ occurred_at: undefined }), 'occurred_at'],
  ];
  for (const [tx, field] of cases) assertInvalid(() => normaliseTransaction(tx), field, field);
  const withoutMetadata = draft();
  delete withoutMetadata.metadata;
  assertInvalid(() => normaliseTransaction(withoutMetadata), /^metadata/);
});

test('7.3: a hole in a sparse postings or external_refs array is INVALID_ARGUMENT, not a crash', () => {
  const posting = (draft().postings as unknown[])[0];
  const ref = { kind: 'a', value: 'b' };
  assertInvalid(() => normaliseTransaction(draft({ postings: [, posting] })), 'postings[0]'); // eslint-disable-line no-sparse-arrays
  assertInvalid(() => normaliseTransaction(draft({ postings: [posting, , posting] })), 'postings[1]'); // eslint-disable-line no-sparse-arrays
  assertInvalid(() => normaliseTransaction(draft({ postings: new Array(3) })), 'postings[0]');
  assertInvalid(() => normaliseTransaction(draft({ external_refs: [, ref] })), 'external_refs[0]'); // eslint-disable-line no-sparse-arrays
  assertInvalid(() => normaliseTransaction(draft({ external_refs: [ref, , ref] })), 'external_refs[1]'); // eslint-disable-line no-sparse-arrays
});

test('6.1 property: any input either normalises or throws a StoreError, never anything else', () => {
  const anything = fc.anything({
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withObjectString: true,
    withSparseArray: true,
    withTypedArray: true,
    withUnicodeString: true,
    maxDepth: 3,
  });
  const fields = ['id', 'book', 'postings', 'idempotency_key', 'external_refs', 'metadata', 'occurred_at'];
  const check = (run: () => unknown): void => {
    try {
      run();
    } catch (error) {
      assert.ok(error instanceof StoreError, String(error));
      assert.ok(error.code === 'INVALID_ARGUMENT' || error.code === 'INVALID_BOOK', error.code);
    }
  };
  fc.assert(
    fc.property(fc.constantFrom(...fields), anything, fc.nat(1), fc.constantFrom('account', 'amount', 'direction', 'minor', 'asset', 'book', 'path'), (field, value, index, part) => {
      check(() => normaliseTransaction(draft({ [field]: value })));
      check(() => normaliseTransaction(value));
      check(() =>
        normaliseTransaction(
          withPosting(index, (posting) => {
            if (part === 'minor' || part === 'asset') posting.amount[part] = value;
            else if (part === 'book' || part === 'path') posting.account[part] = value;
            else posting[part] = value;
          }),
        ),
      );
      check(() => normaliseAccount(value, value));
      check(() => normaliseAccount(accountDef({ [part === 'asset' ? 'asset' : 'kind']: value }), { min_balance: value }));
      check(() => normaliseAssetDef(value));
      check(() => normaliseAssetDef({ id: 'A', class: value, precision: 2, name: 'n' }));
      check(() => normaliseMetadata(value));
      check(() => accountArgument(value));
      check(() => countArgument(value, 'limit'));
      check(() => txidArgument(value));
    }),
    { numRuns: 2000 },
  );
});

test('3.2: the book of a posting account is not pattern-checked', () => {
  const { tx } = normaliseTransaction(withPosting(0, (posting) => (posting.account.book = 'a:b c/..')));
  assert.equal(tx.postings[0]?.account.book, 'a:b c/..');
  const reserved = normaliseTransaction(withPosting(0, (posting) => (posting.account.book = '_system'))).tx;
  assert.equal(reserved.postings[0]?.account.book, '_system');
});

test('3.5: occurred_at must be RFC 3339 and is kept verbatim', () => {
  for (const occurredAt of [
    new Date('2026-06-05T12:00:00Z'),
    '2026-06-05',
    '2026-02-30T00:00:00Z',
    '2026-06-05t12:00:00Z',
    '2026-06-05T12:00:00z',
    '2026-06-05T12:00:00',
    '2026-06-05 12:00:00Z',
    '2026-06-05T24:00:00Z',
    '2026-06-05T12:00:00+24:00',
    '2026-06-05T12:00:00.1234567890Z',
    '',
    1780000000000,
    null,
    { toISOString: () => '2026-06-05T12:00:00Z' },
  ]) {
    assertInvalid(() => normaliseTransaction(draft({ occurred_at: occurredAt })), 'occurred_at', String(occurredAt));
  }
  for (const occurredAt of [
    '2026-06-05T12:00:00Z',
    '2026-06-05T12:00:00.123456789Z',
    '2026-06-05T14:00:00+02:00',
    '2026-06-05T12:00:00.1-00:00',
    '2024-02-29T23:59:59.999Z',
    new Date('2026-06-05T12:00:00Z').toISOString(),
  ]) {
    const { tx, eventJson } = normaliseTransaction(draft({ occurred_at: occurredAt }));
    assert.equal(tx.occurred_at, occurredAt);
    assert.ok(eventJson.endsWith(`"occurred_at":"${occurredAt}"}`));
  }
});

test('8.3: the book field decides first: its type, then INVALID_BOOK, then the rest', () => {
  // Not an object at all.
  for (const tx of [null, undefined, 'tx', 5, [draft()]]) assertInvalid(() => normaliseTransaction(tx), 'tx', String(tx));
  // The book's type comes before INVALID_BOOK and before every other field.
  for (const book of [undefined, null, 5, ['onramp'], { book: 'onramp' }]) {
    assertInvalid(() => normaliseTransaction(draft({ book, id: 'bad', postings: 'bad' })), 'book', String(book));
  }
  // INVALID_BOOK comes before every other INVALID_ARGUMENT.
  assertInvalidBook(() => normaliseTransaction(draft({ book: '_x', id: 'not-a-uuid' })), '_x', 'reserved');
  assertInvalidBook(() => normaliseTransaction(draft({ book: '_system', metadata: undefined })), '_system', 'reserved');
  assertInvalidBook(
    () => normaliseTransaction({ book: 'a b', id: 1, postings: 1, external_refs: 1, metadata: () => 1, occurred_at: 1 }),
    'a b',
    'pattern',
  );
  assertInvalidBook(() => normaliseTransaction(draft({ book: '../evil', occurred_at: new Date() })), '../evil', 'pattern');
  // A pattern violation beats the reserved rule's reason when both could apply.
  assertInvalidBook(() => normaliseTransaction(draft({ book: '_a b' })), '_a b', 'pattern');
  // Then the rest, in the contract's order: id, idempotency_key, postings, external_refs, metadata, occurred_at.
  assertInvalid(() => normaliseTransaction(draft({ id: 'x', idempotency_key: 1, occurred_at: 'x' })), 'id');
  assertInvalid(() => normaliseTransaction(draft({ idempotency_key: 1, postings: 1 })), 'idempotency_key');
  assertInvalid(() => normaliseTransaction(draft({ postings: 1, external_refs: 1 })), 'postings');
  assertInvalid(() => normaliseTransaction(draft({ external_refs: 1, metadata: Number.NaN })), 'external_refs');
  assertInvalid(() => normaliseTransaction(draft({ metadata: Number.NaN, occurred_at: 'x' })), 'metadata');
  // Within postings, the first bad posting decides.
  const twoBad = draft();
  (twoBad.postings as Array<Record<string, any>>)[0]!.direction = 'up';
  (twoBad.postings as Array<Record<string, any>>)[1]!.amount.minor = 1.5;
  assertInvalid(() => normaliseTransaction(twoBad), 'postings[0].direction');
});

test('3.2: every bad book name is INVALID_BOOK with reason pattern', () => {
  for (const book of ['', '.', '..', '../evil', 'a/b', 'a\\b', 'a:b', 'a b', 'café', 'x'.repeat(129), 'a\u0000b', LONE_SURROGATE]) {
    assertInvalidBook(() => normaliseTransaction(draft({ book })), book, 'pattern');
    assertInvalidBook(() => normaliseAccount(accountDef({ id: { book, path: 'cash' } }), accountCfg()), book, 'pattern');
    assertInvalidBook(() => checkBook(book, 'book', false), book, 'pattern');
    assertInvalidBook(() => accountArgument({ book, path: 'cash' }), book, 'pattern');
  }
  for (const book of ['_x', '_system', '_']) {
    assertInvalidBook(() => normaliseTransaction(draft({ book })), book, 'reserved');
    assertInvalidBook(() => normaliseAccount(accountDef({ id: { book, path: 'cash' } }), accountCfg()), book, 'reserved');
    assertInvalidBook(() => checkBook(book, 'book', true), book, 'reserved');
    assert.equal(checkBook(book, 'book', false), book);
    assert.deepEqual(accountArgument({ book, path: 'cash' }), { book, path: 'cash' });
  }
  for (const book of ['x'.repeat(128), 'treasury.eu', 'a-b_c.d', 'B']) {
    assert.equal(normaliseTransaction(draft({ book })).tx.book, book);
    assert.equal(checkBook(book, 'book', true), book);
  }
});

// ---------------------------------------------------------------------------------------------
// Metadata (5.5)

test('5.5: metadata is normalised through the codec', () => {
  const cases: Array<[unknown, JsonValue]> = [
    [5n, 5],
    [-5n, -5],
    [2 ** 60, 1152921504606846976n],
    [-(2 ** 60), -1152921504606846976n],
    [2n ** 60n, 1152921504606846976n],
    [1.0, 1],
    [-0, 0],
    [1.5, 1.5],
    [1e21, 1e21],
    [null, null],
    [true, true],
    ['', ''],
    [{ a: 5n, b: [2 ** 60, -0, 1.0, 9007199254740993n] }, { a: 5, b: [1152921504606846976n, 0, 1, 9007199254740993n] }],
    [[], []],
    [{}, {}],
  ];
  for (const [input, expected] of cases) {
    const { metadata, json } = normaliseMetadata(input);
    assert.deepEqual(metadata, expected, String(input));
    assert.equal(normaliseMetadata(metadata).json, json);
  }
  assert.ok(Object.is(normaliseMetadata(-0).metadata, 0));
  assert.ok(Object.is((normaliseMetadata([-0]).metadata as number[])[0], 0));
  assert.equal(normaliseMetadata(2 ** 60).json, '1152921504606846976');
  const { tx, eventJson } = normaliseTransaction(draft({ metadata: { big: 2 ** 60, small: 5n, whole: 1.0, zero: -0 } }));
  assert.deepEqual(tx.metadata, { big: 1152921504606846976n, small: 5, whole: 1, zero: 0 });
  assert.ok(eventJson.includes('"metadata":{"big":1152921504606846976,"small":5,"whole":1,"zero":0}'), eventJson);
  assert.deepEqual((decodeEvent(eventJson) as TransactionPostedEvent).metadata, tx.metadata);
});

test('5.5 property: normalisation is idempotent and the stored event decodes to the same metadata', () => {
  const metadata = fc.letrec<{ json: unknown }>((tie) => ({
    json: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.maxSafeInteger(),
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string({ unit: 'grapheme', maxLength: 8 }),
      fc.array(tie('json'), { maxLength: 4 }),
      fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 5 }), tie('json'), { maxKeys: 4 }),
    ),
  })).json;
  fc.assert(
    fc.property(metadata, (value) => {
      const first = normaliseMetadata(value);
      const second = normaliseMetadata(first.metadata);
      assert.deepEqual(second.metadata, first.metadata);
      assert.equal(second.json, first.json);
      const { tx, eventJson } = normaliseTransaction(draft({ metadata: value }));
      assert.deepEqual(tx.metadata, first.metadata);
      assert.equal(eventJson, encodeEvent({ kind: 'transaction_posted', ...tx }));
      assert.deepEqual((decodeEvent(eventJson) as TransactionPostedEvent).metadata, tx.metadata);
    }),
    { numRuns: 1000 },
  );
});

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

test('5.5: metadata that is not JSON is INVALID_ARGUMENT with a field starting with metadata', () => {
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = cycle;
  const deepCycle: unknown[] = [];
  deepCycle.push({ list: [deepCycle] });
  const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const bad: unknown[] = [
    undefined,
    () => 1,
    function named() {},
    Symbol('s'),
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    new Date(),
    new Map([['a', 1]]),
    new Set([1]),
    new Point(1, 2),
    new Number(1),
    new String('s'),
    new Boolean(true),
    Object(1n),
    new Uint8Array(2),
    /re/,
    new Error('e'),
    Promise.resolve(1),
    cycle,
    deepCycle,
    sparse,
    LONE_SURROGATE,
    '\udc00',
    { a: undefined },
    { a: { b: [1, () => 1] } },
    [Number.NaN],
    { [LONE_SURROGATE]: 1 },
    { nested: { [`k${'\ud83d'}`]: 1 } },
    { s: `x${'\ude00'}` },
  ];
  for (const value of bad) {
    assertInvalid(() => normaliseMetadata(value), /^metadata/, String(typeof value));
    assertInvalid(() => normaliseTransaction(draft({ metadata: value })), /^metadata/, String(typeof value));
  }
  // The field points into the value.
  assertInvalid(() => normaliseMetadata({ a: { b: [1, () => 1] } }), 'metadata.a.b[1]');
  assertInvalid(() => normaliseMetadata([0, [Number.NaN]]), 'metadata[1][0]');
  assertInvalid(() => normaliseMetadata({ a: undefined }), 'metadata.a');
  // A shared (non-cyclic) object is fine.
  const shared = { x: 1 };
  assert.deepEqual(normaliseMetadata({ a: shared, b: shared, c: [shared, shared] }).metadata, { a: { x: 1 }, b: { x: 1 }, c: [{ x: 1 }, { x: 1 }] });
  // Null-prototype objects are plain objects.
  const bare = Object.create(null) as Record<string, unknown>;
  bare.k = 2n ** 64n;
  const normalised = normaliseMetadata({ bare }).metadata as Record<string, Record<string, JsonValue>>;
  assert.deepEqual(normalised, { bare: { k: 2n ** 64n } });
  // Well-formed astral characters are fine in keys and values.
  assert.deepEqual(normaliseMetadata({ '😀': '😀' }).metadata, { '😀': '😀' });
});

test('5.5: metadata nesting is limited to METADATA_DEPTH_MAX levels', () => {
  const nest = (depth: number): unknown => {
    let value: unknown = 1;
    for (let level = 0; level < depth; level++) value = [value];
    return value;
  };
  const { eventJson } = normaliseTransaction(draft({ metadata: nest(METADATA_DEPTH_MAX) }));
  assert.deepEqual((decodeEvent(eventJson) as TransactionPostedEvent).metadata, nest(METADATA_DEPTH_MAX));
  assertInvalid(() => normaliseTransaction(draft({ metadata: nest(METADATA_DEPTH_MAX + 1) })), /^metadata/);
  const deep = nest(100_000);
  assertInvalid(() => normaliseMetadata(deep), /^metadata/);
  const deepObject: Record<string, unknown> = {};
  let cursor = deepObject;
  for (let level = 0; level < 100_000; level++) cursor = (cursor.next = {}) as Record<string, unknown>;
  assertInvalid(() => normaliseTransaction(draft({ metadata: deepObject })), /^metadata/);
});

test('5.5: a __proto__ metadata key round-trips as an ordinary key', () => {
  const input = JSON.parse('{"__proto__":{"admin":true},"n":1}') as Record<string, unknown>;
  assert.ok(Object.hasOwn(input, '__proto__'));
  const { tx, eventJson } = normaliseTransaction(draft({ metadata: input }));
  const metadata = tx.metadata as Record<string, JsonValue>;
  assert.equal(Object.getPrototypeOf(metadata), Object.prototype);
  assert.ok(Object.hasOwn(metadata, '__proto__'));
  assert.deepEqual(Object.getOwnPropertyDescriptor(metadata, '__proto__')?.value, { admin: true });
  assert.equal(metadata.admin, undefined);
  assert.equal(({} as Record<string, unknown>).admin, undefined);
  assert.ok(eventJson.includes('"metadata":{"__proto__":{"admin":true},"n":1}'), eventJson);
  const decoded = (decodeEvent(eventJson) as TransactionPostedEvent).metadata as Record<string, JsonValue>;
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value, { admin: true });
  // A computed __proto__ key in an object literal is an own property too.
  const literal = normaliseMetadata({ ['__proto__']: 5 }).metadata as Record<string, JsonValue>;
  assert.equal(Object.getOwnPropertyDescriptor(literal, '__proto__')?.value, 5);
  assert.equal(Object.getPrototypeOf(literal), Object.prototype);
  // A null-prototype object with a __proto__ key.
  const bare = Object.create(null) as Record<string, unknown>;
  bare['__proto__'] = [1];
  const fromBare = normaliseMetadata(bare).metadata as Record<string, JsonValue>;
  assert.deepEqual(Object.getOwnPropertyDescriptor(fromBare, '__proto__')?.value, [1]);
  assert.equal(Object.getPrototypeOf(fromBare), Object.prototype);
});

// ---------------------------------------------------------------------------------------------
// The size limit (5.6)

test('5.6: EVENT_BYTES_MAX is 4 MiB', () => {
  assert.equal(EVENT_BYTES_MAX, 4_194_304);
});

test('5.6: a transaction event of exactly 4 MiB is accepted, one byte more is refused', () => {
  const base = Buffer.byteLength(normaliseTransaction(draft({ metadata: '' })).eventJson, 'utf8');
  const room = EVENT_BYTES_MAX - base;
  const exact = normaliseTransaction(draft({ metadata: 'x'.repeat(room) }));
  assert.equal(Buffer.byteLength(exact.eventJson, 'utf8'), EVENT_BYTES_MAX);
  assertInvalid(() => normaliseTransaction(draft({ metadata: 'x'.repeat(room + 1) })), 'tx');
  // Bytes are UTF-8 bytes, not UTF-16 units: 'é' is 2 bytes, '€' 3, '😀' 4.
  const pairs = room % 2 === 0 ? room / 2 : (room - 1) / 2;
  const filler = 'é'.repeat(pairs) + (room % 2 === 0 ? '' : 'x');
  assert.equal(Buffer.byteLength(normaliseTransaction(draft({ metadata: filler })).eventJson, 'utf8'), EVENT_BYTES_MAX);
  assertInvalid(() => normaliseTransaction(draft({ metadata: `${filler}x` })), 'tx');
  assertInvalid(() => normaliseTransaction(draft({ metadata: 'é'.repeat(pairs + 1) })), 'tx');
  assertInvalid(() => normaliseTransaction(draft({ metadata: '€'.repeat(1_500_000) })), 'tx');
  assertInvalid(() => normaliseTransaction(draft({ metadata: '😀'.repeat(1_100_000) })), 'tx');
  // Escapes count as written: a control character takes 6 bytes.
  assertInvalid(() => normaliseTransaction(draft({ metadata: '\u0001'.repeat(Math.ceil(EVENT_BYTES_MAX / 6)) })), 'tx');
});

test('5.6: a 4.5 MB event is refused wherever the bytes are', () => {
  const big = 'x'.repeat(4_500_000);
  assertInvalid(() => normaliseTransaction(draft({ metadata: big })), 'tx');
  assertInvalid(() => normaliseTransaction(draft({ metadata: { a: big } })), 'tx');
  assertInvalid(() => normaliseTransaction(draft({ idempotency_key: big })), 'tx');
  assertInvalid(() => normaliseTransaction(draft({ external_refs: [{ kind: 'k', value: big }] })), 'tx');
  assertInvalid(
    () =>
      normaliseTransaction(
        draft({
          postings: Array.from({ length: 40_000 }, (_, index) => ({
            account: { book: 'onramp', path: `account-${index}` },
            amount: { minor: I64_MIN, asset: 'USD' },
            direction: 'debit',
          })),
        }),
      ),
    'tx',
  );
  assertInvalid(() => normaliseAssetDef({ id: 'USD', class: 'fiat', precision: 2, name: big }), 'def');
  assertInvalid(() => normaliseAssetDef({ id: big, class: { crypto: { network: 'n', native_id: null } }, precision: 2, name: '' }), 'def');
  assertInvalid(() => normaliseAccount(accountDef({ id: { book: 'onramp', path: big } }), accountCfg()), 'def');
  assertInvalid(() => normaliseAccount(accountDef({ asset: big }), accountCfg()), 'def');
});

test('5.6: an asset or account event of exactly 4 MiB is accepted, one byte more is refused', () => {
  const assetBase = Buffer.byteLength(normaliseAssetDef({ id: 'USD', class: 'fiat', precision: 2, name: '' }).eventJson, 'utf8');
  const asset = normaliseAssetDef({ id: 'USD', class: 'fiat', precision: 2, name: 'n'.repeat(EVENT_BYTES_MAX - assetBase) });
  assert.equal(Buffer.byteLength(asset.eventJson, 'utf8'), EVENT_BYTES_MAX);
  assertInvalid(() => normaliseAssetDef({ id: 'USD', class: 'fiat', precision: 2, name: 'n'.repeat(EVENT_BYTES_MAX - assetBase + 1) }), 'def');
  const accountBase = Buffer.byteLength(normaliseAccount(accountDef({ id: { book: 'b', path: '' } }), accountCfg()).eventJson, 'utf8');
  const account = normaliseAccount(accountDef({ id: { book: 'b', path: 'p'.repeat(EVENT_BYTES_MAX - accountBase) } }), accountCfg());
  assert.equal(Buffer.byteLength(account.eventJson, 'utf8'), EVENT_BYTES_MAX);
  assertInvalid(
    () => normaliseAccount(accountDef({ id: { book: 'b', path: 'p'.repeat(EVENT_BYTES_MAX - accountBase + 1) } }), accountCfg()),
    'def',
  );
});

// ---------------------------------------------------------------------------------------------
// Assets (7.1)

test('7.1: asset definitions normalise, with native_id defaulting to null', () => {
  assert.deepEqual(normaliseAssetDef({ id: 'USD', class: 'fiat', precision: 2, name: 'US dollar' }).def, {
    id: 'USD',
    class: 'fiat',
    precision: 2,
    name: 'US dollar',
  });
  assertInvalid(() => normaliseAssetDef({ id: 'USD', class: 'fiat', precision: 2, name: 'US dollar', extra: 1 }), 'def.extra');
  for (const crypto of [{ network: 'bitcoin' }, { network: 'bitcoin', native_id: undefined }, { network: 'bitcoin', native_id: null }]) {
    const { def, eventJson } = normaliseAssetDef({ id: 'BTC', class: { crypto }, precision: 8, name: 'Bitcoin' });
    assert.deepEqual(def, { id: 'BTC', class: { crypto: { network: 'bitcoin', native_id: null } }, precision: 8, name: 'Bitcoin' });
    assert.equal(
      eventJson,
      '{"kind":"asset_registered","id":"BTC","class":{"crypto":{"network":"bitcoin","native_id":null}},"precision":8,"name":"Bitcoin"}',
    );
  }
  const usdt = normaliseAssetDef({ id: 'USDT-ETH', class: { crypto: { network: 'ethereum', native_id: '0xdac1' } }, precision: 6, name: 'Tether' });
  assert.deepEqual(usdt.def.class, { crypto: { network: 'ethereum', native_id: '0xdac1' } });
  assert.equal(usdt.eventJson, encodeEvent({ kind: 'asset_registered', ...usdt.def }));
  for (const precision of [0, 255]) assert.equal(normaliseAssetDef({ id: 'A', class: 'fiat', precision, name: '' }).def.precision, precision);
  // -0 is the integer 0 and is shown as 0, as it reads back after a restart.
  assert.ok(Object.is(normaliseAssetDef({ id: 'A', class: 'fiat', precision: -0, name: '' }).def.precision, 0));
});

test('7.1: malformed asset definitions name their field', () => {
  const asset = (overrides: Record<string, unknown>): Record<string, unknown> => ({ id: 'USD', class: 'fiat', precision: 2, name: 'US dollar', ...overrides });
  const cases: Array<[unknown, string]> = [
    [null, 'def'],
    ['USD', 'def'],
    [[], 'def'],
    [asset({ id: 1 }), 'def.id'],
    [asset({ id: undefined }), 'def.id'],
    [asset({ id: LONE_SURROGATE }), 'def.id'],
    [asset({ class: 'Fiat' }), 'def.class'],
    [asset({ class: 'crypto' }), 'def.class'],
    [asset({ class: undefined }), 'def.class'],
    [asset({ class: null }), 'def.class'],
    [asset({ class: {} }), 'def.class.crypto'],
    [asset({ class: { fiat: {} } }), 'def.class.crypto'],
    [asset({ class: { crypto: 'bitcoin' } }), 'def.class.crypto'],
    [asset({ class: { crypto: {} } }), 'def.class.crypto.network'],
    [asset({ class: { crypto: { network: 1 } } }), 'def.class.crypto.network'],
    [asset({ class: { crypto: { network: LONE_SURROGATE } } }), 'def.class.crypto.network'],
    [asset({ class: { crypto: { network: 'n', native_id: 5 } } }), 'def.class.crypto.native_id'],
    [asset({ class: { crypto: { network: 'n', native_id: LONE_SURROGATE } } }), 'def.class.crypto.native_id'],
    [asset({ precision: 256 }), 'def.precision'],
    [asset({ precision: 1.5 }), 'def.precision'],
    [asset({ precision: -1 }), 'def.precision'],
    [asset({ precision: Number.NaN }), 'def.precision'],
    [asset({ precision: Number.POSITIVE_INFINITY }), 'def.precision'],
    [asset({ precision: '2' }), 'def.precision'],
    [asset({ precision: 2n }), 'def.precision'],
    [asset({ precision: undefined }), 'def.precision'],
    [asset({ name: null }), 'def.name'],
    [asset({ name: LONE_SURROGATE }), 'def.name'],
  ];
  for (const [def, field] of cases) assertInvalid(() => normaliseAssetDef(def), field, JSON.stringify(def, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)));
});

// ---------------------------------------------------------------------------------------------
// Accounts (7.2)

test('7.2: account definitions normalise; missing normal_side and min_balance become null', () => {
  const { def, cfg, eventJson } = normaliseAccount(accountDef(), accountCfg({ min_balance: 0 }));
  assert.deepEqual(def, { id: { book: 'onramp', path: 'cash' }, asset: 'USD', kind: 'asset' });
  assert.deepEqual(cfg, { normal_side: 'debit', min_balance: 0n });
  assert.equal(
    eventJson,
    '{"kind":"account_opened","def":{"id":{"book":"onramp","path":"cash"},"asset":"USD","kind":"asset"},"cfg":{"normal_side":"debit","min_balance":0}}',
  );
  for (const cfgInput of [{}, { normal_side: undefined, min_balance: undefined }, { normal_side: null, min_balance: null }]) {
    assert.deepEqual(normaliseAccount(accountDef({ kind: 'clearing' }), cfgInput).cfg, { normal_side: null, min_balance: null });
  }
  assert.deepEqual(normaliseAccount(accountDef(), { normal_side: 'credit', min_balance: -5 }).cfg, { normal_side: 'credit', min_balance: -5n });
  assert.deepEqual(normaliseAccount(accountDef(), { min_balance: I64_MIN }).cfg, { normal_side: null, min_balance: I64_MIN });
  assert.deepEqual(normaliseAccount(accountDef(), { min_balance: I64_MAX }).cfg, { normal_side: null, min_balance: I64_MAX });
  for (const kind of ['asset', 'liability', 'income', 'expense', 'equity', 'clearing']) {
    assert.equal(normaliseAccount(accountDef({ kind }), accountCfg()).def.kind, kind);
  }
  // The path is free-form: empty, with colons, with non-ASCII.
  for (const path of ['', 'treasury:btc', 'ü/ß\\x', ' ']) assert.equal(normaliseAccount(accountDef({ id: { book: 'b', path } }), {}).def.id.path, path);
});

test('7.2: malformed account definitions name their field, in the contract order', () => {
  const cases: Array<[unknown, unknown, string]> = [
    [null, accountCfg(), 'def'],
    ['onramp:cash', accountCfg(), 'def'],
    [accountDef({ id: null }), accountCfg(), 'def.id'],
    [accountDef({ id: 'onramp:cash' }), accountCfg(), 'def.id'],
    [accountDef({ id: { path: 'cash' } }), accountCfg(), 'def.id.book'],
    [accountDef({ id: { book: 5, path: 'cash' } }), accountCfg(), 'def.id.book'],
    [accountDef({ id: { book: 'onramp' } }), accountCfg(), 'def.id.path'],
    [accountDef({ id: { book: 'onramp', path: LONE_SURROGATE } }), accountCfg(), 'def.id.path'],
    [accountDef({ asset: undefined }), accountCfg(), 'def.asset'],
    [accountDef({ asset: LONE_SURROGATE }), accountCfg(), 'def.asset'],
    [accountDef({ kind: 'revenue' }), accountCfg(), 'def.kind'],
    [accountDef({ kind: 'Asset' }), accountCfg(), 'def.kind'],
    [accountDef({ kind: undefined }), accountCfg(), 'def.kind'],
    [accountDef({ kind: 0 }), accountCfg(), 'def.kind'],
    [accountDef(), undefined, 'cfg'],
    [accountDef(), null, 'cfg'],
    [accountDef(), 'debit', 'cfg'],
    [accountDef(), accountCfg({ normal_side: 'Debit' }), 'cfg.normal_side'],
    [accountDef(), accountCfg({ normal_side: 'D' }), 'cfg.normal_side'],
    [accountDef(), accountCfg({ normal_side: '' }), 'cfg.normal_side'],
    [accountDef(), accountCfg({ normal_side: 1 }), 'cfg.normal_side'],
    [accountDef(), accountCfg({ normal_side: 'none' }), 'cfg.normal_side'],
    [accountDef(), accountCfg({ min_balance: 1.5 }), 'cfg.min_balance'],
    [accountDef(), accountCfg({ min_balance: 2 ** 53 + 2 }), 'cfg.min_balance'],
    [accountDef(), accountCfg({ min_balance: '0' }), 'cfg.min_balance'],
    [accountDef(), accountCfg({ min_balance: I64_MIN - 1n }), 'cfg.min_balance'],
    [accountDef(), accountCfg({ min_balance: Number.NaN }), 'cfg.min_balance'],
    // Earlier fields win.
    [accountDef({ kind: 'revenue', asset: 1 }), accountCfg({ normal_side: 'x' }), 'def.asset'],
    [accountDef({ kind: 'revenue' }), accountCfg({ normal_side: 'x' }), 'def.kind'],
  ];
  for (const [def, cfg, field] of cases) assertInvalid(() => normaliseAccount(def, cfg), field, field);
  // The book's type, then INVALID_BOOK, come before everything else.
  assertInvalid(() => normaliseAccount(accountDef({ id: { book: 1 }, kind: 'x' }), null), 'def.id.book');
  assertInvalidBook(() => normaliseAccount(accountDef({ id: { book: '_x' }, kind: 'x' }), null), '_x', 'reserved');
  assertInvalidBook(() => normaliseAccount(accountDef({ id: { book: 'a/b', path: 1 } }), 'x'), 'a/b', 'pattern');
});

test('7.2: the book-state check runs after the book checks and before the rest of the shape', () => {
  const seen: string[] = [];
  const conflict = (book: string): void => {
    seen.push(book);
    throw StoreError.invalidBook(book, 'case_conflict');
  };
  const error = storeError(() => normaliseAccount(accountDef({ id: { book: 'Onramp', path: 1 }, kind: 'x' }), null, conflict));
  assert.equal(error.code, 'INVALID_BOOK');
  assert.equal(error.reason, 'case_conflict');
  assert.deepEqual(seen, ['Onramp']);
  assertInvalidBook(() => normaliseAccount(accountDef({ id: { book: '_x', path: 'p' } }), accountCfg(), conflict), '_x', 'reserved');
  assert.deepEqual(seen, ['Onramp']);
  normaliseAccount(accountDef(), accountCfg(), (book) => seen.push(book));
  assert.deepEqual(seen, ['Onramp', 'onramp']);
});

// ---------------------------------------------------------------------------------------------
// Read arguments

test('reads: accountArgument checks its type, the book pattern (not reserved), then the path', () => {
  for (const value of [null, 'onramp:cash', 5, []]) assertInvalid(() => accountArgument(value), 'account');
  assertInvalid(() => accountArgument({ path: 'cash' }), 'account.book');
  assertInvalid(() => accountArgument({ book: 1, path: 'cash' }), 'account.book');
  assertInvalid(() => accountArgument({ book: 'onramp' }), 'account.path');
  assertInvalid(() => accountArgument({ book: 'onramp', path: LONE_SURROGATE }), 'account.path');
  assertInvalidBook(() => accountArgument({ book: 'a b', path: 1 }), 'a b', 'pattern');
  const input = { book: 'onramp', path: 'cash', extra: 1 };
  const account = accountArgument(input);
  assert.deepEqual(account, { book: 'onramp', path: 'cash' });
  assert.notEqual(account, input);
});

test('reads: checkBook checks the type first', () => {
  for (const value of [undefined, null, 1, {}, ['b']]) assertInvalid(() => checkBook(value, 'book', false), 'book');
  assertInvalid(() => checkBook(1, 'account.book', true), 'account.book');
});

test('reads: counts are safe integers >= 0', () => {
  for (const value of [0, 1, 10, Number.MAX_SAFE_INTEGER]) assert.equal(countArgument(value, 'limit'), value);
  for (const value of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '1', 1n, null, undefined]) {
    assertInvalid(() => countArgument(value, 'limit'), 'limit', String(value));
    assertInvalid(() => countArgument(value, 'afterSeq'), 'afterSeq', String(value));
  }
});

// ---------------------------------------------------------------------------------------------
// No aliasing (6.1)

test('6.1: a normalised transaction shares nothing with the input; mutating the input changes nothing', () => {
  const input = draft({ metadata: { a: { b: [1, { c: 'd' }] }, big: 2n ** 64n } }) as Record<string, any>;
  const { tx, eventJson } = normaliseTransaction(input);
  assertSharesNothing(input, tx);
  const before = structuredClone(tx);
  input.id = '00000000-0000-0000-0000-000000000000';
  input.book = 'other';
  input.postings[0].account.book = 'x';
  input.postings[0].account.path = 'y';
  input.postings[0].amount.minor = 1n;
  input.postings[0].amount.asset = 'EUR';
  input.postings[0].direction = 'debit';
  input.postings.push(input.postings[1]);
  input.external_refs[0].kind = 'changed';
  input.external_refs.length = 0;
  input.metadata.a.b[1].c = 'changed';
  input.metadata.a.b.push(2);
  input.metadata.big = 0;
  input.occurred_at = 'changed';
  assert.deepEqual(tx, before);
  assert.equal(eventJson, encodeEvent({ kind: 'transaction_posted', ...before }));
});

test('6.1: a normalised account or asset shares nothing with the input', () => {
  const def = accountDef() as Record<string, any>;
  const cfg = accountCfg() as Record<string, any>;
  const account = normaliseAccount(def, cfg);
  assertSharesNothing({ def, cfg }, { def: account.def, cfg: account.cfg });
  def.id.book = 'x';
  def.id.path = 'y';
  def.kind = 'equity';
  cfg.normal_side = 'credit';
  cfg.min_balance = 5n;
  assert.deepEqual(account.def, { id: { book: 'onramp', path: 'cash' }, asset: 'USD', kind: 'asset' });
  assert.deepEqual(account.cfg, { normal_side: 'debit', min_balance: 0n });

  const assetInput = { id: 'L-USDT', class: { crypto: { network: 'liquid', native_id: 'ce09' } }, precision: 8, name: 'Liquid Tether' };
  const asset = normaliseAssetDef(assetInput);
  assertSharesNothing(assetInput, asset.def);
  assetInput.class.crypto.network = 'changed';
  assetInput.class.crypto.native_id = 'changed';
  assert.deepEqual(asset.def.class, { crypto: { network: 'liquid', native_id: 'ce09' } });
});

test('6.1: normalised metadata shares nothing with the input', () => {
  const input = { list: [{ x: 1 }], obj: { y: [2] } };
  const { metadata } = normaliseMetadata(input);
  assertSharesNothing(input, metadata);
  input.list[0]!.x = 99;
  input.obj.y.push(3);
  assert.deepEqual(metadata, { list: [{ x: 1 }], obj: { y: [2] } });
});

test('normaliseMetadata gives exactly what encoding and decoding the value gives', async () => {
  const { parseJson, stringifyJson } = await import('../src/core/json.js');
  const { normaliseMetadata } = await import('../src/core/input.js');
  const numbers = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.constantFrom(-0, 2 ** 53, 2 ** 60, -(2 ** 63), 1e21, 1e22, 123456789012345680000, 0.1, -1.5e-7),
    fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
    fc.constantFrom(0n, -1n, 9007199254740991n, 9007199254740992n, -9007199254740992n),
  );
  const values = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      numbers,
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', '1', '01', 'constructor')), tie('value'), { maxKeys: 4 }),
    ),
  })).value;
  fc.assert(
    fc.property(values, (value) => {
      const { metadata, json } = normaliseMetadata(value);
      const expected = parseJson(stringifyJson(value as JsonValue));
      assert.deepStrictEqual(metadata, expected);
      assert.equal(json, stringifyJson(expected));
    }),
    { numRuns: 2000 },
  );
});
