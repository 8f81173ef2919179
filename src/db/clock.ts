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

/** The session (a `sessions` row) is past its expiry. */
export const sessionExpired = (pg: Sql): Fragment => pg`coalesce(${sessionExpiry(pg)} <= now(), false)`;
