import { afterEach, describe, expect, it, vi } from 'vitest';
import { createClient, type DurableEvent, type SessionSyncError, type StreamStatus } from '../../client/src/index.js';
import { problem, scriptedFetch, type SeenRequest, type SseFrame, sseResponse } from '../helpers/fake-fetch.js';

// subscribe's rules from shared/CLIENT.md ("subscribe") against a scripted
// stream server: what it sends on each connection is written out below, so
// resends, resets, live-only frames and closes happen exactly where a test
// puts them.
const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 };

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

type Connection = SseFrame[] | { frames: SseFrame[]; hold: true } | (() => Response);

/** Connection i gets `connections[i]`; past the end, a stream that stays open and silent. */
function streamServer(connections: Connection[]) {
  return scriptedFetch((request: SeenRequest, i: number) => {
    const script = connections[i] ?? { frames: [], hold: true };
    if (typeof script === 'function') return script();
    if (Array.isArray(script)) return sseResponse(script);
    return sseResponse(script.frames, { hold: true, signal: request.signal });
  });
}

const event = (seq: number, type = 'step'): SseFrame => ({ id: seq, event: type, data: { seq, type, data: { n: seq }, created_at: '2026-12-04T00:00:00Z' } });
const after = (request: SeenRequest | undefined) => request?.url.searchParams.get('after');

async function until(done: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

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
    await until(() => seen.length === 1, 'the event after the head');
    expect(server.requests.map(after)).toEqual(['now', '10']);
    expect(seen).toEqual([11]);
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
});

describe('refusals and drops', () => {
  it.each([
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'session_not_found'],
  ])('%i ends the subscription: status closed, onError with it, no reconnect', async (status, code) => {
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
    expect(errors.map((e) => e.status)).toEqual([404]);
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    [503, 'too_many_streams'],
    [503, 'database_unavailable'],
    [502, 'bad_gateway'],
    [500, 'internal_error'],
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
    // The first connection was given up (its request aborted), not left open beside the second.
    expect(server.requests[0]!.signal?.aborted).toBe(true);
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

// CLIENT.md is silent on Retry-After. The server sends it with the 503s that refuse a stream
// (too_many_streams 5 s, database_unavailable and shutting_down 1 s); a stream that comes back
// sooner adds load exactly while the server is full. So an answer's Retry-After is the least
// wait before the next connection, and retry.maxDelayMs stays the most (as for requests).
describe('a refusal with Retry-After', () => {
  const retry = { attempts: 4, baseDelayMs: 100, maxDelayMs: 8000 };

  function useFakeClock() {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    // The jittered wait is then its whole step: 100 ms after the first failure, 200 after the second.
    vi.spyOn(Math, 'random').mockReturnValue(0.999999);
  }

  const waitsBetween = (requests: SeenRequest[]) => requests.slice(1).map((r, i) => r.at - requests[i]!.at);

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
