import type { Tx } from '../db/client.js';
import { appendToSession, type NewEvent } from '../events/append.js';
import { lockSessionRowIfFree, type SessionRow } from '../sessions/statements.js';
import { beginAndWake, type Committer } from '../wakeups/publisher.js';

/**
 * Settles each due session in a transaction of its own, under the session's
 * row lock, appending the events `settle` answers. A session locked by a
 * writer or by another instance's sweep is skipped rather than waited for
 * (SKIP LOCKED): the next run picks it up. Returns how many sessions got events.
 */
export async function settleSessions(
  committer: Committer,
  due: readonly number[],
  settle: (tx: Tx, session: SessionRow) => Promise<NewEvent[]>,
): Promise<number> {
  let settled = 0;
  for (const sid of due) {
    const done = await beginAndWake(committer, async (tx) => {
      const session = await lockSessionRowIfFree(tx, sid);
      if (!session) return false;
      const events = await settle(tx, session);
      // A lease or claim that ran when the session was closed still ends on the record.
      await appendToSession(tx, session, events, { afterClose: true });
      return events.length > 0;
    });
    if (done) settled++;
  }
  return settled;
}
