import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runCrashCampaign } from './support/crash-campaign.js';

test('kill -9 under load: every acknowledged commit survives exactly once (short campaign)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-crash-'));
  try {
    // Segments preallocated from their first byte, so kills also leave zero tails (segment.ts G9).
    const result = await runCrashCampaign(dir, 6, 20261125, (line) => t.diagnostic(line), { preallocateChunkBytes: 4096 });
    t.diagnostic(`cycles ${result.cycles}, acknowledged commits checked ${result.acknowledgedChecked}, unknown outcomes retried ${result.unknownRetried}`);
    assert.equal(result.cycles, 6);
    assert(result.acknowledgedChecked > 0, 'the campaign acknowledged nothing, so it checked nothing');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('kill -9 during snapshots, spills and merges: every acknowledged commit survives exactly once (short campaign)', async (t) => {
  // Section 13.3, second variant: small snapshotEvery and idemHotCap, so the kills land during
  // snapshot, spill and merge work; each cycle also retries acknowledged keys, many of them
  // spilled to runs by then; every reopen prechecks the covered segments on helper threads. The long
  // campaign is `npm run crash-campaign`.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-crash-spill-'));
  try {
    const options = { snapshotEvery: 20, idemHotCap: 16, segmentMax: 16 * 1024, precheckFromBytes: 0 };
    // Each cycle outlives 40 acknowledged commits (two snapshot intervals) before its kill timer
    // starts, so snapshots and spills are reached however slow the machine is.
    const result = await runCrashCampaign(dir, 4, 20261126, (line) => t.diagnostic(line), options, 40);
    t.diagnostic(
      `cycles ${result.cycles}, acknowledged commits checked ${result.acknowledgedDistinct}, unknown outcomes retried ${result.unknownRetried}, ` +
        `acknowledged commits retried ${result.acknowledgedRetried}`,
    );
    assert.equal(result.cycles, 4);
    assert(result.acknowledgedDistinct > 0, 'the campaign acknowledged nothing, so it checked nothing');
    const names = fs.readdirSync(path.join(dir, 'books', 'crash-a'));
    assert(names.some((name) => name.endsWith('.trun')), `no idempotency run was ever spilled: ${names.join(', ')}`);
    assert(names.some((name) => name.endsWith('.tsnap')), `no snapshot was ever written: ${names.join(', ')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
