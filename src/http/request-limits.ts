import type { FastifyInstance } from 'fastify';
import { replyWithProblem, writeRawProblem } from './error-handler.js';
import { RequestTimeout, ShuttingDown } from '../errors.js';
import { isDraining } from './unread-body.js';

/**
 * A request whose body has not fully arrived `timeoutMs` after its headers
 * gets a 408 problem and its connection is closed. Node's own requestTimeout
 * is only checked every 30 s (so 30 s set meant up to 60 s and more) and
 * answers with a bare 408; it stays as a backstop only.
 */
export function registerBodyTimeout(app: FastifyInstance, timeoutMs: number): void {
  app.addHook('onRequest', async (request, reply) => {
    const req = request.raw;
    if (req.complete) return;
    const timer = setTimeout(() => {
      // A refusal already waits on the rest of the body, under bounds of its own.
      if (req.complete || reply.raw.writableEnded || isDraining(req)) return;
      if (reply.raw.headersSent) {
        req.socket.destroy();
        return;
      }
      // Fastify is still waiting for the body: this answer is written here, and fastify must not write another.
      reply.hijack();
      writeRawProblem(reply, request.url, new RequestTimeout(timeoutMs));
      // Stryker disable next-line StringLiteral,ArrowFunction,CallExpression: belt and braces; the 408 carries Connection: close, after which Node's server destroys the socket itself once the answer is flushed (test/http/request-limits.test.ts checks the socket is let go)
      reply.raw.once('finish', () => req.socket.destroy());
    }, timeoutMs).unref();
    const clear = () => clearTimeout(timer);
    req.once('end', clear);
    reply.raw.once('close', clear);
    reply.raw.once('finish', clear);
  });
}

/** How often, while the server drains, the connections its answers left idle are closed. */
const DRAIN_SWEEP_MS = 50;

/**
 * While the server drains, new requests (on connections still open) get a
 * 503 problem with Connection: close, like every other error; and a
 * connection is closed as soon as nothing is in flight on it.
 */
export function registerShutdownRefusal(app: FastifyInstance): void {
  let closing = false;
  let sweep: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    closing = true;
    // server.close() closes the connections idle when it is called and waits for the others to end. Those whose
    // answer ends during the drain (long-polls answered, SSE streams ended) are kept alive for the next request
    // that will not come, and held the close until their keep-alive timeout (65 s by default).
    sweep = setInterval(() => app.server.closeIdleConnections(), DRAIN_SWEEP_MS).unref();
  });
  app.addHook('onClose', async () => clearInterval(sweep));
  app.addHook('onRequest', async (request, reply) => {
    if (closing) return replyWithProblem(reply, request, new ShuttingDown());
  });
}
