import type { Committer } from '../wakeups/publisher.js';
import { settleSessions } from '../maintenance/session-sweep.js';
import { findSessionsWithLeaseExpiryDue, markLeaseExpiryAnnounced } from './statements.js';
import { pendingExpiryEvent } from './store.js';

/**
 * Announces the leases that ran out on their own (lease.expired), once each.
 * Every instance runs it; a session another writer or sweep holds is skipped
 * and picked up next time. Returns the sessions it announced an expiry for.
 */
export async function settleExpiredLeases(committer: Committer, batch = 100): Promise<number> {
  return settleSessions(committer, await findSessionsWithLeaseExpiryDue(committer.db, batch), async (tx, session) => {
    const expiry = pendingExpiryEvent(session);
    if (!expiry) return [];
    await markLeaseExpiryAnnounced(tx, session.sid);
    return [expiry];
  });
}
