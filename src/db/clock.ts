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
