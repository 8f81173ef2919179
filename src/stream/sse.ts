import { once } from 'node:events';
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

  /** Writes a frame; returns false if the writer is (now) closed. */
  write(frame: string): boolean {
    if (this.closed) return false;
    this.res.write(frame);
    if (this.res.writableLength > this.maxBufferedBytes) {
      this.destroy('slow reader');
      return false;
    }
    return true;
  }

  /** Resolves when the socket has room again (or the writer closed). */
  async drained(): Promise<void> {
    if (this.closed || !this.res.writableNeedDrain) return;
    await Promise.race([once(this.res, 'drain'), once(this.res, 'close')]);
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

export const KEEPALIVE_FRAME = ': keepalive\n\n';

/** A durable event frame: its `id:` moves the client's reconnect cursor. `json` must be single-line JSON. */
export function durableFrame(seq: number, type: string, json: string): string {
  return `id: ${seq}\nevent: ${type}\ndata: ${json}\n\n`;
}

/** A live frame: no `id:`, so it never moves the cursor and is never replayed. */
export function liveFrame(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
