/**
 * The pure-module rule (DESIGN, STYLE "Pure modules"): nothing in src/ except router.ts imports
 * `worker_threads`, so every other module can be unit-tested on the main thread.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// This file runs as dist/test/layout.test.js, so the package root is two levels up.
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sourceRoot = join(packageRoot, 'src');

/** An import, re-export, dynamic import or require of worker_threads, with or without `node:`. */
const WORKER_THREADS_IMPORT =
  /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(['"`])(?:node:)?worker_threads\1/;

function sourceFiles(): string[] {
  return readdirSync(sourceRoot, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => file.split('\\').join('/'))
    .sort();
}

test('layout: the package root is found from the compiled test', () => {
  assert.ok(existsSync(join(packageRoot, 'package.json')), packageRoot);
  const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { name: string };
  assert.equal(manifest.name, 'talea-store-log');
  const files = sourceFiles();
  for (const expected of ['index.ts', 'json.ts', 'event-codec.ts', 'time.ts', 'input.ts']) {
    assert.ok(files.includes(expected), `src/${expected} is scanned`);
  }
});

test('layout: the import pattern recognises every way to import worker_threads', () => {
  const imports = [
    "import { Worker } from 'node:worker_threads';",
    'import { parentPort } from "worker_threads";',
    "import * as threads from 'worker_threads'",
    "import type { MessagePort } from 'node:worker_threads';",
    "export { Worker } from 'node:worker_threads';",
    "const threads = await import('node:worker_threads');",
    "const threads = require('worker_threads');",
    "import 'node:worker_threads';",
    "import {\n  Worker,\n} from\n  'node:worker_threads';",
  ];
  for (const text of imports) assert.match(text, WORKER_THREADS_IMPORT, text);
  const notImports = [
    "import { Worker } from './worker_threads-shim.js';",
    '// the router owns the worker threads',
    "const name = 'worker_threads_count';",
  ];
  for (const text of notImports) assert.doesNotMatch(text, WORKER_THREADS_IMPORT, text);
});

test('layout: pure modules do not import worker_threads (only src/router.ts may)', () => {
  const offenders: string[] = [];
  for (const file of sourceFiles()) {
    if (file === 'router.ts') continue;
    const text = readFileSync(join(sourceRoot, file), 'utf8');
    if (WORKER_THREADS_IMPORT.test(text)) offenders.push(`src/${file}`);
  }
  assert.deepEqual(offenders, []);
});
