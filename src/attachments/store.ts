import { uuidv7 } from 'uuidv7';
import { type Db, type Sql, type Tx } from '../db/client.js';
import type { NewEvent } from '../events/append.js';
import { type ApiError, AttachmentNotFound, SessionNotFound } from '../errors.js';
import { checkFence } from '../leases/fence.js';
import { type SessionRow } from '../sessions/store.js';
import { findSessionRow, lockSessionRow } from '../sessions/statements.js';
import type { AttachmentBytes, BlobRef } from './bytes.js';
import {
  type AttachmentRow,
  findAttachmentRow,
  finishUploadRow,
  insertUploadRow,
  listAttachmentRows,
  lockAttachmentRow,
  markAttachmentCommitted,
  moveSessionExpiry,
  renewAttachmentIntent,
} from './statements.js';
import type { AttachmentView } from './view.js';
import { EVENT } from 'session-sync/client/protocol';

export interface AttachmentRecord extends AttachmentView {
  blob: BlobRef;
}

function toView(row: AttachmentRow): AttachmentView {
  return {
    attachment_id: row.attachmentId,
    size: row.size,
    content_type: row.contentType,
    // Content-addressed: the id is the digest.
    sha256: row.attachmentId,
    committed: row.committed,
    created_at: row.createdAt.toISOString(),
  };
}

const toRecord = (row: AttachmentRow): AttachmentRecord => ({ ...toView(row), blob: { id: row.id, chunkBytes: row.chunkBytes } });

/** Thrown to roll an upload back when its bytes are already stored on the session. */
class AlreadyStored extends Error {
  constructor(readonly view: AttachmentView) {
    // Stryker disable next-line StringLiteral: caught by uploadAttachment and never shown
    super('already stored');
  }
}

export interface Upload {
  sessionId: string;
  contentType: string;
  body: AsyncIterable<Buffer>;
  maxBytes: number;
  chunkBytes: number;
  leaseToken: string | undefined;
}

/**
 * Stores an upload in one transaction: its bytes as they arrive, then, with
 * the session locked only for that last moment, its row under the content's
 * digest. A client that goes away halfway rolls all of it back. The session
 * row is not locked while the bytes flow (the row's foreign key is checked at
 * commit), so writers of the session never wait for an upload.
 */
export async function uploadAttachment(
  db: Db,
  bytes: AttachmentBytes,
  upload: Upload,
): Promise<AttachmentView> {
  try {
    const view = await db.begin(async (tx) => {
      const session = await findSessionRow(tx, upload.sessionId);
      if (!session || session.streamExpired) throw new SessionNotFound(upload.sessionId);
      // Refused before any byte is stored; checked again under the lock.
      checkFence(session, upload.leaseToken);
      const blobId = await insertUploadRow(tx, session.sid, `upload:${uuidv7()}`, upload.contentType, upload.chunkBytes);
      const stored = await bytes.write(tx, blobId, upload.body, upload.maxBytes);
      const locked = await lockSessionRow(tx, upload.sessionId);
      if (!locked || locked.sid !== session.sid || locked.streamExpired) throw new SessionNotFound(upload.sessionId);
      checkFence(locked, upload.leaseToken);
      const existing = await findAttachment(tx, locked.sid, stored.sha256);
      if (existing) throw new AlreadyStored(existing);
      await moveSessionExpiry(tx, locked.sid);
      const done = await finishUploadRow(tx, blobId, stored.sha256, stored.size);
      if (!done) throw new Error('attachment vanished during its upload');
      return toView(done);
    });
    return view;
  } catch (error) {
    if (!(error instanceof AlreadyStored)) throw error;
    return uploadedAgain(db, upload.sessionId, error.view);
  }
}

/**
 * Bytes already on the session: a write all the same (the session's expiry
 * moves), and an uncommitted attachment's intent starts over, so the sweep
 * does not take it from under the worker; created_at stays the first upload's.
 */
async function uploadedAgain(db: Db, sessionId: string, view: AttachmentView): Promise<AttachmentView> {
  return db.begin(async (tx) => {
    const session = await lockSessionRow(tx, sessionId);
    if (!session || session.streamExpired) return view;
    await moveSessionExpiry(tx, session.sid);
    // Stryker disable next-line ConditionalExpression: the update below matches uncommitted rows only, so for a committed one it finds none and the same view is returned; the check only saves the statement
    if (view.committed) return view;
    const renewed = await renewAttachmentIntent(tx, session.sid, view.attachment_id);
    return renewed ? toView(renewed) : view;
  });
}

export async function findAttachment(pg: Sql, sid: number, attachmentId: string): Promise<AttachmentRecord | undefined> {
  const row = await findAttachmentRow(pg, sid, attachmentId);
  return row ? toRecord(row) : undefined;
}

export async function listAttachments(
  pg: Sql,
  sid: number,
  { limit, afterId }: { limit: number; afterId?: number },
): Promise<{ attachments: AttachmentView[]; nextId: number | undefined }> {
  const rows = await listAttachmentRows(pg, sid, afterId, limit + 1);
  const page = rows.slice(0, limit);
  return { attachments: page.map(toView), nextId: rows.length > limit ? page[page.length - 1]?.id : undefined };
}

/**
 * Commits attachments of a session whose row the caller has locked; returns
 * the `attachment.committed` events of those not committed before. A row the
 * sweep deleted meanwhile is not found (the update finds nothing), never half
 * committed (the sweep skips a locked row, then sees it committed). `part` names the turn part in a refusal.
 */
export async function commitAttachments(
  tx: Tx,
  session: SessionRow,
  attachmentIds: string[],
  part?: string,
): Promise<NewEvent[]> {
  const events: NewEvent[] = [];
  for (const [index, attachmentId] of attachmentIds.entries()) {
    const row = await lockAttachmentRow(tx, session.sid, attachmentId);
    if (!row) {
      const error: ApiError = new AttachmentNotFound(attachmentId);
      // Stryker disable next-line ConditionalExpression: without a part, { part: undefined, index: undefined } answers the same: an undefined member is left out of the JSON problem
      if (part) Object.assign(error.extra, { part, index });
      throw error;
    }
    if (row.committed) continue;
    await markAttachmentCommitted(tx, row.id);
    const { committed: _committed, ...view } = toView(row);
    events.push({ type: EVENT.attachmentCommitted, dataJson: JSON.stringify(view) });
  }
  return events;
}
