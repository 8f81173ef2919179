import { and, desc, eq, getTableColumns, lt, or, sql } from 'drizzle-orm';
import { type DbOrTx, transactionSql, type Tx } from '../db/client.js';
import { LEASE_ACTIVE_SQL } from '../db/clock.js';
import { sessions } from '../db/schema.js';
import { SessionNotFound } from '../errors.js';

/** Every read of a session also asks the database whether its lease is still running (see `db/clock.ts`). */
const LEASE_ACTIVE = LEASE_ACTIVE_SQL;
// trim_due_at is the retention sweep's schedule, read only in SQL (and 'infinity' when parked, which no Date holds).
const { trimDueAt: _schedule, ...readColumns } = getTableColumns(sessions);
const sessionColumns = {
  ...readColumns,
  leaseActive: sql<boolean>`${sql.raw(LEASE_ACTIVE)}`.as('lease_active'),
};

/**
 * A session as every write locks it and most reads see it: without its
 * metadata, which can be large and which only the session routes show.
 */
export type SessionRow = Omit<typeof sessions.$inferSelect, 'metadata' | 'trimDueAt'> & { leaseActive: boolean };
/** A session with its metadata, as the session routes return it. */
export type SessionRecord = SessionRow & { metadata: Record<string, unknown> };

/**
 * The reads every request makes (and the lock every write takes) are written
 * out once as literal SQL: building them with drizzle's query builder cost
 * more CPU than the rest of a delta write. Rows are decoded with the schema's
 * own column mappers, so they match what drizzle would return.
 */
const allFields = Object.entries(readColumns).map(([key, column]) => ({ key, column }));
// The metadata stays out of the lock every write takes (and of the reads that
// only need the counters): a write must not pay for a large metadata document.
const sessionFields = allFields.filter(({ key }) => key !== 'metadata');
const selectText = (fields: typeof allFields) =>
  `select ${fields.map(({ column }) => column.name).join(', ')}, ${LEASE_ACTIVE} as lease_active from sessions`;
const selectSession = sql.raw(selectText(sessionFields));
const selectRecord = sql.raw(selectText(allFields));
const lockSessionText = `${selectText(sessionFields)} where id = $1 for update`;

function toSessionRow(raw: Record<string, unknown> | undefined, fields = sessionFields): SessionRow | undefined {
  if (!raw) return undefined;
  const row: Record<string, unknown> = { leaseActive: raw.leaseActive === true };
  for (const { key, column } of fields) {
    const value = raw[key];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as SessionRow;
}

export async function findSession(db: DbOrTx, id: string): Promise<SessionRow | undefined> {
  const [raw] = await db.execute<Record<string, unknown>>(sql`${selectSession} where id = ${id}`);
  return toSessionRow(raw);
}

/** The session with its metadata (only the session routes show it). */
export async function getSessionRecord(db: DbOrTx, id: string): Promise<SessionRecord> {
  const [raw] = await db.execute<Record<string, unknown>>(sql`${selectRecord} where id = ${id}`);
  const row = toSessionRow(raw, allFields) as SessionRecord | undefined;
  if (!row) throw new SessionNotFound(id);
  return row;
}

/** The metadata of a session this transaction has locked. */
export async function readMetadata(tx: Tx, sid: number): Promise<Record<string, unknown>> {
  const [row] = await tx.select({ metadata: sessions.metadata }).from(sessions).where(eq(sessions.sid, sid));
  return row?.metadata ?? {};
}

export async function getSession(db: DbOrTx, id: string): Promise<SessionRow> {
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
  const [raw] = await transactionSql(tx).unsafe(lockSessionText, [id], { prepare: true });
  return toSessionRow(raw);
}

/** Locks the session unless another transaction holds it (sweepers skip busy sessions). */
export async function lockSessionBySidIfFree(tx: Tx, sid: number): Promise<SessionRow | undefined> {
  const [raw] = await tx.execute<Record<string, unknown>>(sql`${selectSession} where sid = ${sid} for update skip locked`);
  return toSessionRow(raw);
}

/** The first look of the expiry sweep: a session with ttl_ms cannot expire before now + ttl_ms. */
const expiryFromNow = (ttlMs: number | null | undefined) =>
  ttlMs === null || ttlMs === undefined ? null : sql`now() + ${ttlMs} * interval '1 millisecond'`;

export interface NewSession {
  id: string;
  parentId: string | null;
  metadata: Record<string, unknown>;
  encoding: SessionRow['encoding'];
  retention?: SessionRow['retention'];
  forkedFrom?: SessionRow['forkedFrom'];
  ttlMs?: number | null;
}

/** Inserts unless the id is taken; `undefined` means it was (after any concurrent insert committed). */
export async function insertSession(tx: Tx, session: NewSession): Promise<SessionRecord | undefined> {
  const [row] = await tx
    .insert(sessions)
    .values({ ...session, expiryCheckAt: expiryFromNow(session.ttlMs) })
    .onConflictDoNothing({ target: sessions.id })
    .returning({ ...getTableColumns(sessions), leaseActive: sql<boolean>`false` });
  return row;
}

export interface SessionPage {
  rows: SessionRecord[];
  /** Internal key of the last row when another page may follow. */
  nextSid: number | undefined;
}

/** Newest first, keyset-paginated on the internal key (insertion order). */
export async function listSessions(
  db: DbOrTx,
  {
    parentId,
    limit,
    beforeSid,
    readable,
  }: { parentId?: string; limit: number; beforeSid?: number; readable?: { exact: string[]; prefixes: string[] } },
): Promise<SessionPage> {
  const rows = await db
    .select(sessionColumns)
    .from(sessions)
    .where(
      and(
        parentId === undefined ? undefined : eq(sessions.parentId, parentId),
        beforeSid === undefined ? undefined : lt(sessions.sid, beforeSid),
        readable === undefined ? undefined : readableFilter(readable),
      ),
    )
    .orderBy(desc(sessions.sid))
    .limit(limit + 1);
  const hasMore = rows.length > limit;
  const page = hasMore ? rows.slice(0, limit) : rows;
  return { rows: page, nextSid: hasMore ? page[page.length - 1]?.sid : undefined };
}

/** Only the sessions a token may read: exact ids, or ids starting with a granted prefix. */
function readableFilter({ exact, prefixes }: { exact: string[]; prefixes: string[] }) {
  return or(
    exact.length ? sql`${sessions.id} = any(${sql.param(exact)}::text[])` : sql`false`,
    prefixes.length
      ? sql`exists (select 1 from unnest(${sql.param(prefixes)}::text[]) as p(prefix) where starts_with(${sessions.id}, p.prefix))`
      : sql`false`,
  );
}

export async function updateMetadata(
  tx: Tx,
  sid: number,
  metadata: Record<string, unknown>,
  retention?: SessionRow['retention'],
  ttlMs?: number | null,
): Promise<SessionRecord> {
  const [row] = await tx
    .update(sessions)
    .set({
      metadata,
      // drizzle sets no column for an undefined value: a PATCH without retention keeps the policy.
      retention,
      ...(ttlMs === undefined ? {} : { ttlMs, expiryCheckAt: expiryFromNow(ttlMs) }),
      // A new policy is looked at by the next retention sweep.
      // Stryker disable next-line ConditionalExpression: equivalent; every PATCH appends session.updated, whose append marks the session due unless the sweep parked it, and a parked session has no policy to trim by (with the server default every instance shares), so the sweep only parks it again
      ...(retention === undefined ? {} : { trimDueAt: sql`now()` }),
      updatedAt: sql`now()`,
    })
    .where(eq(sessions.sid, sid))
    .returning(sessionColumns);
  // Stryker disable next-line StringLiteral: unreachable; the caller holds the row's lock, so the UPDATE finds it
  if (!row) throw new Error(`session ${sid} vanished while locked`);
  return row;
}

export async function deleteSession(tx: Tx, sid: number): Promise<void> {
  await tx.delete(sessions).where(eq(sessions.sid, sid));
}

/** The changes feed's hints, read from the rows (never from notifications). */
export async function readHeads(db: DbOrTx, ids: string[]): Promise<{ session_id: string; last_seq: number; version: number }[]> {
  return db
    .select({ session_id: sessions.id, last_seq: sessions.lastSeq, version: sessions.version })
    .from(sessions)
    .where(sql`${sessions.id} = any(${sql.param(ids)}::text[])`);
}

/**
 * The head of a session by its internal key (a stream's incarnation), with
 * where its kept history starts: undefined once it is gone.
 */
export async function readHead(db: DbOrTx, sid: number): Promise<{ lastSeq: number; historyStart: number } | undefined> {
  const [row] = await db
    .select({ lastSeq: sessions.lastSeq, historyStart: sessions.historyStart })
    .from(sessions)
    .where(eq(sessions.sid, sid));
  return row;
}
