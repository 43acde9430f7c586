/**
 * The side-by-side model runner (spec/log-engine.md section 13.8, spec/conformance.md B18):
 * random sequences of registerAsset, openAccount, commit, commitBatch, concurrent commits, every
 * read, durableSeq, snapshot, close-and-reopen and (with SimFileSystem) crash-and-reopen, run
 * against a LogStore and a MemoryStore at once. Every answer must match: values deep-equal,
 * errors by code and detail fields.
 *
 * Nothing is normalised away: both clocks are frozen to one shared value (LogStore through
 * `testHooks.clockUs`, MemoryStore through its `clockUs` option) and advanced in lockstep between
 * commands, so even `at` values match exactly. The MemoryStore keeps its state across a "reopen"
 * or a "crash": every command is awaited before the next, so every acknowledged write must
 * survive, and after each reopen the whole state of every book is compared.
 *
 * Tiny settings are drawn per run (segmentMax 0, 64 or 4,096; snapshotEvery 0, 1 or 7;
 * idemHotCap 0, 1 or 4; workers 1 or 2) with one of three backends: worker threads on a real
 * directory, in-process shards on a real directory, or in-process shards on a SimFileSystem.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { StoreError } from '../../src/core/errors.js';
import { LogStore } from '../../src/log/log-store.js';
import { MemoryStore } from '../../src/memory/memory-store.js';
import type { LogStoreOptions } from '../../src/log/options.js';
import { formatAtUs } from '../../src/core/time.js';
import { I64_MAX, I64_MIN, type AccountCfg, type AccountDef, type AssetDef, type Transaction } from '../../src/core/types.js';
import { CRASH_MODES, SimFileSystem, type CrashMode } from './sim-file-system.js';

// --- settings and the world ---------------------------------------------------------------------

export type Backend = 'workers' | 'in-process' | 'sim';

export interface RunSettings {
  backend: Backend;
  workers: 1 | 2;
  segmentMax: number;
  snapshotEvery: number;
  idemHotCap: number;
  simSeed: number;
}

export interface ModelStats {
  runs: number;
  ops: number;
  reopens: number;
  crashes: number;
  byBackend: Record<Backend, number>;
}

export function newStats(): ModelStats {
  return { runs: 0, ops: 0, reopens: 0, crashes: 0, byBackend: { workers: 0, 'in-process': 0, sim: 0 } };
}

const CLOCK_START_US = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

interface World {
  settings: RunSettings;
  stats: ModelStats;
  memory: MemoryStore;
  log: LogStore;
  clock: BigInt64Array;
  dir: string;
  sim: SimFileSystem | null;
  /** Every book name a command has used (valid or not): compared after each reopen. */
  books: Set<string>;
  /** Txids of committed transactions, for transaction() reads. */
  txids: string[];
}

function logOptions(world: Pick<World, 'settings' | 'clock' | 'sim'>): LogStoreOptions {
  const { settings } = world;
  const testHooks: NonNullable<LogStoreOptions['testHooks']> = { clockUs: world.clock };
  if (settings.backend !== 'workers') testHooks.inProcess = true;
  if (world.sim !== null) testHooks.fileSystem = world.sim;
  return {
    workers: settings.workers,
    segmentMax: settings.segmentMax,
    snapshotEvery: settings.snapshotEvery,
    idemHotCap: settings.idemHotCap,
    onWarning: () => undefined,
    testHooks,
  };
}

async function openWorld(settings: RunSettings, stats: ModelStats): Promise<World> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-model-'));
  const clock = new BigInt64Array(new SharedArrayBuffer(8));
  Atomics.store(clock, 0, BigInt(CLOCK_START_US));
  const sim = settings.backend === 'sim' ? new SimFileSystem({ seed: settings.simSeed, directories: [dir] }) : null;
  const memory = new MemoryStore({ clockUs: () => Number(Atomics.load(clock, 0)), onWarning: () => undefined });
  const world = { settings, stats, memory, clock, dir, sim, books: new Set<string>(), txids: [] } as Omit<World, 'log'> as World;
  world.log = await LogStore.open(dir, logOptions(world));
  return world;
}

async function closeWorld(world: World): Promise<void> {
  await world.log.close();
  await world.memory.close();
  fs.rmSync(world.dir, { recursive: true, force: true });
}

// --- answers ------------------------------------------------------------------------------------

type Answer = { ok: true; value: unknown } | { ok: false; code: string; details: Record<string, unknown> };

function errorAnswer(error: unknown): Answer {
  if (!(error instanceof StoreError)) throw error; // anything else escaping a store is a bug
  const details: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(error)) {
    if (name !== 'code' && name !== 'name' && name !== 'message' && name !== 'stack' && name !== 'cause') details[name] = value;
  }
  return { ok: false, code: error.code, details };
}

async function settle(call: () => unknown): Promise<Answer> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    return errorAnswer(error);
  }
}

function show(value: unknown): string {
  return JSON.stringify(value, (_, item: unknown) => (typeof item === 'bigint' ? `${item}n` : item === undefined ? '<undefined>' : item));
}

/** Runs one call on both stores and requires the same answer. */
async function same(world: World, what: string, onMemory: () => unknown, onLog: () => unknown): Promise<Answer> {
  const expected = await settle(onMemory);
  const actual = await settle(onLog);
  assert.deepStrictEqual(actual, expected, `${what}: LogStore answered ${show(actual)}, MemoryStore ${show(expected)} (${describeSettings(world.settings)})`);
  return expected;
}

export function describeSettings(settings: RunSettings): string {
  return `backend ${settings.backend}, workers ${settings.workers}, segmentMax ${settings.segmentMax}, snapshotEvery ${settings.snapshotEvery}, idemHotCap ${settings.idemHotCap}${settings.backend === 'sim' ? `, sim seed ${settings.simSeed}` : ''}`;
}

// --- value pools --------------------------------------------------------------------------------

const ASSET_DEFS: Record<string, AssetDef[]> = {
  USD: [
    { id: 'USD', class: 'fiat', precision: 2, name: 'US dollar' },
    { id: 'USD', class: 'fiat', precision: 3, name: 'US dollar' },
  ],
  EUR: [{ id: 'EUR', class: 'fiat', precision: 2, name: 'Euro' }],
  BTC: [
    { id: 'BTC', class: { crypto: { network: 'bitcoin', native_id: null } }, precision: 8, name: 'Bitcoin' },
    { id: 'BTC', class: { crypto: { network: 'bitcoin', native_id: 'btc' } }, precision: 8, name: 'Bitcoin' },
  ],
};
const ASSET_IDS = ['USD', 'EUR', 'BTC', 'JPY'] as const; // JPY is never registered

const PATHS = ['cash', 'rev', 'loan'] as const;
/** The usual definition of each path, so re-opening an account is often identical. */
const USUAL: Record<(typeof PATHS)[number], { asset: string; kind: AccountDef['kind']; cfg: AccountCfg }> = {
  cash: { asset: 'USD', kind: 'asset', cfg: { normal_side: 'debit', min_balance: 0n } },
  rev: { asset: 'USD', kind: 'income', cfg: { normal_side: 'credit', min_balance: null } },
  loan: { asset: 'EUR', kind: 'liability', cfg: { normal_side: 'credit', min_balance: -1000n } },
};
const FIXED_TXIDS = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-00000000000A'];

const bookArb = fc.oneof(
  { arbitrary: fc.constantFrom('a', 'b'), weight: 12 },
  { arbitrary: fc.constantFrom('B', 'c.1'), weight: 2 },
  { arbitrary: fc.constantFrom('_sys', '_system', 'bad book', '', '..'), weight: 1 },
);
const pathArb = fc.constantFrom(...PATHS);
const minorArb = fc.oneof(
  { arbitrary: fc.constantFrom(1n, 5n, 20n, 100n, 700n), weight: 12 },
  { arbitrary: fc.constantFrom(0n, -3n, I64_MAX, I64_MAX - 1n, I64_MIN, 1n << 62n), weight: 2 },
  { arbitrary: fc.constantFrom(1.5, Number.NaN, 2 ** 60, 7) as fc.Arbitrary<unknown>, weight: 1 },
);
const metadataArb = fc.constantFrom<unknown>(null, { n: 1 }, { n: 2n ** 60n, list: [1, 'x', null] }, { b: true, a: { z: -0.5 } }, 'text');
const refsArb = fc.constantFrom([], [{ kind: 'invoice', value: 'INV-1' }], [{ kind: 'invoice', value: 'INV-2' }]);
const occurredArb = fc.constantFrom('2026-01-01T00:00:00Z', '2026-01-01T02:00:00.123456789+02:00', 'not a time');
const txidArb = fc.oneof({ arbitrary: fc.uuid({ version: [4, 7] }), weight: 6 }, { arbitrary: fc.constantFrom(...FIXED_TXIDS), weight: 2 }, { arbitrary: fc.constant('not-a-uuid'), weight: 1 });
const keyArb = fc.constantFrom('k0', 'k1', 'k2', 'k3', 'k4', 'k5');
const assetOfArb = (pathName: (typeof PATHS)[number]): fc.Arbitrary<string> =>
  fc.oneof({ arbitrary: fc.constant(USUAL[pathName].asset), weight: 8 }, { arbitrary: fc.constantFrom(...ASSET_IDS), weight: 1 });

const postingArb = (book: string): fc.Arbitrary<unknown> =>
  fc
    .record({
      otherBook: fc.oneof({ arbitrary: fc.constant(null), weight: 9 }, { arbitrary: bookArb, weight: 1 }),
      path: pathArb,
      minor: minorArb,
      direction: fc.constantFrom('debit', 'credit'),
    })
    .chain(({ otherBook, path: pathName, minor, direction }) =>
      assetOfArb(pathName).map((asset) => ({ account: { book: otherBook ?? book, path: pathName }, amount: { minor, asset }, direction })),
    );

/** A balanced transfer most of the time; otherwise one to three arbitrary postings. */
const postingsArb = (book: string): fc.Arbitrary<unknown[]> =>
  fc.oneof(
    {
      arbitrary: fc.record({ from: pathArb, to: pathArb, minor: minorArb }).chain(({ from, to, minor }) =>
        assetOfArb(from).map((asset) => [
          { account: { book, path: from }, amount: { minor, asset }, direction: 'debit' },
          { account: { book, path: to }, amount: { minor, asset }, direction: 'credit' },
        ]),
      ),
      weight: 7,
    },
    { arbitrary: fc.array(postingArb(book), { minLength: 1, maxLength: 3 }), weight: 3 },
  );

const txArb = (txids: fc.Arbitrary<string>): fc.Arbitrary<Transaction> =>
  bookArb.chain((book) =>
    fc.record({
      id: txids,
      book: fc.constant(book),
      postings: postingsArb(book),
      idempotency_key: keyArb,
      external_refs: refsArb,
      metadata: metadataArb,
      occurred_at: occurredArb,
    }),
  ) as unknown as fc.Arbitrary<Transaction>;

const asOfArb = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 3000 }).map((offset) => formatAtUs(CLOCK_START_US + offset)), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 3 }).map((ms) => new Date(CLOCK_START_US / 1000 + ms)), weight: 1 },
  { arbitrary: fc.constantFrom<unknown>(null, 'yesterday', new Date(Number.NaN)), weight: 1 },
);

// --- commands -----------------------------------------------------------------------------------

type Body = (world: World) => Promise<void>;

class Op implements fc.AsyncCommand<World, World> {
  constructor(
    readonly name: string,
    readonly params: unknown,
    readonly advanceUs: number,
    readonly body: Body,
  ) {}

  check(): boolean {
    return true;
  }

  async run(_model: World, world: World): Promise<void> {
    world.stats.ops++;
    // Both clocks move together; 0 keeps `at` equal to the previous commit's.
    Atomics.store(world.clock, 0, Atomics.load(world.clock, 0) + BigInt(this.advanceUs));
    await this.body(world);
  }

  toString(): string {
    return `${this.name}(${show(this.params)})`;
  }
}

const advanceArb = fc.constantFrom(0, 1, 1, 3, 50);

function command<T>(name: string, params: fc.Arbitrary<T>, body: (world: World, params: T) => Promise<void>): fc.Arbitrary<Op> {
  return fc.tuple(params, advanceArb).map(([value, advance]) => new Op(name, value, advance, (world) => body(world, value)));
}

function noteTxids(world: World, answer: Answer): void {
  if (answer.ok && typeof answer.value === 'object' && answer.value !== null && 'txid' in answer.value) world.txids.push((answer.value as { txid: string }).txid);
}

const registerAssetCmd = command(
  'registerAsset',
  fc.oneof(
    fc.constantFrom(...ASSET_DEFS.USD!, ...ASSET_DEFS.EUR!, ...ASSET_DEFS.BTC!),
    fc.constantFrom<unknown>({ id: 'BAD', class: 'fiat', precision: 300, name: 'x' }, { id: 'BAD', class: 'paper', precision: 2, name: 'x' }),
  ),
  async (world, def) => {
    await same(world, `registerAsset ${show(def)}`, () => world.memory.registerAsset(def as AssetDef), () => world.log.registerAsset(def as AssetDef));
  },
);

const openAccountCmd = command(
  'openAccount',
  fc.record({
    book: bookArb,
    path: pathArb,
    usual: fc.boolean(),
    asset: fc.constantFrom(...ASSET_IDS),
    kind: fc.constantFrom<AccountDef['kind']>('asset', 'liability', 'income', 'clearing'),
    side: fc.constantFrom<AccountCfg['normal_side']>('debit', 'credit', null),
    min: fc.constantFrom<bigint | null>(null, 0n, -100n, 50n),
  }),
  async (world, params) => {
    world.books.add(params.book);
    const usual = USUAL[params.path];
    const def: AccountDef = { id: { book: params.book, path: params.path }, asset: params.usual ? usual.asset : params.asset, kind: params.usual ? usual.kind : params.kind };
    const cfg: AccountCfg = params.usual ? { ...usual.cfg } : { normal_side: params.side, min_balance: params.min };
    await same(world, `openAccount ${show(def)} ${show(cfg)}`, () => world.memory.openAccount(def, cfg), () => world.log.openAccount(def, cfg));
  },
);

const commitCmd = command('commit', txArb(txidArb), async (world, tx) => {
  world.books.add(tx.book);
  noteTxids(world, await same(world, `commit ${show(tx)}`, () => world.memory.commit(structuredClone(tx)), () => world.log.commit(structuredClone(tx))));
});

const commitBatchCmd = command('commitBatch', fc.array(txArb(txidArb), { maxLength: 5 }), async (world, txs) => {
  for (const tx of txs) world.books.add(tx.book);
  const answer = await same(world, `commitBatch ${show(txs)}`, () => world.memory.commitBatch(structuredClone(txs)), () => world.log.commitBatch(structuredClone(txs)));
  if (answer.ok) for (const slot of answer.value as Array<{ ok: boolean; value?: { txid: string } }>) if (slot.ok) world.txids.push(slot.value!.txid);
});

/**
 * Several commits in flight at once on the LogStore (they share batches), one after another on
 * the MemoryStore, in call order. Fresh txids only: of concurrent first uses of one txid in two
 * books, the contract allows either to win.
 */
const concurrentCmd = command('concurrentCommits', fc.array(txArb(fc.uuid({ version: 4 })), { minLength: 2, maxLength: 4 }), async (world, txs) => {
  for (const tx of txs) world.books.add(tx.book);
  const expected: Answer[] = [];
  for (const tx of txs) expected.push(await settle(() => world.memory.commit(structuredClone(tx))));
  const actual = await Promise.all(txs.map((tx) => settle(() => world.log.commit(structuredClone(tx)))));
  assert.deepStrictEqual(actual, expected, `concurrent commits ${show(txs)}: LogStore answered ${show(actual)}, MemoryStore ${show(expected)} (${describeSettings(world.settings)})`);
  for (const answer of expected) noteTxids(world, answer);
});

const accountArgArb = fc.record({ book: bookArb, path: fc.oneof({ arbitrary: pathArb, weight: 9 }, { arbitrary: fc.constant('ghost'), weight: 1 }) });

const balanceCmd = command('balance', fc.record({ account: accountArgArb, asOf: asOfArb }), async (world, { account, asOf }) => {
  await same(world, `balance ${show(account)} asOf ${show(asOf)}`, () => world.memory.balance(account, asOf as string), () => world.log.balance(account, asOf as string));
});

const historyCmd = command(
  'accountHistory',
  fc.record({ account: accountArgArb, after: fc.constantFrom<number | null>(null, 0, 1, 3, 8, -1), limit: fc.constantFrom(0, 1, 2, 100, 1.5) }),
  async (world, { account, after, limit }) => {
    await same(world, `accountHistory ${show(account)} ${after} ${limit}`, () => world.memory.accountHistory(account, after, limit), () => world.log.accountHistory(account, after, limit));
  },
);

const trialBalanceCmd = command('trialBalance', fc.record({ book: bookArb, asOf: asOfArb }), async (world, { book, asOf }) => {
  await same(world, `trialBalance ${book} asOf ${show(asOf)}`, () => world.memory.trialBalance(book, asOf as string), () => world.log.trialBalance(book, asOf as string));
});

const readEventsCmd = command(
  'readEvents',
  fc.record({ book: fc.oneof(bookArb, fc.constant('_system')), from: fc.constantFrom(0, 1, 2, 5, -1), limit: fc.constantFrom(0, 1, 3, 1000) }),
  async (world, { book, from, limit }) => {
    await same(world, `readEvents ${book} ${from} ${limit}`, () => world.memory.readEvents(book, from, limit), () => world.log.readEvents(book, from, limit));
  },
);

const transactionCmd = command('transaction', fc.record({ pick: fc.nat(), kind: fc.constantFrom('known', 'known', 'fixed', 'bad', 'upper') }), async (world, { pick, kind }) => {
  let txid: string;
  if (kind === 'bad') txid = 'nope';
  else if (kind === 'fixed' || world.txids.length === 0) txid = FIXED_TXIDS[pick % FIXED_TXIDS.length]!;
  else txid = world.txids[pick % world.txids.length]!;
  if (kind === 'upper') txid = txid.toUpperCase();
  await same(world, `transaction ${txid}`, () => world.memory.transaction(txid), () => world.log.transaction(txid));
});

const assetCmd = command('asset', fc.constantFrom<unknown>(...ASSET_IDS, 42), async (world, id) => {
  await same(world, `asset ${show(id)}`, () => world.memory.asset(id as string), () => world.log.asset(id as string));
});

/** durableSeq equals the model's number of events (it throws like readEvents for a bad name). */
async function expectedDurableSeq(world: World, book: string): Promise<number> {
  await world.memory.readEvents(book, 0, 0);
  return (await world.memory.readEvents(book, 0, Number.MAX_SAFE_INTEGER)).length;
}

const durableSeqCmd = command('durableSeq', fc.oneof(bookArb, fc.constant('_system')), async (world, book) => {
  await same(world, `durableSeq ${book}`, () => expectedDurableSeq(world, book), () => world.log.durableSeq(book));
});

/** snapshot(book): resolves for a book with events, INVALID_ARGUMENT for one without. */
const snapshotCmd = command('snapshot', fc.oneof(bookArb, fc.constant('_system')), async (world, book) => {
  const expected = async (): Promise<void> => {
    const events = await world.memory.readEvents(book, 0, 1);
    if (events.length === 0) throw StoreError.invalidArgument('book', `book ${book} does not exist`);
  };
  await same(world, `snapshot ${book}`, expected, () => world.log.snapshot(book));
});

/** After a reopen or a crash: every book's events, trial balance and balances equal the model's. */
async function compareEverything(world: World, what: string): Promise<void> {
  for (const book of ['_system', ...world.books]) {
    await same(world, `${what}: readEvents ${book}`, () => world.memory.readEvents(book, 0, 1_000_000), () => world.log.readEvents(book, 0, 1_000_000));
    await same(world, `${what}: durableSeq ${book}`, () => expectedDurableSeq(world, book), () => world.log.durableSeq(book));
    await same(world, `${what}: trialBalance ${book}`, () => world.memory.trialBalance(book), () => world.log.trialBalance(book));
    for (const pathName of PATHS) {
      const account = { book, path: pathName };
      await same(world, `${what}: balance ${book}:${pathName}`, () => world.memory.balance(account), () => world.log.balance(account));
      await same(world, `${what}: history ${book}:${pathName}`, () => world.memory.accountHistory(account, null, 1_000_000), () => world.log.accountHistory(account, null, 1_000_000));
    }
  }
  for (const txid of world.txids) {
    await same(world, `${what}: transaction ${txid}`, () => world.memory.transaction(txid), () => world.log.transaction(txid));
  }
}

const reopenCmd = command('closeAndReopen', fc.constant(null), async (world) => {
  world.stats.reopens++;
  await world.log.close();
  await same(world, 'commit after close', () => Promise.reject(StoreError.closed()), () => world.log.commit({} as Transaction));
  world.log = await LogStore.open(world.dir, logOptions(world));
  await compareEverything(world, 'after reopening');
});

/** SimFileSystem only: power loss between commands; nothing acknowledged may be lost. */
const crashCmd = command('crashAndReopen', fc.record({ mode: fc.constantFrom<CrashMode>(...CRASH_MODES), dirs: fc.constantFrom('random', 'applied', 'lost' as const) }), async (world, { mode, dirs }) => {
  if (world.sim === null) return;
  world.stats.crashes++;
  const image = world.sim.crash(mode, dirs);
  await world.log.close();
  world.sim = image;
  world.log = await LogStore.open(world.dir, logOptions(world));
  await compareEverything(world, `after a ${mode} crash (directories ${dirs})`);
});

export const commandArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: commitCmd, weight: 24 },
  { arbitrary: openAccountCmd, weight: 10 },
  { arbitrary: registerAssetCmd, weight: 4 },
  { arbitrary: commitBatchCmd, weight: 8 },
  { arbitrary: concurrentCmd, weight: 4 },
  { arbitrary: balanceCmd, weight: 4 },
  { arbitrary: historyCmd, weight: 3 },
  { arbitrary: trialBalanceCmd, weight: 3 },
  { arbitrary: readEventsCmd, weight: 3 },
  { arbitrary: transactionCmd, weight: 2 },
  { arbitrary: assetCmd, weight: 1 },
  { arbitrary: durableSeqCmd, weight: 2 },
  { arbitrary: snapshotCmd, weight: 3 },
  { arbitrary: reopenCmd, weight: 2 },
  { arbitrary: crashCmd, weight: 2 },
);

/** A seeded opening: most runs register USD and EUR and open the usual accounts of a and b. */
const preludeArb = fc.boolean();

export const settingsArb = (backends: readonly Backend[]): fc.Arbitrary<RunSettings> =>
  fc.record({
    backend: fc.constantFrom(...backends),
    workers: fc.constantFrom<1 | 2>(1, 2),
    segmentMax: fc.constantFrom(0, 64, 4096),
    snapshotEvery: fc.constantFrom(0, 1, 7),
    idemHotCap: fc.constantFrom(0, 1, 4),
    simSeed: fc.nat(),
  });

async function prelude(world: World): Promise<void> {
  for (const def of [ASSET_DEFS.USD![0]!, ASSET_DEFS.EUR![0]!]) {
    await same(world, 'prelude registerAsset', () => world.memory.registerAsset(def), () => world.log.registerAsset(def));
  }
  for (const book of ['a', 'b']) {
    world.books.add(book);
    for (const pathName of PATHS) {
      const usual = USUAL[pathName];
      const def: AccountDef = { id: { book, path: pathName }, asset: usual.asset, kind: usual.kind };
      await same(world, 'prelude openAccount', () => world.memory.openAccount(def, usual.cfg), () => world.log.openAccount(def, usual.cfg));
    }
    // Fund cash so that later debits can pass its minimum.
    const tx = {
      id: '00000000-0000-4000-8000-0000000000f' + (book === 'a' ? '1' : '2'),
      book,
      postings: [
        { account: { book, path: 'cash' }, amount: { minor: 1000n, asset: 'USD' }, direction: 'debit' as const },
        { account: { book, path: 'rev' }, amount: { minor: 1000n, asset: 'USD' }, direction: 'credit' as const },
      ],
      idempotency_key: 'fund',
      external_refs: [],
      metadata: null,
      occurred_at: '2026-01-01T00:00:00Z',
    };
    noteTxids(world, await same(world, 'prelude fund', () => world.memory.commit(structuredClone(tx)), () => world.log.commit(structuredClone(tx))));
  }
}

export interface ModelCheckOptions {
  numRuns: number;
  maxCommands: number;
  seed?: number;
  backends?: readonly Backend[];
  /** Called after each run (for progress output). */
  onRun?: (stats: ModelStats) => void;
  /** fast-check's per-run timeout in ms. */
  timeoutMs?: number;
}

/** Runs the property; throws fast-check's report (with seed and counterexample) on a failure. */
export async function runModelCheck(options: ModelCheckOptions): Promise<{ stats: ModelStats; seed: number }> {
  const stats = newStats();
  const seed = options.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
  const backends = options.backends ?? ['workers', 'in-process', 'sim'];
  const property = fc.asyncProperty(
    settingsArb(backends),
    preludeArb,
    fc.commands([commandArb], { maxCommands: options.maxCommands, size: 'max' }),
    async (settings, withPrelude, commands) => {
      const world = await openWorld(settings, stats);
      try {
        if (withPrelude) await prelude(world);
        await fc.asyncModelRun(() => ({ model: world, real: world }), commands);
        // Every run ends with a clean reopen and a full comparison.
        await world.log.close();
        world.log = await LogStore.open(world.dir, logOptions(world));
        await compareEverything(world, 'at the end of the run');
      } finally {
        await closeWorld(world);
        stats.runs++;
        stats.byBackend[settings.backend]++;
        options.onRun?.(stats);
      }
    },
  );
  await fc.assert(property, { numRuns: options.numRuns, seed, timeout: options.timeoutMs ?? 120_000 });
  return { stats, seed };
}
