import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';
import { until } from '../helpers/waits.js';

// What the Session record says after the writes that change it (a PATCH, a turn,
// the Durable Streams face), and how a session ends (expiry, a soft-deleted
// source's last fork). No sweeps here: a read must answer without one.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ sweeps: false });
});
afterAll(async () => {
  await t?.close();
});

const stream = (method: 'PUT' | 'DELETE', id: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method, url: `/v1/stream/${id}`, headers: { 'content-type': 'text/plain', ...headers } });

describe('the Session a PATCH answers with', () => {
  it('ttl_ms: null clears the TTL: no ttl_ms and no expires_at, on the answer and on later reads', async () => {
    const created = (await call(t.app, 'POST', '/v1/sessions', { id: 'lc-ttl-cleared', ttl_ms: 60_000 })).json();
    expect(created).toMatchObject({ ttl_ms: 60_000, expires_at: expect.any(String) });
    const cleared = await call(t.app, 'PATCH', '/v1/sessions/lc-ttl-cleared', { ttl_ms: null });
    expect(cleared.statusCode, cleared.body).toBe(200);
    expect(cleared.json()).toMatchObject({ ttl_ms: null, expires_at: null });
    expect((await call(t.app, 'GET', '/v1/sessions/lc-ttl-cleared')).json()).toEqual(cleared.json());
  });

  it("shows the session's current activity, as GET does", async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-patch-busy' })).statusCode).toBe(201);
    expect((await call(t.app, 'PUT', '/v1/sessions/lc-patch-busy/activity', { status: 'thinking' })).statusCode).toBe(200);
    const patched = await call(t.app, 'PATCH', '/v1/sessions/lc-patch-busy', { metadata: { title: 'renamed' } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().activity).toMatchObject({ status: 'thinking' });
    expect((await call(t.app, 'GET', '/v1/sessions/lc-patch-busy')).json()).toEqual(patched.json());
  });

  it("of a Durable Stream with a fixed expiry shows the sooner of it and the TTL's idle window", async () => {
    const fixed = new Date(Date.now() + 86_400_000);
    fixed.setUTCMilliseconds(0);
    const put = await stream('PUT', 'lc-fixed-and-ttl', { 'stream-expires-at': fixed.toISOString() });
    expect(put.statusCode, put.body).toBe(201);
    expect(Date.parse((await call(t.app, 'GET', '/v1/sessions/lc-fixed-and-ttl')).json().expires_at)).toBe(fixed.getTime());
    // An idle window that ends first: it is when the session expires.
    const short = (await call(t.app, 'PATCH', '/v1/sessions/lc-fixed-and-ttl', { ttl_ms: 60_000 })).json();
    expect(Date.parse(short.expires_at) - Date.parse(short.updated_at)).toBe(60_000);
    // One that would end after the fixed time: the fixed time stands.
    const long = (await call(t.app, 'PATCH', '/v1/sessions/lc-fixed-and-ttl', { ttl_ms: 2 * 86_400_000 })).json();
    expect(Date.parse(long.expires_at)).toBe(fixed.getTime());
  });
});

describe('usage on the Session', () => {
  it('carries each total the turns reported under its own name, on the read and in the list', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-usage' })).statusCode).toBe(201);
    const turn = await call(t.app, 'POST', '/v1/sessions/lc-usage/turns', {
      turn_id: 'lc-usage-1',
      usage: [
        { model: 'm', input_tokens: 3, output_tokens: 50, cost_usd: 0.25 },
        { model: 'm', input_tokens: 4, output_tokens: 60 },
      ],
    });
    expect(turn.statusCode, turn.body).toBe(201);
    const expected = { input_tokens: 7, output_tokens: 110, cost_usd: 0.25, turns: 1 };
    expect((await call(t.app, 'GET', '/v1/sessions/lc-usage')).json().usage).toEqual(expected);
    const listed = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions.find((s: { id: string }) => s.id === 'lc-usage');
    expect(listed.usage).toEqual(expected);
  });
});

describe('ids that free up', () => {
  it('a native create takes the id of a Durable Stream past its expiry, before any sweep', async () => {
    const put = await stream('PUT', 'lc-expired-id', { 'stream-expires-at': '2001-01-01T00:00:00Z' });
    expect(put.statusCode, put.body).toBe(201);
    const created = await call(t.app, 'POST', '/v1/sessions', { id: 'lc-expired-id', metadata: { fresh: true } });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ id: 'lc-expired-id', metadata: { fresh: true }, expires_at: null, last_seq: 0 });
    expect((await call(t.app, 'GET', '/v1/sessions/lc-expired-id')).json()).toMatchObject({ metadata: { fresh: true } });
  });

  it("a soft-deleted source goes with its last fork: its id is free again, for a native create", async () => {
    expect((await stream('PUT', 'lc-soft-src')).statusCode).toBe(201);
    expect((await stream('PUT', 'lc-soft-fork', { 'stream-forked-from': '/v1/stream/lc-soft-src' })).statusCode).toBe(201);
    expect((await stream('DELETE', 'lc-soft-src')).statusCode).toBe(204);
    // Soft-deleted while the fork lives: the id is still held.
    expectProblem(await call(t.app, 'POST', '/v1/sessions', { id: 'lc-soft-src' }), 409, 'session_exists');
    expect((await call(t.app, 'DELETE', '/v1/sessions/lc-soft-fork')).statusCode).toBe(204);
    const created = await call(t.app, 'POST', '/v1/sessions', { id: 'lc-soft-src' });
    expect(created.statusCode, created.body).toBe(201);
    expect((await call(t.app, 'GET', '/v1/sessions/lc-soft-src')).json()).toMatchObject({ id: 'lc-soft-src', last_seq: 0 });
  });
});

describe('expiry by ttl_ms, with the sweep running', () => {
  let swept: TestApp;
  beforeAll(async () => {
    swept = await createTestApp({ env: { HISTORY_SWEEP_MS: '100' } });
    await swept.listen();
  });
  afterAll(async () => {
    await swept?.close();
  });

  it('a session never written after its create is deleted once idle for ttl_ms; its stream gets session.deleted {reason: "expired"}', async () => {
    const created = await call(swept.app, 'POST', '/v1/sessions', { id: 'lc-idle', ttl_ms: 1500 });
    expect(created.statusCode, created.body).toBe(201);
    const client = await SseClient.open(`${swept.baseUrl}/v1/sessions/lc-idle/stream`);
    try {
      await client.waitFor(() => client.messages.length > 0 || client.ended, 'the stream to open');
      await until(async () => (await call(swept.app, 'GET', '/v1/sessions/lc-idle')).statusCode === 404, 'the sweep to delete the idle session');
      await client.waitForEnd();
      expect(client.ofType('session.deleted').map((m) => m.json)).toEqual([{ session_id: 'lc-idle', reason: 'expired' }]);
    } finally {
      await client.close();
    }
  });
});
