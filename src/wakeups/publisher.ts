/**
 * Wakeups leave the write transaction: a commit carries no NOTIFY, and each
 * instance publishes what it committed afterwards, packed into few NOTIFYs.
 *
 * Why: Postgres serialises the commits of every transaction that notified,
 * database-wide, under one lock held through the commit's WAL flush
 * (`PreCommit_Notify` in `async.c`). With a NOTIFY in every write, appends to
 * different sessions queue behind each other's disk flush however many
 * instances run. Published after the commit, the only notifying transactions
 * are the publisher's own: one at a time per instance, each carrying every
 * wakeup that committed while the previous one was on the wire.
 *
 * What it costs: a wakeup can now be lost when an instance dies between a
 * commit and its publication, or when a publication fails. Rows are the truth
 * and a wakeup only says "read again", so each instance also reads, every
 * `STREAM_HEAD_POLL_MS`, the heads of the sessions it has streams of
 * (`stream/session-tails.ts`): a lost wakeup costs that much delay, never an
 * event. Lifecycle notices (created, deleted) are rare and have no such
 * re-read behind them, so they stay in their transaction (`notify`).
 */
import type { BaseLogger } from 'pino';
import type { Db, Tx } from '../db/client.js';
import { sendNotifications } from '../db/statements.js';
import { encodeNotification, encodeWithinWakeup, MAX_WAKEUP_BYTES, type Notification, type SessionNotification, stampFrom, WAKEUP_CHANNEL } from './wakeups.js';

/** A notification waiting to be published, encoded; `settle` when its publisher awaits it (a live event). */
interface Queued {
  notification: Notification;
  payload: string;
  bytes: number;
  settle?: { resolve: () => void; reject: (error: unknown) => void };
  /** When it joined the queue (its commit, for a wakeup): a coalesced append keeps the first. */
  queuedAt?: number;
}

/** One flush: what it sent, in how many payloads, how long the statement took. */
export interface FlushReport {
  notifications: number;
  /** Of them, how many of each kind (appends, live events, activity). */
  kinds: Partial<Record<Notification['kind'], number>>;
  payloads: number;
  seconds: number;
  failed: boolean;
  /** How long the oldest notification it carried waited in the queue before this flush sent it. */
  waitedSeconds: number;
}

export interface WakeupPublisherOptions {
  db: Db;
  /** Sends one flush's payloads; default `sendNotifications` on `db` (tests drop them, see `AppOptions.sendWakeups`). */
  send?: (payloads: string[]) => Promise<void>;
  log: Pick<BaseLogger, 'warn'>;
  onFlush?: (report: FlushReport) => void;
  /**
   * Payloads in one NOTIFY transaction at most (each up to 7999 bytes): a
   * bound on the statement's size, not a wait. What does not fit goes in the
   * next flush, right after.
   */
  maxPayloadsPerFlush?: number;
  /** Encoded bytes waiting at most; past it a live event is refused and a wakeup dropped (the head poll finds its rows). */
  maxQueuedBytes?: number;
  /** Time between the starts of two flushes at least (default `MIN_FLUSH_INTERVAL_MS`). */
  minFlushIntervalMs?: number;
  /** Time from losing wakeups to the `missed` notice (default `MISSED_NOTICE_DELAY_MS`). */
  missedNoticeDelayMs?: number;
  /**
   * This instance's own streams. A live event or activity goes to them as it
   * is queued, without the round trip through Postgres, and is stamped with
   * `instanceId` so the LISTEN side skips it when it comes back
   * (`stream/stream-side.ts`). Safe because a stream delivers a live signal
   * only after the durable events up to its `head`, reading them itself when
   * their wakeup has not come yet (`SessionTail.publishLive`), and because
   * `deliver` waits until what other instances published before it has
   * arrived (`stream/local-signals.ts`): the same frames in the same order
   * as through a NOTIFY, only sooner.
   */
  local?: { instanceId: string; deliver: (notification: SessionNotification) => void };
}

/**
 * Flushes start at most this often. Every NOTIFY transaction takes
 * Postgres's one notify lock through its commit (the module's comment), so a
 * publisher flushing back to back, about every 3 ms under a busy instance's
 * writes, held it a third of the time for itself, and every other instance
 * queued behind it. 10 ms between flushes bounds that to about 100 a second
 * per instance, and what a wakeup waits to a few milliseconds more, only
 * under load: a flush after a quiet spell starts at once. Measured in
 * `npm run bench` (scenario 1, 2 cores, 16 writers): NOTIFY transactions per append 0.24 -> 0.07, with fan-out p99 from append to receipt 31 -> 37 ms (within its run-to-run spread) and deltas/s unchanged.
 */
export const MIN_FLUSH_INTERVAL_MS = 10;

/**
 * How long after losing wakeups the publisher tells every instance so (a
 * `missed` notice). Not at once: a database refusing every NOTIFY would be
 * asked again every flush interval; a second bounds how stale a dashboard's
 * changes feed stays, and a failed notice is a loss like any other.
 */
export const MISSED_NOTICE_DELAY_MS = 1000;

/** Wakeups a transaction queued (`wakeAfterCommit`), keyed by the transaction until its runner publishes them. */
const committedWakeups = new WeakMap<Tx, Queued[]>();

/**
 * Queues a wakeup to publish once `tx` commits: nothing is sent if it rolls
 * back. Encoded now, so one too large for a wakeup is refused (413) inside the
 * transaction and the write it belongs to changes nothing.
 */
export function wakeAfterCommit(tx: Tx, notification: Notification): void {
  // Stryker disable next-line ConditionalExpression: an append's payload (a session id of at most 128 characters and a seq) never nears the limit, so checking it would only cost time
  const payload = notification.kind === 'append' ? encodeNotification(notification) : encodeWithinWakeup(notification);
  const queued = committedWakeups.get(tx);
  const entry = { notification, payload, bytes: Buffer.byteLength(payload) };
  if (queued) queued.push(entry);
  else committedWakeups.set(tx, [entry]);
}

/**
 * The process's one publisher of wakeups. Flushes run one at a time, from
 * the pool: a flush starts as soon as there is something to send and none
 * is running (what is waiting is batched; nothing waits to be batched), so a
 * wakeup waits at most for the flush in flight and its own.
 */
export class WakeupPublisher {
  private queue: Queued[] = [];
  private queuedBytes = 0;
  /** Appends still in the queue, by session id: a later commit raises their seq instead of queueing another. */
  private readonly unsentAppends = new Map<string, Queued>();
  private flushing: Promise<void> | undefined;
  private readonly maxPayloadsPerFlush: number;
  private readonly maxQueuedBytes: number;
  private readonly minFlushIntervalMs: number;
  private lastFlushAt = -Infinity;
  /** Queued notifications whose publisher awaits them (live events): a flush carrying one does not wait for the interval. */
  private awaitedQueued = 0;
  /** Ends the interval's wait early (an awaited notification arrived). */
  private endWait: (() => void) | undefined;
  private readonly send: (payloads: string[]) => Promise<void>;
  /** Armed while a `missed` notice is due (`lost`). */
  private missedTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WakeupPublisherOptions) {
    this.maxPayloadsPerFlush = options.maxPayloadsPerFlush ?? 64;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 64 * 1024 * 1024;
    this.minFlushIntervalMs = options.minFlushIntervalMs ?? MIN_FLUSH_INTERVAL_MS;
    this.send = options.send ?? ((payloads) => sendNotifications(options.db, WAKEUP_CHANNEL, payloads));
  }

  /** Publishes what `tx` queued with `wakeAfterCommit`: call it once the transaction has committed. */
  publishCommitted(tx: Tx): void {
    const queued = committedWakeups.get(tx);
    if (!queued) return;
    // Stryker disable next-line CallExpression: a transaction is published once; the weak map would drop it with the transaction anyway
    committedWakeups.delete(tx);
    for (const entry of queued) this.enqueue(entry);
    this.kick();
  }

  /**
   * Publishes a live-only signal now (a live event), settling when the NOTIFY
   * carrying it has been sent: a failure reaches the caller. Refused (413)
   * when too large for a wakeup.
   */
  publish(notification: Notification): Promise<void> {
    const payload = encodeWithinWakeup(notification);
    return new Promise<void>((resolve, reject) => {
      this.enqueue({ notification, payload, bytes: Buffer.byteLength(payload), settle: { resolve, reject } });
      this.kick();
    });
  }

  /** Waits until everything queued so far has been sent (or has failed): on shutdown, before the pool closes. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Wakeups and live events waiting for a flush (for tests and metrics). */
  get waiting(): number {
    return this.queue.length;
  }

  private enqueue(entry: Queued): void {
    const { notification } = entry;
    if (notification.kind === 'append') {
      const unsent = this.unsentAppends.get(notification.session_id);
      if (unsent && unsent.notification.kind === 'append') {
        if (notification.seq > unsent.notification.seq) {
          this.queuedBytes += entry.bytes - unsent.bytes;
          Object.assign(unsent, { notification, payload: entry.payload, bytes: entry.bytes });
        }
        return;
      }
    }
    const local = this.options.local;
    const signal = local !== undefined && (notification.kind === 'live' || notification.kind === 'activity');
    if (signal) {
      entry.payload = stampFrom(entry.payload, local.instanceId);
      entry.bytes = Buffer.byteLength(entry.payload);
    }
    if (this.queuedBytes + entry.bytes > this.maxQueuedBytes) {
      const error = new Error(`wakeup queue full (${this.queuedBytes} bytes waiting): the database is not taking NOTIFYs`);
      if (entry.settle) entry.settle.reject(error);
      else {
        this.options.log.warn({ session_id: 'session_id' in notification ? notification.session_id : undefined }, error.message);
        this.lost();
      }
      return;
    }
    if (notification.kind === 'append') this.unsentAppends.set(notification.session_id, entry);
    entry.queuedAt = performance.now();
    this.queue.push(entry);
    this.queuedBytes += entry.bytes;
    if (entry.settle) {
      this.awaitedQueued += 1;
      this.endWait?.();
    }
    if (signal) {
      try {
        local.deliver(notification);
      } catch (err) {
        this.options.log.warn({ err, session_id: notification.session_id }, 'delivering a live signal to this instance\'s streams failed');
      }
    }
  }

  private kick(): void {
    if (this.flushing || this.queue.length === 0) return;
    // A caller answered by the last flush may publish again before this
    // settles: what it queued then is sent by the kick that follows.
    this.flushing = this.flushAll().finally(() => {
      this.flushing = undefined;
      this.kick();
    });
  }

  private async flushAll(): Promise<void> {
    while (this.queue.length > 0) {
      const early = this.lastFlushAt + this.minFlushIntervalMs - performance.now();
      // What arrives meanwhile goes in this flush. Not for a live event: its request waits for its NOTIFY
      // (so that what the same publisher posts next, through any instance, is sent after it), so the interval
      // would be its latency, and one-event requests from 16 publishers could not pass 1,600 a second,
      // what postgres.js alone does with a transaction each (bench scenario 9).
      // Stryker disable next-line EqualityOperator: at exactly 0 the wait is a 0 ms timer, the same flush a tick later
      if (early > 0 && this.awaitedQueued === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, early);
          this.endWait = () => {
            // Stryker disable next-line CallExpression: the timer would only resolve the settled wait again, at most 10 ms later
            clearTimeout(timer);
            resolve();
          };
        });
        this.endWait = undefined;
      }
      const { payloads, count } = this.pack();
      const sent = this.queue.slice(0, count);
      this.queue = this.queue.slice(count);
      for (const entry of sent) {
        this.queuedBytes -= entry.bytes;
        if (entry.settle) this.awaitedQueued -= 1;
        if (entry.notification.kind === 'append' && this.unsentAppends.get(entry.notification.session_id) === entry) {
          this.unsentAppends.delete(entry.notification.session_id);
        }
      }
      const started = performance.now();
      this.lastFlushAt = started;
      let oldest = started;
      for (const entry of sent) oldest = Math.min(oldest, entry.queuedAt ?? started);
      let failure: unknown;
      try {
        await this.send(payloads);
      } catch (error) {
        failure = error;
        this.options.log.warn({ err: error, notifications: sent.length }, 'publishing wakeups failed; streams find the rows by their head poll');
      }
      const kinds: FlushReport['kinds'] = {};
      for (const { notification } of sent) kinds[notification.kind] = (kinds[notification.kind] ?? 0) + 1;
      this.options.onFlush?.({
        notifications: sent.length,
        kinds,
        payloads: payloads.length,
        seconds: (performance.now() - started) / 1000,
        failed: failure !== undefined,
        waitedSeconds: (started - oldest) / 1000,
      });
      for (const { settle } of sent) {
        if (!settle) continue;
        if (failure === undefined) settle.resolve();
        else settle.reject(failure);
      }
      // A live event's publisher hears of its failure; a wakeup's reader would not.
      if (failure !== undefined && sent.some((entry) => !entry.settle)) this.lost();
    }
  }

  /**
   * Wakeups were lost. Streams find their rows by their head poll, but a
   * changes feed has no cursor: every instance is told (`missed`) and has its
   * feeds sweep, soon after (`MISSED_NOTICE_DELAY_MS`).
   */
  private lost(): void {
    if (this.missedTimer) return;
    this.missedTimer = setTimeout(() => {
      this.missedTimer = undefined;
      const notification: Notification = { kind: 'missed' };
      const payload = encodeNotification(notification);
      this.enqueue({ notification, payload, bytes: Buffer.byteLength(payload) });
      this.kick();
    }, this.options.missedNoticeDelayMs ?? MISSED_NOTICE_DELAY_MS).unref();
  }

  /** Stops a `missed` notice still to come (on shutdown: the instance's peers see it go, `stream/peers.ts`). */
  stop(): void {
    clearTimeout(this.missedTimer);
    this.missedTimer = undefined;
  }

  /**
   * The head of the queue packed into payloads: notifications in order, as
   * many as fit in each payload (one alone goes bare, several as a JSON
   * array), up to `maxPayloadsPerFlush`. Postgres delivers identical payloads
   * of one transaction only once, so a payload equal to one already in this
   * flush ends it: it goes first in the next.
   */
  private pack(): { payloads: string[]; count: number } {
    const payloads: string[] = [];
    const seen = new Set<string>();
    let parts: string[] = [];
    let bytes = 0;
    let count = 0;
    const close = (): boolean => {
      const payload = parts.length === 1 ? parts[0]! : `[${parts.join(',')}]`;
      if (seen.has(payload)) return false;
      seen.add(payload);
      payloads.push(payload);
      return true;
    };
    let packed = 0;
    for (const entry of this.queue) {
      // `bytes` counts each part and a comma after it: with this entry the array is `bytes + entry.bytes + 2` long.
      if (parts.length > 0 && bytes + entry.bytes + 2 > MAX_WAKEUP_BYTES) {
        if (!close()) return { payloads, count };
        count = packed;
        if (payloads.length === this.maxPayloadsPerFlush) return { payloads, count };
        parts = [];
        bytes = 0;
      }
      parts.push(entry.payload);
      bytes += entry.bytes + 1;
      packed++;
    }
    if (close()) count = packed;
    return { payloads, count };
  }
}

/** Who commits outside `writeSession`: the pool, and the publisher of what commits. */
export interface Committer {
  db: Db;
  wakeups: WakeupPublisher;
}

/**
 * Runs `work` in a transaction and commits it, then awaits `settled` (see
 * `beginAndWake`): the pool's `begin` unless told otherwise
 * (`WriteConnection.begin`).
 */
export type Begin = <T>(work: (tx: Tx) => Promise<T>, settled?: (result: T) => Promise<unknown> | undefined) => Promise<T>;

/**
 * A transaction whose wakeups (`wakeAfterCommit`) are published once it has
 * committed. `settled` is awaited after the COMMIT and before publishing:
 * statements the work left in flight (`db/pipeline.ts`) answer there, and had
 * one failed, the COMMIT was a ROLLBACK and nothing is published.
 */
export async function beginAndWake<T>(
  { db, wakeups }: Committer,
  work: (tx: Tx) => Promise<T>,
  settled?: (result: T) => Promise<unknown> | undefined,
  begin: Begin = async (inside, after) => {
    const result = await (db.begin(inside) as Promise<Awaited<ReturnType<typeof inside>>>);
    await after?.(result);
    return result;
  },
): Promise<T> {
  let transaction: Tx | undefined;
  const result = await begin((tx) => {
    transaction = tx;
    return work(tx);
  }, settled);
  wakeups.publishCommitted(transaction!);
  return result;
}
