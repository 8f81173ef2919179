/** One background job: what it is called in logs and metrics, how often it runs, and the work. */
export interface Sweep {
  name: string;
  everyMs: number;
  run: () => Promise<unknown>;
}

export interface SweepObserver {
  /** A run ended; `error` is set when it failed. */
  ran(sweep: string, seconds: number, error?: unknown): void;
}

/**
 * The one owner of the server's background work (as pg-boss keeps its
 * maintenance in one supervisor): each sweep on its own interval, never two
 * runs of one sweep at once (a run that outlasts its interval makes the next
 * tick a no-op, rather than piling up runs and connections), every run
 * observed (duration, failure), and `stop()` waits for the runs in flight,
 * so closing the server never pulls the pool from under a sweep.
 *
 * Every instance runs every sweep, and needs no lock of the supervisor's own
 * for it: the sweeps that write to a session take its row lock with SKIP
 * LOCKED (or SKIP LOCKED on the rows they claim), so instances split that
 * work; the others are one DELETE each, which two instances cannot both do.
 */
export class SweepSupervisor {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(
    private readonly sweeps: readonly Sweep[],
    private readonly observer: SweepObserver,
  ) {}

  start(): void {
    for (const sweep of this.sweeps) {
      // unref: a sweep never keeps the process alive on its own.
      this.timers.push(setInterval(() => this.tick(sweep), sweep.everyMs).unref());
    }
  }

  /** Runs `sweep` now unless a run of it is in flight (then that run is the answer). */
  tick(sweep: Sweep): Promise<void> {
    const inFlight = this.running.get(sweep.name);
    if (inFlight || this.stopped) return inFlight ?? Promise.resolve();
    const started = performance.now();
    const run = sweep
      .run()
      .then(
        () => this.observer.ran(sweep.name, (performance.now() - started) / 1000),
        (error: unknown) => this.observer.ran(sweep.name, (performance.now() - started) / 1000, error),
      )
      .finally(() => this.running.delete(sweep.name));
    this.running.set(sweep.name, run);
    return run;
  }

  /** No new runs; resolves once the runs in flight have ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all(this.running.values());
  }
}
