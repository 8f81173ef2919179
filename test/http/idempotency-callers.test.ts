import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

// Issue 12, defects 2 and 11: an Idempotency-Key belongs to its caller, never
// stores a secret, does not depend on JSON key order, and never replays a
// create whose session is gone.
const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const CLAIM = { owner: 'worker', ttl_ms: 600_000 };

/** Every stored answer, as text: no lease token may ever be among them. */
async function storedAnswers(t: TestApp): Promise<string> {
  const rows = await t.database.db`select scope, response::text as response from idempotency_keys`;
  return rows.map((row) => `${row.scope} ${row.response}`).join('\n');
}

describe('with authentication on', () => {
  let t: TestApp;
  let workerA: string;
  let workerB: string;
  let admin: string;

  beforeAll(async () => {
    t = await createTestApp({ env: { AUTH_SECRET: SECRET } });
    admin = await mintToken(SECRET, { sub: 'ops', sessions: [], admin: true, ttlSeconds: 3600 });
    workerA = await mintToken(SECRET, { sub: 'worker-a', sessions: ['team-a:*'], read: true, write: true, ttlSeconds: 3600 });
    workerB = await mintToken(SECRET, { sub: 'worker-b', sessions: ['team-a:*'], read: true, write: true, ttlSeconds: 3600 });
    for (const id of ['team-a:lease', 'team-a:anon']) {
      expect((await call(t.app, 'POST', '/v1/sessions', { id }, bearer(admin))).statusCode).toBe(201);
    }
  });
  afterAll(() => t.close());

  it("another caller sending the same key and body runs its own claim and never gets A's token", async () => {
    const key = { 'idempotency-key': 'claim-1' };
    const a = await call(t.app, 'POST', '/v1/sessions/team-a:lease/lease', CLAIM, { ...bearer(workerA), ...key });
    expect(a.statusCode).toBe(201);
    const tokenA: string = a.json().token;

    const b = await call(t.app, 'POST', '/v1/sessions/team-a:lease/lease', CLAIM, { ...bearer(workerB), ...key });
    expectProblem(b, 409, 'lease_held');
    expect(b.body).not.toContain(tokenA);
    expect(b.headers['idempotent-replayed']).toBeUndefined();

    // B cannot write through the fence; A still can.
    const write = { base_version: 0, schema_version: 1, snapshot: { by: 'a' } };
    expectProblem(await call(t.app, 'PUT', '/v1/sessions/team-a:lease/state', write, bearer(workerB)), 409, 'lease_held');
    const put = await call(t.app, 'PUT', '/v1/sessions/team-a:lease/state', write, { ...bearer(workerA), 'lease-token': tokenA });
    expect(put.statusCode).toBe(200);
    expect(await storedAnswers(t)).not.toContain(tokenA);
  });

  it('a token without a subject is a caller of its own', async () => {
    const grants = { sessions: ['team-a:*'], read: true, write: true };
    const first = await mintToken(SECRET, { ...grants, ttlSeconds: 3600 });
    const second = await mintToken(SECRET, { ...grants, ttlSeconds: 3601 });
    expect(second).not.toBe(first);
    const key = { 'idempotency-key': 'anon-claim' };
    expect((await call(t.app, 'POST', '/v1/sessions/team-a:anon/lease', CLAIM, { ...bearer(first), ...key })).statusCode).toBe(201);
    expectProblem(await call(t.app, 'POST', '/v1/sessions/team-a:anon/lease', CLAIM, { ...bearer(second), ...key }), 409, 'lease_held');
  });
});

describe('with authentication off', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const claim = (id: string, key: string) => call(t.app, 'POST', `/v1/sessions/${id}/lease`, CLAIM, { 'idempotency-key': key });
  const put = (id: string, token: string, base: number) =>
    call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: base, schema_version: 1, snapshot: { base } }, { 'lease-token': token });

  it('a replayed claim never carries the stored token: it gets a fresh one and the first stops working', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'open-lease' });
    const first = await claim('open-lease', 'claim-1');
    expect(first.statusCode).toBe(201);
    const tokenA: string = first.json().token;
    expect(await storedAnswers(t)).not.toContain(tokenA);

    const again = await claim('open-lease', 'claim-1');
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const tokenB: string = again.json().token;
    expect(tokenB).not.toBe(tokenA);
    expect(again.json()).toMatchObject({ owner: 'worker', fencing_token: first.json().fencing_token, expires_at: first.json().expires_at });
    expect(await storedAnswers(t)).not.toContain(tokenB);

    // One token passes the fence at a time: the newest.
    expectProblem(await put('open-lease', tokenA, 0), 409, 'lease_lost');
    expect((await put('open-lease', tokenB, 0)).statusCode).toBe(200);
  });

  it('replaying a claim whose lease has ended is lease_lost, not a token', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'ended-lease' });
    const first = await claim('ended-lease', 'claim-2');
    const release = await call(t.app, 'DELETE', '/v1/sessions/ended-lease/lease', undefined, { 'lease-token': first.json().token });
    expect(release.statusCode).toBe(204);
    const problem = expectProblem(await claim('ended-lease', 'claim-2'), 409, 'lease_lost');
    expect(problem.detail).toMatch(/claim again with a new key/);
  });

  it("a write under another lease token does not replay the previous holder's answer", async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'two-holders' });
    await call(t.app, 'PUT', '/v1/sessions/two-holders/state', { base_version: 0, schema_version: 1, snapshot: {} });
    const delta = { base_version: 1, merge_patch: { step: 1 } };
    const key = { 'idempotency-key': 'step-1' };
    const tokenA: string = (await claim('two-holders', 'a')).json().token;
    const written = await call(t.app, 'POST', '/v1/sessions/two-holders/deltas', delta, { ...key, 'lease-token': tokenA });
    expect(written.statusCode).toBe(200);
    await call(t.app, 'DELETE', '/v1/sessions/two-holders/lease', undefined, { 'lease-token': tokenA });
    const tokenB: string = (await claim('two-holders', 'b')).json().token;
    // B's write never happened: it must not be told it did.
    const b = await call(t.app, 'POST', '/v1/sessions/two-holders/deltas', delta, { ...key, 'lease-token': tokenB });
    expectProblem(b, 409, 'version_conflict');
    // A retrying with its own token still gets its answer.
    const retry = await call(t.app, 'POST', '/v1/sessions/two-holders/deltas', delta, { ...key, 'lease-token': tokenA });
    expect(retry.statusCode).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
  });

  it('the request hash does not depend on the order of JSON keys', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'reordered' });
    await call(t.app, 'PUT', '/v1/sessions/reordered/state', { base_version: 0, schema_version: 1, snapshot: {} });
    const key = { 'idempotency-key': 'reorder-1' };
    const url = '/v1/sessions/reordered/deltas';
    const send = (text: string) =>
      t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...key }, payload: text });
    const first = await send('{"base_version":1,"merge_patch":{"a":1,"b":{"x":1,"y":2}}}');
    expect(first.statusCode).toBe(200);
    const retry = await send('{"merge_patch":{"b":{"y":2,"x":1},"a":1},"base_version":1}');
    expect(retry.statusCode).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json()).toEqual(first.json());
    // Still a different request when a value differs.
    expectProblem(await send('{"merge_patch":{"b":{"y":3,"x":1},"a":1},"base_version":1}'), 422, 'idempotency_key_reused');
  });

  it('create, delete, create again with one key: the second create runs, it does not replay a 201 for a gone session', async () => {
    const key = { 'idempotency-key': 'make-it' };
    const first = await call(t.app, 'POST', '/v1/sessions', { id: 'phoenix' }, key);
    expect(first.statusCode).toBe(201);
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'phoenix' }, key)).headers['idempotent-replayed']).toBe('true');
    expect((await call(t.app, 'DELETE', '/v1/sessions/phoenix')).statusCode).toBe(204);

    const second = await call(t.app, 'POST', '/v1/sessions', { id: 'phoenix' }, key);
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect((await call(t.app, 'GET', '/v1/sessions/phoenix')).json().created_at).toBe(second.json().created_at);
    // And that create is now the key's answer.
    const third = await call(t.app, 'POST', '/v1/sessions', { id: 'phoenix' }, key);
    expect(third.headers['idempotent-replayed']).toBe('true');
    expect(third.json()).toEqual(second.json());
  });

  it('a key retried after its session was deleted and the id created again by another request is session_exists, not a replay', async () => {
    const key = { 'idempotency-key': 'make-taken' };
    const first = await call(t.app, 'POST', '/v1/sessions', { id: 'taken', metadata: { by: 'first' } }, key);
    expect(first.statusCode).toBe(201);
    expect((await call(t.app, 'DELETE', '/v1/sessions/taken')).statusCode).toBe(204);
    // The two lives are told apart by created_at, at millisecond precision.
    const created = first.json().created_at as string;
    await expect
      .poll(async () => (await t.database.db`select date_trunc('milliseconds', now()) > ${created}::timestamptz as later`)[0]?.later)
      .toBe(true);
    const other = await call(t.app, 'POST', '/v1/sessions', { id: 'taken', metadata: { by: 'other' } });
    expect(other.statusCode).toBe(201);

    const retry = await call(t.app, 'POST', '/v1/sessions', { id: 'taken', metadata: { by: 'first' } }, key);
    expectProblem(retry, 409, 'session_exists');
    expect((await call(t.app, 'GET', '/v1/sessions/taken')).json()).toEqual(other.json());
  });

  it('the same holds for a create that let the server pick the id', async () => {
    const key = { 'idempotency-key': 'make-any' };
    const first = await call(t.app, 'POST', '/v1/sessions', {}, key);
    expect(first.statusCode).toBe(201);
    expect((await call(t.app, 'DELETE', `/v1/sessions/${first.json().id}`)).statusCode).toBe(204);
    const second = await call(t.app, 'POST', '/v1/sessions', {}, key);
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect(second.json().id).not.toBe(first.json().id);
    expect((await call(t.app, 'GET', `/v1/sessions/${second.json().id}`)).statusCode).toBe(200);
  });
});
