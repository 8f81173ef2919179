import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { unlessStuck } from '../helpers/waits.js';

// A busy session must not starve the others: its writers wait in the process,
// one of them at a time holding a pool connection, not the whole pool.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { DB_POOL_MAX: '3' } });
  for (const id of ['busy', 'other']) expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
});
afterAll(() => t.close());

describe('writers queue per session before taking a connection', () => {
  it('with 20 writers waiting on a locked session, another session is read and written while they still wait', async () => {
    const holder = postgres(t.url, { max: 1, onnotice: () => {} });
    const observer = postgres(t.url, { max: 1, onnotice: () => {} });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    // Someone else holds the busy session's row lock (a long transaction, another instance).
    const holding = holder.begin(async (sql) => {
      await sql`select 1 from sessions where id = 'busy' for update`;
      locked();
      await released;
    });
    try {
      await isLocked;
      let finished = 0;
      const writers = Array.from({ length: 20 }, (_, i) =>
        call(t.app, 'POST', '/v1/sessions/busy/events', { events: [{ type: 'step', data: i }] }).then((res) => {
          finished++;
          return res;
        }),
      );
      // The first of them reaches the lock and waits there; the others wait in the process.
      const waitingOnLock = async () =>
        Number(
          (
            await observer`
              select count(*)::int as n from pg_stat_activity
              where datname = current_database() and application_name = 'session-sync' and wait_event_type = 'Lock'`
          )[0]?.n,
        );
      await expect.poll(waitingOnLock).toBe(1);

      // With a pool of 3 and 20 writers of "busy", "other" still gets a connection.
      const write = await unlessStuck(
        call(t.app, 'POST', '/v1/sessions/other/events', { events: [{ type: 'step', data: 'other' }] }),
        'a write to another session',
      );
      expect(write.statusCode).toBe(201);
      const read = await unlessStuck(call(t.app, 'GET', '/v1/sessions/other/events'), 'a read of another session');
      expect(read.json().events).toHaveLength(1);
      expect(finished).toBe(0);
      // Still one writer of "busy" waits on the lock (after its bounded wait under WRITE_CONCURRENCY, alone: see write-groups.ts).
      await expect.poll(waitingOnLock).toBe(1);

      release();
      await holding;
      const results = await Promise.all(writers);
      expect(results.map((r) => r.statusCode)).toEqual(Array(20).fill(201));
      // Queued in arrival order: seq follows the order the writers came in.
      expect(results.map((r) => r.json().first_seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    } finally {
      release();
      await holding.catch(() => {});
      await holder.end();
      await observer.end();
    }
  }, 20_000);
});
