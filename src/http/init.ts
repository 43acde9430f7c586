/**
 * `talea-log init`: open or create the store, apply a seed file, write an env file
 * (spec/http-api.md section 2; the reference's `talead init` and `talea.seed.toml`).
 *
 * I1. The seed file is TOML: `[[assets]]` (`id`, `class` = "fiat" or `{ crypto = { network,
 *     native_id? } }`, `precision` 0..255, `name`) and `[[accounts]]` (`book`, `path`, `asset`,
 *     `kind`, optional `normal_side` and `min_balance`). Unknown fields, blank ids, names, books,
 *     paths or assets, reserved books and duplicates are refused before the store is touched,
 *     with a message naming the entry.
 * I2. Applying is idempotent: an asset already registered identically is counted as existing, a
 *     different definition stops with a message naming the difference; accounts are opened with
 *     the store's tolerate-identical rule. An account whose asset is neither in the file nor in the
 *     store is refused before it is opened.
 * I3. The env file gets TALEA_DB_URL, a fresh 32-byte hex TALEA_API_TOKEN and TALEA_BIND. An
 *     existing file is left untouched unless `force`; nothing else is ever overwritten.
 * I4. `memory:` is refused: it keeps nothing, so there is nothing to initialise.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { accountKey } from '../core/account-key.js';
import { isReservedBook } from '../core/book-name.js';
import { sameAssetDef } from '../core/identity.js';
import type { Store } from '../core/store.js';
import { ACCOUNT_KINDS, I64_MAX, I64_MIN, type AccountCfg, type AccountDef, type AccountKind, type AssetDef, type Direction } from '../core/types.js';
import { openStore, parseStoreUrl } from '../open-store.js';

export interface SeedFile {
  assets: AssetDef[];
  accounts: Array<{ def: AccountDef; cfg: AccountCfg }>;
}

export interface SeedSummary {
  assetsCreated: number;
  assetsExisting: number;
  accountsEnsured: number;
}

export class SeedError extends Error {
  override readonly name = 'SeedError';
}

type Table = Record<string, unknown>;

function table(value: unknown, where: string): Table {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) throw new SeedError(`${where} must be a table`);
  return value as Table;
}

function onlyFields(entry: Table, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(entry)) {
    if (!allowed.includes(key)) throw new SeedError(`${where}: unknown field "${key}"`);
  }
}

function text(entry: Table, field: string, where: string, blankAllowed = false): string {
  const value = entry[field];
  if (value === undefined) throw new SeedError(`${where}: missing field "${field}"`);
  if (typeof value !== 'string') throw new SeedError(`${where}: "${field}" must be a string`);
  if (!blankAllowed && value.trim() === '') throw new SeedError(`${where}: "${field}" cannot be blank`);
  return value;
}

function readAsset(value: unknown, index: number): AssetDef {
  const where = `seed file: assets[${index}]`;
  const entry = table(value, where);
  onlyFields(entry, ['id', 'class', 'precision', 'name'], where);
  const id = text(entry, 'id', where);
  const name = text(entry, 'name', where);
  const precision = entry.precision;
  if (typeof precision !== 'number' && typeof precision !== 'bigint') throw new SeedError(`${where}: "precision" must be an integer from 0 to 255`);
  if (!(Number(precision) >= 0 && Number(precision) <= 255 && Number.isInteger(Number(precision)))) throw new SeedError(`${where}: "precision" must be an integer from 0 to 255`);
  const rawClass = entry.class;
  if (rawClass === 'fiat') return { id, class: 'fiat', precision: Number(precision), name };
  if (typeof rawClass === 'object' && rawClass !== null) {
    const outer = table(rawClass, `${where}.class`);
    onlyFields(outer, ['crypto'], `${where}.class`);
    const crypto = table(outer.crypto, `${where}.class.crypto`);
    onlyFields(crypto, ['network', 'native_id'], `${where}.class.crypto`);
    const network = text(crypto, 'network', `${where}.class.crypto`, true);
    const nativeId = crypto.native_id === undefined ? null : text(crypto, 'native_id', `${where}.class.crypto`, true);
    return { id, class: { crypto: { network, native_id: nativeId } }, precision: Number(precision), name };
  }
  throw new SeedError(`${where}: "class" must be "fiat" or { crypto = { network = "...", native_id = "..." } }`);
}

function readAccount(value: unknown, index: number): { def: AccountDef; cfg: AccountCfg } {
  const where = `seed file: accounts[${index}]`;
  const entry = table(value, where);
  onlyFields(entry, ['book', 'path', 'asset', 'kind', 'normal_side', 'min_balance'], where);
  const book = text(entry, 'book', where);
  const path = text(entry, 'path', where);
  const asset = text(entry, 'asset', where);
  const kind = text(entry, 'kind', where);
  if (!(ACCOUNT_KINDS as readonly string[]).includes(kind)) throw new SeedError(`${where}: unknown kind "${kind}" (expected one of ${ACCOUNT_KINDS.join(', ')})`);
  if (isReservedBook(book)) throw new SeedError(`${where}: book "${book}" is reserved (names starting with '_' belong to the ledger)`);
  const side = entry.normal_side;
  if (side !== undefined && side !== 'debit' && side !== 'credit') throw new SeedError(`${where}: "normal_side" must be "debit" or "credit"`);
  const minimum = entry.min_balance;
  let minBalance: bigint | null = null;
  if (minimum !== undefined) {
    if (typeof minimum === 'bigint') minBalance = minimum;
    else if (typeof minimum === 'number' && Number.isSafeInteger(minimum)) minBalance = BigInt(minimum);
    else throw new SeedError(`${where}: "min_balance" must be an integer`);
    if (minBalance < I64_MIN || minBalance > I64_MAX) throw new SeedError(`${where}: "min_balance" is outside the i64 range`);
  }
  return {
    def: { id: { book, path }, asset, kind: kind as AccountKind },
    cfg: { normal_side: (side as Direction | undefined) ?? null, min_balance: minBalance },
  };
}

/** Parses and checks a seed file (I1). Throws SeedError. */
export function parseSeedFile(source: string): SeedFile {
  let document: Table;
  try {
    document = parseToml(source, { integersAsBigInt: 'asNeeded' }) as Table;
  } catch (error) {
    throw new SeedError(`failed to parse seed file: ${(error as Error).message.split('\n')[0]}`);
  }
  onlyFields(document, ['assets', 'accounts'], 'seed file');
  const assetsValue = document.assets ?? [];
  const accountsValue = document.accounts ?? [];
  if (!Array.isArray(assetsValue)) throw new SeedError('seed file: "assets" must be an array of tables ([[assets]])');
  if (!Array.isArray(accountsValue)) throw new SeedError('seed file: "accounts" must be an array of tables ([[accounts]])');
  const assets = assetsValue.map(readAsset);
  const accounts = accountsValue.map(readAccount);
  const ids = new Set<string>();
  for (const asset of assets) {
    if (ids.has(asset.id)) throw new SeedError(`duplicate asset id ${JSON.stringify(asset.id)} in seed file`);
    ids.add(asset.id);
  }
  const keys = new Set<string>();
  for (const { def } of accounts) {
    const key = accountKey(def.id);
    if (keys.has(key)) throw new SeedError(`duplicate account ${JSON.stringify(key)} in seed file`);
    keys.add(key);
  }
  return { assets, accounts };
}

function describeDifference(existing: AssetDef, wanted: AssetDef): string {
  const differences: string[] = [];
  if (existing.precision !== wanted.precision) differences.push(`precision ${existing.precision} vs ${wanted.precision}`);
  if (existing.name !== wanted.name) differences.push(`name ${JSON.stringify(existing.name)} vs ${JSON.stringify(wanted.name)}`);
  if (JSON.stringify(existing.class) !== JSON.stringify(wanted.class)) differences.push('class differs');
  return differences.join(', ');
}

/** Applies a seed to a store (I2). Throws SeedError or the store's StoreError. */
export async function applySeed(store: Store, seed: SeedFile): Promise<SeedSummary> {
  const summary: SeedSummary = { assetsCreated: 0, assetsExisting: 0, accountsEnsured: 0 };
  for (const asset of seed.assets) {
    const existing = await store.asset(asset.id);
    if (existing === null) {
      await store.registerAsset(asset);
      summary.assetsCreated++;
    } else if (sameAssetDef(existing, asset)) {
      summary.assetsExisting++;
    } else {
      throw new SeedError(`asset ${JSON.stringify(asset.id)} already registered with a different definition (${describeDifference(existing, asset)})`);
    }
  }
  const inFile = new Set(seed.assets.map((asset) => asset.id));
  for (const { def, cfg } of seed.accounts) {
    if (!inFile.has(def.asset) && (await store.asset(def.asset)) === null) {
      throw new SeedError(`account ${JSON.stringify(accountKey(def.id))} references asset ${JSON.stringify(def.asset)}, which is neither in the seed file nor registered in the store`);
    }
    await store.openAccount(def, cfg);
    summary.accountsEnsured++;
  }
  return summary;
}

export interface InitOptions {
  dbUrl: string;
  /** Seed file text, when there is one. */
  seed?: string;
  /** Where to write the env file (default `.env`). */
  envOut?: string;
  force?: boolean;
  bind?: string;
}

export interface InitReport {
  seed: SeedSummary | null;
  env: 'written' | 'kept';
}

export function generateToken(): string {
  return randomBytes(32).toString('hex');
}

export function renderEnv(dbUrl: string, token: string, bind = '127.0.0.1:8080'): string {
  return [
    `TALEA_DB_URL=${dbUrl}`,
    `TALEA_API_TOKEN=${token}`,
    `TALEA_BIND=${bind}`,
    '# TALEA_MAX_INFLIGHT=256',
    '# TALEA_WRITE_QUEUE_DEPTH=256',
    '# TALEA_HTTP_BATCH_MAX=500',
    '# TALEA_METRICS_BIND=127.0.0.1:9100',
    '',
  ].join('\n');
}

/** I1-I4. The seed is parsed before the store is opened, so a bad file changes nothing. */
export async function initLedger(options: InitOptions): Promise<InitReport> {
  const { scheme } = parseStoreUrl(options.dbUrl);
  if (scheme === 'memory') throw new SeedError('memory: keeps nothing, so there is nothing to initialise; use log://<dir> or sqlite://<file>');
  const seed = options.seed === undefined ? null : parseSeedFile(options.seed);
  const store = await openStore(options.dbUrl);
  let summary: SeedSummary | null = null;
  try {
    if (seed !== null) summary = await applySeed(store, seed);
  } finally {
    await store.close();
  }
  const envOut = options.envOut ?? '.env';
  let env: InitReport['env'] = 'kept';
  if (options.force === true || !existsSync(envOut)) {
    writeFileSync(envOut, renderEnv(options.dbUrl, generateToken(), options.bind), { mode: 0o600 });
    env = 'written';
  }
  return { seed: summary, env };
}
