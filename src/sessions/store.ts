import { type Sql, type Tx } from '../db/client.js';
import { isPgError, PgError } from '../db/pg-errors.js';
import { ParentNotFound, SessionNotFound } from '../errors.js';
import { notify } from '../wakeups/wakeups.js';
import {
  deleteSessionRow,
  findDeletedSession,
  hasStreamForks,
  lockSessionRowAny,
  softDeleteSessionRow,
  insertSessionRow,
  type NewSession,
  findSessionRecord,
  findSessionRow,
  listSessionRecords,
  lockSessionRow,
  readSessionHead,
  readSessionMetadata,
  type SessionRecord,
  type SessionRow,
  updateSessionSettings,
} from './statements.js';

export type { SessionRecord, SessionRow } from './statements.js';

/**
 * A new session, announced to the changes feeds when the transaction commits;
 * `undefined` when the id is taken. A `parentId` that names no session is 404
 * `parent_not_found`.
 */
export async function insertSession(tx: Tx, session: NewSession): Promise<SessionRecord | undefined> {
  let row = await tryInsert(tx, session);
  if (!row) {
    // The id of a stream past its expiry is free, as reads say: it goes (as the expiry sweep would take it), the new one comes.
    const taken = await lockSessionRow(tx, session.id);
    if (taken?.streamExpired) {
      await deleteExpiredSession(tx, taken);
      row = await tryInsert(tx, session);
    }
  }
  if (row) await notify(tx, { kind: 'created', session_id: row.id });
  return row;
}

async function tryInsert(tx: Tx, session: NewSession): Promise<SessionRecord | undefined> {
  try {
    return await insertSessionRow(tx, session);
  } catch (error) {
    // Stryker disable next-line StringLiteral: unreachable; only a parent_id the caller names can violate the parent's foreign key
    if (isPgError(error, PgError.FOREIGN_KEY_VIOLATION)) throw new ParentNotFound(session.parentId ?? '');
    throw error;
  }
}

/**
 * Deletes a locked session found past its expiry (the expiry sweep, or the
 * first write or stream access that finds a stream expired): every expiry
 * delete goes through here, with one `session.deleted {reason: "expired"}`.
 */
export async function deleteExpiredSession(tx: Tx, session: Pick<SessionRow, 'id' | 'sid' | 'parentId'>): Promise<void> {
  await deleteSession(tx, session, 'expired');
}

/**
 * Deletes a locked session with all it holds; its open streams, on every
 * instance, get `session.deleted` and end. When it was the last fork of a
 * soft-deleted Durable Streams source, the source goes too, in the same
 * transaction, and so on up the chain (whichever way the fork went: DELETE on
 * either face, or expiry).
 */
export async function deleteSession(tx: Tx, session: Pick<SessionRow, 'id' | 'sid' | 'parentId'>, reason?: 'expired'): Promise<void> {
  await deleteSessionRow(tx, session.sid);
  await notify(tx, { kind: 'deleted', session_id: session.id, sid: session.sid, ...(reason ? { reason } : {}) });
  await releaseDeletedParents(tx, session.parentId);
}

/**
 * Removes soft-deleted parents left without forks. A parent that is not
 * soft-deleted is not locked: a child is locked before its parent only here,
 * and a delete of a live parent locks parent then children (its foreign key
 * sets their parent_id null; a Durable Streams DELETE holds its forks), so
 * locking it could deadlock. A soft delete of it that has not committed yet
 * holds this child (`holdStreamForks`), so it is waited for, then finds the
 * child gone and deletes the parent itself. A soft-deleted parent can no longer
 * be written or deleted but through this.
 */
async function releaseDeletedParents(tx: Tx, parentId: string | null): Promise<void> {
  let next = parentId;
  while (next !== null && (await findDeletedSession(tx, next))) {
    const parent = await lockSessionRowAny(tx, next);
    if (!parent || parent.deletedAt === null || (await hasStreamForks(tx, parent.id))) return;
    await deleteSessionRow(tx, parent.sid);
    next = parent.parentId;
  }
}

/** Durable Streams DELETE of a locked session that forks still hold: gone for everyone (410 on that face), its row kept. */
export async function softDeleteSession(tx: Tx, session: Pick<SessionRow, 'id' | 'sid'>): Promise<void> {
  await softDeleteSessionRow(tx, session.sid);
  await notify(tx, { kind: 'deleted', session_id: session.id, sid: session.sid });
}

/** Whether the id names a soft-deleted session (see `softDeleteSession`). */
export async function isSoftDeleted(db: Sql, id: string): Promise<boolean> {
  return (await findDeletedSession(db, id)) !== undefined;
}

/** The session with its metadata (only the session routes show it). */
export async function getSessionRecord(db: Sql, id: string): Promise<SessionRecord> {
  const row = await findSessionRecord(db, id);
  if (!row || row.streamExpired) throw new SessionNotFound(id);
  return row;
}

/** The metadata of a session this transaction has locked. */
export async function readMetadata(tx: Tx, sid: number): Promise<Record<string, unknown>> {
  return (await readSessionMetadata(tx, sid)) ?? {};
}

/** Where the history of session `sid` (named `id`) ends and starts now; 404 once it is gone. */
export async function getSessionHead(db: Sql, sid: number, id: string): Promise<{ lastSeq: number; historyStart: number }> {
  const head = await readSessionHead(db, sid);
  if (!head) throw new SessionNotFound(id);
  return head;
}

export async function getSession(db: Sql, id: string): Promise<SessionRow> {
  const row = await findSessionRow(db, id);
  // An expired stream is absent though the sweep has not deleted it yet (`SessionRow.streamExpired`).
  if (!row || row.streamExpired) throw new SessionNotFound(id);
  return row;
}

export interface SessionPage {
  rows: SessionRecord[];
  /** Internal key of the last row when another page may follow. */
  nextSid: number | undefined;
}

/** Newest first, keyset-paginated on the internal key (insertion order). */
export async function listSessions(
  db: Sql,
  query: { parentId?: string; limit: number; beforeSid?: number; readable?: { exact: string[]; prefixes: string[] } },
): Promise<SessionPage> {
  const rows = await listSessionRecords(db, query);
  const hasMore = rows.length > query.limit;
  const page = hasMore ? rows.slice(0, query.limit) : rows;
  return { rows: page, nextSid: hasMore ? page[page.length - 1]?.sid : undefined };
}

export async function updateMetadata(
  tx: Tx,
  sid: number,
  metadata: Record<string, unknown>,
  retention?: SessionRow['retention'],
  ttlMs?: number | null,
): Promise<SessionRecord> {
  const row = await updateSessionSettings(tx, sid, { metadata, retention, ttlMs });
  // Stryker disable next-line StringLiteral: unreachable; the caller holds the row's lock, so the UPDATE finds it
  if (!row) throw new Error(`session ${sid} vanished while locked`);
  return row;
}
