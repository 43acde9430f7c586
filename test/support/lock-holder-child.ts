/**
 * A child process for the data-directory lock tests (spec/log-engine.md, section 10).
 *
 *   node lock-holder-child.js hold <dir>   opens a LogStore on <dir>, prints "locked", and keeps it
 *                                          open until stdin ends (then closes) or it is killed
 *   node lock-holder-child.js try <dir>    tries to open <dir> once and prints the outcome as JSON:
 *                                          {"ok":true} or {"ok":false,"code":...,"message":...}
 */
import { LogStore } from '../../src/log/log-store.js';

const [mode, dir] = process.argv.slice(2);
if (dir === undefined || (mode !== 'hold' && mode !== 'try')) {
  process.stderr.write('usage: lock-holder-child.js hold|try <dir>\n');
  process.exit(2);
}

if (mode === 'hold') {
  const store = await LogStore.open(dir, { workers: 1 });
  process.stdout.write('locked\n');
  process.stdin.resume();
  process.stdin.on('end', () => {
    void store.close().then(() => process.exit(0));
  });
} else {
  try {
    const store = await LogStore.open(dir, { workers: 1 });
    await store.close();
    process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    process.stdout.write(`${JSON.stringify({ ok: false, code, message })}\n`);
  }
}
