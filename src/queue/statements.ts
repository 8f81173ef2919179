import type { PendingQuery, Row } from 'postgres';
import type { Sql } from '../db/client.js';
import { startQuery } from '../db/pipeline.js';
import { leaseRunning, nowPlusMs } from '../db/clock.js';
import type { BATCH_STATUSES, CLAIM_STATUSES } from '../values.js';

/*
 * Every statement of the queue feature. The writes run inside a session write,
 * under the session's row lock: batches and claims of one session change only
 * there, so none of them rechecks what the store decided from the locked row.
 */

export type BatchStatus = (typeof BATCH_STATUSES)[number];
export type ClaimStatus = (typeof CLAIM_STATUSES)[number];

/** A batch as the queue shows it; `id` is its place in enqueue order. */
export interface BatchRow {
  id: number;
  batchId: string;
  status: BatchStatus;
  items: unknown[];
  createdAt: Date;
}

/** The lease generation a claim is judged against: values read under the lock, or the session row's columns. */
export interface ClaimLease {
  fencingToken: number | PendingQuery<Row[]>;
  active: boolean | PendingQuery<Row[]>;
}

/**
 * A claim is dead once past its TTL, or once the lease generation it was taken
 * under is over (another fencing token, or no running lease). Used under the
 * session lock (`expireDeadClaims`) and by the claims sweep's search for due
 * sessions (`findSessionsWithDeadClaims`). The claim is the statement's `c`.
 */
const deadClaim = (pg: Sql, lease: ClaimLease): PendingQuery<Row[]> => pg`
  (c.expires_at <= now() or (c.fencing_token is not null and
    (c.fencing_token <> ${lease.fencingToken} or not ${lease.active})))`;

/**
 * Up to `batch` sessions with an active claim that is dead. Read without
 * locks: the sweep locks each.
 */
export async function findSessionsWithDeadClaims(pg: Sql, batch: number): Promise<number[]> {
  const rows = await pg<{ sid: number }[]>`
    select distinct c.session_sid as sid from queue_claims c join sessions s on s.sid = c.session_sid
    where c.status = 'active' and ${deadClaim(pg, { fencingToken: pg`s.lease_fencing_token`, active: leaseRunning(pg, pg`s.lease_expires_at`) })}
    limit ${batch}`;
  return rows.map((row) => row.sid);
}

/**
 * A new batch waits for the worker behind every batch queued before it. Sent,
 * not awaited (it rides with the COMMIT, see db/pipeline.ts): the batch is
 * stored pending, its `created_at` the transaction's `now()`.
 */
export function sendBatchInsert(pg: Sql, sid: number, batchId: string, itemsJson: string): Promise<unknown> {
  return startQuery(pg`insert into queue_batches (batch_id, session_sid, items) values (${batchId}, ${sid}, ${itemsJson}::json)`);
}

/** The session's active claims that are dead end as expired; returns their ids. */
export async function expireDeadClaims(pg: Sql, sid: number, lease: ClaimLease): Promise<string[]> {
  const rows = await pg<{ claimId: string }[]>`
    update queue_claims c set status = 'expired'
    where c.session_sid = ${sid} and c.status = 'active' and ${deadClaim(pg, lease)}
    returning c.claim_id`;
  return rows.map((row) => row.claimId);
}

/** The batches these claims still held are pending again, claimable by the next claim; returns which claim held each. */
export async function releaseBatchesOfClaims(pg: Sql, claimIds: string[]): Promise<{ id: number; batchId: string; claimId: string }[]> {
  // RETURNING shows new values, and claim_id is cleared: read the old one in a CTE.
  return pg<{ id: number; batchId: string; claimId: string }[]>`
    with held as (
      select id, batch_id, claim_id from queue_batches
      where claim_id = any(${claimIds}::text[]) and status = 'claimed'
      order by id
      for update
    )
    update queue_batches b set status = 'pending', claim_id = null, updated_at = now()
    from held where b.id = held.id
    returning held.batch_id, held.claim_id, held.id`;
}

/** The first `limit` pending batches in enqueue order, locked for the claim about to take them. */
export async function lockPendingBatches(pg: Sql, sid: number, limit: number): Promise<BatchRow[]> {
  return pg<BatchRow[]>`
    select id, batch_id, status, items, created_at from queue_batches
    where session_sid = ${sid} and status = 'pending'
    order by id
    limit ${limit}
    for update`;
}

/**
 * A worker's claim, running `ttlMs` from now; `fencingToken` is the lease
 * generation it lives with (null when made without a lease). Returns when it expires.
 */
export async function insertClaim(pg: Sql, claimId: string, sid: number, fencingToken: number | null, ttlMs: number): Promise<Date> {
  const [row] = await pg<{ expiresAt: Date }[]>`
    insert into queue_claims (claim_id, session_sid, fencing_token, expires_at)
    values (${claimId}, ${sid}, ${fencingToken}, ${nowPlusMs(pg, ttlMs)})
    returning expires_at`;
  return expiry(row);
}

/** The batches (by `id`) belong to the claim until it ends. */
export async function markBatchesClaimed(pg: Sql, ids: number[], claimId: string): Promise<void> {
  await pg`update queue_batches set status = 'claimed', claim_id = ${claimId}, updated_at = now() where id = any(${ids}::bigint[])`;
}

/** Where the session's claim stands; undefined when the session has no such claim. */
export async function findClaimStatus(pg: Sql, sid: number, claimId: string): Promise<ClaimStatus | undefined> {
  const [row] = await pg<{ status: ClaimStatus }[]>`
    select status from queue_claims where claim_id = ${claimId} and session_sid = ${sid}`;
  return row?.status;
}

/** The claim now expires `ttlMs` from now; returns when. */
export async function extendClaim(pg: Sql, claimId: string, ttlMs: number): Promise<Date> {
  const [row] = await pg<{ expiresAt: Date }[]>`
    update queue_claims set expires_at = ${nowPlusMs(pg, ttlMs)} where claim_id = ${claimId}
    returning expires_at`;
  return expiry(row);
}

/** The worker ended the claim: completed or abandoned. */
export async function endClaim(pg: Sql, claimId: string, status: 'completed' | 'abandoned'): Promise<void> {
  await pg`update queue_claims set status = ${status} where claim_id = ${claimId}`;
}

/** The batches the claim still held are done; returns them. */
export async function completeClaimedBatches(pg: Sql, claimId: string): Promise<{ id: number; batchId: string }[]> {
  return pg<{ id: number; batchId: string }[]>`
    update queue_batches set status = 'completed', updated_at = now()
    where claim_id = ${claimId} and status = 'claimed'
    returning batch_id, id`;
}

/** The batches the claim still held are pending again, for the next claim; returns them. */
export async function releaseClaimedBatches(pg: Sql, claimId: string): Promise<{ id: number; batchId: string }[]> {
  return pg<{ id: number; batchId: string }[]>`
    update queue_batches set status = 'pending', claim_id = null, updated_at = now()
    where claim_id = ${claimId} and status = 'claimed'
    returning batch_id, id`;
}

/** Where the session's batch stands, locked so a claim cannot take it meanwhile; undefined when there is no such batch. */
export async function lockBatchStatus(pg: Sql, sid: number, batchId: string): Promise<BatchStatus | undefined> {
  const [row] = await pg<{ status: BatchStatus }[]>`
    select status from queue_batches where batch_id = ${batchId} and session_sid = ${sid}
    for update`;
  return row?.status;
}

/** The batch will never be claimed. */
export async function markBatchCancelled(pg: Sql, batchId: string): Promise<void> {
  await pg`update queue_batches set status = 'cancelled', updated_at = now() where batch_id = ${batchId}`;
}

/** A page of the session's batches in enqueue order, after `afterId`, of one status or all; `limit` rows at most. */
export async function selectBatches(
  pg: Sql,
  sid: number,
  { status, afterId, limit }: { status: BatchStatus | undefined; afterId: number | undefined; limit: number },
): Promise<BatchRow[]> {
  // Each filter is in the text only when given (four texts in all), so every
  // text keeps the plan that walks queue_batches_session_idx.
  return pg<BatchRow[]>`
    select id, batch_id, status, items, created_at from queue_batches
    where session_sid = ${sid}
      ${status === undefined ? pg`` : pg`and status = ${status}`}
      ${afterId === undefined ? pg`` : pg`and id > ${afterId}`}
    order by id
    limit ${limit}`;
}

function expiry(row: { expiresAt: Date } | undefined): Date {
  // The claim was made or found under the session's row lock, so it is there.
  if (!row) throw new Error('queue statement found no claim row under the session lock');
  return row.expiresAt;
}

// ---- import: the rows of a copy, inside the import's one transaction (history/import.ts)

/** A queue batch as an export file carries it (history/export-format.ts). */
export interface ImportedBatch {
  batch_id: string;
  status: string;
  created_at: string;
  updated_at: string;
}

/**
 * Queue batches in the file's order, `text` their items as JSON text, under
 * the status the caller gives (a claimed one is pending again: nobody here
 * holds its claim). A batch id this server holds already gets its `fresh` one.
 */
export async function insertImportedBatches(
  pg: Sql,
  sid: number,
  rows: (ImportedBatch & { text: string; fresh: string })[],
): Promise<void> {
  await pg`
    insert into queue_batches (batch_id, session_sid, status, items, created_at, updated_at)
    select case when exists (select 1 from queue_batches x where x.batch_id = b.batch_id) then b.fresh else b.batch_id end,
      ${sid}, b.status, b.items::json, b.created_at::timestamptz, b.updated_at::timestamptz
    from unnest(${rows.map((r) => r.batch_id)}::text[], ${rows.map((r) => r.fresh)}::text[],
      ${rows.map((r) => r.status)}::text[], ${rows.map((r) => r.text)}::text[],
      ${rows.map((r) => r.created_at)}::text[], ${rows.map((r) => r.updated_at)}::text[])
      with ordinality as b(batch_id, fresh, status, items, created_at, updated_at, n)
    order by b.n`;
}
