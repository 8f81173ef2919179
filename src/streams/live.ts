import { ROW_OVERHEAD_BYTES } from '../events/read.js';
import { TooManyStreams } from '../errors.js';
import type { StreamAdmission } from '../stream/admission.js';
import type { SessionTails } from '../stream/session-tails.js';
import type { SseWriter } from '../stream/sse.js';
import type { TailWatcher } from '../stream/tail.js';
import { bodyOf, isJsonStream, jsonMessageOf } from './messages.js';
import { offsetOf, type ReadFrom } from './offsets.js';
import { base64DataFrame, controlFrame, jsonDataFrame, sseDataEncodingFor, textDataFrame } from './sse-frames.js';
import type { SharedReads } from './shared-reads.js';
import type { StreamPage } from './store.js';

/*
 * Live reads of the Durable Streams face (PROTOCOL §5.7 long-poll, §5.8 SSE).
 * A reader at the tail waits on its session's tail (`SessionTails.watch`),
 * woken by the wakeups of appends and closes (LISTEN, every instance), by the
 * head poll and after a LISTEN reconnect; it holds no pool connection while
 * it waits, and reads with one short snapshot query (`readStream`) each time
 * it is woken: the rows and `closed_at` as of one moment, shared with every
 * reader of the same page woken with it (`SharedReads`).
 */

/** §10.2: an SSE read ends after about this long; the client reconnects from its last `streamNextOffset`. */
export const SSE_LIFETIME_MS = 60_000;

export interface LiveContext {
  reads: SharedReads;
  sessionTails: SessionTails;
  admission: StreamAdmission;
  maxStreams: number;
  page: { limit: number; maxBytes: number };
  /** Row-budget bytes one page and its output may hold until the socket takes them (reserved before the read; what the page did not need is given back after it). */
  pageReservation: number;
  longPollMs: number;
}

/**
 * Waits for its tail: `wake` and `end` (the session is gone: the next read
 * says 404) end the wait; one that comes while the reader reads is kept, so
 * the next wait returns at once and nothing committed meanwhile is missed.
 */
class TailWait implements TailWatcher {
  private pending = false;
  private notify: (() => void) | undefined;

  constructor(public seenSeq: number) {}

  wake(): void {
    this.pending = true;
    this.notify?.();
  }

  end(): void {
    this.wake();
  }

  /** Until woken, `ms` passed, or `signal` aborted (the client went away). */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.notify = undefined;
        this.pending = false;
        resolve();
      };
      const timer = setTimeout(done, Math.max(ms, 0));
      signal.addEventListener('abort', done);
      this.notify = done;
    });
  }
}

/** The client went away while its read waited for room: the read is not made (nobody would get it). */
export class ClientGone extends Error {
  constructor() {
    // Stryker disable next-line StringLiteral: never leaves the server: both live routes catch it and answer nobody
    super('the client went away before its page was read');
  }
}

/** A page read with its share of the row budget, released once it is sent (or not needed). */
export interface HeldPage {
  page: StreamPage;
  release: () => void;
}

/**
 * About what a page and the answer made of it hold: its rows as read, and as
 * much again for the body. A reservation at the largest a page can be (two of
 * `pageBytes`, 2 MiB by default) held until a one-message page was sent let
 * only 32 of 200 long-poll readers woken by one append read at a time, in
 * turns, with a 64 MiB budget.
 */
export function heldBytes(page: StreamPage): number {
  let bytes = 0;
  for (const row of page.rows) bytes += row.data.length + row.type.length + ROW_OVERHEAD_BYTES;
  return 2 * bytes;
}

async function readHeld(ctx: LiveContext, sessionId: string, from: ReadFrom, gone?: AbortSignal): Promise<HeldPage> {
  // Gone already (a long-poll's wait ended by its client's going): an abort listener added now would never fire,
  // and the read would wait for room, holding its stream slot, for nobody.
  if (gone?.aborted) throw new ClientGone();
  // A client gone while this waits for room gives its place up; the listener goes once the wait is over
  // (a long SSE read waits here once per wakeup, and must not collect one per read).
  let abandon: (() => void) | undefined;
  const release = await ctx.admission.rowBudget.acquire(
    ctx.pageReservation,
    gone &&
      ((cancel) => {
        abandon = cancel;
        gone.addEventListener('abort', cancel);
      }),
  );
  if (abandon) gone?.removeEventListener('abort', abandon);
  if (gone?.aborted) {
    release();
    throw new ClientGone();
  }
  try {
    const page = await ctx.reads.page(sessionId, from, ctx.page);
    release.shrinkTo(heldBytes(page));
    return { page, release };
  } catch (error) {
    release();
    throw error;
  }
}

/**
 * A long-poll (§5.7): the page after `from` as soon as there is one; at the
 * tail, waits (at most `longPollMs`) for an append or a close, and answers
 * the empty page at the tail if none comes. A closed stream at its tail
 * answers at once. While it waits it holds a `MAX_STREAMS` slot (it holds
 * what a stream holds: a socket, a tail registration, a timer); an answer
 * found at once takes none. `gone` (the client went away) and a shutdown end
 * the wait.
 */
export async function longPoll(ctx: LiveContext, sessionId: string, from: ReadFrom, gone: AbortSignal): Promise<HeldPage> {
  // A shutdown answers the wait as its timeout would: the client polls again, elsewhere, from the same offset.
  const signal = AbortSignal.any([gone, ctx.admission.closing]);
  const session = await ctx.reads.session(sessionId);
  const wait = new TailWait('tail' in from ? session.lastSeq : from.after);
  // Registered before the first read: a commit after that read wakes it.
  const unwatch = ctx.sessionTails.watch(sessionId, session.sid, wait);
  let releaseSlot: (() => void) | undefined;
  try {
    const deadline = Date.now() + ctx.longPollMs;
    let position = from;
    for (;;) {
      // Read once more after a shutdown: its answer is the tail as it is then.
      const held = await readHeld(ctx, sessionId, position, gone);
      const { page } = held;
      const left = deadline - Date.now();
      // Another incarnation of the id (deleted and made again): whatever it holds is the answer now.
      // Stryker disable next-line EqualityOperator: at exactly 0 ms left, a wait of 0 ms and one more read answer the same a millisecond later
      if (page.rows.length > 0 || page.head.closed || page.head.sid !== session.sid || left <= 0 || signal.aborted) return held;
      // Stryker disable next-line CallExpression: a page without rows was shrunk to heldBytes = 0 already; this gives back nothing, but says so
      held.release();
      if (!releaseSlot) {
        releaseSlot = ctx.admission.reserveStream();
        if (!releaseSlot) throw new TooManyStreams(ctx.maxStreams);
      }
      position = { after: page.nextSeq };
      wait.seenSeq = page.nextSeq;
      await wait.wait(left, signal);
    }
  } finally {
    unwatch();
    releaseSlot?.();
  }
}

/** An SSE read admitted: the session found, its tail watched, the first page read (refusals come before the response opens). */
export interface AdmittedSse {
  first: HeldPage;
  wait: TailWait;
  cancel: () => void;
}

/** Finds the session, watches its tail, reads the first page; throws the refusal (404, 400 past the tail, 410). */
export async function admitSse(ctx: LiveContext, sessionId: string, from: ReadFrom): Promise<AdmittedSse> {
  const session = await ctx.reads.session(sessionId);
  const wait = new TailWait('tail' in from ? session.lastSeq : from.after);
  const cancel = ctx.sessionTails.watch(sessionId, session.sid, wait);
  try {
    return { first: await readHeld(ctx, sessionId, from), wait, cancel };
  } catch (error) {
    cancel();
    throw error;
  }
}

/** A data event holding a page's messages: JSON as one array, `text/*` as UTF-8 text, anything else base64. */
function dataFrameOf(contentType: string, page: StreamPage): string {
  // Stryker disable next-line ConditionalExpression: bodyOf makes the same JSON array for a JSON stream, and its UTF-8 text is the same frame (this skips a Buffer)
  if (isJsonStream(contentType)) return jsonDataFrame(page.rows.map(jsonMessageOf));
  const bytes = bodyOf(contentType, page.rows);
  return sseDataEncodingFor(contentType) === 'base64' ? base64DataFrame(bytes) : textDataFrame(bytes.toString('utf8'));
}

/**
 * An SSE read (§5.8) on an open writer: each page as a data event followed by
 * a control event; at the tail, waits on the tail and reads again when woken.
 * The first control comes at once even without data (`upToDate`, for
 * `offset=now`). Once the stream is closed and everything is sent, a final
 * control with `streamClosed` and the response ends; it also ends after
 * `lifetimeMs` (§10.2), when the client goes away, or as a slow reader (the
 * writer's bounds). Pages are written at the client's pace, each holding its
 * share of the row budget until the socket took it.
 */
export async function runSse(
  ctx: LiveContext,
  sessionId: string,
  admitted: AdmittedSse,
  writer: SseWriter,
  options: { cursor: () => string; lifetimeMs: number },
): Promise<void> {
  const { wait } = admitted;
  const endAt = Date.now() + options.lifetimeMs;
  const gone = new AbortController();
  writer.onClose(() => gone.abort());
  let held: HeldPage | undefined = admitted.first;
  let first = true;
  try {
    for (;;) {
      const { page } = held;
      const final = page.head.closed && page.upToDate;
      let out = page.rows.length > 0 ? dataFrameOf(page.head.contentType, page) : '';
      if (out !== '' || first || final) {
        const nextOffset = offsetOf(page.nextSeq);
        out += controlFrame(final ? { nextOffset, closed: true } : { nextOffset, cursor: options.cursor(), upToDate: page.upToDate });
      }
      first = false;
      // Stryker disable next-line ConditionalExpression,StringLiteral: writing '' sends nothing, and on a closed writer returns false, which ends the read as the check below does
      if (out !== '' && !(await writer.writePaced(out, () => ctx.admission.rowBudget.contended))) return;
      held.release();
      held = undefined;
      if (final) {
        writer.end('stream closed');
        return;
      }
      // Stryker disable next-line ConditionalExpression: a closed writer's page had no rows (else its write failed above), so the wait below returns at once (gone aborted) and the check after it ends the read
      if (writer.closed) return;
      const position = { after: page.nextSeq };
      if (
        page.upToDate ||
        // Stryker disable next-line ConditionalExpression: unreachable; a page short of the tail holds a row (an empty one cannot be, but were it so, waiting beats spinning)
        page.rows.length === 0
      ) {
        wait.seenSeq = page.nextSeq;
        // Already past the end (the page took that long to send), the wait returns at once and the check below ends it.
        await wait.wait(endAt - Date.now(), gone.signal);
        // Stryker disable next-line ConditionalExpression: a closed writer aborted `gone`, so readHeld below throws ClientGone, which the route takes as this return
        if (writer.closed) return;
        // Stryker disable next-line EqualityOperator: at exactly endAt, one more read and a wait of 0 ms end the read a millisecond later
        if (Date.now() >= endAt) {
          writer.end('stream lifetime');
          return;
        }
      }
      held = await readHeld(ctx, sessionId, position, gone.signal);
      // Stryker disable next-line ConditionalExpression: the page's write on a closed writer returns false and ends the read, and `finally` gives the page back
      if (writer.closed) return;
    }
  } finally {
    // (The watch is the route's to cancel, when the writer closes: every way out of here has closed it, or throws to a route that does.)
    held?.release();
  }
}
