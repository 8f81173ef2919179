import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

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
