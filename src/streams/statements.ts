import type { Sql } from '../db/client.js';
import { sessionExpired } from '../db/clock.js';

/* The Durable Streams face's statements on the sessions row (its events are the events feature's). */

export interface StreamChange {
  /** The stream's Content-Type, set when a PUT creates it. */
  contentType?: string;
  /** Close the session: no write appends to its history after this. */
  close?: boolean;
  /** The append's `Stream-Seq`, the new high-water mark. */
  streamSeq?: string;
}

/** Changes the Durable Streams columns of a session whose row the caller has locked. */
export async function updateStreamColumns(pg: Sql, sid: number, { contentType, close, streamSeq }: StreamChange): Promise<void> {
  await pg`
    update sessions set
      ${contentType === undefined ? pg`` : pg`stream_content_type = ${contentType},`}
      ${close ? pg`closed_at = coalesce(closed_at, now()),` : pg``}
      ${streamSeq === undefined ? pg`` : pg`stream_seq = ${streamSeq},`}
      updated_at = now()
    where sid = ${sid}`;
}

// ---- stream expiry (Stream-TTL, Stream-Expires-At; the domain is stream-expiry.ts)

/**
 * Sets a locked session's expiry as a PUT asks for it: `ttl_ms` (the idle
 * window) or the fixed `expires_at`, and when the expiry sweep first looks at
 * it: the soonest it can expire (reads and writes only move that later).
 */
export async function setStreamExpiry(pg: Sql, sid: number, { ttlMs, expiresAt }: { ttlMs: number | null; expiresAt: Date | null }): Promise<void> {
  await pg`
    update sessions set ttl_ms = ${ttlMs}, expires_at = ${expiresAt},
      expiry_check_at = least(${expiresAt}::timestamptz, now() + ${ttlMs}::bigint * interval '1 millisecond')
    where sid = ${sid}`;
}

/**
 * A Durable Streams access that is no write (a read, closing a closed stream)
 * slides the idle window of a session with `ttl_ms`: `read_at` moves, so
 * `updated_at` keeps meaning the last write. One already expired stays so: an
 * access never revives it. A window slid less than a tenth of the TTL ago (at
 * most a second) is left as it is: the row is neither written nor locked, so
 * the many reads of a busy stream do not queue behind its writers for it.
 */
export async function slideStreamWindow(pg: Sql, sid: number): Promise<void> {
  await pg`
    update sessions set read_at = now()
    where sid = ${sid} and ttl_ms is not null and not ${sessionExpired(pg)}
      and greatest(updated_at, read_at) < now() - least(ttl_ms / 10, 1000) * interval '1 millisecond'`;
}
