import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { sampleOf } from '../helpers/metrics.js';

// Group commit seen from the API: writes of every kind to different sessions
// that wait at the same moment share one transaction, each is answered as if
// it had been alone, and a refused one changes nothing and fails none of the
// others.
let t: TestApp;

beforeAll(async () => {
  // One write transaction at a time, and a long lock wait: a write held on a
  // locked session keeps the only slot while the others gather behind it.
  t = await createTestApp({ env: { WRITE_CONCURRENCY: '1' }, writeLockWaitMs: 10_000 });
});
afterAll(() => t.close());

async function metrics(): Promise<string> {
  return (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
}

const metricValue = (text: string, name: string) => sampleOf(text, name, 0);

describe('group commit', () => {
  it('answers writes of every kind that shared a transaction as if each had been alone; a refused one changes nothing', async () => {
    const ids = ['blocker', 'snap', 'delta', 'events', 'messages', 'queue', 'turn', 'conflict', 'lease'].map((name) => `gc-${name}`);
    const [blocker, snap, delta, events, messages, queue, turn, conflict, lease] = ids as [string, ...string[]];
    for (const id of ids) expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    for (const id of [delta, conflict]) {
      expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 0 } })).statusCode).toBe(200);
    }
    const before = await metrics();

    const holder = postgres(t.url, { max: 1, onnotice: () => {} });
    const observer = postgres(t.url, { max: 1, onnotice: () => {} });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = holder.begin(async (sql) => {
      await sql`select 1 from sessions where id = ${blocker} for update`;
      locked();
      await released;
    });
    try {
      await isLocked;
      const held = call(t.app, 'POST', `/v1/sessions/${blocker}/events`, { events: [{ type: 'step', data: 0 }] });
      await expect
        .poll(async () => (await observer`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)[0]!.n)
        .toBe(1);

      const writes = [
        call(t.app, 'PUT', `/v1/sessions/${snap}/state`, { base_version: 0, schema_version: 1, snapshot: { a: 1 } }),
        call(t.app, 'POST', `/v1/sessions/${delta}/deltas`, { base_version: 1, patch: [{ op: 'add', path: '/b', value: 2 }] }),
        call(t.app, 'POST', `/v1/sessions/${events}/events`, { events: [{ type: 'step', data: 1 }] }, { 'idempotency-key': 'gc-key' }),
        call(t.app, 'POST', `/v1/sessions/${messages}/messages`, { messages: [{ role: 'user', content: 'hello' }] }),
        call(t.app, 'POST', `/v1/sessions/${queue}/queue`, { items: [{ text: 'next' }] }),
        call(t.app, 'POST', `/v1/sessions/${turn}/turns`, { turn_id: 'gc-turn', events: [{ type: 'step', data: 2 }], messages: [{ role: 'assistant', content: 'done' }] }),
        call(t.app, 'POST', `/v1/sessions/${conflict}/deltas`, { base_version: 0, patch: [{ op: 'add', path: '/c', value: 3 }] }),
        call(t.app, 'POST', `/v1/sessions/${lease}/lease`, { owner: 'worker-1', ttl_ms: 60_000 }),
      ];
      await expect.poll(async () => metricValue(await metrics(), 'session_sync_writes_waiting')).toBe(writes.length);
      release();
      await holding;
      expect((await held).statusCode).toBe(201);
      const [snapped, deltaed, appended, posted, enqueued, turned, refused, claimed] = await Promise.all(writes);

      expect(snapped!.statusCode).toBe(200);
      expect(snapped!.json()).toMatchObject({ version: 1 });
      expect(deltaed!.statusCode).toBe(200);
      expect(deltaed!.json()).toMatchObject({ version: 2 });
      expect(appended!.statusCode).toBe(201);
      expect(posted!.statusCode).toBe(201);
      expect(posted!.json()).toMatchObject({ version: 1 });
      expect(enqueued!.statusCode).toBe(201);
      expect(turned!.statusCode).toBe(201);
      expect(turned!.json()).toMatchObject({ turn_id: 'gc-turn' });
      expectProblem(refused!, 409, 'version_conflict');
      expect(claimed!.statusCode).toBe(201);

      // What each answered is what is stored.
      expect((await call(t.app, 'GET', `/v1/sessions/${snap}/state`)).json()).toMatchObject({ version: 1, snapshot: { a: 1 } });
      expect((await call(t.app, 'GET', `/v1/sessions/${delta}/state`)).json()).toMatchObject({ version: 2, snapshot: { n: 0, b: 2 } });
      expect((await call(t.app, 'GET', `/v1/sessions/${conflict}/state`)).json()).toMatchObject({ version: 1, snapshot: { n: 0 } });
      const stored = (await call(t.app, 'GET', `/v1/sessions/${events}/events?after=${appended!.json().first_seq - 1}`)).json();
      expect(stored.events.map((e: { type: string; data: unknown }) => [e.type, e.data])).toEqual([['step', 1]]);
      expect((await call(t.app, 'GET', `/v1/sessions/${messages}/messages`)).json().messages.map((m: { content: string }) => m.content)).toEqual(['hello']);
      expect((await call(t.app, 'GET', `/v1/sessions/${queue}/queue`)).json().batches).toHaveLength(1);
      expect((await call(t.app, 'GET', `/v1/sessions/${turn}/messages`)).json().messages.map((m: { content: string }) => m.content)).toEqual(['done']);
      // The Idempotency-Key of a write that shared a transaction replays its answer.
      const retried = await call(t.app, 'POST', `/v1/sessions/${events}/events`, { events: [{ type: 'step', data: 1 }] }, { 'idempotency-key': 'gc-key' });
      expect(retried.headers['idempotent-replayed']).toBe('true');
      expect(retried.json()).toEqual(appended!.json());
      // A lease taken in the group fences the session's next write.
      expectProblem(await call(t.app, 'POST', `/v1/sessions/${lease}/events`, { events: [{ type: 'step', data: 3 }] }), 409, 'lease_held');
    } finally {
      release();
      await holding.catch(() => {});
      await holder.end();
      await observer.end();
    }

    // The held write alone; the eight together, rolled back for the refused one; its seven again together.
    const after = await metrics();
    const grew = (name: string) => metricValue(after, name) - metricValue(before, name);
    expect(grew('session_sync_write_transactions_total{outcome="rerun"}')).toBe(1);
    expect(grew('session_sync_writes_per_transaction_bucket{le="1"}')).toBeGreaterThanOrEqual(1);
    expect(grew('session_sync_writes_per_transaction_count') - grew('session_sync_writes_per_transaction_bucket{le="4"}')).toBe(2);
    expect(grew('session_sync_writes_per_transaction_bucket{le="8"}') - grew('session_sync_writes_per_transaction_bucket{le="4"}')).toBe(2);
    // Every transaction is timed, alone or grouped.
    expect(grew('session_sync_write_transaction_seconds_count')).toBe(grew('session_sync_writes_per_transaction_count'));
  });
});
