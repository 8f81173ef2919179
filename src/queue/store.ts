import { and, asc, eq, gt, type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import { uuidv7 } from 'uuidv7';
import type { DbOrTx, Tx } from '../db/client.js';
import { nowPlus } from '../db/clock.js';
import { queueBatches, queueClaims } from '../db/schema.js';
import type { NewEvent } from '../events/append.js';
import { type ApiError, BatchClaimed, BatchNotFound, ClaimExpired, ClaimNotFound } from '../errors.js';
import type { SessionRow } from '../sessions/repository.js';
import type { BatchView, ClaimView } from './view.js';

export type BatchStatus = (typeof queueBatches.$inferSelect)['status'];


const batchColumns = {
  id: queueBatches.id,
  batchId: queueBatches.batchId,
  status: queueBatches.status,
  items: sql<string>`${queueBatches.items}::text`,
  createdAt: queueBatches.createdAt,
};

type BatchRow = { id: number; batchId: string; status: BatchStatus; items: string; createdAt: Date };

function toView(row: BatchRow, status: BatchStatus = row.status): BatchView {
  return { batch_id: row.batchId, status, items: JSON.parse(row.items) as unknown[], created_at: row.createdAt.toISOString() };
}

const event = (type: string, data: unknown): NewEvent => ({ type, dataJson: JSON.stringify(data) });

/** Queues a batch; `itemsJson` is the items' JSON text, already size-checked. */
export async function enqueue(tx: Tx, session: SessionRow, itemsJson: string): Promise<{ view: BatchView; events: NewEvent[] }> {
  const batchId = uuidv7();
  const [row] = await tx
    .insert(queueBatches)
    .values({ batchId, sessionSid: session.sid, items: sql`${itemsJson}::json` })
    .returning(batchColumns);
  if (!row) throw new Error('enqueue returned no row');
  return {
    view: toView(row),
    events: [{ type: 'queue.enqueued', dataJson: `{"batch_id":${JSON.stringify(batchId)},"items":${itemsJson}}` }],
  };
}

/**
 * A claim is dead once past its TTL, or once the lease generation it was taken
 * under is over (another fencing token, or no running lease). Used under the
 * session lock (`settleClaims`) and by the sweeper's search for due sessions.
 */
export function deadClaim(
  claim: { expiresAt: SQLWrapper; fencingToken: SQLWrapper },
  lease: { fencingToken: unknown; active: unknown },
): SQL {
  return sql`(${claim.expiresAt} <= now() or (${claim.fencingToken} is not null and
             (${claim.fencingToken} <> ${lease.fencingToken} or not ${lease.active})))`;
}

/**
 * Ends the session's claims that are past their TTL or whose lease generation
 * is over, returning their batches to pending. Returns the queue.expired events
 * to append. The session row must be locked.
 */
export async function settleClaims(tx: Tx, session: SessionRow): Promise<NewEvent[]> {
  const dead = await tx
    .update(queueClaims)
    .set({ status: 'expired' })
    .where(
      and(
        eq(queueClaims.sessionSid, session.sid),
        eq(queueClaims.status, 'active'),
        deadClaim(queueClaims, { fencingToken: session.leaseFencingToken, active: session.leaseActive }),
      ),
    )
    .returning({ claimId: queueClaims.claimId });
  if (dead.length === 0) return [];
  const claimIds = dead.map((d) => d.claimId);
  // RETURNING shows new values, and claim_id is cleared: read the old one in a CTE.
  const returned = await tx.execute<{ id: number; batchId: string; claimId: string }>(sql`
    with held as (
      select id, batch_id, claim_id from queue_batches
      where claim_id in ${claimIds} and status = 'claimed'
      order by id
      for update
    )
    update queue_batches b set status = 'pending', claim_id = null, updated_at = now()
    from held where b.id = held.id
    returning held.batch_id, held.claim_id, held.id`);
  // Stryker disable next-line MethodExpression,ArithmeticOperator: defensive; the CTE reads in id order and PostgreSQL's plan for this join (CTE scan driving a primary-key lookup) returns in that order, so no test can produce another order; the sort keeps enqueue order should the plan change
  const rows = [...returned].sort((a, b) => a.id - b.id);
  return claimIds.map((claimId) =>
    event('queue.expired', {
      claim_id: claimId,
      batch_ids: rows.filter((r) => r.claimId === claimId).map((r) => r.batchId),
    }),
  );
}


/** Claims up to `maxBatches` pending batches in enqueue order; undefined when none is pending. */
export async function claimBatches(
  tx: Tx,
  session: SessionRow,
  maxBatches: number,
  ttlMs: number,
): Promise<{ claim: ClaimView | undefined; events: NewEvent[] }> {
  const events = await settleClaims(tx, session);
  const pending = await tx
    .select(batchColumns)
    .from(queueBatches)
    .where(and(eq(queueBatches.sessionSid, session.sid), eq(queueBatches.status, 'pending')))
    .orderBy(asc(queueBatches.id))
    .limit(maxBatches)
    .for('update');
  if (pending.length === 0) return { claim: undefined, events };
  const claimId = uuidv7();
  const [claim] = await tx
    .insert(queueClaims)
    .values({
      claimId,
      sessionSid: session.sid,
      // A claim made under a lease lives only as long as that lease generation.
      fencingToken: session.leaseActive ? session.leaseFencingToken : null,
      expiresAt: nowPlus(ttlMs),
    })
    .returning({ expiresAt: queueClaims.expiresAt });
  await tx
    .update(queueBatches)
    .set({ status: 'claimed', claimId, updatedAt: sql`now()` })
    .where(sql`${queueBatches.id} = any(${sql.param(pending.map((b) => b.id))}::bigint[])`);
  const expiresAt = (claim?.expiresAt ?? new Date()).toISOString();
  const batchIds = pending.map((b) => b.batchId);
  events.push(event('queue.claimed', { claim_id: claimId, batch_ids: batchIds, expires_at: expiresAt }));
  return { claim: { claim_id: claimId, batches: pending.map((b) => toView(b, 'claimed')), expires_at: expiresAt }, events };
}

/**
 * Settles the session's claims, then checks this one. A dead claim is refused,
 * but only after the settlement commits: its batches are pending at once.
 */
async function activeClaim(tx: Tx, session: SessionRow, claimId: string): Promise<{ events: NewEvent[]; refusal?: ApiError }> {
  const events = await settleClaims(tx, session);
  const [claim] = await tx
    .select({ status: queueClaims.status })
    .from(queueClaims)
    .where(and(eq(queueClaims.claimId, claimId), eq(queueClaims.sessionSid, session.sid)));
  if (!claim) return { events, refusal: new ClaimNotFound(claimId) };
  if (claim.status !== 'active') return { events, refusal: new ClaimExpired(claimId, claim.status) };
  return { events };
}

export type ClaimAction = 'complete' | 'renew' | 'abandon';

export async function finishClaim(
  tx: Tx,
  session: SessionRow,
  claimId: string,
  action: ClaimAction,
  ttlMs?: number,
): Promise<{ body: Record<string, unknown>; events: NewEvent[]; refusal?: ApiError }> {
  const { events, refusal } = await activeClaim(tx, session, claimId);
  if (refusal) return { body: {}, events, refusal };
  if (action === 'renew') {
    const [row] = await tx
      .update(queueClaims)
      .set({ expiresAt: nowPlus(ttlMs ?? 30_000) })
      .where(eq(queueClaims.claimId, claimId))
      .returning({ expiresAt: queueClaims.expiresAt });
    const body = { claim_id: claimId, status: 'active', expires_at: (row?.expiresAt ?? new Date()).toISOString() };
    events.push(event('queue.renewed', body));
    return { body, events };
  }
  const complete = action === 'complete';
  await tx
    .update(queueClaims)
    .set({ status: complete ? 'completed' : 'abandoned' })
    .where(eq(queueClaims.claimId, claimId));
  const batches = await tx
    .update(queueBatches)
    .set(complete ? { status: 'completed', updatedAt: sql`now()` } : { status: 'pending', claimId: null, updatedAt: sql`now()` })
    .where(and(eq(queueBatches.claimId, claimId), eq(queueBatches.status, 'claimed')))
    .returning({ batchId: queueBatches.batchId, id: queueBatches.id });
  const batchIds = batches.sort((a, b) => a.id - b.id).map((b) => b.batchId);
  const body = { claim_id: claimId, status: complete ? 'completed' : 'abandoned', batch_ids: batchIds };
  events.push(event(complete ? 'queue.completed' : 'queue.abandoned', { claim_id: claimId, batch_ids: batchIds }));
  return { body, events };
}

/** Cancels a pending batch; cancelling a cancelled batch changes nothing. */
export async function cancelBatch(tx: Tx, session: SessionRow, batchId: string): Promise<NewEvent[]> {
  const [batch] = await tx
    .select({ status: queueBatches.status })
    .from(queueBatches)
    .where(and(eq(queueBatches.batchId, batchId), eq(queueBatches.sessionSid, session.sid)))
    .for('update');
  if (!batch) throw new BatchNotFound(batchId);
  if (batch.status === 'cancelled') return [];
  if (batch.status !== 'pending') throw new BatchClaimed(batchId, batch.status);
  await tx
    .update(queueBatches)
    .set({ status: 'cancelled', updatedAt: sql`now()` })
    .where(eq(queueBatches.batchId, batchId));
  return [event('queue.cancelled', { batch_id: batchId })];
}

export async function listBatches(
  db: DbOrTx,
  sid: number,
  { status, limit, afterId }: { status?: BatchStatus; limit: number; afterId?: number },
): Promise<{ batches: BatchView[]; nextId: number | undefined }> {
  const rows = await db
    .select(batchColumns)
    .from(queueBatches)
    .where(
      and(
        eq(queueBatches.sessionSid, sid),
        status === undefined ? undefined : eq(queueBatches.status, status),
        afterId === undefined ? undefined : gt(queueBatches.id, afterId),
      ),
    )
    .orderBy(asc(queueBatches.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return { batches: page.map((row) => toView(row)), nextId: rows.length > limit ? page[page.length - 1]?.id : undefined };
}
