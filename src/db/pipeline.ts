/**
 * Pipelining writes with their COMMIT.
 *
 * A transaction callback may return while its last statements are still on
 * the wire: postgres.js then sends COMMIT behind them on the same connection
 * without waiting for their answers, so the writes and the commit cost one
 * round trip together. Postgres runs them in order; if one fails, the COMMIT
 * becomes a ROLLBACK without an error of its own. So whoever leaves writes in
 * flight must await them after the transaction settles (`writeSession` does).
 */

/**
 * Sends a query now. postgres.js queries are lazy until awaited, and a query's
 * place on the connection is where it is sent: sending it here, before the
 * callback returns, puts it ahead of the COMMIT.
 */
export function startQuery<T>(query: PromiseLike<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    query.then(resolve, reject);
  });
}

/** SQLSTATE of every statement Postgres refuses after one failed in the same transaction: an effect, never the cause. */
const IN_FAILED_TRANSACTION = '25P02';

/**
 * Writes left in flight, as one promise to await once the transaction has
 * settled. It is marked handled at once: if the transaction fails first, its
 * error is the one reported.
 *
 * It fails with the first failure in the order the writes were sent that is
 * not `in_failed_sql_transaction`: the cause, for the log and the answer.
 * Not with whichever rejects first: a write whose promise is a chain (a
 * group of its own, nested) rejects later, by its microtask hops, than the
 * statements Postgres refused after it, and a failed turn was logged as
 * "current transaction is aborted" from the usage update that followed the
 * state write that failed (test/http/turns.test.ts).
 */
export function inFlight(writes: (Promise<unknown> | undefined)[]): Promise<unknown> {
  const all = Promise.allSettled(writes).then((outcomes) => {
    const failures = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
    if (failures.length === 0) return outcomes;
    throw failures.find((error) => (error as { code?: unknown } | null)?.code !== IN_FAILED_TRANSACTION) ?? failures[0];
  });
  all.catch(() => {});
  return all;
}
