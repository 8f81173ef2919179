import { backoffDelay, type RetryOptions, sleep } from './backoff.js';
import { isRetryable, SessionSyncError } from './errors.js';
import type { Requests } from './requests.js';
import { callHandler } from './sse.js';
import type { SubscribeHandlers, SubscribeOptions, Subscription } from './subscribe.js';
import type { Activity, DurableEvent, LiveEvent, Session, SessionLease } from './types.js';
import type { WatchStatus } from './watch-state.js';
import { CLIENT_ERROR, EVENT } from './protocol.js';

export interface WatchSessionOptions {
  /** The newest durable events kept in `events`, replayed from the history at the start too. Default 100; 0 keeps none. */
  keepEvents?: number;
  /** The newest live events other than tokens kept in `liveEvents`. Default 50. */
  keepLive?: number;
  /** The live event type whose fragments make `liveText`. Default `token`. */
  tokenType?: string;
  /** Durable event types that end the running text (the output is durable now). Default: `LIVE_TEXT_ENDS_ON`. */
  liveTextEndsOn?: readonly string[];
  signal?: AbortSignal;
}

/** The durable events that end `liveText` by default: a turn, a state change or a message stored the output. */
export const LIVE_TEXT_ENDS_ON: readonly string[] = [EVENT.turnCommitted, EVENT.stateDelta, EVENT.stateSnapshot, EVENT.messageAppended];

/** The most UTF-16 units (a string's `length`) of running text kept (the tail): a stream that never ends its text stays bounded. */
export const LIVE_TEXT_MAX_CHARS = 100_000;

/** The last LIVE_TEXT_MAX_CHARS units of `text`, less the second half of a character the cut fell inside (a lone surrogate renders as a replacement mark). */
function textTail(text: string): string {
  if (text.length <= LIVE_TEXT_MAX_CHARS) return text;
  const tail = text.slice(-LIVE_TEXT_MAX_CHARS);
  const first = tail.charCodeAt(0);
  return first >= 0xdc00 && first <= 0xdfff ? tail.slice(1) : tail;
}

export interface SessionSnapshot {
  /** `loading` until the record is read and the stream has caught up, then `live`; `reconnecting` while the stream is down. */
  status: WatchStatus;
  /** The session's record, read at the start and again after durable events (null before the first read). */
  session: Session | null;
  /** The lease as readers see it (`session.lease`: owner, fencing token, expiry; never the token), null when none is held. */
  lease: SessionLease | null;
  /** Who is working on the session, as the stream last said. */
  activity: Activity | null;
  /** The newest `keepEvents` durable events, oldest first, each once. */
  events: readonly DurableEvent[];
  /** The seq of the last durable event taken in (the stream's cursor). */
  lastSeq: number;
  /** Token fragments joined, since the running text last ended (see LIVE_TEXT_ENDS_ON and activity `idle`). */
  liveText: string;
  /** The newest `keepLive` live events that are not tokens, oldest first. */
  liveEvents: readonly LiveEvent[];
  /** Why a closed store closed. */
  error?: SessionSyncError;
}

export interface SessionStore {
  getSnapshot(): SessionSnapshot;
  subscribe(listener: () => void): () => void;
  /** The first snapshot with status `live` (rejects if the store closes first). */
  ready: Promise<SessionSnapshot>;
  close(): void;
}

export const INITIAL_SESSION_SNAPSHOT: SessionSnapshot = Object.freeze({
  status: 'loading',
  session: null,
  lease: null,
  activity: null,
  events: Object.freeze([]) as readonly DurableEvent[],
  lastSeq: 0,
  liveText: '',
  liveEvents: Object.freeze([]) as readonly LiveEvent[],
});

type Subscribe = (id: string, options: SubscribeOptions, handlers: SubscribeHandlers) => Subscription;

/**
 * One session as a dashboard shows it: its record (and so its lease), its
 * newest durable events, its activity, and the running text of the reply in
 * progress, on one stream. The record is read first; the stream then replays
 * the newest `keepEvents` events below the record's head and follows on, so
 * an event at or below the record's seq is already in the record and later
 * ones make it be read again (one read at a time, the last one after the last
 * event). Live events are never replayed: the running text starts with the
 * first token after the store opened.
 */
export function watchSession(requests: Requests, subscribeFn: Subscribe, retry: RetryOptions, id: string, options: WatchSessionOptions = {}): SessionStore {
  const keepEvents = Math.max(0, options.keepEvents ?? 100);
  const keepLive = Math.max(0, options.keepLive ?? 50);
  const tokenType = options.tokenType ?? 'token';
  const endsOn = new Set(options.liveTextEndsOn ?? LIVE_TEXT_ENDS_ON);
  let snapshot: SessionSnapshot = INITIAL_SESSION_SNAPSHOT;
  const listeners = new Set<() => void>();
  let subscription: Subscription | undefined;
  let closed = false;
  let resolveReady!: (value: SessionSnapshot) => void;
  let rejectReady!: (error: unknown) => void;
  const ready = new Promise<SessionSnapshot>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {});
  const abort = new AbortController();

  const update = (change: Partial<SessionSnapshot>) => {
    if (closed && change.status !== 'closed') return;
    const next = { ...snapshot, ...change };
    if ((Object.keys(change) as (keyof SessionSnapshot)[]).every((key) => Object.is(next[key], snapshot[key]))) return;
    snapshot = next;
    for (const listener of [...listeners]) callHandler(listener);
  };

  /** The record's seq: events above it are not in the record yet. */
  let recordSeq = 0;
  let reading = false;
  let readAgain = false;
  /** Reads the record again; a read while one is in flight is made once that one ends, so the last read follows the last event. */
  const refresh = async () => {
    if (reading) {
      readAgain = true;
      return;
    }
    reading = true;
    try {
      do {
        readAgain = false;
        const session = await persist(() => requests.getSession(id, { signal: abort.signal }));
        if (closed) return;
        if (session.last_seq < recordSeq) continue;
        recordSeq = session.last_seq;
        update({ session, lease: session.lease ?? null });
      } while (readAgain && !closed);
    } catch {
      // Refused (a deleted session, whose stream says so itself) or closed: the record shown stays as it was.
    } finally {
      reading = false;
    }
  };

  /** A read that outlasts the call's retries (a server down for a while) is tried again until it answers or the store closes. */
  const persist = async <T>(read: () => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await read();
      } catch (error) {
        if (closed || !isRetryable(error)) throw error;
        await sleep(backoffDelay(retry, attempt), abort.signal);
      }
    }
  };

  const onEvent = (event: DurableEvent) => {
    const events = keepEvents === 0 ? snapshot.events : [...snapshot.events, event].slice(-keepEvents);
    update({ events, lastSeq: event.seq, ...(endsOn.has(event.type) ? { liveText: '' } : {}) });
    if (event.seq > recordSeq) void refresh();
  };

  const onLive = (event: LiveEvent) => {
    if (event.type === tokenType) {
      const text = fragment(event.data);
      if (text === undefined) return;
      const joined = snapshot.liveText + text;
      update({ liveText: textTail(joined) });
      return;
    }
    if (keepLive > 0) update({ liveEvents: [...snapshot.liveEvents, event].slice(-keepLive) });
  };

  const onActivity = (frame: Activity & { cursor?: number }) => {
    const { cursor: _cursor, ...activity } = frame;
    const idle = activity.status === 'idle' && snapshot.activity?.status !== 'idle';
    // An activity equal to the one held (each connection repeats it) keeps the object: no change to tell anyone.
    const same = snapshot.activity !== null && JSON.stringify(snapshot.activity) === JSON.stringify(activity);
    update({ ...(same ? {} : { activity: activity as Activity }), ...(idle ? { liveText: '' } : {}) });
  };

  const finish = (error?: SessionSyncError) => {
    if (closed) return;
    // The close is told to listeners, so the flag goes up after.
    update({ status: 'closed', ...(error ? { error } : {}) });
    closed = true;
    options.signal?.removeEventListener('abort', onAbort);
    abort.abort();
    subscription?.close();
    rejectReady(error ?? new SessionSyncError({ status: 0, code: CLIENT_ERROR.closed, title: 'Closed', detail: 'the store was closed before it was ready' }));
  };
  const onAbort = () => finish();

  const start = async () => {
    let session: Session;
    try {
      session = await persist(() => requests.getSession(id, { signal: abort.signal }));
    } catch (error) {
      // Refused (a session that does not exist or may not be read); after a close this changes nothing.
      return finish(error instanceof SessionSyncError ? error : SessionSyncError.network(error));
    }
    if (closed) return;
    recordSeq = session.last_seq;
    const after = Math.max(0, session.last_seq - keepEvents);
    update({ session, lease: session.lease ?? null, activity: session.activity ?? null, lastSeq: after });
    subscription = subscribeFn(
      id,
      { after, signal: abort.signal },
      {
        onEvent,
        onLive,
        onActivity,
        onCaughtUp: () => {
          update({ status: 'live' });
          resolveReady(snapshot);
        },
        onStatus: (status) => {
          // Before the first snapshot it is still loading, as a `watchState` store says.
        if (status === 'reconnecting' && snapshot.status !== 'loading') update({ status: 'reconnecting' });
        },
        onError: (error) => finish(error),
      },
    );
  };
  void start();

  if (options.signal) {
    if (options.signal.aborted) finish();
    else options.signal.addEventListener('abort', onAbort);
  }

  return {
    getSnapshot: () => snapshot,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    ready,
    close: () => finish(),
  };
}

/** A token's text: the data itself when it is a string, else its `text` member. */
function fragment(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  if (typeof data === 'object' && data !== null && 'text' in data && typeof data.text === 'string') return data.text;
  return undefined;
}
