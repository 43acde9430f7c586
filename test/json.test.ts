/**
 * Bigint-safe JSON (log-engine 3.8, store-contract 5.5): agreement with JSON.parse and
 * JSON.stringify wherever those are exact, exact big integers, the number rules, `__proto__`,
 * repeated keys, syntax errors and jsonEqual.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JsonReader, JsonSyntaxError, copyJson, jsonEqual, parseJson, stringifyJson } from '../src/core/json.js';
import type { JsonValue } from '../src/core/types.js';

/** True when every number in `value` is one JSON.parse reads back exactly and the same way. */
function exactForJsonParse(value: unknown): boolean {
  if (typeof value === 'number') {
    // Integer-valued doubles below 1e21 print as plain digits; beyond 2^53 they read as bigint here.
    return !Number.isInteger(value) || Number.isSafeInteger(value) || Math.abs(value) >= 1e21;
  }
  if (typeof value === 'string') return value.isWellFormed();
  if (Array.isArray(value)) return value.every(exactForJsonParse);
  if (typeof value === 'object' && value !== null) {
    return Object.keys(value).every((key) => key.isWellFormed() && exactForJsonParse((value as Record<string, unknown>)[key]));
  }
  return true;
}

function withoutNegativeZero(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(withoutNegativeZero);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, {
        value: withoutNegativeZero((value as Record<string, unknown>)[key]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

const number = fc.oneof(
  fc.maxSafeInteger(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((value) => exactForJsonParse(value)),
);

const { json: plainJson } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    number,
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: fc.constantFrom('a', '"', '\\', '/', '\n', '\u0000', '\u001f', '\u007f', '\u2028', 'é', '😀') }),
    fc.array(tie('json'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 6 }), tie('json'), { maxKeys: 5 }),
  ),
}));

const parseAgreement = fc.oneof(plainJson, fc.jsonValue({ stringUnit: 'grapheme' }).filter(exactForJsonParse));

function assertSyntaxError(text: string): void {
  assert.throws(
    () => parseJson(text),
    (error: unknown) => {
      assert.ok(error instanceof JsonSyntaxError, `${JSON.stringify(text)} threw ${String(error)}`);
      assert.equal(error.name, 'JsonSyntaxError');
      assert.equal(typeof error.position, 'number');
      return true;
    },
    JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text),
  );
}

test('J2: hand-picked texts read as JSON.parse reads them', () => {
  const texts = [
    '0',
    '1',
    '-1',
    '1.5',
    '-1.5',
    '0.1',
    '1e3',
    '1E3',
    '1e+3',
    '1e-3',
    '2.5E-7',
    '1.7976931348623157e308',
    '5e-324',
    '9007199254740991',
    '-9007199254740991',
    '123456789012345.5',
    '1e21',
    '"abc"',
    '""',
    '"\\"\\\\\\/\\b\\f\\n\\r\\t"',
    '"\\u0041\\u00e9\\u00E9\\u20ac"',
    '"\\ud83d\\ude00"',
    '"😀é\u2028"',
    'true',
    'false',
    'null',
    '[]',
    '{}',
    '[1,[2,[3,[]]],{}]',
    '{"a":{"b":{"c":[null,true,false]}}}',
    ' \t\n\r{ "a" : [ 1 , 2 ] , "b" : "x" } \n',
    '{"":1}',
    '{"1":1,"b":2,"0":3,"a":4}',
    '{"constructor":1,"toString":"x","hasOwnProperty":null,"valueOf":[]}',
    '{"a":1,"b":2,"a":3}',
  ];
  for (const text of texts) {
    assert.deepEqual(parseJson(text), JSON.parse(text), text);
  }
  // Key order is the one JSON.parse produces, repeated keys included.
  assert.deepEqual(Object.keys(parseJson('{"a":1,"b":2,"a":3}') as object), ['a', 'b']);
  assert.deepEqual(Object.keys(parseJson('{"b":1,"1":2,"a":3,"0":4}') as object), ['0', '1', 'b', 'a']);
});

test('J2 property: parseJson agrees with JSON.parse on every value JSON.parse reads exactly', () => {
  fc.assert(
    fc.property(parseAgreement, (value) => {
      const text = JSON.stringify(value);
      assert.deepEqual(parseJson(text), JSON.parse(text));
      const pretty = JSON.stringify(value, null, 2);
      assert.deepEqual(parseJson(pretty), JSON.parse(pretty));
    }),
    { numRuns: 1500 },
  );
});

/**
 * True when no number in `value` is an integer-valued double beyond 2^53 written by JSON.stringify
 * as rounded digits (2 ** 60 as "1152921504606847000"): the one case where JSON.stringify does not
 * write the value so that it can be read back exactly.
 */
function noRoundedIntegers(value: unknown): boolean {
  if (typeof value === 'number') return !(Number.isInteger(value) && !Number.isSafeInteger(value) && Math.abs(value) < 1e21);
  if (Array.isArray(value)) return value.every(noRoundedIntegers);
  if (typeof value === 'object' && value !== null) return Object.values(value).every(noRoundedIntegers);
  return true;
}

test('J1 property: stringifyJson agrees with JSON.stringify on every value both can write', () => {
  fc.assert(
    fc.property(fc.oneof(plainJson, fc.jsonValue({ stringUnit: 'grapheme' }), fc.jsonValue()), (value) => {
      const text = stringifyJson(value as JsonValue);
      if (noRoundedIntegers(value)) assert.equal(text, JSON.stringify(value));
      // Whatever the value, JSON.parse reads the output as it reads JSON.stringify's.
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
    }),
    { numRuns: 1500 },
  );
});

test('J1/5.5: integer-valued numbers beyond 2^53 are written with their exact digits', () => {
  assert.equal(JSON.stringify(2 ** 60), '1152921504606847000');
  assert.equal(stringifyJson(2 ** 60), '1152921504606846976');
  assert.equal(parseJson(stringifyJson(2 ** 60)), 1152921504606846976n);
  assert.equal(stringifyJson(-(2 ** 60)), '-1152921504606846976');
  assert.equal(stringifyJson(2 ** 53), '9007199254740992');
  assert.equal(stringifyJson(1e20), '100000000000000000000');
  assert.equal(stringifyJson(1e21), '1e+21');
  assert.equal(stringifyJson(2 ** 70), JSON.stringify(2 ** 70));
  assert.equal(stringifyJson(Number.MAX_SAFE_INTEGER), '9007199254740991');
  assert.equal(stringifyJson({ a: [2 ** 63] }), '{"a":[9223372036854775808]}');
  fc.assert(
    fc.property(fc.double({ min: -1e21, max: 1e21, noNaN: true }).filter((value) => Number.isInteger(value) && !Number.isSafeInteger(value) && Math.abs(value) < 1e21), (value) => {
      const text = stringifyJson(value);
      assert.equal(BigInt(text), BigInt(value));
      assert.equal(JSON.parse(text), value);
      assert.equal(parseJson(text), BigInt(value));
    }),
  );
});

test('J1: stringifyJson writes like JSON.stringify for special cases', () => {
  const nullPrototype = Object.create(null) as Record<string, JsonValue>;
  nullPrototype.b = 1;
  nullPrototype.a = [2];
  const withProtoKey = JSON.parse('{"__proto__":{"x":1},"y":2}') as JsonValue;
  const allControls = Array.from({ length: 0x20 }, (_, code) => String.fromCharCode(code)).join('');
  const values: unknown[] = [
    -0,
    0,
    1e21,
    1e-7,
    123.456,
    -1.5e300,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    2 ** 70,
    allControls,
    '"\\/ \u007f \u0080 \u2028 \u2029 é 😀',
    nullPrototype,
    withProtoKey,
    { b: 1, a: 2, 1: 3, 0: 4 },
    [[], {}, [null], { '': '' }],
  ];
  for (const value of values) assert.equal(stringifyJson(value as JsonValue), JSON.stringify(value));
  assert.equal(stringifyJson(allControls), '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"');
  assert.equal(stringifyJson(withProtoKey), '{"__proto__":{"x":1},"y":2}');
});

test('J1: bigints are written as plain digits', () => {
  assert.equal(stringifyJson(5n), '5');
  assert.equal(stringifyJson(-5n), '-5');
  assert.equal(stringifyJson(0n), '0');
  assert.equal(stringifyJson(9223372036854775807n), '9223372036854775807');
  assert.equal(stringifyJson(-9223372036854775808n), '-9223372036854775808');
  assert.equal(stringifyJson({ a: [1n, -(2n ** 70n)] }), '{"a":[1,-1180591620717411303424]}');
});

test('J2: integers beyond 2^53 round trip exactly as bigint', () => {
  const values = [
    2n ** 53n,
    2n ** 53n + 1n,
    -(2n ** 53n),
    -(2n ** 53n) - 1n,
    9007199254740993n,
    9223372036854775807n,
    -9223372036854775808n,
    9223372036854775808n,
    -9223372036854775809n,
    2n ** 64n,
    -(2n ** 70n),
    10n ** 40n,
  ];
  for (const value of values) {
    const back = parseJson(stringifyJson(value));
    assert.equal(typeof back, 'bigint', String(value));
    assert.equal(back, value);
    assert.deepEqual(parseJson(stringifyJson({ v: [value] })), { v: [value] });
  }
});

test('J2 property: every bigint outside the safe range round trips exactly', () => {
  const big = fc
    .bigInt({ min: -(2n ** 80n), max: 2n ** 80n })
    .filter((value) => value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER));
  fc.assert(
    fc.property(big, (value) => {
      assert.equal(parseJson(stringifyJson(value)), value);
    }),
  );
});

test('J2: safe integers come back as number, whatever their written type', () => {
  assert.equal(parseJson('9007199254740991'), 9007199254740991);
  assert.equal(parseJson('-9007199254740991'), -9007199254740991);
  assert.equal(parseJson('9007199254740992'), 9007199254740992n);
  assert.equal(parseJson('-9007199254740992'), -9007199254740992n);
  assert.equal(parseJson(stringifyJson(5n)), 5);
  assert.equal(parseJson(stringifyJson(-(2n ** 53n) + 1n)), -9007199254740991);
  fc.assert(
    fc.property(fc.maxSafeInteger(), (value) => {
      assert.equal(parseJson(String(value)), value);
      assert.equal(parseJson(stringifyJson(BigInt(value))), value);
    }),
  );
});

test('J2: a fraction or exponent gives a number, and -0 reads as 0', () => {
  assert.equal(parseJson('1.0'), 1);
  assert.equal(parseJson('1e3'), 1000);
  assert.equal(parseJson('1E3'), 1000);
  assert.equal(parseJson('1e20'), 1e20);
  assert.equal(typeof parseJson('1e20'), 'number');
  assert.equal(typeof parseJson('100000000000000000000.0'), 'number');
  assert.equal(parseJson('-1.5e2'), -150);
  assert.ok(Object.is(parseJson('-0'), 0));
  assert.ok(Object.is(parseJson('-0.0'), 0));
  assert.ok(Object.is(parseJson('-0e5'), 0));
  assert.ok(Object.is(parseJson('0'), 0));
  assert.ok(Object.is(parseJson('-1e-400'), 0));
  assert.deepEqual(parseJson('[-0,{"a":-0.0}]'), [0, { a: 0 }]);
  assert.ok(Object.is((parseJson('[-0]') as number[])[0], 0));
});

test('J2: a number too large for a double is a syntax error, not Infinity', () => {
  assertSyntaxError('1e400');
  assertSyntaxError('-1e400');
  assertSyntaxError('[1.5e309]');
});

test('J3: __proto__ becomes an own property and leaves the prototype alone', () => {
  const value = parseJson('{"__proto__":{"polluted":true},"a":1}') as Record<string, JsonValue>;
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.ok(Object.hasOwn(value, '__proto__'));
  assert.deepEqual(Object.keys(value), ['__proto__', 'a']);
  assert.equal(value.polluted, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const own = Object.getOwnPropertyDescriptor(value, '__proto__');
  assert.deepEqual(own?.value, { polluted: true });
  assert.equal(own?.enumerable, true);
  assert.deepEqual(value, JSON.parse('{"__proto__":{"polluted":true},"a":1}'));
  // It survives a write and a second read, also nested and in arrays.
  assert.equal(stringifyJson(value), '{"__proto__":{"polluted":true},"a":1}');
  const nested = parseJson('[{"x":{"__proto__":null}}]') as Array<Record<string, Record<string, JsonValue>>>;
  assert.ok(Object.hasOwn(nested[0]?.x as object, '__proto__'));
  assert.equal(Object.getPrototypeOf(nested[0]?.x), Object.prototype);
  assert.equal(stringifyJson(nested as JsonValue), '[{"x":{"__proto__":null}}]');
  // A non-object __proto__ value cannot be confused with a prototype change either.
  const scalar = parseJson('{"__proto__":5}') as Record<string, JsonValue>;
  assert.equal(Object.getPrototypeOf(scalar), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(scalar, '__proto__')?.value, 5);
});

test('J3: a repeated key keeps the last value, also for __proto__', () => {
  assert.deepEqual(parseJson('{"a":1,"a":2}'), { a: 2 });
  assert.deepEqual(parseJson('{"a":{"x":1},"a":[2]}'), { a: [2] });
  assert.deepEqual(parseJson('{"a":1,"b":2,"a":3}'), JSON.parse('{"a":1,"b":2,"a":3}'));
  const twice = parseJson('{"__proto__":1,"__proto__":2}') as Record<string, JsonValue>;
  assert.equal(Object.getOwnPropertyDescriptor(twice, '__proto__')?.value, 2);
  assert.deepEqual(Object.keys(twice), ['__proto__']);
  assert.equal(Object.getPrototypeOf(twice), Object.prototype);
});

test('J4: syntax errors throw JsonSyntaxError', () => {
  const texts = [
    '',
    ' ',
    '1 2',
    '{} x',
    '[1,2]]',
    '"abc',
    '"abc\\"',
    '"a\u0000b"',
    '"a\nb"',
    '"a\tb"',
    '"\u001f"',
    '"\\x41"',
    '"\\a"',
    '"\\u12"',
    '"\\u12G4"',
    '"\\U0041"',
    '"\\ud800"',
    '"\\udc00"',
    '"\\ud800x"',
    '"\\ud800\\u0041"',
    '"\\ude00\\ud83d"',
    '01',
    '-01',
    '00',
    '+1',
    '.5',
    '-.5',
    '5.',
    '1.e3',
    '1e',
    '1e+',
    '-',
    '--1',
    'NaN',
    'Infinity',
    '-Infinity',
    '0x10',
    'tru',
    'True',
    'nul',
    'undefined',
    "'a'",
    '[1,]',
    '[,1]',
    '[1 2]',
    '{"a":1,}',
    '{"a" 1}',
    '{a:1}',
    "{'a':1}",
    '{"a":1 "b":2}',
    '{1:1}',
    '[',
    '{',
    '{"a":',
    '\u00a0 1',
    '\ufeff1',
    '1\u000b',
  ];
  for (const text of texts) assertSyntaxError(text);
});

test('J4: every syntax error JSON.parse reports is a JsonSyntaxError here', () => {
  const tokens = fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '"a"', '1', '-', '.', 'e', '0', ' ', 'null', 'tru', '\\', '\\u', 'd800');
  fc.assert(
    fc.property(fc.array(tokens, { maxLength: 12 }), (parts) => {
      const text = parts.join('');
      let expected: unknown;
      try {
        expected = JSON.parse(text);
      } catch {
        assertSyntaxError(text);
        return;
      }
      // Where JSON.parse is exact, the values agree; -0 is the one deliberate difference (it reads as 0).
      if (exactForJsonParse(expected)) assert.deepEqual(parseJson(text), withoutNegativeZero(expected), text);
    }),
    { numRuns: 5000 },
  );
});

test('J4 property: arbitrary text either parses or throws JsonSyntaxError', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.jsonValue().map((value) => JSON.stringify(value).slice(1))), (text) => {
      try {
        parseJson(text);
      } catch (error) {
        assert.ok(error instanceof JsonSyntaxError, String(error));
      }
    }),
    { numRuns: 3000 },
  );
});

test('J4: very deep nesting throws JsonSyntaxError, not a stack overflow', () => {
  for (const text of ['['.repeat(200_000), '{"a":'.repeat(200_000), `${'['.repeat(200_000)}${']'.repeat(200_000)}`]) {
    assertSyntaxError(text);
  }
});

test('J4: nesting up to 128 levels reads, deeper is a syntax error (the serde_json limit)', () => {
  const arrays = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const objects = (depth: number): string => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
  assert.deepEqual(JSON.parse(arrays(128)), parseJson(arrays(128)));
  assert.deepEqual(JSON.parse(objects(128)), parseJson(objects(128)));
  assert.deepEqual(parseJson(`[${objects(127)}]`), JSON.parse(`[${objects(127)}]`));
  assertSyntaxError(arrays(129));
  assertSyntaxError(objects(129));
  assertSyntaxError(`[${objects(128)}]`);
  // Depth is nesting, not the number of containers.
  const wide = `[${Array.from({ length: 1000 }, () => arrays(100)).join(',')}]`;
  assert.equal((parseJson(wide) as unknown[]).length, 1000);
});

test('JsonReader: number tokens report whether they are integers', () => {
  const cases: Array<[string, boolean]> = [
    ['0', true],
    ['-12', true],
    ['1.0', false],
    ['1e3', false],
    ['-0.5E-2', false],
    ['9223372036854775808', true],
  ];
  for (const [text, integer] of cases) {
    const reader = new JsonReader(` ${text} `);
    assert.deepEqual(reader.readNumberToken(), { text, integer });
    reader.expectEnd();
  }
});

test('jsonEqual: deep equality of normalised values, key order ignored', () => {
  assert.equal(jsonEqual({ a: 1, b: [1, 2, { c: null }] }, { b: [1, 2, { c: null }], a: 1 }), true);
  assert.equal(jsonEqual({ a: 1 }, { a: 1, b: 2 }), false);
  assert.equal(jsonEqual({ a: 1, b: 2 }, { a: 1, c: 2 }), false);
  assert.equal(jsonEqual([1, 2], [2, 1]), false);
  assert.equal(jsonEqual([1, 2], [1, 2, 3]), false);
  assert.equal(jsonEqual([], {}), false);
  assert.equal(jsonEqual({}, []), false);
  assert.equal(jsonEqual(null, {}), false);
  assert.equal(jsonEqual({}, null), false);
  assert.equal(jsonEqual(null, null), true);
  assert.equal(jsonEqual('1', 1), false);
  assert.equal(jsonEqual(true, 1), false);
  assert.equal(jsonEqual(2n ** 64n, 2n ** 64n), true);
  assert.equal(jsonEqual(2n ** 64n, 2n ** 64n + 1n), false);
  assert.equal(jsonEqual({ a: { b: { c: [2n ** 64n] } } }, { a: { b: { c: [2n ** 64n] } } }), true);
  assert.equal(jsonEqual(0, -0), true);
  const nullPrototype = Object.create(null) as Record<string, JsonValue>;
  nullPrototype.x = 1;
  assert.equal(jsonEqual(nullPrototype, { x: 1 }), true);
  const withProto = parseJson('{"__proto__":1}');
  assert.equal(jsonEqual(withProto, parseJson('{"__proto__":1}')), true);
  assert.equal(jsonEqual(withProto, {}), false);
  assert.equal(jsonEqual({}, withProto), false);
  assert.equal(jsonEqual(withProto, { toString: 1 }), false);
  assert.equal(jsonEqual({ a: undefined } as unknown as JsonValue, { b: undefined } as unknown as JsonValue), false);
});

test('jsonEqual: number 1 and bigint 1n differ, and normalisation gives each value one form', () => {
  // 5.5: after normalisation a value has exactly one representation, so comparing the types is
  // correct: a safe integer is always a number, a larger one always a bigint.
  assert.equal(jsonEqual(1, 1n), false);
  assert.equal(jsonEqual(1n, 1), false);
  assert.equal(jsonEqual(1n, 1n), true);
  const normalise = (value: JsonValue): JsonValue => parseJson(stringifyJson(value));
  assert.equal(jsonEqual(normalise(1n), normalise(1)), true);
  assert.equal(jsonEqual(normalise({ a: [5n] }), normalise({ a: [5] })), true);
  assert.equal(jsonEqual(normalise(2 ** 60), normalise(2n ** 60n)), true);
  assert.equal(normalise(2 ** 60), 2n ** 60n);
  assert.equal(jsonEqual(normalise(1.0), normalise(1n)), true);
});

test('jsonEqual property: reflexive, symmetric, order-insensitive, and equal to equality of sorted encodings', () => {
  const bigJson = fc.letrec<{ json: JsonValue }>((tie) => ({
    json: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      fc.integer({ min: -3, max: 3 }),
      fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
      fc.constantFrom(0.5, 1e300),
      fc.constantFrom('', 'a', 'b'),
      fc.array(tie('json'), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom('a', 'b', 'c', '__proto__'), tie('json'), { maxKeys: 3 }),
    ),
  })).json;
  const normalise = (value: JsonValue): JsonValue => parseJson(stringifyJson(value));
  const sortedEncoding = (value: JsonValue): string => {
    if (Array.isArray(value)) return `[${value.map(sortedEncoding).join(',')}]`;
    if (typeof value === 'object' && value !== null) {
      return `{${Object.keys(value)
        .sort()
        .map((key) => `${JSON.stringify(key)}:${sortedEncoding(value[key] as JsonValue)}`)
        .join(',')}}`;
    }
    return stringifyJson(value);
  };
  const reversed = (value: JsonValue): JsonValue => {
    if (Array.isArray(value)) return value.map(reversed);
    if (typeof value === 'object' && value !== null) {
      const out: Record<string, JsonValue> = {};
      for (const key of Object.keys(value).reverse()) {
        Object.defineProperty(out, key, { value: reversed(value[key] as JsonValue), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return value;
  };
  fc.assert(
    fc.property(bigJson, bigJson, (left, right) => {
      const l = normalise(left);
      const r = normalise(right);
      assert.equal(jsonEqual(l, l), true);
      assert.equal(jsonEqual(l, reversed(l)), true);
      assert.equal(jsonEqual(l, r), jsonEqual(r, l));
      assert.equal(jsonEqual(l, r), sortedEncoding(l) === sortedEncoding(r));
    }),
    { numRuns: 3000 },
  );
});

/** Every object (arrays included) inside a value. */
function objectsOf(value: unknown, into = new Set<object>()): Set<object> {
  if (value !== null && typeof value === 'object') {
    into.add(value);
    for (const item of Object.values(value)) objectsOf(item, into);
  }
  return into;
}

test('copyJson property: the same value as structuredClone gives, sharing no object with the original', () => {
  // JSON values with bigints, parsed from text so `__proto__` keys are own properties (J3).
  const text = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom('null', 'true', 'false', '0', '-1.5e3', '9007199254740993', '-92233720368547758080'),
      fc.string().map((item) => JSON.stringify(item)),
      fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
      fc
        .array(fc.tuple(fc.oneof(fc.string({ maxLength: 4 }), fc.constant('__proto__')), tie('value')), { maxLength: 4 })
        .map((members) => `{${members.map(([key, item]) => `${JSON.stringify(key)}:${item}`).join(',')}}`),
    ),
  })).value as fc.Arbitrary<string>;
  fc.assert(
    fc.property(text, (json) => {
      const original = parseJson(json);
      const copy = copyJson(original);
      assert.deepStrictEqual(copy, structuredClone(original));
      assert.equal(stringifyJson(copy), stringifyJson(original));
      const shared = objectsOf(original);
      for (const object of objectsOf(copy)) assert.ok(!shared.has(object), 'the copy shares an object with the original');
    }),
    { numRuns: 500 },
  );
  const withProto = copyJson(parseJson('{"__proto__":{"polluted":true},"a":[1,{"__proto__":2}]}')) as Record<string, JsonValue>;
  assert.ok(Object.hasOwn(withProto, '__proto__'));
  assert.equal(Object.getPrototypeOf(withProto), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
