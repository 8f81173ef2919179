import type postgres from 'postgres';
import { SessionNotFound } from '../errors.js';
import { EXPORT_CHUNK_BYTES, EXPORT_FORMAT, EXPORT_FORMAT_VERSION, type ExportCounts } from './export-format.js';

/** Rows per page of messages and turns: a page holds at most this many times MAX_EVENT_BYTES. */
const PAGE_ROWS = 32;
/** A page of events: this many rows, or this many bytes of data (at least one row). */
const EVENT_PAGE_ROWS = 1000;
const EVENT_PAGE_BYTES = 1024 * 1024;
/** Queue batches hold up to a whole request body each: a few at a time. */
const BATCH_ROWS = 4;

/**
 * The lines of a session's export (see `export-format.ts`), each ending in a
 * newline, read in one REPEATABLE READ snapshot of the database on a
 * connection of its own: a write or a trim that lands meanwhile is either
 * wholly in the file or not at all. Nothing is read before it is asked for,
 * and every read is a page or a slice of bounded size, so memory does not
 * grow with the session and a slow reader slows the reads. The lines are
 * built by Postgres (`json_build_object`), so stored JSON travels verbatim.
 * Abandoning the iteration (a client that goes away) rolls back and frees the
 * connection. Throws SessionNotFound before the first line.
 */
export async function* exportLines(sql: postgres.Sql, sessionId: string): AsyncGenerator<string> {
  const pg = await sql.reserve();
  try {
    await pg`begin isolation level repeatable read read only`;
    const [session] = await pg<{ sid: string; line: string }[]>`
      select sid::text, json_build_object(
        'record', 'session', 'id', id, 'parent_id', parent_id, 'metadata', metadata, 'encoding', encoding,
        'schema_version', schema_version, 'version', version, 'last_seq', last_seq, 'state_seq', state_seq,
        'history_start', history_start, 'base_version', base_version, 'snapshot_version', snapshot_version,
        'chain_deltas', chain_deltas, 'chain_bytes', chain_bytes, 'lease_fencing_token', lease_fencing_token,
        'retention', retention, 'ttl_ms', ttl_ms, 'forked_from', forked_from,
        'message_seq', message_seq, 'message_version', message_version, 'message_count', message_count,
        'archived_count', archived_count, 'first_user_message', first_user_message,
        'usage', json_build_object('input_tokens', usage_input_tokens, 'output_tokens', usage_output_tokens,
                                   'cost_usd', usage_cost_usd, 'turns', usage_turns),
        'created_at', created_at, 'updated_at', updated_at)::text as line
      from sessions where id = ${sessionId}`;
    if (!session) throw new SessionNotFound(sessionId);
    const sid = session.sid;
    const counts: ExportCounts = { snapshots: 0, events: 0, messages: 0, queue_batches: 0, turns: 0, attachments: 0 };
    const header = { record: 'header', format: EXPORT_FORMAT, format_version: EXPORT_FORMAT_VERSION, exported_at: new Date().toISOString() };
    yield `${JSON.stringify(header)}\n${session.line}\n`;

    // One snapshot a page: a json body can be as large as a request body.
    for (let after = -1; ; ) {
      const [row] = await pg<{ key: string; size: number | null; line: string }[]>`
        select version::text as key, octet_length(body_bytes) as size, json_build_object(
          'record', 'snapshot', 'version', version, 'schema_version', schema_version, 'origin', origin,
          'created_at', created_at, 'body', body, 'size', octet_length(body_bytes))::text as line
        from state_snapshots where session_sid = ${sid} and version > ${after} order by version limit 1`;
      if (!row) break;
      after = Number(row.key);
      counts.snapshots++;
      yield `${row.line}\n`;
      if (row.size !== null) {
        yield* chunkLines(row.size, (offset, length) => pg<{ data: Buffer }[]>`
          select substring(body_bytes from ${offset + 1} for ${length}) as data
          from state_snapshots where session_sid = ${sid} and version = ${after}`);
      }
    }

    // Events by a byte budget over their stored sizes (data_bytes): many small ones a page, few large ones.
    for (let after = 0; ; ) {
      const rows = await pg<{ key: string; line: string | null }[]>`
        select seq::text as key, case when n = 1 or upto <= ${EVENT_PAGE_BYTES} then json_build_object('record', 'event',
          'seq', seq, 'type', type, 'data', data, 'version', version, 'created_at', created_at)::text end as line
        from (
          select seq, type, data, version, created_at, row_number() over w as n, sum(data_bytes) over w as upto
          from events where session_sid = ${sid} and seq > ${after}
          window w as (order by seq) order by seq limit ${EVENT_PAGE_ROWS}
        ) p
        order by seq`;
      if (rows.length === 0) break;
      for (const row of rows) {
        if (row.line === null) break;
        after = Number(row.key);
        counts.events++;
        yield `${row.line}\n`;
      }
    }

    for (let after = 0; ; ) {
      const rows = await pg<{ key: string; line: string }[]>`
        select seq::text as key, json_build_object('record', 'message', 'seq', seq, 'id', id, 'role', role, 'kind', kind,
          'content', content, 'archived_at', archived_at, 'created_at', created_at)::text as line
        from messages where session_sid = ${sid} and seq > ${after} order by seq limit ${PAGE_ROWS}`;
      if (rows.length === 0) break;
      after = Number(rows[rows.length - 1]?.key);
      counts.messages += rows.length;
      for (const row of rows) yield `${row.line}\n`;
    }

    for (let after = 0; ; ) {
      const rows = await pg<{ key: string; line: string }[]>`
        select id::text as key, json_build_object('record', 'queue_batch', 'batch_id', batch_id, 'status', status,
          'items', items, 'created_at', created_at, 'updated_at', updated_at)::text as line
        from queue_batches where session_sid = ${sid} and id > ${after} order by id limit ${BATCH_ROWS}`;
      if (rows.length === 0) break;
      after = Number(rows[rows.length - 1]?.key);
      counts.queue_batches += rows.length;
      for (const row of rows) yield `${row.line}\n`;
    }

    for (let after = ''; ; ) {
      const rows = await pg<{ turnId: string; line: string }[]>`
        select turn_id, json_build_object('record', 'turn', 'turn_id', turn_id, 'request_hash', request_hash,
          'response', response, 'created_at', created_at)::text as line
        from turns where session_sid = ${sid} and turn_id collate "C" > ${after} order by turn_id collate "C" limit ${PAGE_ROWS}`;
      if (rows.length === 0) break;
      after = rows[rows.length - 1]?.turnId ?? after;
      counts.turns += rows.length;
      for (const row of rows) yield `${row.line}\n`;
    }

    for (let after = 0; ; ) {
      const rows = await pg<{ key: string; bytes: string; chunkBytes: number; line: string }[]>`
        select id::text as key, size::text as bytes, chunk_bytes, json_build_object('record', 'attachment', 'attachment_id', attachment_id,
          'size', size, 'content_type', content_type, 'committed', committed, 'created_at', created_at)::text as line
        from attachments where session_sid = ${sid} and id > ${after} and attachment_id not like 'upload:%'
        order by id limit ${PAGE_ROWS}`;
      if (rows.length === 0) break;
      for (const row of rows) {
        after = Number(row.key);
        counts.attachments++;
        yield `${row.line}\n`;
        const blobId = row.key;
        const chunkBytes = row.chunkBytes;
        yield* chunkLines(Number(row.bytes), (offset, length) => {
          // A slice never crosses a stored chunk (chunkLines asks for at most what is left of one).
          const n = Math.floor(offset / chunkBytes);
          return pg<{ data: Buffer }[]>`
            select substring(data from ${offset - n * chunkBytes + 1} for ${length}) as data
            from attachment_chunks where blob_id = ${blobId} and n = ${n}`;
        }, chunkBytes);
      }
    }

    yield `${JSON.stringify({ record: 'end', counts })}\n`;
    await pg`commit`;
  } finally {
    // After a failure or an abandoned read the transaction is still open: roll it back before the connection goes back.
    await pg`rollback`.catch(() => {});
    pg.release();
  }
}

/**
 * `chunk` lines carrying `size` bytes, read one slice at a time (at most
 * EXPORT_CHUNK_BYTES, and never across a multiple of `boundary`), so one line
 * is what is held, however large the bytes.
 */
async function* chunkLines(
  size: number,
  read: (offset: number, length: number) => Promise<{ data: Buffer }[]>,
  boundary = Number.MAX_SAFE_INTEGER,
): AsyncGenerator<string> {
  for (let offset = 0; offset < size; ) {
    const length = Math.min(EXPORT_CHUNK_BYTES, size - offset, boundary - (offset % boundary));
    const [row] = await read(offset, length);
    if (!row?.data || row.data.length !== length) throw new Error(`stored bytes end early at ${offset} of ${size}`);
    offset += length;
    yield `{"record":"chunk","data_base64":"${row.data.toString('base64')}"}\n`;
  }
}
