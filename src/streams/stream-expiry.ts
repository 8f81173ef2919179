import { DS_HEADER } from 'session-sync/client/protocol';
import type { Db, Sql, Tx } from '../db/client.js';
import { SessionNotFound } from '../errors.js';
import { deleteExpiredSession } from '../sessions/store.js';
import { findSessionRow, lockSessionRow, type SessionRow } from '../sessions/statements.js';
import type { StreamExpiry } from './expiry.js';
import { setStreamExpiry, slideStreamWindow } from './statements.js';

/*
 * A stream's expiry (PROTOCOL §4, §5.1) on the session's own: `Stream-TTL: n`
 * is the session's `ttl_ms` (n * 1000), an idle window the stream's reads slide
 * as its writes do (`read_at`, so `updated_at` keeps meaning the last write);
 * `Stream-Expires-At` is `expires_at`, which nothing moves. When a session
 * expires is one SQL expression (`sessionExpiry`, db/clock.ts) judged by
 * Postgres's clock, for the expiry sweep (which deletes it) and for every
 * access: a stream past its expiry is absent at once on both faces
 * (`SessionRow.streamExpired`), and the face deletes it on the spot, as the
 * sweep would, with the same `session.deleted {reason: "expired"}`.
 * A fork's expiry (§4.2) is set with `applyStreamExpiry` from its own headers
 * or its source's (`expiryOf`); every expiry delete, sweep or access, goes
 * through `deleteExpiredSession` (sessions/store.ts).
 */

/** A stream found past its expiry: 404 like an absent one; the face then deletes it (`expireStream`). */
export class StreamExpired extends SessionNotFound {}

/** A stream's expiry as stored: the idle window, or the fixed time (a native session may have a `ttl_ms` of any milliseconds). */
export interface StreamExpiryConfig {
  ttlMs: number | null;
  expiresAt: Date | null;
}

export function expiryOf(row: Pick<SessionRow, 'ttlMs' | 'expiresAt'>): StreamExpiryConfig {
  return { ttlMs: row.ttlMs, expiresAt: row.expiresAt };
}

/** What a PUT's valid expiry headers store. */
export function expiryColumns(expiry: Exclude<StreamExpiry, { kind: 'invalid' }>): StreamExpiryConfig {
  if (expiry.kind === 'ttl') return { ttlMs: expiry.ttlSeconds * 1000, expiresAt: null };
  if (expiry.kind === 'expires-at') return { ttlMs: null, expiresAt: expiry.expiresAt };
  return { ttlMs: null, expiresAt: null };
}

/**
 * What differs between a stream's expiry and the one a PUT asks for (§5.1:
 * the same answers 200, another 409), in words for the 409's detail; undefined
 * when they are the same. Times compare to the millisecond, what a PUT can say.
 */
export function expiryDifference(existing: StreamExpiryConfig, asked: StreamExpiryConfig): string | undefined {
  const same = existing.ttlMs === asked.ttlMs && existing.expiresAt?.getTime() === asked.expiresAt?.getTime();
  return same ? undefined : `with ${describe(existing)} (this request asks for ${describe(asked)})`;
}

function describe({ ttlMs, expiresAt }: StreamExpiryConfig): string {
  if (expiresAt !== null) return `Stream-Expires-At ${expiresAt.toISOString()}`;
  if (ttlMs !== null) return `Stream-TTL ${ttlSeconds(ttlMs)}`;
  return 'no expiry';
}

/** The window in whole seconds; a native `ttl_ms` that is not a whole number of seconds shows rounded up. */
const ttlSeconds = (ttlMs: number) => Math.ceil(ttlMs / 1000);

/** HEAD's expiry headers (§5.5): the configured window (not what is left of it), the fixed time. */
export function expiryHeaders({ ttlMs, expiresAt }: StreamExpiryConfig): Record<string, string> {
  return {
    ...(ttlMs === null ? {} : { [DS_HEADER.ttl]: String(ttlSeconds(ttlMs)) }),
    ...(expiresAt === null ? {} : { [DS_HEADER.expiresAt]: expiresAt.toISOString() }),
  };
}

/** Gives a session made in this transaction its expiry (and the sweep its first look). */
export async function applyStreamExpiry(tx: Tx, sid: number, config: StreamExpiryConfig): Promise<void> {
  if (config.ttlMs !== null || config.expiresAt !== null) await setStreamExpiry(tx, sid, config);
}

/** The stream's session as the face reads it: 404 when there is none, `StreamExpired` (404) when past its expiry. */
export async function findStream(pg: Sql, sessionId: string): Promise<SessionRow> {
  const row = await findSessionRow(pg, sessionId);
  if (!row) throw new SessionNotFound(sessionId);
  if (row.streamExpired) throw new StreamExpired(sessionId);
  return row;
}

/**
 * Deletes the stream if it is past its expiry, judged again under its row
 * lock (a write that committed meanwhile may have moved it): the expiry
 * sweep's delete and notice, sooner.
 */
export async function expireStream(db: Db, sessionId: string): Promise<void> {
  await db.begin(async (tx) => {
    const row = await lockSessionRow(tx, sessionId);
    if (row?.streamExpired) await deleteExpiredSession(tx, row);
  });
}

/** A read (or another access that writes nothing) slides the idle window of a stream that has one; others pay nothing. */
export async function slideOnAccess(pg: Sql, head: { sid: number; expiry: StreamExpiryConfig }): Promise<void> {
  if (head.expiry.ttlMs !== null) await slideStreamWindow(pg, head.sid);
}
