import type { BaseLogger } from 'pino';
import type { ActivityView } from '../activity/view.js';
import type { SessionNotification } from '../wakeups/wakeups.js';
import { liveFrame, publishedFrame } from './sse.js';
import { type ReadRows, SessionTail, Subscriber, type TailWatcher } from './tail.js';
import { LIVE_EVENT } from 'session-sync/client/protocol';

export interface SessionTailsOptions {
  pageSize: number;
  readRows: ReadRows;
  /** Current incarnation, head and activity of a session, to re-check and re-announce after a reconnect. */
  readActivity: (sessionId: string) => Promise<{ sid: number; head: number; activity: ActivityView } | undefined>;
  /** Heads of sessions by id: the poll that finds commits whose wakeup never came. */
  readHeads: (sessionIds: string[]) => Promise<{ session_id: string; last_seq: number }[]>;
  /** How often to poll the heads of the sessions with joined tails. */
  headPollMs: number;
  log: Pick<BaseLogger, 'warn'>;
  onTailRead?: () => void;
}

/**
 * The tails of the sessions this process streams, one per session: a wakeup
 * goes to the tail of its session, live frames to its subscribers, and after
 * a LISTEN outage every tail re-reads from its cursor.
 */
export class SessionTails {
  private readonly tails = new Map<string, SessionTail>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(private readonly options: SessionTailsOptions) {}

  start(): void {
    this.pollTimer = setInterval(() => void this.pollHeads(), this.options.headPollMs).unref();
  }

  stop(): void {
    clearInterval(this.pollTimer);
  }

  /**
   * Wakes every tail whose session's head has moved past what it read. A
   * wakeup is published after its commit, so an instance that dies between
   * the two, or a publication that fails, leaves no NOTIFY behind: this one
   * query per interval per instance (not per stream) bounds the delay that
   * costs. Tails already reading are not woken twice (`SessionTail.wake`).
   */
  async pollHeads(): Promise<void> {
    if (this.polling) return;
    const ids = [...this.tails.values()].filter((tail) => tail.followed).map((tail) => tail.sessionId);
    if (ids.length === 0) return;
    this.polling = true;
    try {
      for (const head of await this.options.readHeads(ids)) {
        const tail = this.tails.get(head.session_id);
        if (tail?.behind(head.last_seq)) tail.wake();
      }
    } catch (err) {
      this.options.log.warn({ err }, 'head poll failed');
    } finally {
      this.polling = false;
    }
  }

  /** Registers a stream before its head is read, so no wakeup after that read can be missed. */
  subscribe(sessionId: string, sid: number, cursor: number): { tail: SessionTail; subscriber: Subscriber } {
    const tail = this.tailFor(sessionId, sid);
    const subscriber = new Subscriber(cursor);
    tail.add(subscriber);
    return { tail, subscriber };
  }

  /**
   * Registers a reader that reads on its own (`TailWatcher`), before it reads
   * the head, as `subscribe`; the function returned unregisters it.
   */
  watch(sessionId: string, sid: number, watcher: TailWatcher): () => void {
    const tail = this.tailFor(sessionId, sid);
    tail.addWatcher(watcher);
    return () => {
      tail.removeWatcher(watcher);
      this.dropIfUnused(tail);
    };
  }

  /** Tails here (one per session with a stream or a watcher): none is left once every reader has gone. */
  get size(): number {
    return this.tails.size;
  }

  private tailFor(sessionId: string, sid: number): SessionTail {
    let tail = this.tails.get(sessionId);
    if (!tail || tail.sid !== sid) {
      const previous = tail;
      tail = new SessionTail(sessionId, sid, this.options.readRows, this.options.pageSize, this.options.log, this.options.onTailRead);
      // Incarnations only grow: an older sid here is a session already gone (its request finds no head and ends).
      // Stryker disable next-line EqualityOperator: inside `tail.sid !== sid`, so the two sids are never equal here
      if (!previous || previous.sid < sid) {
        this.tails.set(sessionId, tail);
        // The id names a newer incarnation, so the previous one was deleted, whether or not its notice arrived.
        if (previous) this.ended(previous);
      }
    }
    return tail;
  }

  unsubscribe(tail: SessionTail, subscriber: Subscriber): void {
    tail.remove(subscriber);
    this.dropIfUnused(tail);
  }

  private dropIfUnused(tail: SessionTail): void {
    if (tail.size === 0 && this.tails.get(tail.sessionId) === tail) this.tails.delete(tail.sessionId);
  }

  /** After an outage: wakeups may have been missed, so re-read everything from the cursors. */
  rereadAll(): void {
    for (const tail of this.tails.values()) {
      tail.wake();
      this.options
        .readActivity(tail.sessionId)
        .then((current) => {
          // Deleted meanwhile (and perhaps created again: another incarnation): its deletion notice was lost.
          if (!current || current.sid !== tail.sid) this.ended(tail);
          else tail.publishLive(current.head, liveFrame(LIVE_EVENT.activity, current.activity));
        })
        .catch((err: unknown) => this.options.log.warn({ err }, 'activity re-read after reconnect failed'));
    }
  }

  /** Ends the streams of a session that is gone. */
  private ended(tail: SessionTail, reason?: 'expired'): void {
    tail.finish(liveFrame(LIVE_EVENT.deleted, { session_id: tail.sessionId, ...(reason ? { reason } : {}) }), 'session deleted');
  }

  /** What a notification means for the streams of its session. */
  route(n: SessionNotification): void {
    const current = this.tails.get(n.session_id);
    // Signals of another incarnation of the id are not this tail's (an older instance sends no sid).
    const tail = 'sid' in n && typeof n.sid === 'number' && current && current.sid !== n.sid ? undefined : current;
    if (!tail) return;
    switch (n.kind) {
      case 'append':
        tail.wake();
        return;
      case 'live':
        tail.publishLive(n.head, publishedFrame(n.type, { type: n.type, data: n.data }));
        return;
      case 'activity':
        tail.publishLive(n.head, liveFrame(LIVE_EVENT.activity, n.activity));
        return;
      case 'deleted':
        this.ended(tail, n.reason);
        return;
    }
  }
}
