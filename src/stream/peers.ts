import type { BaseLogger } from 'pino';

export interface PeerWatchOptions {
  /** The instances listening now (`LISTEN_APPLICATION_PREFIX`). */
  listInstances: () => Promise<string[]>;
  /** An instance seen before is gone: what it committed last may never have been announced. */
  onVanished: () => void;
  /** Whether anyone here needs to know (an open changes feed); when not, nothing is asked. */
  watching: () => boolean;
  intervalMs: number;
  log: Pick<BaseLogger, 'warn'>;
}

/**
 * Watches which instances listen on the database, for the changes feeds.
 * An instance publishes its wakeups after its commits, so one that dies
 * between the two leaves commits no NOTIFY announces. Streams find those rows
 * by their head poll (`session-tails.ts`); a changes feed has no cursor, so
 * it is told to sweep once such an instance is gone. Gone means its LISTEN
 * connection left `pg_stat_activity`: at once for a process that dies (its
 * socket closes), after Postgres's TCP keepalive for a machine that does.
 * One query per interval per instance, and only while a feed is open here.
 */
export class PeerWatch {
  private seen: Set<string> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(private readonly options: PeerWatchOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.options.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async poll(): Promise<void> {
    if (this.polling) return;
    // A feed opened later starts with a sweep of its own: what was seen before it does not matter to it.
    if (!this.options.watching()) {
      this.seen = undefined;
      return;
    }
    this.polling = true;
    try {
      const now = new Set(await this.options.listInstances());
      const before = this.seen;
      this.seen = now;
      if (before && [...before].some((id) => !now.has(id))) this.options.onVanished();
    } catch (err) {
      this.options.log.warn({ err }, 'listing the instances failed');
    } finally {
      this.polling = false;
    }
  }
}
