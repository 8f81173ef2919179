import type net from 'node:net';
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
 * While the server drains, a connection that has sent nothing for this long
 * since it opened is closed. Node counts one that has not begun a request as
 * busy (its first request's headers timeout runs from the connect), so the
 * close waited for it until that timeout (60 s) or the client's own idle
 * timeout: a browser's speculative connection, or the one an HTTP client
 * (undici) opens when a request of its is aborted. The grace leaves a request
 * just about to be written its chance of a readable 503.
 */
const SILENT_CONNECTION_GRACE_MS = 1000;

/**
 * While the server drains, new requests (on connections still open) get a
 * 503 problem with Connection: close, like every other error; and a
 * connection is closed as soon as nothing is in flight on it.
 */
export function registerShutdownRefusal(app: FastifyInstance): void {
  let closing = false;
  let sweep: NodeJS.Timeout | undefined;
  // The sockets HTTP is read from, with when each opened. (The server speaks plain HTTP: TLS ends at a proxy in front.)
  const opened = new Map<net.Socket, number>();
  app.server.on('connection', (socket: net.Socket) => {
    opened.set(socket, performance.now());
    socket.once('close', () => opened.delete(socket));
  });
  app.addHook('preClose', async () => {
    closing = true;
    // server.close() closes the connections idle when it is called and waits for the others to end. Those whose
    // answer ends during the drain (long-polls answered, SSE streams ended) are kept alive for the next request
    // that will not come, and held the close until their keep-alive timeout (65 s by default).
    sweep = setInterval(() => {
      app.server.closeIdleConnections();
      const now = performance.now();
      for (const [socket, openedAt] of opened) {
        if (socket.bytesRead === 0 && now - openedAt >= SILENT_CONNECTION_GRACE_MS) socket.destroy();
      }
    }, DRAIN_SWEEP_MS).unref();
  });
  app.addHook('onClose', async () => clearInterval(sweep));
  app.addHook('onRequest', async (request, reply) => {
    if (closing) return replyWithProblem(reply, request, new ShuttingDown());
  });
}
