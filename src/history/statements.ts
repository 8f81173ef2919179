import type { Sql } from '../db/client.js';
import { sessionExpired, sessionExpiry } from '../db/clock.js';

/*
 * The statements of history's lifecycle: trimming (by request and by the
 * retention sweep), the expiry sweep, and reading a past version's state
 * event. Ages and expiries are judged by Postgres's clock.
 */

// ---- trimming

/** The first event after `after` (up to `upTo`) younger than `maxAgeMs`: where an age bound stops trimming. */
export async function findFirstYoungEvent(pg: Sql, sid: number, after: number, upTo: number, maxAgeMs: number): Promise<number | undefined> {
  const [row] = await pg<{ seq: number }[]>`
    select seq from events
    where session_sid = ${sid} and seq > ${after} and seq <= ${upTo}
      and created_at >= now() - make_interval(secs => ${maxAgeMs / 1000}::float8)
    order by seq limit 1`;
  return row?.seq;
}

/**
 * The version of the newest state event in (after, seq], and the oldest
 * version any kept state event has (the first found on the (session, version)
 * index, since trimmed state events are gone).
 */
export async function readVersionsAround(
  pg: Sql,
  sid: number,
  after: number,
  seq: number,
): Promise<{ at: number | null; oldest: number | null }> {
  const [row] = await pg<{ at: number | null; oldest: number | null }[]>`
    select
      (select version from events where session_sid = ${sid} and version is not null
         and seq > ${after} and seq <= ${seq} order by seq desc limit 1) as at,
      (select min(version) from events where session_sid = ${sid} and version is not null) as oldest`;
  return row ?? { at: null, oldest: null };
}

/** The seq of the state event that made `version`, if it is kept and after `after`. */
export async function findStateEventSeq(pg: Sql, sid: number, version: number, after: number): Promise<number | undefined> {
  const [row] = await pg<{ seq: number }[]>`
    select seq from events
    where session_sid = ${sid} and version = ${version} and type like 'state.%' and seq > ${after}`;
  return row?.seq;
}

/** Stores a checkpoint at `version` unless a snapshot stands there already. */
export async function insertCheckpointIfMissing(
  pg: Sql,
  checkpoint: { sid: number; version: number; schemaVersion: number; bodyJson: string },
): Promise<void> {
  await pg`
    insert into state_snapshots (session_sid, version, schema_version, origin, body)
    values (${checkpoint.sid}, ${checkpoint.version}, ${checkpoint.schemaVersion}, 'checkpoint', ${checkpoint.bodyJson}::json)
    on conflict do nothing`;
}

/** Removes the events in (after, upTo]. */
export async function deleteEventsThrough(pg: Sql, sid: number, after: number, upTo: number): Promise<void> {
  await pg`delete from events where session_sid = ${sid} and seq > ${after} and seq <= ${upTo}`;
}

/**
 * History now starts after `upTo`, and the head's chain at `floor` at the
 * latest (its older base is removed). Its byte count is kept as it was: an
 * overestimate, which at worst brings the next checkpoint sooner.
 */
export async function moveHistoryStart(pg: Sql, sid: number, upTo: number, floor: number): Promise<void> {
  await pg`
    update sessions set history_start = ${upTo},
      base_version = greatest(base_version, ${floor}),
      chain_deltas = version - greatest(base_version, ${floor})
    where sid = ${sid}`;
}

/** Removes the snapshots below `floor`: no kept version rebuilds from them any more. */
export async function deleteSnapshotsBelow(pg: Sql, sid: number, floor: number): Promise<void> {
  await pg`delete from state_snapshots where session_sid = ${sid} and version < ${floor}`;
}

// ---- the retention sweep's schedule (sessions.trim_due_at)

/** No policy applies: the sweep does not look at the session again until a new policy brings it back ('infinity'; writes leave it). */
export async function parkFromRetention(pg: Sql, sid: number): Promise<void> {
  await pg`update sessions set trim_due_at = 'infinity' where sid = ${sid}`;
}

/** The sweep looks again when the oldest kept event comes of age (`maxAgeMs`), or, with no age bound, after the next write. */
export async function scheduleRetention(pg: Sql, sid: number, maxAgeMs: number | undefined): Promise<void> {
  await pg`
    update sessions s set trim_due_at = ${
      maxAgeMs === undefined
        ? pg`null`
        : pg`(select e.created_at + make_interval(secs => ${maxAgeMs / 1000}::float8) from events e
               where e.session_sid = s.sid and e.seq > s.history_start order by e.seq limit 1)`
    }
    where sid = ${sid}`;
}

/** A server default that was not set when these sessions were parked applies to them now. */
export async function unparkSessionsWithoutPolicy(pg: Sql): Promise<void> {
  await pg`update sessions set trim_due_at = now() where trim_due_at = 'infinity' and retention is null`;
}

/** The sessions whose look has come, soonest first: an index range, never a scan of the sessions table. */
export async function findSessionsDueForTrim(pg: Sql, limit: number): Promise<number[]> {
  const rows = await pg<{ sid: number }[]>`select sid from sessions where trim_due_at <= now() order by trim_due_at limit ${limit}`;
  return rows.map((row) => row.sid);
}

/** A session that failed to trim is looked at again only after a while, so it cannot hold up the others. */
export async function postponeTrim(pg: Sql, sid: number): Promise<void> {
  await pg`update sessions set trim_due_at = now() + interval '1 hour' where sid = ${sid}`;
}

// ---- the expiry sweep (sessions.expiry_check_at)

/** The sessions whose expiry check has come, soonest first, on its index. */
export async function findSessionsDueForExpiry(pg: Sql, limit: number): Promise<number[]> {
  const rows = await pg<{ sid: number }[]>`
    select sid from sessions where expiry_check_at <= now() order by expiry_check_at limit ${limit}`;
  return rows.map((row) => row.sid);
}

/**
 * Whether the session is past its expiry: no write (nor Durable Streams read)
 * for its ttl_ms, or past a stream's fixed `expires_at` (`expiry_check_at` is
 * only a lower bound: writes move `updated_at`, reads `read_at`, not it).
 */
export async function isExpired(pg: Sql, sid: number): Promise<boolean> {
  const [row] = await pg<{ due: boolean }[]>`select ${sessionExpired(pg)} as due from sessions where sid = ${sid}`;
  return row?.due === true;
}

/** Written or read since (or its ttl_ms cleared): the next check is when it could expire next. */
export async function moveExpiryCheck(pg: Sql, sid: number): Promise<void> {
  await pg`update sessions set expiry_check_at = ${sessionExpiry(pg)} where sid = ${sid}`;
}

// ---- export: each record kind a page of JSON lines built by Postgres (json_build_object), so stored JSON travels verbatim

/** The session's record, with its internal key (none for a soft-deleted one or a stream past its expiry, as every read by id). */
export async function readSessionLine(pg: Sql, id: string): Promise<{ sid: number; line: string; stream: string } | undefined> {
  const [row] = await pg<{ sid: number; line: string; stream: string }[]>`
    select sid, json_build_object(
      'record', 'session', 'id', id, 'parent_id', parent_id, 'metadata', metadata, 'encoding', encoding,
      'schema_version', schema_version, 'version', version, 'last_seq', last_seq, 'state_seq', state_seq,
      'history_start', history_start, 'base_version', base_version, 'snapshot_version', snapshot_version,
      'chain_deltas', chain_deltas, 'chain_bytes', chain_bytes, 'lease_fencing_token', lease_fencing_token,
      'retention', retention, 'ttl_ms', ttl_ms, 'forked_from', forked_from,
      'message_seq', message_seq, 'message_version', message_version, 'message_count', message_count,
      'archived_count', archived_count, 'first_user_message', first_user_message,
      'usage', json_build_object('input_tokens', usage_input_tokens, 'output_tokens', usage_output_tokens,
                                 'cost_usd', usage_cost_usd, 'turns', usage_turns),
      'created_at', created_at, 'updated_at', updated_at)::text as line,
      json_strip_nulls(json_build_object('stream_content_type', stream_content_type, 'closed_at', closed_at,
        'stream_seq', stream_seq, 'closed_by', closed_by, 'expires_at', expires_at))::text as stream
    from sessions
    where id = ${id} and deleted_at is null and not (stream_content_type is not null and ${sessionExpired(pg)})`;
  return row;
}

/** The next stored snapshot after `after`, one at a time (a json body can be as large as a request body); `size` for binary bytes that follow. */
export async function readSnapshotLine(
  pg: Sql,
  sid: number,
  after: number,
): Promise<{ version: number; size: number | null; line: string } | undefined> {
  const [row] = await pg<{ version: number; size: number | null; line: string }[]>`
    select version, octet_length(body_bytes) as size, json_build_object(
      'record', 'snapshot', 'version', version, 'schema_version', schema_version, 'origin', origin,
      'created_at', created_at, 'body', body, 'size', octet_length(body_bytes))::text as line
    from state_snapshots where session_sid = ${sid} and version > ${after} order by version limit 1`;
  return row;
}

/** `length` bytes of a binary snapshot from `offset`. */
export async function readSnapshotSlice(pg: Sql, sid: number, version: number, offset: number, length: number): Promise<Buffer | null | undefined> {
  const [row] = await pg<{ data: Buffer | null }[]>`
    select substring(body_bytes from ${offset + 1} for ${length}) as data
    from state_snapshots where session_sid = ${sid} and version = ${version}`;
  return row?.data;
}

/**
 * Events after `after` by a byte budget over their stored sizes (data_bytes):
 * at most `rows`, and past `maxBytes` (after the first) a row comes without
 * its line, only to end the page.
 */
export function readEventLines(
  pg: Sql,
  sid: number,
  after: number,
  rows: number,
  maxBytes: number,
): Promise<{ seq: number; line: string | null }[]> {
  return pg<{ seq: number; line: string | null }[]>`
    select seq, case when n = 1 or upto <= ${maxBytes} then json_build_object('record', 'event',
      'seq', seq, 'type', type, 'data', data, 'version', version, 'created_at', created_at)::text end as line
    from (
      select seq, type, data, version, created_at, row_number() over w as n, sum(data_bytes) over w as upto
      from events where session_sid = ${sid} and seq > ${after}
      window w as (order by seq) order by seq limit ${rows}
    ) p
    order by seq`;
}

export function readMessageLines(pg: Sql, sid: number, after: number, rows: number): Promise<{ seq: number; line: string }[]> {
  return pg<{ seq: number; line: string }[]>`
    select seq, json_build_object('record', 'message', 'seq', seq, 'id', id, 'role', role, 'kind', kind,
      'content', content, 'archived_at', archived_at, 'created_at', created_at)::text as line
    from messages where session_sid = ${sid} and seq > ${after} order by seq limit ${rows}`;
}

export function readQueueBatchLines(pg: Sql, sid: number, after: number, rows: number): Promise<{ id: number; line: string }[]> {
  return pg<{ id: number; line: string }[]>`
    select id, json_build_object('record', 'queue_batch', 'batch_id', batch_id, 'status', status,
      'items', items, 'created_at', created_at, 'updated_at', updated_at)::text as line
    from queue_batches where session_sid = ${sid} and id > ${after} order by id limit ${rows}`;
}

/** Turns by id in byte order (collation "C"), so the page after `after` is the same on every database. */
export function readTurnLines(pg: Sql, sid: number, after: string, rows: number): Promise<{ turnId: string; line: string }[]> {
  return pg<{ turnId: string; line: string }[]>`
    select turn_id, json_build_object('record', 'turn', 'turn_id', turn_id, 'request_hash', request_hash,
      'response', response, 'created_at', created_at)::text as line
    from turns where session_sid = ${sid} and turn_id collate "C" > ${after} order by turn_id collate "C" limit ${rows}`;
}

/** A stream's idempotent producers after `after` (by id, bytewise), with their epoch and highest accepted seq. */
export function readProducerLines(pg: Sql, sid: number, after: string, rows: number): Promise<{ producerId: string; line: string }[]> {
  return pg<{ producerId: string; line: string }[]>`
    select producer_id, json_build_object('record', 'producer', 'producer_id', producer_id, 'epoch', epoch, 'seq', seq)::text as line
    from stream_producers where session_sid = ${sid} and producer_id collate "C" > ${after}
    order by producer_id collate "C" limit ${rows}`;
}

/** Stored attachments (not uploads in progress), with where their bytes are: the blob and its chunk size. */
export function readAttachmentLines(
  pg: Sql,
  sid: number,
  after: number,
  rows: number,
): Promise<{ id: number; size: number; chunkBytes: number; line: string }[]> {
  return pg<{ id: number; size: number; chunkBytes: number; line: string }[]>`
    select id, size, chunk_bytes, json_build_object('record', 'attachment', 'attachment_id', attachment_id,
      'size', size, 'content_type', content_type, 'committed', committed, 'created_at', created_at)::text as line
    from attachments where session_sid = ${sid} and id > ${after} and attachment_id not like 'upload:%'
    order by id limit ${rows}`;
}

// ---- import: the keys a file has used (the copy's rows are inserted by their features' statements)

/**
 * The keys a file has used (message ids, batch ids, turn ids), in a table of
 * the transaction rather than in memory: a file may hold any number of them.
 */
export async function createImportKeys(pg: Sql): Promise<void> {
  await pg`create temporary table import_keys (kind text, key text, line bigint, primary key (kind, key)) on commit drop`;
}

/** The earliest line that used one of `keys` of this kind already, if any. */
export async function findUsedImportKey(pg: Sql, kind: string, keys: string[]): Promise<{ key: string; line: number } | undefined> {
  const [row] = await pg<{ key: string; line: number }[]>`
    select key, line from import_keys where kind = ${kind} and key = any(${keys}::text[]) order by line limit 1`;
  return row;
}

export async function recordImportKeys(pg: Sql, kind: string, keys: string[], lines: number[]): Promise<void> {
  await pg`
    insert into import_keys (kind, key, line)
    select ${kind}, k.key, k.line from unnest(${keys}::text[], ${lines}::bigint[]) as k(key, line)`;
}






