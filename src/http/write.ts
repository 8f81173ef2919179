import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Db, Tx } from '../db/client.js';
import { inFlight } from '../db/pipeline.js';
import { findStoredResponse, type IdempotentRequest, requestHash, storeResponse, type StoredResponse } from '../idempotency/keys.js';
import { checkFence, LEASE_TOKEN_HEADER } from '../leases/fence.js';
import { lockSession, type SessionRow } from '../sessions/repository.js';
import { type ApiError, SessionNotFound } from './errors.js';
import type { SessionQueue } from './session-queue.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** This process's queue of writers per session (`writeSession`). */
    sessionQueue: SessionQueue;
  }
}

export interface WriteResult {
  status: number;
  body: unknown;
  /**
   * The work's last statements, sent but not awaited: they travel with the
   * COMMIT, one round trip less (see `db/pipeline.ts`).
   */
  writes?: Promise<unknown>;
  /**
   * Commit what the work did, then answer with this problem instead (e.g. a
   * claim found dead: returning its batches to the queue stands, the request is
   * still refused). Never stored under an Idempotency-Key.
   */
  refuseAfterCommit?: ApiError;
  /** What the Idempotency-Key keeps instead of `status`/`body`, when the answer holds a secret. */
  stored?: StoredResponse;
}

export interface WriteOutcome extends WriteResult {
  replayed: boolean;
}

/**
 * The Idempotency-Key of a request (already validated by the route schema),
 * scoped to its caller and then as given. A key belongs to whoever sent it: the
 * token's subject when authentication is on, and the lease token a worker
 * writes under, so another caller that happens to send the same key and body
 * runs its own request instead of receiving someone else's answer.
 */
export function idempotencyOf(request: FastifyRequest, scope: string): IdempotentRequest | undefined {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string') return undefined;
  const leaseToken = leaseTokenOf(request);
  const caller = [
    request.principal.caller,
    leaseToken === undefined ? undefined : `lease:${createHash('sha256').update(leaseToken).digest('base64url')}`,
  ].filter((part) => part !== undefined);
  return {
    scope: [...caller, scope].join('|'),
    key,
    hash: requestHash(request.method, request.url.split('?')[0] ?? '', request.body),
  };
}

/**
 * Key scopes. Writes to a session are scoped to its incarnation (`sid`), so a
 * session deleted and re-created under the same id never replays the old
 * life's answers. Creating and deleting are scoped to the id itself: a retried
 * DELETE whose first attempt committed still finds its answer.
 */
export const incarnationScope = (session: SessionRow) => `sid:${session.sid}`;
export const lifecycleScope = (sessionId: string) => `id:${sessionId}`;

export interface SessionWrite {
  sessionId: string;
  idempotencyTtlMs: number;
  /** DELETE: its key outlives the session it removed. */
  lifecycle?: boolean;
  /** A worker's write: refused while someone else's lease runs (see `checkFence`). */
  fenced?: boolean;
  /**
   * Turns a stored answer into the one to send again, under the session lock
   * (a lease claim stores no token, so its replay issues a fresh one).
   */
  replay?: (tx: Tx, session: SessionRow, stored: StoredResponse) => Promise<StoredResponse>;
}

/**
 * The shape of every write to an existing session: one transaction that locks
 * the session row, answers a retried Idempotency-Key from its stored response
 * (before any check that the first attempt could have changed, so a committed
 * delta never turns into a version_conflict on retry), runs the work, and
 * stores the response with the write.
 */
export async function writeSession(
  db: Db,
  request: FastifyRequest,
  write: SessionWrite,
  work: (tx: Tx, session: SessionRow) => Promise<WriteResult>,
): Promise<WriteOutcome> {
  // One writer per session at a time takes a pool connection (see SessionQueue).
  return request.server.sessionQueue.run(write.sessionId, () => runWrite(db, request, write, work));
}

async function runWrite(
  db: Db,
  request: FastifyRequest,
  { sessionId, idempotencyTtlMs, lifecycle = false, fenced = false, replay }: SessionWrite,
  work: (tx: Tx, session: SessionRow) => Promise<WriteResult>,
): Promise<WriteOutcome> {
  const outcome = await db.transaction(async (tx): Promise<WriteOutcome> => {
    const session = await lockSession(tx, sessionId);
    const scope = lifecycle ? lifecycleScope(sessionId) : session && incarnationScope(session);
    const idempotent = scope === undefined ? undefined : idempotencyOf(request, scope);
    if (idempotent) {
      const stored = await findStoredResponse(tx, idempotent, idempotencyTtlMs);
      if (stored) return { ...(replay && session ? await replay(tx, session, stored) : stored), replayed: true };
    }
    if (!session) throw new SessionNotFound(sessionId);
    if (fenced) checkFence(session, leaseTokenOf(request));
    const result = await work(tx, session);
    const stored = idempotent && !result.refuseAfterCommit ? storeResponse(tx, idempotent, result.stored ?? result) : undefined;
    return { ...result, writes: inFlight([result.writes, stored]), replayed: false };
  });
  // Every statement has answered by now (Postgres answers in order and the
  // COMMIT went last); if one of them failed, that COMMIT was a ROLLBACK.
  await outcome.writes;
  if (outcome.refuseAfterCommit) throw outcome.refuseAfterCommit;
  return outcome;
}

export function leaseTokenOf(request: FastifyRequest): string | undefined {
  const token = request.headers[LEASE_TOKEN_HEADER];
  return typeof token === 'string' ? token : undefined;
}

export function sendWrite(reply: FastifyReply, outcome: WriteOutcome): FastifyReply {
  if (outcome.replayed) reply.header('idempotent-replayed', 'true');
  reply.code(outcome.status);
  return outcome.status === 204 ? reply.send() : reply.send(outcome.body);
}
