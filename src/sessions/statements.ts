import { getTableColumns } from 'drizzle-orm';
import type { Sql } from '../db/client.js';
import { leaseRunning, sessionExpired } from '../db/clock.js';
import { startQuery } from '../db/pipeline.js';
import { type ForkedFrom, sessions } from '../db/schema.js';

/*
 * Every statement on the sessions table that reads or writes a whole session.
 * Each column a row carries is the schema's (db/schema.ts), so a column added
 * there is read everywhere; the lease's running state is asked of the
 * database's clock in the same read (see db/clock.ts).
 *
 * A session soft-deleted by the Durable Streams face (`deleted_at`, a forked
 * source kept until its last fork goes) is gone for every read and lock by id
 * here: only the statements of the block "soft delete" below see it.
 */

/**
 * A session as every write locks it and most reads see it: without its
 * metadata, which can be large and which only the session routes show, and
 * without the retention sweep's schedule, which only SQL reads (and which is
 * 'infinity' when parked, a time no Date holds).
 */
export type SessionRow = Omit<typeof sessions.$inferSelect, 'metadata' | 'trimDueAt'> & {
  leaseActive: boolean;
  /**
   * A session made by the Durable Streams face that is past its expiry (by the
   * database's clock): it reads as absent on both faces at once, before the
   * expiry sweep deletes it (a native session waits for the sweep, as always).
   */
  streamExpired: boolean;
  /**
   * The transaction's clock when the row was read (`now()`): in a write, the
   * time every column that defaults to now() takes in the same transaction,
   * so a write can answer with the `created_at` of a row it inserts without
   * waiting for the insert's answer (a round trip, see db/pipeline.ts).
   */
  now: Date;
};
/** A session with its metadata, as the session routes return it. */
export type SessionRecord = SessionRow & { metadata: Record<string, unknown> };

const { trimDueAt: _schedule, metadata: _metadata, ...rowColumns } = getTableColumns(sessions);
const rowNames = Object.values(rowColumns).map((column) => column.name);
const recordNames = [...rowNames, sessions.metadata.name];
// The metadata stays out of the lock every write takes (and of the reads that
// only need the counters): a write must not pay for a large metadata document.
const leaseActive = (pg: Sql) => leaseRunning(pg, pg`lease_expires_at`);
/** `SessionRow.streamExpired` as a column expression of `sessions` (also read beside a stream's page, `readStreamPage`). */
export const streamExpired = (pg: Sql) => pg`(stream_content_type is not null and ${sessionExpired(pg, 'statement')})`;
/**
 * The sessions a GET finds, as conditions of a `where`: neither deleted (a Durable Streams source deleted while its
 * forks live stays as a row) nor a stream past its expiry that the sweep has not removed yet.
 */
const foundByGet = (pg: Sql) => pg`deleted_at is null and not ${streamExpired(pg)}`;
const rowFields = (pg: Sql) => pg`${pg(rowNames)}, ${leaseActive(pg)} as lease_active, ${streamExpired(pg)} as stream_expired, now() as now`;
const recordFields = (pg: Sql) => pg`${pg(recordNames)}, ${leaseActive(pg)} as lease_active, ${streamExpired(pg)} as stream_expired, now() as now`;

export async function findSessionRow(pg: Sql, id: string): Promise<SessionRow | undefined> {
  const [row] = await pg<SessionRow[]>`select ${rowFields(pg)} from sessions where id = ${id} and deleted_at is null`;
  return row;
}

export async function findSessionRecord(pg: Sql, id: string): Promise<SessionRecord | undefined> {
  const [row] = await pg<SessionRecord[]>`select ${recordFields(pg)} from sessions where id = ${id} and deleted_at is null`;
  return row;
}

/**
 * Locks the session row for the rest of the transaction: every write to a
 * session sends this first, which serialises writers per session and makes
 * seq and version assignment gapless and commit-ordered. Sent at once: a
 * statement the caller sends next goes behind it, and runs once the lock is
 * held (see `writes/session-write.ts`).
 */
export function lockSessionRow(pg: Sql, id: string): Promise<SessionRow | undefined> {
  return startQuery(pg<SessionRow[]>`select ${rowFields(pg)} from sessions where id = ${id} and deleted_at is null for update`).then(([row]) => row);
}

/** Locks the session unless another transaction holds it (sweepers skip busy sessions). */
export async function lockSessionRowIfFree(pg: Sql, sid: number): Promise<SessionRow | undefined> {
  const [row] = await pg<SessionRow[]>`select ${rowFields(pg)} from sessions where sid = ${sid} for update skip locked`;
  return row;
}

export async function readSessionMetadata(pg: Sql, sid: number): Promise<Record<string, unknown> | undefined> {
  const [row] = await pg<{ metadata: Record<string, unknown> }[]>`select metadata from sessions where sid = ${sid}`;
  return row?.metadata;
}

export interface NewSession {
  id: string;
  parentId: string | null;
  metadata: Record<string, unknown>;
  encoding: SessionRow['encoding'];
  retention?: SessionRow['retention'];
  forkedFrom?: SessionRow['forkedFrom'];
  ttlMs?: number | null;
}

/** The expiry sweep's first look at a session with ttl_ms: it cannot expire before now + ttl_ms. */
const expiryCheck = (pg: Sql, ttlMs: number | null | undefined) =>
  ttlMs === null || ttlMs === undefined ? pg`null` : pg`now() + ${ttlMs} * interval '1 millisecond'`;

/** Inserts unless the id is taken; `undefined` means it was (after any concurrent insert committed). */
export async function insertSessionRow(pg: Sql, session: NewSession): Promise<SessionRecord | undefined> {
  const [row] = await pg<SessionRecord[]>`
    insert into sessions (id, parent_id, metadata, encoding, retention, forked_from, ttl_ms, expiry_check_at)
    values (${session.id}, ${session.parentId}, ${JSON.stringify(session.metadata)}::jsonb, ${session.encoding},
      ${json(session.retention)}::jsonb, ${json(session.forkedFrom)}::jsonb, ${session.ttlMs ?? null},
      ${expiryCheck(pg, session.ttlMs)})
    on conflict (id) do nothing
    returning ${pg(recordNames)}, false as lease_active, false as stream_expired, now() as now`;
  return row;
}

/** Newest first, keyset-paginated on the internal key (insertion order): `limit` rows and one more if there is one. */
export async function listSessionRecords(
  pg: Sql,
  {
    parentId,
    limit,
    beforeSid,
    readable,
  }: { parentId?: string; limit: number; beforeSid?: number; readable?: { exact: string[]; prefixes: string[] } },
): Promise<SessionRecord[]> {
  // Each filter is there or not (eight statement texts at most), so each keeps the plan its indexes give it.
  return pg<SessionRecord[]>`
    select ${recordFields(pg)} from sessions
    where ${foundByGet(pg)}
      ${parentId === undefined ? pg`` : pg`and parent_id = ${parentId}`}
      ${beforeSid === undefined ? pg`` : pg`and sid < ${beforeSid}`}
      ${
        readable === undefined
          ? pg``
          : pg`and (id = any(${readable.exact}::text[])
              or exists (select 1 from unnest(${readable.prefixes}::text[]) as p(prefix) where starts_with(id, p.prefix)))`
      }
    order by sid desc
    limit ${limit + 1}`;
}

export interface SessionSettings {
  metadata: Record<string, unknown>;
  /** Undefined keeps the policy; null is the server default. */
  retention?: SessionRow['retention'];
  /** Undefined keeps the TTL. */
  ttlMs?: number | null;
}

/** A PATCH of a locked session: its metadata, and its retention policy and TTL when given. */
export async function updateSessionSettings(pg: Sql, sid: number, settings: SessionSettings): Promise<SessionRecord | undefined> {
  const { metadata, retention, ttlMs } = settings;
  // A new policy is looked at by the next retention sweep.
  // Stryker disable next-line ConditionalExpression: equivalent; every PATCH appends session.updated, whose append marks the session due unless the sweep parked it, and a parked session has no policy to trim by (with the server default every instance shares), so the sweep only parks it again
  const setRetention = retention === undefined ? pg`` : pg`retention = ${json(retention)}::jsonb, trim_due_at = now(),`;
  // A stream's fixed expiry (`expires_at`) stays a bound the sweep must look at.
  const setTtl = ttlMs === undefined ? pg`` : pg`ttl_ms = ${ttlMs}, expiry_check_at = least(expires_at, ${expiryCheck(pg, ttlMs)}),`;
  const [row] = await pg<SessionRecord[]>`
    update sessions set metadata = ${JSON.stringify(metadata)}::jsonb,
      ${setRetention}
      ${setTtl}
      updated_at = now()
    where sid = ${sid}
    returning ${recordFields(pg)}`;
  return row;
}

export async function deleteSessionRow(pg: Sql, sid: number): Promise<void> {
  await pg`delete from sessions where sid = ${sid}`;
}

/** A session's head as the changes feed sends it. */
export interface SessionHead {
  session_id: string;
  last_seq: number;
  version: number;
}

/**
 * The changes feed's hints, read from the rows (never from notifications), as
 * the feed sends them: built as JSON, whose keys the column transform leaves
 * as they are.
 */
export async function readSessionHeads(pg: Sql, ids: string[]): Promise<SessionHead[]> {
  const [row] = await pg<{ heads: SessionHead[] }[]>`
    select coalesce(json_agg(json_build_object('session_id', id, 'last_seq', last_seq, 'version', version)), '[]'::json) as heads
    from sessions where id = any(${ids}::text[])`;
  return row?.heads ?? [];
}

/** Incarnation and head of each session named that a GET would find (live publishes read many at once: `live/heads.ts`). */
export async function readLiveHeads(pg: Sql, ids: string[]): Promise<{ id: string; sid: number; lastSeq: number }[]> {
  return pg<{ id: string; sid: number; lastSeq: number }[]>`
    select id, sid, last_seq from sessions where id = any(${ids}::text[]) and ${foundByGet(pg)}`;
}

/** The head of a session by its internal key (a stream's incarnation), with where its kept history starts. */
export async function readSessionHead(pg: Sql, sid: number): Promise<{ lastSeq: number; historyStart: number } | undefined> {
  const [row] = await pg<{ lastSeq: number; historyStart: number }[]>`select last_seq, history_start from sessions where sid = ${sid}`;
  return row;
}

// ---- soft delete: a Durable Streams source deleted while forks of it live (streams/fork-store.ts)

/** Durable Streams forks: the ones whose `forked_from` names a seq (a native fork names a version). */
const streamForkOf = (pg: Sql, id: string) => pg`parent_id = ${id} and forked_from->>'seq' is not null`;

/** The soft-deleted session under this id, if there is one (the Durable Streams face answers 410 for it). */
export async function findDeletedSession(pg: Sql, id: string): Promise<{ sid: number } | undefined> {
  const [row] = await pg<{ sid: number }[]>`select sid from sessions where id = ${id} and deleted_at is not null`;
  return row;
}

/** Locks the session under this id, soft-deleted or not: a fork's source, or a soft-deleted parent its fork's delete releases. */
export async function lockSessionRowAny(pg: Sql, id: string): Promise<SessionRow | undefined> {
  const [row] = await pg<SessionRow[]>`select ${rowFields(pg)} from sessions where id = ${id} for update`;
  return row;
}

/**
 * Whether Durable Streams forks of a locked session exist (soft-deleted forks
 * count: their own forks may need them), holding them (`for key share`) until
 * commit: a fork being deleted meanwhile is waited for and then not counted, and
 * one not yet deleted cannot go before this commits. So a source's delete and
 * its last fork's delete, at once, end with both gone: the fork's delete then
 * finds the source soft-deleted (`lockSessionRowAny`), or the source's delete
 * finds no fork.
 */
export async function holdStreamForks(pg: Sql, id: string): Promise<boolean> {
  const rows = await pg`select sid from sessions where ${streamForkOf(pg, id)} for key share`;
  return rows.length > 0;
}

/** Whether Durable Streams forks of the session exist (soft-deleted forks count). */
export async function hasStreamForks(pg: Sql, id: string): Promise<boolean> {
  const [row] = await pg<{ found: boolean }[]>`select exists (select 1 from sessions where ${streamForkOf(pg, id)}) as found`;
  return row?.found ?? false;
}

/** Marks a locked session deleted; its row and history stay until its last fork goes. */
export async function softDeleteSessionRow(pg: Sql, sid: number): Promise<void> {
  await pg`update sessions set deleted_at = now(), updated_at = now() where sid = ${sid}`;
}

/** A JSON column's text, or null. */
const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));

// ---- import: the rows of a copy, inside the import's one transaction (history/import.ts)

/** A session as an export file carries it (history/export-format.ts), its counters as they were. */
export interface ImportedSession {
  parent_id: string | null;
  metadata: Record<string, unknown>;
  encoding: SessionRow['encoding'];
  schema_version: number | null;
  version: number;
  last_seq: number;
  state_seq: number;
  history_start: number;
  base_version: number;
  snapshot_version: number;
  chain_deltas: number;
  chain_bytes: number;
  lease_fencing_token: number;
  retention: unknown;
  ttl_ms: number | null;
  forked_from: ForkedFrom | null;
  message_seq: number;
  message_version: number;
  message_count: number;
  archived_count: number;
  first_user_message: string | null;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number; turns: number };
  created_at: string;
  /** The Durable Streams columns (absent from a file written before they travelled: none). */
  stream_content_type?: string | null;
  closed_at?: string | null;
  stream_seq?: string | null;
  closed_by?: { producer_id: string; epoch: number; seq: number } | null;
  expires_at?: string | null;
}

/**
 * The copy's session row, unless the id is taken (undefined). A parent this
 * server does not hold is not named (forked_from still says where the copy
 * came from). The import is the copy's first write: the sweeps look at it as
 * at any written session (expiry, retention).
 */
export async function insertImportedSession(pg: Sql, id: string, s: ImportedSession): Promise<number | undefined> {
  const [row] = await pg<{ sid: number }[]>`
    insert into sessions (id, parent_id, metadata, encoding, schema_version, version, last_seq, state_seq, history_start,
      base_version, snapshot_version, chain_deltas, chain_bytes, lease_fencing_token, retention, ttl_ms, forked_from,
      message_seq, message_version, message_count, archived_count, first_user_message,
      usage_input_tokens, usage_output_tokens, usage_cost_usd, usage_turns, created_at, updated_at,
      stream_content_type, closed_at, stream_seq, closed_by, expires_at,
      expiry_check_at, trim_due_at)
    values (${id}, (select id from sessions where id = ${s.parent_id}), ${JSON.stringify(s.metadata)}::jsonb, ${s.encoding},
      ${s.schema_version}, ${s.version}, ${s.last_seq}, ${s.state_seq}, ${s.history_start},
      ${s.base_version}, ${s.snapshot_version}, ${s.chain_deltas}, ${s.chain_bytes}, ${s.lease_fencing_token},
      ${s.retention === null ? null : JSON.stringify(s.retention)}::jsonb, ${s.ttl_ms},
      ${s.forked_from === null ? null : JSON.stringify(s.forked_from)}::jsonb,
      ${s.message_seq}, ${s.message_version}, ${s.message_count}, ${s.archived_count}, ${s.first_user_message},
      ${s.usage.input_tokens}, ${s.usage.output_tokens}, ${s.usage.cost_usd}, ${s.usage.turns},
      ${s.created_at}::timestamptz, now(),
      ${s.stream_content_type ?? null}, ${s.closed_at ?? null}::timestamptz, ${s.stream_seq ?? null},
      ${json(s.closed_by)}::jsonb, ${s.expires_at ?? null}::timestamptz,
      least(${s.expires_at ?? null}::timestamptz, now() + ${s.ttl_ms} * interval '1 millisecond'), case when ${s.last_seq}::bigint > 0 then now() end)
    on conflict (id) do nothing
    returning sid`;
  return row?.sid;
}
