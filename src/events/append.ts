import { transactionSql, type Tx } from '../db/client.js';
import { inFlight, startQuery } from '../db/pipeline.js';
import type { SessionRow } from '../sessions/repository.js';
import { WAKEUP_CHANNEL, encodeNotification } from '../wakeups/wakeups.js';

export interface NewEvent {
  type: string;
  /** The event's data as compact JSON text (already size-checked by the caller). */
  dataJson: string;
  /** The state version a state.* event produced. */
  version?: number;
}

/** Columns of the locked session row that a state write changes with its append, by column name. */
export type SessionColumns = Partial<
  Record<'version' | 'schema_version' | 'base_version' | 'snapshot_version' | 'chain_deltas' | 'chain_bytes' | 'state_seq', number>
>;

export interface Appended {
  firstSeq: number;
  lastSeq: number;
}

/** An append whose statements are on the wire; `pending` settles when they have answered. */
export interface StartedAppend extends Appended {
  pending: Promise<unknown>;
}

/**
 * Sends the one statement that appends durable events to a session whose row
 * the caller has locked (`lockSession`), so `seq` continues gaplessly from
 * `session.lastSeq` and commit order is seq order. The same statement moves
 * the head (`last_seq`, plus the caller's own column changes in `set`) and
 * queues the NOTIFY, which is transactional: delivered at commit, never if the
 * write rolls back. One statement rather than three: each costs a round of
 * protocol messages on both ends, and this is every write's path (hence also
 * postgres.js directly: drizzle's query building cost more CPU than the write).
 * Nothing is awaited: the caller awaits `pending`, or lets them ride with the
 * COMMIT (`WriteResult.pending`). It also marks the session due for the
 * retention sweep (`trim_due_at`), unless it is due already or parked: the
 * value then stays as it was, so the row update can stay a HOT update.
 */
export function startAppend(tx: Tx, session: SessionRow, events: NewEvent[], set: SessionColumns = {}): StartedAppend {
  const firstSeq = session.lastSeq + 1;
  const lastSeq = session.lastSeq + events.length;
  const wakeup = encodeNotification({ kind: 'append', session_id: session.id, seq: lastSeq });
  const pg = transactionSql(tx);
  const pending = inFlight([
    startQuery(pg`
      with head as (
        update sessions set ${pg({ ...set, last_seq: lastSeq })}, updated_at = now(),
          trim_due_at = case when trim_due_at = 'infinity' then trim_due_at else least(trim_due_at, now()) end
        where sid = ${session.sid}
      ), appended as (
        insert into events (session_sid, seq, type, data, version)
        select ${session.sid}, e.seq, e.type, e.data::json, e.version
        from unnest(
          ${events.map((_, i) => firstSeq + i)}::bigint[],
          ${events.map((e) => e.type)}::text[],
          ${events.map((e) => e.dataJson)}::text[],
          ${events.map((e) => e.version ?? null)}::bigint[]
        ) as e(seq, type, data, version)
      )
      select pg_notify(${WAKEUP_CHANNEL}, ${wakeup})`),
  ]);
  return { firstSeq, lastSeq, pending };
}

/** `startAppend` for writes whose only change to the session row is its history; nothing when there are no events. */
export function startEventAppend(tx: Tx, session: SessionRow, events: NewEvent[]): StartedAppend | undefined {
  return events.length === 0 ? undefined : startAppend(tx, session, events);
}

/** `startEventAppend`, awaited: for writes that go on after appending. */
export async function appendToSession(tx: Tx, session: SessionRow, events: NewEvent[]): Promise<Appended | undefined> {
  const sent = startEventAppend(tx, session, events);
  if (!sent) return undefined;
  await sent.pending;
  return { firstSeq: sent.firstSeq, lastSeq: sent.lastSeq };
}
