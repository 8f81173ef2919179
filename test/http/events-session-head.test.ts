import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteExpiredSessions } from '../../src/history/expiry.js';
import { RetentionSweeper } from '../../src/history/trim.js';
import { StateCache } from '../../src/state/cache.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

// What POST /v1/sessions/{id}/events does to the Session besides its history: the sweeps that act on a written
// session (retention, expiry: docs/API.md, History lifecycle) judge it by what the append leaves on it. The
// background sweeps are off (a day apart): each test runs the sweep itself, so no sweep races its reads.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000' } });
});
afterAll(async () => {
  await t?.close();
});

const notes = async (id: string, n: number) => {
  const res = await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: Array.from({ length: n }, (_, i) => ({ type: 'note', data: { i } })) });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { first_seq: number; last_seq: number };
};
const session = async (id: string) => {
  const res = await call(t.app, 'GET', `/v1/sessions/${id}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

describe('an append and the retention sweep', () => {
  /** Runs the background retention sweep until it has nothing left to trim (bounded: a sweep that never settles fails). */
  async function sweepAll(): Promise<void> {
    const sweeper = new RetentionSweeper(t.database.db, { cache: new StateCache(0), batch: 1000 }, t.config.history);
    for (let round = 0; round < 20; round++) if ((await sweeper.sweep(1000)) === 0) return;
    throw new Error('the retention sweep never ran out of work');
  }

  it('every append to a session with a retention policy makes the next sweep trim it back to the policy', async () => {
    const id = 'evh-retained';
    expect((await call(t.app, 'POST', '/v1/sessions', { id, retention: { max_events: 2 } })).statusCode).toBe(201);
    await notes(id, 4);
    await sweepAll();
    expect((await session(id)).history_start).toBe(2);
    // The sweep has looked at it and found it within its policy; the writes after that bring it back.
    expect(await notes(id, 3)).toEqual({ first_seq: 5, last_seq: 7 });
    await sweepAll();
    expect((await session(id)).history_start).toBe(5);
    const kept = (await call(t.app, 'GET', `/v1/sessions/${id}/events?after=5`)).json();
    expect(kept.events.map((e: { seq: number }) => e.seq)).toEqual([6, 7]);
    expect(await notes(id, 1)).toEqual({ first_seq: 8, last_seq: 8 });
    await sweepAll();
    expect((await session(id)).history_start).toBe(6);
  });
});

describe('an append and the Session\'s last write', () => {
  it('moves updated_at to the append and expires_at to it plus ttl_ms, so the expiry sweep spares a session being written', async () => {
    const id = 'evh-ttl';
    expect((await call(t.app, 'POST', '/v1/sessions', { id, ttl_ms: 60_000 })).statusCode).toBe(201);
    // As if the session had last been written two minutes ago (Postgres's clock judges; nothing waits on the wall clock).
    await t.database.db`
      update sessions set updated_at = now() - interval '120 seconds', expiry_check_at = now() - interval '60 seconds'
      where id = ${id}`;
    const before = await session(id);

    const { first_seq } = await notes(id, 1);
    const [event] = (await call(t.app, 'GET', `/v1/sessions/${id}/events?after=${first_seq - 1}`)).json().events;
    const after = await session(id);
    expect(Date.parse(after.updated_at)).toBeGreaterThan(Date.parse(before.updated_at));
    // The last write is the append: updated_at is no older than the event it stored.
    expect(Date.parse(after.updated_at)).toBeGreaterThanOrEqual(Date.parse(event.created_at));
    expect(Date.parse(after.expires_at) - Date.parse(after.updated_at)).toBe(60_000);
    expect(Date.parse(after.expires_at)).toBeGreaterThan(Date.parse(before.expires_at));

    await deleteExpiredSessions(t.database.db);
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).statusCode).toBe(200);
  });

  it('a write that appends nothing is no write: last_seq, updated_at and expires_at stay, so an idle poller does not keep a session alive', async () => {
    // docs/API.md, Expiry: a request that changes nothing does not move expires_at. A claim on an empty queue (204)
    // and cancelling a cancelled batch (204) append no event: neither is the session's last write.
    const id = 'evh-nothing';
    expect((await call(t.app, 'POST', '/v1/sessions', { id, ttl_ms: 600_000 })).statusCode).toBe(201);
    const enqueued = await call(t.app, 'POST', `/v1/sessions/${id}/queue`, { items: [1] });
    expect(enqueued.statusCode, enqueued.body).toBe(201);
    const cancel = () => call(t.app, 'DELETE', `/v1/sessions/${id}/queue/${enqueued.json().batch_id}`);
    expect((await cancel()).statusCode).toBe(204);
    // As if the session had last been written two minutes ago: a write now would move updated_at visibly.
    await t.database.db`
      update sessions set updated_at = now() - interval '120 seconds', expiry_check_at = now() + interval '480 seconds' where id = ${id}`;
    const before = await session(id);

    const claimed = await call(t.app, 'POST', `/v1/sessions/${id}/queue/claim`, { max_batches: 5, ttl_ms: 60_000 });
    expect(claimed.statusCode, claimed.body).toBe(204);
    expect((await cancel()).statusCode).toBe(204);

    const after = await session(id);
    expect({ last_seq: after.last_seq, updated_at: after.updated_at, expires_at: after.expires_at }).toEqual({
      last_seq: before.last_seq,
      updated_at: before.updated_at,
      expires_at: before.expires_at,
    });
    const events = (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events;
    expect(events.at(-1).seq).toBe(before.last_seq);
  });
});
