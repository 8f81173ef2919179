import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { deleteExpiredSessions } from '../../src/history/expiry.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

// Two instances on one database, both sweeping.
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  a = await createTestApp();
  b = await createTestApp({ databaseUrl: a.url });
  await a.listen();
  await b.listen();
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

/** Polls until `done()` holds: a bounded wait, not an assertion on time. */
async function until(done: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Moves a session's last write back in time (the sweep judges by the database clock). */
const age = (id: string, ms: number) =>
  a.database.sql`update sessions set updated_at = now() - ${ms} * interval '1 millisecond' where id = ${id}`;

describe('expiry by ttl_ms', () => {
  it('shows expires_at as the last write plus ttl_ms; PATCH sets and clears it', async () => {
    const created = (await call(a.app, 'POST', '/v1/sessions', { id: 'exp-view', ttl_ms: 60_000 })).json();
    expect(created.ttl_ms).toBe(60_000);
    expect(Date.parse(created.expires_at) - Date.parse(created.updated_at)).toBe(60_000);
    const cleared = (await call(a.app, 'PATCH', '/v1/sessions/exp-view', { ttl_ms: null })).json();
    expect(cleared).toMatchObject({ ttl_ms: null, expires_at: null });
    expectProblem(await call(a.app, 'PATCH', '/v1/sessions/exp-view', { ttl_ms: 0 }), 400, 'invalid_request');
  });

  it('a write moves the expiry: a session written to is not deleted', async () => {
    await call(a.app, 'POST', '/v1/sessions', { id: 'exp-written', ttl_ms: 60_000 });
    await age('exp-written', 120_000);
    await call(a.app, 'POST', '/v1/sessions/exp-written/events', { events: [{ type: 'note', data: 1 }] });
    await Promise.all([deleteExpiredSessions(a.database.db), deleteExpiredSessions(b.database.db)]);
    expect((await call(a.app, 'GET', '/v1/sessions/exp-written')).statusCode).toBe(200);
  });

  it('fires once across two instances: one deletion notice, session.deleted {reason: "expired"} on streams of both', async () => {
    await call(a.app, 'POST', '/v1/sessions', { id: 'exp-once', ttl_ms: 60_000 });
    const notices: string[] = [];
    const listener = await a.database.sql.listen(WAKEUP_CHANNEL, (payload) => {
      if (payload.includes('"deleted"')) notices.push(payload);
    });
    const onA = await SseClient.open(`${a.baseUrl}/v1/sessions/exp-once/stream`);
    const onB = await SseClient.open(`${b.baseUrl}/v1/sessions/exp-once/stream`);
    const changes = await SseClient.open(`${b.baseUrl}/v1/changes`);
    for (const s of [onA, onB]) await s.waitFor(() => s.messages.some((m) => m.event === 'session.activity'), 'the marker');
    try {
      await age('exp-once', 120_000);
      // Both instances sweep at once (and their background sweeps may too): exactly one deletes.
      const deleted = await Promise.all([
        deleteExpiredSessions(a.database.db),
        deleteExpiredSessions(b.database.db),
        deleteExpiredSessions(a.database.db),
      ]);
      expect(deleted.reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(1);
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
      await until(() => notices.length > 0, 'the deletion notice');
      // Sent after the two streams' notice, anything a second deletion sent has arrived by now too.
      await call(a.app, 'POST', '/v1/sessions', { id: 'exp-marker' });
      await call(a.app, 'DELETE', '/v1/sessions/exp-marker');
      await until(() => notices.some((n) => n.includes('exp-marker')), 'the marker deletion');
      expect(notices.filter((n) => n.includes('exp-once'))).toHaveLength(1);
      expectProblem(await call(b.app, 'GET', '/v1/sessions/exp-once'), 404, 'session_not_found');
    } finally {
      await changes.close();
      await listener.unlisten();
    }
  });
});
