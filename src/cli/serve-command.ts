/**
 * `talea-log serve`: the talea HTTP API over the store named by TALEA_DB_URL (docs/http-service.md).
 *
 * Z1. Configuration comes from the environment, with `.env` of the working directory read first
 *     (real variables win); a bad value stops startup with EXIT_USAGE and a line naming the
 *     variable. The HTTP module is loaded only here, so other commands never load Fastify.
 * Z2. A `log://` directory held by another process stops startup with EXIT_LOCKED and a message
 *     saying so; any other failure to start is EXIT_FAILURE.
 * Z3. SIGTERM or SIGINT shuts down gracefully (runService, G2) and the command exits 0; a second
 *     signal during shutdown is ignored, shutdown is already bounded.
 */
import type { Command } from './command.js';
import { CliError, EXIT_FAILURE, EXIT_LOCKED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the talea HTTP API over the store named by TALEA_DB_URL',
  help: `Usage: talea-log serve

Serves the talea HTTP API (the same wire protocol as talead serve) over the store named by
TALEA_DB_URL, until SIGTERM or SIGINT; then it stops accepting, lets in-flight requests finish
(at most 10 s), closes the store and exits 0. Takes no arguments: configuration comes from the
environment, with .env in the working directory read first (real variables win).

Environment:
  TALEA_DB_URL             required: log://<dir>, sqlite://<file> or memory:
  TALEA_BIND               API listener, host:port (default 127.0.0.1:8080)
  TALEA_API_TOKEN          bearer token for /v1 (an all-books rw token)
  TALEA_TOKENS_FILE        TOML file of tokens scoped to books, ro or rw
  TALEA_MAX_INFLIGHT       requests in flight before 503 (default 256)
  TALEA_WRITE_QUEUE_DEPTH  write jobs queued per book before 429 (default 256)
  TALEA_HTTP_BATCH_MAX     drafts per POST /v1/transactions/batch (default 500, at most 1024)
  TALEA_METRICS_BIND       Prometheus listener host:port for GET /metrics (default: none)
  TALEA_LOG_*              the log store's tunables (see README, Configuration)

With no token configured every route is open (a warning is logged). See docs/http-service.md.

Exit codes: 0 stopped by a signal; 2 bad configuration; 6 the log:// directory is locked by
another process; 8 any other failure to start.`,
  options: {},
  positionals: { names: [], required: 0 },
  async run() {
    const { ConfigError, loadDotEnv, readServiceConfig, runService } = await import('../http/index.js');
    const { StartupError } = await import('../http/service.js');
    let service;
    try {
      loadDotEnv();
      const config = readServiceConfig(process.env);
      service = await runService(config);
    } catch (error) {
      if (error instanceof ConfigError) throw new CliError(EXIT_USAGE, error.message);
      if (error instanceof StartupError) throw new CliError(error.locked ? EXIT_LOCKED : EXIT_FAILURE, error.message);
      throw error;
    }
    const running = service;
    await new Promise<void>((resolve) => {
      const onSignal = (signal: NodeJS.Signals): void => {
        running.shutdown(signal).then(resolve, (error: unknown) => {
          running.app.log.error({ err: error }, 'shutdown failed');
          resolve();
        });
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    });
    return EXIT_OK;
  },
};
