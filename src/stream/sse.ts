import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import type { ServerResponse } from 'node:http';

/**
 * One server-sent-events response. Frames are built by the callers (once per
 * event, shared by every subscriber) and written here; a writer whose socket
 * buffer passes `maxBufferedBytes` is cut off rather than buffered without
 * bound: its client reconnects with Last-Event-ID and loses nothing durable.
 */
export class SseWriter {
  private closedReason: string | undefined;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBufferedBytes: number,
  ) {
    res.on('close', () => this.markClosed('client closed'));
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
    if (this.res.writableLength > this.maxBufferedBytes) {
      this.destroy('slow reader');
      return false;
    }
    return true;
  }

  /**
   * Sends history at the client's pace: waits for the socket to drain, so a
   * replay holds at most one chunk in memory. A client that takes no data for
   * `DRAIN_TIMEOUT_MS` is cut off.
   */
  async send(chunk: string): Promise<boolean> {
    if (this.closed) return false;
    if (this.res.write(chunk)) return true;
    // Whichever wins, the losers' listeners and timer must go: a long replay waits here often.
    const done = new AbortController();
    const { signal } = done;
    const lost = () => false;
    const drained = await Promise.race([
      once(this.res, 'drain', { signal }).then(() => true, lost),
      once(this.res, 'close', { signal }).then(lost, lost),
      setTimeout(DRAIN_TIMEOUT_MS, false, { ref: false, signal }).catch(lost),
    ]);
    done.abort();
    if (!drained) this.destroy('slow reader');
    return !this.closed;
  }

  /** True while earlier output is still waiting for the client. */
  get backedUp(): boolean {
    return this.res.writableNeedDrain;
  }

  /** Ends the stream cleanly (the client may reconnect). */
  end(reason: string): void {
    if (this.closed) return;
    this.markClosed(reason);
    this.res.end();
  }

  destroy(reason: string): void {
    if (this.closed) return;
    this.markClosed(reason);
    this.res.destroy();
  }

  get reason(): string | undefined {
    return this.closedReason;
  }

  private markClosed(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}

const DRAIN_TIMEOUT_MS = 30_000;

export const KEEPALIVE_FRAME = ': keepalive\n\n';

/** A durable event frame: its `id:` moves the client's reconnect cursor. `json` must be single-line JSON. */
export function durableFrame(seq: number, type: string, json: string): string {
  return `id: ${seq}\nevent: ${type}\ndata: ${json}\n\n`;
}

/** A live frame: no `id:`, so it never moves the cursor and is never replayed. */
export function liveFrame(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
