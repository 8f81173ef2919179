import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { deleteExpiredKeys } from '../../src/idempotency/statements.js';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

/** An Idempotency-Key holds its answer for IDEMPOTENCY_TTL_MS (24 h by default), then the request is new again. */
let t: TestApp;
let counter = 0;
const DAY_MS = 24 * 3_600_000;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const append = (id: string, body: unknown, key: string) => call(t.app, 'POST', `/v1/sessions/${id}/events`, body, { 'idempotency-key': key });
/** Time passes for the stored answers of a key: its row is dated `hours` ago. */
const age = (key: string, hours: number) =>
  t.database.db`update idempotency_keys set created_at = now() - make_interval(hours => ${hours}) where key = ${key}`;

describe('Idempotency-Key lifetime', () => {
  it('a key answers only for itself: another key on the same session is a new request, and one key expiring leaves the others their answers', async () => {
    const id = `ttl-${++counter}`;
    expect((await call(t.app, 'POST', '/v1/sessions', { id }, { 'idempotency-key': `k-create-${id}` })).statusCode).toBe(201);
    const body = { events: [{ type: 'note', data: 1 }] };
    expect((await append(id, body, `k-one-${id}`)).json()).toEqual({ first_seq: 1, last_seq: 1 });
    expect((await append(id, body, `k-two-${id}`)).json()).toEqual({ first_seq: 2, last_seq: 2 });
    await age(`k-one-${id}`, 25);
    const rerun = await append(id, body, `k-one-${id}`);
    expect(rerun.headers['idempotent-replayed']).toBeUndefined();
    expect(rerun.json()).toEqual({ first_seq: 3, last_seq: 3 });
    const replay = await append(id, body, `k-two-${id}`);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual({ first_seq: 2, last_seq: 2 });
    // The delete under a key of its own is carried out: not refused as the create's key reused.
    const deleted = await call(t.app, 'DELETE', `/v1/sessions/${id}`, undefined, { 'idempotency-key': `k-delete-${id}` });
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(deleted.headers['idempotent-replayed']).toBeUndefined();
  });

  it('a session delete under a key past the TTL runs again: the recreated session is deleted, not answered with the old replay', async () => {
    const id = `ttl-${++counter}`;
    const remove = () => call(t.app, 'DELETE', `/v1/sessions/${id}`, undefined, { 'idempotency-key': `k-del-${id}` });
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    expect((await remove()).statusCode).toBe(204);
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    await age(`k-del-${id}`, 25);
    const again = await remove();
    expect(again.statusCode, again.body).toBe(204);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}`), 404, 'session_not_found');
  });

  it('a retry within the TTL replays; the same key after the TTL runs the request again', async () => {
    const id = await createSession(t, `ttl-${++counter}`);
    const body = { events: [{ type: 'note', data: 1 }] };
    const first = await append(id, body, 'k-ttl');
    expect(first.json()).toEqual({ first_seq: 1, last_seq: 1 });
    await age('k-ttl', 23);
    const within = await append(id, body, 'k-ttl');
    expect(within.headers['idempotent-replayed']).toBe('true');
    expect(within.json()).toEqual(first.json());
    await age('k-ttl', 25);
    const after = await append(id, body, 'k-ttl');
    expect(after.statusCode).toBe(201);
    expect(after.headers['idempotent-replayed']).toBeUndefined();
    expect(after.json()).toEqual({ first_seq: 2, last_seq: 2 });
    // The new answer is the one kept now.
    expect((await append(id, body, 'k-ttl')).json()).toEqual({ first_seq: 2, last_seq: 2 });
  });

  it("the database's clock decides the TTL, not the instance's: a retry replays on an instance whose clock runs two days ahead", async () => {
    const id = await createSession(t, `ttl-${++counter}`);
    const body = { events: [{ type: 'note', data: 1 }] };
    const first = await append(id, body, 'k-clock');
    vi.setSystemTime(Date.now() + 2 * DAY_MS);
    try {
      const retry = await append(id, body, 'k-clock');
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.json()).toEqual(first.json());
    } finally {
      vi.useRealTimers();
    }
  });

  it('a key reused with another body is refused within the TTL, and free to reuse after it', async () => {
    const id = await createSession(t, `ttl-${++counter}`);
    await append(id, { events: [{ type: 'note', data: 1 }] }, 'k-reuse');
    expectProblem(await append(id, { events: [{ type: 'note', data: 2 }] }, 'k-reuse'), 422, 'idempotency_key_reused');
    await age('k-reuse', 25);
    expect((await append(id, { events: [{ type: 'note', data: 2 }] }, 'k-reuse')).statusCode).toBe(201);
  });

  it('the sweep deletes the answers older than the TTL, and only those', async () => {
    const id = await createSession(t, `ttl-${++counter}`);
    await append(id, { events: [{ type: 'note', data: 1 }] }, 'k-old');
    await append(id, { events: [{ type: 'note', data: 2 }] }, 'k-young');
    await age('k-old', 25);
    await age('k-young', 23);
    expect(await deleteExpiredKeys(t.database.db, DAY_MS)).toBe(1);
    const left = await t.database.db<{ key: string }[]>`select key from idempotency_keys where key like 'k-%' order by key`;
    expect(left.map((row) => row.key)).not.toContain('k-old');
    expect(left.map((row) => row.key)).toContain('k-young');
    expect(await deleteExpiredKeys(t.database.db, DAY_MS)).toBe(0);
  });
});

describe('what an Idempotency-Key is tied to', () => {
  it('the request path: one key on two claims of a session is refused for the second, not answered with the first', async () => {
    const id = await createSession(t, `ttl-${++counter}`);
    for (const item of ['a', 'b']) await call(t.app, 'POST', `/v1/sessions/${id}/queue`, { items: [item] });
    const claims = [];
    for (let i = 0; i < 2; i++) claims.push((await call(t.app, 'POST', `/v1/sessions/${id}/queue/claim`, { max_batches: 1, ttl_ms: 60_000 })).json());
    const complete = (claimId: string) =>
      call(t.app, 'POST', `/v1/sessions/${id}/queue/claims/${claimId}/complete`, {}, { 'idempotency-key': 'k-path' });
    expect((await complete(claims[0].claim_id)).statusCode).toBe(200);
    expectProblem(await complete(claims[1].claim_id), 422, 'idempotency_key_reused');
  });

  it('a request without a body (a lease release) replays under its key', async () => {
    const id = await createSession(t, `ttl-${++counter}`);
    const lease = (await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w', ttl_ms: 60_000 })).json();
    const release = () =>
      t.app.inject({ method: 'DELETE', url: `/v1/sessions/${id}/lease`, headers: { 'lease-token': lease.token, 'idempotency-key': 'k-release' } });
    expect((await release()).statusCode).toBe(204);
    const retry = await release();
    expect(retry.statusCode).toBe(204);
    expect(retry.headers['idempotent-replayed']).toBe('true');
  });
});
