import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteExpiredSessions } from '../../src/history/expiry.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;

beforeAll(async () => {
  // The background sweep is off (a day apart): the test runs it.
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000' } });
});
afterAll(() => t.close());

const status = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}`)).statusCode;
const patch = async (id: string, body: unknown) => {
  const res = await call(t.app, 'PATCH', `/v1/sessions/${id}`, body);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

describe('the expiry sweep follows ttl_ms as it is now', () => {
  it('a TTL set or shortened by PATCH is swept once due; a long TTL, no TTL, and a TTL cleared after it was due stay', async () => {
    const create = async (id: string, ttl?: number) =>
      expect((await call(t.app, 'POST', '/v1/sessions', { id, ...(ttl === undefined ? {} : { ttl_ms: ttl }) })).statusCode).toBe(201);
    await create('sched-shortened', 86_400_000);
    await create('sched-set-later');
    await create('sched-long', 86_400_000);
    await create('sched-none');
    await create('sched-cleared', 1);

    await patch('sched-shortened', { ttl_ms: 1 });
    await patch('sched-set-later', { ttl_ms: 1 });
    // Due by now: its expiry was 1 ms after its last write.
    await expect.poll(async () => Date.parse((await call(t.app, 'GET', '/v1/sessions/sched-cleared')).json().expires_at) < Date.now()).toBe(true);
    await patch('sched-cleared', { ttl_ms: null });

    await expect
      .poll(async () => {
        await deleteExpiredSessions(t.database.db);
        return [await status('sched-shortened'), await status('sched-set-later')];
      }, { timeout: 10_000 })
      .toEqual([404, 404]);
    for (const id of ['sched-long', 'sched-none', 'sched-cleared']) expect(await status(id), id).toBe(200);
  });

  it('a PATCH that leaves ttl_ms out keeps it: the session is swept once no write came for ttl_ms after the PATCH', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'sched-renamed', ttl_ms: 1 })).statusCode).toBe(201);
    const renamed = await patch('sched-renamed', { metadata: { name: 'renamed' } });
    expect(renamed.ttl_ms).toBe(1);
    await expect
      .poll(async () => {
        await deleteExpiredSessions(t.database.db);
        return status('sched-renamed');
      }, { timeout: 10_000 })
      .toBe(404);
  });

  it('a session found not expired is looked at again only when it could expire: due sessions past the limit never starve the expired ones', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'sched-busy', ttl_ms: 600_000 })).statusCode).toBe(201);
    // Its check came due long ago, and it was written since (the check is only a lower bound): due but not expired.
    await t.database.db`update sessions set expiry_check_at = now() - interval '1 hour' where id = 'sched-busy'`;
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'sched-gone', ttl_ms: 1 })).statusCode).toBe(201);
    await expect.poll(async () => Date.parse((await call(t.app, 'GET', '/v1/sessions/sched-gone')).json().expires_at) < Date.now()).toBe(true);

    // One session per sweep: the busy one, due first, must not take every sweep.
    await expect
      .poll(async () => {
        await deleteExpiredSessions(t.database.db, { limit: 1 });
        return status('sched-gone');
      }, { timeout: 10_000 })
      .toBe(404);
    expect(await status('sched-busy')).toBe(200);
    const [busy] = await t.database.db<{ later: boolean }[]>`
      select expiry_check_at > now() + interval '5 minutes' as later from sessions where id = 'sched-busy'`;
    expect(busy!.later).toBe(true);
  });

  it('a session found not expired is looked at next exactly when it could expire: its expires_at, not later', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'sched-next-look', ttl_ms: 600_000 })).statusCode).toBe(201);
    // Due long ago, but written since: the sweep finds it alive.
    await t.database.db`update sessions set expiry_check_at = now() - interval '1 hour' where id = 'sched-next-look'`;
    await deleteExpiredSessions(t.database.db);
    const session = (await call(t.app, 'GET', '/v1/sessions/sched-next-look')).json();
    expect(session.expires_at).not.toBeNull();
    // The next look is when the session would expire if nothing is written: a later look would leave it alive past its TTL.
    const [row] = await t.database.db<{ nextLook: Date }[]>`select expiry_check_at as next_look from sessions where id = 'sched-next-look'`;
    expect(row!.nextLook.toISOString()).toBe(new Date(session.expires_at).toISOString());
  });
});
