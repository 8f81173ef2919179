import { createHash } from 'node:crypto';
import type { Tx } from '../db/client.js';
import { inFlight } from '../db/pipeline.js';
import { isPgError, PgError } from '../db/pg-errors.js';
import { type ApiError, SessionExists, SessionNotFound } from '../errors.js';
import {
  findStoredResponse,
  findStoredResponseOfSession,
  forgetResponse,
  type IdempotentRequest,
  storeResponse,
  type StoredResponse,
} from '../idempotency/keys.js';
import { checkFence } from '../leases/fence.js';
import { deleteExpiredSession, type SessionRow } from '../sessions/store.js';
import { findSessionRow, lockSessionRow } from '../sessions/statements.js';
import type { SessionQueue } from './session-queue.js';
import type { WriteGroups } from './write-groups.js';

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
/** What an incarnation's scope starts with; its sid follows. */
const INCARNATION = 'sid:';
export const incarnationScope = (session: SessionRow) => `${INCARNATION}${session.sid}`;
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
  /**
   * Sends reads of the write's own that need the session lock, right behind
   * the statement that takes it (as `runWrite` does with the Idempotency-Key):
   * their answers come with the lock's. Called once per attempt, before the
   * work, with the attempt's transaction.
   */
  behindLock?: (tx: Tx) => void;
  /**
   * Called when the write fails in any way, commit included, before the
   * session's next writer on this process starts: a state write drops the
   * document it cached for a version that may not have committed.
   */
  onFailed?: () => void;
}

/**
 * What a session write needs from the process: its queue of writers per
 * session, and its group commit (which holds the database and the wakeup
 * publisher the transaction commits and publishes through).
 */
export interface SessionWriter {
  sessionQueue: SessionQueue;
  writeGroups: WriteGroups;
}

/**
 * The shape of every write to an existing session: one transaction that locks
 * the session row, answers a retried Idempotency-Key from its stored response
 * (before any check that the first attempt could have changed, so a committed
 * delta never turns into a version_conflict on retry), runs the work, and
 * stores the response with the write.
 */
export async function writeSession(
  writer: SessionWriter,
  write: SessionWrite,
  caller: WriteCaller,
  work: (tx: Tx, session: SessionRow) => Promise<WriteResult>,
): Promise<WriteOutcome> {
  // One writer per session at a time takes a pool connection (see SessionQueue).
  return writer.sessionQueue.run(write.sessionId, async () => {
    try {
      return await runWrite(writer, write, caller, work);
    } catch (error) {
      write.onFailed?.();
      throw error;
    }
  });
}

async function runWrite(
  writer: SessionWriter,
  write: SessionWrite,
  caller: WriteCaller,
  work: (tx: Tx, session: SessionRow) => Promise<WriteResult>,
): Promise<WriteOutcome> {
  const { sessionId, idempotencyTtlMs, lifecycle = false, fenced = false, replay } = write;
  return inTransaction(writer, sessionId, async (tx) => {
    // What needs the lock is sent right behind it, before its answer: a statement's snapshot is taken when it starts,
    // once the lock is held, so it sees every write that committed before; its answer comes with the lock's (one
    // round trip, not one more for each). The key's scope holds the session's sid, read in the same statement.
    const locked = lockSessionRow(tx, sessionId);
    const asked = idempotentRequest(caller, lifecycle ? lifecycleScope(sessionId) : INCARNATION);
    const found = asked && (lifecycle ? findStoredResponse(tx, asked, idempotencyTtlMs) : findStoredResponseOfSession(tx, sessionId, asked, idempotencyTtlMs));
    // Had the lock failed, this fails too, and the lock's failure is the one reported.
    found?.catch(() => {});
    write.behindLock?.(tx);
    const session = await locked;
    if (session?.streamExpired) {
      // An expired stream is absent to every writer; the first to find it deletes it, as the expiry sweep would
      // (under the lock just taken, so no write lands in it once it has expired).
      await deleteExpiredSession(tx, session);
      // Stryker disable next-line BooleanLiteral: an outcome with refuseAfterCommit is thrown after the commit, never answered, so `replayed` is never read
      return { status: 404, body: null, refuseAfterCommit: new SessionNotFound(sessionId), replayed: false };
    }
    const scope = lifecycle ? lifecycleScope(sessionId) : session && incarnationScope(session);
    const idempotent = scope === undefined ? undefined : idempotentRequest(caller, scope);
    if (idempotent) {
      const stored = await found;
      if (stored) return { ...(replay && session ? await replay(tx, session, stored) : stored), replayed: true };
    }
    if (!session) throw new SessionNotFound(sessionId);
    if (fenced) checkFence(session, caller.leaseToken);
    return settle(tx, idempotent, await work(tx, session));
  });
}

/** A create that let the server pick the id has no session to scope its key to (the caller scopes it, see `idempotentRequest`). */
const GENERATED_ID_SCOPE = 'new';

export interface SessionCreate {
  sessionId: string;
  /** The caller named the id; otherwise the server picked it. */
  named: boolean;
  idempotencyTtlMs: number;
}

/**
 * The write that makes a session: there is no row to lock yet, so a retried
 * Idempotency-Key is answered from its stored response while the session it
 * made still lives, and two attempts with one key that race are settled by
 * the key's unique index. `work` inserts the session and answers `undefined`
 * when the id is taken.
 */
export async function createSession(
  writer: SessionWriter,
  create: SessionCreate,
  caller: WriteCaller,
  work: (tx: Tx) => Promise<WriteResult | undefined>,
): Promise<WriteOutcome> {
  const idempotent = idempotentRequest(caller, create.named ? lifecycleScope(create.sessionId) : GENERATED_ID_SCOPE);
  return writer.sessionQueue.run(create.sessionId, async () => {
    try {
      return await runCreate(writer, create, idempotent, work);
    } catch (error) {
      // Two attempts with one key raced: the loser's transaction failed on the
      // key, the winner has committed, so a second run replays its response.
      // Stryker disable next-line ConditionalExpression,LogicalOperator: running again a create that failed otherwise fails it alike (a second attempt's cost, no other answer)
      if (!idempotent || !isPgError(error, PgError.UNIQUE_VIOLATION)) throw error;
      return runCreate(writer, create, idempotent, work);
    }
  });
}

async function runCreate(
  writer: SessionWriter,
  { sessionId, idempotencyTtlMs }: SessionCreate,
  idempotent: IdempotentRequest | undefined,
  work: (tx: Tx) => Promise<WriteResult | undefined>,
): Promise<WriteOutcome> {
  return inTransaction(writer, sessionId, async (tx) => {
    if (idempotent) {
      const stored = await findStoredResponse(tx, idempotent, idempotencyTtlMs);
      if (stored && (await stillCreated(tx, stored))) return { ...stored, replayed: true };
      // Stryker disable next-line ConditionalExpression: forgetting a key that has no stored answer deletes no row
      if (stored) await forgetResponse(tx, idempotent);
    }
    const result = await work(tx);
    if (!result) {
      // The insert waited for a concurrent create of this id to commit; if
      // that was this very request's first attempt, its answer is stored now.
      const stored = idempotent && (await findStoredResponse(tx, idempotent, idempotencyTtlMs));
      if (stored) return { ...stored, replayed: true };
      throw new SessionExists(sessionId);
    }
    return settle(tx, idempotent, result);
  });
}

/**
 * Whether the session a stored create answered with is still there, the same
 * incarnation. Deleting it spends the key: a create sent again with it runs
 * afresh rather than replaying a 201 for a session that is gone.
 */
async function stillCreated(tx: Tx, stored: StoredResponse): Promise<boolean> {
  // A create's key finds only what the create stored (the fingerprint holds the method and path), and it stores only its 201.
  const created = stored.body as { id: string; created_at: string };
  const row = await findSessionRow(tx, created.id);
  return row !== undefined && row.createdAt.toISOString() === created.created_at;
}

/** The work's answer, its Idempotency-Key stored with it (in flight, see `db/pipeline.ts`). */
function settle(tx: Tx, idempotent: IdempotentRequest | undefined, result: WriteResult): WriteOutcome {
  const stored = idempotent && !result.refuseAfterCommit ? storeResponse(tx, idempotent, result.stored ?? result) : undefined;
  return { ...result, pending: inFlight([result.pending, stored]), replayed: false };
}

/** Runs a write's transaction, perhaps shared with writes to other sessions (`write-groups.ts`), and answers after its commit. */
async function inTransaction(writer: SessionWriter, sessionId: string, write: (tx: Tx) => Promise<WriteOutcome>): Promise<WriteOutcome> {
  const outcome = await writer.writeGroups.run(sessionId, write);
  if (outcome.refuseAfterCommit) throw outcome.refuseAfterCommit;
  return outcome;
}
