import { uuidv7 } from 'uuidv7';
import { type Sql, type Tx } from '../db/client.js';
import type { NewEvent } from '../events/append.js';
import { type ApiError, BatchClaimed, BatchNotFound, ClaimExpired, ClaimNotFound } from '../errors.js';
import type { SessionRow } from '../sessions/store.js';
import {
  type BatchRow,
  type BatchStatus,
  completeClaimedBatches,
  endClaim,
  expireDeadClaims,
  extendClaim,
  findClaimStatus,
  sendBatchInsert,
  insertClaim,
  lockBatchStatus,
  lockPendingBatches,
  markBatchCancelled,
  markBatchesClaimed,
  releaseBatchesOfClaims,
  releaseClaimedBatches,
  selectBatches,
} from './statements.js';
import type { BatchView, ClaimView } from './view.js';
import { EVENT } from 'session-sync/client/protocol';


function toView(row: BatchRow, status: BatchStatus = row.status): BatchView {
  return { batch_id: row.batchId, status, items: row.items, created_at: row.createdAt.toISOString() };
}

const event = (type: string, data: unknown): NewEvent => ({ type, dataJson: JSON.stringify(data) });

/**
 * Queues a batch; `itemsJson` is the items' JSON text, already size-checked.
 * The insert is sent, not awaited (`pending`): the batch is what it stores,
 * pending since the transaction's clock (`session.now`), so the caller sends
 * the events to append with it.
 */
export function enqueue(tx: Tx, session: SessionRow, itemsJson: string): { view: BatchView; events: NewEvent[]; pending: Promise<unknown> } {
  const batchId = uuidv7();
  return {
    view: { batch_id: batchId, status: 'pending', items: JSON.parse(itemsJson) as unknown[], created_at: session.now.toISOString() },
    events: [{ type: EVENT.queueEnqueued, dataJson: `{"batch_id":${JSON.stringify(batchId)},"items":${itemsJson}}` }],
    pending: sendBatchInsert(tx, session.sid, batchId, itemsJson),
  };
}

/**
 * Ends the session's claims that are past their TTL or whose lease generation
 * is over, returning their batches to pending. Returns the queue.expired events
 * to append. The session row must be locked.
 */
export async function settleClaims(tx: Tx, session: SessionRow): Promise<NewEvent[]> {
  const claimIds = await expireDeadClaims(tx, session.sid, { fencingToken: session.leaseFencingToken, active: session.leaseActive });
  if (claimIds.length === 0) return [];
  const returned = await releaseBatchesOfClaims(tx, claimIds);
  // Stryker disable next-line MethodExpression,ArithmeticOperator: defensive; the CTE reads in id order and PostgreSQL's plan for this join (CTE scan driving a primary-key lookup) returns in that order, so no test can produce another order; the sort keeps enqueue order should the plan change
  const rows = [...returned].sort((a, b) => a.id - b.id);
  return claimIds.map((claimId) =>
    event(EVENT.queueExpired, {
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
  const pending = await lockPendingBatches(tx, session.sid, maxBatches);
  if (pending.length === 0) return { claim: undefined, events };
  const claimId = uuidv7();
  // A claim made under a lease lives only as long as that lease generation.
  const fencingToken = session.leaseActive ? session.leaseFencingToken : null;
  const expiresAt = (await insertClaim(tx, claimId, session.sid, fencingToken, ttlMs)).toISOString();
  await markBatchesClaimed(tx, pending.map((b) => b.id), claimId);
  const batchIds = pending.map((b) => b.batchId);
  events.push(event(EVENT.queueClaimed, { claim_id: claimId, batch_ids: batchIds, expires_at: expiresAt }));
  return { claim: { claim_id: claimId, batches: pending.map((b) => toView(b, 'claimed')), expires_at: expiresAt }, events };
}

/**
 * Settles the session's claims, then checks this one. A dead claim is refused,
 * but only after the settlement commits: its batches are pending at once.
 */
async function activeClaim(tx: Tx, session: SessionRow, claimId: string): Promise<{ events: NewEvent[]; refusal?: ApiError }> {
  const events = await settleClaims(tx, session);
  const status = await findClaimStatus(tx, session.sid, claimId);
  if (!status) return { events, refusal: new ClaimNotFound(claimId) };
  if (status !== 'active') return { events, refusal: new ClaimExpired(claimId, status) };
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
    const expiresAt = await extendClaim(tx, claimId, ttlMs ?? 30_000);
    const body = { claim_id: claimId, status: 'active', expires_at: expiresAt.toISOString() };
    events.push(event(EVENT.queueRenewed, body));
    return { body, events };
  }
  const complete = action === 'complete';
  await endClaim(tx, claimId, complete ? 'completed' : 'abandoned');
  const batches = await (complete ? completeClaimedBatches : releaseClaimedBatches)(tx, claimId);
  const batchIds = batches.sort((a, b) => a.id - b.id).map((b) => b.batchId);
  const body = { claim_id: claimId, status: complete ? 'completed' : 'abandoned', batch_ids: batchIds };
  events.push(event(complete ? EVENT.queueCompleted : EVENT.queueAbandoned, { claim_id: claimId, batch_ids: batchIds }));
  return { body, events };
}

/** Cancels a pending batch; cancelling a cancelled batch changes nothing. */
export async function cancelBatch(tx: Tx, session: SessionRow, batchId: string): Promise<NewEvent[]> {
  const status = await lockBatchStatus(tx, session.sid, batchId);
  if (!status) throw new BatchNotFound(batchId);
  if (status === 'cancelled') return [];
  if (status !== 'pending') throw new BatchClaimed(batchId, status);
  await markBatchCancelled(tx, batchId);
  return [event(EVENT.queueCancelled, { batch_id: batchId })];
}

export async function listBatches(
  pg: Sql,
  sid: number,
  { status, limit, afterId }: { status?: BatchStatus; limit: number; afterId?: number },
): Promise<{ batches: BatchView[]; nextId: number | undefined }> {
  const rows = await selectBatches(pg, sid, { status, afterId, limit: limit + 1 });
  const page = rows.slice(0, limit);
  return { batches: page.map((row) => toView(row)), nextId: rows.length > limit ? page[page.length - 1]?.id : undefined };
}
