import type { Db } from '../db/client.js';
import { appendToSession, type NewEvent } from '../events/append.js';
import { settleClaims } from '../queue/store.js';
import { lockSessionRowIfFree } from '../sessions/statements.js';
import { findDueSessions, markLeaseExpiryAnnounced } from './statements.js';
import { pendingExpiryEvent } from './store.js';

/**
 * Announces what ran out on its own: leases past their expiry (lease.expired)
 * and queue claims past their TTL or lease generation (queue.expired, their
 * batches pending again). Every instance runs it; a session locked by another
 * writer or sweeper is skipped and picked up next time. Returns sessions settled.
 */
export async function settleExpired(db: Db, batch = 100): Promise<number> {
  const due = await findDueSessions(db, batch);
  let settled = 0;
  for (const sid of due) {
    const done = await db.begin(async (tx) => {
      const session = await lockSessionRowIfFree(tx, sid);
      if (!session) return false;
      const events: NewEvent[] = [];
      const expiry = pendingExpiryEvent(session);
      if (expiry) {
        events.push(expiry);
        await markLeaseExpiryAnnounced(tx, session.sid);
      }
      events.push(...(await settleClaims(tx, session)));
      await appendToSession(tx, session, events);
      return events.length > 0;
    });
    if (done) settled++;
  }
  return settled;
}
