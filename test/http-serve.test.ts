/**
 * `talea-log init` and `talea-log serve` as an operator runs them, in child processes on 127.0.0.1:
 * init twice with a seed file; serve from `.env` (real variables win) answering the README's curl
 * calls; a second server on the same `log://` directory refused with a clear message; bad
 * configuration naming the variable; SIGTERM under load, then a restart where every answered commit
 * is present once and every unanswered one is retried safely with its key.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { Client, transfer } from './support/http-fixtures.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const children = new Set<ChildProcess>();
const directories: string[] = [];

after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of directories) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'talea-serve-'));
  directories.push(dir);
  return dir;
}

/** The environment of a child: no TALEA_* of the test runner leaks in. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('TALEA_')) env[key] = value;
  return { ...env, ...extra };
}

function runCli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: cleanEnv(env), encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

interface ServeProcess {
  child: ChildProcess;
  url: string;
  metrics: string | null;
  exited: Promise<{ code: number | null; stderr: string }>;
}

/** Starts `talea-log serve` and waits for its "talea listening" log line. */
function serve(cwd: string, env: Record<string, string>): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, 'serve'], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.once('exit', (code) => {
      children.delete(child);
      resolve({ code, stderr });
    });
  });
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      for (const line of buffer.split('\n')) {
        if (!line.includes('talea listening')) continue;
        clearTimeout(timer);
        const logged = JSON.parse(line) as { url: string; metrics: string | null };
        resolve({ child, url: logged.url, metrics: logged.metrics, exited });
      }
      buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening: ${stderr}`));
    });
  });
}

const SEED = `
[[assets]]
id = "USD"
class = "fiat"
precision = 2
name = "US Dollar"

[[assets]]
id = "BTC"
class = { crypto = { network = "bitcoin" } }
precision = 8
name = "Bitcoin"

[[accounts]]
book = "demo"
path = "cash"
asset = "USD"
kind = "asset"
normal_side = "debit"

[[accounts]]
book = "demo"
path = "equity"
asset = "USD"
kind = "equity"
normal_side = "credit"

[[accounts]]
book = "demo"
path = "floor"
asset = "USD"
kind = "asset"
normal_side = "debit"
min_balance = 0
`;

function envFileToken(file: string): string {
  const match = /^TALEA_API_TOKEN=([0-9a-f]+)$/m.exec(fs.readFileSync(file, 'utf8'));
  assert.ok(match, 'the env file has a token');
  return match[1]!;
}

describe('talea-log init and serve', () => {
  test('init twice with a seed file, serve from .env, a second server on the same directory refused, SIGTERM under load and restart', async () => {
    const cwd = tempDir();
    fs.writeFileSync(path.join(cwd, 'seed.toml'), SEED);
    const first = await runCli(['init', '--db-url', 'log://./data', '--seed', 'seed.toml'], cwd);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /seed: 2 assets created, 0 already present, 3 accounts ensured/);
    assert.match(first.stdout, /wrote \.env/);
    const token = envFileToken(path.join(cwd, '.env'));
    assert.equal(token.length, 64);
    const second = await runCli(['init', '--db-url', 'log://./data', '--seed', 'seed.toml'], cwd);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /seed: 0 assets created, 2 already present, 3 accounts ensured/);
    assert.match(second.stdout, /kept existing \.env/);
    assert.equal(envFileToken(path.join(cwd, '.env')), token, 'the token is kept without --force');
    const conflicting = SEED.replace('precision = 8', 'precision = 6');
    fs.writeFileSync(path.join(cwd, 'conflict.toml'), conflicting);
    const conflict = await runCli(['init', '--db-url', 'log://./data', '--seed', 'conflict.toml'], cwd);
    assert.equal(conflict.code, 8);
    assert.match(conflict.stderr, /asset "BTC" already registered with a different definition \(precision 8 vs 6\)/);
    fs.writeFileSync(path.join(cwd, 'bad.toml'), `${SEED}\n[[accounts]]\nbook = "demo"\npath = "x"\nasset = "USD"\nkind = "asset"\ncolour = "red"\n`);
    const bad = await runCli(['init', '--db-url', 'log://./data', '--seed', 'bad.toml'], cwd);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown field "colour"/);

    // serve reads .env; the real TALEA_BIND wins over the file's 127.0.0.1:8080.
    const server = await serve(cwd, { TALEA_BIND: '127.0.0.1:0' });
    const client = new Client(server.url, token);
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.headers.get('x-talea-backend'), 'log');
    assert.equal(await health.text(), 'ok');
    assert.equal((await new Client(server.url).post('/v1/transactions', transfer('demo', 'anon', 1))).status, 401, 'the token from .env is required');
    const posted = await client.post('/v1/transactions', transfer('demo', 'first-funding', 100000));
    assert.equal(posted.status, 200, posted.text);
    assert.equal(posted.json.seq, 4);
    assert.deepEqual((await client.get('/v1/books/demo/accounts/cash/balance')).json, { account: 'demo:cash', asset: 'USD', balance: '1000.00', as_of: null, updated_seq: 4 });

    // A second server on the same directory fails at start, saying why.
    const rival = spawn(process.execPath, [CLI, 'serve'], { cwd, env: cleanEnv({ TALEA_BIND: '127.0.0.1:0' }), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(rival);
    let rivalErr = '';
    rival.stderr!.on('data', (chunk: Buffer) => (rivalErr += chunk.toString()));
    const rivalCode = await new Promise<number | null>((resolve) => rival.once('exit', resolve));
    children.delete(rival);
    assert.equal(rivalCode, 6, rivalErr);
    assert.match(rivalErr, /talea-log serve: the data directory "\.\/data" is locked by another process/);

    // SIGTERM under load: four callers post distinct keys until the server goes away.
    const outcomes = new Map<string, { status: number | 'lost'; txid?: string }>();
    let stopLoad = false;
    const callers = Array.from({ length: 4 }, async (_, caller) => {
      for (let n = 0; n < 400 && !stopLoad; n++) {
        const key = `load-${caller}-${n}`;
        try {
          const reply = await client.post('/v1/transactions', transfer('demo', key, 1));
          outcomes.set(key, { status: reply.status, txid: reply.json?.tx_id });
          if (reply.status !== 200) break;
        } catch {
          outcomes.set(key, { status: 'lost' });
          break;
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill('SIGTERM');
    const { code } = await server.exited;
    stopLoad = true;
    await Promise.all(callers);
    assert.equal(code, 0, 'serve exits 0 after SIGTERM');
    const answered = [...outcomes].filter(([, outcome]) => outcome.status === 200);
    assert.ok(answered.length > 0, 'some commits were answered before the signal');
    for (const [, outcome] of outcomes) assert.ok(outcome.status === 200 || outcome.status === 503 || outcome.status === 'lost', String(outcome.status));

    // Restart: every answered commit is there once; every other one is retried with its key.
    const restarted = await serve(cwd, { TALEA_BIND: '127.0.0.1:0' });
    try {
      const again = new Client(restarted.url, token);
      for (const [key, outcome] of outcomes) {
        const retry = await again.post('/v1/transactions', transfer('demo', key, 1));
        assert.equal(retry.status, 200, retry.text);
        assert.equal(retry.json.deduplicated, outcome.status === 200 ? true : retry.json.deduplicated);
        if (outcome.status === 200) assert.equal(retry.json.tx_id, outcome.txid, `${key} is the answered commit`);
      }
      const history = await again.get('/v1/books/demo/accounts/equity/history?limit=1000');
      const keysCommitted = outcomes.size + 1; // plus first-funding
      assert.equal(history.json.items.length, keysCommitted, 'each key committed exactly once');
      assert.equal(new Set(history.json.items.map((item: { tx_id: string }) => item.tx_id)).size, keysCommitted);
    } finally {
      restarted.child.kill('SIGTERM');
      assert.equal((await restarted.exited).code, 0);
    }
  });

  test('bad configuration stops serve before anything is opened, naming the variable', async () => {
    const cwd = tempDir();
    const missing = await runCli(['serve'], cwd);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /TALEA_DB_URL is required/);
    for (const [variable, value] of [
      ['TALEA_MAX_INFLIGHT', 'many'],
      ['TALEA_BIND', 'nowhere'],
      ['TALEA_HTTP_BATCH_MAX', '0'],
      ['TALEA_METRICS_BIND', '127.0.0.1:99999'],
      ['TALEA_LOG_SEGMENT_MAX', '-1'],
      ['TALEA_DB_URL', 'mongodb://localhost/x'],
    ]) {
      const reply = await runCli(['serve'], cwd, { TALEA_DB_URL: 'log://./data', [variable!]: value! });
      assert.equal(reply.code, 2, `${variable}: ${reply.stderr}`);
      assert.match(reply.stderr, new RegExp(`invalid ${variable}`), reply.stderr);
    }
    fs.writeFileSync(path.join(cwd, 'tokens.toml'), '[tokens.a]\ntoken = "SECRETX"\nbooks = []\naccess = "rw"\n');
    const tokens = await runCli(['serve'], cwd, { TALEA_DB_URL: 'memory:', TALEA_TOKENS_FILE: 'tokens.toml' });
    assert.equal(tokens.code, 2);
    assert.match(tokens.stderr, /invalid TALEA_TOKENS_FILE: tokens file: entry "a": books must not be empty/);
    assert.ok(!tokens.stderr.includes('SECRETX'));
    assert.ok(!fs.existsSync(path.join(cwd, 'data')), 'nothing was created');
  });

  test('serve on memory: and sqlite:// with metrics on their own listener', async () => {
    const cwd = tempDir();
    for (const url of ['memory:', 'sqlite://./ledger.db']) {
      const server = await serve(cwd, { TALEA_DB_URL: url, TALEA_BIND: '127.0.0.1:0', TALEA_METRICS_BIND: '127.0.0.1:0' });
      try {
        const health = await fetch(`${server.url}/health`);
        assert.equal(health.headers.get('x-talea-backend'), url.split(':')[0]);
        assert.ok(server.metrics !== null && !server.metrics.startsWith(server.url));
        const metrics = await fetch(server.metrics);
        assert.equal(metrics.status, 200);
        const text = await metrics.text();
        assert.match(text, /talea_http_requests_total\{method="GET",route="\/health",status="200"\} 1/);
        assert.match(text, /process_cpu_seconds_total/);
        assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
      } finally {
        server.child.kill('SIGINT');
        assert.equal((await server.exited).code, 0);
      }
    }
    assert.ok(fs.existsSync(path.join(cwd, 'ledger.db')));
  });
});
