import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { onConnectionClose, onResponseGone } from './connection-close.js';

/**
 * Bytes held from a `ByteBudget`: calling it gives them all back (once;
 * later calls do nothing); `shrinkTo` gives back what a read turned out not
 * to need (a page reserved at its largest that came back small).
 */
export interface Reservation {
  (): void;
  shrinkTo(bytes: number): void;
}

const NOTHING_HELD: Reservation = Object.assign(() => {}, { shrinkTo: () => {} });

/**
 * A process-wide budget of bytes, handed out in FIFO order: what holds rows in
 * memory on behalf of a client that may never read (a replay page waiting for
 * its socket to drain) takes its share first and waits for room when there is
 * none, so no number of such clients can exhaust the heap.
 */
export class ByteBudget {
  private used = 0;
  private readonly waiting: { bytes: number; grant: () => void }[] = [];

  constructor(readonly total: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Someone is waiting for room: holders whose clients do not read should give theirs up. */
  get contended(): boolean {
    return this.waiting.length > 0;
  }

  /**
   * Resolves with the reservation once `bytes` (capped at the total) are
   * reserved. `abandon` settles a wait the caller no longer needs: the promise
   * then resolves with a reservation of nothing.
   */
  acquire(bytes: number, abandon?: (cancel: () => void) => void): Promise<Reservation> {
    const want = Math.min(bytes, this.total);
    if (this.waiting.length === 0 && this.used + want <= this.total) return Promise.resolve(this.take(want));
    return new Promise((resolve) => {
      const entry = { bytes: want, grant: () => resolve(this.take(want)) };
      this.waiting.push(entry);
      abandon?.(() => {
        const index = this.waiting.indexOf(entry);
        if (index < 0) return;
        this.waiting.splice(index, 1);
        resolve(NOTHING_HELD);
        this.grantWaiting();
      });
    });
  }

  private take(bytes: number): Reservation {
    this.used += bytes;
    let held = bytes;
    const giveBack = (keep: number) => {
      this.used -= held - keep;
      held = keep;
      this.grantWaiting();
    };
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      giveBack(0);
    };
    const shrinkTo = (keep: number) => {
      if (!released && keep < held) giveBack(Math.max(keep, 0));
    };
    return Object.assign(release, { shrinkTo });
  }

  private grantWaiting(): void {
    for (;;) {
      const next = this.waiting[0];
      if (!next || this.used + next.bytes > this.total) return;
      this.waiting.shift();
      next.grant();
    }
  }
}

/** A client that has taken none of an answer for this long is cut off, and what it held is freed. */
export const STALLED_CLIENT_MS = 30_000;
/** ...or for this long, while others wait for the memory it holds. */
const YIELD_AFTER_MS = 1000;

/**
 * Keeps `release` until `res` has handed its whole body to the socket (or
 * closed). A client that stops reading is cut off after `STALLED_CLIENT_MS`,
 * or after `YIELD_AFTER_MS` when `budget` has others waiting, so it cannot
 * keep its share for ever.
 */
export function releaseWhenSent(res: ServerResponse, budget: ByteBudget, release: () => void): void {
  // Gone while it waited for room or for its page: nothing will be sent.
  if (res.destroyed || res.writableFinished) {
    release();
    return;
  }
  const started = Date.now();
  let stopListening = () => {};
  const timer = setInterval(() => {
    if (!budget.contended && Date.now() - started < STALLED_CLIENT_MS) return;
    res.destroy();
    done();
  }, YIELD_AFTER_MS).unref();
  function done(): void {
    clearInterval(timer);
    res.off('finish', done);
    stopListening();
    release();
  }
  res.once('finish', done);
  // (Its connection already gone, this runs `done` at once.)
  stopListening = onResponseGone(res, done);
}

/**
 * `budget.acquire`, waited for only while the client's connection is open: the
 * queue is first come, first served, so a request whose connection closed (a
 * reader cut for not reading, with more requests pipelined behind) would
 * otherwise keep its place ahead of readers that read. Abandoned, it resolves
 * with a no-op release: the caller checks `socket.destroyed` before reading.
 */
export async function acquireWhileConnected(budget: ByteBudget, socket: Socket, bytes: number): Promise<Reservation> {
  let stopListening = () => {};
  const release = await budget.acquire(bytes, (cancel) => {
    stopListening = onConnectionClose(socket, cancel);
  });
  stopListening();
  return release;
}
