import { type Db } from '../db/client.js';
import { lockSessionRowIfFree } from '../sessions/statements.js';
import { deleteExpiredSession } from '../sessions/store.js';
import { findSessionsDueForExpiry, isExpired, moveExpiryCheck } from './statements.js';

export interface ExpirySweepOptions {
  /** Sessions looked at per sweep. */
  limit?: number;
  /**
   * Awaited between the search for due sessions and locking one, and once a
   * session is locked. Tests hold a sweep there to run a write or another
   * instance's sweep at exactly that point; unset in production.
   */
  pauses?: { afterSearch?: () => Promise<void>; afterLock?: (sessionId: string) => Promise<void> };
}

/**
 * Deletes sessions that saw no write for their `ttl_ms`, or whose stream is
 * past its `Stream-Expires-At` or idle window (`sessionExpiry`, judged by
 * Postgres's clock). It takes the sessions whose `expiry_check_at` has come, on its
 * index, never by scanning the sessions table. Every instance runs it: each session is deleted under its row lock
 * (`SKIP LOCKED`, rechecked once locked), so exactly one transaction deletes
 * it and exactly one `session.deleted` `{reason: "expired"}` goes out. A
 * session being written is skipped; the write moves its expiry anyway.
 * Returns the sessions deleted.
 */
export async function deleteExpiredSessions(db: Db, { limit = 100, pauses }: ExpirySweepOptions = {}): Promise<number> {
  const due = await findSessionsDueForExpiry(db, limit);
  await pauses?.afterSearch?.();
  let deleted = 0;
  for (const sid of due) {
    const done = await db.begin(async (tx) => {
      const session = await lockSessionRowIfFree(tx, sid);
      if (!session) return false;
      await pauses?.afterLock?.(session.id);
      // `expiry_check_at` is only a lower bound: writes move `updated_at` and stream reads `read_at`, not it (they stay cheap).
      if (!(await isExpired(tx, session.sid))) {
        // Written or read since (or its ttl_ms cleared): look again when it could expire next.
        await moveExpiryCheck(tx, session.sid);
        return false;
      }
      await deleteExpiredSession(tx, session);
      return true;
    });
    if (done) deleted++;
  }
  return deleted;
}
