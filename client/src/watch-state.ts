import { backoffDelay, type RetryOptions, sleep } from './backoff.js';
import { isRetryable, SessionSyncError } from './errors.js';
import { applyJsonPatch, applyMergePatch, freeze, jsonEqual } from './patch.js';
import type { Requests } from './requests.js';
import { callHandler } from './sse.js';
import type { SubscribeHandlers, SubscribeOptions, Subscription } from './subscribe.js';
import type { Activity, DurableEvent } from './types.js';
import { CLIENT_ERROR, EVENT, PROBLEM } from './protocol.js';

export type WatchStatus = 'loading' | 'live' | 'reconnecting' | 'closed';

export interface StateSnapshot<S = unknown> {
  status: WatchStatus;
  /** The state version this snapshot holds (0: no state yet). */
  version: number;
  /** The seq of the last durable event the store has taken in. */
  seq: number;
  /** The session's state, deep-frozen (null before the first snapshot). */
  state: S | null;
  activity: Activity | null;
  error?: SessionSyncError;
}

export interface StateStore<S = unknown> {
  getSnapshot(): StateSnapshot<S>;
  /** React's `useSyncExternalStore(store.subscribe, store.getSnapshot)` fits as is. */
  subscribe(listener: () => void): () => void;
  /** The first consistent snapshot (rejects if the store closes first). */
  ready: Promise<StateSnapshot<S>>;
  close(): void;
}

type Subscribe = (id: string, options: SubscribeOptions, handlers: SubscribeHandlers) => Subscription;

/**
 * A mirror of one JSON session's state. It reads the head seq, then the
 * state, then follows the stream from that seq: every state change after the
 * read has a higher seq, and those at or below the version read are skipped.
 * Deltas apply in version order; a version gap (never expected) or a
 * `state.snapshot` re-reads from the server, as does a reset after history
 * was trimmed. Events are handled one at a time, in order, reads included.
 */
export function watchState<S>(
  requests: Requests,
  subscribeFn: Subscribe,
  retry: RetryOptions,
  id: string,
  options: { signal?: AbortSignal } = {},
): StateStore<S> {
  let snapshot: StateSnapshot<S> = { status: 'loading', version: 0, seq: 0, state: null, activity: null };
  const listeners = new Set<() => void>();
  let subscription: Subscription | undefined;
  let closed = false;
  let resolveReady!: (value: StateSnapshot<S>) => void;
  let rejectReady!: (error: unknown) => void;
  const ready = new Promise<StateSnapshot<S>>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {});
  const abort = new AbortController();

  const update = (change: Partial<StateSnapshot<S>>) => {
    const next = { ...snapshot, ...change };
    // A state or activity equal to the one held (read again, or an activity frame repeating it) keeps the object held:
    // no listener is told of a change that is none, and a reader comparing by reference sees none.
    if (jsonEqual(next.state, snapshot.state)) next.state = snapshot.state;
    if (jsonEqual(next.activity, snapshot.activity)) next.activity = snapshot.activity;
    const same = (Object.keys(next) as (keyof StateSnapshot<S>)[]).every((key) => Object.is(next[key], snapshot[key]));
    if (same) return;
    snapshot = next;
    // A listener that throws is its caller's bug, reported as uncaught: it neither closes the store for every other listener nor stops this change.
    for (const listener of [...listeners]) callHandler(listener);
  };

  // One queue for events and reads, so they apply in order.
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (work: () => Promise<void> | void) => {
    queue = queue.then(work).catch((error: unknown) => finish(asError(error)));
  };

  /** Reads that outlast the request retries (a server down for a while) are tried again until the store closes. */
  const persist = async <T>(read: () => Promise<T>): Promise<T> => {
    const status = snapshot.status;
    for (let attempt = 0; ; attempt++) {
      try {
        const answer = await read();
        // A failed attempt showed `reconnecting`; the read got through, so the store is as it was (a close meanwhile stands).
        if (!closed) update({ status });
        return answer;
      } catch (error) {
        if (closed || !isRetryable(error)) throw error;
        update({ status: snapshot.status === 'loading' ? 'loading' : 'reconnecting' });
        await sleep(backoffDelay(retry, attempt), abort.signal);
      }
    }
  };

  /** The server's current state; the stream's events at or below its version are then skipped. */
  const readState = async (): Promise<Pick<StateSnapshot<S>, 'version' | 'state'>> => {
    const answer = await persist(() => requests.sync(id, {}, { signal: abort.signal }));
    if (answer.snapshot_base64 !== undefined) {
      throw new SessionSyncError({
        status: 409,
        code: PROBLEM.encodingMismatch,
        title: 'Binary session',
        detail: `session ${id} holds binary state: watchState follows JSON sessions; use sync() for binary state`,
      });
    }
    // The answer is the state at `version`: none for `new` (version 0), else a snapshot plus any deltas after it.
    let state: unknown = answer.snapshot ?? null;
    for (const delta of answer.deltas ?? []) state = applyDelta(state, delta);
    return { version: answer.version, state: freeze(state) as S };
  };
  const reload = async (): Promise<void> => update(await readState());

  const onEvent = (event: DurableEvent) =>
    enqueue(async () => {
      // The server writes a version on every state event; one without would count as already held.
      const version = event.version ?? 0;
      if (event.type === EVENT.stateDelta) {
        if (version <= snapshot.version) return update({ seq: event.seq });
        if (version === snapshot.version + 1) {
          return update({ seq: event.seq, version, state: freeze(applyDelta(snapshot.state, event.data)) as S });
        }
        await reload();
      } else if (event.type === EVENT.stateSnapshot && version > snapshot.version) {
        await reload();
      }
      update({ seq: Math.max(snapshot.seq, event.seq) });
    });

  const onAbort = () => finish();
  const finish = (error?: SessionSyncError) => {
    if (closed) return;
    closed = true;
    // A caller's signal may outlive many stores: a closed one lets go of it.
    options.signal?.removeEventListener('abort', onAbort);
    abort.abort();
    subscription?.close();
    update({ status: 'closed', ...(error ? { error } : {}) });
    // A promise settles once: after the first consistent snapshot this changes nothing.
    rejectReady(error ?? new SessionSyncError({ status: 0, code: CLIENT_ERROR.closed, title: 'Closed', detail: 'the store was closed before it was ready' }));
  };

  const start = async () => {
    const session = await persist(() => requests.getSession(id, { signal: abort.signal }));
    if (session.encoding === 'binary') {
      throw new SessionSyncError({
        status: 409,
        code: PROBLEM.encodingMismatch,
        title: 'Binary session',
        detail: `session ${id} holds binary state: watchState follows JSON sessions; use sync() for binary state`,
      });
    }
    // One change: the state read with the session's seq, never that state at the seq the store started with (0).
    update({ ...(await readState()), seq: session.last_seq, activity: session.activity ?? null });
    // Stryker disable next-line ConditionalExpression: equivalent; once closed, abort.signal is aborted, and a subscription given an aborted signal never connects (runStream checks it first); this only skips that work
    if (closed) return;
    subscription = subscribeFn(
      id,
      { after: session.last_seq, signal: abort.signal },
      {
        onEvent,
        onActivity: (activity) => {
          const { cursor: _cursor, ...rest } = activity;
          enqueue(() => update({ activity: rest as Activity }));
        },
        onCaughtUp: () =>
          enqueue(() => {
            update({ status: 'live' });
            // Only the first catch-up settles `ready`; later ones (after a reconnect) change nothing.
            resolveReady(snapshot);
          }),
        onStatus: (status) => {
          if (status === 'reconnecting') enqueue(() => update({ status: 'reconnecting' }));
        },
        // History was trimmed under the cursor: the state read again is the truth, later events apply on top.
        onReset: () => enqueue(reload),
        onError: (error) => enqueue(() => finish(error)),
      },
    );
  };
  enqueue(start);

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

function applyDelta(state: unknown, delta: unknown): unknown {
  const d = delta as { patch?: unknown[]; merge_patch?: unknown };
  if (d.patch) return applyJsonPatch(state, d.patch);
  if ('merge_patch' in d) return applyMergePatch(state, d.merge_patch);
  throw new SessionSyncError({ status: 0, code: CLIENT_ERROR.unsupportedDelta, title: 'Unsupported delta', detail: 'a binary delta in a JSON session' });
}

function asError(error: unknown): SessionSyncError {
  if (error instanceof SessionSyncError) return error;
  // No abort error needs a case of its own: the store's requests abort only when it closes, and a closed store drops errors.
  const detail = error instanceof Error ? error.message : String(error);
  return new SessionSyncError({ status: 0, code: CLIENT_ERROR.clientError, title: 'Client error', detail }, { cause: error });
}
