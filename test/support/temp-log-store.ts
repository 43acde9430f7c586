/**
 * A LogStore in a fresh temporary directory, for suites that only take a factory: closing it
 * removes the directory (after close() has resolved), and `reopenLogStore` closes it and opens the
 * same directory again, for the restart variant of the conformance suite.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LogStore } from '../../src/log/log-store.js';
import type { LogStoreOptions } from '../../src/log/options.js';
import type { Store } from '../../src/core/store.js';

const directories = new WeakMap<object, { dir: string; inner: LogStore; options: LogStoreOptions }>();

function wrap(inner: LogStore, dir: string, options: LogStoreOptions): LogStore {
  const wrapper = new Proxy(inner, {
    get(target, property) {
      if (property === 'close') {
        return async () => {
          await target.close();
          fs.rmSync(dir, { recursive: true, force: true });
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  directories.set(wrapper, { dir, inner, options });
  return wrapper;
}

export async function openTempLogStore(options: LogStoreOptions = { workers: 2 }): Promise<LogStore> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-'));
  return wrap(await LogStore.open(dir, options), dir, options);
}

/** Closes the store (keeping its directory) and opens the directory again. */
export async function reopenLogStore(store: Store): Promise<LogStore> {
  const entry = directories.get(store);
  if (entry === undefined) throw new Error('not a temporary LogStore');
  await entry.inner.close();
  return wrap(await LogStore.open(entry.dir, entry.options), entry.dir, entry.options);
}
