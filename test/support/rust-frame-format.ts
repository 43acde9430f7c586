/**
 * What the Rust store's frame reader accepts, written down independently of this package's codec,
 * so a test can check every frame this package writes without trusting the code under test
 * (spec/store-contract.md, sections 5.1 to 5.5; spec/log-engine.md, section 3.2).
 *
 * The Rust store decodes a payload with serde_json into `Sequenced<LedgerEvent>`:
 *   - strict JSON (RFC 8259): no raw control characters in strings, no lone surrogate in a `\u`
 *     escape, numbers as `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`;
 *   - at most 128 nested arrays and objects (serde_json's recursion limit);
 *   - structs with their named fields, each at most once (a repeated field is an error), enums by
 *     their snake_case tags; `seq`, `minor` and `min_balance` are i64, `precision` is u8;
 *   - `metadata` is a serde_json Value: an integer token is held exactly only inside
 *     [-2^63, 2^64 - 1] (beyond, serde_json reads a float), a float token must be finite as f64;
 *   - `at` and `occurred_at` are chrono DateTime<Utc>: RFC 3339 with an optional fraction of up to
 *     9 digits and `Z` or an offset.
 * Unknown fields would be ignored by serde; this check refuses them anyway, since this package
 * writes exactly the reference's fields. `rustFrameProblems` lists every rule a payload breaks.
 */

type Node =
  | { type: 'object'; entries: Array<[string, Node]> }
  | { type: 'array'; items: Node[] }
  | { type: 'string'; value: string }
  | { type: 'number'; text: string }
  | { type: 'boolean' }
  | { type: 'null' };

export const SERDE_JSON_DEPTH_MAX = 128;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;
const NUMBER = /^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))$/;
/** What this package writes for `at`: UTC with exactly six fractional digits. */
const AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const ACCOUNT_KINDS = ['asset', 'liability', 'income', 'expense', 'equity', 'clearing'];

class Parser {
  position = 0;
  depthMax = 0;
  #depth = 0;
  constructor(readonly text: string) {}

  fail(message: string): never {
    throw new Error(`${message} at character ${this.position}`);
  }

  parse(): Node {
    const node = this.value();
    if (this.position !== this.text.length) this.fail('data after the value');
    return node;
  }

  value(): Node {
    const char = this.text[this.position];
    if (char === '{' || char === '[') {
      this.#depth++;
      this.depthMax = Math.max(this.depthMax, this.#depth);
      const node = char === '{' ? this.object() : this.array();
      this.#depth--;
      return node;
    }
    if (char === '"') return { type: 'string', value: this.string() };
    for (const [word, node] of [['true', { type: 'boolean' }], ['false', { type: 'boolean' }], ['null', { type: 'null' }]] as const) {
      if (this.text.startsWith(word, this.position)) {
        this.position += word.length;
        return node;
      }
    }
    const match = NUMBER.exec(this.text.slice(this.position));
    if (match === null) this.fail('not a JSON value');
    this.position += match[0].length;
    return { type: 'number', text: match[0] };
  }

  object(): Node {
    this.position++;
    const entries: Array<[string, Node]> = [];
    if (this.text[this.position] === '}') {
      this.position++;
      return { type: 'object', entries };
    }
    for (;;) {
      if (this.text[this.position] !== '"') this.fail('expected a key');
      const key = this.string();
      if (this.text[this.position++] !== ':') this.fail('expected ":"');
      entries.push([key, this.value()]);
      const next = this.text[this.position++];
      if (next === '}') return { type: 'object', entries };
      if (next !== ',') this.fail('expected "," or "}"');
    }
  }

  array(): Node {
    this.position++;
    const items: Node[] = [];
    if (this.text[this.position] === ']') {
      this.position++;
      return { type: 'array', items };
    }
    for (;;) {
      items.push(this.value());
      const next = this.text[this.position++];
      if (next === ']') return { type: 'array', items };
      if (next !== ',') this.fail('expected "," or "]"');
    }
  }

  string(): string {
    this.position++;
    let value = '';
    for (;;) {
      const code = this.text.charCodeAt(this.position);
      if (Number.isNaN(code)) this.fail('unterminated string');
      this.position++;
      if (code === 0x22) break;
      if (code < 0x20) this.fail('raw control character in a string');
      if (code !== 0x5c) {
        value += String.fromCharCode(code);
        continue;
      }
      const escape = this.text[this.position++];
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (escape !== undefined && escape in simple) value += simple[escape];
      else if (escape === 'u') {
        const hex = this.text.slice(this.position, this.position + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
        this.position += 4;
        value += String.fromCharCode(parseInt(hex, 16));
      } else this.fail('bad escape');
    }
    // serde_json refuses a lone surrogate, escaped or not (raw ones cannot occur in UTF-8 input).
    if (!value.isWellFormed()) this.fail('lone surrogate in a string');
    return value;
  }
}

/** Every rule of the Rust frame format that `payload` (the UTF-8 text of one frame) breaks. */
export function rustFrameProblems(payload: string): string[] {
  const problems: string[] = [];
  let root: Node;
  const parser = new Parser(payload);
  try {
    root = parser.parse();
  } catch (error) {
    return [`not strict JSON: ${(error as Error).message}`];
  }
  if (parser.depthMax > SERDE_JSON_DEPTH_MAX) problems.push(`nests ${parser.depthMax} levels, beyond serde_json's ${SERDE_JSON_DEPTH_MAX}`);

  const fields = (node: Node | undefined, where: string, names: readonly string[]): Map<string, Node> => {
    const map = new Map<string, Node>();
    if (node?.type !== 'object') {
      problems.push(`${where} is not an object`);
      return map;
    }
    for (const [key, value] of node.entries) {
      if (map.has(key)) problems.push(`${where}.${key} appears twice`);
      if (!names.includes(key)) problems.push(`${where}.${key} is not a field`);
      map.set(key, value);
    }
    for (const name of names) if (!map.has(name)) problems.push(`${where}.${name} is missing`);
    return map;
  };
  const string = (node: Node | undefined, where: string, pattern?: RegExp): void => {
    if (node?.type !== 'string') problems.push(`${where} is not a string`);
    else if (pattern !== undefined && !pattern.test(node.value)) problems.push(`${where} ${JSON.stringify(node.value)} has the wrong form`);
  };
  const oneOf = (node: Node | undefined, where: string, values: readonly string[]): void => {
    if (node?.type !== 'string' || !values.includes(node.value)) problems.push(`${where} is not one of ${values.join(', ')}`);
  };
  const integer = (node: Node | undefined, where: string, min: bigint, max: bigint): void => {
    if (node?.type !== 'number' || !/^-?\d+$/.test(node.text)) problems.push(`${where} is not an integer token`);
    else if (BigInt(node.text) < min || BigInt(node.text) > max) problems.push(`${where} ${node.text} is outside [${min}, ${max}]`);
  };
  const nullOr = (node: Node | undefined, check: (node: Node | undefined) => void): void => {
    if (node?.type !== 'null') check(node);
  };
  const time = (node: Node | undefined, where: string, pattern: RegExp): void => {
    string(node, where, pattern);
    const match = node?.type === 'string' ? RFC3339.exec(node.value) : null;
    if (match === null) return void (node?.type === 'string' && problems.push(`${where} is not RFC 3339`));
    const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = match.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
    const valid =
      month! >= 1 && month! <= 12 && day! >= 1 && day! <= new Date(Date.UTC(year!, month!, 0)).getUTCDate() &&
      hour! <= 23 && minute! <= 59 && second! <= 59 && offsetHours! <= 23 && offsetMinutes! <= 59;
    if (!valid) problems.push(`${where} is not a valid date and time`);
  };
  const metadata = (node: Node, where: string): void => {
    if (node.type === 'number') {
      if (/^-?\d+$/.test(node.text)) {
        const value = BigInt(node.text);
        if (value < I64_MIN || value > U64_MAX) problems.push(`${where} ${node.text} is an integer serde_json cannot hold exactly`);
      } else if (!Number.isFinite(Number(node.text))) {
        problems.push(`${where} ${node.text} is not a finite f64`);
      }
    } else if (node.type === 'array') {
      node.items.forEach((item, index) => metadata(item, `${where}[${index}]`));
    } else if (node.type === 'object') {
      for (const [key, value] of node.entries) metadata(value, `${where}.${key}`);
    }
  };
  const accountId = (node: Node | undefined, where: string): void => {
    const id = fields(node, where, ['book', 'path']);
    string(id.get('book'), `${where}.book`);
    string(id.get('path'), `${where}.path`);
  };

  const top = fields(root, 'payload', ['seq', 'at', 'event']);
  integer(top.get('seq'), 'seq', 1n, I64_MAX);
  time(top.get('at'), 'at', AT);
  const eventNode = top.get('event');
  const kind = eventNode?.type === 'object' ? eventNode.entries.find(([key]) => key === 'kind')?.[1] : undefined;
  const kindName = kind?.type === 'string' ? kind.value : null;
  if (kindName === 'asset_registered') {
    const event = fields(eventNode, 'event', ['kind', 'id', 'class', 'precision', 'name']);
    string(event.get('id'), 'event.id');
    const assetClass = event.get('class');
    if (assetClass?.type !== 'string' || assetClass.value !== 'fiat') {
      const crypto = fields(fields(assetClass, 'event.class', ['crypto']).get('crypto'), 'event.class.crypto', ['network', 'native_id']);
      string(crypto.get('network'), 'event.class.crypto.network');
      nullOr(crypto.get('native_id'), (node) => string(node, 'event.class.crypto.native_id'));
    }
    integer(event.get('precision'), 'event.precision', 0n, 255n);
    string(event.get('name'), 'event.name');
  } else if (kindName === 'account_opened') {
    const event = fields(eventNode, 'event', ['kind', 'def', 'cfg']);
    const def = fields(event.get('def'), 'event.def', ['id', 'asset', 'kind']);
    accountId(def.get('id'), 'event.def.id');
    string(def.get('asset'), 'event.def.asset');
    oneOf(def.get('kind'), 'event.def.kind', ACCOUNT_KINDS);
    const cfg = fields(event.get('cfg'), 'event.cfg', ['normal_side', 'min_balance']);
    nullOr(cfg.get('normal_side'), (node) => oneOf(node, 'event.cfg.normal_side', ['debit', 'credit']));
    nullOr(cfg.get('min_balance'), (node) => integer(node, 'event.cfg.min_balance', I64_MIN, I64_MAX));
  } else if (kindName === 'transaction_posted') {
    const event = fields(eventNode, 'event', ['kind', 'id', 'book', 'postings', 'idempotency_key', 'external_refs', 'metadata', 'occurred_at']);
    string(event.get('id'), 'event.id', UUID);
    string(event.get('book'), 'event.book');
    const postings = event.get('postings');
    if (postings?.type !== 'array') problems.push('event.postings is not an array');
    else {
      postings.items.forEach((item, index) => {
        const where = `event.postings[${index}]`;
        const posting = fields(item, where, ['account', 'amount', 'direction']);
        accountId(posting.get('account'), `${where}.account`);
        const amount = fields(posting.get('amount'), `${where}.amount`, ['minor', 'asset']);
        integer(amount.get('minor'), `${where}.amount.minor`, I64_MIN, I64_MAX);
        string(amount.get('asset'), `${where}.amount.asset`);
        oneOf(posting.get('direction'), `${where}.direction`, ['debit', 'credit']);
      });
    }
    string(event.get('idempotency_key'), 'event.idempotency_key');
    const refs = event.get('external_refs');
    if (refs?.type !== 'array') problems.push('event.external_refs is not an array');
    else {
      refs.items.forEach((item, index) => {
        const ref = fields(item, `event.external_refs[${index}]`, ['kind', 'value']);
        string(ref.get('kind'), `event.external_refs[${index}].kind`);
        string(ref.get('value'), `event.external_refs[${index}].value`);
      });
    }
    const meta = event.get('metadata');
    if (meta !== undefined) metadata(meta, 'event.metadata');
    time(event.get('occurred_at'), 'event.occurred_at', RFC3339);
  } else {
    problems.push(`event.kind is ${kindName === null ? 'missing' : JSON.stringify(kindName)}, not an event of the Rust store`);
  }
  return problems;
}
