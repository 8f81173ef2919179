import { EVENT } from 'session-sync/client/protocol';
import type { Tx } from '../db/client.js';
import type { ForkedFrom } from '../db/schema.js';
import { ContentTypeMismatch, CursorExpired, ForkHasState, InvalidRequest, SessionDeleted, SessionExists, SessionNotFound, StreamExists } from '../errors.js';
import { type NewEvent, startEventAppend } from '../events/append.js';
import { pageBytesFor, readEventRows } from '../events/read.js';
import { deleteSession, insertSession, isSoftDeleted, type SessionRow, softDeleteSession } from '../sessions/store.js';
import { findSessionRow, holdStreamForks, lockSessionRowAny } from '../sessions/statements.js';
import { createSession, writeSession } from '../writes/session-write.js';
import { bytesForkPrefix, jsonForkPrefix } from './fork-offsets.js';
import { bytesOf, eventsOf, isJsonStream } from './messages.js';
import { offsetOf, type ReadFrom } from './offsets.js';
import { copyForkHistory, updateStreamColumns } from './statements.js';
import { headOf, type StreamHead, type StreamSettings, type StreamWriter } from './store.js';
import { applyStreamExpiry, expiryDifference, expiryOf, type StreamExpiryConfig } from './stream-expiry.js';

/*
 * Durable Streams forks (PROTOCOL §4.2) and the soft delete of their sources.
 *
 * A fork is a session of its own whose history starts as a copy of the
 * source's events up to the fork offset, with the same seqs (one INSERT ...
 * SELECT), so every offset up to the fork point reads the same on both. A
 * sub-offset takes k more messages (JSON: k more events, copied too) or k
 * more bytes (the whole chunks copied, a chunk it cuts written as one event
 * holding the cut). From there the fork is any stream: its own appends, its
 * own tail and wakeups (a source append never reaches it), no producer state
 * or Stream-Seq, open even when the source is closed. `parent_id` names the
 * source and `forked_from` `{session_id, seq, sub_offset}`.
 *
 * Deleting a source with forks keeps its row (`deleted_at`): the protocol's
 * visible soft delete (410 on reads and writes, 409 on PUT and fork). The
 * forks need nothing of it (their rows are copies); the row goes when its last
 * fork does (`sessions/store.ts` `deleteSession`).
 */

export interface ForkInput {
  sessionId: string;
  /** The source's session id (from `Stream-Forked-From`). */
  sourceId: string;
  /** `Stream-Fork-Offset`; null: the source's tail. */
  offset: ReadFrom | null;
  subOffset: number;
  /** The request's Content-Type (as compared); undefined inherits the source's. */
  contentType: string | undefined;
  closed: boolean;
  /** The PUT's body, appended after what the fork inherits. */
  body: Buffer;
  /** The PUT's own `Stream-TTL` / `Stream-Expires-At`; none inherits the source's (§4.2). */
  expiry: StreamExpiryConfig;
}

/**
 * PUT with `Stream-Forked-From`: makes the fork (201), or finds it made from
 * the same source, offset and sub-offset, Content-Type and closure (200);
 * anything else under that path is 409.
 */
export async function forkStream(writer: StreamWriter, input: ForkInput, settings: StreamSettings): Promise<{ created: boolean; head: StreamHead }> {
  const existing = await findSessionRow(writer.db, input.sessionId);
  // One past its expiry is absent: the insert takes its place, as for a plain PUT.
  if (existing && !existing.streamExpired) return { created: false, head: sameFork(existing, input) };
  // Stryker disable next-line BooleanLiteral: `named` only scopes an Idempotency-Key, and this face takes none
  const create = { sessionId: input.sessionId, named: true, idempotencyTtlMs: settings.idempotencyTtlMs };
  try {
    const outcome = await createSession(writer, create, {}, async (tx) => {
      const head = await makeFork(tx, input, settings);
      return head && { status: 201, body: head.head, pending: head.pending };
    });
    return { created: true, head: outcome.body as StreamHead };
  } catch (error) {
    if (!(error instanceof SessionExists)) throw error;
    const raced = await findSessionRow(writer.db, input.sessionId);
    if (raced) return { created: false, head: sameFork(raced, input) };
    await refuseIfSoftDeleted(writer, input.sessionId);
    throw error;
  }
}

/** A PUT of a soft-deleted path: 409, it would bring it back (§4.2). */
export async function refuseIfSoftDeleted(writer: StreamWriter, sessionId: string): Promise<void> {
  if (await isSoftDeleted(writer.db, sessionId)) throw new SessionDeleted(sessionId, 409);
}

async function makeFork(
  tx: Tx,
  input: ForkInput,
  settings: StreamSettings,
): Promise<{ head: StreamHead; pending: Promise<unknown> | undefined } | undefined> {
  // Locked, not only read: its tail holds still while it is copied, and a DELETE of it waits for this fork
  // to commit, then finds the fork and soft-deletes (or, first, deletes it: this then finds no source).
  const source = await lockSessionRowAny(tx, input.sourceId);
  if (!source) throw new SessionNotFound(input.sourceId);
  if (source.deletedAt !== null) throw new SessionDeleted(source.id, 409);
  if (source.version > 0 || source.messageSeq > 0) throw new ForkHasState(source.id);
  const { contentType } = headOf(source);
  if (input.contentType !== undefined && input.contentType !== contentType) throw new ContentTypeMismatch(input.contentType, contentType);
  const seq = forkSeq(source, input.offset);
  const cut = await subOffsetCut(tx, source, contentType, seq, input.subOffset, settings);

  const forkedFrom: ForkedFrom = { session_id: source.id, seq, sub_offset: input.subOffset };
  const row = await insertSession(tx, { id: input.sessionId, parentId: source.id, metadata: {}, encoding: source.encoding, retention: source.retention, forkedFrom });
  if (!row) return undefined;
  await copyForkHistory(tx, { forkSid: row.sid, sourceSid: source.sid, historyStart: source.historyStart, upTo: cut.copyTo, contentType });
  const expiry = hasExpiry(input.expiry) ? input.expiry : expiryOf(source);
  await applyStreamExpiry(tx, row.sid, expiry);
  const events = [...cut.events, ...eventsOf(contentType, input.body, settings, true)];
  const sent = startEventAppend(tx, { ...row, lastSeq: cut.copyTo }, events);
  if (input.closed) await updateStreamColumns(tx, row.sid, { close: true });
  return { head: { sid: row.sid, contentType, closed: input.closed, lastSeq: sent?.lastSeq ?? cut.copyTo, expiry }, pending: sent?.pending };
}

/**
 * A fork's expiry (§4.2): its own when the PUT gives one, longer than the
 * source's or not (no capping: a fork may outlive its source); else the
 * source's, the same idle window on the fork's own clock or the same fixed
 * time.
 */
const hasExpiry = (expiry: StreamExpiryConfig) => expiry.ttlMs !== null || expiry.expiresAt !== null;

/** The seq the fork copies up to: the offset's, or the source's tail; past the tail 400, below the kept history 410. */
function forkSeq(source: SessionRow, offset: ReadFrom | null): number {
  const seq = offset === null || 'tail' in offset ? source.lastSeq : offset.after;
  if (seq > source.lastSeq) {
    throw new InvalidRequest(`Stream-Fork-Offset ${offsetOf(seq)} is beyond the tail of the source, ${offsetOf(source.lastSeq)}`, [
      { in: 'headers', field: '/stream-fork-offset', message: 'is beyond the tail of the source' },
    ]);
  }
  if (seq < source.historyStart) throw new CursorExpired(seq, source.historyStart);
  return seq;
}

/** How far the copy goes and what is written after it for a sub-offset (fork-offsets.ts has the rules). */
async function subOffsetCut(
  tx: Tx,
  source: SessionRow,
  contentType: string,
  seq: number,
  subOffset: number,
  settings: StreamSettings,
): Promise<{ copyTo: number; events: NewEvent[] }> {
  const json = isJsonStream(contentType);
  // Each event is one message of a JSON stream and at least one byte of any other: never more than k rows.
  const rows: { type: string; data: string }[] = [];
  let units = 0;
  let after = seq;
  const maxBytes = pageBytesFor(0, settings.maxEventBytes);
  while (units < subOffset) {
    // Stryker disable next-line MethodExpression,ArithmeticOperator: a larger limit only reads rows past the cut (a cost), which the prefix below leaves out: the same fork
    const page = await readEventRows(tx, source.sid, { after, limit: Math.min(subOffset - units, 256), maxBytes });
    if (page.rows.length === 0) break;
    for (const row of page.rows) {
      rows.push(row);
      units += json ? 1 : bytesOf(row).byteLength;
    }
    after = page.rows.at(-1)?.seq ?? after;
  }
  const refuse = (detail: string) =>
    new InvalidRequest(detail, [{ in: 'headers', field: '/stream-fork-sub-offset', message: 'is past the data after the fork offset' }]);
  if (json) {
    const prefix = jsonForkPrefix(rows, subOffset);
    if (prefix.kind === 'overshoot') throw refuse(prefix.detail);
    return { copyTo: seq + prefix.messages.length, events: [] };
  }
  const prefix = bytesForkPrefix(
    rows.map((row) => bytesOf(row)),
    subOffset,
  );
  if (prefix.kind === 'overshoot') throw refuse(prefix.detail);
  // No size check: the cut is shorter than the source's chunk it comes from.
  const events: NewEvent[] = prefix.partialChunk
    ? [{ type: EVENT.streamBytes, dataJson: JSON.stringify({ base64: prefix.partialChunk.toString('base64') }) }]
    : [];
  return { copyTo: seq + prefix.wholeChunks, events };
}

/** A PUT of a path that exists: the same fork (200) or a conflict (409) naming what differs. */
function sameFork(row: SessionRow, input: ForkInput): StreamHead {
  const head = headOf(row);
  const from = row.forkedFrom;
  if (!from || !('seq' in from) || from.session_id !== input.sourceId) {
    throw new StreamExists(row.id, from && 'seq' in from ? `forked from "${from.session_id}"` : 'not a fork');
  }
  // No offset asks for "the tail when it was forked": a retry finds its fork even after the source moved on.
  const seq = input.offset === null || 'tail' in input.offset ? from.seq : input.offset.after;
  if (seq !== from.seq) throw new StreamExists(row.id, `forked at ${offsetOf(from.seq)}`);
  if (input.subOffset !== from.sub_offset) throw new StreamExists(row.id, `forked at sub-offset ${from.sub_offset}`);
  if (input.contentType !== undefined && input.contentType !== head.contentType) throw new StreamExists(row.id, `with Content-Type ${head.contentType}`);
  if (head.closed !== input.closed) throw new StreamExists(row.id, head.closed ? 'closed' : 'open');
  // A retry without expiry headers took the source's at the time: only an expiry the PUT names is compared.
  const difference = hasExpiry(input.expiry) ? expiryDifference(head.expiry, input.expiry) : undefined;
  if (difference !== undefined) throw new StreamExists(row.id, difference);
  return head;
}

/**
 * DELETE (§4.2): a stream Durable Streams forks of which still live is
 * soft-deleted (its row kept, gone for everyone); otherwise it goes with all
 * it holds, releasing a soft-deleted source it was the last fork of.
 */
export async function deleteStream(writer: StreamWriter, sessionId: string, settings: StreamSettings): Promise<void> {
  const write = { sessionId, idempotencyTtlMs: settings.idempotencyTtlMs };
  await writeSession(writer, write, {}, async (tx, session) => {
    // Under the row lock: a fork being made of it has committed (and is counted) or waits, then finds it gone.
    // Its forks are held until this commits; one being deleted is waited for (sessions/statements.ts).
    if (await holdStreamForks(tx, session.id)) await softDeleteSession(tx, session);
    else await deleteSession(tx, session);
    return { status: 204, body: null };
  });
}
