/**
 * The event JSON (store-contract 5, log-engine 3.2 and 3.8): the exact bytes written for every
 * kind, the round trip, Rust-written inputs, and every way a payload can be invalid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import {
  EventDecodeError,
  decodeEvent,
  decodeSequencedPayload,
  encodeAccountOpened,
  encodeAssetRegistered,
  encodeEvent,
  encodeSequencedPayload,
  encodeTransactionPosted,
} from '../src/core/event-codec.js';
import { decodeCanonicalPayload } from '../src/log/canonical-payload.js';
import { decodeFrame, encodeFrameFromText } from '../src/log/frame.js';
import { parseJson, stringifyJson } from '../src/core/json.js';
import { formatAtUs, parseTimestampUs } from '../src/core/time.js';
import {
  ACCOUNT_KINDS,
  I64_MAX,
  I64_MIN,
  type AccountOpenedEvent,
  type AssetRegisteredEvent,
  type JsonValue,
  type LedgerEvent,
  type TransactionPostedEvent,
} from '../src/core/types.js';

// ---------------------------------------------------------------------------------------------
// Fixtures: the examples of store-contract 5.3

const usd: AssetRegisteredEvent = { kind: 'asset_registered', id: 'USD', class: 'fiat', precision: 2, name: 'US dollar' };
const usdJson = '{"kind":"asset_registered","id":"USD","class":"fiat","precision":2,"name":"US dollar"}';

const lusdt: AssetRegisteredEvent = {
  kind: 'asset_registered',
  id: 'L-USDT',
  class: { crypto: { network: 'liquid', native_id: 'ce09...' } },
  precision: 8,
  name: 'Liquid Tether',
};
const lusdtJson =
  '{"kind":"asset_registered","id":"L-USDT","class":{"crypto":{"network":"liquid","native_id":"ce09..."}},"precision":8,"name":"Liquid Tether"}';

const cash: AccountOpenedEvent = {
  kind: 'account_opened',
  def: { id: { book: 'onramp', path: 'cash' }, asset: 'USD', kind: 'asset' },
  cfg: { normal_side: 'debit', min_balance: 0n },
};
const cashJson =
  '{"kind":"account_opened","def":{"id":{"book":"onramp","path":"cash"},"asset":"USD","kind":"asset"},"cfg":{"normal_side":"debit","min_balance":0}}';

const deposit: TransactionPostedEvent = {
  kind: 'transaction_posted',
  id: '0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e',
  book: 'onramp',
  postings: [
    { account: { book: 'onramp', path: 'deposits' }, amount: { minor: 100n, asset: 'USD' }, direction: 'credit' },
    { account: { book: 'onramp', path: 'cash' }, amount: { minor: 100n, asset: 'USD' }, direction: 'debit' },
  ],
  idempotency_key: 'dep-42',
  external_refs: [{ kind: 'btc_txid', value: 'ab12...' }],
  metadata: { note: 'x' },
  occurred_at: '2026-06-05T12:00:00.123456789Z',
};
const depositJson =
  '{"kind":"transaction_posted","id":"0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e","book":"onramp",' +
  '"postings":[{"account":{"book":"onramp","path":"deposits"},"amount":{"minor":100,"asset":"USD"},"direction":"credit"},' +
  '{"account":{"book":"onramp","path":"cash"},"amount":{"minor":100,"asset":"USD"},"direction":"debit"}],' +
  '"idempotency_key":"dep-42","external_refs":[{"kind":"btc_txid","value":"ab12..."}],' +
  '"metadata":{"note":"x"},"occurred_at":"2026-06-05T12:00:00.123456789Z"}';

const TXID = '0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e';

function assertDecodeError(decode: () => unknown, label: string): void {
  assert.throws(
    decode,
    (error: unknown) => {
      assert.ok(error instanceof EventDecodeError, `${label}: threw ${String(error)}`);
      assert.equal(error.name, 'EventDecodeError');
      return true;
    },
    label,
  );
}

function assertEventInvalid(text: string): void {
  assertDecodeError(() => decodeEvent(text), text.length > 300 ? `${text.slice(0, 300)}...` : text);
}

function payload(event: string, seq = '1', at = '"2026-06-05T12:00:00.000000Z"'): string {
  return `{"seq":${seq},"at":${at},"event":${event}}`;
}

function assertPayloadInvalid(text: string): void {
  assertDecodeError(() => decodeSequencedPayload(text), text.length > 300 ? `${text.slice(0, 300)}...` : text);
}

// ---------------------------------------------------------------------------------------------
// Writing: the byte layout of 5.3 and 5.4

test('5.3: asset_registered, fiat, encodes to the contract example', () => {
  assert.equal(encodeEvent(usd), usdJson);
  assert.equal(encodeAssetRegistered(usd), usdJson);
});

test('5.3: asset_registered, crypto, encodes to the contract example', () => {
  assert.equal(encodeEvent(lusdt), lusdtJson);
});

test('5.1: a crypto class without native_id writes native_id null', () => {
  const btc: AssetRegisteredEvent = {
    kind: 'asset_registered',
    id: 'BTC',
    class: { crypto: { network: 'bitcoin', native_id: null } },
    precision: 8,
    name: 'Bitcoin',
  };
  assert.equal(
    encodeEvent(btc),
    '{"kind":"asset_registered","id":"BTC","class":{"crypto":{"network":"bitcoin","native_id":null}},"precision":8,"name":"Bitcoin"}',
  );
  assert.equal(
    encodeAssetRegistered({ id: 'P', class: 'fiat', precision: 255, name: '' }),
    '{"kind":"asset_registered","id":"P","class":"fiat","precision":255,"name":""}',
  );
});

test('5.3: account_opened encodes to the contract example', () => {
  assert.equal(encodeEvent(cash), cashJson);
  assert.equal(encodeAccountOpened(cash.def, cash.cfg), cashJson);
});

test('5.1: account_opened writes null for an absent normal_side and min_balance, and i64 bounds as digits', () => {
  assert.equal(
    encodeAccountOpened(
      { id: { book: 'b', path: 'clearing:1' }, asset: 'BTC', kind: 'clearing' },
      { normal_side: null, min_balance: null },
    ),
    '{"kind":"account_opened","def":{"id":{"book":"b","path":"clearing:1"},"asset":"BTC","kind":"clearing"},"cfg":{"normal_side":null,"min_balance":null}}',
  );
  assert.equal(
    encodeAccountOpened(
      { id: { book: 'b', path: 'l' }, asset: 'USD', kind: 'liability' },
      { normal_side: 'credit', min_balance: I64_MIN },
    ),
    '{"kind":"account_opened","def":{"id":{"book":"b","path":"l"},"asset":"USD","kind":"liability"},"cfg":{"normal_side":"credit","min_balance":-9223372036854775808}}',
  );
  assert.equal(
    encodeAccountOpened({ id: { book: 'b', path: 'e' }, asset: 'USD', kind: 'equity' }, { normal_side: 'credit', min_balance: I64_MAX }),
    '{"kind":"account_opened","def":{"id":{"book":"b","path":"e"},"asset":"USD","kind":"equity"},"cfg":{"normal_side":"credit","min_balance":9223372036854775807}}',
  );
});

test('5.3: transaction_posted encodes to the contract example', () => {
  assert.equal(encodeEvent(deposit), depositJson);
  assert.equal(encodeTransactionPosted(deposit), depositJson);
  assert.equal(encodeTransactionPosted(deposit, '{"note":"x"}'), depositJson);
});

test('5.4: transaction_posted with no postings, no refs, null metadata, big amounts', () => {
  const empty: TransactionPostedEvent = {
    kind: 'transaction_posted',
    id: '00000000-0000-0000-0000-000000000000',
    book: 'b',
    postings: [],
    idempotency_key: '',
    external_refs: [],
    metadata: null,
    occurred_at: '2026-06-05T14:00:00+02:00',
  };
  assert.equal(
    encodeEvent(empty),
    '{"kind":"transaction_posted","id":"00000000-0000-0000-0000-000000000000","book":"b","postings":[],"idempotency_key":"","external_refs":[],"metadata":null,"occurred_at":"2026-06-05T14:00:00+02:00"}',
  );
  const big: TransactionPostedEvent = {
    ...empty,
    postings: [
      { account: { book: 'b', path: 'x' }, amount: { minor: I64_MAX, asset: 'A' }, direction: 'debit' },
      { account: { book: 'b', path: 'y' }, amount: { minor: I64_MIN, asset: 'A' }, direction: 'credit' },
    ],
    metadata: { n: 9007199254740993n, m: -1180591620717411303424n, small: 5, f: 1.5, list: [true, false, null, 'é'] },
  };
  assert.equal(
    encodeEvent(big),
    '{"kind":"transaction_posted","id":"00000000-0000-0000-0000-000000000000","book":"b","postings":[' +
      '{"account":{"book":"b","path":"x"},"amount":{"minor":9223372036854775807,"asset":"A"},"direction":"debit"},' +
      '{"account":{"book":"b","path":"y"},"amount":{"minor":-9223372036854775808,"asset":"A"},"direction":"credit"}],' +
      '"idempotency_key":"","external_refs":[],' +
      '"metadata":{"n":9007199254740993,"m":-1180591620717411303424,"small":5,"f":1.5,"list":[true,false,null,"é"]},' +
      '"occurred_at":"2026-06-05T14:00:00+02:00"}',
  );
});

test('5.4: strings are escaped as JSON.stringify escapes them, non-ASCII and "/" left alone', () => {
  const controls = Array.from({ length: 0x20 }, (_, code) => String.fromCharCode(code)).join('');
  const tricky = `${controls}"\\/é€😀\u007f\u2028`;
  assert.equal(
    JSON.stringify(tricky),
    '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f' +
      '\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f' +
      '\\"\\\\/é€😀\u007f\u2028"',
  );
  const text = encodeEvent({ ...usd, id: tricky, name: 'Café "crème"\n' });
  assert.equal(
    text,
    `{"kind":"asset_registered","id":${JSON.stringify(tricky)},"class":"fiat","precision":2,"name":"Café \\"crème\\"\\n"}`,
  );
  assert.ok(text.includes('é€😀'));
  assert.ok(encodeEvent({ ...usd, name: 'a/b</c>' }).includes('"name":"a/b</c>"'));
  assert.ok(!/[\u0000-\u001f]/.test(text));
  assert.deepEqual(decodeEvent(text), { ...usd, id: tricky, name: 'Café "crème"\n' });
  const tx = encodeEvent({
    ...deposit,
    idempotency_key: 'k\t1',
    external_refs: [{ kind: 'ln\u0001', value: '\\' }],
    metadata: { 'ké\n': 'v\u001f' },
  });
  assert.ok(tx.includes('"idempotency_key":"k\\t1"'));
  assert.ok(tx.includes('"external_refs":[{"kind":"ln\\u0001","value":"\\\\"}]'));
  assert.ok(tx.includes('"metadata":{"ké\\n":"v\\u001f"}'));
});

test('5.4: transaction_posted writes each string as JSON.stringify does, lone surrogates included', () => {
  // Any UTF-16 string (the store refuses lone surrogates, but the encoder must not depend on it).
  const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 10 }), fc.string({ unit: fc.constantFrom('a', '"', '\\', '\u0000', '\u001f', '\ud800', '\udc00', '😀'), maxLength: 6 }));
  fc.assert(
    fc.property(anyText, anyText, anyText, anyText, anyText, anyText, (book, path, asset, key, kind, value) => {
      const tx = {
        ...deposit,
        book,
        postings: [{ account: { book, path }, amount: { minor: -7n, asset }, direction: 'credit' as const }],
        idempotency_key: key,
        external_refs: [{ kind, value }],
        metadata: null,
      };
      const q = JSON.stringify;
      assert.equal(
        encodeEvent(tx),
        `{"kind":"transaction_posted","id":${q(tx.id)},"book":${q(book)},"postings":[{"account":{"book":${q(book)},"path":${q(path)}},` +
          `"amount":{"minor":-7,"asset":${q(asset)}},"direction":"credit"}],"idempotency_key":${q(key)},"external_refs":[{"kind":${q(kind)},"value":${q(value)}}],` +
          `"metadata":null,"occurred_at":${q(tx.occurred_at)}}`,
      );
    }),
    { numRuns: 500 },
  );
});

test('5.4: metadata keys are written in the object own order', () => {
  const text = encodeEvent({ ...deposit, metadata: { z: 1, a: { y: 2, b: 3 }, m: [{ q: 1, c: 2 }] } });
  assert.ok(text.includes('"metadata":{"z":1,"a":{"y":2,"b":3},"m":[{"q":1,"c":2}]}'), text);
});

test('5.2: the frame payload wraps the event as {seq, at, event}', () => {
  assert.equal(
    encodeSequencedPayload(3, '2026-06-05T12:00:00.123456Z', usdJson),
    `{"seq":3,"at":"2026-06-05T12:00:00.123456Z","event":${usdJson}}`,
  );
  const decoded = decodeSequencedPayload(encodeSequencedPayload(3, '2026-06-05T12:00:00.123456Z', usdJson));
  assert.deepEqual(decoded, {
    seq: 3,
    atUs: parseTimestampUs('2026-06-05T12:00:00.123456Z'),
    event: { seq: 3, at: '2026-06-05T12:00:00.123456Z', event: usd },
  });
  assert.ok(encodeSequencedPayload(9007199254740991, formatAtUs(0), cashJson).startsWith('{"seq":'));
});

// ---------------------------------------------------------------------------------------------
// Reading: the round trip

test('round trip: the contract examples decode to the values they encode', () => {
  for (const event of [usd, lusdt, cash, deposit]) {
    assert.deepEqual(decodeEvent(encodeEvent(event)), event);
  }
});

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('a', ':', '"', '\\', '/', '\n', '\u0000', '\u001f', 'é', '😀', '\u2028'), maxLength: 8 }),
);
const i64 = fc.oneof(fc.bigInt({ min: I64_MIN, max: I64_MAX }), fc.constantFrom(I64_MIN, I64_MAX, 0n, -1n, 1n));
const accountId = fc.record({ book: text, path: text });

/** Metadata as stored: normalised, so every integer has one representation (5.5). */
const metadata = fc
  .letrec<{ json: unknown }>((tie) => ({
    json: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      fc.maxSafeInteger(),
      fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      text,
      fc.array(tie('json'), { maxLength: 4 }),
      fc.dictionary(fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'kind', 'minor')), tie('json'), { maxKeys: 4 }),
    ),
  }))
  .json.map((value) => parseJson(stringifyJson(value as JsonValue)));

const assetEvent: fc.Arbitrary<LedgerEvent> = fc.record({
  kind: fc.constant('asset_registered' as const),
  id: text,
  class: fc.oneof(
    fc.constant('fiat' as const),
    fc.record({ crypto: fc.record({ network: text, native_id: fc.option(text, { nil: null }) }) }),
  ),
  precision: fc.integer({ min: 0, max: 255 }),
  name: text,
});

const accountEvent: fc.Arbitrary<LedgerEvent> = fc.record({
  kind: fc.constant('account_opened' as const),
  def: fc.record({ id: accountId, asset: text, kind: fc.constantFrom(...ACCOUNT_KINDS) }),
  cfg: fc.record({
    normal_side: fc.constantFrom('debit' as const, 'credit' as const, null),
    min_balance: fc.option(i64, { nil: null }),
  }),
});

const transactionEvent: fc.Arbitrary<LedgerEvent> = fc.record({
  kind: fc.constant('transaction_posted' as const),
  id: fc.uuid(),
  book: text,
  postings: fc.array(
    fc.record({
      account: accountId,
      amount: fc.record({ minor: i64, asset: text }),
      direction: fc.constantFrom('debit' as const, 'credit' as const),
    }),
    { maxLength: 4 },
  ),
  idempotency_key: text,
  external_refs: fc.array(fc.record({ kind: text, value: text }), { maxLength: 3 }),
  metadata,
  occurred_at: fc.oneof(
    fc.constantFrom('2026-06-05T12:00:00Z', '2026-06-05T12:00:00.123456789Z', '2026-06-05T14:00:00+02:00'),
    fc.maxSafeInteger().map(formatAtUs),
  ),
});

/** fc.record may build null-prototype objects; the decoder builds plain ones. */
function toPlain<T>(value: T): T {
  if (Array.isArray(value)) return value.map(toPlain) as T;
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, {
        value: toPlain((value as Record<string, unknown>)[key]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out as T;
  }
  return value;
}

const anyEvent = fc.oneof(assetEvent, accountEvent, transactionEvent).map(toPlain);

test('round trip property: decodeEvent(encodeEvent(e)) deep-equals e for every kind', () => {
  fc.assert(
    fc.property(anyEvent, (event) => {
      const json = encodeEvent(event);
      assert.deepEqual(decodeEvent(json), event);
      // The encoding is canonical: a second pass writes the same bytes.
      assert.equal(encodeEvent(decodeEvent(json)), json);
      // Compact and free of raw control characters.
      assert.ok(!/[\u0000-\u001f]/.test(json));
    }),
    { numRuns: 1500 },
  );
});

test('round trip property: decodeSequencedPayload(encodeSequencedPayload(...))', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.maxSafeInteger(), anyEvent, (seq, atUs, event) => {
      const at = formatAtUs(atUs);
      const decoded = decodeSequencedPayload(encodeSequencedPayload(seq, at, encodeEvent(event)));
      assert.deepEqual(decoded, { seq, atUs, event: { seq, at, event } });
    }),
    { numRuns: 500 },
  );
});

/** The outcome of a decoder as a comparable value: the decoded payload or the error's class and text. */
function outcomeOf(decode: () => unknown): unknown {
  try {
    return { ok: decode() };
  } catch (error) {
    return { error: (error as Error).name, message: (error as Error).message };
  }
}

/** Replaces a payload's metadata value (everything between its member and occurred_at's). */
function wrapMetadata(text: string, wrap: (metadata: string) => string): string {
  return text.replace(/"metadata":(.*),"occurred_at":/, (_match, metadata: string) => `"metadata":${wrap(metadata)},"occurred_at":`);
}

/** Textual variations a foreign or damaged writer might produce, all still valid CRC-wise. */
const variation = fc.constantFrom(
  (text: string) => text,
  (text: string) => text.replace('":', '": '),
  (text: string) => text.replace(/"minor":(-?\d+)/, '"minor":$1.0'),
  (text: string) => text.replace(/"minor":(-?\d+)/, '"minor":9007199254740993'),
  (text: string) => text.replace(/"minor":(-?\d+)/, '"minor":1e2'),
  (text: string) => text.replace(',"book":', ',"book":"x","book":'),
  (text: string) => text.replace('"event":{', '"event":{"extra":[1,{"a":null}],'),
  (text: string) => wrapMetadata(text, (metadata) => `{"n":9007199254740992,"m":${metadata}}`),
  (text: string) => wrapMetadata(text, (metadata) => `${'['.repeat(70)}${metadata}${']'.repeat(70)}`),
  (text: string) => wrapMetadata(text, (metadata) => `{"s":"\\ud800","m":${metadata}}`),
  (text: string) => wrapMetadata(text, (metadata) => `{"\\udc00":1,"m":${metadata}}`),
  (text: string) => wrapMetadata(text, (metadata) => `{"ok":"\\ud83d\\ude00","m":${metadata}}`),
  (text: string) => text.replace(/"direction":"(debit|credit)"/, '"direction":"Debit"'),
  (text: string) => text.replace(/"id":"([0-9a-f-]+)"/, (_match, id: string) => `"id":"${id.toUpperCase()}"`),
  (text: string) => text.replace(/"at":"([^"]+)\.(\d{6})Z"/, '"at":"$1.$2000Z"'),
  (text: string) => text.replace(/"at":"[^"]+"/, `"at":"${'\u0000'.repeat(27)}"`),
  (text: string) => text.slice(0, -1),
);

/** The fast path's answer, or the careful reader's when it declines: what decodeFrame returns. */
function decodeFast(text: string): unknown {
  const bytes = Buffer.from(text, 'utf8');
  return decodeCanonicalPayload(bytes, 0, bytes.length) ?? decodeSequencedPayload(text);
}

test('fast path: every payload decodes exactly as the schema-directed reader decodes it, errors included', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.maxSafeInteger(), anyEvent, variation, (seq, atUs, event, vary) => {
      const text = vary(encodeSequencedPayload(seq, formatAtUs(atUs), encodeEvent(event)));
      assert.deepEqual(
        outcomeOf(() => decodeFast(text)),
        outcomeOf(() => decodeSequencedPayload(text)),
      );
    }),
    { numRuns: 3000 },
  );
});

test('fast path: canonical transaction frames take it, including non-ASCII text and metadata', () => {
  const variants: TransactionPostedEvent[] = [
    deposit,
    { ...deposit, metadata: null, external_refs: [], postings: [] },
    { ...deposit, idempotency_key: 'clé-😀', metadata: { note: 'ünïcode', n: [1, 2.5, -3, true, null, { deep: 'x' }] } },
    { ...deposit, postings: deposit.postings.map((posting) => ({ ...posting, amount: { ...posting.amount, minor: -999_999_999_999_999n } })) },
  ];
  for (const event of variants) {
    const text = encodeSequencedPayload(12, '2026-06-05T12:00:00.123456Z', encodeEvent(event));
    const bytes = Buffer.from(text, 'utf8');
    const fast = decodeCanonicalPayload(bytes, 0, bytes.length);
    assert.notEqual(fast, null, text);
    assert.deepEqual(fast, decodeSequencedPayload(text));
    const frame = encodeFrameFromText(text);
    assert.deepEqual(decodeFrame(frame, 0, frame.length), { kind: 'frame', decoded: fast, frameBytes: frame.length });
  }
  // What it declines, the careful reader decides.
  for (const text of [
    encodeSequencedPayload(1, '2026-06-05T12:00:00.123456Z', encodeEvent({ ...deposit, idempotency_key: 'a"b' })),
    encodeSequencedPayload(1, '2026-06-05T12:00:00.123456Z', encodeEvent({ ...deposit, metadata: { big: 2n ** 60n } })),
    encodeSequencedPayload(1, '2026-06-05T12:00:00Z', encodeEvent(deposit)),
  ]) {
    const bytes = Buffer.from(text, 'utf8');
    assert.equal(decodeCanonicalPayload(bytes, 0, bytes.length), null, text);
  }
});

test('round trip: metadata integers beyond 2^53 are exact, safe ones are numbers', () => {
  const event = decodeEvent(
    '{"kind":"transaction_posted","id":"0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e","book":"b","postings":[],"idempotency_key":"k",' +
      '"external_refs":[],"metadata":{"n":9007199254740993,"m":-1180591620717411303424,"small":5,"max":9223372036854775807,' +
      '"f":1.0,"e":1e3,"z":-0,"deep":[{"x":18446744073709551616}]},"occurred_at":"2026-06-05T12:00:00Z"}',
  ) as TransactionPostedEvent;
  assert.deepEqual(event.metadata, {
    n: 9007199254740993n,
    m: -1180591620717411303424n,
    small: 5,
    max: 9223372036854775807n,
    f: 1,
    e: 1000,
    z: 0,
    deep: [{ x: 18446744073709551616n }],
  });
  assert.ok(Object.is((event.metadata as Record<string, JsonValue>).z, 0));
});

test('5.5: a repeated key inside metadata keeps the last value and is not an error', () => {
  const event = decodeEvent(
    `{"kind":"transaction_posted","id":"${TXID}","book":"b","postings":[],"idempotency_key":"k","external_refs":[],` +
      '"metadata":{"a":1,"b":{"c":1,"c":[2]},"a":"last"},"occurred_at":"2026-06-05T12:00:00Z"}',
  ) as TransactionPostedEvent;
  assert.deepEqual(event.metadata, { a: 'last', b: { c: [2] } });
});

test('5.5: a __proto__ key in metadata is read as an own property', () => {
  const event = decodeEvent(
    `{"kind":"transaction_posted","id":"${TXID}","book":"b","postings":[],"idempotency_key":"k","external_refs":[],` +
      '"metadata":{"__proto__":{"admin":true}},"occurred_at":"2026-06-05T12:00:00Z"}',
  ) as TransactionPostedEvent;
  const metadata = event.metadata as Record<string, JsonValue>;
  assert.equal(Object.getPrototypeOf(metadata), Object.prototype);
  assert.ok(Object.hasOwn(metadata, '__proto__'));
  assert.equal(metadata.admin, undefined);
  assert.equal(encodeEvent(event).includes('"metadata":{"__proto__":{"admin":true}}'), true);
});

// ---------------------------------------------------------------------------------------------
// Reading events written by the Rust store (5.7)

test('5.7: any member order (kind last), whitespace and unknown fields', () => {
  assert.deepEqual(
    decodeEvent(
      ' {\n  "name" : "US dollar",\t"precision":2 , "extra": {"nested": [1, {"kind": "x"}], "n": 1.5e300},\r\n "class":"fiat", "id":"USD", "kind" : "asset_registered" }\n',
    ),
    usd,
  );
  assert.deepEqual(
    decodeEvent(
      '{"cfg":{"min_balance":0,"future":true,"normal_side":"debit"},"def":{"kind":"asset","asset":"USD","id":{"path":"cash","book":"onramp","x":null}},"kind":"account_opened","v":2}',
    ),
    cash,
  );
  assert.deepEqual(
    decodeEvent(
      '{"occurred_at":"2026-06-05T12:00:00.123456789Z","metadata":{"note":"x"},' +
        '"external_refs":[{"value":"ab12...","kind":"btc_txid","extra":1}],"idempotency_key":"dep-42",' +
        '"postings":[{"direction":"credit","amount":{"asset":"USD","minor":100,"scale":2},"account":{"path":"deposits","book":"onramp"}},' +
        '{"direction":"debit","amount":{"asset":"USD","minor":100},"account":{"path":"cash","book":"onramp"},"memo":"m"}],' +
        '"book":"onramp","id":"0190f3c2-8c1e-7a4b-9d2e-3f1a2b3c4d5e","extra":[],"kind":"transaction_posted"}',
    ),
    deposit,
  );
  assert.deepEqual(
    decodeEvent(
      '{"class":{"crypto":{"native_id":"ce09...","network":"liquid","chain_id":1}},"precision":8,"name":"Liquid Tether","id":"L-USDT","kind":"asset_registered"}',
    ),
    lusdt,
  );
});

test('5.7: missing native_id, normal_side and min_balance read as null', () => {
  assert.deepEqual(
    decodeEvent('{"kind":"asset_registered","id":"BTC","class":{"crypto":{"network":"bitcoin"}},"precision":8,"name":"Bitcoin"}'),
    { kind: 'asset_registered', id: 'BTC', class: { crypto: { network: 'bitcoin', native_id: null } }, precision: 8, name: 'Bitcoin' },
  );
  assert.deepEqual(
    decodeEvent('{"kind":"account_opened","def":{"id":{"book":"b","path":"p"},"asset":"BTC","kind":"clearing"},"cfg":{}}'),
    {
      kind: 'account_opened',
      def: { id: { book: 'b', path: 'p' }, asset: 'BTC', kind: 'clearing' },
      cfg: { normal_side: null, min_balance: null },
    },
  );
  assert.deepEqual(
    decodeEvent('{"kind":"account_opened","def":{"id":{"book":"b","path":"p"},"asset":"BTC","kind":"income"},"cfg":{"min_balance":-5}}'),
    {
      kind: 'account_opened',
      def: { id: { book: 'b', path: 'p' }, asset: 'BTC', kind: 'income' },
      cfg: { normal_side: null, min_balance: -5n },
    },
  );
  assert.deepEqual(
    decodeEvent('{"kind":"account_opened","def":{"id":{"book":"b","path":"p"},"asset":"BTC","kind":"expense"},"cfg":{"normal_side":"credit","min_balance":null}}'),
    {
      kind: 'account_opened',
      def: { id: { book: 'b', path: 'p' }, asset: 'BTC', kind: 'expense' },
      cfg: { normal_side: 'credit', min_balance: null },
    },
  );
});

test('5.7: i64 bounds and integers beyond 2^53 read exactly', () => {
  const account = decodeEvent(
    '{"kind":"account_opened","def":{"id":{"book":"b","path":"p"},"asset":"A","kind":"asset"},"cfg":{"normal_side":"debit","min_balance":-9223372036854775808}}',
  ) as AccountOpenedEvent;
  assert.equal(account.cfg.min_balance, I64_MIN);
  const tx = decodeEvent(
    `{"kind":"transaction_posted","id":"${TXID}","book":"b","postings":[` +
      '{"account":{"book":"b","path":"x"},"amount":{"minor":9223372036854775807,"asset":"A"},"direction":"debit"},' +
      '{"account":{"book":"b","path":"y"},"amount":{"minor":9007199254740993,"asset":"A"},"direction":"credit"},' +
      '{"account":{"book":"b","path":"z"},"amount":{"minor":-0,"asset":"A"},"direction":"credit"}],' +
      '"idempotency_key":"k","external_refs":[],"metadata":null,"occurred_at":"x"}',
  ) as TransactionPostedEvent;
  assert.deepEqual(
    tx.postings.map((posting) => posting.amount.minor),
    [I64_MAX, 9007199254740993n, 0n],
  );
  for (const posting of tx.postings) assert.equal(typeof posting.amount.minor, 'bigint');
});

test('3.5: `at` with 0, 3, 6 or 9 digits or an offset reads as 6 digits in UTC', () => {
  const cases: Array<[string, string]> = [
    ['2026-06-05T03:04:05Z', '2026-06-05T03:04:05.000000Z'],
    ['2026-06-05T03:04:05.120Z', '2026-06-05T03:04:05.120000Z'],
    ['2026-06-05T03:04:05.123456Z', '2026-06-05T03:04:05.123456Z'],
    ['2026-06-05T03:04:05.123456789Z', '2026-06-05T03:04:05.123456Z'],
    ['2026-06-05T05:04:05.5+02:00', '2026-06-05T03:04:05.500000Z'],
    ['2026-06-05T01:04:05-02:00', '2026-06-05T03:04:05.000000Z'],
  ];
  for (const [at, expected] of cases) {
    const decoded = decodeSequencedPayload(payload(usdJson, '7', JSON.stringify(at)));
    assert.equal(decoded.event.at, expected, at);
    assert.equal(decoded.atUs, parseTimestampUs(expected), at);
    assert.equal(decoded.seq, 7);
    assert.equal(decoded.event.seq, 7);
    assert.deepEqual(decoded.event.event, usd);
  }
});

test('5.7: the payload members may come in any order with whitespace and unknown members', () => {
  const decoded = decodeSequencedPayload(
    ` { "event" : ${depositJson} , "v": [1,2], "at" : "2026-06-05T03:04:05.120Z" , "seq" : 42 } `,
  );
  assert.deepEqual(decoded, {
    seq: 42,
    atUs: parseTimestampUs('2026-06-05T03:04:05.12Z'),
    event: { seq: 42, at: '2026-06-05T03:04:05.120000Z', event: deposit },
  });
});

test('3.5: occurred_at is kept verbatim, whatever its form', () => {
  for (const occurredAt of [
    '2026-06-05T12:00:00.123456789Z',
    '2026-06-05T14:00:00+02:00',
    '2026-06-05T12:00:00Z',
    '2026-06-05T12:00:00.1-00:00',
  ]) {
    const json = encodeEvent({ ...deposit, occurred_at: occurredAt });
    assert.ok(json.endsWith(`"occurred_at":${JSON.stringify(occurredAt)}}`));
    const event = decodeEvent(json) as TransactionPostedEvent;
    assert.equal(event.occurred_at, occurredAt);
    const viaPayload = decodeSequencedPayload(payload(json)).event.event as TransactionPostedEvent;
    assert.equal(viaPayload.occurred_at, occurredAt);
  }
});

// ---------------------------------------------------------------------------------------------
// Invalid payloads

/** Removes the member at `path` (dot-separated, numeric parts index arrays) from a JSON text. */
function without(json: string, path: string): string {
  const root = JSON.parse(json) as Record<string, unknown>;
  const parts = path.split('.');
  let node: Record<string, unknown> = root;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  delete node[parts[parts.length - 1] as string];
  return JSON.stringify(root);
}

function replaced(json: string, path: string, value: unknown): string {
  const root = JSON.parse(json) as Record<string, unknown>;
  const parts = path.split('.');
  let node: Record<string, unknown> = root;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  node[parts[parts.length - 1] as string] = value;
  return JSON.stringify(root);
}

test('5.7: a missing required field is invalid', () => {
  const required: Array<[string, string[]]> = [
    [usdJson, ['kind', 'id', 'class', 'precision', 'name']],
    [lusdtJson, ['class.crypto.network', 'class.crypto']],
    [cashJson, ['kind', 'def', 'cfg', 'def.id', 'def.id.book', 'def.id.path', 'def.asset', 'def.kind']],
    [
      depositJson,
      [
        'kind',
        'id',
        'book',
        'postings',
        'idempotency_key',
        'external_refs',
        'metadata',
        'occurred_at',
        'postings.0.account',
        'postings.0.account.book',
        'postings.0.account.path',
        'postings.0.amount',
        'postings.0.amount.minor',
        'postings.0.amount.asset',
        'postings.1.direction',
        'external_refs.0.kind',
        'external_refs.0.value',
      ],
    ],
  ];
  for (const [json, paths] of required) {
    for (const path of paths) assertEventInvalid(without(json, path));
  }
  for (const member of ['seq', 'at', 'event']) {
    assertPayloadInvalid(without(payload(usdJson), member));
  }
});

test('5.7: removing an optional field is not an error', () => {
  assert.doesNotThrow(() => decodeEvent(without(lusdtJson, 'class.crypto.native_id')));
  assert.doesNotThrow(() => decodeEvent(without(cashJson, 'cfg.normal_side')));
  assert.doesNotThrow(() => decodeEvent(without(cashJson, 'cfg.min_balance')));
});

test('5.7: an unknown kind or class is invalid', () => {
  for (const kind of ['asset_deleted', 'AssetRegistered', 'Asset_Registered', '', 'account_closed']) {
    assertEventInvalid(replaced(usdJson, 'kind', kind));
  }
  for (const assetClass of ['Fiat', 'crypto', 'stock', '', { stock: {} }, { fiat: {} }, {}, { crypto: {}, fiat: null }]) {
    assertEventInvalid(replaced(usdJson, 'class', assetClass));
  }
  assertEventInvalid(replaced(lusdtJson, 'class', { crypto: { network: 'liquid' }, other: {} }));
  assertEventInvalid(replaced(cashJson, 'def.kind', 'Asset'));
  assertEventInvalid(replaced(cashJson, 'def.kind', 'revenue'));
});

test('5.7: a wrong type is invalid', () => {
  const wrong: Array<[string, string, unknown]> = [
    [usdJson, 'kind', 1],
    [usdJson, 'kind', null],
    [usdJson, 'id', 5],
    [usdJson, 'id', null],
    [usdJson, 'class', null],
    [usdJson, 'class', 5],
    [usdJson, 'class', ['fiat']],
    [usdJson, 'precision', '2'],
    [usdJson, 'precision', null],
    [usdJson, 'precision', true],
    [usdJson, 'name', null],
    [usdJson, 'name', ['US dollar']],
    [lusdtJson, 'class.crypto', 'liquid'],
    [lusdtJson, 'class.crypto', null],
    [lusdtJson, 'class.crypto.network', null],
    [lusdtJson, 'class.crypto.network', 1],
    [lusdtJson, 'class.crypto.native_id', 1],
    [lusdtJson, 'class.crypto.native_id', {}],
    [cashJson, 'def', 'onramp:cash'],
    [cashJson, 'def', null],
    [cashJson, 'def.id', 'onramp:cash'],
    [cashJson, 'def.id.book', 1],
    [cashJson, 'def.id.path', null],
    [cashJson, 'def.asset', null],
    [cashJson, 'def.kind', null],
    [cashJson, 'cfg', null],
    [cashJson, 'cfg', []],
    [cashJson, 'cfg.normal_side', 'Debit'],
    [cashJson, 'cfg.normal_side', 'D'],
    [cashJson, 'cfg.normal_side', 1],
    [cashJson, 'cfg.min_balance', '0'],
    [cashJson, 'cfg.min_balance', false],
    [depositJson, 'id', 1],
    [depositJson, 'book', null],
    [depositJson, 'postings', {}],
    [depositJson, 'postings', null],
    [depositJson, 'postings.0', null],
    [depositJson, 'postings.0', 'p'],
    [depositJson, 'postings.0.account', 'onramp:deposits'],
    [depositJson, 'postings.0.amount', 100],
    [depositJson, 'postings.0.amount', null],
    [depositJson, 'postings.0.amount.minor', '100'],
    [depositJson, 'postings.0.amount.minor', null],
    [depositJson, 'postings.0.amount.asset', 1],
    [depositJson, 'postings.0.direction', 'Debit'],
    [depositJson, 'postings.0.direction', 'D'],
    [depositJson, 'postings.0.direction', null],
    [depositJson, 'idempotency_key', 42],
    [depositJson, 'external_refs', null],
    [depositJson, 'external_refs', {}],
    [depositJson, 'external_refs.0', 'x'],
    [depositJson, 'external_refs.0.value', 1],
    [depositJson, 'occurred_at', 1],
    [depositJson, 'occurred_at', null],
  ];
  for (const [json, path, value] of wrong) assertEventInvalid(replaced(json, path, value));
  assertEventInvalid('"asset_registered"');
  assertEventInvalid('[]');
  assertEventInvalid('null');
  assertPayloadInvalid(payload(usdJson, '"1"'));
  assertPayloadInvalid(payload(usdJson, 'null'));
  assertPayloadInvalid(payload(usdJson, '1', '1780000000000000'));
  assertPayloadInvalid(payload(usdJson, '1', 'null'));
  assertPayloadInvalid(payload('null'));
  assertPayloadInvalid(payload('[]'));
  assertPayloadInvalid('[1,"2026-06-05T12:00:00Z",{}]');
  assertPayloadInvalid('null');
});

test('5.7: a repeated member of a fixed-shape object is invalid', () => {
  const repeated = [
    '{"kind":"asset_registered","kind":"asset_registered","id":"USD","class":"fiat","precision":2,"name":"US dollar"}',
    '{"kind":"asset_registered","id":"USD","id":"EUR","class":"fiat","precision":2,"name":"US dollar"}',
    '{"kind":"asset_registered","id":"USD","class":"fiat","precision":2,"precision":2,"name":"US dollar"}',
    '{"kind":"asset_registered","id":"L","class":{"crypto":{"network":"liquid","network":"liquid","native_id":null}},"precision":8,"name":"L"}',
    '{"kind":"asset_registered","id":"L","class":{"crypto":{"network":"liquid","native_id":null,"native_id":"x"}},"precision":8,"name":"L"}',
    '{"kind":"asset_registered","id":"L","class":{"crypto":{"network":"liquid"},"crypto":{"network":"liquid"}},"precision":8,"name":"L"}',
    '{"kind":"account_opened","def":{"id":{"book":"b","book":"c","path":"p"},"asset":"A","kind":"asset"},"cfg":{"normal_side":null,"min_balance":null}}',
    '{"kind":"account_opened","def":{"id":{"book":"b","path":"p"},"asset":"A","asset":"A","kind":"asset"},"cfg":{"normal_side":null,"min_balance":null}}',
    '{"kind":"account_opened","def":{"id":{"book":"b","path":"p"},"asset":"A","kind":"asset"},"cfg":{"normal_side":null,"normal_side":"debit","min_balance":null}}',
    '{"kind":"account_opened","def":{"id":{"book":"b","path":"p"},"asset":"A","kind":"asset"},"cfg":{"normal_side":null,"min_balance":1,"min_balance":2}}',
    '{"kind":"account_opened","def":{"id":{"book":"b","path":"p"},"asset":"A","kind":"asset"},"def":{"id":{"book":"b","path":"p"},"asset":"A","kind":"asset"},"cfg":{}}',
    `{"kind":"transaction_posted","id":"${TXID}","book":"b","postings":[{"account":{"book":"b","path":"x"},"amount":{"minor":1,"minor":2,"asset":"A"},"direction":"debit"}],"idempotency_key":"k","external_refs":[],"metadata":null,"occurred_at":"t"}`,
    `{"kind":"transaction_posted","id":"${TXID}","book":"b","postings":[{"account":{"book":"b","path":"x"},"amount":{"minor":1,"asset":"A","asset":"A"},"direction":"debit"}],"idempotency_key":"k","external_refs":[],"metadata":null,"occurred_at":"t"}`,
    `{"kind":"transaction_posted","id":"${TXID}","book":"b","postings":[{"account":{"book":"b","path":"x"},"amount":{"minor":1,"asset":"A"},"direction":"debit","direction":"credit"}],"idempotency_key":"k","external_refs":[],"metadata":null,"occurred_at":"t"}`,
    `{"kind":"transaction_posted","id":"${TXID}","book":"b","postings":[],"postings":[],"idempotency_key":"k","external_refs":[],"metadata":null,"occurred_at":"t"}`,
    `{"kind":"transaction_posted","id":"${TXID}","book":"b","postings":[],"idempotency_key":"k","external_refs":[{"kind":"a","kind":"b","value":"v"}],"metadata":null,"occurred_at":"t"}`,
    `{"kind":"transaction_posted","id":"${TXID}","book":"b","postings":[],"idempotency_key":"k","external_refs":[],"metadata":null,"metadata":{},"occurred_at":"t"}`,
  ];
  for (const json of repeated) assertEventInvalid(json);
  assertPayloadInvalid(`{"seq":1,"seq":1,"at":"2026-06-05T12:00:00Z","event":${usdJson}}`);
  assertPayloadInvalid(`{"seq":1,"at":"2026-06-05T12:00:00Z","at":"2026-06-05T12:00:00Z","event":${usdJson}}`);
  assertPayloadInvalid(`{"seq":1,"at":"2026-06-05T12:00:00Z","event":${usdJson},"event":${usdJson}}`);
});

test('3.8: minor and min_balance must be integer tokens inside i64', () => {
  for (const minor of ['1.5', '1e3', '1.0', '1E0', '-0.0', '9223372036854775808', '-9223372036854775809', '18446744073709551616', '"1"', '0x10', '+1', '01', 'NaN']) {
    assertEventInvalid(
      `{"kind":"transaction_posted","id":"${TXID}","book":"b","postings":[{"account":{"book":"b","path":"x"},"amount":{"minor":${minor},"asset":"A"},"direction":"debit"}],"idempotency_key":"k","external_refs":[],"metadata":null,"occurred_at":"t"}`,
    );
    assertEventInvalid(
      `{"kind":"account_opened","def":{"id":{"book":"b","path":"p"},"asset":"A","kind":"asset"},"cfg":{"normal_side":null,"min_balance":${minor}}}`,
    );
  }
});

test('3.8: seq must be a safe integer >= 1 written as an integer token', () => {
  for (const seq of ['0', '-0', '-1', '9007199254740992', '9007199254740993', '1e0', '1.0', '1.5', '"1"', 'null', 'true', '01']) {
    assertPayloadInvalid(payload(usdJson, seq));
  }
  assert.equal(decodeSequencedPayload(payload(usdJson, '9007199254740991')).seq, 9007199254740991);
  assert.equal(decodeSequencedPayload(payload(usdJson, '1')).seq, 1);
});

test('3.8: precision must be an integer token from 0 to 255', () => {
  for (const precision of ['256', '-1', '1.5', '2.0', '2e0', '1000', '"2"', 'null']) {
    assertEventInvalid(`{"kind":"asset_registered","id":"USD","class":"fiat","precision":${precision},"name":"US dollar"}`);
  }
  for (const precision of [0, 255]) {
    const event = decodeEvent(`{"kind":"asset_registered","id":"USD","class":"fiat","precision":${precision},"name":"US dollar"}`);
    assert.equal((event as AssetRegisteredEvent).precision, precision);
  }
});

test('3.9: an `at` that does not parse is invalid', () => {
  for (const at of ['', '2026-06-05', '2026-02-30T00:00:00Z', '2026-06-05t12:00:00Z', '2026-06-05T12:00:00.1234567890Z', '2026-06-05T24:00:00Z', 'now']) {
    assertPayloadInvalid(payload(usdJson, '1', JSON.stringify(at)));
  }
});

test('3.5: a payload that is not JSON, or has trailing data, is invalid', () => {
  for (const text of ['', '{', '{"seq":1', `${payload(usdJson)}x`, `${payload(usdJson)}{}`, payload(`${usdJson.slice(0, -1)}`), '\u0000']) {
    assertPayloadInvalid(text);
  }
  for (const text of ['', `${usdJson} x`, `${usdJson}${usdJson}`, usdJson.slice(0, -1), usdJson.replace('"fiat"', '"fi\u0001at"')]) {
    assertEventInvalid(text);
  }
  // Lone surrogate escapes cannot be stored as UTF-8 and are refused, as serde_json refuses them.
  assertEventInvalid(usdJson.replace('"US dollar"', '"\\ud800"'));
  // Metadata nested deeper than serde_json allows.
  assertEventInvalid(replaced(depositJson, 'metadata', null).replace('"metadata":null', `"metadata":${'['.repeat(100_000)}${']'.repeat(100_000)}`));
});

test('3.5 property: damaged payloads either decode or throw EventDecodeError, never anything else', () => {
  const valid = [payload(usdJson), payload(lusdtJson, '2'), payload(cashJson, '3'), payload(depositJson, '4')];
  fc.assert(
    fc.property(
      fc.constantFrom(...valid),
      fc.nat(),
      fc.oneof(fc.string({ maxLength: 3 }), fc.constantFrom('', '"', '{', '}', '[', ']', ':', ',', '\\', '0', '-', 'e', '.', 'null')),
      fc.integer({ min: 0, max: 3 }),
      (text, position, insert, removeCount) => {
        const at = position % (text.length + 1);
        const damaged = text.slice(0, at) + insert + text.slice(at + removeCount);
        try {
          const decoded = decodeSequencedPayload(damaged);
          assert.ok(Number.isSafeInteger(decoded.seq) && decoded.seq >= 1);
          assert.match(decoded.event.at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
        } catch (error) {
          assert.ok(error instanceof EventDecodeError, String(error));
        }
      },
    ),
    { numRuns: 5000 },
  );
});

test('3.5 property: arbitrary text decodes or throws EventDecodeError', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.jsonValue().map((value) => JSON.stringify(value))), (text) => {
      for (const decode of [decodeEvent, decodeSequencedPayload]) {
        try {
          decode(text);
        } catch (error) {
          assert.ok(error instanceof EventDecodeError, String(error));
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test('fast path: a fresh thread does not take a payload of NUL bytes for its cached commit time', () => {
  // The `at` cache lives in the module: only the first payload a thread decodes can meet its seed.
  const payload = encodeSequencedPayload(1, formatAtUs(0), encodeEvent(deposit)).replace('1970-01-01T00:00:00.000000Z', '\u0000'.repeat(27));
  const moduleUrl = new URL('../src/log/canonical-payload.js', import.meta.url).href;
  const child = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `const { decodeCanonicalPayload } = await import(${JSON.stringify(moduleUrl)}); const bytes = Buffer.from(process.argv[1], 'base64'); console.log(JSON.stringify(decodeCanonicalPayload(bytes, 0, bytes.length)));`, Buffer.from(payload, 'utf8').toString('base64')],
    { encoding: 'utf8' },
  );
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), 'null');
  assert.throws(() => decodeSequencedPayload(payload), EventDecodeError);
});
