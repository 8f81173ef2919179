import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createClient, SessionSyncError, type StateStore, type WatchStatus } from '../../client/src/index.js';
import { json, problem, scriptedFetch, type SeenRequest, type SseFrame, sseText } from '../helpers/fake-fetch.js';
import { settleIo, uncaughtTimerErrors, until } from '../helpers/waits.js';

// watchState's rules from docs/client.md ("watchState") against a scripted
// server for one session: the answers to its reads are written out below and
// the test drives the stream frame by frame, so stale and resent state
// events, version gaps, failing reads and closes land exactly where a test
// puts them.
const fast = { attempts: 1, baseDelayMs: 1, maxDelayMs: 2 };

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

type Answer = (request: SeenRequest) => Response | Promise<Response>;

interface StreamPeer {
  request: SeenRequest;
  send(...frames: SseFrame[]): void;
  end(): void;
}

const ok =
  (body: unknown): Answer =>
  () =>
    json(body);
const unavailable: Answer = () => problem(503, 'unavailable');
/** An answer that never comes: the request stays open until the client aborts it. */
const noAnswer: Answer = (request) =>
  new Promise((_resolve, reject) => request.signal?.addEventListener('abort', () => reject(request.signal?.reason), { once: true }));

const sessionBody = (lastSeq: number, activity: Record<string, unknown> = { status: 'idle' }, encoding = 'json') => ({
  id: 'scripted',
  encoding,
  last_seq: lastSeq,
  activity,
});
const stateBody = (version: number, seq: number, snapshot: unknown, extra: Record<string, unknown> = {}) => ({
  mode: 'snapshot',
  version,
  seq,
  schema_version: 1,
  snapshot_version: version,
  snapshot,
  deltas: [],
  ...extra,
});

/**
 * One session's server: GET session and GET state answered in order by
 * `sessions` and `states` (the last answer repeats), and each stream request
 * opened as a peer the test sends frames on. Like fetch, a request whose
 * signal is already aborted fails at once.
 */
function sessionServer(script: { sessions: Answer[]; states: Answer[] }) {
  const streams: StreamPeer[] = [];
  let sessionReads = 0;
  let stateReads = 0;
  const scripted = scriptedFetch((request) => {
    if (request.signal?.aborted) throw request.signal.reason;
    const path = request.url.pathname;
    if (path.endsWith('/stream')) return openStream(request, streams);
    if (path.endsWith('/state')) return script.states[Math.min(stateReads++, script.states.length - 1)]!(request);
    return script.sessions[Math.min(sessionReads++, script.sessions.length - 1)]!(request);
  });
  const of = (suffix: string) => () => scripted.requests.filter((r) => r.url.pathname.endsWith(suffix));
  return { ...scripted, streams, stateReads: of('/state'), streamRequests: of('/stream'), sessionReads: () => scripted.requests.filter((r) => !/\/(state|stream)$/.test(r.url.pathname)) };
}

function openStream(request: SeenRequest, streams: StreamPeer[]): Response {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  request.signal?.addEventListener('abort', () => controller.error(request.signal?.reason), { once: true });
  const encoder = new TextEncoder();
  streams.push({ request, send: (...frames) => controller.enqueue(encoder.encode(sseText(frames))), end: () => controller.close() });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

/** The marker a connection sends once its replay reached the head. */
const caughtUp = (cursor: number, status = 'idle'): SseFrame => ({ event: 'session.activity', data: { status, cursor } });
const durable = (seq: number, type: string, data: unknown, version?: number): SseFrame => ({
  id: seq,
  event: type,
  data: { seq, type, data, created_at: '2026-12-04T00:00:00Z', ...(version === undefined ? {} : { version }) },
});
const delta = (seq: number, version: number, data: unknown) => durable(seq, 'state.delta', data, version);
const snapshotWritten = (seq: number, version: number) => durable(seq, 'state.snapshot', { schema_version: 1 }, version);

/** Waits for the store's stream request, ends its catch-up at `seq` and waits for `ready`. */
async function goLive<S>(server: ReturnType<typeof sessionServer>, store: StateStore<S>, seq: number): Promise<void> {
  await until(() => server.streams.length === 1, 'the stream request');
  server.streams[0]!.send(caughtUp(seq));
  await store.ready;
}

/** Lets every answer already given (and the work it starts) run to its end. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** The statuses a listener was told about, each change once. */
function statusesOf<S>(store: StateStore<S>): WatchStatus[] {
  const seen: WatchStatus[] = [store.getSnapshot().status];
  store.subscribe(() => {
    const status = store.getSnapshot().status;
    if (seen.at(-1) !== status) seen.push(status);
  });
  return seen;
}

describe('start-up', () => {
  it('reads the session, then the state, then follows the stream after the session\'s last seq; until the stream speaks, seq and activity are the session\'s', async () => {
    const server = sessionServer({
      sessions: [ok(sessionBody(7, { status: 'thinking', detail: 'planning' }))],
      states: [ok(stateBody(2, 5, { items: ['a'] }))],
    });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('start-1');
    try {
      await until(() => server.streams.length === 1, 'the stream request');
      expect(server.requests.map((r) => r.url.pathname)).toEqual(['/v1/sessions/start-1', '/v1/sessions/start-1/state', '/v1/sessions/start-1/stream']);
      expect(server.streams[0]!.request.url.searchParams.get('after')).toBe('7');
      expect(store.getSnapshot()).toEqual({ status: 'loading', version: 2, seq: 7, state: { items: ['a'] }, activity: { status: 'thinking', detail: 'planning' } });
      server.streams[0]!.send(caughtUp(7, 'tool'));
      expect(await store.ready).toEqual({ status: 'live', version: 2, seq: 7, state: { items: ['a'] }, activity: { status: 'tool' } });
    } finally {
      store.close();
    }
  });

  it('a state answer of a snapshot plus the deltas after it is the snapshot with the deltas applied in order', async () => {
    const answer = stateBody(3, 9, { items: ['a'] }, {
      snapshot_version: 1,
      deltas: [
        { version: 2, patch: [{ op: 'add', path: '/items/-', value: 'b' }] },
        { version: 3, merge_patch: { done: true } },
      ],
    });
    const server = sessionServer({ sessions: [ok(sessionBody(9))], states: [ok(answer)] });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('start-2');
    try {
      await until(() => server.streams.length === 1, 'the stream request');
      server.streams[0]!.send(caughtUp(9));
      expect(await store.ready).toMatchObject({ version: 3, state: { items: ['a', 'b'], done: true } });
    } finally {
      store.close();
    }
  });

  it('while its first reads fail it stays loading and tells no listener, then waits longer after each failure', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    // The shortest wait of each step, so the waits are known exactly.
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const server = sessionServer({
      sessions: [unavailable, unavailable, unavailable, unavailable, ok(sessionBody(1))],
      states: [ok(stateBody(1, 1, { n: 1 }))],
    });
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: { attempts: 1, baseDelayMs: 100, maxDelayMs: 10_000 } });
    const store = client.watchState('start-3');
    const first = store.getSnapshot();
    let told = 0;
    store.subscribe(() => told++);
    try {
      await vi.advanceTimersByTimeAsync(749);
      expect(server.sessionReads()).toHaveLength(4);
      // Nothing changed, so a React component reading the store must not re-render.
      expect(told).toBe(0);
      expect(store.getSnapshot()).toBe(first);
      await vi.advanceTimersByTimeAsync(1);
      const reads = server.sessionReads();
      expect(reads).toHaveLength(5);
      expect(reads.slice(1).map((r, i) => r.at - reads[i]!.at)).toEqual([50, 100, 200, 400]);
      expect(store.getSnapshot()).toMatchObject({ status: 'loading', version: 1, state: { n: 1 } });
      expect(told).toBeGreaterThan(0);
    } finally {
      store.close();
    }
  });

  it('a session that turns out binary when its state is read (deleted and created again as binary) is an error that says to use sync', async () => {
    const server = sessionServer({
      sessions: [ok(sessionBody(1))],
      states: [ok({ mode: 'snapshot', version: 1, seq: 1, schema_version: 1, snapshot_version: 1, snapshot_base64: 'AAE=', deltas: [] })],
    });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('start-4');
    const error = await store.ready.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SessionSyncError);
    expect((error as SessionSyncError).problem).toEqual({
      status: 409,
      code: 'encoding_mismatch',
      title: 'Binary session',
      detail: 'session start-4 holds binary state: watchState follows JSON sessions; use sync() for binary state',
    });
    expect(store.getSnapshot()).toMatchObject({ status: 'closed', error, state: null });
    expect(server.streamRequests()).toHaveLength(0);
  });
});

describe('following the stream', () => {
  it('applies the next version without a read, skips state events at or below its version, and reads again on a version gap or a newer snapshot', async () => {
    const server = sessionServer({
      sessions: [ok(sessionBody(4))],
      states: [
        ok(stateBody(2, 4, { items: ['a'] })),
        // Read after the gap: the server's state at version 5.
        ok(stateBody(5, 10, { items: ['a', 'b', 'c', 'd'] })),
        // Read after the snapshot at version 6 (an answer may leave out `deltas`).
        ok({ mode: 'snapshot', version: 6, seq: 11, schema_version: 1, snapshot_version: 6, snapshot: { fresh: true } }),
      ],
    });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState<any>('follow-1');
    const statuses = statusesOf(store);
    try {
      await until(() => server.streams.length === 1, 'the stream request');
      const stream = server.streams[0]!;
      stream.send(caughtUp(4));
      expect(await store.ready).toMatchObject({ version: 2, seq: 4, state: { items: ['a'] } });

      stream.send(durable(5, 'step', { n: 1 }));
      await until(() => store.getSnapshot().seq === 5, 'the event at seq 5');
      // The write that made version 2 again, and the snapshot that made it: both already in the state read.
      stream.send(delta(6, 2, { patch: [{ op: 'add', path: '/items/-', value: 'stale' }] }));
      await until(() => store.getSnapshot().seq === 6, 'the delta at seq 6');
      stream.send(snapshotWritten(7, 2));
      await until(() => store.getSnapshot().seq === 7, 'the snapshot at seq 7');
      expect(store.getSnapshot()).toMatchObject({ version: 2, state: { items: ['a'] } });
      expect(server.stateReads()).toHaveLength(1);

      stream.send(delta(8, 3, { patch: [{ op: 'add', path: '/items/-', value: 'b' }] }));
      await until(() => store.getSnapshot().seq === 8, 'the delta at seq 8');
      expect(store.getSnapshot()).toMatchObject({ version: 3, state: { items: ['a', 'b'] } });
      expect(server.stateReads()).toHaveLength(1);

      // Version 4 never came: the state is read again rather than applying 5 on top of 3.
      stream.send(delta(10, 5, { patch: [{ op: 'add', path: '/items/-', value: 'on top of 3' }] }));
      await until(() => store.getSnapshot().seq === 10, 'the delta at seq 10');
      expect(store.getSnapshot()).toMatchObject({ version: 5, state: { items: ['a', 'b', 'c', 'd'] } });
      expect(server.stateReads()).toHaveLength(2);

      stream.send(snapshotWritten(11, 6));
      await until(() => store.getSnapshot().seq === 11, 'the snapshot at seq 11');
      expect(store.getSnapshot()).toEqual({ status: 'live', version: 6, seq: 11, state: { fresh: true }, activity: { status: 'idle' } });
      expect(server.stateReads()).toHaveLength(3);
      expect(Object.isFrozen(store.getSnapshot().state)).toBe(true);
      expect(statuses).toEqual(['loading', 'live']);
    } finally {
      store.close();
    }
  });

  it('shows reconnecting while the stream is down and live once it caught up again; a listener that unsubscribed is not told', async () => {
    const server = sessionServer({ sessions: [ok(sessionBody(3))], states: [ok(stateBody(1, 2, { n: 1 }))] });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('follow-2');
    const statuses = statusesOf(store);
    let toldAfterLeaving = 0;
    const leave = store.subscribe(() => toldAfterLeaving++);
    try {
      await goLive(server, store, 3);
      leave();
      toldAfterLeaving = 0;
      server.streams[0]!.end();
      await until(() => server.streams.length === 2, 'the reconnect');
      expect(server.streams[1]!.request.url.searchParams.get('after')).toBe('3');
      await until(() => store.getSnapshot().status === 'reconnecting', 'the reconnecting status');
      server.streams[1]!.send(durable(4, 'step', {}), caughtUp(4));
      await until(() => store.getSnapshot().status === 'live', 'live again');
      expect(store.getSnapshot().seq).toBe(4);
      expect(statuses).toEqual(['loading', 'live', 'reconnecting', 'live']);
    } finally {
      store.close();
    }
    expect(statuses).toEqual(['loading', 'live', 'reconnecting', 'live', 'closed']);
    expect(toldAfterLeaving).toBe(0);
  });

  it('a state read that fails while live shows reconnecting, is tried again, and the store is live again once it got through', async () => {
    const server = sessionServer({
      sessions: [ok(sessionBody(2))],
      states: [ok(stateBody(1, 2, { n: 1 })), unavailable, unavailable, ok(stateBody(2, 3, { n: 2 }))],
    });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('follow-3');
    const statuses = statusesOf(store);
    try {
      await goLive(server, store, 2);
      server.streams[0]!.send(snapshotWritten(3, 2));
      await until(() => store.getSnapshot().seq === 3, 'the snapshot at seq 3');
      expect(server.stateReads()).toHaveLength(4);
      expect(store.getSnapshot()).toEqual({ status: 'live', version: 2, seq: 3, state: { n: 2 }, activity: { status: 'idle' } });
      expect(statuses).toEqual(['loading', 'live', 'reconnecting', 'live']);
    } finally {
      store.close();
    }
  });

  it('closed while a state read that failed is answered at last, it stays closed', async () => {
    const closeThenAnswer: Answer = () => {
      store.close();
      return json(stateBody(2, 3, { n: 2 }));
    };
    const server = sessionServer({ sessions: [ok(sessionBody(2))], states: [ok(stateBody(1, 2, { n: 1 })), unavailable, closeThenAnswer] });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('follow-5');
    const statuses = statusesOf(store);
    await goLive(server, store, 2);
    server.streams[0]!.send(snapshotWritten(3, 2));
    await until(() => server.stateReads().length === 3, 'the last state read');
    await settle();
    expect(statuses).toEqual(['loading', 'live', 'reconnecting', 'closed']);
  });

  it('the session deleted under it closes the store with session_deleted', async () => {
    const server = sessionServer({ sessions: [ok(sessionBody(1))], states: [ok(stateBody(1, 1, { n: 1 }))] });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('follow-4');
    await goLive(server, store, 1);
    server.streams[0]!.send({ event: 'session.deleted', data: { id: 'follow-4' } });
    await until(() => store.getSnapshot().status === 'closed', 'the close');
    expect(store.getSnapshot().error).toMatchObject({ status: 404, code: 'session_deleted' });
  });
});

describe('deltas it cannot apply', () => {
  it('a binary delta in a JSON session closes the store with unsupported_delta', async () => {
    const server = sessionServer({ sessions: [ok(sessionBody(1))], states: [ok(stateBody(1, 1, { n: 1 }))] });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('bad-1');
    await goLive(server, store, 1);
    server.streams[0]!.send(delta(2, 2, { delta_base64: 'AAE=' }));
    await until(() => store.getSnapshot().status === 'closed', 'the close');
    expect(store.getSnapshot()).toMatchObject({ version: 1, state: { n: 1 } });
    expect(store.getSnapshot().error?.problem).toEqual({
      status: 0,
      code: 'unsupported_delta',
      title: 'Unsupported delta',
      detail: 'a binary delta in a JSON session',
    });
    expect(server.streams[0]!.request.signal?.aborted).toBe(true);
  });

  it('a JSON Patch that does not apply to the state it holds closes the store with client_error, carrying the patch error', async () => {
    const server = sessionServer({ sessions: [ok(sessionBody(1))], states: [ok(stateBody(1, 1, { n: 1 }))] });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('bad-2');
    await goLive(server, store, 1);
    server.streams[0]!.send(delta(2, 2, { patch: [{ op: 'test', path: '/n', value: 99 }] }));
    await until(() => store.getSnapshot().status === 'closed', 'the close');
    const error = store.getSnapshot().error!;
    expect(error).toBeInstanceOf(SessionSyncError);
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.problem).toEqual({ status: 0, code: 'client_error', title: 'Client error', detail: (error.cause as Error).message });
    expect(error.detail).toMatch(/test operation failed/i);
  });
});

describe('a listener that throws', () => {
  it('is reported as uncaught; the other listeners are told, and the store stays live and applies what comes next', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = sessionServer({ sessions: [ok(sessionBody(1))], states: [ok(stateBody(1, 1, { n: 1 }))] });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('throws-1');
    store.subscribe(() => {
      throw new Error('a bug in a listener');
    });
    const versions: number[] = [];
    store.subscribe(() => versions.push(store.getSnapshot().version));
    await settleIo(() => server.streams.length === 1);
    server.streams[0]!.send(caughtUp(1));
    await store.ready;
    expect(uncaughtTimerErrors()).toMatchObject({ message: 'a bug in a listener' });
    server.streams[0]!.send(delta(2, 2, { merge_patch: { n: 2 } }), delta(3, 3, { merge_patch: { n: 3 } }));
    await settleIo(() => store.getSnapshot().version === 3);
    expect(store.getSnapshot()).toMatchObject({ status: 'live', version: 3, state: { n: 3 } });
    expect(store.getSnapshot().error).toBeUndefined();
    expect(versions.at(-1)).toBe(3);
    store.close();
    expect(store.getSnapshot().status).toBe('closed');
  });

  it('closed before ready by a listener that throws on every change, ready still rejects with closed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = sessionServer({ sessions: [noAnswer], states: [ok(stateBody(1, 1, { n: 1 }))] });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('throws-2');
    store.subscribe(() => {
      throw new Error('a bug in a listener');
    });
    await settleIo(() => server.requests.length === 1);
    store.close();
    await expect(store.ready).rejects.toMatchObject({ code: 'closed' });
    expect(store.getSnapshot().status).toBe('closed');
    expect(uncaughtTimerErrors()).toMatchObject({ message: 'a bug in a listener' });
  });
});

describe('closing', () => {
  it('close() before ready rejects ready with closed, aborts the read in flight, opens no stream, and leaves no error on the snapshot', async () => {
    const server = sessionServer({ sessions: [noAnswer], states: [ok(stateBody(1, 1, { n: 1 }))] });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('close-1');
    let told = 0;
    store.subscribe(() => told++);
    await until(() => server.requests.length === 1, 'the session read');
    store.close();
    const error = await store.ready.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SessionSyncError);
    expect((error as SessionSyncError).problem).toEqual({ status: 0, code: 'closed', title: 'Closed', detail: 'the store was closed before it was ready' });
    expect(server.requests[0]!.signal?.aborted).toBe(true);
    await settle();
    expect(store.getSnapshot()).toEqual({ status: 'closed', version: 0, seq: 0, state: null, activity: null });
    expect(told).toBe(1);
    expect(server.requests).toHaveLength(1);
  });

  it('close() while the state is being read aborts that read', async () => {
    const server = sessionServer({ sessions: [ok(sessionBody(1))], states: [noAnswer] });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('close-2');
    await until(() => server.stateReads().length === 1, 'the state read');
    store.close();
    expect(server.stateReads()[0]!.signal?.aborted).toBe(true);
    await expect(store.ready).rejects.toMatchObject({ code: 'closed' });
    await settle();
    expect(store.getSnapshot()).toEqual({ status: 'closed', version: 0, seq: 0, state: null, activity: null });
    expect(server.streamRequests()).toHaveLength(0);
  });

  it('a store closed before it was ready, whose ready nobody awaits, raises no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const server = sessionServer({ sessions: [noAnswer], states: [] });
      const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('close-3');
      store.close();
      await settle();
      expect(store.getSnapshot().status).toBe('closed');
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  it('an already aborted signal gives a closed store', async () => {
    const server = sessionServer({ sessions: [ok(sessionBody(1))], states: [ok(stateBody(1, 1, { n: 1 }))] });
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('signal-1', { signal: AbortSignal.abort() });
    expect(store.getSnapshot().status).toBe('closed');
    await expect(store.ready).rejects.toMatchObject({ code: 'closed' });
    await settle();
    expect(server.streamRequests()).toHaveLength(0);
  });

  it('aborting the signal closes the store and its stream; until then it follows as usual', async () => {
    const server = sessionServer({ sessions: [ok(sessionBody(1))], states: [ok(stateBody(1, 1, { n: 1 }))] });
    const controller = new AbortController();
    const store = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState('signal-2', { signal: controller.signal });
    await until(() => server.streams.length === 1, 'the stream request');
    server.streams[0]!.send(caughtUp(1));
    expect(await store.ready).toMatchObject({ status: 'live', version: 1 });
    controller.abort();
    expect(store.getSnapshot().status).toBe('closed');
    expect(store.getSnapshot().error).toBeUndefined();
    expect(server.streams[0]!.request.signal?.aborted).toBe(true);
  });

  it('a closed store lets go of the caller\'s signal, which may outlive many stores', async () => {
    const server = sessionServer({ sessions: [ok(sessionBody(1))], states: [ok(stateBody(1, 1, { n: 1 }))] });
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const page = new AbortController();
    const stores = [client.watchState('signal-3', { signal: page.signal }), client.watchState('signal-4', { signal: page.signal })];
    expect(getEventListeners(page.signal, 'abort')).toHaveLength(2);
    for (const store of stores) store.close();
    expect(getEventListeners(page.signal, 'abort')).toHaveLength(0);
    await settle();
  });
});
