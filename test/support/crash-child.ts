/**
 * The child of the process-crash loop (spec/log-engine.md, section 13.3). It opens a LogStore on
 * the directory given in argv, sets up its books idempotently, and commits until it is killed,
 * reporting each call over IPC: `invoke` before, `ok` (with the Committed) or `fail` after.
 * An optional third argument holds LogStore options as JSON (e.g. a small snapshotEvery and
 * idemHotCap, so kills land during snapshots, spills and merges).
 */
import { LogStore } from '../../src/log/log-store.js';
import { crashDraft, CRASH_ASSET, CRASH_BOOKS, crashStoreOptions, openCrashBooks, type CrashStoreOptions } from './crash-workload.js';

const [dir, iterationText, optionsText] = process.argv.slice(2);
const iteration = Number(iterationText);
const options = (optionsText === undefined ? {} : JSON.parse(optionsText)) as CrashStoreOptions;
const send = (message: unknown): void => {
  process.send?.(message);
};

const store = await LogStore.open(dir!, crashStoreOptions(options));
await openCrashBooks(store);
send({ type: 'ready' });

const CLIENTS = 8;
await Promise.all(
  Array.from({ length: CLIENTS }, async (_, client) => {
    for (let n = 0; ; n++) {
      const key = `${iteration}/${client}/${n}`;
      const book = CRASH_BOOKS[(client + n) % CRASH_BOOKS.length]!;
      const minor = BigInt(1 + ((client * 7 + n) % 50));
      send({ type: 'invoke', book, key, minor: minor.toString() });
      try {
        if (n % 5 === 4) {
          // Every fifth call is a batch of two, so commitBatch is killed mid-flight too.
          const second = `${key}b`;
          send({ type: 'invoke', book, key: second, minor: minor.toString() });
          const results = await store.commitBatch([crashDraft(book, key, minor), crashDraft(book, second, minor)]);
          results.forEach((result, index) => {
            const slotKey = index === 0 ? key : second;
            if (result.ok) send({ type: 'ok', key: slotKey, committed: result.value });
            else send({ type: 'fail', key: slotKey, code: result.error.code });
          });
        } else {
          send({ type: 'ok', key, committed: await store.commit(crashDraft(book, key, minor)) });
        }
      } catch (error) {
        send({ type: 'fail', key, code: (error as { code?: string }).code ?? 'UNKNOWN' });
      }
    }
  }),
);
void CRASH_ASSET;
