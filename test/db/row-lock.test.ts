import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../../src/db/client.js';
import { boundLockWaits } from '../../src/db/statements.js';
import { settleExpiredLeases } from '../../src/leases/sweeper.js';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { committerOn } from '../helpers/committer.js';

/**
 * Writers are serialised by the session's row lock in the database, not by
 * anything in one process. Each test holds that lock from a connection of its
 * own (as another instance's writer would) while writers of two server
 * instances queue behind it, so the order is fixed before anything runs: with
 * the lock removed (FOR UPDATE, SKIP LOCKED) each of them fails.
 */
let t: TestApp;
let other: TestApp;
let sql: postgres.Sql;
let observer: postgres.Sql;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp();
  other = await createTestApp({ databaseUrl: t.url });
  sql = postgres(t.url, { max: 1, onnotice: () => {} });
  observer = postgres(t.url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql.end();
  await observer.end();
  await other.close();
  await t.close();
});

/** Resolves once `count` backends of the database wait for a lock. */
async function lockWaiters(url: string, count: number): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  await expect
    .poll(
      async () => {
        const [row] = await observer<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity where datname = ${name} and wait_event_type = 'Lock'`;
        return row!.n;
      },
      { timeout: 20_000, interval: 20 },
    )
    .toBe(count);
}

/** Runs `whileHeld` with the session's row locked by a connection of the test, then releases it. */
async function holdingRow<T>(connection: postgres.Sql, id: string, whileHeld: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  return connection.begin(async (tx) => {
    await tx`select 1 from sessions where id = ${id} for update`;
    return whileHeld(tx);
  }) as Promise<T>;
}

describe('the session row lock orders writers of different instances', () => {
  it('two appends queued behind the lock get consecutive seqs, none lost or repeated', async () => {
    const id = await createSession(t, `row-lock-${++counter}`);
    const append = (app: TestApp, data: string) => call(app.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data }] });
    const [a, b] = await holdingRow(sql, id, async () => {
      const writes = [append(t, 'a'), append(other, 'b')];
      await lockWaiters(t.url, 2);
      return writes;
    }).then((writes) => Promise.all(writes));
    expect([a!.statusCode, b!.statusCode]).toEqual([201, 201]);
    const events = (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events;
    expect(events.map((e: { seq: number }) => e.seq)).toEqual([1, 2]);
    expect(events.map((e: { data: string }) => e.data).sort()).toEqual(['a', 'b']);
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).json().last_seq).toBe(2);
  });

  it('two deltas on the same base_version queued behind the lock: one applies, the other is version_conflict', async () => {
    const id = await createSession(t, `row-lock-${++counter}`);
    await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
    const delta = (app: TestApp, n: number) => call(app.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, merge_patch: { n } });
    const answers = await holdingRow(sql, id, async () => {
      const writes = [delta(t, 1), delta(other, 2)];
      await lockWaiters(t.url, 2);
      return writes;
    }).then((writes) => Promise.all(writes));
    const applied = answers.filter((a) => a.statusCode === 200);
    expect(applied).toHaveLength(1);
    expectProblem(answers.find((a) => a.statusCode !== 200)!, 409, 'version_conflict');
    const state = (await call(t.app, 'GET', `/v1/sessions/${id}/state`)).json();
    expect(state.version).toBe(2);
    expect(state.snapshot).toEqual({ n: answers.indexOf(applied[0]!) + 1 });
  });
});

describe('the expiry sweeper and writers', () => {
  it('skips a session a writer holds instead of waiting for it, and settles it once the writer is done', async () => {
    // An app of its own to claim the lease, closed before the test sweeps: no other sweeper runs on this database.
    const own = await createTestApp();
    const id = await createSession(own, 'swept');
    expect((await call(own.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w', ttl_ms: 60_000 })).statusCode).toBe(201);
    await own.close();
    const database = connectDatabase({ url: own.url, poolMax: 2 });
    const writer = postgres(own.url, { max: 1, onnotice: () => {} });
    try {
      // The lease runs out (expiry is the database's clock, db/clock.ts); then a writer takes the row.
      await writer`update sessions set lease_expires_at = now() - interval '1 second' where id = ${id}`;
      const whileHeld = await holdingRow(writer, id, async () => {
        // Awaited while the lock is held: a sweeper that waited for the row would never return.
        return settleExpiredLeases(committerOn(database.db));
      });
      expect(whileHeld).toBe(0);
      expect(await settleExpiredLeases(committerOn(database.db))).toBe(1);
      const types = await database.db<{ type: string }[]>`
        select e.type from events e join sessions s on s.sid = e.session_sid where s.id = ${id} order by e.seq`;
      expect(types.map((row) => row.type)).toEqual(['lease.acquired', 'lease.expired']);
      expect(await settleExpiredLeases(committerOn(database.db))).toBe(0);
    } finally {
      await writer.end();
      await database.close();
    }
  });
});

describe('a bound on lock waits', () => {
  it('holds for its transaction only: the connection\'s next transaction waits as long as it must', async () => {
    const solo = postgres(t.url, { max: 1, onnotice: () => {} });
    try {
      const inside = await solo.begin(async (tx) => {
        boundLockWaits(tx as never, 50);
        const [row] = await tx<{ lockTimeout: string }[]>`select current_setting('lock_timeout') as "lockTimeout"`;
        return row!.lockTimeout;
      });
      expect(inside).toBe('50ms');
      const [after] = await solo<{ lockTimeout: string }[]>`select current_setting('lock_timeout') as "lockTimeout"`;
      expect(after!.lockTimeout).toBe('0');
    } finally {
      await solo.end();
    }
  });
});

