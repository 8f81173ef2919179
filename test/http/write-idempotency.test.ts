import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { metric } from '../helpers/metrics.js';

// The write path's Idempotency-Key rules (src/writes/session-write.ts), from a retrying worker's side: a retry is
// answered with what its first attempt did, whatever happened to the session's lease since; a key never outlives
// the session it made.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** A session created with an Idempotency-Key, then deleted: `create` sends that same create again. */
async function createdThenDeleted(id: string, key: string) {
  const create = () => call(t.app, 'POST', '/v1/sessions', { id }, { 'idempotency-key': key });
  const first = await create();
  expect(first.statusCode).toBe(201);
  expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`)).statusCode).toBeLessThan(300);
  return { create, first };
}

/**
 * Sends two creates while the test holds their parent's row: the first to insert waits on it (its foreign-key
 * check), the other on that uncommitted insert or key. Both have found no stored answer before either commits.
 * Answers both, once the hold is let go.
 */
async function racedOnParent(parent: string, send: () => ReturnType<typeof call>[]) {
  let attempts: ReturnType<typeof call>[] = [];
  await t.database.db.begin(async (tx) => {
    await tx`select 1 from sessions where id = ${parent} for update`;
    attempts = send();
    await expect
      .poll(async () => (await t.database.db`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)[0]?.n, { timeout: 20_000 })
      .toBe(attempts.length);
  });
  const responses = await Promise.all(attempts);
  expect(responses.map((r) => `${r.statusCode} ${r.statusCode === 201 ? '' : r.body}`)).toEqual(['201 ', '201 ']);
  expect(responses[1]!.json()).toEqual(responses[0]!.json());
  expect(responses.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(1);
  return responses;
}

describe('a retried write', () => {
  it('that committed under a lease since ended is replayed, not refused for the lease', async () => {
    const id = 'widem-lease';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const claimed = await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w', ttl_ms: 600_000 });
    expect(claimed.statusCode).toBe(201);
    const token = claimed.json().token as string;
    const write = () => call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'step', data: 1 }] }, { 'lease-token': token, 'idempotency-key': 'step-1' });
    const first = await write();
    expect(first.statusCode, first.body).toBe(201);
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, { 'lease-token': token })).statusCode).toBeLessThan(300);
    // The worker never saw its answer (a timeout) and sends the same request again, with its old token.
    const retried = await write();
    expect(retried.statusCode, retried.body).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.json()).toEqual(first.json());
    // A new write with that token is refused: the lease is over.
    expectProblem(
      await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'step', data: 2 }] }, { 'lease-token': token, 'idempotency-key': 'step-2' }),
      409,
      'lease_lost',
    );
    const history = (await call(t.app, 'GET', `/v1/sessions/${id}/events?type=step`)).json();
    expect(history.events.map((event: { data: unknown }) => event.data)).toEqual([1]);
  });

  it('a retried lease claim is answered by the write\'s replay hook: a token the worker can write with, not the stored answer', async () => {
    const id = 'widem-claim';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const claim = () => call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w', ttl_ms: 600_000 }, { 'idempotency-key': 'claim-once' });
    expect((await claim()).statusCode).toBe(201);
    const again = await claim();
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const token = again.json().token;
    expect(typeof token).toBe('string');
    const write = await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'step', data: 1 }] }, { 'lease-token': token });
    expect(write.statusCode, write.body).toBe(201);
  });

  it('a retried lease claim takes the token away from the first answer, and once that lease has ended (another worker holds the next) is 409 lease_lost', async () => {
    const id = 'widem-claim-rotated';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const claim = () => call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w', ttl_ms: 600_000 }, { 'idempotency-key': 'claim-rotated' });
    const step = (token: string, data: number) => call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'step', data }] }, { 'lease-token': token });
    const first = await claim();
    expect(first.statusCode).toBe(201);
    const again = await claim();
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toMatchObject({ fencing_token: first.json().fencing_token, expires_at: first.json().expires_at });
    // The first token stops working; the replayed one writes.
    expectProblem(await step(first.json().token, 1), 409, 'lease_lost');
    expect((await step(again.json().token, 2)).statusCode).toBe(201);
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, { 'lease-token': again.json().token })).statusCode).toBeLessThan(300);
    // The lease is over and another worker holds the next one: the old claim's key gets no token to it.
    const other = await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'other', ttl_ms: 600_000 });
    expect(other.statusCode).toBe(201);
    expectProblem(await claim(), 409, 'lease_lost');
    expect((await step(other.json().token, 3)).statusCode).toBe(201);
    const history = (await call(t.app, 'GET', `/v1/sessions/${id}/events?type=step`)).json();
    expect(history.events.map((event: { data: unknown }) => event.data)).toEqual([2, 3]);
  });

  it('a create retried after its session was deleted and made again by someone else is 409 session_exists, not the old 201', async () => {
    const id = 'widem-create';
    const { create, first } = await createdThenDeleted(id, 'make-it');
    const other = await call(t.app, 'POST', '/v1/sessions', { id });
    expect(other.statusCode).toBe(201);
    expect(other.json().created_at).not.toBe(first.json().created_at);
    expectProblem(await create(), 409, 'session_exists');
    // The session there is the other one, untouched.
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).json().created_at).toBe(other.json().created_at);
  });

  it('a create retried after its session was deleted makes it afresh', async () => {
    const id = 'widem-again';
    const { create } = await createdThenDeleted(id, 'make-again');
    const again = await create();
    expect(again.statusCode, again.body).toBe(201);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).json().created_at).toBe(again.json().created_at);
  });
});

describe('a write with an Idempotency-Key to a session locked elsewhere', () => {
  it('waits past the group\'s lock wait, alone, and is answered (the server keeps serving); its key then replays it', async () => {
    const id = 'widem-locked';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const write = () => call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'step', data: 1 }] }, { 'idempotency-key': 'locked-once' });
    const reruns = () => metric(t.app, 'session_sync_write_transactions_total{outcome="rerun"}', 0);
    const rerunsBefore = await reruns();
    let first!: ReturnType<typeof call>;
    // Someone else (a long transaction, another instance) holds the session's row. The write's transaction gives
    // up its lock wait (the group's bound, 100 ms) and the write runs again alone, waiting as long as it takes.
    await t.database.db.begin(async (tx) => {
      await tx`select 1 from sessions where id = ${id} for update`;
      first = write();
      await expect.poll(reruns, { timeout: 20_000 }).toBe(rerunsBefore + 1);
      // Still served meanwhile.
      expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).statusCode).toBe(200);
    });
    const answered = await first;
    expect(answered.statusCode, answered.body).toBe(201);
    const again = await write();
    expect(again.statusCode, again.body).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(answered.json());
    const history = (await call(t.app, 'GET', `/v1/sessions/${id}/events?type=step`)).json();
    expect(history.events.map((event: { data: unknown }) => event.data)).toEqual([1]);
  });
});

describe('a create and its retry in flight together', () => {
  it('on two instances: the retry waits on the first attempt\'s insert, then replays its 201', async () => {
    // One instance orders the writes to an id (session-queue.ts); only another instance can race the first attempt in the database.
    const other = await createTestApp({ databaseUrl: t.url });
    try {
      expect((await call(t.app, 'POST', '/v1/sessions', { id: 'widem-parent' })).statusCode).toBe(201);
      const body = { id: 'widem-raced', parent_id: 'widem-parent' };
      const key = { 'idempotency-key': 'raced-once' };
      await racedOnParent('widem-parent', () => [call(t.app, 'POST', '/v1/sessions', body, key), call(other.app, 'POST', '/v1/sessions', body, key)]);
    } finally {
      await other.close();
    }
  });

  it('on one instance, the server picking the id: the retry loses the race on the key, then replays the first attempt\'s 201', async () => {
    // Each attempt gets an id of its own, so nothing orders them in the process; both insert, the second waits on the
    // first's uncommitted key and finds it taken once that commits.
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'widem-gen-parent' })).statusCode).toBe(201);
    const body = { parent_id: 'widem-gen-parent' };
    const key = { 'idempotency-key': 'raced-generated' };
    await racedOnParent('widem-gen-parent', () => [call(t.app, 'POST', '/v1/sessions', body, key), call(t.app, 'POST', '/v1/sessions', body, key)]);
    const children = (await call(t.app, 'GET', '/v1/sessions?parent_id=widem-gen-parent')).json().sessions;
    expect(children).toHaveLength(1);
  });
});
