import { type Tx } from '../db/client.js';
import { inFlight } from '../db/pipeline.js';
import { SessionClosed } from '../errors.js';
import type { SessionRow } from '../sessions/store.js';
import { wakeAfterCommit } from '../wakeups/publisher.js';
import { sendAppend } from './statements.js';

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

export interface AppendOptions {
  /**
   * Append even to a closed session: only for what the server settles on its
   * own (a lease or a claim expiring), never for a request's write.
   */
  afterClose?: boolean;
}

/**
 * Appends durable events to a session whose row the caller has locked
 * (`lockSession`), so `seq` continues gaplessly from `session.lastSeq` and
 * commit order is seq order; the one statement (`sendAppend`) also moves the
 * head (`last_seq`, plus the caller's own column changes in `set`); the
 * wakeup is queued for after the commit (`wakeAfterCommit`). Nothing is awaited: the caller awaits `pending`, or lets it ride
 * with the COMMIT (`WriteResult.pending`). A closed session (Durable Streams
 * `Stream-Closed`) takes no more events: 409 `session_closed`, whatever wrote.
 */
export function startAppend(
  tx: Tx,
  session: SessionRow,
  events: NewEvent[],
  set: SessionColumns = {},
  { afterClose = false }: AppendOptions = {},
): StartedAppend {
  if (session.closedAt !== null && !afterClose) throw new SessionClosed(session.id);
  const firstSeq = session.lastSeq + 1;
  const lastSeq = session.lastSeq + events.length;
  const pending = inFlight([sendAppend(tx, { sid: session.sid, firstSeq, events, set: { ...set, last_seq: lastSeq } })]);
  wakeAfterCommit(tx, { kind: 'append', session_id: session.id, seq: lastSeq });
  return { firstSeq, lastSeq, pending };
}

/** `startAppend` for writes whose only change to the session row is its history; nothing when there are no events. */
export function startEventAppend(tx: Tx, session: SessionRow, events: NewEvent[], options?: AppendOptions): StartedAppend | undefined {
  return events.length === 0 ? undefined : startAppend(tx, session, events, {}, options);
}

/** `startEventAppend`, awaited: for writes that go on after appending. */
export async function appendToSession(tx: Tx, session: SessionRow, events: NewEvent[], options?: AppendOptions): Promise<Appended | undefined> {
  const sent = startEventAppend(tx, session, events, options);
  if (!sent) return undefined;
  await sent.pending;
  return { firstSeq: sent.firstSeq, lastSeq: sent.lastSeq };
}
