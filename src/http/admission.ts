/**
 * Admission control (spec/http-api.md H5; the reference's load-shed layer).
 *
 * C1. At most `maxInflight` requests hold a slot at once; one more is answered at once with 503
 *     `overloaded` and `Retry-After: 1`, before its body is read. `/health` counts like any other
 *     route, so a load balancer sees "busy" (readiness), never "dead" (liveness).
 * C2. A slot is given back exactly once: when the response ends or its connection closes, or
 *     earlier when the event stream has sent its headers (a stream is not an in-flight request).
 * C3. Once shutdown began, every new request is answered 503 `overloaded` with `Retry-After: 1`, and
 *     every answer carries `Connection: close`: the client retries elsewhere or later with the
 *     same key, and no keep-alive connection holds the server open.
 */
import type { FastifyInstance } from 'fastify';
import { shed } from './api-error.js';
import type { ServiceMetrics } from './metrics.js';
import { sendFailure } from './routes.js';

export interface Admission {
  /** Requests holding a slot now. */
  readonly inflight: number;
  /** Refuse every new request from now on (C3). */
  beginShutdown(): void;
}

export function installAdmission(app: FastifyInstance, maxInflight: number, metrics: ServiceMetrics): Admission {
  let inflight = 0;
  let closing = false;
  if (!app.hasRequestDecorator('taleaReleaseAdmission')) app.decorateRequest('taleaReleaseAdmission', null);
  // Callback hooks, not async ones: every request runs them, and a promise per hook is measurable.
  app.addHook('onRequest', (request, reply, done) => {
    if (closing) {
      reply.header('connection', 'close');
      sendFailure(request, reply, shed());
      return;
    }
    if (inflight >= maxInflight) {
      metrics.shed.inc();
      sendFailure(request, reply, shed());
      return;
    }
    inflight++;
    metrics.inflight.set(inflight);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      inflight--;
      metrics.inflight.set(inflight);
    };
    request.taleaReleaseAdmission = release;
    reply.raw.once('close', release);
    done();
  });
  // An answer sent after shutdown began closes its connection, so closing never waits on an idle
  // keep-alive connection for the keep-alive timeout.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  return {
    get inflight() {
      return inflight;
    },
    beginShutdown() {
      closing = true;
    },
  };
}
