import { DS_HEADER } from 'session-sync/client/protocol';
import { type Db, type Sql } from '../db/client.js';
import { CursorExpired, InvalidRequest, SessionClosed, SessionNotFound, SessionDeleted, SessionExists, StreamExists, ContentTypeMismatch, StreamSeqConflict } from '../errors.js';
import { startEventAppend } from '../events/append.js';
import { type EventRow, eventRowsOf, ROW_OVERHEAD_BYTES } from '../events/read.js';
import { insertSession, isSoftDeleted, type SessionRow } from '../sessions/store.js';
import { findSessionRow } from '../sessions/statements.js';
import { createSession, type SessionWriter, writeSession } from '../writes/session-write.js';
import { contentTypeKey, eventsOf, type MessageLimits, NATIVE_CONTENT_TYPE } from './messages.js';
import { notify } from '../wakeups/wakeups.js';
import { offsetOf, type ReadFrom } from './offsets.js';
import { judgeProducer, type ProducerVerdict, settleProducer } from './producer-append.js';
import type { ProducerClaim } from './producers.js';
import { readStreamPage, updateStreamColumns } from './statements.js';
import { checkStreamSeq } from './stream-seq.js';
import { applyStreamExpiry, expiryDifference, expiryOf, findStream, slideOnAccess, StreamExpired, type StreamExpiryConfig } from './stream-expiry.js';

/*
 * The Durable Streams face's domain: a stream is a session, its messages the
 * session's durable events, written through the session write path (its
 * queue, group commit, row lock and wakeups) like every native write.
 */

/** What a stream answers with in its headers. */
export interface StreamHead {
  sid: number;
  contentType: string;
  closed: boolean;
  /** Seq of the last event: the tail offset is `offsetOf(lastSeq)`. */
  lastSeq: number;
  /** Its TTL or fixed expiry (`stream-expiry.ts`). */
  expiry: StreamExpiryConfig;
}

export function headOf(row: Pick<SessionRow, 'sid' | 'streamContentType' | 'closedAt' | 'lastSeq' | 'ttlMs' | 'expiresAt'>): StreamHead {
  return {
    sid: row.sid,
    contentType: row.streamContentType ?? NATIVE_CONTENT_TYPE,
    closed: row.closedAt !== null,
    lastSeq: row.lastSeq,
    expiry: expiryOf(row),
  };
}

export interface StreamWriter extends SessionWriter {
  db: Db;
}

export interface StreamSettings extends MessageLimits {
  idempotencyTtlMs: number;
}

export interface CreateInput {
  sessionId: string;
  /** As compared: `contentTypeKey`. */
  contentType: string;
  closed: boolean;
  body: Buffer;
  /** `Stream-TTL` / `Stream-Expires-At` as stored (`expiryColumns`). */
  expiry: StreamExpiryConfig;
}

/**
 * PUT: makes the session with its first messages (201), or finds it made with
 * the same Content-Type, closure and expiry (200); another configuration is
 * 409. A stream past its expiry is replaced: the PUT makes a new one.
 */
export async function createStream(
  writer: StreamWriter,
  input: CreateInput,
  settings: StreamSettings,
): Promise<{ created: boolean; head: StreamHead }> {
  const existing = await findSessionRow(writer.db, input.sessionId);
  // One past its expiry is absent: the insert below takes its place (`insertSession`).
  if (existing && !existing.streamExpired) return { created: false, head: sameConfig(existing, input) };
  if (await isSoftDeleted(writer.db, input.sessionId)) throw new SessionDeleted(input.sessionId, 409);
  const events = eventsOf(input.contentType, input.body, settings, true);
  const create = { sessionId: input.sessionId, named: true, idempotencyTtlMs: settings.idempotencyTtlMs };
  try {
    // The protocol's own retry rules stand in for Idempotency-Key here: no key, so no stored answer.
    const outcome = await createSession(writer, create, {}, async (tx) => {
      const row = await insertSession(tx, { id: input.sessionId, parentId: null, metadata: {}, encoding: 'json' });
      if (!row) return undefined;
      await updateStreamColumns(tx, row.sid, { contentType: input.contentType, close: input.closed });
      await applyStreamExpiry(tx, row.sid, input.expiry);
      // Appended before the close takes effect: the row as inserted is open.
      const sent = startEventAppend(tx, row, events);
      const head: StreamHead = {
        sid: row.sid,
        contentType: input.contentType,
        closed: input.closed,
        lastSeq: sent?.lastSeq ?? row.lastSeq,
        expiry: input.expiry,
      };
      return { status: 201, body: head, pending: sent?.pending };
    });
    return { created: true, head: outcome.body as StreamHead };
  } catch (error) {
    if (!(error instanceof SessionExists)) throw error;
    // Another PUT made it meanwhile: the same answer as if it had come first.
    const raced = await findSessionRow(writer.db, input.sessionId);
    if (!raced) throw error;
    return { created: false, head: sameConfig(raced, input) };
  }
}

function sameConfig(row: SessionRow, input: CreateInput): StreamHead {
  const head = headOf(row);
  if (head.contentType !== input.contentType) throw new StreamExists(row.id, `with Content-Type ${head.contentType}`);
  if (head.closed !== input.closed) throw new StreamExists(row.id, head.closed ? 'closed' : 'open');
  const difference = expiryDifference(head.expiry, input.expiry);
  if (difference !== undefined) throw new StreamExists(row.id, difference);
  return head;
}

export interface AppendInput {
  sessionId: string;
  /** The request's Content-Type header as sent; undefined for a close-only append. */
  contentType: string | undefined;
  body: Buffer;
  close: boolean;
  streamSeq: string | undefined;
  /** The request's Producer-Id/Epoch/Seq (PROTOCOL §5.2.1), if it sent them. */
  producer?: ProducerClaim;
}

/** The stream after an append, and for a producer's request what was decided (accepted or a duplicate). */
export interface AppendedHead extends StreamHead {
  producer?: ProducerVerdict;
}

/**
 * POST: appends the body's messages as durable events and, with `close`,
 * closes the session in the same transaction. Refused in the protocol's order:
 * a producer's claim (producer-append.ts: fenced, closed, duplicate, gap),
 * closed (409 with `Stream-Closed`), Content-Type, `Stream-Seq`.
 */
export async function appendStream(writer: StreamWriter, input: AppendInput, settings: StreamSettings): Promise<AppendedHead> {
  const write = { sessionId: input.sessionId, idempotencyTtlMs: settings.idempotencyTtlMs };
  const outcome = await writeSession(writer, write, {}, async (tx, session) => {
    const head = headOf(session);
    // A producer's request is judged first: a fenced one is told so even on a closed stream, and a
    // duplicate is acknowledged before any check of what it carries (it appends nothing).
    const producer = input.producer && (await judgeProducer(tx, session, input.producer));
    if (producer?.kind === 'duplicate') return { status: 204, body: { ...head, producer } };
    if (head.closed) {
      // Closing again is a no-op that succeeds (PROTOCOL.md §5.3); appending is not.
      if (input.close && input.body.length === 0) {
        // An access all the same: it slides the idle window as the close did.
        await slideOnAccess(tx, head);
        return { status: 204, body: head };
      }
      throw new SessionClosed(session.id, { [DS_HEADER.closed]: 'true', [DS_HEADER.nextOffset]: offsetOf(head.lastSeq) });
    }
    if (input.body.length > 0) {
      const sent = input.contentType === undefined ? undefined : contentTypeKey(input.contentType);
      if (sent !== head.contentType) throw new ContentTypeMismatch(sent, head.contentType);
    }
    if (input.streamSeq !== undefined && session.streamSeq !== null && checkStreamSeq(session.streamSeq, input.streamSeq) === 'regression') {
      throw new StreamSeqConflict(input.streamSeq, session.streamSeq);
    }
    const events = eventsOf(head.contentType, input.body, settings, false);
    const sent = startEventAppend(tx, session, events);
    if (input.close || input.streamSeq !== undefined) {
      await updateStreamColumns(tx, session.sid, { close: input.close, streamSeq: input.streamSeq });
    }
    // A close appends no row, yet readers waiting at the tail must learn of it (they re-read `closed_at`
    // when woken): the same wakeup an append sends, at the unchanged head. With messages, theirs does it
    // (and if that wakeup is lost, the head poll sees the head move). A bare close moves no head for the
    // poll to see, so its notice goes in the transaction, as a delete's does: it arrives if the close
    // commits. Once per stream, it costs nothing of the append path's (no NOTIFY in append commits).
    if (input.close && !sent) await notify(tx, { kind: 'append', session_id: session.id, seq: head.lastSeq });
    if (producer && input.producer) await settleProducer(tx, session.sid, input.producer, producer.state, input.close);
    const after: AppendedHead = { ...head, closed: input.close, lastSeq: sent?.lastSeq ?? head.lastSeq, producer };
    return { status: 204, body: after, pending: sent?.pending };
  });
  return outcome.body as AppendedHead;
}

/** HEAD: 404 `session_not_found` when there is none or it has expired (HEAD does not slide a TTL, PROTOCOL §5.1). */
export async function streamHead(db: Sql, sessionId: string): Promise<StreamHead> {
  return headOf(await findStream(db, sessionId));
}

export interface StreamPage {
  head: StreamHead;
  /** Where the read started (after this seq). */
  after: number;
  rows: EventRow[];
  /** Seq the next read starts after. */
  nextSeq: number;
  /** The page reaches the tail. */
  upToDate: boolean;
}

/**
 * A catch-up read: events after the offset, bounded by count and bytes like a
 * native page. An offset past the tail is 400, one below the kept history 410.
 */
export async function readStream(
  db: Db,
  sessionId: string,
  from: ReadFrom,
  page: { limit: number; maxBytes: number },
): Promise<StreamPage> {
  let read: StreamPage;
  if ('tail' in from) {
    const head = headOf(await findStream(db, sessionId));
    read = { head, after: head.lastSeq, rows: [], nextSeq: head.lastSeq, upToDate: true };
  } else {
    const { after } = from;
    // The head and the page as of one moment (one statement): `closed` and the rows agree.
    const raw = await readStreamPage(db, sessionId, { after, ...page, rowOverheadBytes: ROW_OVERHEAD_BYTES });
    const session = raw[0];
    if (!session) throw new SessionNotFound(sessionId);
    if (session.streamExpired) throw new StreamExpired(sessionId);
    const head = headOf(session);
    if (after > head.lastSeq) {
      throw new InvalidRequest(`offset ${offsetOf(after)} is beyond the tail of the stream, ${offsetOf(head.lastSeq)}`, [
        { in: 'querystring', field: '/offset', message: 'is beyond the tail' },
      ]);
    }
    if (after < session.historyStart) throw new CursorExpired(after, session.historyStart);
    const { rows } = eventRowsOf(raw);
    const nextSeq = rows.at(-1)?.seq ?? after;
    read = { head, after, rows, nextSeq, upToDate: nextSeq === head.lastSeq };
  }
  // Every read slides a TTL (catch-up, offset=now, each page of a live read), after it (the read writes nothing).
  await slideOnAccess(db, read.head);
  return read;
}
