/**
 * A fixed workload for counting a contender's flush calls (spec/bench.md, section 8, rule 1):
 * seed one book, then `count` commits one after another (concurrency 1), then close. Run it under
 *
 *   strace -f -c -e trace=fsync,fdatasync,pwrite64,write,writev node dist/bench/flush-count.js log 1000
 *   strace -f -c -e trace=fsync,fdatasync,pwrite64,write,writev node dist/bench/flush-count.js sqlite 1000
 *
 * and compare the fsync + fdatasync count with the number of acknowledged commits: equal
 * durability means at least one flush per acknowledged commit at concurrency 1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { openStore, type ContenderName } from './contenders.js';
import { benchBook, DraftFactory, seedBooks } from './workload.js';

async function main(argv: string[]): Promise<void> {
  const contender = argv[0] as ContenderName;
  const count = Number(argv[1] ?? 1000);
  if ((contender !== 'log' && contender !== 'sqlite') || !Number.isSafeInteger(count) || count < 1) {
    throw new Error('usage: flush-count.js log|sqlite <commits>');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `talea-flush-${contender}-`));
  const store = await openStore(contender, dir, {});
  const book = benchBook(0);
  try {
    await seedBooks(store, [book]);
    const drafts = new DraftFactory('flush-count', 'flush-count', 'c1', 2);
    for (let n = 0; n < count; n++) await store.commit(drafts.draft(book, 0, n));
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${contender}: ${count} commits acknowledged (plus 1 asset and 2 account events of seeding)\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
