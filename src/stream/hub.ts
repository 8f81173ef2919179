import type { BaseLogger } from 'pino';
import postgres from 'postgres';
import { reconnectBackoff } from '../db/client.js';
import { listen, ping } from '../db/statements.js';
import { type Notification, WAKEUP_CHANNEL, decodeNotification } from '../wakeups/wakeups.js';
import { ByteBudget } from './budget.js';
import { KEEPALIVE_FRAME, liveFrame, OutputLedger, type SseWriter } from './sse.js';
import { type ReadRows, SessionTail, Subscriber } from './tail.js';
import { CHANGE_EVENT, LIVE_EVENT } from 'session-sync/client/protocol';

export interface HubOptions {
  url: string;
  heartbeatMs: number;
  pageSize: number;
  /** Streams (per-session and changes feeds) this process serves at once. */
  maxStreams: number;
  /** Bytes of history pages all replays may hold at once. */
  rowsMemoryBytes: number;
  /** Unsent output of all streams together. */
  totalBufferedBytes: number;
  readRows: ReadRows;
  /** Current incarnation, head and activity of a session, to re-check and re-announce after a reconnect. */
  readActivity: (sessionId: string) => Promise<{ sid: number; head: number; activity: unknown } | undefined>;
  /** Heads of sessions, for the changes feed's coalesced hints. */
  readHeads: (sessionIds: string[]) => Promise<{ session_id: string; last_seq: number; version: number }[]>;
  log: Pick<BaseLogger, 'info' | 'warn'>;
  onTailRead?: () => void;
  changesFlushMs?: number;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;
const PING_MS = 5000;

/** A dashboard's changes feed: live-only hints for the sessions its token may read. */
export class ChangesSubscriber {
  constructor(
    readonly writer: SseWriter,
    readonly mayRead: (sessionId: string) => boolean,
  ) {}
}

/**
 * The process's one LISTEN connection, fanned out in memory: wakeups go to the
 * tail of their session, live frames to its subscribers, hints to changes
 * feeds. The connection is supervised: when it drops, it is re-established
 * with backoff, and then every tail re-reads from its cursor, so a commit made
 * while it was down is still delivered.
 */
export class ListenerHub {
  private readonly tails = new Map<string, SessionTail>();
  private readonly changes = new Set<ChangesSubscriber>();
  private readonly dirtyHeads = new Set<string>();
  private readonly writers = new Set<SseWriter>();
  /** Stream slots taken, counted from the moment a request asks for one (before any await). */
  private slotsTaken = 0;
  /** Replay pages held by streams whose clients may not be reading. */
  readonly rowBudget: ByteBudget;
  readonly outputLedger: OutputLedger;
  private readonly listenSql: postgres.Sql;
  private listening = false;
  private stopped = false;
  private connectedOnce = false;
  private reconnectDelay = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private connecting: Promise<void> | undefined;

  constructor(private readonly options: HubOptions) {
    this.rowBudget = new ByteBudget(options.rowsMemoryBytes);
    this.outputLedger = new OutputLedger(options.totalBufferedBytes);
    this.listenSql = postgres(options.url, {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      backoff: reconnectBackoff,
      fetch_types: false,
      onnotice: () => {},
      connection: { application_name: 'session-sync-listen' },
      onnotify: (channel: string, payload: string) => {
        if (channel === WAKEUP_CHANNEL) this.dispatch(payload);
      },
      onclose: () => this.lost(),
    } as postgres.Options<Record<string, postgres.PostgresType>>);
  }

  /** Up when the LISTEN is in place; /readyz reports it. */
  get ready(): boolean {
    return this.listening;
  }

  get openStreams(): number {
    return this.slotsTaken;
  }

  /**
   * Takes one of the `maxStreams` slots, synchronously, so concurrent opens
   * cannot all pass a check made before their awaits. The returned release is
   * idempotent; call it on every exit path (refusal, error, stream closed).
   * `undefined` when every slot is taken.
   */
  reserveStream(): (() => void) | undefined {
    if (this.slotsTaken >= this.options.maxStreams) return undefined;
    this.slotsTaken++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.slotsTaken--;
    };
  }

  async start(): Promise<void> {
    await this.connect();
    const { heartbeatMs, changesFlushMs = 100 } = this.options;
    this.timers.push(
      setInterval(() => this.heartbeat(), heartbeatMs).unref(),
      setInterval(() => this.flushChanges(), changesFlushMs).unref(),
      setInterval(() => this.probe(), PING_MS).unref(),
    );
  }

  /** Ends every stream cleanly, so clients reconnect (elsewhere) with their cursor. */
  endStreams(): void {
    for (const writer of this.writers) writer.end('server shutting down');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.reconnectTimer);
    this.endStreams();
    this.listening = false;
    await this.listenSql.end({ timeout: 2 });
  }

  /** Registers a stream before its head is read, so no wakeup after that read can be missed. */
  subscribe(sessionId: string, sid: number, cursor: number): { tail: SessionTail; subscriber: Subscriber } {
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
    const subscriber = new Subscriber(cursor);
    tail.add(subscriber);
    return { tail, subscriber };
  }

  unsubscribe(tail: SessionTail, subscriber: Subscriber): void {
    tail.remove(subscriber);
    if (subscriber.writer) this.writers.delete(subscriber.writer);
    if (tail.size === 0 && this.tails.get(tail.sessionId) === tail) this.tails.delete(tail.sessionId);
  }

  /** Tracks an open SSE writer for heartbeats and shutdown. */
  track(writer: SseWriter): void {
    this.writers.add(writer);
    writer.onClose(() => this.writers.delete(writer));
  }

  addChanges(subscriber: ChangesSubscriber): void {
    this.changes.add(subscriber);
    this.track(subscriber.writer);
    subscriber.writer.onClose(() => this.changes.delete(subscriber));
  }

  private async connect(): Promise<void> {
    // Stryker disable next-line ConditionalExpression: defensive; start() runs once, and the reconnect timer is armed only by a close or a failed attempt, which settle the attempt in flight long before it fires
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      try {
        await listen(this.listenSql, WAKEUP_CHANNEL);
        this.listening = true;
        this.reconnectDelay = RECONNECT_MIN_MS;
        if (this.connectedOnce) this.resync();
        this.connectedOnce = true;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  private lost(): void {
    // Stryker disable next-line ConditionalExpression: scheduleReconnect() checks `stopped` too, and stop() clears `listening` first, so nothing is warned either
    if (this.stopped) return;
    if (this.listening) this.options.log.warn('LISTEN connection lost; reconnecting');
    this.listening = false;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect().then(
        () => this.options.log.info('LISTEN connection re-established; streams re-read from their cursors'),
        () => {
          this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
          this.scheduleReconnect();
        },
      );
    }, this.reconnectDelay);
    // Stryker disable next-line CallExpression: stop() clears the timer; while it waits the server is up and serving anyway
    this.reconnectTimer.unref();
  }

  /** A half-open connection only shows itself when used. */
  private probe(): void {
    if (!this.listening) return;
    // Stryker disable next-line ArrowFunction: a ping fails only when its connection closes, whose onclose calls lost() already
    ping(this.listenSql).catch(() => this.lost());
  }

  /** After an outage: wakeups may have been missed, so re-read everything from the cursors. */
  private resync(): void {
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
    for (const subscriber of this.changes) subscriber.writer.push(liveFrame(CHANGE_EVENT.sweepRequired, {}));
  }

  private dispatch(payload: string): void {
    const notification = decodeNotification(payload);
    if (!notification) {
      this.options.log.warn({ payloadBytes: Buffer.byteLength(payload) }, 'ignored a malformed notification');
      return;
    }
    this.route(notification);
  }

  /** Ends the streams of a session that is gone. */
  private ended(tail: SessionTail, reason?: 'expired'): void {
    tail.finish(liveFrame(LIVE_EVENT.deleted, { session_id: tail.sessionId, ...(reason ? { reason } : {}) }), 'session deleted');
  }

  private route(n: Notification): void {
    const current = this.tails.get(n.session_id);
    // Signals of another incarnation of the id are not this tail's (an older instance sends no sid).
    const tail = 'sid' in n && typeof n.sid === 'number' && current && current.sid !== n.sid ? undefined : current;
    switch (n.kind) {
      case 'append':
        tail?.wake();
        if (this.changes.size) this.dirtyHeads.add(n.session_id);
        return;
      case 'live':
        tail?.publishLive(n.head, liveFrame(n.type, { type: n.type, data: n.data }));
        return;
      case 'activity':
        tail?.publishLive(n.head, liveFrame(LIVE_EVENT.activity, n.activity));
        this.broadcastChange(n.session_id, LIVE_EVENT.activity, { session_id: n.session_id, ...n.activity });
        return;
      case 'created':
        this.broadcastChange(n.session_id, CHANGE_EVENT.created, { session_id: n.session_id });
        return;
      case 'deleted':
        if (tail) this.ended(tail, n.reason);
        this.dirtyHeads.delete(n.session_id);
        this.broadcastChange(n.session_id, LIVE_EVENT.deleted, { session_id: n.session_id, ...(n.reason ? { reason: n.reason } : {}) });
        return;
    }
  }

  private broadcastChange(sessionId: string, type: string, data: unknown): void {
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

  /** A writer still backed up is sending data anyway, and a keepalive must not cut a replay off. */
  private heartbeat(): void {
    for (const writer of this.writers) if (!writer.backedUp) writer.push(KEEPALIVE_FRAME);
  }
}
