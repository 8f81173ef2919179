import type { PendingQuery, Row } from 'postgres';
import type { Sql } from './client.js';

/**
 * Time as the database tells it: every expiry is decided by one clock,
 * Postgres's, never by the clocks of the instances. Each predicate is written
 * here once, as a fragment of a postgres.js statement.
 */

type Fragment = PendingQuery<Row[]>;

/** `now()` plus a duration. */
export const nowPlusMs = (pg: Sql, ms: number): Fragment => pg`now() + make_interval(secs => ${ms / 1000})`;

/** `now()` minus a duration. */
export const nowMinusMs = (pg: Sql, ms: number): Fragment => pg`now() - make_interval(secs => ${ms / 1000})`;

/** A lease whose expiry is `expiresAt` is running (false when there is none). */
export const leaseRunning = (pg: Sql, expiresAt: Fragment): Fragment => pg`coalesce(${expiresAt} > now(), false)`;

/**
 * When a session expires, as a column expression of `sessions` (null: never):
 * the sooner of its fixed `expires_at` (a Durable Streams `Stream-Expires-At`)
 * and its idle window, `ttl_ms` after its last write (`updated_at`) or its
 * last Durable Streams read (`read_at`), whichever is later. Reads and writes
 * only ever move it later, so a time computed from it is a lower bound of
 * the session's expiry from then on.
 */
export const sessionExpiry = (pg: Sql): Fragment =>
  pg`least(expires_at, greatest(updated_at, read_at) + ttl_ms * interval '1 millisecond')`;

/**
 * The session (a `sessions` row) is past its expiry: as of the transaction's
 * start (`now()`), or, for `at: 'statement'`, as of when the row is read
 * (`clock_timestamp()`: a `FOR UPDATE` that waited for a writer judges after
 * the wait, so a write whose transaction began before the expiry and got the
 * lock after it is refused rather than landing in a stream a reader has just
 * been told is gone).
 */
export const sessionExpired = (pg: Sql, at: 'transaction' | 'statement' = 'transaction'): Fragment =>
  pg`coalesce(${sessionExpiry(pg)} <= ${at === 'statement' ? pg`clock_timestamp()` : pg`now()`}, false)`;
