import type { Db } from '../db/client.js';
import { settleSessions } from '../maintenance/session-sweep.js';
import { findSessionsWithDeadClaims } from './statements.js';
import { settleClaims } from './store.js';

/**
 * Ends the queue claims past their TTL or their lease generation (queue.expired,
 * their batches pending again) that no request to their session has settled
 * yet. Every instance runs it; a session another writer or sweep holds is
 * skipped and picked up next time. Returns the sessions it settled claims of.
 */
export async function settleDeadClaims(db: Db, batch = 100): Promise<number> {
  return settleSessions(db, await findSessionsWithDeadClaims(db, batch), settleClaims);
}
