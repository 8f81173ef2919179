import type { Committer } from '../wakeups/publisher.js';
import { settleSessions } from '../maintenance/session-sweep.js';
import { findSessionsWithDeadClaims } from './statements.js';
import { settleClaims } from './store.js';

/**
 * Ends the queue claims past their TTL or their lease generation (queue.expired,
 * their batches pending again) that no request to their session has settled
 * yet. Every instance runs it; a session another writer or sweep holds is
 * skipped and picked up next time. Returns the sessions it settled claims of.
 */
export async function settleDeadClaims(committer: Committer, batch = 100): Promise<number> {
  return settleSessions(committer, await findSessionsWithDeadClaims(committer.db, batch), settleClaims);
}
