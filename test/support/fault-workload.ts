/**
 * The scripted workload of the fault campaign (spec/log-engine.md, sections 13.6 and 13.7): two
 * books plus `_system`, with rotations, snapshots, spills and merges switched on by tiny settings,
 * concurrent commits that share a batch, commitBatch across both books, same-key retries, a
 * conflicting retry, explicit snapshots and reads.
 *
 * Everything is deterministic: txids are derived from labels, amounts from the step, and the
 * commit clock is frozen through `testHooks.clockUs` and advanced between steps, so a run without
 * faults always gives the same transcript (every answer, by label) and the same log.
 */
import { createHash } from 'node:crypto';
import { StoreError } from '../../src/core/errors.js';
import type { LogStore } from '../../src/log/log-store.js';
import type { AccountCfg, AccountDef, AssetDef, Transaction } from '../../src/core/types.js';
import { History, type Attempt, type WriteOp } from './ledger-check.js';

export const FAULT_BOOKS = ['alpha', 'beta'] as const;
/** The book the faults are aimed at; `beta` must never notice them (C9). */
export const FAULTED_BOOK = 'alpha';

export const WORKLOAD_SETTINGS = { segmentMax: 1024, snapshotEvery: 5, idemHotCap: 3 } as const;
/** 2026-01-01T00:00:00Z in µs; the frozen clock starts here. */
export const CLOCK_START_US = 1_767_225_600_000_000;

const USD: AssetDef = { id: 'USD', class: 'fiat', precision: 2, name: 'US dollar' };
const EUR: AssetDef = { id: 'EUR', class: 'fiat', precision: 2, name: 'Euro' };

export type Answer = { ok: true; value: unknown } | { ok: false; code: string; details: Record<string, unknown> };

export interface TranscriptEntry {
  label: string;
  /** The book the call is about; null for store-wide reads. */
  book: string | null;
  kind: 'write' | 'snapshot' | 'read';
  answer: Answer;
  /** Position in the order in which answers arrived. */
  resolvedAt: number;
}

/** A UUID (version 4 layout) derived from a label, so reruns carry the same txids. */
export function uuidFrom(label: string): string {
  const hex = createHash('sha256').update(label).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function errorAnswer(error: unknown): Answer {
  if (!(error instanceof StoreError)) throw error;
  const details: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(error)) {
    if (name !== 'code' && name !== 'name' && name !== 'message' && name !== 'stack' && name !== 'cause') details[name] = value;
  }
  return { ok: false, code: error.code, details };
}

function accountDefs(book: string): Array<{ def: AccountDef; cfg: AccountCfg }> {
  return [
    { def: { id: { book, path: 'cash' }, asset: 'USD', kind: 'asset' }, cfg: { normal_side: 'debit', min_balance: null } },
    { def: { id: { book, path: 'revenue' }, asset: 'USD', kind: 'income' }, cfg: { normal_side: 'credit', min_balance: null } },
    { def: { id: { book, path: 'fx/cash' }, asset: 'EUR', kind: 'asset' }, cfg: { normal_side: 'debit', min_balance: null } },
    { def: { id: { book, path: 'fx/revenue' }, asset: 'EUR', kind: 'income' }, cfg: { normal_side: null, min_balance: null } },
  ];
}

/** A balanced draft; the content depends only on (book, key, minor, asset). */
export function faultDraft(book: string, key: string, minor: bigint, asset: 'USD' | 'EUR', label: string): Transaction {
  const [debit, credit] = asset === 'USD' ? ['cash', 'revenue'] : ['fx/cash', 'fx/revenue'];
  return {
    id: uuidFrom(label),
    book,
    postings: [
      { account: { book, path: debit }, amount: { minor, asset }, direction: 'debit' },
      { account: { book, path: credit }, amount: { minor, asset }, direction: 'credit' },
    ],
    idempotency_key: key,
    external_refs: [{ kind: 'order', value: key }],
    metadata: { key, step: Number(minor) },
    occurred_at: '2026-01-01T00:00:00Z',
  };
}

export interface WorkloadRun {
  transcript: TranscriptEntry[];
  history: History;
}

/**
 * Runs the script against `store`. `clock` is the store's frozen clock (testHooks.clockUs). Never
 * throws for a store error: every answer lands in the transcript and the history.
 */
export async function runFaultWorkload(store: LogStore, clock: BigInt64Array, steps = 16): Promise<WorkloadRun> {
  const transcript: TranscriptEntry[] = [];
  const history = new History();
  let resolved = 0;
  let clockUs = CLOCK_START_US;
  const tick = (): void => {
    clockUs += 1000;
    Atomics.store(clock, 0, BigInt(clockUs));
  };
  const record = (label: string, book: string | null, kind: TranscriptEntry['kind'], answer: Answer): void => {
    transcript.push({ label, book, kind, answer, resolvedAt: resolved++ });
  };
  const write = async (label: string, op: WriteOp): Promise<void> => {
    const attempt = history.invoke(op);
    const book = op.kind === 'registerAsset' ? '_system' : op.kind === 'openAccount' ? op.def.id.book : op.tx.book;
    try {
      let value: unknown;
      if (op.kind === 'registerAsset') value = await store.registerAsset(op.def);
      else if (op.kind === 'openAccount') value = await store.openAccount(op.def, op.cfg);
      else value = await store.commit(op.tx);
      history.ok(attempt, op.kind === 'commit' ? (value as never) : undefined);
      record(label, book, 'write', { ok: true, value });
    } catch (error) {
      history.fail(attempt, error);
      record(label, book, 'write', errorAnswer(error));
    }
  };
  const batch = async (label: string, txs: Transaction[]): Promise<void> => {
    const attempts: Attempt[] = txs.map((tx) => history.invoke({ kind: 'commit', tx }));
    const results = await store.commitBatch(txs);
    results.forEach((result, index) => {
      const attempt = attempts[index]!;
      if (result.ok) history.ok(attempt, result.value);
      else history.fail(attempt, result.error);
    });
    const at = resolved++;
    results.forEach((result, index) => {
      transcript.push({
        label: `${label}[${index}]`,
        book: txs[index]!.book,
        kind: 'write',
        answer: result.ok ? { ok: true, value: result.value } : errorAnswer(result.error),
        resolvedAt: at,
      });
    });
  };
  const other = async (label: string, book: string | null, kind: 'snapshot' | 'read', run: () => Promise<unknown>): Promise<void> => {
    try {
      record(label, book, kind, { ok: true, value: await run() });
    } catch (error) {
      record(label, book, kind, errorAnswer(error));
    }
  };
  const draft = (book: string, key: string, step: number, asset: 'USD' | 'EUR' = 'USD', label = `${book}/${key}`): Transaction =>
    faultDraft(book, key, BigInt(1 + ((step * 7) % 13)), asset, label);

  tick();
  await write('asset USD', { kind: 'registerAsset', def: USD });
  await write('asset EUR', { kind: 'registerAsset', def: EUR });
  tick();
  await Promise.all(
    FAULT_BOOKS.flatMap((book) => accountDefs(book).map(({ def, cfg }) => write(`open ${book}:${def.id.path}`, { kind: 'openAccount', def, cfg }))),
  );
  for (let step = 0; step < steps; step++) {
    tick();
    const calls: Array<Promise<void>> = [];
    for (const book of FAULT_BOOKS) calls.push(write(`${step} ${book} k${step}`, { kind: 'commit', tx: draft(book, `k${step}`, step) }));
    if (step % 3 === 1) {
      calls.push(
        batch(`${step} batch`, [
          draft('alpha', `k${step}x`, step),
          draft('beta', `k${step}x`, step, 'EUR'),
          draft('alpha', `k${step}y`, step + 1, 'EUR'),
          draft('alpha', `k${step}x`, step, 'USD', `alpha/k${step}x/again`), // an earlier accepted batchmate's key
        ]),
      );
    }
    if (step % 4 === 2) {
      for (let client = 0; client < 3; client++) {
        calls.push(write(`${step} alpha c${client}`, { kind: 'commit', tx: draft('alpha', `k${step}c${client}`, step + client) }));
      }
    }
    if (step % 5 === 3) {
      // A same-key retry with a fresh txid returns the original; a different content conflicts.
      calls.push(write(`${step} alpha retry`, { kind: 'commit', tx: draft('alpha', `k${step - 2}`, step - 2, 'USD', `retry/${step}`) }));
      calls.push(write(`${step} beta conflict`, { kind: 'commit', tx: draft('beta', `k${step - 2}`, step + 5, 'USD', `conflict/${step}`) }));
    }
    await Promise.all(calls);
    if (step % 6 === 5) {
      tick();
      await Promise.all(FAULT_BOOKS.map((book) => other(`${step} snapshot ${book}`, book, 'snapshot', () => store.snapshot(book))));
    }
    if (step % 4 === 0) {
      await Promise.all([
        ...FAULT_BOOKS.map((book) => other(`${step} events ${book}`, book, 'read', () => store.readEvents(book, 1, 1000))),
        ...FAULT_BOOKS.map((book) => other(`${step} balance ${book}`, book, 'read', () => store.balance({ book, path: 'cash' }))),
        ...FAULT_BOOKS.map((book) => other(`${step} trial ${book}`, book, 'read', () => store.trialBalance(book))),
        ...FAULT_BOOKS.map((book) => other(`${step} history ${book}`, book, 'read', () => store.accountHistory({ book, path: 'revenue' }, null, 1000))),
        ...FAULT_BOOKS.map((book) => other(`${step} tx ${book}`, book, 'read', () => store.transaction(uuidFrom(`${book}/k${Math.max(0, step - 1)}`)))),
        other(`${step} asset`, null, 'read', () => store.asset('EUR')),
      ]);
    }
  }
  transcript.sort((left, right) => (left.label < right.label ? -1 : left.label > right.label ? 1 : 0));
  return { transcript, history };
}
