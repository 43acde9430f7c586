import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runCrashCampaign } from './support/crash-campaign.js';

test('kill -9 under load: every acknowledged commit survives exactly once (short campaign)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-crash-'));
  try {
    const result = await runCrashCampaign(dir, 6, 20261125, (line) => t.diagnostic(line));
    t.diagnostic(`cycles ${result.cycles}, acknowledged commits checked ${result.acknowledgedChecked}, unknown outcomes retried ${result.unknownRetried}`);
    assert.equal(result.cycles, 6);
    assert(result.acknowledgedChecked > 0, 'the campaign acknowledged nothing, so it checked nothing');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
