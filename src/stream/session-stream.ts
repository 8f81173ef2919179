import { setTimeout } from 'node:timers/promises';
import { LIVE_EVENT } from 'session-sync/client/protocol';
import { readActivity } from '../activity/store.js';
import type { ActivityView } from '../activity/view.js';
import type { Db } from '../db/client.js';
import type { EventRowPage } from '../events/read.js';
import { CursorAhead, CursorExpired } from '../errors.js';
import { getSession, getSessionHead } from '../sessions/store.js';
import type { StreamAdmission } from './admission.js';
import type { SessionTails } from './session-tails.js';
import { liveFrame, type SseWriter } from './sse.js';
import { cursorExpiredFrame, type SessionTail, type Subscriber, toFrame } from './tail.js';

/*
 * One session's stream, the replay-and-join protocol (docs/API.md "Streams"):
 * 1. admit: find the session, register the subscriber with the session's
 *    tail, then read the head B and check the cursor against it. Registering
 *    first means anything committed after B wakes the tail: nothing falls in
 *    between. Refusals (404, 409 cursor_ahead, 410 cursor_expired) happen
 *    here, before the response is opened, so they are problem documents.
 * 2. replay: the history after the cursor up to B, page by page.
 * 3. mark: one `session.activity` carrying `cursor: B` (the client's "caught up").
 * 4. join: catch up with the shared tail on its own, then join it; or end
 *    there (`live=false`), or with the deletion notice that came meanwhile.
 */

const CATCH_UP_RETRY_MS = 50;
/** History goes out in chunks of about this size: few syscalls, little memory per stream. */
const HISTORY_CHUNK_CHARS = 64 * 1024;

export interface SessionStreamContext {
  db: Db;
  sessionTails: SessionTails;
  admission: StreamAdmission;
  readEventRows: (sid: number, after: number, limit: number) => Promise<EventRowPage>;
  pageSize: number;
  /** Bytes a page and its frames may hold until the socket takes them (reserved from the row budget first). */
  pageReservation: number;
}

/** A stream admitted (step 1): its subscriber is registered; `cancel` unregisters it if the stream never opens. */
export interface AdmittedStream {
  sid: number;
  tail: SessionTail;
  subscriber: Subscriber;
  /** B: the replay ends here. */
  head: number;
  activity: ActivityView;
  cancel: () => void;
}

/** Step 1; throws the refusal (session not found, cursor ahead of B or below the history's start). */
export async function admitSessionStream(ctx: SessionStreamContext, id: string, requested: number | 'now'): Promise<AdmittedStream> {
  const session = await getSession(ctx.db, id);
  const { tail, subscriber } = ctx.sessionTails.subscribe(id, session.sid, 0);
  const cancel = () => ctx.sessionTails.unsubscribe(tail, subscriber);
  try {
    const [head, activity] = await Promise.all([getSessionHead(ctx.db, session.sid, id), readActivity(ctx.db, session.sid)]);
    const cursor = requested === 'now' ? head.lastSeq : requested;
    if (cursor > head.lastSeq) throw new CursorAhead(cursor, head.lastSeq);
    if (cursor < head.historyStart) throw new CursorExpired(cursor, head.historyStart);
    subscriber.lastSeq = cursor;
    return { sid: session.sid, tail, subscriber, head: head.lastSeq, activity, cancel };
  } catch (error) {
    cancel();
    throw error;
  }
}

/** Steps 2 to 4 on an open writer; returns when the stream has joined the tail or ended. */
export async function runSessionStream(ctx: SessionStreamContext, stream: AdmittedStream, writer: SseWriter, live: boolean): Promise<void> {
  const { subscriber, tail, sid, head } = stream;
  subscriber.writer = writer;
  await sendHistory(ctx, writer, subscriber, sid, head);
  writer.push(liveFrame(LIVE_EVENT.activity, { ...stream.activity, cursor: head }));
  if (subscriber.finalFrame) {
    writer.push(subscriber.finalFrame);
    writer.end('session deleted');
    return;
  }
  if (!live) {
    writer.end('replay complete');
    return;
  }
  while (!writer.closed && !tail.tryJoin(subscriber)) {
    // No rows although the tail is ahead: the session is being deleted and its notice is on the way.
    if ((await sendHistory(ctx, writer, subscriber, sid)) === 0) await setTimeout(CATCH_UP_RETRY_MS);
  }
}

/**
 * Sends the subscriber's history after its lastSeq, page by page, waiting
 * for the socket to drain between pages; stops after `upTo` when given.
 * Returns the events sent.
 */
async function sendHistory(ctx: SessionStreamContext, writer: SseWriter, subscriber: Subscriber, sid: number, upTo = Infinity): Promise<number> {
  const budget = ctx.admission.rowBudget;
  let sent = 0;
  while (!writer.closed && subscriber.lastSeq < upTo) {
    const release = await budget.acquire(ctx.pageReservation, (cancel) => writer.onClose(cancel));
    try {
      if (writer.closed) break;
      const page = await ctx.readEventRows(sid, subscriber.lastSeq, ctx.pageSize);
      if (page.historyStart !== undefined && page.historyStart > subscriber.lastSeq) {
        // Trimmed while this stream replayed: say so and end, never skip ahead.
        writer.push(cursorExpiredFrame(subscriber.lastSeq, page.historyStart));
        writer.end('cursor expired');
        return sent;
      }
      const rows = page.rows.filter((r) => r.seq <= upTo);
      if (rows.length === 0) break;
      let chunk = '';
      for (const row of rows) {
        chunk += toFrame(row);
        if (chunk.length >= HISTORY_CHUNK_CHARS || row === rows[rows.length - 1]) {
          if (!(await writer.writePaced(chunk, () => budget.contended))) return sent;
          chunk = '';
        }
        subscriber.lastSeq = row.seq;
        sent++;
      }
      if (page.rows.length < ctx.pageSize && !page.cut) break;
    } finally {
      release();
    }
  }
  return sent;
}
