import type { Writable } from 'node:stream';
import type { Sql } from '../db/client.js';
import { nowMinusMs } from '../db/clock.js';

/*
 * Every statement of the attachment feature: the metadata rows, and the
 * chunks that hold the bytes. An upload's row carries a placeholder id
 * (`upload:<uuid>`) until its bytes are stored and their digest is known.
 */

/** An attachment's row as the feature reads it. */
export interface AttachmentRow {
  id: number;
  attachmentId: string;
  size: number;
  contentType: string;
  chunkBytes: number;
  committed: boolean;
  createdAt: Date;
}

/** The row of an upload whose bytes are still coming: no digest yet, so nobody can name it; returns its id (the blob's key). */
export async function insertUploadRow(pg: Sql, sid: number, placeholderId: string, contentType: string, chunkBytes: number): Promise<number> {
  const [row] = await pg<{ id: number }[]>`
    insert into attachments (session_sid, attachment_id, size, content_type, chunk_bytes)
    values (${sid}, ${placeholderId}, 0, ${contentType}, ${chunkBytes})
    returning id`;
  if (!row) throw new Error('attachment insert returned no row');
  return row.id;
}

/** The upload's bytes are stored: its row takes their digest as its id, and their size. */
export async function finishUploadRow(pg: Sql, id: number, sha256: string, size: number): Promise<AttachmentRow | undefined> {
  const [row] = await pg<AttachmentRow[]>`
    update attachments set attachment_id = ${sha256}, size = ${size}
    where id = ${id}
    returning id, attachment_id, size, content_type, chunk_bytes, committed, created_at`;
  return row;
}

/** An upload is a write: like every write, it moves the session's `expires_at` (`updated_at` + ttl_ms). */
export async function moveSessionExpiry(pg: Sql, sid: number): Promise<void> {
  await pg`update sessions set updated_at = now() where sid = ${sid}`;
}

/** The uncommitted attachment's intent starts over (a commit is on its way); a committed one is left as it is. */
export async function renewAttachmentIntent(pg: Sql, sid: number, attachmentId: string): Promise<AttachmentRow | undefined> {
  const [row] = await pg<AttachmentRow[]>`
    update attachments set intent_at = now()
    where session_sid = ${sid} and attachment_id = ${attachmentId} and committed = false
    returning id, attachment_id, size, content_type, chunk_bytes, committed, created_at`;
  return row;
}

/** The session's attachment of that id (its digest), committed or not. */
export async function findAttachmentRow(pg: Sql, sid: number, attachmentId: string): Promise<AttachmentRow | undefined> {
  const [row] = await pg<AttachmentRow[]>`
    select id, attachment_id, size, content_type, chunk_bytes, committed, created_at
    from attachments
    where session_sid = ${sid} and attachment_id = ${attachmentId}`;
  return row;
}

/** The session's attachment of that id, locked until the transaction ends, so the sweep cannot delete it while it is committed. */
export async function lockAttachmentRow(pg: Sql, sid: number, attachmentId: string): Promise<AttachmentRow | undefined> {
  const [row] = await pg<AttachmentRow[]>`
    select id, attachment_id, size, content_type, chunk_bytes, committed, created_at
    from attachments
    where session_sid = ${sid} and attachment_id = ${attachmentId}
    for update`;
  return row;
}

/** Up to `limit` of the session's stored attachments after `afterId` (from the first when undefined), oldest first. */
export async function listAttachmentRows(pg: Sql, sid: number, afterId: number | undefined, limit: number): Promise<AttachmentRow[]> {
  // Uploads in flight are other transactions' rows; only finished ones have a digest.
  return pg<AttachmentRow[]>`
    select id, attachment_id, size, content_type, chunk_bytes, committed, created_at
    from attachments
    where session_sid = ${sid} and attachment_id not like 'upload:%'
      ${afterId === undefined ? pg`` : pg`and id > ${afterId}`}
    order by id
    limit ${limit}`;
}

/** The attachment is committed: the sweep no longer takes it. */
export async function markAttachmentCommitted(pg: Sql, id: number): Promise<void> {
  await pg`update attachments set committed = true where id = ${id}`;
}

/** Deletes uncommitted attachments whose intent is older than `ttlMs` (their chunks go with them); returns how many. */
export async function deleteExpiredIntents(pg: Sql, ttlMs: number): Promise<number> {
  const deleted = await pg`
    delete from attachments
    where committed = false and attachment_id not like 'upload:%' and intent_at < ${nowMinusMs(pg, ttlMs)}`;
  return deleted.count;
}

/**
 * Where an upload's chunks go: one `COPY ... FROM STDIN (FORMAT binary)`,
 * whose stream takes the binary COPY framing and the bytes. The bytes reach
 * the socket as they are, where a bytea parameter would be sent as hex text
 * (twice the size, in strings the garbage collector frees late), and the
 * stream's backpressure reaches the client's socket.
 */
export async function openChunkCopy(pg: Sql): Promise<Writable> {
  return pg`copy attachment_chunks (blob_id, n, data) from stdin (format binary)`.writable();
}

/**
 * `length` bytes from `offset` (0-based) of the blob's chunk `n`; null or
 * empty when the chunk is gone. `substring` of an uncompressed (EXTERNAL)
 * bytea reads only the slice from disk.
 */
export async function readChunkSlice(pg: Sql, blobId: number, n: number, offset: number, length: number): Promise<Buffer | null | undefined> {
  const [row] = await pg<{ data: Buffer | null }[]>`
    select substring(data from ${offset + 1} for ${length}) as data from attachment_chunks where blob_id = ${blobId} and n = ${n}`;
  return row?.data;
}

// ---- import: the rows of a copy, inside the import's one transaction (history/import.ts)

/** An attachment as an export file carries it (history/export-format.ts). */
export interface ImportedAttachment {
  attachment_id: string;
  size: number;
  content_type: string;
  committed: boolean;
  created_at: string;
}

/** An attachment's row, its bytes to follow in `chunkBytes` chunks; undefined when the file named it already. */
export async function insertImportedAttachment(pg: Sql, sid: number, attachment: ImportedAttachment, chunkBytes: number): Promise<number | undefined> {
  const [row] = await pg<{ id: number }[]>`
    insert into attachments (session_sid, attachment_id, size, content_type, chunk_bytes, committed, created_at)
    values (${sid}, ${attachment.attachment_id}, ${attachment.size}, ${attachment.content_type},
      ${chunkBytes}, ${attachment.committed}, ${attachment.created_at}::timestamptz)
    on conflict do nothing
    returning id`;
  return row?.id;
}
