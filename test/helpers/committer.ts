import type { Db } from '../../src/db/client.js';
import { type Committer, WakeupPublisher } from '../../src/wakeups/publisher.js';
import { SessionQueue } from '../../src/writes/session-queue.js';
import type { SessionWriter } from '../../src/writes/session-write.js';
import { GROUP_LOCK_WAIT_MS, MAX_WRITES_PER_TRANSACTION, WriteGroups } from '../../src/writes/write-groups.js';

const quiet = { warn: () => {} };

/** What a sweep or fork needs, on `db`, with a publisher of its own (as a running app has one). */
export function committerOn(db: Db): Committer {
  return { db, wakeups: new WakeupPublisher({ db, log: quiet }) };
}

/** The same queue of writers per session, group commit and publisher a running app uses. */
export function sessionWriterOn(db: Db, maxInFlight = 2): SessionWriter {
  return {
    sessionQueue: new SessionQueue(),
    writeGroups: new WriteGroups(committerOn(db), { maxInFlight, maxGroupSize: MAX_WRITES_PER_TRANSACTION, lockWaitMs: GROUP_LOCK_WAIT_MS }),
  };
}
