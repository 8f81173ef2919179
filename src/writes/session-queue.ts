/**
 * Writers of one session, queued in the process before they take a pool
 * connection. Postgres serialises them on the session's row lock anyway; left
 * to wait there, sixty writers of one busy session hold sixty connections (or
 * the whole pool) while they wait, and every other session's requests wait for
 * a connection. Queued here, a session's writers hold one connection at a time.
 */
export class SessionQueue {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `work` after every earlier `run` for `sessionId` in this process has settled. */
  async run<T>(sessionId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(sessionId);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    this.tails.set(sessionId, mine);
    try {
      if (previous) await previous;
      return await work();
    } finally {
      done();
      if (this.tails.get(sessionId) === mine) this.tails.delete(sessionId);
    }
  }

  /** Sessions with a writer running or waiting (for metrics and tests). */
  get size(): number {
    return this.tails.size;
  }
}
