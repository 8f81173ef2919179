import type { Db } from '../db/client.js';
import type { SessionRow } from '../sessions/statements.js';
import type { ReadFrom } from './offsets.js';
import { readStream, type StreamPage } from './store.js';
import { findStream } from './stream-expiry.js';

/*
 * Durable Streams readers follow a stream by asking for the same thing at the
 * same moment: an append wakes every long-poll and SSE reader waiting at the
 * tail (all in one turn of the event loop), and each then reads the page after
 * the same offset; their next requests ask for the session and the page after
 * the new tail together again. Read alone, 200 long-poll readers of one stream
 * made about 1,800 statements per append (a session lookup, then a
 * four-statement snapshot read on each request and each wakeup), and took
 * 62 ms (p50) from append to receipt in `npm run bench -- --only 10`.
 *
 * Here a read asked for while an identical one is queued but not yet started
 * joins it; the queued read starts on the next turn of the event loop
 * (`setImmediate`), so it takes every identical ask of the current turn and
 * adds no timer: with one reader nothing waits. A read never serves an ask
 * made after it started, so every reader still sees what committed before it
 * asked (a wakeup's rows, a close). Pages are shared, never changed by their
 * readers.
 */
export class SharedReads {
  private readonly queue = new SameTurnReads();

  constructor(
    private readonly db: Db,
    /** Counts each page query made (`session_sync_stream_face_reads_total`). */
    private readonly onPageRead: () => void = () => {},
  ) {}

  /** The stream's session (`findStream`: 404 when absent or expired). */
  session(sessionId: string): Promise<SessionRow> {
    return this.queue.share(`s\n${sessionId}`, () => findStream(this.db, sessionId));
  }

  /** The page after `from` (`readStream`: 400 past the tail, 410 below the history, 404). */
  page(sessionId: string, from: ReadFrom, page: { limit: number; maxBytes: number }): Promise<StreamPage> {
    // Stryker disable next-line StringLiteral: the key only has to differ from every `after` position, and String(number) is never empty
    const position = 'tail' in from ? 'tail' : String(from.after);
    return this.queue.share(`p\n${sessionId}\n${position}\n${page.limit}\n${page.maxBytes}`, () => {
      this.onPageRead();
      return readStream(this.db, sessionId, from, page);
    });
  }
}

/** Asks for the same key in one turn of the event loop share one read, started on the next turn. */
export class SameTurnReads {
  private readonly queued = new Map<string, Promise<unknown>>();

  share<T>(key: string, read: () => Promise<T>): Promise<T> {
    const queued = this.queued.get(key);
    if (queued) return queued as Promise<T>;
    const shared = new Promise<T>((resolve, reject) => {
      setImmediate(() => {
        // Started: later asks queue a read of their own.
        this.queued.delete(key);
        read().then(resolve, reject);
      });
    });
    this.queued.set(key, shared);
    return shared;
  }
}
