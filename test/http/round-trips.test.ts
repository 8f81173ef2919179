import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/db.js';
import { type RoundTrip, type RoundTripProxy, startRoundTripProxy } from '../helpers/pg-proxy.js';

// How many times a write waits for the database: with the database a
// millisecond or more away, that is what a write costs, and what a group of
// writes costs together (bench/README.md, scenario 8). Counted by a proxy that
// answers each wave of statements at once (test/helpers/pg-proxy.ts), so the
// count is the chain of waits in the server's code, whatever the timing.
let t: TestApp;
let proxy: RoundTripProxy;
let direct: string;

beforeAll(async () => {
  direct = await createTestDatabase();
  const target = new URL(direct);
  proxy = await startRoundTripProxy({ host: target.hostname, port: Number(target.port) });
  const through = new URL(direct);
  through.port = String(proxy.port);
  // One write transaction at a time, on its own connection; a long lock wait keeps a held write in its slot.
  t = await createTestApp({
    databaseUrl: through.toString(),
    env: { DB_POOL_MAX: '2', WRITE_CONCURRENCY: '1' },
    writeLockWaitMs: 10_000,
    sweeps: false,
    sendWakeups: async () => {},
  });
});
afterAll(async () => {
  await t?.close();
  await proxy?.close();
});

/** What each statement of a round trip is, in a word. */
function shape(trips: RoundTrip[]): string[][] {
  const word = (statement: string): string => {
    const sql = statement.replace(/\s+/g, ' ').trim();
    if (sql === 'begin' || sql === 'commit') return sql;
    if (sql.includes("set_config('lock_timeout'")) return 'lock_timeout';
    if (sql.endsWith('for update')) return 'lock';
    if (sql.includes('join idempotency_keys')) return 'key';
    if (sql.includes('join turns')) return 'turn';
    if (sql.startsWith('insert into idempotency_keys')) return 'store key';
    return 'write';
  };
  return trips.map((trip) => trip.statements.map(word));
}

/** The round trips of `request`, run once before to prepare its statements on the connection. */
async function roundTripsOf(request: (attempt: number) => Promise<{ statusCode: number; body: string }>, status: number): Promise<string[][]> {
  expect((await request(0)).statusCode).toBe(status);
  proxy.reset();
  const response = await request(1);
  expect(response.statusCode, response.body).toBe(status);
  return shape(proxy.roundTrips());
}

async function sessionWithState(id: string): Promise<void> {
  expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
  expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 0 } })).statusCode).toBe(200);
}

describe('round trips to the database', () => {
  it('a lone delta, snapshot or event append: two, BEGIN with the lock, then the writes with the COMMIT', async () => {
    await sessionWithState('rt-lone');
    let version = 1;
    const twoTrips = [
      ['begin', 'lock_timeout', 'lock'],
      ['write', 'commit'],
    ];
    const merge = () => call(t.app, 'POST', '/v1/sessions/rt-lone/deltas', { base_version: version++, merge_patch: { n: version } });
    expect(await roundTripsOf(merge, 200)).toEqual(twoTrips);
    const patch = () => call(t.app, 'POST', '/v1/sessions/rt-lone/deltas', { base_version: version++, patch: [{ op: 'add', path: '/m', value: version }] });
    expect(await roundTripsOf(patch, 200)).toEqual(twoTrips);
    const snapshot = () => call(t.app, 'PUT', '/v1/sessions/rt-lone/state', { base_version: version++, schema_version: 1, snapshot: { n: version } });
    expect(await roundTripsOf(snapshot, 200)).toEqual([
      ['begin', 'lock_timeout', 'lock'],
      ['write', 'write', 'commit'],
    ]);
    const append = () => call(t.app, 'POST', '/v1/sessions/rt-lone/events', { events: [{ type: 'step', data: 1 }] });
    expect(await roundTripsOf(append, 201)).toEqual(twoTrips);
  });

  it('with an Idempotency-Key, still two: the key is looked up behind the lock and stored with the COMMIT', async () => {
    await sessionWithState('rt-keyed');
    let version = 1;
    const delta = (attempt: number) =>
      call(t.app, 'POST', '/v1/sessions/rt-keyed/deltas', { base_version: version++, merge_patch: { n: version } }, { 'idempotency-key': `delta-${attempt}` });
    expect(await roundTripsOf(delta, 200)).toEqual([
      ['begin', 'lock_timeout', 'lock', 'key'],
      ['write', 'store key', 'commit'],
    ]);
    const append = (attempt: number) =>
      call(t.app, 'POST', '/v1/sessions/rt-keyed/events', { events: [{ type: 'step', data: 1 }] }, { 'idempotency-key': `append-${attempt}` });
    expect(await roundTripsOf(append, 201)).toEqual([
      ['begin', 'lock_timeout', 'lock', 'key'],
      ['write', 'store key', 'commit'],
    ]);
  });

  it('a queue enqueue and a turn with messages, usage and a key: two as well', async () => {
    await sessionWithState('rt-worker');
    const enqueue = () => call(t.app, 'POST', '/v1/sessions/rt-worker/queue', { items: [{ text: 'next' }] });
    expect(await roundTripsOf(enqueue, 201)).toEqual([
      ['begin', 'lock_timeout', 'lock'],
      ['write', 'write', 'commit'],
    ]);
    const turn = (attempt: number) =>
      call(
        t.app,
        'POST',
        '/v1/sessions/rt-worker/turns',
        {
          turn_id: `turn-${attempt}`,
          events: [{ type: 'step', data: 2 }],
          messages: [{ role: 'assistant', content: 'done' }],
          usage: [{ model: 'm', input_tokens: 3, output_tokens: 4 }],
        },
        { 'idempotency-key': `turn-${attempt}` },
      );
    expect(await roundTripsOf(turn, 201)).toEqual([
      // The turn's id is looked up behind the lock, like the key;
      ['begin', 'lock_timeout', 'lock', 'key', 'turn'],
      // its messages, conversation version, usage, events and record, and the key's answer, go with the COMMIT.
      ['write', 'write', 'write', 'write', 'write', 'store key', 'commit'],
    ]);
  });

  it('eight deltas to eight sessions that waited together: one transaction of two round trips', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `rt-group-${i}`);
    for (const id of [...ids, 'rt-blocker']) await sessionWithState(id);
    // The statements prepared on the write connection, as after any first delta.
    expect((await call(t.app, 'POST', '/v1/sessions/rt-blocker/deltas', { base_version: 1, merge_patch: { n: 1 } })).statusCode).toBe(200);
    // A write held on a session locked elsewhere keeps the only slot while the eight gather behind it.
    const holder = postgres(direct, { max: 1, onnotice: () => {} });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = holder.begin(async (sql) => {
      await sql`select 1 from sessions where id = 'rt-blocker' for update`;
      locked();
      await released;
    });
    try {
      await isLocked;
      proxy.reset();
      const held = call(t.app, 'POST', '/v1/sessions/rt-blocker/deltas', { base_version: 2, merge_patch: { n: 2 } });
      await expect.poll(() => shape(proxy.roundTrips())).toEqual([['begin', 'lock_timeout', 'lock']]);
      const writes = ids.map((id) => call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, merge_patch: { n: 1 } }));
      await expect.poll(() => t.app.inject({ method: 'GET', url: '/metrics' }).then((r) => /^session_sync_writes_waiting 8$/m.test(r.body))).toBe(true);
      proxy.reset();
      release();
      await holding;
      expect((await held).statusCode).toBe(200);
      for (const write of await Promise.all(writes)) expect(write.statusCode, write.body).toBe(200);
      const eight = (word: string) => Array.from({ length: 8 }, () => word);
      expect(shape(proxy.roundTrips())).toEqual([
        // The held write ends,
        ['write', 'commit'],
        // then the eight lock their rows in one round trip and write with the COMMIT in a second.
        ['begin', 'lock_timeout', ...eight('lock')],
        [...eight('write'), 'commit'],
      ]);
    } finally {
      release();
      await holding.catch(() => {});
      await holder.end();
    }
  });
});
