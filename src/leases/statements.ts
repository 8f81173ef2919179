import type { Sql } from '../db/client.js';
import { nowPlusMs } from '../db/clock.js';
import { startQuery } from '../db/pipeline.js';

/*
 * Every statement of the lease feature. Each write runs against a session row
 * its caller has locked (`lockSession`), so none of them checks who holds the
 * lease: the store decided that from the locked row.
 */

export interface HeldLease {
  owner: string;
  tokenHash: string;
  fencingToken: number;
  ttlMs: number;
}

/** Gives the session's lease to a new holder, running from now; returns when it expires. */
export async function holdLease(pg: Sql, sid: number, lease: HeldLease): Promise<Date> {
  const [row] = await pg<{ leaseExpiresAt: Date }[]>`
    update sessions set lease_owner = ${lease.owner}, lease_token_hash = ${lease.tokenHash},
      lease_fencing_token = ${lease.fencingToken}, lease_expires_at = ${nowPlusMs(pg, lease.ttlMs)},
      lease_ttl_ms = ${lease.ttlMs}, lease_expiry_announced = false
    where sid = ${sid}
    returning lease_expires_at`;
  return expiry(row);
}

/** The running lease's token becomes `tokenHash`'s; the old token stops passing the fence. */
export async function replaceLeaseToken(pg: Sql, sid: number, tokenHash: string): Promise<void> {
  await pg`update sessions set lease_token_hash = ${tokenHash} where sid = ${sid}`;
}

/** The running lease now expires `ttlMs` from now (and renews by that much from then on); returns when. */
export async function extendLease(pg: Sql, sid: number, ttlMs: number): Promise<Date> {
  const [row] = await pg<{ leaseExpiresAt: Date }[]>`
    update sessions set lease_expires_at = ${nowPlusMs(pg, ttlMs)}, lease_ttl_ms = ${ttlMs}
    where sid = ${sid}
    returning lease_expires_at`;
  return expiry(row);
}

/**
 * Nobody holds the lease; its end needs no lease.expired (it was said). The
 * fencing token stays, so the next is higher. Sent, not awaited: it may ride
 * with the COMMIT (see db/pipeline.ts).
 */
export function sendClearLease(pg: Sql, sid: number): Promise<unknown> {
  return startQuery(pg`
    update sessions set lease_owner = null, lease_token_hash = null, lease_expires_at = null, lease_expiry_announced = true
    where sid = ${sid}`);
}

/** The lease that ran out has had its lease.expired. */
export async function markLeaseExpiryAnnounced(pg: Sql, sid: number): Promise<void> {
  await pg`update sessions set lease_expiry_announced = true where sid = ${sid}`;
}

/**
 * Up to `batch` sessions whose lease ran out with its lease.expired not said
 * yet. Read without locks: the sweep locks each.
 */
export async function findSessionsWithLeaseExpiryDue(pg: Sql, batch: number): Promise<number[]> {
  const rows = await pg<{ sid: number }[]>`
    select sid from sessions where not lease_expiry_announced and lease_expires_at <= now()
    limit ${batch}`;
  return rows.map((row) => row.sid);
}

function expiry(row: { leaseExpiresAt: Date } | undefined): Date {
  // The caller holds the session's row lock, so the row is there to update.
  if (!row) throw new Error('lease statement found no session row under its lock');
  return row.leaseExpiresAt;
}
