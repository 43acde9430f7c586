/**
 * The packed commit format (src/log/commit-wire.ts, C1 and C2): what the writer unpacks is what
 * the caller packed, for ASCII and non-ASCII text, extreme amounts, many postings, large events,
 * and commits placed among the message's other jobs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accountKey } from '../src/core/account-key.js';
import { I64_MAX, I64_MIN, type Transaction } from '../src/core/types.js';
import { CommitPacker, unpackCommits, type CommitJob } from '../src/log/commit-wire.js';

function tx(book: string, key: string, paths: string[], minor: bigint, metadataText = ''): Transaction {
  return {
    id: '0190a6b2-7c1e-7000-8000-00000000000a',
    book,
    postings: paths.map((path, index) => ({
      account: { book: index === 1 ? `${book}:other` : book, path },
      amount: { minor: index % 2 === 0 ? minor : 1n, asset: index === 2 ? 'ÉUR' : 'USD' },
      direction: index % 2 === 0 ? 'debit' : 'credit',
    })),
    idempotency_key: key,
    external_refs: [],
    metadata: metadataText === '' ? null : { text: metadataText },
    occurred_at: '2026-06-05T12:00:00Z',
  };
}

test('unpacking gives back every field that was packed, in order, with positions', () => {
  const cases = [
    { tx: tx('books', 'k-1', ['cash', 'rev'], 1n), json: '{"a":1}', foreign: false, position: 0 },
    { tx: tx('bücher', 'ключ/π', ['kasse/€', 'umsatz', 'x'.repeat(200), 'ü'.repeat(70)], I64_MAX), json: '{"ü":"€"}', foreign: true, position: 2 },
    { tx: tx('b', 'k'.repeat(64), ['a', 'b'], I64_MIN), json: 'x'.repeat(300_000), foreign: false, position: 2 },
  ];
  const packer = new CommitPacker();
  cases.forEach((entry, index) => packer.add(100 + index, entry.position, 7 + index, entry.tx, entry.json, entry.foreign));
  assert.equal(packer.count, cases.length);
  const packed = packer.take();
  assert.ok(packed !== null);
  assert.equal(packer.count, 0);
  assert.equal(packer.take(), null, 'a packer starts afresh after take (C2)');
  const seen: Array<{ job: CommitJob; position: number }> = [];
  unpackCommits(packed, (job, position) => seen.push({ job, position }));
  assert.equal(seen.length, cases.length);
  seen.forEach(({ job, position }, index) => {
    const entry = cases[index]!;
    assert.equal(position, entry.position);
    assert.equal(job.op, 'commit');
    assert.equal(job.id, 100 + index);
    assert.equal(job.slot, 7 + index);
    assert.equal(job.book, entry.tx.book);
    assert.equal(job.txid, entry.tx.id);
    assert.equal(job.key, entry.tx.idempotency_key);
    assert.equal(job.txidForeign, entry.foreign);
    assert.equal(job.event.toString('utf8'), entry.json);
    assert.deepEqual(
      job.postings,
      entry.tx.postings.map((posting) => ({ key: accountKey(posting.account), asset: posting.amount.asset, minor: posting.amount.minor, direction: posting.direction })),
    );
  });
});

test('a packer grows past its first buffer and keeps what it had', () => {
  const packer = new CommitPacker();
  const json = 'é'.repeat(40_000); // 80,000 bytes each: several doublings
  for (let index = 0; index < 5; index++) packer.add(index, 0, 0, tx('b', `k${index}`, ['a', 'b'], BigInt(index)), json, false);
  const keys: string[] = [];
  unpackCommits(packer.take()!, (job) => {
    assert.equal(job.event.toString('utf8'), json);
    keys.push(job.key);
  });
  assert.deepEqual(keys, ['k0', 'k1', 'k2', 'k3', 'k4']);
});

test('C3: each new buffer is sized from what the last message used, 4 KiB at least', () => {
  const packer = new CommitPacker();
  const small = () => packer.add(1, 0, 0, tx('b', 'k', ['a', 'b'], 1n), '{"a":1}', false);
  small();
  const lone = packer.take()!;
  assert.equal(lone.buffer.byteLength, 4096, 'a lone commit travels in the smallest buffer');
  for (let index = 0; index < 200; index++) small(); // tens of KiB: the buffer doubles as it fills
  const burst = packer.take()!;
  assert.ok(burst.buffer.byteLength >= burst.bytes && burst.bytes > 4096);
  small();
  const after = packer.take()!;
  assert.ok(after.buffer.byteLength >= burst.bytes, 'after a burst the next buffer has room for another like it');
  assert.ok(after.buffer.byteLength < 2 * burst.bytes, 'and not much more');
  small();
  assert.equal(packer.take()!.buffer.byteLength, 4096, 'back to the smallest once messages are small again');
  let count = 0;
  unpackCommits(after, () => count++);
  assert.equal(count, 1);
});
