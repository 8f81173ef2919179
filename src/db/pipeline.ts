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

/**
 * Writes left in flight, as one promise to await once the transaction has
 * settled. It is marked handled at once: if the transaction fails first, its
 * error is the one reported.
 */
export function inFlight(writes: (Promise<unknown> | undefined)[]): Promise<unknown> {
  const all = Promise.all(writes);
  all.catch(() => {});
  return all;
}
