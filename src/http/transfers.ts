import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { RequestTimeout, TooManyTransfers } from '../errors.js';
import { Slots } from '../slots.js';
import { onResponseGone } from '../stream/connection-close.js';

/**
 * Transfers are the requests that hold a pool connection while they wait on
 * their client: an upload streams its body into one COPY, an import reads its
 * file inside one transaction, an export reads one REPEATABLE READ snapshot.
 * Not holding the connection would mean giving those up: the bytes would have
 * to land somewhere first (a temporary file, or chunks committed one by one
 * and swept when an upload never finishes), and an export's snapshot lives
 * only as long as its transaction. So they keep it, and instead every wait on
 * the client is bounded (`clientBody`, `readerPacedBody`), and at most
 * MAX_TRANSFERS run at once, below the pool size: however many clients stall,
 * the rest of the API keeps its connections.
 *
 * Other routes that stream do not hold one while they wait: a download reads
 * one slice per query, a stream reads pages of events, and NDJSON ingest holds
 * one only to publish the lines already in.
 */
export class TransferSlots {
  private readonly slots: Slots;

  constructor(readonly limit: number) {
    this.slots = new Slots(limit);
  }

  get inUse(): number {
    return this.slots.inUse;
  }

  /** A slot (see `Slots`), or 503 `too_many_transfers`. */
  take(): () => void {
    const release = this.slots.take();
    if (!release) throw new TooManyTransfers(this.limit);
    return release;
  }
}

/**
 * The request body as it arrives, ending in an error (so a COPY or a
 * transaction that reads it aborts and rolls back) when:
 * - no byte comes for `idleMs`: 408 `request_timeout`, with Connection: close
 *   (the rest of the body is never read);
 * - the response ended or closed first: REQUEST_TIMEOUT_MS's 408 went out
 *   (that answer is written outside the handler, which would otherwise wait
 *   for the rest of the body for ever), or the connection is gone (heard on
 *   the socket: see `onResponseGone`).
 * Without `idleMs` only the second applies.
 */
export async function* clientBody(body: Readable, response: ServerResponse, idleMs?: number): AsyncGenerator<Buffer> {
  // The request stays whole when the reading stops: the 408 still has to be written on its socket.
  const chunks = body.iterator({ destroyOnReturn: false });
  let gone = false;
  try {
    for (;;) {
      // A waiter and a timer per read, both gone after it: a 32 MiB upload is ~500 reads.
      let stop: (why: 'idle' | 'closed') => void = () => {};
      const stopped = new Promise<'idle' | 'closed'>((resolve) => (stop = resolve));
      const closed = () => stop('closed');
      let stopListening = () => {};
      if (response.writableEnded || response.destroyed) closed();
      else stopListening = onResponseGone(response, closed);
      const timer = idleMs === undefined ? undefined : setTimeout(() => stop('idle'), idleMs);
      const next = await Promise.race([chunks.next(), stopped]).finally(() => {
        clearTimeout(timer);
        stopListening();
      });
      if (next === 'idle') throw new RequestTimeout(idleMs ?? 0, true);
      if (next === 'closed') {
        gone = true;
        throw new Error('the request was answered or its connection closed before its body ended');
      }
      if (next.done) return;
      yield Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
    }
  } finally {
    // Not awaited: after a timeout a read is still pending, and the iterator returns only once that one settles.
    chunks.return?.().catch(() => {});
    // Nobody is left to read it for.
    if (gone) body.destroy();
  }
}

/**
 * Runs a transfer's handler; an error that comes after its answer went out
 * (the 408 of REQUEST_TIMEOUT_MS) or after its client left is not answered
 * (nobody is there, and fastify would log a second answer, or the request's
 * "aborted", as the server's failure). A response queued behind another on
 * its connection is not destroyed with it on Node 22: the socket tells.
 */
export async function answerUnlessGone<T>(reply: FastifyReply, handle: () => Promise<T>): Promise<T | undefined> {
  try {
    return await handle();
  } catch (error) {
    if (!reply.sent && !reply.raw.destroyed && !reply.request.raw.socket.destroyed) throw error;
    reply.log.debug({ err: error }, 'transfer ended after its answer or its client');
    return undefined;
  }
}

/**
 * A response body read from `lines` at the reader's pace: a line (an
 * export's) or a slice (a download's) is read only when the socket took the
 * ones before. A reader that takes nothing for `idleMs` once its buffers are
 * full is cut off, like a stream's slow reader (src/stream/sse.ts,
 * writePaced). Whatever ends the body (the end, an error, the cut, the client
 * closing) returns `lines`, so a transaction it holds rolls back and its
 * connection goes back; `settled` runs after that. The client closing is
 * heard on its connection too: a body queued behind another response on it
 * would otherwise wait out `idleMs` on Node 22 (src/stream/connection-close.ts).
 */
export function readerPacedBody(
  response: ServerResponse,
  head: string | Buffer,
  lines: AsyncGenerator<string | Buffer>,
  idleMs: number,
  settled: () => void,
): Readable {
  let stall: NodeJS.Timeout | undefined;
  let done = false;
  let stopListening = () => {};
  const settle = () => {
    if (done) return;
    done = true;
    // A keep-alive connection serves download after download: each one's wait on it ends with it.
    stopListening();
    settled();
  };
  const body = new Readable({
    read() {
      clearTimeout(stall);
      lines.next().then(
        (next) => {
          if (body.destroyed) return;
          if (next.done) {
            body.push(null);
            settle();
            return;
          }
          // Past the high-water mark: the socket has not taken what it was given, and the reader has idleMs to take some.
          if (!body.push(next.value)) {
            stall = setTimeout(() => body.destroy(new Error(`the reader took no bytes for ${idleMs} ms (TRANSFER_IDLE_TIMEOUT_MS)`)), idleMs);
          }
        },
        (error: unknown) => body.destroy(error instanceof Error ? error : new Error(String(error))),
      );
    },
    destroy(error, callback) {
      clearTimeout(stall);
      // Waits for a read in flight, then runs the generator's finally (its rollback and release).
      lines.return(undefined).then(
        () => {
          settle();
          callback(error);
        },
        (failure: unknown) => {
          settle();
          callback(error ?? (failure instanceof Error ? failure : new Error(String(failure))));
        },
      );
    },
  });
  body.push(head);
  // Fastify destroys the body when the response closes early; this also covers a client gone before it started piping,
  // and a response that never hears its connection close.
  if (response.destroyed) body.destroy();
  else stopListening = onResponseGone(response, () => body.destroy());
  return body;
}
