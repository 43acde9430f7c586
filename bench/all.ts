/**
 * `npm run bench`: the in-process scenarios (bench/run.ts, every flag passed through), then the
 * HTTP transport (bench/http.ts) with the same preset, in one run, so the wire's cost is a ratio of
 * figures taken on the same machine at the same time. `--no-http` skips the HTTP part;
 * `npm run bench:http` runs it alone.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runHttpBench } from './http.js';

const argv = process.argv.slice(2);
const skipHttp = argv.includes('--no-http');
const passed = argv.filter((flag) => flag !== '--no-http');
const here = path.dirname(fileURLToPath(import.meta.url));
const inProcess = spawnSync(process.execPath, [path.join(here, 'run.js'), ...passed], { stdio: 'inherit' });
let code = inProcess.status ?? 1;
if (!skipHttp && !passed.includes('--help')) {
  const quick = passed.includes('--quick');
  try {
    await runHttpBench({ quick, out: path.resolve('bench-results', `http-${quick ? 'quick' : 'default'}.json`) });
  } catch (error) {
    process.stderr.write(`HTTP bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    code = 1;
  }
}
process.exitCode = code;
