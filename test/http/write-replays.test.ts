import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

// What a retry with an Idempotency-Key is answered (docs/API.md, Conventions), from the client's side: the original
// status and body, with `Idempotent-Replayed: true`, for as long as the answer holds; never an answer from a
// session's earlier life, never a refusal turned into a success. And what the write path answers for a session that
// is gone though its row is still there (an expired Durable Stream). The background sweeps are off (a day apart), so
// what happens to an expired stream here is the write's doing.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000' } });
  await t.listen();
});
afterAll(() => t.close());

const events = (id: string, data: unknown, key: string) =>
  call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'step', data }] }, { 'idempotency-key': key });

describe('a retried write', () => {
  it('a DELETE whose first attempt committed is replayed as its 204, not 404 for the session it removed', async () => {
    const id = 'wrep-delete';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const remove = () => call(t.app, 'DELETE', `/v1/sessions/${id}`, undefined, { 'idempotency-key': 'remove-once' });
    const first = await remove();
    expect(first.statusCode).toBe(204);
    const retried = await remove();
    expect(retried.statusCode, retried.body).toBe(204);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    // Without the key, the session is gone.
    expectProblem(await call(t.app, 'DELETE', `/v1/sessions/${id}`), 404, 'session_not_found');
  });

  it('a key a session used before it was deleted and created again runs afresh in the new session', async () => {
    const id = 'wrep-reborn';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const old = await events(id, 'old life', 'step-1');
    expect(old.statusCode).toBe(201);
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`)).statusCode).toBe(204);
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const fresh = await events(id, 'old life', 'step-1');
    expect(fresh.statusCode, fresh.body).toBe(201);
    expect(fresh.headers['idempotent-replayed']).toBeUndefined();
    const history = (await call(t.app, 'GET', `/v1/sessions/${id}/events?type=step`)).json();
    expect(history.events.map((event: { seq: number; data: unknown }) => [event.seq, event.data])).toEqual([[fresh.json().first_seq, 'old life']]);
    // In the new life the key now holds the new answer.
    const again = await events(id, 'old life', 'step-1');
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(fresh.json());
  });

  it('a create that let the server pick the id is replayed: the same session, not a second one', async () => {
    const create = () => call(t.app, 'POST', '/v1/sessions', { metadata: { who: 'wrep-generated' } }, { 'idempotency-key': 'wrep-make-one' });
    const first = await create();
    expect(first.statusCode).toBe(201);
    const retried = await create();
    expect(retried.statusCode, retried.body).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.json().id).toBe(first.json().id);
    const listed = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions.filter((s: { metadata: { who?: string } }) => s.metadata.who === 'wrep-generated');
    expect(listed).toHaveLength(1);
  });

  /** A new session `id` with one batch queued and claimed for 60 s: the claim's id. */
  async function claimedBatch(id: string): Promise<string> {
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/queue`, { items: ['next'] })).statusCode).toBe(201);
    const claimed = await call(t.app, 'POST', `/v1/sessions/${id}/queue/claim`, { max_batches: 1, ttl_ms: 60_000 });
    expect(claimed.statusCode).toBe(200);
    return claimed.json().claim_id as string;
  }

  it('a refusal decided after the work committed (a claim no longer active) is refused again, not replayed as a success', async () => {
    const id = 'wrep-claim';
    const claimId = await claimedBatch(id);
    const complete = (key: string) => call(t.app, 'POST', `/v1/sessions/${id}/queue/claims/${claimId}/complete`, undefined, { 'idempotency-key': key });
    expect((await complete('complete-1')).statusCode).toBe(200);
    expectProblem(await complete('complete-2'), 409, 'claim_expired');
    const retried = expectProblem(await complete('complete-2'), 409, 'claim_expired');
    expect(retried).toMatchObject({ code: 'claim_expired' });
  });

  it('a refusal decided after the work committed keeps what the work did: an expired claim\'s batch is pending again', async () => {
    const id = 'wrep-claim-expired';
    const claimId = await claimedBatch(id);
    // As if the claim's 60 s had run out.
    await t.database.db`update queue_claims set expires_at = now() - interval '1 second' where claim_id = ${claimId}`;
    const complete = () => call(t.app, 'POST', `/v1/sessions/${id}/queue/claims/${claimId}/complete`, undefined, { 'idempotency-key': 'late' });
    expectProblem(await complete(), 409, 'claim_expired');
    // The refusal stands, and so does what the write found and did: the batch is pending again, said by queue.expired.
    expect((await call(t.app, 'GET', `/v1/sessions/${id}/queue?status=pending`)).json().batches).toHaveLength(1);
    const types = (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events.map((e: { type: string }) => e.type);
    expect(types.filter((type: string) => type === 'queue.expired')).toHaveLength(1);
    expectProblem(await complete(), 409, 'claim_expired');
    expect(await call(t.app, 'POST', `/v1/sessions/${id}/queue/claim`, { max_batches: 1, ttl_ms: 60_000 }).then((r) => r.statusCode)).toBe(200);
  });

  it('a delta whose first attempt committed is replayed, never a version_conflict; the key with another delta is 422 and changes nothing', async () => {
    const id = 'wrep-delta';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 0 } })).statusCode).toBe(200);
    const delta = (body: object) => call(t.app, 'POST', `/v1/sessions/${id}/deltas`, body, { 'idempotency-key': 'delta-1' });
    const first = await delta({ base_version: 1, patch: [{ op: 'replace', path: '/n', value: 1 }] });
    expect(first.statusCode, first.body).toBe(200);
    // The same request, its body's keys in another order.
    const retried = await delta({ patch: [{ value: 1, path: '/n', op: 'replace' }], base_version: 1 });
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.json()).toEqual(first.json());
    expectProblem(await delta({ base_version: 2, patch: [{ op: 'replace', path: '/n', value: 2 }] }), 422, 'idempotency_key_reused');
    expect((await call(t.app, 'GET', `/v1/sessions/${id}/state`)).json()).toMatchObject({ version: 2, snapshot: { n: 1 } });
  });

  it('a new lease holder sending the key and body a released lease wrote with runs its own write, not a replay of the old holder\'s', async () => {
    const id = 'wrep-lease-handover';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const claim = async (owner: string) => {
      const claimed = await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner, ttl_ms: 60_000 });
      expect(claimed.statusCode, claimed.body).toBe(201);
      return claimed.json().token as string;
    };
    // Two workers derive the key alike from their input: the same key, the same body, each under its own lease.
    const append = (token: string) =>
      call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'step', data: 'batch-7' }] }, { 'idempotency-key': 'batch-7-step', 'lease-token': token });
    const tokenA = await claim('worker-a');
    const first = await append(tokenA);
    expect(first.statusCode, first.body).toBe(201);
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, { 'lease-token': tokenA })).statusCode).toBe(204);
    const tokenB = await claim('worker-b');
    const second = await append(tokenB);
    expect(second.statusCode, second.body).toBe(201);
    expect(second.headers['idempotent-replayed'], 'worker B was answered with worker A\'s write').toBeUndefined();
    expect(second.json().first_seq).toBeGreaterThan(first.json().first_seq);
    const history = (await call(t.app, 'GET', `/v1/sessions/${id}/events?type=step`)).json();
    expect(history.events.map((event: { seq: number }) => event.seq)).toEqual([first.json().first_seq, second.json().first_seq]);
    // Under B's lease the key now holds B's answer.
    const retried = await append(tokenB);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.json()).toEqual(second.json());
  });
});

describe('a write to an expired Durable Stream', () => {
  it('is 404 session_not_found, nothing is stored, and the id is free again', async () => {
    const id = 'wrep-expired';
    const made = await t.app.inject({
      method: 'PUT',
      url: `/v1/stream/${id}`,
      headers: { 'content-type': 'text/plain', 'stream-expires-at': '2001-01-01T00:00:00Z' },
    });
    expect(made.statusCode, made.body).toBe(201);
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'step', data: 1 }] }), 404, 'session_not_found');
    expectProblem(await call(t.app, 'PATCH', `/v1/sessions/${id}`, { metadata: { a: 1 } }), 404, 'session_not_found');
    const created = await call(t.app, 'POST', '/v1/sessions', { id });
    expect(created.statusCode, created.body).toBe(201);
    expect((await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events).toEqual([]);
  });

  it('a write retried with its Idempotency-Key after the stream expired is 404 too, not its first attempt\'s answer', async () => {
    const id = 'wrep-expired-retry';
    const made = await t.app.inject({ method: 'PUT', url: `/v1/stream/${id}`, headers: { 'content-type': 'text/plain', 'stream-ttl': '60' }, payload: 'x' });
    expect(made.statusCode, made.body).toBe(201);
    const first = await events(id, 1, 'before-expiry');
    expect(first.statusCode, first.body).toBe(201);
    // As if 61 s had passed since (Postgres's clock judges the stream's 60 s window).
    await t.database.db`
      update sessions set updated_at = updated_at - interval '61 seconds', read_at = read_at - interval '61 seconds',
        expiry_check_at = expiry_check_at - interval '61 seconds'
      where id = ${id}`;
    // The worker never saw its answer and retries: the stream is gone, to this write as to every other.
    const retried = await events(id, 1, 'before-expiry');
    expectProblem(retried, 404, 'session_not_found');
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    const created = await call(t.app, 'POST', '/v1/sessions', { id });
    expect(created.statusCode, created.body).toBe(201);
  });

  it('the write that finds it expired deletes it: its open readers are told session.deleted {reason: "expired"} and end', async () => {
    const id = 'wrep-expired-read';
    const made = await t.app.inject({ method: 'PUT', url: `/v1/stream/${id}`, headers: { 'content-type': 'text/plain', 'stream-ttl': '60' }, payload: 'x' });
    expect(made.statusCode, made.body).toBe(201);
    const reader = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream`);
    try {
      await reader.waitFor(() => reader.messages.some((m) => m.event === 'session.activity'), 'the reader to catch up');
      // As if 61 s had passed with no write or read: Postgres's clock judges the stream's 60 s window.
      await t.database.db`
        update sessions set updated_at = updated_at - interval '61 seconds', read_at = read_at - interval '61 seconds',
          expiry_check_at = expiry_check_at - interval '61 seconds'
        where id = ${id}`;
      expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'step', data: 1 }] }), 404, 'session_not_found');
      await reader.waitForEnd();
      expect(reader.messages.filter((m) => m.event === 'session.deleted').map((m) => m.json)).toEqual([{ session_id: id, reason: 'expired' }]);
      expect(reader.durable.map((m) => m.event)).not.toContain('step');
    } finally {
      await reader.close();
    }
  });
});
