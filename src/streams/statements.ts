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
