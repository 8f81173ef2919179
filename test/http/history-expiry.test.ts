import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { deleteExpiredSessions } from '../../src/history/expiry.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { Gate } from '../helpers/gate.js';
import { SseClient } from '../helpers/sse.js';
import { until } from '../helpers/waits.js';
import { lockWaiters, ageSession } from '../helpers/db.js';

// Two instances on one database. Their background sweeps are off (a day apart):
// each test runs the sweeps itself, held at the point it names, so the race
// it checks happens in that order every run.
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  const env = { HISTORY_SWEEP_MS: '86400000' };
  a = await createTestApp({ env });
  b = await createTestApp({ env, databaseUrl: a.url });
  await a.listen();
  await b.listen();
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

const age = (id: string, ms: number) => ageSession(a.database.db, id, ms);

/** Transactions of this database waiting for a row lock. */
const waitingForLocks = () => lockWaiters(a.database.db);

/** The deletion notices sent on the wakeup channel, as they arrive. */
async function listenForDeletions(): Promise<{ notices: string[]; stop: () => Promise<void> }> {
  const notices: string[] = [];
  const listener = await a.database.db.listen(WAKEUP_CHANNEL, (payload) => {
    if (payload.includes('"deleted"')) notices.push(payload);
  });
  return { notices, stop: () => listener.unlisten() };
}

/** Every notice sent before this one has arrived once it has: a marker session created and deleted. */
async function flushNotices(notices: string[], marker: string): Promise<void> {
  await call(a.app, 'POST', '/v1/sessions', { id: marker });
  await call(a.app, 'DELETE', `/v1/sessions/${marker}`);
  await until(() => notices.some((n) => n.includes(marker)), 'the marker deletion');
}

describe('expiry by ttl_ms', () => {
  it('shows expires_at as the last write plus ttl_ms; PATCH sets and clears it, and its session.updated event says so', async () => {
    const created = (await call(a.app, 'POST', '/v1/sessions', { id: 'exp-view', ttl_ms: 60_000 })).json();
    expect(created.ttl_ms).toBe(60_000);
    expect(Date.parse(created.expires_at) - Date.parse(created.updated_at)).toBe(60_000);
    const set = (await call(a.app, 'PATCH', '/v1/sessions/exp-view', { ttl_ms: 30_000 })).json();
    expect(set.ttl_ms).toBe(30_000);
    expect(Date.parse(set.expires_at) - Date.parse(set.updated_at)).toBe(30_000);
    const cleared = (await call(a.app, 'PATCH', '/v1/sessions/exp-view', { ttl_ms: null })).json();
    expect(cleared).toMatchObject({ ttl_ms: null, expires_at: null });
    expect((await call(a.app, 'PATCH', '/v1/sessions/exp-view', { metadata: { name: 'renamed' } })).statusCode).toBe(200);
    // Streams and the changes feed carry each change, so a dashboard learns a new TTL without re-reading the session.
    const updates = (await call(a.app, 'GET', '/v1/sessions/exp-view/events?type=session.updated')).json().events;
    expect(updates.map((event: { data: unknown }) => event.data)).toEqual([
      { metadata: {}, ttl_ms: 30_000 },
      { metadata: {}, ttl_ms: null },
      { metadata: { name: 'renamed' } },
    ]);
    expectProblem(await call(a.app, 'PATCH', '/v1/sessions/exp-view', { ttl_ms: 0 }), 400, 'invalid_request');
  });

  it('a write moves the expiry: a session written to is not deleted', async () => {
    await call(a.app, 'POST', '/v1/sessions', { id: 'exp-written', ttl_ms: 60_000 });
    await age('exp-written', 120_000);
    await call(a.app, 'POST', '/v1/sessions/exp-written/events', { events: [{ type: 'note', data: 1 }] });
    await Promise.all([deleteExpiredSessions(a.database.db), deleteExpiredSessions(b.database.db)]);
    expect((await call(a.app, 'GET', '/v1/sessions/exp-written')).statusCode).toBe(200);
  });

  it('compact is not a write: expires_at and updated_at stay, and a session idle past ttl_ms is deleted all the same', async () => {
    await call(a.app, 'POST', '/v1/sessions', { id: 'exp-compacted', ttl_ms: 60_000 });
    await call(a.app, 'POST', '/v1/sessions/exp-compacted/events', { events: [{ type: 'note', data: 1 }, { type: 'note', data: 2 }] });
    await age('exp-compacted', 120_000);
    const before = (await call(a.app, 'GET', '/v1/sessions/exp-compacted')).json();
    expect((await call(a.app, 'POST', '/v1/sessions/exp-compacted/compact', { before_seq: 2 })).json()).toEqual({ history_start: 1 });
    const after = (await call(a.app, 'GET', '/v1/sessions/exp-compacted')).json();
    expect({ expires_at: after.expires_at, updated_at: after.updated_at }).toEqual({ expires_at: before.expires_at, updated_at: before.updated_at });
    await Promise.all([deleteExpiredSessions(a.database.db), deleteExpiredSessions(b.database.db)]);
    expectProblem(await call(a.app, 'GET', '/v1/sessions/exp-compacted'), 404, 'session_not_found');
  });

  it('an attachment upload is a write: it moves the expiry, and the session and its new attachment stay', async () => {
    const upload = (body: string) =>
      a.app.inject({ method: 'POST', url: '/v1/sessions/exp-upload/attachments', payload: body, headers: { 'content-type': 'text/plain' } });
    const sweep = () => Promise.all([deleteExpiredSessions(a.database.db), deleteExpiredSessions(b.database.db)]);
    await call(a.app, 'POST', '/v1/sessions', { id: 'exp-upload', ttl_ms: 60_000 });
    await age('exp-upload', 120_000);
    const before = (await call(a.app, 'GET', '/v1/sessions/exp-upload')).json();
    const uploaded = await upload('kept bytes');
    expect(uploaded.statusCode).toBe(201);
    const after = (await call(a.app, 'GET', '/v1/sessions/exp-upload')).json();
    expect(Date.parse(after.expires_at)).toBeGreaterThan(Date.parse(before.expires_at));
    await sweep();
    const listed = await call(a.app, 'GET', '/v1/sessions/exp-upload/attachments');
    expect(listed.json().attachments.map((x: { attachment_id: string }) => x.attachment_id)).toEqual([uploaded.json().attachment_id]);

    // The same bytes again (201, the intent starts over) is a write too.
    await age('exp-upload', 120_000);
    expect((await upload('kept bytes')).statusCode).toBe(201);
    await sweep();
    expect((await call(a.app, 'GET', '/v1/sessions/exp-upload')).statusCode).toBe(200);

    // Reads, activity and live events are not writes to the session: they leave the expiry where it was.
    await age('exp-upload', 120_000);
    await call(a.app, 'GET', '/v1/sessions/exp-upload/attachments');
    expect((await call(a.app, 'PUT', '/v1/sessions/exp-upload/activity', { status: 'thinking' })).statusCode).toBe(200);
    expect((await call(a.app, 'POST', '/v1/sessions/exp-upload/live', { type: 'token', data: 'x' })).statusCode).toBe(202);
    await sweep();
    expect((await call(a.app, 'GET', '/v1/sessions/exp-upload')).statusCode).toBe(404);
  });

  it('a write that lands after a sweep found the session due, before it locked it, keeps the session', async () => {
    await call(a.app, 'POST', '/v1/sessions', { id: 'exp-raced', ttl_ms: 60_000 });
    await age('exp-raced', 120_000);
    const searched = new Gate();
    const held = searched.hold();
    const sweep = deleteExpiredSessions(a.database.db, { pauses: { afterSearch: searched.pass } });
    await held.reached;
    expect((await call(a.app, 'POST', '/v1/sessions/exp-raced/events', { events: [{ type: 'note', data: 1 }] })).statusCode).toBe(201);
    held.release();
    expect(await sweep).toBe(0);
    expect((await call(a.app, 'GET', '/v1/sessions/exp-raced')).statusCode).toBe(200);
  });

  it('while one instance holds a due session, the others skip it without waiting; it is deleted once, with one notice', async () => {
    await call(a.app, 'POST', '/v1/sessions', { id: 'exp-once', ttl_ms: 60_000 });
    const { notices, stop } = await listenForDeletions();
    const onA = await SseClient.open(`${a.baseUrl}/v1/sessions/exp-once/stream`);
    const onB = await SseClient.open(`${b.baseUrl}/v1/sessions/exp-once/stream`);
    const changes = await SseClient.open(`${b.baseUrl}/v1/changes`);
    for (const s of [onA, onB]) await s.waitFor(() => s.messages.some((m) => m.event === 'session.activity'), 'the marker');
    try {
      await age('exp-once', 120_000);
      const locked = new Gate<string>();
      const held = locked.hold((id) => id === 'exp-once');
      const first = deleteExpiredSessions(a.database.db, { pauses: { afterLock: locked.pass } });
      await held.reached;
      // Both other sweeps find it due and must pass it by: a sweep that waited for the lock would never finish here.
      const others = Promise.all([deleteExpiredSessions(b.database.db), deleteExpiredSessions(a.database.db)]);
      let finished = false;
      let waited = false;
      void others.finally(() => (finished = true));
      await until(async () => finished || (waited = (await waitingForLocks()) > 0), 'the other sweeps, or one waiting for the lock');
      expect(waited).toBe(false);
      expect(await others).toEqual([0, 0]);
      held.release();
      expect(await first).toBe(1);

      for (const s of [onA, onB]) await s.waitFor(() => s.ended, 'the stream to end');
      for (const s of [onA, onB]) {
        expect(s.messages.filter((m) => m.event === 'session.deleted').map((m) => m.json)).toEqual([
          { session_id: 'exp-once', reason: 'expired' },
        ]);
      }
      await changes.waitFor(() => changes.messages.some((m) => m.event === 'session.deleted'), 'the changes feed');
      expect(changes.messages.filter((m) => m.event === 'session.deleted').map((m) => m.json)).toEqual([
        { session_id: 'exp-once', reason: 'expired' },
      ]);
      await flushNotices(notices, 'exp-once-marker');
      expect(notices.filter((n) => n.includes('"exp-once"'))).toHaveLength(1);
      expectProblem(await call(b.app, 'GET', '/v1/sessions/exp-once'), 404, 'session_not_found');
    } finally {
      await changes.close();
      await stop();
    }
  });

  it('a sweep that found the session due after another instance deleted it sends nothing', async () => {
    await call(a.app, 'POST', '/v1/sessions', { id: 'exp-late', ttl_ms: 60_000 });
    const { notices, stop } = await listenForDeletions();
    try {
      await age('exp-late', 120_000);
      const searched = new Gate();
      const held = searched.hold();
      const late = deleteExpiredSessions(a.database.db, { pauses: { afterSearch: searched.pass } });
      await held.reached;
      expect(await deleteExpiredSessions(b.database.db)).toBe(1);
      held.release();
      expect(await late).toBe(0);
      await flushNotices(notices, 'exp-late-marker');
      expect(notices.filter((n) => n.includes('"exp-late"'))).toHaveLength(1);
    } finally {
      await stop();
    }
  });
});

describe('the background sweep', () => {
  it('deletes an expired session on its own', async () => {
    const c = await createTestApp({ env: { HISTORY_SWEEP_MS: '100' }, databaseUrl: a.url });
    try {
      await call(c.app, 'POST', '/v1/sessions', { id: 'exp-background', ttl_ms: 1 });
      await until(async () => (await call(c.app, 'GET', '/v1/sessions/exp-background')).statusCode === 404, 'the sweep');
    } finally {
      await c.close();
    }
  });
});
