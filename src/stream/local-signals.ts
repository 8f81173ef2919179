import type { BaseLogger } from 'pino';
import type { SessionNotification } from '../wakeups/wakeups.js';

export interface LocalSignalsOptions {
  /** Resolves once every notification committed before the call has been routed (`ListenConnection.barrier`). */
  barrier: () => Promise<void>;
  /** Where a signal goes once it may: the session tails. */
  route: (notification: SessionNotification) => void;
  log: Pick<BaseLogger, 'warn'>;
}

/**
 * Live signals this instance publishes, on their way to its own streams
 * without a NOTIFY's round trip (`WakeupPublisher`'s `local`).
 *
 * Why a barrier: a publisher may post through two instances in turn (a load
 * balancer). Its event posted through B is answered once B's NOTIFY has
 * committed, so when its next event reaches this instance, the first may
 * still be on its way to this instance's LISTEN connection; handed on at once,
 * the second would overtake it. A query on the LISTEN connection is answered
 * after every notification committed before it started, so a signal goes to
 * the streams once a query started after it was queued has answered. One query
 * at a time carries every signal queued before it began: no NOTIFY, no WAL,
 * no commit, and under load many signals per query.
 */
export class LocalSignals {
  private waiting: SessionNotification[] = [];
  private running = false;

  constructor(private readonly options: LocalSignalsOptions) {}

  deliver(notification: SessionNotification): void {
    this.waiting.push(notification);
    if (this.running) return;
    this.running = true;
    // Started after the current task, so the signals one request queues together (a batch) share a barrier.
    queueMicrotask(() => void this.run());
  }

  private async run(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting;
        this.waiting = [];
        try {
          await this.options.barrier();
        } catch (err) {
          // The LISTEN connection is down: nothing can arrive on it to be overtaken, and its reconnect re-reads every tail.
          this.options.log.warn({ err }, 'LISTEN barrier failed; live signals go to local streams without it');
        }
        for (const notification of batch) this.options.route(notification);
      }
    } finally {
      this.running = false;
    }
  }
}
