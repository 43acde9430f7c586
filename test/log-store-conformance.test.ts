/**
 * The shared conformance suite against LogStore (conformance.md 2.3 and B10): every case in a
 * fresh directory with two workers, then again with the store closed and reopened between each
 * case's writes and its checks.
 */
import { runConformance } from './conformance/run-conformance.js';
import { openTempLogStore, reopenLogStore } from './support/temp-log-store.js';

runConformance('LogStore', () => openTempLogStore({ workers: 2 }));

runConformance('LogStore, restarted between writes and checks (B10)', () => openTempLogStore({ workers: 2 }), {
  reopen: reopenLogStore,
});
