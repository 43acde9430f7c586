/**
 * The SimFileSystem itself (test/support/sim-file-system.ts, spec/log-engine.md section 13.2):
 * pending writes and directory changes, each crash mode, fsyncgate, the crash point, determinism.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimFileSystem } from './support/sim-file-system.js';

const ROOT = '/sim/data';
const FILE = `${ROOT}/f.log`;

function read(sim: SimFileSystem, file: string): Buffer {
  const fd = sim.openSync(file, 'r');
  try {
    const bytes = Buffer.alloc(sim.fstatSizeSync(fd));
    sim.readSync(fd, bytes, 0);
    return bytes;
  } finally {
    sim.closeSync(fd);
  }
}

/** A file with a durable entry, 4 durable bytes and `pending` unsynced bytes after them. */
function withPendingWrite(seed: number, pending: Buffer): SimFileSystem {
  const sim = new SimFileSystem({ seed, directories: [ROOT] });
  const fd = sim.openSync(FILE, 'a');
  sim.fsyncDirSync(ROOT);
  sim.writevSync(fd, [Buffer.from('DONE')]);
  sim.fsyncSync(fd);
  sim.writevSync(fd, [pending]);
  sim.closeSync(fd);
  return sim;
}

test('SimFileSystem: reads see every write; only fsynced bytes are sure to survive', () => {
  const pending = Buffer.from('not yet synced');
  const sim = withPendingWrite(1, pending);
  assert.deepEqual(read(sim, FILE), Buffer.concat([Buffer.from('DONE'), pending]));
  assert.equal(sim.durableSize(FILE), 4);
  assert.equal(sim.viewSize(FILE), 4 + pending.length);

  assert.deepEqual(read(withPendingWrite(1, pending).crash('kept'), FILE), Buffer.concat([Buffer.from('DONE'), pending]));
  assert.deepEqual(read(withPendingWrite(1, pending).crash('dropped'), FILE), Buffer.from('DONE'));
  assert.deepEqual(read(withPendingWrite(1, pending).crash('zeroed'), FILE), Buffer.concat([Buffer.from('DONE'), Buffer.alloc(pending.length)]));
  const garbled = read(withPendingWrite(1, pending).crash('garbled'), FILE);
  assert.equal(garbled.length, 4 + pending.length);
  assert.deepEqual(garbled.subarray(0, 4), Buffer.from('DONE'));
  assert.notDeepEqual(garbled.subarray(4), pending);
  for (let seed = 1; seed <= 20; seed++) {
    const prefix = read(withPendingWrite(seed, pending).crash('prefix'), FILE);
    assert(prefix.length >= 4 && prefix.length < 4 + pending.length);
    assert.deepEqual(prefix, Buffer.concat([Buffer.from('DONE'), pending]).subarray(0, prefix.length));
  }
});

test('SimFileSystem: the mixed mode decides sector by sector, and a seed always gives the same image', () => {
  const pending = Buffer.alloc(3 * 4096, 0xab);
  const fates = new Set<string>();
  for (let seed = 1; seed <= 30; seed++) {
    const image = read(withPendingWrite(seed, pending).crash('mixed'), FILE);
    assert.deepEqual(read(withPendingWrite(seed, pending).crash('mixed'), FILE), image, `seed ${seed} is not deterministic`);
    assert.deepEqual(image.subarray(0, 4), Buffer.from('DONE'));
    // The first sector holds 4 durable bytes and 4092 bytes of the write.
    const sectors = [image.subarray(4, 4096), image.subarray(4096, 8192), image.subarray(8192, 12288)];
    for (const sector of sectors) {
      if (sector.length === 0) fates.add('missing');
      else if (sector.every((byte) => byte === 0xab)) fates.add(sector.length === 4096 || sector.length === 4092 ? 'kept' : 'prefix');
      else if (sector.every((byte) => byte === 0)) fates.add('zeroed');
      else fates.add('garbled');
    }
  }
  assert(fates.size >= 4, `only ${[...fates].join(', ')} in 30 seeds`);
});

test('SimFileSystem: directory changes are pending until the directory is fsynced', () => {
  const build = (): SimFileSystem => {
    const sim = new SimFileSystem({ seed: 5, directories: [ROOT] });
    sim.closeSync(sim.openSync(`${ROOT}/a.tmp`, 'wx'));
    sim.fsyncDirSync(ROOT);
    sim.renameSync(`${ROOT}/a.tmp`, `${ROOT}/a`); // pending
    sim.mkdirSync(`${ROOT}/sub`); // pending
    return sim;
  };
  assert.deepEqual(build().readdirSync(ROOT), ['a', 'sub']);
  assert.deepEqual(build().crash('kept', 'lost').readdirSync(ROOT), ['a.tmp']);
  assert.deepEqual(build().crash('kept', 'applied').readdirSync(ROOT), ['a', 'sub']);
  const synced = build();
  synced.fsyncDirSync(ROOT);
  assert.deepEqual(synced.crash('dropped', 'lost').readdirSync(ROOT), ['a', 'sub']);
  // A file whose entry is lost is gone with its data, even if its data was fsynced.
  const lost = new SimFileSystem({ seed: 5, directories: [ROOT] });
  const fd = lost.openSync(`${ROOT}/new`, 'a');
  lost.writevSync(fd, [Buffer.from('x')]);
  lost.fsyncSync(fd);
  assert.equal(lost.crash('kept', 'lost').statKindSync(`${ROOT}/new`), null);
});

test('SimFileSystem: fsyncgate drops the failed writes from every image while reads still see them', () => {
  const sim = new SimFileSystem({ seed: 9, directories: [ROOT] });
  const fd = sim.openSync(FILE, 'a');
  sim.fsyncDirSync(ROOT);
  sim.writevSync(fd, [Buffer.from('lost')]);
  sim.failFsyncAt(1);
  assert.throws(() => sim.fsyncSync(fd), { code: 'EIO' });
  assert.equal(sim.fsyncgateFired, FILE);
  sim.writevSync(fd, [Buffer.from('kept')]);
  sim.fsyncSync(fd);
  assert.deepEqual(read(sim, FILE), Buffer.from('lostkept'));
  // The later fsync persisted only the later write: the failed bytes are a zero hole.
  assert.deepEqual(read(sim.crash('kept', 'applied'), FILE), Buffer.concat([Buffer.alloc(4), Buffer.from('kept')]));
});

test('SimFileSystem: the crash point fails that call and every later one, except close', () => {
  const sim = new SimFileSystem({ seed: 3, directories: [ROOT] });
  const fd = sim.openSync(FILE, 'a'); // call 1
  sim.crashAfterCalls(2); // the second call from now dies
  sim.writevSync(fd, [Buffer.from('ok')]);
  assert.throws(() => sim.fsyncSync(fd), { code: 'EIO' });
  assert.throws(() => sim.readdirSync(ROOT), { code: 'EIO' });
  assert.equal(sim.dead, true);
  sim.closeSync(fd);
  // The image is the state at the crash point: the entry and the write were never made durable.
  assert.equal(sim.crash('kept', 'lost').statKindSync(FILE), null);
});

test('SimFileSystem: POSIX-like errors for missing paths, existing files and descriptors', () => {
  const sim = new SimFileSystem({ seed: 1, directories: [ROOT] });
  assert.throws(() => sim.openSync(`${ROOT}/missing`, 'r'), { code: 'ENOENT' });
  assert.throws(() => sim.openSync(`${ROOT}/no/such`, 'a'), { code: 'ENOENT' });
  sim.closeSync(sim.openSync(FILE, 'wx'));
  assert.throws(() => sim.openSync(FILE, 'wx'), { code: 'EEXIST' });
  assert.throws(() => sim.mkdirSync(FILE), { code: 'EEXIST' });
  sim.mkdirSync(ROOT); // an existing directory is not an error
  assert.throws(() => sim.unlinkSync(`${ROOT}/missing`), { code: 'ENOENT' });
  assert.throws(() => sim.fsyncSync(12345), { code: 'EBADF' });
  assert.equal(sim.statKindSync(`${ROOT}/missing`), null);
  assert.equal(sim.statKindSync(ROOT), 'directory');
  assert.equal(sim.statKindSync(FILE), 'file');
  const fd = sim.openSync(FILE, 'r+');
  assert.throws(() => sim.readSync(fd + 1000, Buffer.alloc(1), 0), { code: 'EBADF' });
  sim.ftruncateSync(fd, 3);
  assert.equal(sim.fstatSizeSync(fd), 3);
  sim.closeSync(fd);
});
