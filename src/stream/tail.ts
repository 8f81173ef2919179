import type { BaseLogger } from 'pino';
import { type EventRow, type EventRowPage, eventJson } from '../events/read.js';
import { type CloseReason, durableFrame, liveFrame, type SseWriter } from './sse.js';
import { LIVE_EVENT } from 'session-sync/client/protocol';

/** Bytes of live frames kept for a subscriber still replaying history; older ones are dropped (live is best-effort). */
const CATCH_UP_LIVE_BYTES = 64 * 1024;
/** Bytes of live frames waiting for the durable rows they follow; past this the oldest are dropped. */
const PENDING_LIVE_BYTES = 1024 * 1024;
const RETRY_READ_MS = 1000;

/** Rows after `after`, at most `limit` and bounded in bytes (`cut`: the byte bound ended the page early). */
export type ReadRows = (sid: number, after: number, limit: number) => Promise<EventRowPage>;

/** A FIFO of frames bounded in bytes: past the bound the oldest go. */
class FrameQueue<T extends { frame: string }> {
  private items: T[] = [];
  private bytes = 0;

  constructor(private readonly limit: number) {}

  get length(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.items.push(item);
    this.bytes += item.frame.length;
    while (
      this.bytes > this.limit &&
      // Stryker disable next-line ConditionalExpression,EqualityOperator: bytes is the sum of the items' lengths, so it passes the limit only while items remain
      this.items.length > 0
    )
      this.shift();
  }

  shift(): T | undefined {
    const item = this.items.shift();
    if (item) this.bytes -= item.frame.length;
    return item;
  }

  drain(): T[] {
    const items = this.items;
    this.items = [];
    this.bytes = 0;
    return items;
  }
}

/**
 * What a stream sends when history it has not sent yet was trimmed under it
 * (retention): it then ends, and reconnecting with its Last-Event-ID gets 410
 * `cursor_expired`, whose recovery the client follows. Never a silent gap.
 */
export function cursorExpiredFrame(cursor: number, historyStart: number): string {
  return liveFrame(LIVE_EVENT.cursorExpired, { cursor, history_start: historyStart });
}

export function toFrame(row: EventRow): string {
  return durableFrame(row.seq, row.type, eventJson(row));
}

/**
 * One open stream. It replays history on its own first; once it has caught up
 * with its session's tail it is `joined` and receives rows the tail reads.
 */
export class Subscriber {
  joined = false;
  writer: SseWriter | undefined;
  /** Set when the session ends (deleted) before this stream opened. */
  finalFrame: string | undefined;
  private readonly liveBacklog = new FrameQueue<{ frame: string }>(CATCH_UP_LIVE_BYTES);

  constructor(public lastSeq: number) {}

  deliverLive(frame: string): void {
    if (this.joined) {
      this.writer?.push(frame);
      return;
    }
    this.liveBacklog.push({ frame });
  }

  /** Live frames that arrived while replaying; all follow history this subscriber has now sent. */
  flushLiveBacklog(): void {
    for (const { frame } of this.liveBacklog.drain()) this.writer?.push(frame);
  }

  finish(frame: string, reason: CloseReason): void {
    if (!this.writer) {
      this.finalFrame = frame;
      return;
    }
    this.writer.push(frame);
    this.writer.end(reason);
  }
}

/**
 * A reader that reads rows on its own and only needs to know when to look
 * again (the Durable Streams face's long-polls and SSE reads: their frames
 * are not the native ones). It holds no connection while it waits.
 */
export interface TailWatcher {
  /** The seq it has read up to: the head poll wakes it once the head is past it. */
  readonly seenSeq: number;
  /** Something was committed (rows, or a close): read again. */
  wake(): void;
  /** The session is gone. */
  end(): void;
}

/**
 * The shared tail of one session on this process: on a wakeup it reads the
 * rows after its cursor once and hands them to every joined subscriber, then
 * waits again. Live frames wait here until the history they follow is read.
 */
export class SessionTail {
  /** Last seq read and handed to joined subscribers; unset until someone joins. */
  private cursor: number | undefined;
  private readonly subscribers = new Set<Subscriber>();
  private readonly watchers = new Set<TailWatcher>();
  private reading = false;
  private wokenWhileReading = false;
  private readonly pendingLive = new FrameQueue<{ head: number; frame: string }>(PENDING_LIVE_BYTES);
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly sessionId: string,
    readonly sid: number,
    private readonly readRows: ReadRows,
    private readonly pageSize: number,
    private readonly log: Pick<BaseLogger, 'warn'>,
    private readonly onRead: () => void = () => {},
  ) {}

  get size(): number {
    return this.subscribers.size + this.watchers.size;
  }

  /** Whether the head poll should wake this tail: a joined subscriber or a watcher has read less than `head`. */
  behind(head: number): boolean {
    if (this.cursor !== undefined && head > this.cursor) return true;
    for (const watcher of this.watchers) if (head > watcher.seenSeq) return true;
    return false;
  }

  /** Whether the head poll should look at this tail at all. */
  get followed(): boolean {
    return this.cursor !== undefined || this.watchers.size > 0;
  }

  addWatcher(watcher: TailWatcher): void {
    this.watchers.add(watcher);
  }

  removeWatcher(watcher: TailWatcher): void {
    this.watchers.delete(watcher);
  }

  add(subscriber: Subscriber): void {
    this.subscribers.add(subscriber);
  }

  remove(subscriber: Subscriber): void {
    this.subscribers.delete(subscriber);
    if (this.subscribers.size === 0) clearTimeout(this.retryTimer);
  }

  /**
   * Joins `subscriber` if it has sent everything the tail has; otherwise it
   * must read on by itself and try again. Synchronous, so no row can slip
   * between the check and the join.
   */
  tryJoin(subscriber: Subscriber): boolean {
    if (this.cursor !== undefined && subscriber.lastSeq < this.cursor) return false;
    subscriber.joined = true;
    subscriber.flushLiveBacklog();
    if (this.cursor === undefined) {
      // First to join: start the tail where this subscriber is, and read once,
      // since wakeups that came while nobody was joined were not acted on.
      this.cursor = subscriber.lastSeq;
      this.wake();
    }
    return true;
  }

  /** A commit (or a close) may be there to read: the tail reads it, and the watchers read on their own. */
  wake(): void {
    void this.read();
    for (const watcher of this.watchers) watcher.wake();
  }

  publishLive(head: number, frame: string): void {
    if (this.pendingLive.length === 0 && this.cursor !== undefined && head <= this.cursor) {
      this.deliverLive(frame);
      return;
    }
    this.pendingLive.push({ head, frame });
    // The wakeup for `head` was sent before this frame; if it got lost, this read finds the rows anyway.
    // (Watchers are not woken: a live frame is nothing they read.)
    void this.read();
  }

  /** Ends every stream of this session with a final frame (the session is gone). */
  finish(frame: string, reason: CloseReason): void {
    for (const subscriber of this.subscribers) subscriber.finish(frame, reason);
    for (const watcher of this.watchers) watcher.end();
  }

  private deliverLive(frame: string): void {
    for (const subscriber of this.subscribers) subscriber.deliverLive(frame);
  }

  /** Delivers the live frames held until history reached `cursor`. */
  private releaseLive(cursor: number): void {
    for (let next = this.pendingLive.peek(); next !== undefined && next.head <= cursor; next = this.pendingLive.peek()) {
      this.pendingLive.shift();
      this.deliverLive(next.frame);
    }
  }

  private async read(): Promise<void> {
    if (this.reading) {
      this.wokenWhileReading = true;
      return;
    }
    if (this.cursor === undefined || this.subscribers.size === 0) return;
    this.reading = true;
    try {
      do {
        this.wokenWhileReading = false;
        for (;;) {
          this.onRead();
          const { rows, cut, historyStart } = await this.readRows(this.sid, this.cursor, this.pageSize);
          if (historyStart !== undefined && historyStart > this.cursor) {
            this.expire(historyStart);
            this.cursor = historyStart;
            continue;
          }
          // Stryker disable next-line ConditionalExpression: an empty page delivers nothing and is never cut (its first row always comes), so the short-page check below ends the loop the same way
          if (rows.length === 0) break;
          this.deliver(rows);
          this.cursor = rows[rows.length - 1]?.seq ?? this.cursor;
          if (rows.length < this.pageSize && !cut) break;
        }
      } while (this.wokenWhileReading);
      this.releaseLive(this.cursor);
    } catch (err) {
      // Typically the database is unreachable: streams stay open and the tail
      // tries again; a LISTEN reconnect also wakes it.
      this.log.warn({ err, session: this.sessionId }, 'stream tail read failed; retrying');
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.wake(), RETRY_READ_MS).unref();
    } finally {
      this.reading = false;
    }
  }

  /** Ends the joined streams that had not yet sent the events now trimmed. */
  private expire(historyStart: number): void {
    for (const subscriber of this.subscribers) {
      if (!subscriber.joined || subscriber.lastSeq >= historyStart) continue;
      subscriber.finish(cursorExpiredFrame(subscriber.lastSeq, historyStart), 'cursor expired');
    }
  }

  private deliver(rows: EventRow[]): void {
    const frames = rows.map(toFrame);
    const firstSeq = rows[0]?.seq ?? 0;
    // Built once, shared by every subscriber that is exactly at the tail (the usual case).
    const all = frames.join('');
    for (const subscriber of this.subscribers) {
      if (!subscriber.joined || !subscriber.writer) continue;
      // Stryker disable next-line EqualityOperator,BlockStatement: the shared string is a shortcut; at equality, or without it, the filter below sends the same frames
      if (subscriber.lastSeq < firstSeq) {
        if (subscriber.writer.push(all)) subscriber.lastSeq = rows[rows.length - 1]?.seq ?? subscriber.lastSeq;
        continue;
      }
      // Joined a little ahead of the tail: skip what it already sent.
      const unsent = frames.filter((_, i) => (rows[i]?.seq ?? 0) > subscriber.lastSeq);
      if (unsent.length && subscriber.writer.push(unsent.join(''))) {
        subscriber.lastSeq = rows[rows.length - 1]?.seq ?? subscriber.lastSeq;
      }
    }
  }
}
