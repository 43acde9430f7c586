/**
 * SyncPool (src/log/sync-pool.ts, S1 to S4) on real files: every request gets its own outcome,
 * whether the writer's thread or a helper did it, failures carry the system's code, and helpers
 * are used only once they are running.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { SYNC_HELPERS_MAX, SyncPool } from '../src/log/sync-pool.js';
import { makeTempDir, removeDir, waitUntil } from './support/log-store-fixtures.js';

test('syncAll: one outcome per request, in order, from the writer and from ready helpers alike', async () => {
  const dir = makeTempDir();
  const pool = new SyncPool();
  const fds: number[] = [];
  try {
    for (let index = 0; index < 6; index++) {
      const fd = fs.openSync(path.join(dir, `f${index}`), 'w');
      fs.writeSync(fd, Buffer.from(`file ${index}`));
      fds.push(fd);
    }
    // A descriptor no process holds: its fsync fails EBADF wherever it runs.
    const closed = 1_000_000;

    // The first call starts one helper per request beyond the first; none is running yet, so the
    // writer does every fsync itself.
    assert.equal(pool.readyHelpers, 0);
    const first = pool.syncAll([{ fd: fds[0]!, dataOnly: true }, { fd: closed, dataOnly: false }, { fd: fds[1]!, dataOnly: false }, { fd: fds[2]!, dataOnly: true }]);
    assert.deepEqual(first.map((outcome) => outcome === null), [true, false, true, true]);
    assert.equal((first[1] as NodeJS.ErrnoException).code, 'EBADF');

    await waitUntil(() => pool.readyHelpers === SYNC_HELPERS_MAX, 10_000, 'the helpers to start');
    // More requests than helpers + 1: two rounds; a failure in every position a helper takes.
    const requests = [fds[2]!, closed, fds[3]!, closed, fds[4]!, closed, fds[5]!].map((fd, index) => ({ fd, dataOnly: index % 2 === 0 }));
    const outcomes = pool.syncAll(requests);
    assert.equal(outcomes.length, requests.length);
    requests.forEach((request, index) => {
      const outcome = outcomes[index]!;
      if (request.fd === closed) {
        assert.ok(outcome instanceof Error, `request ${index} must fail`);
        assert.equal((outcome as NodeJS.ErrnoException).code, 'EBADF', `request ${index}: ${outcome.message}`);
      } else {
        assert.equal(outcome, null, `request ${index}`);
      }
    });
    assert.equal(pool.readyHelpers, SYNC_HELPERS_MAX, 'helpers that answered stay in use');
  } finally {
    pool.close();
    for (const fd of fds) fs.closeSync(fd);
    removeDir(dir);
  }
});

test('start: a background fsync runs on a free helper, which syncAll leaves alone until its outcome is collected (S5)', async () => {
  const dir = makeTempDir();
  const pool = new SyncPool();
  const fds: number[] = [];
  try {
    for (let index = 0; index < 3; index++) {
      const fd = fs.openSync(path.join(dir, `f${index}`), 'w');
      fs.writeSync(fd, Buffer.from(`file ${index}`));
      fds.push(fd);
    }
    assert.equal(pool.start({ fd: fds[0]!, dataOnly: false }), null, 'no helper is running yet: the caller fsyncs itself');
    await waitUntil(() => pool.readyHelpers === 1, 10_000, 'the first helper to start');
    const pending = pool.start({ fd: fds[0]!, dataOnly: false });
    assert(pending !== null);
    assert.equal(pool.readyHelpers, 0, 'the helper is reserved');
    assert.equal(pool.start({ fd: fds[1]!, dataOnly: false }), null, 'and not asked twice');
    // syncAll meanwhile: every request gets its outcome without the reserved helper.
    assert.deepEqual(pool.syncAll([{ fd: fds[1]!, dataOnly: true }, { fd: fds[2]!, dataOnly: true }]), [null, null]);
    assert.equal(pending.finish(), null);
    assert.throws(() => pending.finish(), /collected once/);
    await waitUntil(() => pool.readyHelpers >= 1, 10_000, 'the helper to be free again');
    // A failure carries the system's code.
    const failing = pool.start({ fd: 1_000_000, dataOnly: true });
    assert(failing !== null);
    assert.equal((failing.finish() as NodeJS.ErrnoException).code, 'EBADF');
  } finally {
    pool.close();
    for (const fd of fds) fs.closeSync(fd);
    removeDir(dir);
  }
});
