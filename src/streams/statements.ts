import type { Sql } from '../db/client.js';
import { sessionExpired } from '../db/clock.js';
import type { EventPageRow } from '../events/statements.js';
import { type SessionRow, streamExpired } from '../sessions/statements.js';

/* The Durable Streams face's statements on the sessions row (its events are the events feature's). */

export interface StreamChange {
  /** The stream's Content-Type, set when a PUT creates it. */
  contentType?: string;
  /** Close the session: no write appends to its history after this. */
  close?: boolean;
  /** The append's `Stream-Seq`, the new high-water mark. */
  streamSeq?: string;
}

/** Changes the Durable Streams columns of a session whose row the caller has locked. */
export async function updateStreamColumns(pg: Sql, sid: number, { contentType, close, streamSeq }: StreamChange): Promise<void> {
  await pg`
    update sessions set
      ${contentType === undefined ? pg`` : pg`stream_content_type = ${contentType},`}
      ${close ? pg`closed_at = coalesce(closed_at, now()),` : pg``}
      ${streamSeq === undefined ? pg`` : pg`stream_seq = ${streamSeq},`}
      updated_at = now()
    where sid = ${sid}`;
}

/*
 * Idempotent producers (PROTOCOL §5.2.1). Each is sent with the session row
 * locked: the lock, not these rows, serialises a stream's producers, so the
 * read needs no lock of its own and the write is atomic with the append.
 */

/** A producer's stored epoch and highest accepted seq on a stream (undefined: never seen). */
export async function findProducerState(pg: Sql, sid: number, producerId: string): Promise<{ epoch: number; seq: number } | undefined> {
  const [row] = await pg<{ epoch: number; seq: number }[]>`
    select epoch, seq from stream_producers where session_sid = ${sid} and producer_id = ${producerId}`;
  return row;
}

/** Stores what a producer's accepted request makes its state: a new epoch replaces the old one with its seq. */
export async function saveProducerState(pg: Sql, sid: number, producerId: string, state: { epoch: number; seq: number }): Promise<void> {
  await pg`
    insert into stream_producers (session_sid, producer_id, epoch, seq)
    values (${sid}, ${producerId}, ${state.epoch}, ${state.seq})
    on conflict (session_sid, producer_id) do update set epoch = excluded.epoch, seq = excluded.seq`;
}

/** Records which producer request closed the stream: only that request, retried, is acknowledged afterwards. */
export async function recordClosingProducer(pg: Sql, sid: number, claim: { id: string; epoch: number; seq: number }): Promise<void> {
  await pg`
    update sessions set closed_by = ${JSON.stringify({ producer_id: claim.id, epoch: claim.epoch, seq: claim.seq })}::jsonb
    where sid = ${sid}`;
}

/** An imported stream's producers (history/import.ts), each with the state it had on the source. */
export async function insertImportedProducers(pg: Sql, sid: number, rows: { producer_id: string; epoch: number; seq: number }[]): Promise<void> {
  await pg`
    insert into stream_producers (session_sid, producer_id, epoch, seq)
    select ${sid}, p.id, p.epoch, p.seq
    from unnest(${rows.map((r) => r.producer_id)}::text[], ${rows.map((r) => r.epoch)}::bigint[], ${rows.map((r) => r.seq)}::bigint[]) as p(id, epoch, seq)`;
}

// ---- forks (fork-store.ts)

/**
 * Copies the source's kept events up to `upTo` into the fork, same seqs, same
 * rows (times included), and sets the fork's head there: its offsets up to the
 * fork point are the source's. One statement, whatever the length.
 */
export async function copyForkHistory(
  pg: Sql,
  { forkSid, sourceSid, historyStart, upTo, contentType }: { forkSid: number; sourceSid: number; historyStart: number; upTo: number; contentType: string },
): Promise<void> {
  await pg`
    with copied as (
      insert into events (session_sid, seq, type, data, version, created_at)
      select ${forkSid}, seq, type, data, version, created_at from events
      where session_sid = ${sourceSid} and seq > ${historyStart} and seq <= ${upTo}
    )
    update sessions set last_seq = ${upTo}, history_start = ${historyStart}, stream_content_type = ${contentType},
      trim_due_at = case when ${upTo}::bigint > ${historyStart}::bigint then now() end
    where sid = ${forkSid}`;
}

// ---- stream expiry (Stream-TTL, Stream-Expires-At; the domain is stream-expiry.ts)

/**
 * Sets a locked session's expiry as a PUT asks for it: `ttl_ms` (the idle
 * window) or the fixed `expires_at`, and when the expiry sweep first looks at
 * it: the soonest it can expire (reads and writes only move that later).
 */
export async function setStreamExpiry(pg: Sql, sid: number, { ttlMs, expiresAt }: { ttlMs: number | null; expiresAt: Date | null }): Promise<void> {
  await pg`
    update sessions set ttl_ms = ${ttlMs}, expires_at = ${expiresAt},
      expiry_check_at = least(${expiresAt}::timestamptz, now() + ${ttlMs}::bigint * interval '1 millisecond')
    where sid = ${sid}`;
}

/**
 * A Durable Streams access that is no write (a read, closing a closed stream)
 * slides the idle window of a session with `ttl_ms`: `read_at` moves, so
 * `updated_at` keeps meaning the last write. One already expired stays so: an
 * access never revives it. A window slid less than a tenth of the TTL ago (at
 * most a second) is left as it is: the row is neither written nor locked, so
 * the many reads of a busy stream do not queue behind its writers for it.
 */
export async function slideStreamWindow(pg: Sql, sid: number): Promise<void> {
  await pg`
    update sessions set read_at = now()
    where sid = ${sid} and ttl_ms is not null and not ${sessionExpired(pg)}
      and greatest(updated_at, read_at) < now() - least(ttl_ms / 10, 1000) * interval '1 millisecond'`;
}

/** What `headOf` reads of the session, and what a page read checks (`streamExpired`, `historyStart`). */
export type StreamPageRow = EventPageRow & Pick<SessionRow, 'sid' | 'streamContentType' | 'closedAt' | 'lastSeq' | 'ttlMs' | 'expiresAt' | 'streamExpired'>;

/**
 * A stream's head and the page of events after `after`, in one statement: one
 * snapshot and one round trip where a read-only transaction took four (BEGIN,
 * the session, the page, COMMIT). The page is `readEventPage`'s (the same
 * window over `data_bytes`, the same cut: a row past `maxBytes` comes with its
 * seq only), beside the session's columns on every row, or on one row with
 * no event when there is none after `after`. No row: no such session.
 */
export function readStreamPage(
  pg: Sql,
  sessionId: string,
  page: { after: number; limit: number; maxBytes: number; rowOverheadBytes: number },
): Promise<StreamPageRow[]> {
  const { after, limit, maxBytes, rowOverheadBytes } = page;
  return pg<StreamPageRow[]>`
    select h.sid, h.stream_content_type, h.closed_at, h.last_seq, h.ttl_ms, h.expires_at, h.history_start,
      ${streamExpired(pg)} as stream_expired,
      p.seq, p.type, case when p.n = 1 or p.upto <= ${maxBytes} then p.data::text end as data, p.version, p.created_at
    from sessions h left join lateral (
      select seq, type, data, version, created_at, row_number() over w as n,
        sum(data_bytes + octet_length(type) + ${rowOverheadBytes}) over w as upto
      from events
      where session_sid = h.sid and seq > ${after}
      window w as (order by seq)
      order by seq
      limit ${limit}
    ) p on true
    where h.id = ${sessionId} and h.deleted_at is null
    order by p.seq`;
}
