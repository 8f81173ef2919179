import { afterEach, describe, expect, it, vi } from 'vitest';
import { createClient, type SessionChange, type SessionSyncError, type StreamStatus } from '../../client/src/index.js';
import { problem, scriptedFetch, type SeenRequest, sseResponse, sseText } from '../helpers/fake-fetch.js';
import { until, settleIo, uncaughtTimerErrors } from '../helpers/waits.js';

// watchChanges (docs/client.md, "watchChanges") against a scripted changes
// feed: refusals, token expiry and frames the real server never sends.
const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 };

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const sweep = { event: 'sweep_required', data: {} };

/** A 200 event stream of raw SSE text that stays open until the client lets it go. */
function heldRaw(request: SeenRequest, text: string): Response {
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => {
      controller.enqueue(new TextEncoder().encode(text));
      request.signal?.addEventListener('abort', () => controller.error(request.signal?.reason), { once: true });
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

describe('watchChanges refusals', () => {
  it.each([
    [400, 'invalid_request'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    // A base URL with no changes feed behind it: no reconnect will find one.
    [404, 'not_found'],
  ])('%i %s ends the feed: onError with it, status closed, no reconnect', async (status, code) => {
    const server = scriptedFetch(() => problem(status, code));
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const errors: SessionSyncError[] = [];
    const statuses: StreamStatus[] = [];
    const feed = client.watchChanges({ onError: (e) => errors.push(e), onStatus: (s) => statuses.push(s) });
    await until(() => feed.status === 'closed' || server.requests.length > 1, 'the end of the feed');
    expect(errors.map((e) => [e.status, e.code])).toEqual([[status, code]]);
    expect(statuses).toEqual(['connecting', 'closed']);
    expect(server.requests).toHaveLength(1);
    await feed.closed;
  });

  it('with no onError handler, a 401 still ends it', async () => {
    const server = scriptedFetch(() => problem(401, 'unauthorized'));
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const feed = client.watchChanges({});
    await until(() => feed.status === 'closed' || server.requests.length > 1, 'the end of the feed');
    expect(feed.status).toBe('closed');
    expect(server.requests).toHaveLength(1);
  });

  it('an onError that throws is reported as uncaught, and the feed still ends: no reconnect to be refused again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = scriptedFetch(() => problem(403, 'forbidden'));
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const feed = client.watchChanges({
      onError: () => {
        throw new Error('a bug in onError');
      },
    });
    await settleIo(() => feed.status === 'closed');
    await feed.closed;
    expect(uncaughtTimerErrors()).toMatchObject({ message: 'a bug in onError' });
    expect(server.requests).toHaveLength(1);
  });

  it('a 503 is a drop: it reconnects, sweeps and reports no error', async () => {
    const server = scriptedFetch((request, i) =>
      i < 2 ? problem(503, 'shutting_down') : sseResponse([sweep], { hold: true, signal: request.signal }),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const errors: SessionSyncError[] = [];
    let sweeps = 0;
    const feed = client.watchChanges({ onError: (e) => errors.push(e), onSweepRequired: () => sweeps++ });
    await until(() => sweeps === 1, 'the sweep after the refusals');
    expect(server.requests).toHaveLength(3);
    expect(errors).toEqual([]);
    feed.close();
    await feed.closed;
  });

  // docs/client.md: watchChanges ends only on 400, 401, 403 or 404 and retries any other refusal after a wait, bounded
  // below by its Retry-After, as subscribe does. A dashboard rate-limited for a moment must come back by itself.
  it('a 429 with Retry-After is waited out: it reconnects no sooner than asked, sweeps, and reports no error', async () => {
    const server = scriptedFetch((request, i) =>
      i === 0 ? problem(429, 'rate_limited', {}, { 'retry-after': '1' }) : sseResponse([sweep], { hold: true, signal: request.signal }),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 3000 } });
    const errors: SessionSyncError[] = [];
    const statuses: StreamStatus[] = [];
    let sweeps = 0;
    const feed = client.watchChanges({ onError: (e) => errors.push(e), onStatus: (s) => statuses.push(s), onSweepRequired: () => sweeps++ });
    await until(() => sweeps === 1 || feed.status === 'closed', 'the sweep after the 429');
    expect(errors).toEqual([]);
    expect(sweeps).toBe(1);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(statuses).not.toContain('closed');
    feed.close();
    await feed.closed;
  });
});

describe('watchChanges frames', () => {
  it('session.token_expired on a feed still open: it reconnects at once with a fresh token and sweeps again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.spyOn(Math, 'random').mockReturnValue(0.999999);
    const server = scriptedFetch((request, i) =>
      i === 0
        ? heldRaw(request, sseText([sweep, { event: 'session.token_expired', data: { expired_at: '2026-12-04T00:00:00Z' } }]))
        : sseResponse([sweep], { hold: true, signal: request.signal }),
    );
    let issued = 0;
    const client = createClient({
      baseUrl: 'http://server.test',
      fetch: server.fetch,
      retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 8000 },
      token: () => `token-${++issued}`,
    });
    const changes: SessionChange[] = [];
    let sweeps = 0;
    const feed = client.watchChanges({ onChange: (c) => changes.push(c), onSweepRequired: () => sweeps++ });
    await settleIo(() => sweeps === 2);
    expect(sweeps).toBe(2);
    expect(server.requests.map((r) => r.at - server.requests[0]!.at)).toEqual([0, 0]);
    expect(server.requests.map((r) => r.headers.get('authorization'))).toEqual(['Bearer token-1', 'Bearer token-2']);
    expect(changes).toEqual([]);
    feed.close();
    await feed.closed;
  });

  it('a frame without a name is type "message"; one whose data is not JSON is skipped; the feed goes on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = scriptedFetch((request) =>
      heldRaw(
        request,
        'event: sweep_required\ndata: {}\n\n' +
          'data: {"session_id":"a"}\n\n' +
          'event: session.changed\ndata: not json\n\n' +
          'event: session.created\ndata: {"session_id":"b"}\n\n',
      ),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const changes: SessionChange[] = [];
    let sweeps = 0;
    const feed = client.watchChanges({ onChange: (c) => changes.push(c), onSweepRequired: () => sweeps++ });
    await settleIo(() => changes.length === 2);
    expect(sweeps).toBe(1);
    expect(changes).toEqual([
      { type: 'message', session_id: 'a' },
      { type: 'session.created', session_id: 'b' },
    ]);
    expect(uncaughtTimerErrors()).toBeUndefined();
    feed.close();
    await feed.closed;
  });

  it.each([
    ['onChange only', { onChange: () => {} }],
    ['onSweepRequired only', { onSweepRequired: () => {} }],
  ])('every handler is optional (%s): frames with no handler for them raise no error', async (_, handlers) => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = scriptedFetch((request) =>
      sseResponse([sweep, { event: 'session.changed', data: { session_id: 'a', last_seq: 1, version: 0 } }], { hold: true, signal: request.signal }),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast });
    const feed = client.watchChanges(handlers);
    await settleIo(() => feed.status === 'open');
    await settleIo(() => false);
    expect(feed.status).toBe('open');
    expect(uncaughtTimerErrors()).toBeUndefined();
    feed.close();
    await feed.closed;
  });
});
