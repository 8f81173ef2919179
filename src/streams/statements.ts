import type { Sql } from '../db/client.js';

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
