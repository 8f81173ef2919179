import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import type { ServerResponse } from 'node:http';
import type { LiveFrameName, LiveFrames } from 'session-sync/client/protocol';
import { onResponseGone } from './connection-close.js';

/**
 * Unsent output of every stream of the process together: the bound that holds
 * however many clients stop reading at once.
 */
export class OutputLedger {
  private bytes = 0;

  constructor(readonly limit: number) {}

  get total(): number {
    return this.bytes;
  }

  /** Adds (or, negative, removes) a writer's change in unsent bytes; false once past the limit. */
  change(delta: number): boolean {
    this.bytes += delta;
    return this.bytes <= this.limit;
  }
}

/**
 * Why a stream closed. Only 'slow reader' is counted (the slow-readers
 * metric); the others say what happened to whoever debugs a stream.
 */
export type CloseReason =
  | 'client closed'
  | 'replay complete'
  | 'session deleted'
  | 'cursor expired'
  | 'token expired'
  | 'stream closed'
  | 'stream lifetime'
  | 'server shutting down'
  | 'slow reader'
  | 'error';

/**
 * One server-sent-events response. Frames are built by the callers (once per
 * event, shared by every subscriber) and written here; a writer whose socket
 * buffer passes `maxBufferedBytes` is cut off rather than buffered without
 * bound: its client reconnects with Last-Event-ID and loses nothing durable.
 */
export class SseWriter {
  private closedReason: CloseReason | undefined;
  private readonly closeListeners: (() => void)[] = [];
  /** This writer's share of the ledger: its unsent bytes when last looked at. */
  private counted = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBufferedBytes: number,
    private readonly ledger: OutputLedger = new OutputLedger(Infinity),
  ) {
    // Its connection's close too: a pipelined stream queued behind another hears nothing else of it on Node 22.
    this.closeListeners.push(onResponseGone(res, () => this.markClosed('client closed')));
    res.on('drain', () => this.recount(0));
    // A client that went away while the route still awaited its reads fired 'close' before anyone listened.
    if (res.destroyed) this.markClosed('client closed');
  }

  /** Moves this writer's share of the ledger to `unsent`; false if the process is past its bound. */
  private recount(unsent: number): boolean {
    const within = this.ledger.change(unsent - this.counted);
    this.counted = unsent;
    return within;
  }

  static headers(): Record<string, string> {
    return {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    };
  }

  open(extraHeaders: Record<string, string>, retryMs: number): void {
    this.res.writeHead(200, { ...SseWriter.headers(), ...extraHeaders });
    this.res.write(`retry: ${retryMs}\n\n`);
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /**
   * Pushes a frame the client did not ask to pace (tail rows, live frames,
   * heartbeats). Returns false if the writer is (now) closed: past the bound it
   * is cut off, since a reader this far behind is better served by a reconnect.
   */
  push(frame: string): boolean {
    if (this.closed) return false;
    this.res.write(frame);
    // Unsent output counts against this stream's bound and the process's.
    const unsent = this.res.writableLength;
    if (!this.recount(unsent) || unsent > this.maxBufferedBytes) {
      this.destroy('slow reader');
      return false;
    }
    return true;
  }

  /**
   * Sends history at the client's pace: waits for the socket to drain, so a
   * replay holds at most one chunk in memory. A client that takes no data for
   * `DRAIN_TIMEOUT_MS` is cut off, and sooner (after `YIELD_AFTER_MS`) when
   * `othersWaiting()` says the memory it holds is wanted by other streams.
   */
  async writePaced(chunk: string, othersWaiting: () => boolean = () => false): Promise<boolean> {
    if (this.closed) return false;
    if (this.res.write(chunk)) return true;
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    for (;;) {
      const drained = await this.drainWithin(Math.min(YIELD_AFTER_MS, deadline - Date.now()));
      if (drained || this.closed) return !this.closed;
      if (Date.now() >= deadline || othersWaiting()) {
        this.destroy('slow reader');
        return false;
      }
    }
  }

  /** True once the socket drained, false after `ms` or when it closed. */
  private async drainWithin(ms: number): Promise<boolean> {
    // Whichever wins, the losers' listeners and timer must go: a long replay waits here often.
    const done = new AbortController();
    const { signal } = done;
    // Stryker disable next-line BooleanLiteral: only the close listener's answer can win the race, and a closed writer returns false whatever it says
    const lost = () => false;
    const drained = await Promise.race([
      once(this.res, 'drain', { signal }).then(() => true, lost),
      once(this.res, 'close', { signal }).then(lost, lost),
      setTimeout(Math.max(ms, 0), false, {
        // Stryker disable next-line BooleanLiteral: the timer is cleared when the wait ends, and while it runs the open response keeps the process alive anyway
        ref: false,
        signal,
      }).catch(lost),
    ]);
    done.abort();
    return drained;
  }

  /** True while earlier output is still waiting for the client. */
  get backedUp(): boolean {
    return this.res.writableNeedDrain;
  }

  /** Ends the stream cleanly (the client may reconnect). */
  end(reason: CloseReason): void {
    if (this.closed) return;
    this.markClosed(reason);
    this.res.end();
  }

  destroy(reason: CloseReason): void {
    if (this.closed) return;
    this.markClosed(reason);
    this.res.destroy();
  }

  get reason(): CloseReason | undefined {
    return this.closedReason;
  }

  private markClosed(reason: CloseReason): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.recount(0);
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}

const DRAIN_TIMEOUT_MS = 30_000;
/** Under memory pressure, a client that took nothing for this long gives its place up. */
export const YIELD_AFTER_MS = 1000;

export const KEEPALIVE_FRAME = ': keepalive\n\n';

/** A durable event frame: its `id:` moves the client's reconnect cursor. `json` must be single-line JSON. */
export function durableFrame(seq: number, type: string, json: string): string {
  return `id: ${seq}\nevent: ${type}\ndata: ${json}\n\n`;
}

/** One of the server's own live frames (no `id:`, so it never moves the cursor and is never replayed), its data as the protocol types it. */
export function liveFrame<K extends LiveFrameName>(type: K, data: LiveFrames[K]): string {
  return publishedFrame(type, data);
}

/** A live event a worker published (`POST .../live`), under its own type name (checked by the route: no CR or LF). */
export function publishedFrame(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
