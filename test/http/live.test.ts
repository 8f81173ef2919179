import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { append, getSession, history, listeningApp, open, range, sessionWithEvents, waitForMarker } from '../helpers/streams.js';

// Live events (never stored) on the per-session stream, and the limits on their payloads.
let t: TestApp;
listeningApp((app) => (t = app));

describe('live events', () => {
  it('answers 202 {accepted, after_seq}; open streams get a frame without id; it is not stored and never replayed', async () => {
    const id = 'live';
    await sessionWithEvents(t, id, 2);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      const res = await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type: 'token', data: { text: 'hel' } });
      expect(res.statusCode, res.body).toBe(202);
      expect(res.json()).toEqual({ accepted: 1, after_seq: 2 });
      await client.waitFor(() => client.ofType('token').length === 1, 'the live event');
      const frame = client.ofType('token')[0];
      expect(frame?.id).toBeUndefined();
      expect(frame?.json).toMatchObject({ data: { text: 'hel' } });
      expect(client.durable).toHaveLength(2);

      // Not in the history, not counted in the head.
      const page = await history(t, id);
      expect(page.last_seq).toBe(2);
      expect(page.events.map((e) => e.type)).toEqual(['e1', 'e2']);
      expect((await getSession(t, id)).last_seq).toBe(2);

      // A new stream replays durable history only.
      const replay = await open(t, `/v1/sessions/${id}/stream?live=false`);
      try {
        await replay.waitForEnd();
        expect(replay.messages.map((m) => m.event)).toEqual(['e1', 'e2', 'session.activity']);
      } finally {
        await replay.close();
      }

      // The live frame did not move the durable sequence: the next event is seq 3.
      await append(t, id, [{ type: 'e3', data: 3 }]);
      await client.waitForDurable(3);
      expect(client.durable.map((m) => m.id)).toEqual(['1', '2', '3']);
    } finally {
      await client.close();
    }
  });

  it('is delivered to every open stream of the session and to none of another session', async () => {
    await sessionWithEvents(t, 'live-a', 0);
    await sessionWithEvents(t, 'live-b', 0);
    const a1 = await open(t, '/v1/sessions/live-a/stream');
    const a2 = await open(t, '/v1/sessions/live-a/stream');
    const b = await open(t, '/v1/sessions/live-b/stream');
    try {
      await Promise.all([waitForMarker(a1), waitForMarker(a2), waitForMarker(b)]);
      expect((await call(t.app, 'POST', '/v1/sessions/live-a/live', { type: 'for_a', data: 1 })).statusCode).toBe(202);
      expect((await call(t.app, 'POST', '/v1/sessions/live-b/live', { type: 'for_b', data: 2 })).statusCode).toBe(202);
      await a1.waitFor(() => a1.ofType('for_a').length === 1, 'for_a on a1');
      await a2.waitFor(() => a2.ofType('for_a').length === 1, 'for_a on a2');
      await b.waitFor(() => b.ofType('for_b').length === 1, 'for_b on b');
      // for_b was published after for_a: had for_a leaked to b, it would be there by now.
      expect(b.ofType('for_a')).toEqual([]);
      expect(a1.ofType('for_b')).toEqual([]);
    } finally {
      await Promise.all([a1.close(), a2.close(), b.close()]);
    }
  });

  it('causality: a live event published right after durable event N was acknowledged arrives after N', async () => {
    const id = 'causal';
    await sessionWithEvents(t, id, 0);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      // Large batches take the stream a while to read; the live event is published as soon as the append is acknowledged.
      const sizes = [1, 400, 1, 250, 3, 600, 1, 1, 300, 2];
      const filler = 'f'.repeat(1000);
      for (const [round, size] of sizes.entries()) {
        const { last_seq: seq } = await append(t, id, Array.from({ length: size }, (_, i) => ({ type: 'step', data: { round, i, filler } })));
        const res = await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type: 'after_step', data: { seq } });
        expect(res.statusCode, res.body).toBe(202);
        expect(res.json().after_seq).toBeGreaterThanOrEqual(seq);
      }
      const total = sizes.reduce((a, b) => a + b, 0);
      await client.waitFor(() => client.ofType('after_step').length === sizes.length, `${sizes.length} live events`, 20_000);
      await client.waitForDurable(total, 20_000);
      for (const live of client.ofType('after_step')) {
        const seq = live.json.data.seq as number;
        const durableIndex = client.messages.findIndex((m) => m.id === String(seq));
        expect(durableIndex, `durable ${seq} arrived`).toBeGreaterThanOrEqual(0);
        expect(durableIndex, `durable ${seq} before the live event published after it`).toBeLessThan(client.messages.indexOf(live));
      }
      expect(client.durable.map((m) => m.id)).toEqual(range(1, total));
    } finally {
      await client.close();
    }
  });

  it('400 reserved_event_type for a reserved prefix, 400 invalid_request for a bad body, 404 for an unknown session', async () => {
    await sessionWithEvents(t, 'live-errors', 0);
    for (const type of ['session.x', 'state.x', 'message.x', 'queue.x', 'lease.x']) {
      expectProblem(await call(t.app, 'POST', '/v1/sessions/live-errors/live', { type, data: 1 }), 400, 'reserved_event_type');
    }
    expectProblem(await call(t.app, 'POST', '/v1/sessions/live-errors/live', { type: 'token' }), 400, 'invalid_request');
    expectProblem(await call(t.app, 'POST', '/v1/sessions/live-errors/live', { type: 'token', data: 1, extra: 1 }), 400, 'invalid_request');
    expectProblem(await call(t.app, 'POST', '/v1/sessions/no-such-session/live', { type: 'token', data: 1 }), 404, 'session_not_found');
  });

  it('404 session_not_found wherever GET of the session is 404: a deleted stream source its forks keep, a stream past its expiry', async () => {
    const ds = (method: 'PUT' | 'DELETE', name: string, headers: Record<string, string> = {}) =>
      t.app.inject({ method, url: `/v1/stream/${name}`, headers });
    expect((await ds('PUT', 'live-gone-src', { 'content-type': 'application/json' })).statusCode).toBe(201);
    expect((await ds('PUT', 'live-gone-fork', { 'content-type': 'application/json', 'stream-forked-from': '/v1/stream/live-gone-src' })).statusCode).toBe(201);
    // Its fork lives on, so the source's delete is a soft one: its row stays, its id answers 404 (410 on the stream face).
    expect((await ds('DELETE', 'live-gone-src')).statusCode).toBe(204);
    expect((await ds('PUT', 'live-expired', { 'content-type': 'application/json', 'stream-ttl': '60' })).statusCode).toBe(201);
    await t.database.db`update sessions set expires_at = now() - interval '1 minute' where id = 'live-expired'`;
    for (const id of ['live-gone-src', 'live-expired']) {
      expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}`), 404, 'session_not_found');
      expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type: 'token', data: 1 }), 404, 'session_not_found');
      expectProblem(await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'thinking' }), 404, 'session_not_found');
    }
  });

  it('no body at all is 400 invalid_request saying what to send (a 500 before), whatever the session', async () => {
    await sessionWithEvents(t, 'live-no-body', 0);
    for (const id of ['live-no-body', 'no-such-session']) {
      const refused = expectProblem(await t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/live` }), 400, 'invalid_request');
      expect(refused).toMatchObject({ errors: [{ in: 'body', field: '', message: 'is required' }] });
      expect(refused.detail).toMatch(/body is required.*\{type, data\}.*\{events\}.*application\/x-ndjson/);
    }
  });
});

describe('limits on live payloads (MAX_LIVE_BYTES=100)', () => {
  let small: TestApp;
  beforeAll(async () => {
    small = await createTestApp({ env: { MAX_LIVE_BYTES: '100' } });
    await small.listen();
    await createSession(small, 'small');
  });
  afterAll(async () => {
    await small?.close();
  });

  it('413 payload_too_large for live data over the limit; it reaches no stream', async () => {
    const client = await open(small, '/v1/sessions/small/stream');
    try {
      await waitForMarker(client);
      expectProblem(
        await call(small.app, 'POST', '/v1/sessions/small/live', { type: 'big', data: 'x'.repeat(200) }),
        413,
        'payload_too_large',
      );
      const ok = await call(small.app, 'POST', '/v1/sessions/small/live', { type: 'fits', data: 'x'.repeat(50) });
      expect(ok.statusCode, ok.body).toBe(202);
      await client.waitFor(() => client.ofType('fits').length === 1, 'the live event under the limit');
      expect(client.ofType('big')).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('413 payload_too_large for an activity detail over the limit; the activity is unchanged', async () => {
    const refused = expectProblem(
      await call(small.app, 'PUT', '/v1/sessions/small/activity', { status: 'tool', detail: { blob: 'x'.repeat(200) } }),
      413,
      'payload_too_large',
    );
    // It names what was too large and the setting that bounds it.
    expect(refused.detail).toMatch(/^detail .*MAX_LIVE_BYTES/);
    expect((await getSession(small, 'small')).activity).toEqual({ status: 'idle' });
  });
});
