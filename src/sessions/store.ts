import { type Sql, type Tx } from '../db/client.js';
import { SessionNotFound } from '../errors.js';
import {
  findSessionRecord,
  findSessionRow,
  listSessionRecords,
  readSessionMetadata,
  type SessionRecord,
  type SessionRow,
  updateSessionSettings,
} from './statements.js';

export type { SessionRecord, SessionRow } from './statements.js';

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
  const row = await findSessionRow(db, id);
  if (!row) throw new SessionNotFound(id);
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
