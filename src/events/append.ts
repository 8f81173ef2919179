import { eq, sql } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../db/client.js';
import { inFlight, send } from '../db/pipeline.js';
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

/** An append whose statements are on the wire; `writes` settles when they have answered. */
export interface SentAppend extends Appended {
  writes: Promise<unknown>;
}

/**
 * Sends the statements that append durable events to a session whose row the
 * caller has locked (`lockSession`), so `seq` continues gaplessly from
 * `session.lastSeq` and commit order is seq order. The caller also moves
 * `last_seq` on the row (with its own column changes, in one UPDATE). The
 * NOTIFY is transactional: delivered at commit, never if the write rolls back.
 * Nothing is awaited: the caller awaits `writes`, or lets them ride with the
 * COMMIT (`WriteResult.writes`).
 */
export function sendEvents(tx: Tx, session: SessionRow, events: NewEvent[]): SentAppend {
  const firstSeq = session.lastSeq + 1;
  const lastSeq = session.lastSeq + events.length;
  const seqs = events.map((_, i) => firstSeq + i);
  // One statement for the whole batch.
  const insert = send(
    tx.execute(sql`
      insert into events (session_sid, seq, type, data, version)
      select ${session.sid}, e.seq, e.type, e.data::json, e.version
      from unnest(
        ${sql.param(seqs)}::bigint[],
        ${sql.param(events.map((e) => e.type))}::text[],
        ${sql.param(events.map((e) => e.dataJson))}::text[],
        ${sql.param(events.map((e) => e.version ?? null))}::bigint[]
      ) as e(seq, type, data, version)`),
  );
  const wakeup = send(
    tx.execute(sql`select pg_notify(${WAKEUP_CHANNEL}, ${encodeNotification({ kind: 'append', session_id: session.id, seq: lastSeq })})`),
  );
  return { firstSeq, lastSeq, writes: inFlight([insert, wakeup]) };
}

/** Sends a notification when the transaction commits (never if it rolls back). */
export async function notify(db: DbOrTx, notification: Notification): Promise<void> {
  await db.execute(sql`select pg_notify(${WAKEUP_CHANNEL}, ${encodeNotification(notification)})`);
}

/**
 * Sends the statements that append server-written events and move the
 * session head past them: for writes whose only change to the session row is
 * its history. The session row must be locked by the caller.
 */
export function sendToSession(tx: Tx, session: SessionRow, events: NewEvent[]): SentAppend | undefined {
  if (events.length === 0) return undefined;
  const appended = sendEvents(tx, session, events);
  const head = send(
    tx
      .update(sessions)
      .set({ lastSeq: appended.lastSeq, updatedAt: sql`now()` })
      .where(eq(sessions.sid, session.sid)),
  );
  return { ...appended, writes: inFlight([appended.writes, head]) };
}

/** `sendToSession`, awaited: for writes that go on after appending. */
export async function appendToSession(tx: Tx, session: SessionRow, events: NewEvent[]): Promise<Appended | undefined> {
  const sent = sendToSession(tx, session, events);
  if (!sent) return undefined;
  await sent.writes;
  return { firstSeq: sent.firstSeq, lastSeq: sent.lastSeq };
}
