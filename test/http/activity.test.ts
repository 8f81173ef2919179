import postgres from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectIso, expectProblem, type TestApp } from '../helpers/app.js';
import { eventually, getSession, history, listeningApp, markers, open, sessionWithEvents, waitForMarker } from '../helpers/streams.js';
import { until } from '../helpers/waits.js';
import { killListenBackends } from '../helpers/db.js';

// The current activity: set, read, streamed, expired.
let t: TestApp;
listeningApp((app) => (t = app));

describe('activity', () => {
  it('a session that never set one reads {status: "idle"}, in GET and in the stream marker', async () => {
    await sessionWithEvents(t, 'never-active', 1);
    expect((await getSession(t, 'never-active')).activity).toEqual({ status: 'idle' });
    const client = await open(t, '/v1/sessions/never-active/stream?live=false');
    try {
      await client.waitForEnd();
      expect(markers(client).map((m) => m.json)).toEqual([{ status: 'idle', cursor: 1 }]);
    } finally {
      await client.close();
    }
  });

  it('PUT sets it (200 {status, detail, updated_at}); GET shows it; open streams get session.activity; no history is written', async () => {
    const id = 'active';
    await sessionWithEvents(t, id, 1);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      const res = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'thinking', detail: { tool: 'x' } });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ status: 'thinking', detail: { tool: 'x' } });
      expectIso(body.updated_at);
      expect(body.expired).toBeUndefined();

      const session = await getSession(t, id);
      expect(session.activity).toEqual(body);
      expect(session.last_seq).toBe(1);
      expect((await history(t, id)).events).toHaveLength(1);

      await client.waitFor(() => markers(client).some((m) => m.json.status === 'thinking'), 'the thinking activity');
      const frame = markers(client).find((m) => m.json.status === 'thinking');
      expect(frame?.id).toBeUndefined();
      expect(frame?.json).toMatchObject({ status: 'thinking', detail: { tool: 'x' } });
      expect(client.durable).toHaveLength(1);

      // A new stream's marker carries the current activity.
      const later = await open(t, `/v1/sessions/${id}/stream?live=false`);
      try {
        await later.waitForEnd();
        expect(markers(later).map((m) => m.json)).toEqual([{ ...body, cursor: 1 }]);
      } finally {
        await later.close();
      }

      // The current value only: a second PUT replaces it.
      const next = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'idle' });
      expect(next.statusCode, next.body).toBe(200);
      expect(next.json().detail).toBeUndefined();
      expect((await getSession(t, id)).activity).toMatchObject({ status: 'idle' });
      expect((await getSession(t, id)).activity.detail).toBeUndefined();
      await client.waitFor(() => markers(client).some((m) => m.json.status === 'idle' && m.json.cursor === undefined), 'the idle activity');
    } finally {
      await client.close();
    }
  });

  it('with ttl_ms it expires: GET reads {status: "idle", expired: true} and open streams are told', async () => {
    const id = 'expiring';
    await sessionWithEvents(t, id, 0);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      const res = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool', detail: { tool: 'bash' }, ttl_ms: 300 });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ status: 'tool', detail: { tool: 'bash' } });

      await client.waitFor(() => markers(client).some((m) => m.json.expired === true), 'an expired session.activity', 5_000);
      const expired = markers(client).find((m) => m.json.expired === true);
      expect(expired?.json).toMatchObject({ status: 'idle', expired: true });
      expect(expired?.json.detail).toBeUndefined();
      // The 'tool' activity came before its expiry.
      const toolIndex = client.messages.findIndex((m) => m.event === 'session.activity' && m.json.status === 'tool');
      expect(toolIndex).toBeGreaterThan(0);
      expect(toolIndex).toBeLessThan(client.messages.indexOf(expired!));

      const activity = (
        await eventually(
          () => getSession(t, id),
          (s) => s.activity.expired === true,
          'GET to read the expired activity',
        )
      ).activity;
      expect(activity).toMatchObject({ status: 'idle', expired: true });
      expect(activity.detail).toBeUndefined();
      // Both say when the activity that expired was set: GET and the streams agree, and neither invents a time.
      expect(activity.updated_at).toBe(res.json().updated_at);
      expect(expired?.json.updated_at).toBe(res.json().updated_at);
    } finally {
      await client.close();
    }
  });

  it('a new activity without ttl_ms drops the TTL of the one it replaces: it never expires', async () => {
    const id = 'activity-ttl-dropped';
    await sessionWithEvents(t, id, 0);
    const first = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool', ttl_ms: 60_000 });
    expect(first.statusCode, first.body).toBe(200);
    expectIso(first.json().expires_at);
    const next = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'thinking' });
    expect(next.statusCode, next.body).toBe(200);
    expect(next.json().expires_at).toBeUndefined();
    // A day later, as the database's clock sees it: whatever expiry is stored is long past.
    await t.database.db`
      update session_activity set expires_at = expires_at - interval '1 day', updated_at = updated_at - interval '1 day'
      where session_sid = (select sid from sessions where id = ${id})`;
    const activity = (await getSession(t, id)).activity;
    expect(activity).toMatchObject({ status: 'thinking' });
    expect(activity.expired).toBeUndefined();
    expect(activity.expires_at).toBeUndefined();
  });

  it('a replacing PUT stamps the activity anew: updated_at is its own, in the answer and in GET', async () => {
    const id = 'activity-restamped';
    await sessionWithEvents(t, id, 0);
    expect((await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool' })).statusCode).toBe(200);
    // Set a day ago, as the database's clock sees it.
    await t.database.db`
      update session_activity set updated_at = updated_at - interval '1 day' where session_sid = (select sid from sessions where id = ${id})`;
    const replaced = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'thinking' });
    expect(replaced.statusCode, replaced.body).toBe(200);
    expect(Math.abs(Date.parse(replaced.json().updated_at) - Date.now())).toBeLessThan(60_000);
    expect((await getSession(t, id)).activity).toEqual(replaced.json());
  });

  it('a detail of 0, false or "" is kept as sent, in the answer, in GET and in a new stream\'s marker', async () => {
    const id = 'activity-falsy-detail';
    await sessionWithEvents(t, id, 0);
    for (const detail of [0, false, '']) {
      const res = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool', detail });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toHaveProperty('detail', detail);
      expect((await getSession(t, id)).activity).toEqual(res.json());
      const later = await open(t, `/v1/sessions/${id}/stream?live=false`);
      try {
        await later.waitForEnd();
        expect(markers(later).map((m) => m.json)).toEqual([{ ...res.json(), cursor: 0 }]);
      } finally {
        await later.close();
      }
    }
  });

  it('a detail of null is no detail (docs/API.md): the answer and GET have none', async () => {
    const id = 'activity-null-detail';
    await sessionWithEvents(t, id, 0);
    const res = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool', detail: null });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).not.toHaveProperty('detail');
    expect((await getSession(t, id)).activity).toEqual(res.json());
  });

  it('a retried PUT with the same Idempotency-Key replays its first answer and does not overwrite a newer activity', async () => {
    const id = 'activity-idempotent';
    await sessionWithEvents(t, id, 0);
    const key = { 'idempotency-key': 'activity-retry-1' };
    const body = { status: 'tool', detail: { step: 1 } };
    const first = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, body, key);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const newer = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'thinking' });
    expect(newer.statusCode, newer.body).toBe(200);
    // The first answer was lost on the way; the worker retries it.
    const retry = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, body, key);
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json()).toEqual(first.json());
    expect((await getSession(t, id)).activity).toEqual(newer.json());
    expectProblem(await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'other' }, key), 422, 'idempotency_key_reused');
    expect((await getSession(t, id)).activity).toEqual(newer.json());
  });

  it('detail is held to MAX_LIVE_BYTES in bytes of its JSON: one byte over is 413 and the activity stays', async () => {
    const small = await createTestApp({ databaseUrl: t.url, env: { MAX_LIVE_BYTES: '1000' } });
    try {
      const id = 'activity-detail-limit';
      await sessionWithEvents(small, id, 0);
      // 'é' is 2 bytes: 499 of them and the quotes are exactly 1000 bytes in 501 characters.
      const within = 'é'.repeat(499);
      const set = await call(small.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool', detail: within });
      expect(set.statusCode, set.body).toBe(200);
      const over = expectProblem(
        await call(small.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'other', detail: `${within}x` }),
        413,
        'payload_too_large',
      );
      expect(over).toMatchObject({ limit_bytes: 1000, size: 1001 });
      // The refusal says what is too large and which setting bounds it.
      expect(over.detail).toContain('detail');
      expect(over.detail).toContain('MAX_LIVE_BYTES');
      expect((await getSession(small, id)).activity).toMatchObject({ status: 'tool', detail: within });
    } finally {
      await small.close();
    }
  });

  it('after the LISTEN connection is lost and back, an open stream is told the current activity again: the one set, not idle', async () => {
    const id = 'activity-after-reconnect';
    await sessionWithEvents(t, id, 1);
    const set = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool', detail: { tool: 'bash' } });
    expect(set.statusCode, set.body).toBe(200);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    const admin = postgres(t.url, { max: 1, onnotice: () => {} });
    try {
      await waitForMarker(client);
      expect(markers(client).map((m) => m.json)).toEqual([{ ...set.json(), cursor: 1 }]);
      // Notices sent while the connection is down are lost: once it is back, the streams re-read what they may have missed.
      expect(await killListenBackends(admin)).toBeGreaterThanOrEqual(1);
      const retold = () => markers(client).filter((m) => m.json.cursor === undefined);
      await client.waitFor(() => retold().length >= 1, 'the activity told again after the reconnect');
      // Told at least once (once per re-read), and always what was set.
      for (const frame of retold()) expect(frame.json).toEqual(set.json());
      expect((await getSession(t, id)).activity).toEqual(set.json());
    } finally {
      await admin.end();
      await client.close();
    }
    await until(async () => (await call(t.app, 'GET', '/readyz')).statusCode === 200, 'readiness after the reconnect');
  });

  describe('validation', () => {
    beforeAll(async () => {
      await sessionWithEvents(t, 'activity-invalid', 0);
    });
    const invalid: [string, unknown][] = [
      ['an empty status', { status: '' }],
      ['a status over 64 characters', { status: 'x'.repeat(65) }],
      ['a status with LF', { status: 'tool\nevent: forged' }],
      ['a status with CR', { status: 'tool\rnext' }],
      ['a missing status', { detail: {} }],
      ['a status that is not a string', { status: 5 }],
      ['ttl_ms 0', { status: 'thinking', ttl_ms: 0 }],
      ['ttl_ms "5"', { status: 'thinking', ttl_ms: '5' }],
      ['a fractional ttl_ms', { status: 'thinking', ttl_ms: 1.5 }],
      ['a negative ttl_ms', { status: 'thinking', ttl_ms: -100 }],
      ['an unknown field', { status: 'thinking', color: 'red' }],
    ];
    for (const [what, body] of invalid) {
      it(`400 invalid_request for ${what}, activity unchanged`, async () => {
        expectProblem(await call(t.app, 'PUT', '/v1/sessions/activity-invalid/activity', body), 400, 'invalid_request');
        expect((await getSession(t, 'activity-invalid')).activity).toEqual({ status: 'idle' });
      });
    }

    it('ttl_ms is at most a day (docs/API.md): 86400000 is accepted, one more is 400 naming ttl_ms and the activity stays', async () => {
      const id = 'activity-ttl-bound';
      await sessionWithEvents(t, id, 0);
      const day = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'long', ttl_ms: 86_400_000 });
      expect(day.statusCode, day.body).toBe(200);
      expect(Date.parse(day.json().expires_at) - Date.parse(day.json().updated_at)).toBe(86_400_000);
      const over = expectProblem(await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'longer', ttl_ms: 86_400_001 }), 400, 'invalid_request');
      expect(over.errors).toEqual([expect.objectContaining({ in: 'body', field: '/ttl_ms' })]);
      expect(over.detail).toMatch(/ttl_ms/);
      expect((await getSession(t, id)).activity).toEqual(day.json());
    });

    it('accepts a status of exactly 64 characters', async () => {
      const res = await call(t.app, 'PUT', '/v1/sessions/activity-invalid/activity', { status: 'y'.repeat(64) });
      expect(res.statusCode, res.body).toBe(200);
      expect((await getSession(t, 'activity-invalid')).activity.status).toBe('y'.repeat(64));
    });

    it('404 session_not_found for an unknown session', async () => {
      expectProblem(await call(t.app, 'PUT', '/v1/sessions/no-such-session/activity', { status: 'thinking' }), 404, 'session_not_found');
    });
  });
});
