import { type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import type { PendingQuery, Row } from 'postgres';
import type { Sql } from './client.js';

/**
 * Time as the database tells it: every expiry is decided by one clock,
 * Postgres's, never by the clocks of the instances. Each predicate is written
 * here once and used by drizzle queries and literal SQL alike.
 */

/** `now()` plus a duration, as a fragment of a postgres.js statement. */
export const nowPlusMs = (pg: Sql, ms: number): PendingQuery<Row[]> => pg`now() + make_interval(secs => ${ms / 1000})`;

/** `now()` plus a duration. */
export const nowPlus = (ms: number): SQL => sql`now() + make_interval(secs => ${ms / 1000})`;

/** `now()` minus a duration. */
export const nowMinus = (ms: number): SQL => sql`now() - make_interval(secs => ${ms / 1000})`;

/** The text of "a session's lease is running", for statements written out as literal SQL. */
export const LEASE_ACTIVE_SQL = 'coalesce(lease_expires_at > now(), false)';

/** A lease whose expiry is `expiresAt` is running (false when there is none). */
export const leaseActive = (expiresAt: SQLWrapper): SQL => sql`coalesce(${expiresAt} > now(), false)`;

/** `now()` minus a duration, as a fragment of a postgres.js statement. */
export const nowMinusMs = (pg: Sql, ms: number): PendingQuery<Row[]> => pg`now() - make_interval(secs => ${ms / 1000})`;

/** A lease whose expiry is `expiresAt` is running (false when there is none), as a fragment of a postgres.js statement. */
export const leaseRunning = (pg: Sql, expiresAt: PendingQuery<Row[]>): PendingQuery<Row[]> => pg`coalesce(${expiresAt} > now(), false)`;
