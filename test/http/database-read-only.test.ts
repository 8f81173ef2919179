import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

// During a failover the old primary (or a standby a pooler still points at)
// answers writes with SQLSTATE 25006 read_only_sql_transaction. That is the
// database being unavailable for a moment, not a bug: 503, which clients
// retry, rather than a 500, which they must not.
let t: TestApp;
let admin: postgres.Sql;
let database: string;

beforeAll(async () => {
  t = await createTestApp({ env: { DB_POOL_MAX: '2' } });
  database = new URL(t.url).pathname.slice(1);
  admin = postgres(inject('pgAdminUrl'), { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await admin.unsafe(`alter database "${database}" reset default_transaction_read_only`);
  await admin.end();
  await t.close();
});

describe('a database that turned read-only', () => {
  it('a write is 503 database_unavailable with Retry-After, and a read still answers', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'ro-1' })).statusCode).toBe(201);
    await admin.unsafe(`alter database "${database}" set default_transaction_read_only = on`);
    // The pool's connections started read-write: they go, and their successors start read-only.
    await admin`select pg_terminate_backend(pid) from pg_stat_activity
      where datname = ${database} and pid <> pg_backend_pid() and application_name not like 'session-sync-listen%'`;
    // A connection that was cut is itself an outage (503 too): reads go on until the pool holds only new connections.
    await expect.poll(async () => (await call(t.app, 'GET', '/v1/sessions/ro-1')).statusCode, { timeout: 10_000 }).toBe(200);
    await expect.poll(async () => (await call(t.app, 'GET', '/v1/sessions/ro-1')).statusCode, { timeout: 10_000 }).toBe(200);
    const refused = await call(t.app, 'PATCH', '/v1/sessions/ro-1', { metadata: { a: 1 } });
    expectProblem(refused, 503, 'database_unavailable');
    expect(refused.headers['retry-after']).toBeDefined();
    expect((await call(t.app, 'GET', '/v1/sessions/ro-1')).json().metadata).toEqual({});
  });
});
