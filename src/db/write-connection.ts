import type postgres from 'postgres';
import type { Tx } from './handles.js';
import { commitAnswer, ping, rollback, sendBegin } from './statements.js';

/**
 * A connection of its own for write transactions, one at a time, whose first
 * statements follow BEGIN on the wire instead of waiting for its answer.
 *
 * Why: postgres.js's `begin` sends nothing until BEGIN has answered, so a
 * write that locks its row, then writes and commits, took three round trips;
 * here it takes two. With the database a millisecond away, that is a third of
 * a write transaction's time (bench/README.md, "Group commit").
 *
 * Why it is safe: BEGIN on an idle connection fails only with the connection,
 * and then every statement behind it fails too; Postgres runs them in order,
 * so they run inside the transaction. What makes it safe with postgres.js,
 * using only its public API:
 * - The connection is a client of one connection (`open`) that only this
 *   class uses, taken with `reserve()`: the statements of a transaction go to
 *   that connection or fail, and never to another one, where they would run
 *   outside the transaction, each committing alone.
 * - `reserve()` is called only while the connection is open. One that has to
 *   wait for a connection stays queued when the attempt fails, and later
 *   takes the connection for no one (porsager/postgres#1195: the reason a
 *   first version of this, on the shared pool, lost connections in
 *   `test/e2e/database-outage.test.ts`). So the connection is opened by a plain
 *   statement first, after every close.
 * - A close fails the transaction at once (the client's `onclose`), whatever
 *   the work awaits; the connection is then neither released nor reused as it
 *   is: the next transaction opens it again.
 * - The connection goes back for the next transaction only after a COMMIT or
 *   ROLLBACK that Postgres answered: never with a transaction open, which the
 *   next BEGIN would join. After any other failure the client is ended and a
 *   new one takes its place.
 * - A statement left in flight that failed turns the COMMIT into a ROLLBACK
 *   without an error of its own (`db/pipeline.ts`): the COMMIT's answer is
 *   read, and a ROLLBACK there fails the transaction.
 */
export class WriteConnection {
  private client: postgres.Sql;
  /** A statement was answered since the connection last closed: `reserve()` takes it without waiting. */
  private connected = false;
  /** Fails the running transaction when its connection closes. */
  private onClosed: ((error: Error) => void) | undefined;

  constructor(private readonly open: (onclose: () => void) => postgres.Sql) {
    this.client = this.newClient();
  }

  /**
   * `db.begin(work)`, one round trip shorter (see the class's comment), then
   * `settled` (what the work left in flight answers there: a failure of its
   * own is what the caller sees rather than a bare rollback). One transaction
   * at a time.
   */
  async begin<T>(work: (tx: Tx) => Promise<T>, settled?: (result: T) => Promise<unknown> | undefined): Promise<T> {
    const client = this.client;
    if (!this.connected) {
      await ping(client);
      this.connected = true;
    }
    const reserved = await client.reserve();
    const closed = new Promise<never>((_, reject) => (this.onClosed = reject));
    closed.catch(() => {});
    /** The statement's answer, or the connection's close if that comes first. */
    const unlessClosed = <R>(answer: PromiseLike<R>): Promise<R> => Promise.race([answer, closed]);
    let idle = false;
    try {
      const began = unlessClosed(sendBegin(reserved));
      began.catch(() => {});
      let result: T;
      try {
        // A reserved connection inside BEGIN is what postgres.js hands a `begin` callback; the work never uses its savepoints.
        result = await unlessClosed(work(reserved as unknown as Tx));
        await began;
      } catch (error) {
        await unlessClosed(rollback(reserved)).then(
          () => (idle = true),
          () => {},
        );
        throw error;
      }
      const committed = await unlessClosed(commitAnswer(reserved));
      idle = true;
      await settled?.(result);
      if (committed !== 'COMMIT') throw new RolledBack(committed);
      return result;
    } finally {
      this.onClosed = undefined;
      if (idle && this.connected) reserved.release();
      else this.replace(client);
    }
  }

  /** Ends the connection (at shutdown). */
  end(timeoutSeconds?: number): Promise<void> {
    return this.client.end({ timeout: timeoutSeconds });
  }

  private newClient(): postgres.Sql {
    const client = this.open(() => {
      if (client !== this.client) return;
      this.connected = false;
      this.onClosed?.(connectionClosed());
    });
    return client;
  }

  /** The connection may hold an open transaction, or be closing: it is ended, and the next transaction opens a new one. */
  private replace(client: postgres.Sql): void {
    if (client !== this.client) return;
    this.connected = false;
    this.client = this.newClient();
    client.end({ timeout: 0 }).catch(() => {});
  }
}

/** Postgres answered a COMMIT with a ROLLBACK: a statement of the transaction failed (the work left it in flight). */
export class RolledBack extends Error {
  constructor(command: string) {
    super(`the transaction rolled back: its COMMIT was answered ${command}`);
  }
}

/** How postgres.js reports a closed connection, so the server answers it as it answers any lost connection (503). */
function connectionClosed(): Error {
  return Object.assign(new Error('write connection closed'), { code: 'CONNECTION_CLOSED' });
}
