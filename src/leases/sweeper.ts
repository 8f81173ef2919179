import { sql } from 'drizzle-orm';
import { type Db, transactionSql } from '../db/client.js';
import { leaseActive } from '../db/clock.js';
import { appendToSession, type NewEvent } from '../events/append.js';
import { deadClaim, settleClaims } from '../queue/store.js';
import { lockSessionBySidIfFree } from '../sessions/repository.js';
import { markLeaseExpiryAnnounced } from './statements.js';
import { pendingExpiryEvent } from './store.js';

/**
 * Announces what ran out on its own: leases past their expiry (lease.expired)
 * and queue claims past their TTL or lease generation (queue.expired, their
 * batches pending again). Every instance runs it; a session locked by another
 * writer or sweeper is skipped and picked up next time. Returns sessions settled.
 */
export async function settleExpired(db: Db, batch = 100): Promise<number> {
  const due = await db.execute<{ sid: string }>(sql`
    select sid from sessions where not lease_expiry_announced and lease_expires_at <= now()
    union
    select c.session_sid from queue_claims c join sessions s on s.sid = c.session_sid
    where c.status = 'active' and ${deadClaim(
      { expiresAt: sql.raw('c.expires_at'), fencingToken: sql.raw('c.fencing_token') },
      { fencingToken: sql.raw('s.lease_fencing_token'), active: leaseActive(sql.raw('s.lease_expires_at')) },
    )}
    limit ${batch}`);
  let settled = 0;
  for (const { sid } of due) {
    const done = await db.transaction(async (tx) => {
      const session = await lockSessionBySidIfFree(tx, Number(sid));
      if (!session) return false;
      const events: NewEvent[] = [];
      const expiry = pendingExpiryEvent(session);
      if (expiry) {
        events.push(expiry);
        await markLeaseExpiryAnnounced(transactionSql(tx), session.sid);
      }
      events.push(...(await settleClaims(tx, session)));
      await appendToSession(tx, session, events);
      return events.length > 0;
    });
    if (done) settled++;
  }
  return settled;
}
