import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { lockWaiters } from '../helpers/db.js';

// A Durable Streams PUT (plain or fork) racing another PUT or a DELETE of its path, on two instances of one
// database: each PUT looks for the path, then inserts it; a PUT whose insert finds the path taken meanwhile answers
// as if it had come second. The races are ordered by row and table locks the test holds (what the requests wait
// for is read from pg_stat_activity), not by timing. Every write waits for a lock as long as it takes
// (`writeLockWaitMs`), so no request gives up its place and reruns while the test holds one.
let first: TestApp;
let second: TestApp;

beforeAll(async () => {
  first = await createTestApp({ writeLockWaitMs: 60_000, sweeps: false });
  second = await createTestApp({ databaseUrl: first.url, writeLockWaitMs: 60_000, sweeps: false });
  // A database fault on one content type, for the PUT that fails (below).
  await first.database.db.unsafe(`
    create function refuse_stream_type() returns trigger language plpgsql as
      $$ begin raise exception 'stream type refused' using errcode = 'XX000'; end $$;
    create trigger refuse_stream_type before update on sessions for each row
      when (new.stream_content_type = 'application/x-refused') execute function refuse_stream_type();
  `);
});
afterAll(async () => {
  await second?.close();
  await first?.close();
});

const offset = (seq: number) => `0000000000000000_${String(seq).padStart(16, '0')}`;
const text = { 'content-type': 'text/plain' };

function ds(app: TestApp, method: 'PUT' | 'GET' | 'HEAD' | 'DELETE', path: string, headers: Record<string, string> = {}, body?: string) {
  return app.app.inject({ method, url: `/v1/stream/${path}`, headers, ...(body === undefined ? {} : { payload: body }) });
}
const fork = (app: TestApp, path: string, source: string) => ds(app, 'PUT', path, { 'stream-forked-from': `/v1/stream/${source}` });

/** Transactions of this database waiting for a lock. */
const waitingForLocks = () => lockWaiters(first.database.db);

/**
 * Transactions queued for a row behind another that waits for it too: the first waiter holds the row's tuple
 * lock while it waits for the row's holder to end; the next ones wait for that tuple lock.
 */
async function queuedBehindAWaiter(): Promise<number> {
  const [row] = await first.database.db<{ n: number }[]>`
    select count(*)::int as n from pg_locks where locktype = 'tuple' and not granted and database = (select oid from pg_database where datname = current_database())`;
  return row?.n ?? 0;
}

describe('two PUTs of one path at once', () => {
  it('plain: one makes it (201), the other finds it made the same (200), with the body appended once', async () => {
    let puts: ReturnType<typeof ds>[] = [];
    // Both PUTs have found no stream, and wait to insert it, before either can.
    await first.database.db.begin(async (tx) => {
      await tx`lock table sessions in share mode`;
      puts = [ds(first, 'PUT', 'put-race', text, 'x'), ds(second, 'PUT', 'put-race', text, 'x')];
      await expect.poll(waitingForLocks, { timeout: 30_000 }).toBe(2);
    });
    const answers = await Promise.all(puts);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 201]);
    for (const answer of answers) expect(answer.headers['stream-next-offset']).toBe(offset(1));
    expect(answers.find((a) => a.statusCode === 200)?.headers.location).toBeUndefined();
    expect((await ds(first, 'GET', 'put-race?offset=-1')).body).toBe('x');
  });

  it('fork: one makes it (201), the other finds the same fork (200)', async () => {
    expect((await ds(first, 'PUT', 'fork-race-src', text, 'data')).statusCode).toBe(201);
    let forks: ReturnType<typeof ds>[] = [];
    // Both wait for the source's row, which a fork locks before it inserts.
    await first.database.db.begin(async (tx) => {
      await tx`select 1 from sessions where id = 'fork-race-src' for update`;
      forks = [fork(first, 'fork-race', 'fork-race-src'), fork(second, 'fork-race', 'fork-race-src')];
      await expect.poll(waitingForLocks, { timeout: 30_000 }).toBe(2);
    });
    const answers = await Promise.all(forks);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 201]);
    for (const answer of answers) expect(answer.headers['stream-next-offset']).toBe(offset(1));
    expect(answers.find((a) => a.statusCode === 200)?.headers.location).toBeUndefined();
    expect((await ds(first, 'GET', 'fork-race?offset=-1')).body).toBe('data');
  });
});

describe('a fork PUT racing a PUT and a DELETE of its path', () => {
  it('the path was taken when it tried and is free now: 409 session_exists, not session_deleted (nothing was soft-deleted)', async () => {
    expect((await ds(first, 'PUT', 'gone-src', text, 'data')).statusCode).toBe(201);
    let forked!: ReturnType<typeof ds>;
    let deleted!: ReturnType<typeof ds>;
    let releasePath!: () => void;
    let pathHeld!: Promise<void>;
    await first.database.db.begin(async (tx) => {
      // 1. The fork has found no stream under its path and waits for its source.
      await tx`select 1 from sessions where id = 'gone-src' for update`;
      forked = fork(first, 'gone-path', 'gone-src');
      await expect.poll(waitingForLocks, { timeout: 30_000 }).toBe(1);
      // 2. Meanwhile another instance makes the path, and a DELETE of it waits behind a lock the test holds.
      expect((await ds(second, 'PUT', 'gone-path', text)).statusCode).toBe(201);
      let held!: () => void;
      const locked = new Promise<void>((resolve) => (held = resolve));
      pathHeld = first.database.db.begin(async (pathTx) => {
        await pathTx`select 1 from sessions where id = 'gone-path' for update`;
        held();
        await new Promise<void>((resolve) => (releasePath = resolve));
      });
      await locked;
      deleted = ds(second, 'DELETE', 'gone-path');
      await expect.poll(waitingForLocks, { timeout: 30_000 }).toBe(2);
    });
    // 3. The fork goes on: its insert finds the path taken, and it waits for the path's row behind the DELETE.
    await expect.poll(queuedBehindAWaiter, { timeout: 30_000 }).toBe(1);
    // 4. The DELETE goes first; the fork then finds no stream there, and none soft-deleted.
    releasePath();
    await pathHeld;
    expect((await deleted).statusCode).toBe(204);
    const refused = expectProblem(await forked, 409, 'session_exists');
    expect(refused.detail).toBe('session "gone-path" already exists');
    // Retried, it makes the fork.
    expect((await fork(first, 'gone-path', 'gone-src')).statusCode).toBe(201);
  });
});

describe('a PUT that fails in the database', () => {
  it('answers its failure, not the configuration of the expired stream whose path it took', async () => {
    expect((await ds(first, 'PUT', 'fault-path', { ...text, 'stream-ttl': '0' })).statusCode).toBe(201);
    const failed = await ds(first, 'PUT', 'fault-path', { 'content-type': 'application/x-refused' });
    expectProblem(failed, 500, 'internal_error');
    // Nothing was made: the path is free for the next PUT.
    expect((await ds(first, 'HEAD', 'fault-path')).statusCode).toBe(404);
    expect((await ds(first, 'PUT', 'fault-path', text)).statusCode).toBe(201);
  });
});
