import type { Sql, Tx } from './handles.js';

/* The statements about the connection itself rather than any table: health, LISTEN and NOTIFY, transaction settings. */

/** Answers when the database does: the readiness probe's question. */
export async function ping(pg: Sql): Promise<void> {
  await pg`select 1`;
}

/**
 * The application names, less `prefix`, of the connections whose name starts
 * with it: every instance names its LISTEN connection after itself, so this
 * is who is listening now. Any role sees other sessions' application names.
 */
export async function listApplications(pg: Sql, prefix: string): Promise<string[]> {
  const rows = await pg<{ name: string }[]>`
    select substr(application_name, ${prefix.length + 1}) as name
    from pg_stat_activity
    where starts_with(application_name, ${prefix})`;
  return rows.map((row) => row.name);
}

/**
 * Starts listening on `channel` on this client's connection. LISTEN takes no
 * parameter, so the name is quoted into the text; channels are this
 * server's own constants, never input.
 */
export async function listen(pg: Sql, channel: string): Promise<void> {
  await pg.unsafe(`listen "${channel.replaceAll('"', '""')}"`);
}

/**
 * Queues `payload` on `channel`: in a transaction it is delivered when that
 * commits (never if it rolls back); on the pool, at once.
 */
export async function sendNotification(pg: Sql, channel: string, payload: string): Promise<void> {
  await pg`select pg_notify(${channel}, ${payload})`;
}

/**
 * Sends every payload on `channel` in one statement, so in one transaction:
 * one NOTIFY commit for all of them, delivered in the order given (the
 * target list is evaluated left to right). One parameter per payload: as one
 * text[] parameter, every quote of every payload (JSON is full of them) was
 * escaped into an array literal and parsed back, about 5% of the server's
 * CPU under live traffic (bench scenario 9's profile). One prepared statement
 * per payload count, at most `maxPayloadsPerFlush` (64).
 */
export async function sendNotifications(pg: Sql, channel: string, payloads: string[]): Promise<void> {
  const calls = payloads.map((_, i) => `pg_notify($1, $${i + 2})`).join(', ');
  await pg.unsafe(`select ${calls}`, [channel, ...payloads], { prepare: true });
}

/** Begins a transaction on a connection the caller holds (`db.reserve()`), for a read that spans its own awaits. */
export async function beginOn(pg: Sql, mode: string): Promise<void> {
  await pg.unsafe(`begin ${mode}`);
}

export async function commit(pg: Sql): Promise<void> {
  await pg`commit`;
}

/**
 * Sends BEGIN at once, on a connection the caller holds, without waiting for
 * its answer: what the caller sends next goes behind it, inside the
 * transaction (db/write-connection.ts says why that is safe there).
 */
export function sendBegin(pg: Sql): Promise<unknown> {
  return pg.unsafe('begin').execute();
}

/** COMMIT, answered with what Postgres did: `COMMIT`, or `ROLLBACK` when a statement of the transaction had failed. */
export async function commitAnswer(pg: Sql): Promise<string> {
  return (await pg`commit`).command;
}

export async function rollback(pg: Sql): Promise<void> {
  await pg`rollback`;
}

/**
 * Bounds every lock wait of the rest of `tx` to `ms` (`lock_timeout`, for this
 * transaction only): past it the waiting statement fails with 55P03. Sent, not
 * awaited: it goes ahead of the transaction's next statement on the wire.
 */
export function boundLockWaits(tx: Tx, ms: number): void {
  // Its failure fails the transaction, whose runner sees it there; this promise need not report it again.
  tx`select set_config('lock_timeout', ${`${ms}ms`}, true)`.catch(() => {});
}
