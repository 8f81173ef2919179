import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { announceExpiredActivities } from '../../src/activity/statements.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

// The activity TTL sweep announces at most a batch per run: when more are due at once (a fleet of workers gone
// together), the ones due longest go first, so none waits run after run behind newer ones.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ sweeps: false });
});
afterAll(() => t.close());

describe('the activity TTL sweep, past its batch', () => {
  it('announces the activities due longest first', async () => {
    const ids = ['act-order-newer', 'act-order-oldest', 'act-order-older'];
    for (const id of ids) {
      expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
      expect((await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool', ttl_ms: 60_000 })).statusCode).toBe(200);
    }
    // Due a day, three days and two days ago: before anything else in this database.
    for (const [id, days] of [['act-order-newer', 1], ['act-order-oldest', 3], ['act-order-older', 2]] as const) {
      await t.database.db`
        update session_activity set expires_at = now() - ${days} * interval '1 day'
        where session_sid = (select sid from sessions where id = ${id})`;
    }
    const announced = async () =>
      (
        await t.database.db<{ id: string }[]>`
          select s.id from session_activity a join sessions s on s.sid = a.session_sid
          where a.expired_sent and s.id like 'act-order-%' order by s.id`
      ).map((row) => row.id);
    expect(await announceExpiredActivities(t.database.db, 1)).toBe(1);
    expect(await announced()).toEqual(['act-order-oldest']);
    expect(await announceExpiredActivities(t.database.db, 1)).toBe(1);
    expect(await announced()).toEqual(['act-order-older', 'act-order-oldest']);
  });
});
