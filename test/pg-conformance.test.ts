/**
 * PgStore against the shared conformance suite (spec/postgres-store.md 7.2, PG-CONF and
 * PG-CONF-RESTART), on a real PostgreSQL: the cluster `npm test` starts (TALEA_PG_URL), or one
 * this file starts when run alone (test/support/pg-server.ts).
 *
 * - Every case gets a fresh store on a schema of its own (so `_system` starts empty, as in a new
 *   directory), with an empty skip list.
 * - The restart variant closes the store between a case's writes and its checks and opens a new
 *   PgStore on the same schema: everything must come back from the database alone.
 */
import { after } from 'node:test';

import { PgStore, type PgStoreOptions } from '../src/postgres/index.js';
import type { Store } from '../src/core/store.js';
import { runConformance } from './conformance/run-conformance.js';
import { freshDatabase, pgServer } from './support/pg-server.js';

const server = await pgServer();
const database = await freshDatabase(server.url, 'talea_conf');
after(async () => {
  await database.drop();
  await server.stop();
});

let schemas = 0;
const optionsOf = new WeakMap<Store, PgStoreOptions>();

async function openFresh(): Promise<Store> {
  const options: PgStoreOptions = {
    url: database.url,
    schema: `conf_${++schemas}`,
    writeConnections: 2,
    readConnections: 2,
    subscribePollMs: 200,
  };
  const store = await PgStore.open(options);
  optionsOf.set(store, options);
  return store;
}

async function reopen(store: Store): Promise<Store> {
  const options = optionsOf.get(store)!;
  await store.close();
  const again = await PgStore.open(options);
  optionsOf.set(again, options);
  return again;
}

runConformance('PgStore', openFresh, { skip: [] });
runConformance('PgStore, restarted between writes and checks (B10)', openFresh, { skip: [], reopen });
