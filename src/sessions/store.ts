import { type Sql, type Tx } from '../db/client.js';
import { SessionNotFound } from '../errors.js';
import {
  deleteSessionRow,
  findSessionRecord,
  findSessionRow,
  insertSessionRow,
  listSessionRecords,
  lockSessionRow,
  lockSessionRowIfFree,
  type NewSession,
  readSessionHead,
  readSessionHeads,
  readSessionMetadata,
  type SessionRecord,
  type SessionRow,
  updateSessionSettings,
} from './statements.js';

export type { NewSession, SessionRecord, SessionRow } from './statements.js';

export async function findSession(db: Sql, id: string): Promise<SessionRow | undefined> {
  return findSessionRow(db, id);
}

/** The session with its metadata (only the session routes show it). */
export async function getSessionRecord(db: Sql, id: string): Promise<SessionRecord> {
  const row = await findSessionRecord(db, id);
  if (!row) throw new SessionNotFound(id);
  return row;
}

/** The metadata of a session this transaction has locked. */
export async function readMetadata(tx: Tx, sid: number): Promise<Record<string, unknown>> {
  return (await readSessionMetadata(tx, sid)) ?? {};
}

export async function getSession(db: Sql, id: string): Promise<SessionRow> {
  const row = await findSession(db, id);
  if (!row) throw new SessionNotFound(id);
  return row;
}

/**
 * Locks the session row for the rest of the transaction. Every write to a
 * session goes through here first, which serialises writers per session and
 * makes seq/version assignment gapless and commit-ordered.
 */
export async function lockSession(tx: Tx, id: string): Promise<SessionRow | undefined> {
  return lockSessionRow(tx, id);
}

/** Locks the session unless another transaction holds it (sweepers skip busy sessions). */
export async function lockSessionBySidIfFree(tx: Tx, sid: number): Promise<SessionRow | undefined> {
  return lockSessionRowIfFree(tx, sid);
}

/** Inserts unless the id is taken; `undefined` means it was (after any concurrent insert committed). */
export async function insertSession(tx: Tx, session: NewSession): Promise<SessionRecord | undefined> {
  return insertSessionRow(tx, session);
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

export async function deleteSession(tx: Tx, sid: number): Promise<void> {
  await deleteSessionRow(tx, sid);
}

/** The changes feed's hints, read from the rows (never from notifications). */
export async function readHeads(db: Sql, ids: string[]): Promise<{ session_id: string; last_seq: number; version: number }[]> {
  const heads = await readSessionHeads(db, ids);
  return heads.map((h) => ({ session_id: h.sessionId, last_seq: h.lastSeq, version: h.version }));
}

/**
 * The head of a session by its internal key (a stream's incarnation), with
 * where its kept history starts: undefined once it is gone.
 */
export async function readHead(db: Sql, sid: number): Promise<{ lastSeq: number; historyStart: number } | undefined> {
  return readSessionHead(db, sid);
}
