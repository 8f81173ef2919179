import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, type TestApp } from '../helpers/app.js';
import { ageSession } from '../helpers/db.js';
import { eventually, getSession, markers, open } from '../helpers/streams.js';

// What reads show of the activity, on their own: no background sweep runs in this app, so whatever a read
// shows comes from the read itself (the sweep only tells open streams).
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ sweeps: false });
  await t.listen();
});
afterAll(() => t.close());

const putActivity = async (id: string, body: unknown) => {
  const res = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, body);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

describe('activity reads', () => {
  it('an activity past its ttl_ms reads {status: "idle", expired: true} in GET, the list and a new stream\'s marker, with no sweep run', async () => {
    const id = 'act-read-expired';
    await createSession(t, id);
    const set = await putActivity(id, { status: 'tool', detail: { tool: 'bash' }, ttl_ms: 1 });
    expect(set.expired).toBeUndefined();
    const expired = { status: 'idle', expired: true, updated_at: set.updated_at };

    const session = await eventually(
      () => getSession(t, id),
      (s) => s.activity.expired === true,
      'GET to read the activity expired once its 1 ms passed (no sweep runs here)',
      5_000,
    );
    expect(session.activity).toEqual(expired);

    const list = await call(t.app, 'GET', '/v1/sessions?limit=100');
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().sessions.find((s: any) => s.id === id)?.activity).toEqual(expired);

    const later = await open(t, `/v1/sessions/${id}/stream?live=false`);
    try {
      await later.waitForEnd();
      expect(markers(later).map((m) => m.json)).toEqual([{ ...expired, cursor: 0 }]);
    } finally {
      await later.close();
    }
  });

  it('setting the activity and publishing live events do not move the session\'s expiry or updated_at; an append does', async () => {
    const id = 'act-read-ttl';
    await createSession(t, id, { ttl_ms: 600_000 });
    // Last written a minute ago, as the database's clock sees it: a write now would move both by about that much.
    await ageSession(t.database.db, id, 60_000);
    const before = await getSession(t, id);
    expect(Date.parse(before.expires_at) - Date.parse(before.updated_at)).toBe(600_000);

    await putActivity(id, { status: 'thinking' });
    await putActivity(id, { status: 'tool', detail: { step: 2 }, ttl_ms: 60_000 });
    const live = await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type: 'token', data: 'x' });
    expect(live.statusCode, live.body).toBe(202);

    const after = await getSession(t, id);
    expect(after.activity).toMatchObject({ status: 'tool', detail: { step: 2 } });
    expect({ updated_at: after.updated_at, expires_at: after.expires_at }).toEqual({
      updated_at: before.updated_at,
      expires_at: before.expires_at,
    });

    // The same session's expiry does move with a write that appends to the history.
    const appended = await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 1 }] });
    expect(appended.statusCode, appended.body).toBe(201);
    expect(Date.parse((await getSession(t, id)).expires_at)).toBeGreaterThan(Date.parse(before.expires_at) + 30_000);
  });
});
