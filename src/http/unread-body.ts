import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/**
 * Bounds on reading (and discarding) the rest of a refused request's body
 * before answering. 64 MiB is read in well under a second on a local network
 * and is 16 times the default MAX_BODY_BYTES, so a body that missed its limit
 * by any ordinary margin is read whole; a peer that stops sending for a second,
 * or takes ten seconds in all, is answered anyway.
 */
export const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
export const DRAIN_IDLE_MS = 1000;
export const DRAIN_MAX_MS = 10_000;

/** Requests whose body is being read away: the body timeout leaves them to this module. */
const draining = new WeakSet<IncomingMessage>();

export function isDraining(req: IncomingMessage): boolean {
  return draining.has(req);
}

/**
 * An answer that goes out before its request's body has all arrived (413 over
 * a limit, 400 for a bad line of an NDJSON body, 401, 415...) is held until
 * the rest of the body has been read and thrown away. Answering first and
 * closing loses the answer: once the server closes a socket with unread bytes
 * in it, the kernel resets the connection, and a client still sending (Node's
 * fetch always; curl now and then) sees EPIPE or ECONNRESET instead of the
 * answer, which may already sit unread in its buffer. Read to its end, the
 * body leaves the connection clean, so it stays open for the next request;
 * past the bounds above, the answer says `Connection: close`. Nothing is held
 * meanwhile but the socket: the handler, and any transaction it had, are done.
 */
export function registerUnreadBodyDrain(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const req = request.raw;
    // `readableEnded` too: a request injected in tests (light-my-request) has no `complete`.
    if (req.complete || req.readableEnded || req.destroyed) return payload;
    if (!(await drain(req))) reply.header('connection', 'close');
    return payload;
  });
}

/** Reads `req` to its end, discarding; false when a bound came first or the request broke. */
function drain(req: IncomingMessage): Promise<boolean> {
  const declared = Number(req.headers['content-length']);
  // A body declared past the bound would not be read whole anyway: answer at once.
  if (Number.isFinite(declared) && declared > DRAIN_MAX_BYTES) return Promise.resolve(false);
  draining.add(req);
  return new Promise<boolean>((resolve) => {
    let read = 0;
    let idle: NodeJS.Timeout | undefined;
    const finish = (whole: boolean) => {
      clearTimeout(idle);
      clearTimeout(overall);
      req.off('readable', onReadable);
      req.off('end', onEnd);
      req.off('error', onBroken);
      req.off('close', onBroken);
      draining.delete(req);
      resolve(whole);
    };
    const onEnd = () => finish(true);
    const onBroken = () => finish(req.complete);
    const restartIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => finish(false), DRAIN_IDLE_MS);
    };
    // Read in paused mode: it works whatever mode the route left the stream in (an
    // abandoned async iterator leaves a 'readable' listener, which would keep
    // resume() from ever flowing it).
    const onReadable = () => {
      for (let chunk = req.read() as Buffer | null; chunk !== null; chunk = req.read() as Buffer | null) {
        read += chunk.length;
        if (read > DRAIN_MAX_BYTES) return finish(false);
      }
      restartIdle();
    };
    const overall = setTimeout(() => finish(false), DRAIN_MAX_MS);
    restartIdle();
    req.on('readable', onReadable);
    req.once('end', onEnd);
    req.once('error', onBroken);
    req.once('close', onBroken);
    onReadable();
  });
}
