import { backoffDelay, type RetryOptions, sleep } from './backoff.js';
import type { ChangesFeed, SessionChange, WatchChangesHandlers } from './changes.js';
import { isRetryable, SessionSyncError } from './errors.js';
import type { Requests } from './requests.js';
import { callHandler } from './sse.js';
import type { Activity, Session } from './types.js';
import type { WatchStatus } from './watch-state.js';
import { CHANGE_EVENT, CLIENT_ERROR } from './protocol.js';

export interface WatchSessionsOptions {
  /** How many sessions, newest first (`listSessions`' `limit`). Default 50. */
  limit?: number;
  /** Only the children of this session (`listSessions`' `parent_id`). */
  parentId?: string;
  signal?: AbortSignal;
}

export interface SessionListSnapshot {
  /** `loading` until the first list, `live` after each list that follows a (re)connect, `reconnecting` while the feed is down. */
  status: WatchStatus;
  /** Newest first, at most `limit`. */
  sessions: readonly Session[];
  /** Why a closed store closed. */
  error?: SessionSyncError;
}

export interface SessionListStore {
  getSnapshot(): SessionListSnapshot;
  subscribe(listener: () => void): () => void;
  /** The first snapshot with status `live` (rejects if the store closes first). */
  ready: Promise<SessionListSnapshot>;
  close(): void;
}

export const INITIAL_SESSION_LIST_SNAPSHOT: SessionListSnapshot = Object.freeze({ status: 'loading', sessions: Object.freeze([]) as readonly Session[] });

type WatchChanges = (handlers: WatchChangesHandlers, options: { signal?: AbortSignal }) => ChangesFeed;

/**
 * The newest sessions as a live list, from the changes feed: each
 * `sweep_required` (every (re)connect opens with one) lists them again;
 * in between, a created session is read and put first, a deleted one goes,
 * an activity hint changes its row, and a head that moved has its record
 * read again (its usage, message count, first user message). An answer that
 * was overtaken by a deletion is dropped, so a deleted session never comes
 * back from a read that began before it was deleted.
 */
export function watchSessions(requests: Requests, watchChanges: WatchChanges, retry: RetryOptions, options: WatchSessionsOptions = {}): SessionListStore {
  const limit = options.limit ?? 50;
  const parentId = options.parentId;
  let snapshot: SessionListSnapshot = INITIAL_SESSION_LIST_SNAPSHOT;
  const listeners = new Set<() => void>();
  let closed = false;
  let resolveReady!: (value: SessionListSnapshot) => void;
  let rejectReady!: (error: unknown) => void;
  const ready = new Promise<SessionListSnapshot>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {});
  const abort = new AbortController();

  const update = (change: Partial<SessionListSnapshot>) => {
    if (closed && change.status !== 'closed') return;
    const next = { ...snapshot, ...change };
    if ((Object.keys(change) as (keyof SessionListSnapshot)[]).every((key) => Object.is(next[key], snapshot[key]))) return;
    snapshot = next;
    for (const listener of [...listeners]) callHandler(listener);
  };
  const setSessions = (sessions: readonly Session[]) => update({ sessions });
  const replace = (id: string, change: (session: Session) => Session) => {
    const index = snapshot.sessions.findIndex((session) => session.id === id);
    if (index < 0) return;
    setSessions(snapshot.sessions.map((session, i) => (i === index ? change(session) : session)));
  };

  /** Deletions seen, counted per id: a read that began before one is stale once it answers. */
  const deletions = new Map<string, number>();
  const deletionsOf = (id: string) => deletions.get(id) ?? 0;
  /** Ids deleted while a list is in flight: its answer may still hold them. */
  let deletedDuringList: Set<string> | undefined;

  let listing = false;
  let listAgain = false;
  const relist = async () => {
    if (listing) {
      listAgain = true;
      return;
    }
    listing = true;
    try {
      do {
        listAgain = false;
        deletedDuringList = new Set();
        const page = await persist(() => requests.listSessions({ limit, ...(parentId === undefined ? {} : { parent_id: parentId }) }, { signal: abort.signal }));
        if (closed) return;
        const gone = deletedDuringList;
        deletedDuringList = undefined;
        update({ sessions: page.sessions.filter((session) => !gone.has(session.id)), status: 'live' });
        resolveReady(snapshot);
      } while (listAgain && !closed);
    } catch (error) {
      if (!closed) finish(error instanceof SessionSyncError ? error : SessionSyncError.network(error));
    } finally {
      listing = false;
    }
  };

  /** A list read outlasting the call's retries (a server down for a while) is tried again until it answers or the store closes. */
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

  /** Reads one session's record; undefined when it is gone, unreadable, or was deleted meanwhile. */
  const read = async (id: string): Promise<Session | undefined> => {
    const before = deletionsOf(id);
    try {
      const session = await requests.getSession(id, { signal: abort.signal });
      return closed || deletionsOf(id) !== before ? undefined : session;
    } catch {
      // Gone again, not readable with this token, or no answer: the next sweep lists what is there.
      return undefined;
    }
  };

  const added = async (id: string) => {
    const session = await read(id);
    if (!session || (parentId !== undefined && session.parent_id !== parentId)) return;
    if (snapshot.sessions.some((s) => s.id === id)) return replace(id, () => session);
    setSessions([session, ...snapshot.sessions].slice(0, limit));
  };

  const reading = new Set<string>();
  const readAgain = new Set<string>();
  /** A moved head: its record is read again, one read per session at a time, the last one after the last hint. */
  const changed = async (id: string) => {
    if (reading.has(id)) return void readAgain.add(id);
    reading.add(id);
    try {
      do {
        readAgain.delete(id);
        const session = await read(id);
        if (session) replace(id, (held) => (held.last_seq > session.last_seq ? held : session));
      } while (readAgain.has(id) && !closed);
    } finally {
      reading.delete(id);
    }
  };

  const onChange = (change: SessionChange) => {
    const id = change.session_id;
    if (change.type === CHANGE_EVENT.deleted) {
      deletions.set(id, deletionsOf(id) + 1);
      deletedDuringList?.add(id);
      setSessions(snapshot.sessions.filter((session) => session.id !== id));
    } else if (change.type === CHANGE_EVENT.created) {
      void added(id);
    } else if (change.type === CHANGE_EVENT.activity) {
      const { type: _type, session_id: _id, ...activity } = change;
      replace(id, (session) => ({ ...session, activity: activity as Activity }));
    } else if (change.type === CHANGE_EVENT.changed) {
      const { last_seq: lastSeq, version } = change;
      if (typeof lastSeq === 'number' && typeof version === 'number') {
        replace(id, (session) => (session.last_seq >= lastSeq ? session : { ...session, last_seq: lastSeq, version }));
      }
      void changed(id);
    }
  };

  const finish = (error?: SessionSyncError) => {
    if (closed) return;
    update({ status: 'closed', ...(error ? { error } : {}) });
    closed = true;
    options.signal?.removeEventListener('abort', onAbort);
    abort.abort();
    rejectReady(error ?? new SessionSyncError({ status: 0, code: CLIENT_ERROR.closed, title: 'Closed', detail: 'the store was closed before it was ready' }));
  };
  const onAbort = () => finish();

  watchChanges(
    {
      onSweepRequired: () => void relist(),
      onChange,
      onStatus: (status) => {
        // Before the first snapshot it is still loading, as a `watchState` store says.
        if (status === 'reconnecting' && snapshot.status !== 'loading') update({ status: 'reconnecting' });
      },
      onError: (error) => finish(error),
    },
    { signal: abort.signal },
  );

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
