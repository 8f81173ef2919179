import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createClient, type DurableEvent, type SessionSyncError, type StreamStatus } from '../../client/src/index.js';
import { networkFailure, problem, scriptedFetch, type SeenRequest, type SseFrame, sseResponse, sseText } from '../helpers/fake-fetch.js';
import { until, settleIo, uncaughtTimerErrors } from '../helpers/waits.js';

// subscribe's rules from docs/client.md ("subscribe") against a scripted
// stream server: what it sends on each connection is written out below, so
// resends, resets, live-only frames and closes happen exactly where a test
// puts them.
const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 };

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

type Connection = SseFrame[] | { frames: SseFrame[]; hold: true } | ((request: SeenRequest) => Response | Promise<Response>);

/** Connection i gets `connections[i]`; past the end, a stream that stays open and silent. */
function streamServer(connections: Connection[]) {
  return scriptedFetch((request: SeenRequest, i: number) => {
    const script = connections[i] ?? { frames: [], hold: true };
    if (typeof script === 'function') return script(request);
    if (Array.isArray(script)) return sseResponse(script);
    return sseResponse(script.frames, { hold: true, signal: request.signal });
  });
}

const event = (seq: number, type = 'step'): SseFrame => ({ id: seq, event: type, data: { seq, type, data: { n: seq }, created_at: '2026-12-04T00:00:00Z' } });
const after = (request: SeenRequest | undefined) => request?.url.searchParams.get('after');

/** A 200 event stream the test writes raw SSE text to; `cancelled` says whether the client let it go. */
function openStream(request: SeenRequest) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
    cancel: () => {
      stream.cancelled = true;
    },
  });
  request.signal?.addEventListener('abort', () => controller.error(request.signal?.reason), { once: true });
  const stream = {
    cancelled: false,
    send: (text: string) => controller.enqueue(new TextEncoder().encode(text)),
    response: new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
  };
  return stream;
}

/** A connection that writes these raw SSE texts and stays open; the stream goes into `streams` when the test needs to write more or see it let go. */
function rawConnection(texts: string[], streams: ReturnType<typeof openStream>[] = []): Connection {
  return (request) => {
    const stream = openStream(request);
    streams.push(stream);
    for (const text of texts) stream.send(text);
    return stream.response;
  };
}

/** A fetch that gets no answer at all (not even headers) until the client gives up on it. */
const noAnswer = (request: SeenRequest) =>
  new Promise<Response>((_, reject) => request.signal?.addEventListener('abort', () => reject(request.signal?.reason), { once: true }));

const waitsBetween = (requests: SeenRequest[]) => requests.slice(1).map((r, i) => r.at - requests[i]!.at);

/** The clock faked, and the jittered wait always its whole step: 100 ms after the first failure, 200 after the second. */
function useFakeClock() {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.spyOn(Math, 'random').mockReturnValue(0.999999);
}
const clockRetry = { attempts: 4, baseDelayMs: 100, maxDelayMs: 8000 };

describe('exactly once, in order, across reconnects', () => {
  it('an event resent at or below the cursor, on a new connection or the same one, is not delivered again', async () => {
    const server = streamServer([
      [event(1), event(2), event(3)],
      { frames: [event(2), event(3), event(4), event(4), event(3), event(5)], hold: true },
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const sub = client.subscribe('dup-1', {}, { onEvent: (e) => seen.push(e.seq) });
    await until(() => seen.length >= 5 || server.requests.length > 2, 'five events');
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(sub.lastSeq).toBe(5);
    sub.close();
    await sub.closed;
  });

  it('each reconnect asks for the events after the last one handed to onEvent', async () => {
    const server = streamServer([[event(1), event(2)], [], [event(3)], { frames: [event(4)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const sub = client.subscribe('resume-1', { after: 0 }, { onEvent: (e) => seen.push(e.seq) });
    await until(() => seen.length === 4, 'four events');
    expect(server.requests.map(after)).toEqual(['0', '2', '2', '3']);
    expect(server.requests.every((r) => r.url.pathname === '/v1/sessions/resume-1/stream')).toBe(true);
    expect(server.requests.map((r) => r.headers.get('accept'))).toEqual(Array(4).fill('text/event-stream'));
    sub.close();
    await sub.closed;
  });

  it('starting after a given seq delivers nothing at or below it, even if the server sends it', async () => {
    const server = streamServer([{ frames: [event(9), event(10), event(11)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const sub = client.subscribe('start-1', { after: 10 }, { onEvent: (e) => seen.push(e.seq) });
    await until(() => seen.length === 1, 'the event after 10');
    expect(after(server.requests[0])).toBe('10');
    expect(seen).toEqual([11]);
    sub.close();
    await sub.closed;
  });
});

describe('frames that are not durable events', () => {
  it('live events and activity (frames without an id) never move the cursor', async () => {
    const server = streamServer([
      [
        event(1),
        { event: 'token', data: { type: 'token', data: 'hi', seq: 40 } },
        { event: 'session.activity', data: { status: 'thinking', cursor: 1 } },
        { event: 'session.activity', data: { status: 'tool', cursor: 30 } },
        { event: 'token', data: { type: 'token', data: 'there', seq: 50 } },
      ],
      { frames: [event(2)], hold: true },
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const live: unknown[] = [];
    const caughtUp: number[] = [];
    const sub = client.subscribe(
      'live-1',
      {},
      { onEvent: (e) => seen.push(e.seq), onLive: (e) => live.push(e.data), onCaughtUp: (c) => caughtUp.push(c) },
    );
    await until(() => seen.length === 2, 'the event after the reconnect');
    expect(after(server.requests[1])).toBe('1');
    expect(seen).toEqual([1, 2]);
    expect(live).toEqual(['hi', 'there']);
    expect(caughtUp).toEqual([1]);
    sub.close();
    await sub.closed;
  });

  it('after: "now" resumes from the head the first connection reported, not from later activity', async () => {
    const server = streamServer([
      [
        { event: 'session.activity', data: { status: 'idle', cursor: 10 } },
        { event: 'session.activity', data: { status: 'thinking', cursor: 25 } },
      ],
      { frames: [event(11)], hold: true },
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const sub = client.subscribe('now-1', { after: 'now' }, { onEvent: (e) => seen.push(e.seq) });
    // No event handed to onEvent yet: the cursor is a seq, not the word 'now'.
    expect(sub.lastSeq).toBe(0);
    await until(() => seen.length === 1, 'the event after the head');
    expect(server.requests.map(after)).toEqual(['now', '10']);
    expect(seen).toEqual([11]);
    sub.close();
    await sub.closed;
  });
});

describe('text split across network chunks', () => {
  it('a character whose bytes arrive in separate chunks is delivered whole, in durable and live events alike', async () => {
    // 2-, 3- and 4-byte UTF-8 (a surrogate pair in JavaScript): each cut by the chunking below.
    const text = 'café € 𝄞 日本';
    const bytes = new TextEncoder().encode(
      sseText([
        { id: 1, event: 'note', data: { seq: 1, type: 'note', data: { text }, created_at: '2026-12-04T00:00:00Z' } },
        { event: 'token', data: { type: 'token', data: text } },
      ]),
    );
    // One byte a chunk: every multibyte character is split between reads, as a network may split it.
    const server = streamServer([
      (request) => {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const byte of bytes) controller.enqueue(Uint8Array.of(byte));
            request.signal?.addEventListener('abort', () => controller.error(request.signal?.reason), { once: true });
          },
        });
        return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
      },
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const events: DurableEvent[] = [];
    const live: unknown[] = [];
    const sub = client.subscribe('split-1', {}, { onEvent: (e) => events.push(e), onLive: (e) => live.push(e.data) });
    await until(() => live.length === 1, 'the live event after the durable one');
    expect(events.map((e) => e.data)).toEqual([{ text }]);
    expect(live).toEqual([text]);
    sub.close();
    await sub.closed;
  });
});

describe('frames the server should not send, or sends without a name', () => {
  it('a frame with an id but no numeric seq is no durable event: not delivered, the cursor stays, no error', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = streamServer([
      rawConnection(['id: 1\nevent: step\ndata: not json\n\n', 'id: 2\nevent: step\ndata: {"seq":"2","type":"step"}\n\n', 'id: 3\nevent: step\ndata: {"type":"step"}\n\n', sseText([event(4)])]),
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: unknown[] = [];
    const sub = client.subscribe('noseq-1', {}, { onEvent: (e) => seen.push(e.seq) });
    await settleIo(() => seen.length > 0);
    expect(seen).toEqual([4]);
    expect(sub.lastSeq).toBe(4);
    expect(uncaughtTimerErrors()).toBeUndefined();
    sub.close();
    await sub.closed;
  });

  it('a frame with an empty id is live; one without a name is type "message"; live data that is not JSON is undefined', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = streamServer([
      rawConnection(['id:\nevent: token\ndata: {"type":"token","data":"a"}\n\n', 'data: {"data":"b"}\n\n', 'event: token\ndata: not json\n\n', sseText([event(1)])]),
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const live: unknown[] = [];
    const sub = client.subscribe('unnamed-1', {}, { onEvent: (e) => seen.push(e.seq), onLive: (e) => live.push(e) });
    await settleIo(() => seen.length > 0);
    expect(live).toEqual([
      { type: 'token', data: 'a' },
      { type: 'message', data: 'b' },
      { type: 'token', data: undefined },
    ]);
    expect(seen).toEqual([1]);
    expect(uncaughtTimerErrors()).toBeUndefined();
    sub.close();
    await sub.closed;
  });

  it('every handler is optional: frames of each kind with no handler for them raise no error', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = streamServer([
      {
        frames: [
          { event: 'token', data: { type: 'token', data: 'hi' } },
          { event: 'session.activity', data: { status: 'thinking' } },
          event(1),
          { event: 'session.activity', data: { status: 'idle', cursor: 1 } },
        ],
        hold: true,
      },
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const sub = client.subscribe('bare-1', {}, {});
    await settleIo(() => sub.lastSeq === 1 && sub.status === 'open');
    expect(sub.lastSeq).toBe(1);
    expect(uncaughtTimerErrors()).toBeUndefined();
    sub.close();
    await sub.closed;
  });

  it('an activity frame without a cursor before the catch-up marker is plain activity; after: "now" resumes from the marker', async () => {
    const server = streamServer([
      [
        { event: 'session.activity', data: { status: 'thinking' } },
        { event: 'session.activity', data: { status: 'idle', cursor: 10 } },
      ],
      { frames: [event(11)], hold: true },
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const activity: string[] = [];
    const caughtUp: number[] = [];
    const sub = client.subscribe(
      'nocursor-1',
      { after: 'now' },
      { onEvent: (e) => seen.push(e.seq), onActivity: (a) => activity.push(a.status), onCaughtUp: (c) => caughtUp.push(c) },
    );
    await until(() => seen.length === 1, 'the event after the head');
    expect(caughtUp).toEqual([10]);
    expect(activity).toEqual(['thinking', 'idle']);
    expect(server.requests.map(after)).toEqual(['now', '10']);
    sub.close();
    await sub.closed;
  });

  it('a catch-up marker ahead of the events delivered does not move a numeric cursor: the reconnect asks for what onEvent has not had', async () => {
    const server = streamServer([[event(1), { event: 'session.activity', data: { status: 'idle', cursor: 3 } }], { frames: [event(2), event(3)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const caughtUp: number[] = [];
    const sub = client.subscribe('ahead-marker-1', { after: 0 }, { onEvent: (e) => seen.push(e.seq), onCaughtUp: (c) => caughtUp.push(c) });
    await until(() => seen.length === 3, 'the events the marker skipped');
    expect(server.requests.map(after)).toEqual(['0', '1']);
    expect(seen).toEqual([1, 2, 3]);
    expect(caughtUp).toEqual([3]);
    sub.close();
    await sub.closed;
  });
});

describe('410 cursor_expired', () => {
  it('calls onReset with history_start, then resumes after history_start and delivers what follows', async () => {
    const server = streamServer([
      [event(1), event(2)],
      () => problem(410, 'cursor_expired', { history_start: 5 }),
      { frames: [event(5), event(6), event(7)], hold: true },
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const resets: number[] = [];
    const errors: SessionSyncError[] = [];
    const sub = client.subscribe(
      'reset-1',
      {},
      { onEvent: (e) => seen.push(e.seq), onReset: (r) => resets.push(r.history_start), onError: (e) => errors.push(e) },
    );
    await until(() => seen.length === 4, 'the events after the reset');
    expect(resets).toEqual([5]);
    expect(server.requests.map(after)).toEqual(['0', '2', '5']);
    expect(seen).toEqual([1, 2, 6, 7]);
    expect(sub.lastSeq).toBe(7);
    expect(errors).toEqual([]);
    expect(sub.status).toBe('open');
    sub.close();
    await sub.closed;
  });

  it('session.cursor_expired (history trimmed under an open stream) is not handed to onLive; the reconnect gets the 410 and resets', async () => {
    const server = streamServer([
      [event(1), event(2), { event: 'session.cursor_expired', data: { cursor: 2, history_start: 5 } }],
      () => problem(410, 'cursor_expired', { history_start: 5 }),
      { frames: [event(6)], hold: true },
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const live: unknown[] = [];
    const resets: number[] = [];
    const sub = client.subscribe(
      'trimmed-1',
      {},
      { onEvent: (e) => seen.push(e.seq), onLive: (e) => live.push(e), onReset: (r) => resets.push(r.history_start) },
    );
    await until(() => seen.length === 3, 'the event after the reset');
    expect(live).toEqual([]);
    expect(resets).toEqual([5]);
    expect(server.requests.map(after)).toEqual(['0', '2', '5']);
    expect(seen).toEqual([1, 2, 6]);
    sub.close();
    await sub.closed;
  });

  it("a 410 with another code (a gateway's, say) is no reset: the cursor stays and it reconnects after a wait", async () => {
    const server = streamServer([[event(1), event(2)], () => problem(410, 'gone'), { frames: [event(3)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const resets: number[] = [];
    const errors: SessionSyncError[] = [];
    const sub = client.subscribe(
      'gone-1',
      {},
      { onEvent: (e) => seen.push(e.seq), onReset: (r) => resets.push(r.history_start), onError: (e) => errors.push(e) },
    );
    await until(() => seen.length === 3, 'the event after the 410');
    expect(resets).toEqual([]);
    expect(errors).toEqual([]);
    expect(server.requests.map(after)).toEqual(['0', '2', '2']);
    expect(seen).toEqual([1, 2, 3]);
    sub.close();
    await sub.closed;
  });

  it('only a 410 resets: a 400 ends the subscription whatever its code', async () => {
    const server = streamServer([[event(1)], () => problem(400, 'cursor_expired', { history_start: 5 })]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const resets: number[] = [];
    const errors: SessionSyncError[] = [];
    const sub = client.subscribe('reset-400', {}, { onReset: (r) => resets.push(r.history_start), onError: (e) => errors.push(e) });
    await until(() => sub.status === 'closed' || server.requests.length > 2, 'the end of the subscription');
    expect(resets).toEqual([]);
    expect(errors.map((e) => [e.status, e.code])).toEqual([[400, 'cursor_expired']]);
    expect(server.requests).toHaveLength(2);
    expect(sub.lastSeq).toBe(1);
  });
});

describe('refusals and drops', () => {
  it.each([
    [400, 'invalid_request'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'session_not_found'],
    [409, 'cursor_ahead'],
  ])('%i %s ends the subscription: status closed, onError with it, no reconnect', async (status, code) => {
    const server = streamServer([[event(1)], () => problem(status, code)]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const errors: SessionSyncError[] = [];
    const statuses: StreamStatus[] = [];
    const sub = client.subscribe('fatal-1', {}, { onError: (e) => errors.push(e), onStatus: (s) => statuses.push(s) });
    await sub.closed;
    expect(errors.map((e) => [e.status, e.code])).toEqual([[status, code]]);
    expect(statuses.at(-1)).toBe('closed');
    expect(sub.status).toBe('closed');
    expect(server.requests).toHaveLength(2);
  });

  it('session.deleted ends it with onError; nothing after it is delivered', async () => {
    const server = streamServer([[event(1), { event: 'session.deleted', data: { reason: 'deleted' } }, event(2)]]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const errors: SessionSyncError[] = [];
    const seen: number[] = [];
    const sub = client.subscribe('deleted-1', {}, { onEvent: (e) => seen.push(e.seq), onError: (e) => errors.push(e) });
    await sub.closed;
    expect(seen).toEqual([1]);
    expect(errors).toHaveLength(1);
    // Like the 404 the stream would now get: a problem document saying which session, with the frame's fields.
    expect(errors[0]).toMatchObject({
      status: 404,
      code: 'session_deleted',
      detail: 'session deleted-1 was deleted',
      problem: { title: 'Session deleted', reason: 'deleted' },
    });
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    ['a 404', [[event(1)], () => problem(404, 'session_not_found')] as Connection[]],
    ['session.deleted', [{ frames: [event(1), { event: 'session.deleted', data: { reason: 'deleted' } }], hold: true }] as Connection[]],
  ])('with no onError handler, %s still ends it', async (_, script) => {
    const server = streamServer(script);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const sub = client.subscribe('quiet-1', {}, {});
    await until(() => sub.status === 'closed' || server.requests.length > script.length, 'the end of the subscription');
    expect(sub.status).toBe('closed');
    expect(server.requests).toHaveLength(script.length);
  });

  it('refusals in a row are one reconnecting spell: onStatus hears of each change once', async () => {
    const server = streamServer([() => problem(503, 'database_unavailable'), () => problem(503, 'database_unavailable'), { frames: [event(1)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const statuses: StreamStatus[] = [];
    const seen: number[] = [];
    const sub = client.subscribe('spell-1', {}, { onEvent: (e) => seen.push(e.seq), onStatus: (s) => statuses.push(s) });
    await until(() => seen.length === 1, 'the event after the refusals');
    expect(statuses).toEqual(['connecting', 'reconnecting', 'open']);
    sub.close();
    await sub.closed;
  });

  it.each([
    [503, 'too_many_streams'],
    [503, 'database_unavailable'],
    [502, 'bad_gateway'],
    [500, 'internal_error'],
    // A proxy's rate limit: docs/client.md retries it (only 400, 401, 403, 404 and 409 cursor_ahead end a subscription).
    [429, 'rate_limited'],
  ])('%i %s is a drop like any other: it reconnects and resumes, with no onError', async (status, code) => {
    const server = streamServer([[event(1)], () => problem(status, code), { frames: [event(2)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const errors: SessionSyncError[] = [];
    const seen: number[] = [];
    const sub = client.subscribe('drop-1', {}, { onEvent: (e) => seen.push(e.seq), onError: (e) => errors.push(e) });
    await until(() => seen.length === 2, 'the event after the refusal');
    expect(server.requests.map(after)).toEqual(['0', '1', '1']);
    expect(errors).toEqual([]);
    sub.close();
    await sub.closed;
  });

  it('a connection silent for idleTimeoutMs is dropped and resumed from the cursor', async () => {
    const server = streamServer([{ frames: [event(1)], hold: true }, { frames: [event(2)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const sub = client.subscribe('idle-1', { idleTimeoutMs: 50 }, { onEvent: (e) => seen.push(e.seq) });
    await until(() => seen.length === 2, 'the event on the second connection');
    expect(server.requests.map(after)).toEqual(['0', '1']);
    // The first connection was given up (its request aborted, saying why), not left open beside the second.
    expect(server.requests[0]!.signal?.reason).toMatchObject({ name: 'TimeoutError', message: expect.stringContaining('idleTimeoutMs') });
    sub.close();
    await sub.closed;
    expect(server.requests[1]!.signal?.aborted).toBe(true);
  });

  it('status goes connecting, open, reconnecting, open, closed', async () => {
    const server = streamServer([[event(1)], { frames: [event(2)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const statuses: StreamStatus[] = [];
    const seen: DurableEvent[] = [];
    const sub = client.subscribe('status-1', {}, { onStatus: (s) => statuses.push(s), onEvent: (e) => seen.push(e) });
    await until(() => seen.length === 2, 'two events');
    sub.close();
    await sub.closed;
    expect(statuses).toEqual(['connecting', 'open', 'reconnecting', 'open', 'closed']);
  });
});

describe('a server that keeps closing the stream', () => {
  it('is reconnected with jittered exponential waits, capped at maxDelayMs; a connection that delivered starts the waits over', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.spyOn(Math, 'random').mockReturnValue(0.999999);
    const retry = { attempts: 4, baseDelayMs: 100, maxDelayMs: 400 };
    // Six connections closed at once with nothing sent, one that delivers an event, then closes again.
    const script: Connection[] = [[], [], [], [], [], [], [event(1)], [], []];
    const server = streamServer(script);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const sub = client.subscribe('closing-1', {}, {});
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 * 4 + 100 + 200);
    const at = server.requests.map((r) => r.at);
    const waits = at.slice(1).map((t, i) => t - at[i]!);
    expect(waits.slice(0, 8)).toEqual([100, 200, 400, 400, 400, 400, 100, 200]);
    sub.close();
    await sub.closed;
  });
});

// docs/client.md ("Retries"): Retry-After is a floor. The server sends it with the 503s that refuse a stream
// (too_many_streams 5 s, database_unavailable and shutting_down 1 s); a stream that comes back
// sooner adds load exactly while the server is full. So an answer's Retry-After is the least
// wait before the next connection, and retry.maxDelayMs stays the most (as for requests).
describe('a refusal with Retry-After', () => {
  const retry = clockRetry;

  it.each(['too_many_streams', 'database_unavailable', 'shutting_down'])(
    '503 %s with Retry-After: 5 is reconnected after 5 s, not sooner; a later 503 without it keeps the ordinary backoff',
    async (code) => {
      useFakeClock();
      const server = streamServer([
        () => problem(503, code, {}, { 'retry-after': '5' }),
        () => problem(503, code),
        { frames: [event(1)], hold: true },
      ]);
      const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
      const errors: SessionSyncError[] = [];
      const seen: number[] = [];
      const sub = client.subscribe('busy-1', {}, { onEvent: (e) => seen.push(e.seq), onError: (e) => errors.push(e) });
      await vi.advanceTimersByTimeAsync(5000 + 200);
      expect(waitsBetween(server.requests)).toEqual([5000, 200]);
      expect(seen).toEqual([1]);
      expect(errors).toEqual([]);
      sub.close();
      await sub.closed;
    },
  );

  it('a Retry-After longer than maxDelayMs waits maxDelayMs', async () => {
    useFakeClock();
    const server = streamServer([() => problem(503, 'too_many_streams', {}, { 'retry-after': '60' }), { frames: [event(1)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const seen: number[] = [];
    const sub = client.subscribe('busy-2', {}, { onEvent: (e) => seen.push(e.seq) });
    await vi.advanceTimersByTimeAsync(8000);
    expect(waitsBetween(server.requests)).toEqual([8000]);
    expect(seen).toEqual([1]);
    sub.close();
    await sub.closed;
  });

  it('watchChanges is reconnected after the Retry-After of a 503 too', async () => {
    useFakeClock();
    const server = scriptedFetch((request, i) =>
      i === 0
        ? problem(503, 'too_many_streams', {}, { 'retry-after': '5' })
        : sseResponse([{ event: 'sweep_required', data: {} }], { hold: true, signal: request.signal }),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    let sweeps = 0;
    const feed = client.watchChanges({ onSweepRequired: () => sweeps++ });
    await vi.advanceTimersByTimeAsync(5000);
    expect(server.requests.map((r) => r.url.pathname)).toEqual(['/v1/changes', '/v1/changes']);
    expect(waitsBetween(server.requests)).toEqual([5000]);
    expect(sweeps).toBe(1);
    feed.close();
    await feed.closed;
  });
});

describe('the watchdog', () => {
  it('a server that never answers, not even with headers, is given up after idleTimeoutMs and the next connection resumes', async () => {
    const server = streamServer([noAnswer, { frames: [event(1)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const sub = client.subscribe('mute-1', { idleTimeoutMs: 50 }, { onEvent: (e) => seen.push(e.seq) });
    await until(() => seen.length === 1, 'the event on the second connection');
    expect(server.requests[0]!.signal?.reason).toMatchObject({ name: 'TimeoutError' });
    sub.close();
    await sub.closed;
  });

  it('heartbeats alone keep a connection open however long it lasts', async () => {
    useFakeClock();
    const streams: ReturnType<typeof openStream>[] = [];
    const server = streamServer([
      rawConnection([sseText([event(1)])], streams),
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: clockRetry });
    const seen: number[] = [];
    const sub = client.subscribe('heartbeat-1', { idleTimeoutMs: 1000 }, { onEvent: (e) => seen.push(e.seq) });
    await settleIo(() => seen.length === 1);
    for (let beat = 0; beat < 10; beat++) {
      await vi.advanceTimersByTimeAsync(600);
      streams[0]!.send(': keepalive\n\n');
      await settleIo(() => false);
    }
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.signal?.aborted).toBe(false);
    expect(sub.status).toBe('open');
    sub.close();
    await sub.closed;
  });

  it('a replay-only subscription cut before its marker resumes from its cursor and ends only after the marker: all the history, once', async () => {
    const server = streamServer([
      // Cut after two events: the server has not said the replay is done.
      [event(1), event(2)],
      [event(3), { event: 'session.activity', data: { status: 'idle', cursor: 3 } }],
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const errors: SessionSyncError[] = [];
    const sub = client.subscribe('replay-cut-1', { live: false }, { onEvent: (e) => seen.push(e.seq), onError: (e) => errors.push(e) });
    await sub.closed;
    expect(seen).toEqual([1, 2, 3]);
    expect(errors).toEqual([]);
    expect(server.requests.map((r) => [after(r), r.url.searchParams.get('live')])).toEqual([
      ['0', 'false'],
      ['2', 'false'],
    ]);
  });

  it('a replay-only subscription that has ended leaves no timer running (a script that replays and exits is not held up)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const server = streamServer([[event(1), { event: 'session.activity', data: { status: 'idle', cursor: 1 } }]]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: clockRetry });
    const seen: number[] = [];
    const sub = client.subscribe('replay-timers-1', { live: false }, { onEvent: (e) => seen.push(e.seq) });
    await sub.closed;
    expect(seen).toEqual([1]);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('close and abort', () => {
  it('a signal aborted before subscribe: no request is made and it is closed at once', async () => {
    const server = streamServer([{ frames: [event(1)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const controller = new AbortController();
    controller.abort();
    const statuses: StreamStatus[] = [];
    const sub = client.subscribe('aborted-1', { signal: controller.signal }, { onStatus: (s) => statuses.push(s) });
    await until(() => sub.status === 'closed' || server.requests.length > 0, 'the subscription to close');
    expect(server.requests).toHaveLength(0);
    expect(statuses).toEqual(['connecting', 'closed']);
    await sub.closed;
  });

  it("aborting the signal closes it: the open connection's request is aborted with an AbortError", async () => {
    const server = streamServer([{ frames: [event(1)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const controller = new AbortController();
    const seen: number[] = [];
    const sub = client.subscribe('abort-1', { signal: controller.signal }, { onEvent: (e) => seen.push(e.seq) });
    await until(() => seen.length === 1, 'the first event');
    controller.abort();
    await until(() => sub.status === 'closed', 'the subscription to close');
    await sub.closed;
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.signal?.reason).toMatchObject({ name: 'AbortError', message: 'closed' });
  });

  it('subscriptions that ended, by a refusal or by close(), leave no listener on a signal they shared', async () => {
    const server = scriptedFetch((request) =>
      request.url.pathname.includes('missing') ? problem(404, 'session_not_found') : sseResponse([event(1)], { hold: true, signal: request.signal }),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const app = new AbortController();
    const missing = client.subscribe('missing-1', { signal: app.signal }, {});
    const seen: number[] = [];
    const open = client.subscribe('shared-1', { signal: app.signal }, { onEvent: (e) => seen.push(e.seq) });
    await missing.closed;
    await until(() => seen.length === 1, 'the first event');
    open.close();
    await open.closed;
    expect(getEventListeners(app.signal, 'abort')).toHaveLength(0);
  });

  it('close() from a handler, on a stream the server has just ended: closed without a reconnect', async () => {
    const server = streamServer([[event(1), event(2)]]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const statuses: StreamStatus[] = [];
    const sub = client.subscribe(
      'close-in-handler-1',
      {},
      {
        onEvent: (e) => {
          if (e.seq === 2) sub.close();
        },
        onStatus: (s) => statuses.push(s),
      },
    );
    await sub.closed;
    expect(statuses).toEqual(['connecting', 'open', 'closed']);
    expect(server.requests).toHaveLength(1);
  });

  it('a connection that has ended is let go: close() later reaches only the connection still open', async () => {
    const server = streamServer([[event(1)], { frames: [event(2)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const sub = client.subscribe('let-go-1', {}, { onEvent: (e) => seen.push(e.seq) });
    await until(() => seen.length === 2, 'the event on the second connection');
    sub.close();
    await sub.closed;
    expect(server.requests.map((r) => r.signal?.aborted)).toEqual([false, true]);
  });
});

describe('reconnecting at once, or after a wait', () => {
  it('after a 410 it reconnects at once, with or without an onReset handler', async () => {
    useFakeClock();
    const server = streamServer([() => problem(410, 'cursor_expired', { history_start: 5 }), { frames: [event(6)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: clockRetry });
    const seen: number[] = [];
    const sub = client.subscribe('reset-now-1', {}, { onEvent: (e) => seen.push(e.seq) });
    await settleIo(() => seen.length === 1);
    expect(waitsBetween(server.requests)).toEqual([0]);
    expect(server.requests.map(after)).toEqual(['0', '5']);
    expect(seen).toEqual([6]);
    sub.close();
    await sub.closed;
  });

  it('session.token_expired on a connection still open: it reconnects at once with a fresh token, from the cursor, and lets the old connection go', async () => {
    useFakeClock();
    const streams: ReturnType<typeof openStream>[] = [];
    const server = streamServer([
      rawConnection([sseText([event(1), { event: 'session.token_expired', data: { expired_at: '2026-12-04T00:00:00Z' } }])], streams),
      { frames: [event(2)], hold: true },
    ]);
    let issued = 0;
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: clockRetry, token: () => `token-${++issued}` });
    const seen: number[] = [];
    const live: unknown[] = [];
    const sub = client.subscribe('expiry-1', {}, { onEvent: (e) => seen.push(e.seq), onLive: (e) => live.push(e) });
    await settleIo(() => seen.length === 2);
    expect(waitsBetween(server.requests)).toEqual([0]);
    expect(server.requests.map((r) => r.headers.get('authorization'))).toEqual(['Bearer token-1', 'Bearer token-2']);
    expect(server.requests.map(after)).toEqual(['0', '1']);
    expect(seen).toEqual([1, 2]);
    expect(live).toEqual([]);
    expect(streams[0]!.cancelled).toBe(true);
    sub.close();
    await sub.closed;
  });

  it('session.deleted on a connection the server keeps open: the client lets the connection go', async () => {
    const streams: ReturnType<typeof openStream>[] = [];
    const server = streamServer([
      rawConnection([sseText([event(1), { event: 'session.deleted', data: { reason: 'deleted' } }])], streams),
    ]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const sub = client.subscribe('deleted-open-1', {}, {});
    await sub.closed;
    // The cancel travels through the decoding pipe to the body in turns of its own.
    await settleIo(() => streams[0]!.cancelled);
    expect(streams[0]!.cancelled).toBe(true);
  });

  it('a connection that got no answer is retried after the backoff, not at once', async () => {
    useFakeClock();
    const server = streamServer([() => networkFailure(), { frames: [event(1)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: clockRetry });
    const seen: number[] = [];
    const sub = client.subscribe('no-answer-1', {}, { onEvent: (e) => seen.push(e.seq) });
    await vi.advanceTimersByTimeAsync(100);
    await settleIo(() => seen.length === 1);
    expect(waitsBetween(server.requests)).toEqual([100]);
    expect(seen).toEqual([1]);
    sub.close();
    await sub.closed;
  });
});

describe('a handler that throws', () => {
  it('a throwing onError still ends the subscription on a refusal or session.deleted: it is not taken for a drop', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const onError = () => {
      throw new Error('a bug in onError');
    };
    const refused = streamServer([() => problem(404, 'session_not_found')]);
    const first = createClient({ baseUrl: 'http://server.test', fetch: refused.fetch, retry: fast }).subscribe('throws-404', {}, { onError });
    await settleIo(() => first.status === 'closed');
    await first.closed;
    expect(uncaughtTimerErrors()).toMatchObject({ message: 'a bug in onError' });
    expect(refused.requests).toHaveLength(1);

    const deleted = streamServer([{ frames: [event(1), { event: 'session.deleted', data: { reason: 'deleted' } }, event(2)], hold: true }]);
    const seen: number[] = [];
    const second = createClient({ baseUrl: 'http://server.test', fetch: deleted.fetch, retry: fast }).subscribe(
      'throws-deleted',
      {},
      { onEvent: (e) => seen.push(e.seq), onError },
    );
    await settleIo(() => second.status === 'closed');
    await second.closed;
    expect(seen).toEqual([1]);
    expect(uncaughtTimerErrors()).toMatchObject({ message: 'a bug in onError' });
    expect(deleted.requests).toHaveLength(1);
  });

  it('a throwing onReset still resumes from history_start, once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = streamServer([() => problem(410, 'cursor_expired', { history_start: 5 }), { frames: [event(6)], hold: true }]);
    const seen: number[] = [];
    const sub = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).subscribe(
      'throws-reset',
      { after: 2 },
      {
        onEvent: (e) => seen.push(e.seq),
        onReset: () => {
          throw new Error('a bug in onReset');
        },
      },
    );
    await settleIo(() => seen.length === 1);
    expect(seen).toEqual([6]);
    expect(server.requests.map(after)).toEqual(['2', '5']);
    expect(uncaughtTimerErrors()).toMatchObject({ message: 'a bug in onReset' });
    sub.close();
    await sub.closed;
  });

  it('a throwing onStatus changes nothing: the stream opens, delivers and closes as it would', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = streamServer([{ frames: [event(1)], hold: true }]);
    const seen: number[] = [];
    const sub = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).subscribe(
      'throws-status',
      {},
      {
        onEvent: (e) => seen.push(e.seq),
        onStatus: () => {
          throw new Error('a bug in onStatus');
        },
      },
    );
    await settleIo(() => seen.length === 1 && sub.status === 'open');
    expect(sub.status).toBe('open');
    sub.close();
    await sub.closed;
    expect(sub.status).toBe('closed');
    expect(uncaughtTimerErrors()).toMatchObject({ message: 'a bug in onStatus' });
    expect(server.requests).toHaveLength(1);
  });

  it('is reported as an uncaught error, and the stream and its cursor carry on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = streamServer([{ frames: [event(1), event(2)], hold: true }]);
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const seen: number[] = [];
    const sub = client.subscribe(
      'throws-1',
      {},
      {
        onEvent: (e) => {
          seen.push(e.seq);
          if (e.seq === 1) throw new Error('a bug in the handler');
        },
      },
    );
    await settleIo(() => seen.length === 2);
    expect(seen).toEqual([1, 2]);
    expect(sub.lastSeq).toBe(2);
    expect(uncaughtTimerErrors()).toMatchObject({ message: 'a bug in the handler' });
    expect(server.requests).toHaveLength(1);
    sub.close();
    await sub.closed;
  });
});
