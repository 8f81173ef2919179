import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteExpiredSessions } from '../../src/history/expiry.js';
import { slideOnAccess } from '../../src/streams/stream-expiry.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { Gate } from '../helpers/gate.js';
import { SseClient } from '../helpers/sse.js';
import { until } from '../helpers/waits.js';
import { metric } from '../helpers/metrics.js';

// The Durable Streams face's expiry (issue 28, slice 3): Stream-TTL (a sliding idle window) and Stream-Expires-At
// (a fixed time) on the session's own expiry. Time passes by moving the session's stored times back (`age`), so
// nothing here waits on the wall clock: Postgres's clock judges, and the stored times say how long ago things were.
// The background sweeps are off (a day apart); tests run the expiry sweep themselves.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000', STREAM_LONG_POLL_MS: '20000' } });
  await t.listen();
});
afterAll(async () => {
  await t?.close();
});

const path = (name: string) => `/v1/stream/${name}`;
const offset = (seq: number) => `0000000000000000_${String(seq).padStart(16, '0')}`;

function ds(method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE', name: string, headers: Record<string, string> = {}, body?: string) {
  return t.app.inject({ method, url: path(name), headers, ...(body === undefined ? {} : { payload: body }) });
}

/** As if `ms` had passed for the session: every time it stores moves back by that much. */
async function age(id: string, ms: number): Promise<void> {
  await t.database.db`
    update sessions set updated_at = updated_at - ${ms} * interval '1 millisecond',
      read_at = read_at - ${ms} * interval '1 millisecond',
      expires_at = expires_at - ${ms} * interval '1 millisecond',
      expiry_check_at = expiry_check_at - ${ms} * interval '1 millisecond'
    where id = ${id}`;
}

async function putTtl(name: string, ttl: string, body?: string) {
  const res = await ds('PUT', name, { 'content-type': 'text/plain', 'stream-ttl': ttl }, body);
  expect(res.statusCode, res.body).toBe(201);
}

const openStreams = () => metric(t.app, 'session_sync_open_streams');

const status = async (method: 'GET' | 'HEAD', name: string) => (await ds(method, name)).statusCode;

describe('PUT and HEAD (PROTOCOL 5.1, 5.5)', () => {
  it('HEAD answers the configured window and the fixed time; the native Session shows the same expiry', async () => {
    await putTtl('x-head-ttl', '3600');
    const head = await ds('HEAD', 'x-head-ttl');
    expect(head.headers['stream-ttl']).toBe('3600');
    expect(head.headers['stream-expires-at']).toBeUndefined();
    const native = (await call(t.app, 'GET', '/v1/sessions/x-head-ttl')).json();
    expect(native.ttl_ms).toBe(3_600_000);
    expect(Date.parse(native.expires_at) - Date.parse(native.updated_at)).toBe(3_600_000);

    const at = '2099-01-02T03:04:05.678Z';
    expect((await ds('PUT', 'x-head-at', { 'content-type': 'text/plain', 'stream-expires-at': '2099-01-02T04:04:05.678+01:00' })).statusCode).toBe(201);
    const fixed = await ds('HEAD', 'x-head-at');
    expect(fixed.headers['stream-expires-at']).toBe(at);
    expect(fixed.headers['stream-ttl']).toBeUndefined();
    expect((await call(t.app, 'GET', '/v1/sessions/x-head-at')).json()).toMatchObject({ ttl_ms: null, expires_at: at });

    const none = await ds('HEAD', 'x-head-ttl-none', {});
    expect(none.statusCode).toBe(404);
  });

  it('with a fixed time and a ttl_ms (set by a native PATCH), the Session shows the sooner of the two as expires_at', async () => {
    // A far fixed time and a short window: the window ends first, counted from the PATCH (a write).
    expect((await ds('PUT', 'x-both-far', { 'content-type': 'text/plain', 'stream-expires-at': '2099-01-01T00:00:00.000Z' })).statusCode).toBe(201);
    expect((await call(t.app, 'PATCH', '/v1/sessions/x-both-far', { ttl_ms: 60_000 })).statusCode).toBe(200);
    const windowFirst = (await call(t.app, 'GET', '/v1/sessions/x-both-far')).json();
    expect(windowFirst.ttl_ms).toBe(60_000);
    expect(windowFirst.expires_at).toBe(new Date(Date.parse(windowFirst.updated_at) + 60_000).toISOString());

    // A near fixed time and a day's window: the fixed time comes first.
    const near = new Date(Date.now() + 60_000).toISOString();
    expect((await ds('PUT', 'x-both-near', { 'content-type': 'text/plain', 'stream-expires-at': near })).statusCode).toBe(201);
    expect((await call(t.app, 'PATCH', '/v1/sessions/x-both-near', { ttl_ms: 86_400_000 })).statusCode).toBe(200);
    expect((await call(t.app, 'GET', '/v1/sessions/x-both-near')).json()).toMatchObject({ ttl_ms: 86_400_000, expires_at: near });
  });

  it('PUT again: the same expiry is 200, another (or none) is 409 saying both', async () => {
    await putTtl('x-idem', '60');
    expect((await ds('PUT', 'x-idem', { 'content-type': 'text/plain', 'stream-ttl': '60' })).statusCode).toBe(200);
    const other = expectProblem(await ds('PUT', 'x-idem', { 'content-type': 'text/plain', 'stream-ttl': '61' }), 409, 'session_exists');
    expect(other.detail).toBe('stream of session "x-idem" already exists, with Stream-TTL 60 (this request asks for Stream-TTL 61)');
    const none = expectProblem(await ds('PUT', 'x-idem', { 'content-type': 'text/plain' }), 409, 'session_exists');
    expect(none.detail).toContain('with Stream-TTL 60 (this request asks for no expiry)');
    const at = new Date(Date.now() + 3_600_000).toISOString();
    expect((await ds('PUT', 'x-idem-at', { 'content-type': 'text/plain', 'stream-expires-at': at })).statusCode).toBe(201);
    expect((await ds('PUT', 'x-idem-at', { 'content-type': 'text/plain', 'stream-expires-at': at })).statusCode).toBe(200);
    expectProblem(await ds('PUT', 'x-idem-at', { 'content-type': 'text/plain', 'stream-ttl': '60' }), 409, 'session_exists');
  });

  it('PUT again with another Stream-Expires-At, or none, is 409 and the stream keeps its time', async () => {
    const at = '2099-03-04T05:06:07.890Z';
    expect((await ds('PUT', 'x-idem-other-at', { 'content-type': 'text/plain', 'stream-expires-at': at })).statusCode).toBe(201);
    const later = expectProblem(
      await ds('PUT', 'x-idem-other-at', { 'content-type': 'text/plain', 'stream-expires-at': '2099-03-04T05:06:07.891Z' }),
      409,
      'session_exists',
    );
    expect(later.detail).toContain(`with Stream-Expires-At ${at} (this request asks for Stream-Expires-At 2099-03-04T05:06:07.891Z)`);
    const none = expectProblem(await ds('PUT', 'x-idem-other-at', { 'content-type': 'text/plain' }), 409, 'session_exists');
    expect(none.detail).toContain(`with Stream-Expires-At ${at} (this request asks for no expiry)`);
    const head = await ds('HEAD', 'x-idem-other-at');
    expect(head.headers['stream-expires-at']).toBe(at);
    expect(head.headers['stream-ttl']).toBeUndefined();
  });

  it('a malformed value, or both headers, is 400 naming the rule; nothing is created', async () => {
    const bad = expectProblem(await ds('PUT', 'x-bad', { 'stream-ttl': '1e3' }), 400, 'invalid_request');
    expect(bad.detail).toContain('Stream-TTL must be a whole number of seconds');
    const both = expectProblem(
      await ds('PUT', 'x-bad', { 'stream-ttl': '60', 'stream-expires-at': '2099-01-01T00:00:00Z' }),
      400,
      'invalid_request',
    );
    expect(both.detail).toBe('send Stream-TTL (an idle window) or Stream-Expires-At (a fixed time), not both');
    expect(await status('HEAD', 'x-bad')).toBe(404);
  });

  it('Stream-TTL: 0 is a window already over, and Expires-At in the past a time gone: created (201), then absent', async () => {
    await putTtl('x-zero', '0', 'gone');
    expect(await status('HEAD', 'x-zero')).toBe(404);
    expect((await ds('PUT', 'x-past', { 'stream-expires-at': '2001-01-01T00:00:00Z' })).statusCode).toBe(201);
    expect(await status('GET', 'x-past')).toBe(404);
  });
});

describe('the sliding window', () => {
  it('reads alone keep a stream alive (catch-up, offset=now, long-poll), and the native Session shows the moved expiry', async () => {
    await putTtl('x-reads', '60', 'data');
    for (const query of ['', '?offset=now', `?offset=${offset(0)}&live=long-poll`]) {
      await age('x-reads', 45_000);
      expect((await t.app.inject({ method: 'GET', url: `${path('x-reads')}${query}` })).statusCode).toBe(200);
    }
    // 135 s since the only write, 45 s since the last read.
    await age('x-reads', 45_000);
    expect(await status('HEAD', 'x-reads')).toBe(200);
    const native = (await call(t.app, 'GET', '/v1/sessions/x-reads')).json();
    expect(Date.parse(native.expires_at) - Date.parse(native.updated_at)).toBeGreaterThan(60_000);
    // The reads moved `read_at`, not the native `updated_at` (the last write).
    expect(Date.now() - Date.parse(native.updated_at)).toBeGreaterThan(130_000);
    await age('x-reads', 16_000);
    expect(await status('HEAD', 'x-reads')).toBe(404);
  });

  it('an access that read the stream just before its expiry slides nothing after it: the stream stays expired', async () => {
    await putTtl('x-late-slide', '60', 'data');
    // What a read does after its head read found the stream alive, had the expiry come between the two.
    const sid = (await t.database.db<{ sid: number }[]>`select sid from sessions where id = 'x-late-slide'`)[0]!.sid;
    await age('x-late-slide', 61_000);
    await slideOnAccess(t.database.db, { sid, expiry: { ttlMs: 60_000, expiresAt: null } });
    expect(await status('HEAD', 'x-late-slide')).toBe(404);
  });

  it('a read within a tenth of the TTL (at most 1 s) of the last slide writes nothing: busy streams do not queue reads behind writes', async () => {
    // The window is at most a second of Postgres's clock, which the test cannot move for a request in flight. So a read
    // is judged only when the database shows it came inside the window (a select after it is less than a second past
    // the last access); one a loaded machine delayed past the window proves nothing either way, and the step is taken again.
    const WINDOW_MS = 1000;
    const timesOf = async (id: string) =>
      (await t.database.db<{ updatedAt: Date; readAt: Date | null; now: Date }[]>`select updated_at, read_at, now() as now from sessions where id = ${id}`)[0]!;
    const judged = async (step: (attempt: number) => Promise<boolean>, what: string) => {
      for (let attempt = 0; attempt < 10; attempt++) if (await step(attempt)) return;
      expect.fail(`no read reached Postgres within ${WINDOW_MS} ms of ${what} in 10 attempts`);
    };

    // Right after the write that made it: the first read writes nothing.
    let id = '';
    await judged(async (attempt) => {
      id = `x-cheap-${attempt}`;
      await putTtl(id, '60', 'data');
      expect(await status('GET', id)).toBe(200);
      const after = await timesOf(id);
      if (after.now.getTime() - after.updatedAt.getTime() >= WINDOW_MS) return false;
      expect(after.readAt).toBeNull();
      return true;
    }, 'the write');

    // Past the window the read slides it; a read right after that writes nothing.
    await judged(async () => {
      await age(id, 2000);
      const aged = await timesOf(id);
      expect(await status('GET', id)).toBe(200);
      const slid = (await timesOf(id)).readAt;
      expect(slid?.getTime()).toBeGreaterThanOrEqual(aged.now.getTime());
      expect(await status('GET', id)).toBe(200);
      const after = await timesOf(id);
      if (after.now.getTime() - slid!.getTime() >= WINDOW_MS) return false;
      expect(after.readAt).toEqual(slid);
      return true;
    }, 'the slide');
  });

  it('an SSE read slides it with the pages it sends', async () => {
    await putTtl('x-sse', '60', 'data');
    await age('x-sse', 45_000);
    const reading = new AbortController();
    const res = await fetch(`${t.baseUrl}${path('x-sse')}?live=sse&offset=-1`, { signal: reading.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('event: control')) text += new TextDecoder().decode((await reader.read()).value);
    reading.abort();
    await age('x-sse', 45_000);
    expect(await status('HEAD', 'x-sse')).toBe(200);
  });

  it('a long-poll waiting at the tail of a stream that expires meanwhile ends with 404 once it is deleted', async () => {
    await putTtl('x-lp', '60', 'data');
    const started = Date.now();
    const polled = t.app.inject({ method: 'GET', url: `${path('x-lp')}?live=long-poll&offset=${offset(1)}` });
    // A waiting long-poll holds a stream slot.
    await until(async () => (await openStreams()) === 1, 'the long-poll to wait at the tail');
    await age('x-lp', 61_000);
    expect(await status('HEAD', 'x-lp')).toBe(404);
    const res = await polled;
    expectProblem(res, 404, 'session_not_found');
    // Woken by the deletion, not by its 20 s timeout.
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('HEAD does not slide it', async () => {
    await putTtl('x-head-only', '60');
    await age('x-head-only', 45_000);
    expect(await status('HEAD', 'x-head-only')).toBe(200);
    await age('x-head-only', 16_000);
    expect(await status('HEAD', 'x-head-only')).toBe(404);
  });

  it('appends, closing and closing again slide it', async () => {
    await putTtl('x-writes', '60');
    await age('x-writes', 45_000);
    expect((await ds('POST', 'x-writes', { 'content-type': 'text/plain' }, 'more')).statusCode).toBe(204);
    await age('x-writes', 45_000);
    expect((await ds('POST', 'x-writes', { 'stream-closed': 'true' })).statusCode).toBe(204);
    await age('x-writes', 45_000);
    // Already closed: a no-op close, still an access.
    expect((await ds('POST', 'x-writes', { 'stream-closed': 'true' })).statusCode).toBe(204);
    await age('x-writes', 45_000);
    const head = await ds('HEAD', 'x-writes');
    expect(head.statusCode).toBe(200);
    expect(head.headers['stream-closed']).toBe('true');
  });

  it('Stream-Expires-At never moves: reads and writes leave it where it was', async () => {
    const at = new Date(Date.now() + 60_000).toISOString();
    expect((await ds('PUT', 'x-fixed', { 'content-type': 'text/plain', 'stream-expires-at': at }, 'a')).statusCode).toBe(201);
    await age('x-fixed', 50_000);
    expect(await status('GET', 'x-fixed')).toBe(200);
    expect((await ds('POST', 'x-fixed', { 'content-type': 'text/plain' }, 'b')).statusCode).toBe(204);
    await age('x-fixed', 11_000);
    expect(await status('GET', 'x-fixed')).toBe(404);
    expect((await ds('POST', 'x-fixed', { 'content-type': 'text/plain' }, 'c')).statusCode).toBe(404);
  });
});

describe('an expired stream is absent at once, on both faces', () => {
  it('the first access deletes it as the sweep would: one session.deleted {reason: "expired"} to a native subscriber', async () => {
    await putTtl('x-lazy', '60', 'data');
    const native = await SseClient.open(`${t.baseUrl}/v1/sessions/x-lazy/stream`);
    const changes = await SseClient.open(`${t.baseUrl}/v1/changes`);
    try {
      await native.waitFor(() => native.messages.some((m) => m.event === 'session.activity'), 'the marker');
      await age('x-lazy', 61_000);
      expectProblem(await ds('GET', 'x-lazy'), 404, 'session_not_found');
      await native.waitForEnd();
      expect(native.messages.filter((m) => m.event === 'session.deleted').map((m) => m.json)).toEqual([
        { session_id: 'x-lazy', reason: 'expired' },
      ]);
      await changes.waitFor(() => changes.messages.some((m) => m.event === 'session.deleted'), 'the changes feed');
      expect(await deleteExpiredSessions(t.database.db)).toBe(0);
      const [row] = await t.database.db`select 1 from sessions where id = 'x-lazy'`;
      expect(row).toBeUndefined();
    } finally {
      await native.close();
      await changes.close();
    }
  });

  it('native reads, listings and writes do not see it before the sweep; a native create takes its id', async () => {
    await putTtl('x-native', '60', 'data');
    await age('x-native', 61_000);
    expectProblem(await call(t.app, 'GET', '/v1/sessions/x-native'), 404, 'session_not_found');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/x-native/events'), 404, 'session_not_found');
    const listed = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions.map((s: { id: string }) => s.id);
    expect(listed).not.toContain('x-native');
    // A native write finds it expired: 404, and it is deleted under the write's lock (nothing lands in it).
    expectProblem(await call(t.app, 'POST', '/v1/sessions/x-native/events', { events: [{ type: 'note', data: 1 }] }), 404, 'session_not_found');
    const [row] = await t.database.db`select 1 from sessions where id = 'x-native'`;
    expect(row).toBeUndefined();

    await putTtl('x-native-2', '60', 'data');
    await age('x-native-2', 61_000);
    const created = await call(t.app, 'POST', '/v1/sessions', { id: 'x-native-2' });
    expect(created.statusCode, created.body).toBe(201);
    expect((await call(t.app, 'GET', '/v1/sessions/x-native-2/events')).json().events).toEqual([]);
  });

  it('a native session (made by POST /v1/sessions) keeps the native contract: the sweep deletes it, on both faces', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'x-native-ttl', ttl_ms: 60_000 });
    await age('x-native-ttl', 61_000);
    expect(await status('HEAD', 'x-native-ttl')).toBe(200);
    expect((await call(t.app, 'GET', '/v1/sessions/x-native-ttl')).statusCode).toBe(200);
    expect(await deleteExpiredSessions(t.database.db)).toBeGreaterThanOrEqual(1);
    expect(await status('HEAD', 'x-native-ttl')).toBe(404);
  });

  it('PUT after expiry makes a fresh stream: no old events, no old Stream-Seq, another configuration taken', async () => {
    await putTtl('x-again', '60', 'old');
    expect((await ds('POST', 'x-again', { 'content-type': 'text/plain', 'stream-seq': '9' }, 'older')).statusCode).toBe(204);
    await age('x-again', 61_000);
    const res = await ds('PUT', 'x-again', { 'content-type': 'application/json' }, '["new"]');
    expect(res.statusCode).toBe(201);
    expect(res.headers['stream-next-offset']).toBe(offset(1));
    const read = await ds('GET', 'x-again');
    expect(read.json()).toEqual(['new']);
    expect(read.headers['stream-ttl']).toBeUndefined();
    // Stream-Seq starts over: "1" is below the old stream's "9".
    expect((await ds('POST', 'x-again', { 'content-type': 'application/json', 'stream-seq': '1' }, '"x"')).statusCode).toBe(204);
    expect((await ds('HEAD', 'x-again')).headers['stream-ttl']).toBeUndefined();
  });
});

describe('the expiry sweep', () => {
  it('finds a stream by its window (never later than it can expire), spares one kept alive by reads, deletes it once idle', async () => {
    await putTtl('x-sweep', '60');
    const native = await SseClient.open(`${t.baseUrl}/v1/sessions/x-sweep/stream`);
    try {
      await native.waitFor(() => native.messages.some((m) => m.event === 'session.activity'), 'the marker');
      await age('x-sweep', 45_000);
      expect(await status('GET', 'x-sweep')).toBe(200);
      // Due by its first look (created + 60 s), but read 45 s ago: spared, its next look moved to the read + 60 s.
      await age('x-sweep', 45_000);
      await deleteExpiredSessions(t.database.db);
      expect(await status('HEAD', 'x-sweep')).toBe(200);
      await age('x-sweep', 16_000);
      expect(await deleteExpiredSessions(t.database.db)).toBeGreaterThanOrEqual(1);
      await native.waitForEnd();
      expect(native.messages.filter((m) => m.event === 'session.deleted').map((m) => m.json)).toEqual([
        { session_id: 'x-sweep', reason: 'expired' },
      ]);
    } finally {
      await native.close();
    }
  });

  it('finds a stream by its Stream-Expires-At, even after a PATCH cleared ttl_ms', async () => {
    const at = new Date(Date.now() + 60_000).toISOString();
    expect((await ds('PUT', 'x-sweep-at', { 'content-type': 'text/plain', 'stream-expires-at': at })).statusCode).toBe(201);
    expect((await call(t.app, 'PATCH', '/v1/sessions/x-sweep-at', { ttl_ms: null })).statusCode).toBe(200);
    await age('x-sweep-at', 30_000);
    await deleteExpiredSessions(t.database.db);
    expect((await call(t.app, 'GET', '/v1/sessions/x-sweep-at')).statusCode).toBe(200);
    await age('x-sweep-at', 31_000);
    expect(await deleteExpiredSessions(t.database.db)).toBeGreaterThanOrEqual(1);
    const [row] = await t.database.db`select 1 from sessions where id = 'x-sweep-at'`;
    expect(row).toBeUndefined();
  });

  it('an append racing the sweep never lands in the deleted stream: it waits for the lock, then gets 404', async () => {
    await putTtl('x-race', '60', 'old');
    await age('x-race', 61_000);
    const locked = new Gate<string>();
    const held = locked.hold((id) => id === 'x-race');
    const sweep = deleteExpiredSessions(t.database.db, { pauses: { afterLock: locked.pass } });
    await held.reached;
    const append = ds('POST', 'x-race', { 'content-type': 'text/plain' }, 'late');
    await until(async () => {
      const [row] = await t.database.db<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
      return (row?.n ?? 0) > 0;
    }, 'the append to wait for the row lock');
    held.release();
    expect(await sweep).toBeGreaterThanOrEqual(1);
    expectProblem(await append, 404, 'session_not_found');
    // Made again, it holds nothing of the old one nor of the late append.
    expect((await ds('PUT', 'x-race', { 'content-type': 'text/plain' })).statusCode).toBe(201);
    const read = await ds('GET', 'x-race');
    expect(read.body).toBe('');
    expect(read.headers['stream-next-offset']).toBe(offset(0));
  });
});
