/**
 * PgStore split over two instances against the shared conformance suite (spec/postgres-store.md
 * 7.2, PG-CONF-SPLIT and PG-CONF-POLL), on a real PostgreSQL: the cluster `npm test` starts
 * (TALEA_PG_URL), or one this file starts when run alone (test/support/pg-server.ts).
 *
 * - Every case runs through `SplitStore`, a facade over two PgStore instances on one fresh schema:
 *   writes go to instance A, reads and `subscribe` to instance B. Nothing passes between them but
 *   the database, so a live event reaches B's subscribers only by NOTIFY or by B's safety poll.
 * - PG-CONF-SPLIT sets the poll to a minute, far past a case's 5 s wait for a subscription item:
 *   live events must come by NOTIFY, so a broken NOTIFY path fails the run instead of being
 *   covered by the poll.
 * - PG-CONF-POLL is the same run with no NOTIFY sent (`testHooks.notify: false`) and a 50 ms poll:
 *   the poll alone must deliver every live event in time.
 * - Both runs use an empty skip list.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';

import type { EventStream, Store, SubscribeOptions } from '../src/core/store.js';
import type {
  AccountCfg,
  AccountDef,
  AccountId,
  AssetDef,
  BalanceSnapshot,
  CommitResult,
  Committed,
  PostingRecord,
  SequencedEvent,
  StoredTransaction,
  Transaction,
  TrialBalanceRow,
} from '../src/core/types.js';
import { PgStore, type PgStoreOptions } from '../src/postgres/index.js';
import { SUBSCRIPTION_ITEM_TIMEOUT_MS } from './conformance/fixtures.js';
import { runConformance } from './conformance/run-conformance.js';
import { freshDatabase, pgServer } from './support/pg-server.js';

const server = await pgServer();
const database = await freshDatabase(server.url, 'talea_conf_split');
after(async () => {
  await database.drop();
  await server.stop();
});

/**
 * One `Store` made of two PgStore instances on the same schema. Every member of the Store
 * interface is routed, none is shared:
 *
 * - writer (A): `registerAsset`, `openAccount`, `commit`, `commitBatch`;
 * - reader (B): `balance`, `asset`, `accountHistory`, `transaction`, `trialBalance`, `readEvents`,
 *   `subscribe`;
 * - both: `close`, once; every call returns the same promise (the contract's idempotent close).
 *
 * Each call goes to its instance's own validating front (BaseStore) unchanged, so CLOSED, input
 * and operation checks come from one store in the contract's order, as for a single store.
 * PgStore's own extras (`stats`, `importEvents`) are not part of the Store interface, and the
 * suite never calls them, so the facade does not offer them.
 */
class SplitStore implements Store {
  #closing: Promise<void> | null = null;

  constructor(
    private readonly writer: Store,
    private readonly reader: Store,
  ) {}

  registerAsset(def: AssetDef): Promise<void> {
    return this.writer.registerAsset(def);
  }

  openAccount(def: AccountDef, cfg: AccountCfg): Promise<void> {
    return this.writer.openAccount(def, cfg);
  }

  commit(tx: Transaction): Promise<Committed> {
    return this.writer.commit(tx);
  }

  commitBatch(txs: Transaction[]): Promise<CommitResult[]> {
    return this.writer.commitBatch(txs);
  }

  balance(account: AccountId, asOf?: string | Date | null): Promise<BalanceSnapshot> {
    return this.reader.balance(account, asOf);
  }

  asset(id: string): Promise<AssetDef | null> {
    return this.reader.asset(id);
  }

  accountHistory(account: AccountId, afterSeq: number | null, limit: number): Promise<PostingRecord[]> {
    return this.reader.accountHistory(account, afterSeq, limit);
  }

  transaction(txid: string): Promise<StoredTransaction | null> {
    return this.reader.transaction(txid);
  }

  trialBalance(book: string, asOf?: string | Date | null): Promise<TrialBalanceRow[]> {
    return this.reader.trialBalance(book, asOf);
  }

  readEvents(book: string, from: number, limit: number): Promise<SequencedEvent[]> {
    return this.reader.readEvents(book, from, limit);
  }

  subscribe(book: string, from: number, options?: SubscribeOptions): EventStream {
    return this.reader.subscribe(book, from, options);
  }

  /**
   * Closes both at once: each PgStore's close always resolves, ends its streams and refuses new
   * calls at once, so neither half can be left open or accept work after the other closed.
   */
  close(): Promise<void> {
    this.#closing ??= Promise.all([this.writer.close(), this.reader.close()]).then(() => undefined);
    return this.#closing;
  }
}

let schemas = 0;

function openSplit(shared: Pick<PgStoreOptions, 'subscribePollMs' | 'testHooks'>): () => Promise<Store> {
  return async () => {
    const options: PgStoreOptions = {
      url: database.url,
      schema: `split_${++schemas}`,
      writeConnections: 2,
      readConnections: 2,
      ...shared,
    };
    // One after the other: the first open migrates the fresh schema, the second finds it current.
    const writer = await PgStore.open(options);
    try {
      return new SplitStore(writer, await PgStore.open(options));
    } catch (error) {
      await writer.close();
      throw error;
    }
  };
}

/** Far longer than a case waits for a subscription item (fixtures.ts F2): the poll never fires in time. */
const POLL_OUT_OF_REACH_MS = 60_000;
assert.ok(POLL_OUT_OF_REACH_MS > 10 * SUBSCRIPTION_ITEM_TIMEOUT_MS);

runConformance(
  'PgStore split, writes to A, reads and subscribe to B, live by NOTIFY (PG-CONF-SPLIT)',
  openSplit({ subscribePollMs: POLL_OUT_OF_REACH_MS }),
  { skip: [] },
);
runConformance(
  'PgStore split with no NOTIFY, the poll alone (PG-CONF-POLL)',
  openSplit({ subscribePollMs: 50, testHooks: { notify: false } }),
  { skip: [] },
);
