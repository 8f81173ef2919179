import type { EventSourceMessage } from 'eventsource-parser';
import type { RetryOptions } from './backoff.js';
import { SessionSyncError } from './errors.js';
import { callHandler, runStream, type StreamStatus } from './sse.js';
import type { Transport } from './transport.js';
import type { Activity, DurableEvent, LiveEvent } from './types.js';
import { CLIENT_ERROR, LIVE_EVENT, type LiveFrames, PROBLEM } from './protocol.js';

export interface SubscribeOptions {
  /** Deliver durable events after this seq (exclusive); `'now'` starts at the head. Default 0: the whole history. */
  after?: number | 'now';
  /** false: replay up to the head, then end (no live part). Default true. */
  live?: boolean;
  signal?: AbortSignal;
  /** A connection silent this long (not even a heartbeat) counts as dropped. Default 45 s. */
  idleTimeoutMs?: number;
}

export interface SubscribeHandlers {
  /** Every durable event exactly once, in seq order, across any number of reconnects. */
  onEvent?: (event: DurableEvent) => void;
  /** Live events (best-effort, never replayed). */
  onLive?: (event: LiveEvent) => void;
  onActivity?: (activity: Activity & { cursor?: number }) => void;
  /** The replay of each connection reached the head captured when it opened. */
  onCaughtUp?: (cursor: number) => void;
  onStatus?: (status: StreamStatus) => void;
  /** History was trimmed under the cursor (410 `cursor_expired`); delivery resumes after `history_start`. */
  onReset?: (reset: { history_start: number }) => void;
  /** The subscription ended for good: 401, 403, 404, `session.deleted`, or another refusal. */
  onError?: (error: SessionSyncError) => void;
}

export interface Subscription {
  /** The seq of the last durable event handed to `onEvent` (the resume cursor). */
  readonly lastSeq: number;
  readonly status: StreamStatus;
  close(): void;
  /** Settles once the subscription has ended. */
  readonly closed: Promise<void>;
}

const FATAL = new Set([400, 401, 403, 404]);

/**
 * Follows one session's stream. The cursor is the seq of the last durable
 * event handed to `onEvent`; each reconnect asks for the events after it, and
 * an event at or below it (a duplicate) is never delivered again.
 */
export function subscribe(
  transport: Transport,
  retry: RetryOptions,
  id: string,
  options: SubscribeOptions,
  handlers: SubscribeHandlers,
): Subscription {
  let cursor: number | 'now' = options.after ?? 0;
  let lastSeq = typeof cursor === 'number' ? cursor : 0;
  // Stryker disable next-line BooleanLiteral: plan() sets it before every connection, the first included
  let caughtUpThisConnection = false;
  const live = options.live ?? true;
  const fail = (error: SessionSyncError) => callHandler(() => handlers.onError?.(error));

  const onMessage = (message: EventSourceMessage): 'close' | 'reconnect' | void => {
    const type = message.event ?? 'message';
    const data = parse(message.data);
    if (message.id !== undefined && message.id !== '') {
      const event = data as DurableEvent;
      if (typeof event?.seq !== 'number' || event.seq <= lastSeq) return;
      lastSeq = event.seq;
      cursor = lastSeq;
      handlers.onEvent?.(event);
      return;
    }
    if (type === LIVE_EVENT.activity) {
      const activity = data as Activity & LiveFrames[typeof LIVE_EVENT.activity];
      if (typeof activity.cursor === 'number' && !caughtUpThisConnection) {
        caughtUpThisConnection = true;
        // Started at the head ('now'): the head is the cursor to resume from.
        if (cursor === 'now') {
          lastSeq = activity.cursor;
          cursor = lastSeq;
        }
        handlers.onActivity?.(activity);
        handlers.onCaughtUp?.(activity.cursor);
        return;
      }
      handlers.onActivity?.(activity);
      return;
    }
    // History this stream had not sent was trimmed: it ends, and the reconnect's 410 calls onReset.
    if (type === LIVE_EVENT.cursorExpired) return;
    // The token that opened this stream expired: reconnect at once, asking the token source again, from the cursor.
    if (type === LIVE_EVENT.tokenExpired) return 'reconnect';
    if (type === LIVE_EVENT.deleted) {
      fail(new SessionSyncError({ status: 404, code: CLIENT_ERROR.sessionDeleted, title: 'Session deleted', detail: `session ${id} was deleted`, ...(data as LiveFrames[typeof LIVE_EVENT.deleted]) }));
      return 'close';
    }
    const liveEvent = data as { type?: string; data?: unknown };
    handlers.onLive?.({ type, data: liveEvent?.data });
  };

  const loop = runStream({
    transport,
    retry,
    signal: options.signal,
    idleTimeoutMs: options.idleTimeoutMs ?? 45_000,
    plan: () => {
      caughtUpThisConnection = false;
      return { path: `/v1/sessions/${encodeURIComponent(id)}/stream`, query: { after: cursor, ...(live ? {} : { live: false }) } };
    },
    onMessage,
    onRefused: (error) => {
      if (error.status === 410 && error.code === PROBLEM.cursorExpired) {
        const historyStart = Number(error.problem.history_start ?? 0);
        lastSeq = historyStart;
        cursor = historyStart;
        callHandler(() => handlers.onReset?.({ history_start: historyStart }));
        return 'retry';
      }
      if (FATAL.has(error.status) || error.code === PROBLEM.cursorAhead) return 'close';
      // Stryker disable next-line StringLiteral: runStream backs off after any verdict but 'close' and 'retry'
      return 'backoff';
    },
    // A replay-only stream ends after its marker; ending before it is a drop like any other.
    onEnd: () => (!live && caughtUpThisConnection ? 'close' : undefined),
    onStatus: (status) => handlers.onStatus?.(status),
    onError: (error) => fail(error instanceof SessionSyncError ? error : SessionSyncError.network(error)),
  });

  return {
    get lastSeq() {
      return lastSeq;
    },
    get status() {
      return loop.status;
    },
    close: () => loop.close(),
    closed: loop.done,
  };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON: no data.
  }
}
