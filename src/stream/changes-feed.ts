import type { BaseLogger } from 'pino';
import type { SessionNotification } from '../wakeups/wakeups.js';
import { liveFrame, type SseWriter } from './sse.js';
import { CHANGE_EVENT, LIVE_EVENT, type LiveFrameName, type LiveFrames } from 'session-sync/client/protocol';

export interface ChangesFeedOptions {
  /** Heads of sessions, for the changes feed's coalesced hints. */
  readHeads: (sessionIds: string[]) => Promise<{ session_id: string; last_seq: number; version: number }[]>;
  log: Pick<BaseLogger, 'warn'>;
  flushMs?: number;
}

/** A dashboard's changes feed: live-only hints for the sessions its token may read. */
export class ChangesSubscriber {
  constructor(
    readonly writer: SseWriter,
    readonly mayRead: (sessionId: string) => boolean,
  ) {}
}

/**
 * The open changes feeds of this process: lifecycle and activity notices go
 * out as they arrive, appends are coalesced into one hint per session per
 * flush, with the head read from the table.
 */
export class ChangesFeed {
  private readonly changes = new Set<ChangesSubscriber>();
  private readonly dirtyHeads = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ChangesFeedOptions) {}

  start(): void {
    const { flushMs = 100 } = this.options;
    this.flushTimer = setInterval(() => this.flushChanges(), flushMs).unref();
  }

  stop(): void {
    clearInterval(this.flushTimer);
  }

  /** Feeds open on this process. */
  get size(): number {
    return this.changes.size;
  }

  add(subscriber: ChangesSubscriber): void {
    this.changes.add(subscriber);
    subscriber.writer.onClose(() => this.changes.delete(subscriber));
  }

  /** After a LISTEN outage hints may have been missed: every feed re-lists what it watches. */
  sweepRequired(): void {
    for (const subscriber of this.changes) subscriber.writer.push(liveFrame(CHANGE_EVENT.sweepRequired, {}));
  }

  /** What a notification means for the feeds. */
  route(n: SessionNotification): void {
    switch (n.kind) {
      case 'append':
        if (this.changes.size) this.dirtyHeads.add(n.session_id);
        return;
      case 'live':
        return;
      case 'activity':
        this.broadcastChange(n.session_id, LIVE_EVENT.activity, { session_id: n.session_id, ...n.activity });
        return;
      case 'created':
        this.broadcastChange(n.session_id, CHANGE_EVENT.created, { session_id: n.session_id });
        return;
      case 'deleted':
        this.dirtyHeads.delete(n.session_id);
        this.broadcastChange(n.session_id, LIVE_EVENT.deleted, { session_id: n.session_id, ...(n.reason ? { reason: n.reason } : {}) });
        return;
    }
  }

  private broadcastChange<K extends LiveFrameName>(sessionId: string, type: K, data: LiveFrames[K]): void {
    if (this.changes.size === 0) return;
    const frame = liveFrame(type, data);
    for (const subscriber of this.changes) if (subscriber.mayRead(sessionId)) subscriber.writer.push(frame);
  }

  /** Coalesces many appends into one hint per session per flush; heads are read from the table. */
  private flushChanges(): void {
    if (this.dirtyHeads.size === 0 || this.changes.size === 0) {
      this.dirtyHeads.clear();
      return;
    }
    const ids = [...this.dirtyHeads];
    this.dirtyHeads.clear();
    this.options
      .readHeads(ids)
      .then((heads) => {
        for (const head of heads) this.broadcastChange(head.session_id, CHANGE_EVENT.changed, head);
      })
      .catch((err: unknown) => {
        this.options.log.warn({ err }, 'changes feed head read failed');
        for (const id of ids) this.dirtyHeads.add(id);
      });
  }
}
