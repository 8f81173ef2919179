import { eq, sql } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../db/client.js';
import { sessions } from '../db/schema.js';
import type { SessionRow } from '../sessions/repository.js';

import { WAKEUP_CHANNEL, encodeNotification, type Notification } from '../stream/notifications.js';

export { WAKEUP_CHANNEL };

export interface NewEvent {
  type: string;
  /** The event's data as compact JSON text (already size-checked by the caller). */
  dataJson: string;
  /** The state version a state.* event produced. */
  version?: number;
}

export interface Appended {
  firstSeq: number;
  lastSeq: number;
}

/**
 * Appends durable events to a session whose row the caller has locked
 * (`lockSession`), so `seq` continues gaplessly from `session.lastSeq` and
 * commit order is seq order. The caller also bumps `last_seq` on the row (with
 * its own column changes, in one UPDATE); see `sessionHeadUpdate`. The NOTIFY is
 * transactional: it is delivered at commit, and never if the write rolls back.
 */
export async function appendEvents(tx: Tx, session: SessionRow, events: NewEvent[]): Promise<Appended> {
  const firstSeq = session.lastSeq + 1;
  const lastSeq = session.lastSeq + events.length;
  const seqs = events.map((_, i) => firstSeq + i);
  await Promise.all([
    // One statement for the whole batch; postgres.js pipelines these three on the
    // transaction's connection, so the append costs one round trip.
    tx.execute(sql`
      insert into events (session_sid, seq, type, data, version)
      select ${session.sid}, e.seq, e.type, e.data::json, e.version
      from unnest(
        ${sql.param(seqs)}::bigint[],
        ${sql.param(events.map((e) => e.type))}::text[],
        ${sql.param(events.map((e) => e.dataJson))}::text[],
        ${sql.param(events.map((e) => e.version ?? null))}::bigint[]
      ) as e(seq, type, data, version)`),
    tx.execute(
      sql`select pg_notify(${WAKEUP_CHANNEL}, ${encodeNotification({ kind: 'append', session_id: session.id, seq: lastSeq })})`,
    ),
  ]);
  return { firstSeq, lastSeq };
}

/** Sends a notification when the transaction commits (never if it rolls back). */
export async function notify(db: DbOrTx, notification: Notification): Promise<void> {
  await db.execute(sql`select pg_notify(${WAKEUP_CHANNEL}, ${encodeNotification(notification)})`);
}

/**
 * Appends server-written events and moves the session head past them: for
 * writes whose only change to the session row is its history (leases, queue,
 * client events). The session row must be locked by the caller.
 */
export async function appendToSession(tx: Tx, session: SessionRow, events: NewEvent[]): Promise<Appended | undefined> {
  if (events.length === 0) return undefined;
  const [appended] = await Promise.all([
    appendEvents(tx, session, events),
    tx
      .update(sessions)
      .set({ lastSeq: session.lastSeq + events.length, updatedAt: sql`now()` })
      .where(eq(sessions.sid, session.sid)),
  ]);
  return appended;
}
