/**
 * The layout rules.
 *
 * L1. The pure-module rule (DESIGN, STYLE "Pure modules"): nothing in src/ except log/router.ts
 *     imports `worker_threads`, so every other module can be unit-tested on the main thread.
 * L2. src/core/ is what every store shares: nothing in it imports from a backend or any other
 *     folder of src/.
 * L3. Importing the package root loads no optional peer (`better-sqlite3`, `pg`): backends that
 *     need one are reached only through a dynamic import. Nor does it load the HTTP service
 *     (Fastify and friends), which is the subpath `talea-store-log/http`.
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
  for (const expected of ['index.ts', 'core/json.ts', 'core/event-codec.ts', 'core/time.ts', 'core/input.ts']) {
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

// The modules that own threads: the router starts the shard workers, the sync pool a writer's
// helper threads (one fsync each), the segment prechecks a recovering worker's helper threads (one
// segment each). Everything else runs on whatever thread calls it.
const THREAD_OWNERS = new Set(['log/router.ts', 'log/sync-pool.ts', 'log/segment-precheck.ts']);

test('layout: pure modules do not import worker_threads (only the router, the sync pool and the segment prechecks may)', () => {
  const offenders: string[] = [];
  for (const file of sourceFiles()) {
    if (THREAD_OWNERS.has(file)) continue;
    const text = readFileSync(join(sourceRoot, file), 'utf8');
    if (WORKER_THREADS_IMPORT.test(text)) offenders.push(`src/${file}`);
  }
  assert.deepEqual(offenders, []);
});

/** Every relative or bare specifier a module imports statically (not `import()`). */
function staticImports(text: string): string[] {
  const specifiers: string[] = [];
  const pattern = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?(['"])([^'"]+)\1/g;
  for (const match of text.matchAll(pattern)) {
    const statement = match[0];
    if (/^\s*(?:import|export)\s+type\s/.test(statement)) continue; // erased at compile time
    specifiers.push(match[2]!);
  }
  return specifiers;
}

test('layout: src/core imports nothing from a backend or any other folder of src (L2)', () => {
  const offenders: string[] = [];
  for (const file of sourceFiles().filter((name) => name.startsWith('core/'))) {
    const text = readFileSync(join(sourceRoot, file), 'utf8');
    for (const match of text.matchAll(/from\s*(['"])(\.[^'"]+)\1|import\s*\(\s*(['"])(\.[^'"]+)\3/g)) {
      const specifier = match[2] ?? match[4]!;
      if (!specifier.startsWith('./')) offenders.push(`src/${file} -> ${specifier}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('layout: the package root statically reaches no optional peer dependency (L3)', () => {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const queue = ['index.ts'];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(join(sourceRoot, file), 'utf8');
    for (const specifier of staticImports(text)) {
      if (!specifier.startsWith('.')) {
        bare.add(specifier);
        continue;
      }
      const target = join(dirname(join(sourceRoot, file)), specifier).replace(/\.js$/, '.ts');
      const relative = target.slice(sourceRoot.length + 1).split('\\').join('/');
      if (relative.startsWith('..')) continue; // workers/ and the like are loaded as threads
      queue.push(relative);
    }
  }
  assert.ok(seen.has('core/types.ts'), 'the walk follows re-exports');
  assert.ok(seen.has('log/log-store.ts'), 'the walk reaches the log store');
  for (const peer of ['better-sqlite3', 'pg']) assert.ok(!bare.has(peer), `${peer} is imported statically from the root`);
  assert.ok(!seen.has('sqlite/sqlite-store.ts'), 'the SQLite store is loaded only on demand');
  // The HTTP service is the subpath talea-store-log/http: the root never loads its libraries.
  for (const library of ['fastify', '@fastify/swagger', '@fastify/swagger-ui', 'prom-client', 'smol-toml', 'uuid']) {
    assert.ok(!bare.has(library), `${library} is imported statically from the root`);
  }
  assert.ok(![...seen].some((file) => file.startsWith('http/')), 'src/http is not reached from the root');
});
