/**
 * The HTTP transport's ceiling on this machine (bench/http.ts, B6): a server that does no ledger
 * work, driven by the same load generator as `talea-log serve`. It reads and parses each request
 * body like the service, and answers every POST with a fixed body the size of a posted
 * transaction's answer (200), so whatever it reaches is the most any server could reach here with
 * that load generator on the same cores.
 *
 * Kinds: `node-http` (Node's own http module, the least a Node server can do) and `fastify` (the
 * framework the service is built on, with one route and no hooks). Prints the same `talea
 * listening` JSON line as `talea-log serve`; exits on SIGTERM.
 */
import http from 'node:http';
import Fastify from 'fastify';

export type CeilingKind = 'node-http' | 'fastify';

const POSTED = '{"tx_id":"0193a8f2-6b1c-7d4e-9f00-112233445566","seq":123456,"at":"2026-12-04T15:00:00.123456Z","deduplicated":false}';

async function listenNodeHttp(): Promise<string> {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      response.writeHead(200, { 'content-type': 'application/json' }).end(POSTED);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return `http://127.0.0.1:${address.port}`;
}

async function listenFastify(): Promise<string> {
  const app = Fastify({ logger: false });
  app.post('/v1/transactions', async (_request, reply) => reply.type('application/json').send(POSTED));
  return app.listen({ port: 0, host: '127.0.0.1' });
}

const kind = process.argv[2] as CeilingKind;
if (kind !== 'node-http' && kind !== 'fastify') throw new Error(`http-ceiling: unknown kind ${String(kind)}`);
const url = kind === 'node-http' ? await listenNodeHttp() : await listenFastify();
process.stdout.write(`${JSON.stringify({ msg: 'talea listening', url })}\n`);
process.on('SIGTERM', () => process.exit(0));
