import { createHash } from 'node:crypto';
import type { Db, Tx } from '../db/client.js';
import { inFlight } from '../db/pipeline.js';
import { type ApiError, SessionNotFound } from '../errors.js';
import { findStoredResponse, type IdempotentRequest, storeResponse, type StoredResponse } from '../idempotency/keys.js';
import { checkFence } from '../leases/fence.js';
import { lockSession, type SessionRow } from '../sessions/store.js';
import type { SessionQueue } from './session-queue.js';

export interface WriteResult {
  status: number;
  body: unknown;
  /**
   * The work's last statements, sent but not awaited: they travel with the
   * COMMIT, one round trip less (see `db/pipeline.ts`).
   */
  pending?: Promise<unknown>;
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
 * Who asks for a write, in plain terms (the HTTP layer reads them off the
 * request, see `http/write-request.ts`).
 */
export interface WriteCaller {
  /** The Idempotency-Key the caller sent, if any. */
  idempotency?: IdempotencyInput;
  /** The lease token the caller writes under, if any. */
  leaseToken?: string;
}

export interface IdempotencyInput {
  key: string;
  /** Who the caller is (the token's subject when authentication is on); undefined when anyone may write. */
  callerScope?: string;
  /** A digest of what the request asks (method, path, body): a reused key with another request is refused. */
  fingerprint: string;
}

/**
 * The Idempotency-Key scoped to its caller and then as given. A key belongs to
 * whoever sent it: the caller, and the lease token a worker writes under, so
 * another caller that happens to send the same key and body runs its own
 * request instead of receiving someone else's answer.
 */
export function idempotentRequest(caller: WriteCaller, scope: string): IdempotentRequest | undefined {
  const { idempotency, leaseToken } = caller;
  if (!idempotency) return undefined;
  const parts = [
    idempotency.callerScope,
    leaseToken === undefined ? undefined : `lease:${createHash('sha256').update(leaseToken).digest('base64url')}`,
  ].filter((part) => part !== undefined);
  return { scope: [...parts, scope].join('|'), key: idempotency.key, hash: idempotency.fingerprint };
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

/** What a session write needs from the process: the database and its queue of writers per session. */
export interface SessionWriter {
  db: Db;
  sessionQueue: SessionQueue;
}

/**
 * The shape of every write to an existing session: one transaction that locks
 * the session row, answers a retried Idempotency-Key from its stored response
 * (before any check that the first attempt could have changed, so a committed
 * delta never turns into a version_conflict on retry), runs the work, and
 * stores the response with the write.
 */
export async function writeSession(
  { db, sessionQueue }: SessionWriter,
  write: SessionWrite,
  caller: WriteCaller,
  work: (tx: Tx, session: SessionRow) => Promise<WriteResult>,
): Promise<WriteOutcome> {
  // One writer per session at a time takes a pool connection (see SessionQueue).
  return sessionQueue.run(write.sessionId, () => runWrite(db, write, caller, work));
}

async function runWrite(
  db: Db,
  write: SessionWrite,
  caller: WriteCaller,
  work: (tx: Tx, session: SessionRow) => Promise<WriteResult>,
): Promise<WriteOutcome> {
  const { sessionId, idempotencyTtlMs, lifecycle = false, fenced = false, replay } = write;
  const outcome = await db.begin(async (tx): Promise<WriteOutcome> => {
    const session = await lockSession(tx, sessionId);
    const scope = lifecycle ? lifecycleScope(sessionId) : session && incarnationScope(session);
    const idempotent = scope === undefined ? undefined : idempotentRequest(caller, scope);
    if (idempotent) {
      const stored = await findStoredResponse(tx, idempotent, idempotencyTtlMs);
      if (stored) return { ...(replay && session ? await replay(tx, session, stored) : stored), replayed: true };
    }
    if (!session) throw new SessionNotFound(sessionId);
    if (fenced) checkFence(session, caller.leaseToken);
    const result = await work(tx, session);
    const stored = idempotent && !result.refuseAfterCommit ? storeResponse(tx, idempotent, result.stored ?? result) : undefined;
    return { ...result, pending: inFlight([result.pending, stored]), replayed: false };
  });
  // Every statement has answered by now (Postgres answers in order and the
  // COMMIT went last); if one of them failed, that COMMIT was a ROLLBACK.
  await outcome.pending;
  if (outcome.refuseAfterCommit) throw outcome.refuseAfterCommit;
  return outcome;
}
