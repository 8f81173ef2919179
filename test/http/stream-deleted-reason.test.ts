import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteExpiredSessions } from '../../src/history/expiry.js';
import { call, createSession, createTestApp, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';
import { ageSession } from '../helpers/db.js';

/**
 * docs/API.md: a session deleted by its ttl_ms sends its streams
 * `session.deleted` `{reason: "expired"}`; "the changes feed's
 * `session.deleted` carries the reason too". A DELETE carries none.
 */
let t: TestApp;

beforeAll(async () => {
  // The background sweep is off (a day apart): the test runs it itself.
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000' } });
  await t.listen();
});
afterAll(async () => {
  await t?.close();
});

const age = (id: string, ms: number) => ageSession(t.database.db, id, ms);

const deletions = (client: SseClient, id: string) =>
  client.messages.filter((m) => m.event === 'session.deleted' && m.json?.session_id === id).map((m) => m.json);

describe('session.deleted says why', () => {
  it('an expired session: its stream and the changes feed both get {session_id, reason: "expired"}; a deleted one: {session_id} alone', async () => {
    const expiring = 'deleted-reason-expired';
    const deleted = 'deleted-reason-deleted';
    await call(t.app, 'POST', '/v1/sessions', { id: expiring, ttl_ms: 60_000 });
    await createSession(t, deleted);
    const feed = await SseClient.open(`${t.baseUrl}/v1/changes`);
    const streams = await Promise.all([expiring, deleted].map((id) => SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream`)));
    try {
      await feed.waitFor(() => feed.ofType('sweep_required').length === 1, 'sweep_required');
      for (const s of streams) await s.waitFor(() => s.messages.some((m) => m.event === 'session.activity'), 'the marker');

      await age(expiring, 120_000);
      expect(await deleteExpiredSessions(t.database.db)).toBe(1);
      expect((await call(t.app, 'DELETE', `/v1/sessions/${deleted}`)).statusCode).toBe(204);

      for (const s of streams) await s.waitFor(() => s.ended, 'the stream to end');
      await feed.waitFor(() => deletions(feed, expiring).length + deletions(feed, deleted).length === 2, 'both deletions on the changes feed');
      const [onExpiring, onDeleted] = streams as [SseClient, SseClient];
      expect(deletions(onExpiring, expiring)).toEqual([{ session_id: expiring, reason: 'expired' }]);
      expect(deletions(onDeleted, deleted)).toEqual([{ session_id: deleted }]);
      expect(deletions(feed, expiring)).toEqual([{ session_id: expiring, reason: 'expired' }]);
      expect(deletions(feed, deleted)).toEqual([{ session_id: deleted }]);
    } finally {
      await feed.close();
      for (const s of streams) await s.close();
    }
  });
});
