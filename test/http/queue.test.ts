import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectIso, expectProblem, type TestApp } from '../helpers/app.js';
import { until } from '../helpers/waits.js';
import { metric } from '../helpers/metrics.js';
import { exportFile, exportLines, type ExportLine } from '../helpers/export-file.js';
import { uuidv7 } from 'uuidv7';

let t: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** Long enough that no claim or lease of a test runs out while the test runs, unless it means to. */
const LONG_TTL = 600_000;
/** How long a test waits for the sweeper (every 500 ms) to settle something that ran out. */
const POLL = { timeout: 15_000, interval: 100 };

async function newSession(): Promise<string> {
  return createSession(t, `queue-${++counter}`);
}

const enqueue = (id: string, items: unknown, headers?: Record<string, string>) =>
  call(t.app, 'POST', `/v1/sessions/${id}/queue`, { items }, headers);

/** Enqueues one batch per entry of `itemLists` (sequentially: enqueue order matters) and returns their ids. */
async function enqueueAll(id: string, itemLists: unknown[][]): Promise<string[]> {
  const ids: string[] = [];
  for (const items of itemLists) {
    const res = await enqueue(id, items);
    expect(res.statusCode).toBe(201);
    ids.push(res.json().batch_id);
  }
  return ids;
}

const claim = (id: string, body: unknown, headers?: Record<string, string>) =>
  call(t.app, 'POST', `/v1/sessions/${id}/queue/claim`, body, headers);

const act = (
  id: string,
  claimId: string,
  action: 'complete' | 'renew' | 'abandon',
  body?: unknown,
  headers?: Record<string, string>,
) => call(t.app, 'POST', `/v1/sessions/${id}/queue/claims/${claimId}/${action}`, body, headers);

const cancel = (id: string, batchId: string) => call(t.app, 'DELETE', `/v1/sessions/${id}/queue/${batchId}`);

async function list(id: string, query = ''): Promise<{ batches: any[]; next_cursor: string | null }> {
  const res = await call(t.app, 'GET', `/v1/sessions/${id}/queue${query}`);
  expect(res.statusCode).toBe(200);
  return res.json();
}

const batchIdsWith = async (id: string, status: string): Promise<string[]> =>
  (await list(id, `?status=${status}`)).batches.map((b) => b.batch_id);

async function events(id: string): Promise<any[]> {
  const res = await call(t.app, 'GET', `/v1/sessions/${id}/events?limit=1000`);
  expect(res.statusCode).toBe(200);
  return res.json().events;
}

const queueEvents = async (id: string) => (await events(id)).filter((e) => String(e.type).startsWith('queue.'));

async function lease(id: string, owner: string, ttlMs = LONG_TTL): Promise<{ token: string; fencing_token: number }> {
  const res = await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner, ttl_ms: ttlMs });
  expect(res.statusCode).toBe(201);
  return res.json();
}

const tokenHeader = (token: string) => ({ 'lease-token': token });

/** Completed runs of the claim expiry sweep so far. */
const claimSweeps = () => metric(t.app, 'session_sync_sweep_runs_total{sweep="claim_expiry",outcome="ok"}', 0);

describe('POST /v1/sessions/{id}/queue', () => {
  it('201 a pending batch with its id, items and creation time', async () => {
    const id = await newSession();
    const items = [{ text: 'hello' }, 42, 'plain', null, [1, 2]];
    const res = await enqueue(id, items);
    expect(res.statusCode).toBe(201);
    const batch = res.json();
    expect(batch).toEqual({ batch_id: expect.any(String), status: 'pending', items, created_at: expect.any(String) });
    expect(batch.batch_id.length).toBeGreaterThan(0);
    expectIso(batch.created_at);
    expect((await list(id)).batches).toEqual([batch]);
  });

  it('gives each batch its own id', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [[1], [1], [1]]);
    expect(new Set(ids).size).toBe(3);
  });

  it('400 invalid_request for empty items, non-array items, missing items and an unknown field; nothing stored', async () => {
    const id = await newSession();
    const empty = expectProblem(await enqueue(id, []), 400, 'invalid_request');
    expect(JSON.stringify(empty)).toContain('items');
    const notArray = expectProblem(await enqueue(id, { a: 1 }), 400, 'invalid_request');
    expect(JSON.stringify(notArray)).toContain('items');
    expectProblem(await enqueue(id, 'one'), 400, 'invalid_request');
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/queue`, {}), 400, 'invalid_request');
    const unknown = expectProblem(
      await call(t.app, 'POST', `/v1/sessions/${id}/queue`, { items: [1], priority: 'high' }),
      400,
      'invalid_request',
    );
    expect(JSON.stringify(unknown)).toContain('priority');
    expect((await list(id)).batches).toEqual([]);
    expect(await queueEvents(id)).toEqual([]);
  });

  it('404 session_not_found for an unknown session', async () => {
    expectProblem(await enqueue('queue-no-such-session', [1]), 404, 'session_not_found');
  });

  it('413 payload_too_large over MAX_BATCH_EVENTS items; nothing stored', async () => {
    const small = await createTestApp({ env: { MAX_BATCH_EVENTS: '3' } });
    try {
      expect((await call(small.app, 'POST', '/v1/sessions', { id: 'limited' })).statusCode).toBe(201);
      expectProblem(await call(small.app, 'POST', '/v1/sessions/limited/queue', { items: [1, 2, 3, 4] }), 413, 'payload_too_large');
      expect((await call(small.app, 'GET', '/v1/sessions/limited/queue')).json().batches).toEqual([]);
      const atLimit = await call(small.app, 'POST', '/v1/sessions/limited/queue', { items: [1, 2, 3] });
      expect(atLimit.statusCode).toBe(201);
      const stored = (await call(small.app, 'GET', '/v1/sessions/limited/queue')).json().batches;
      expect(stored.map((b: any) => b.items)).toEqual([[1, 2, 3]]);
    } finally {
      await small.close();
    }
  });

  it('413 payload_too_large over MAX_EVENT_BYTES of items; nothing stored', async () => {
    const small = await createTestApp({ env: { MAX_EVENT_BYTES: '1024' } });
    try {
      expect((await call(small.app, 'POST', '/v1/sessions', { id: 'limited' })).statusCode).toBe(201);
      expectProblem(
        await call(small.app, 'POST', '/v1/sessions/limited/queue', { items: ['x'.repeat(2000)] }),
        413,
        'payload_too_large',
      );
      expect((await call(small.app, 'GET', '/v1/sessions/limited/queue')).json().batches).toEqual([]);
      const events = (await call(small.app, 'GET', '/v1/sessions/limited/events?limit=1000')).json().events;
      expect(events.filter((e: any) => e.type === 'queue.enqueued')).toEqual([]);
      expect((await call(small.app, 'POST', '/v1/sessions/limited/queue', { items: ['x'.repeat(500)] })).statusCode).toBe(201);
    } finally {
      await small.close();
    }
  });
});

describe('POST /v1/sessions/{id}/queue/claim', () => {
  it('claims pending batches in enqueue order, max_batches at a time', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b'], ['c'], ['d'], ['e']]);

    const first = await claim(id, { max_batches: 2, ttl_ms: LONG_TTL });
    expect(first.statusCode).toBe(200);
    const body = first.json();
    expect(body.claim_id).toEqual(expect.any(String));
    expectIso(body.expires_at);
    expect(body.batches.map((b: any) => b.batch_id)).toEqual(ids.slice(0, 2));
    expect(body.batches.map((b: any) => b.items)).toEqual([['a'], ['b']]);
    for (const batch of body.batches) expect(batch.status).toBe('claimed');

    const second = (await claim(id, { max_batches: 2, ttl_ms: LONG_TTL })).json();
    expect(second.claim_id).not.toBe(body.claim_id);
    expect(second.batches.map((b: any) => b.batch_id)).toEqual(ids.slice(2, 4));

    const third = (await claim(id, { max_batches: 2, ttl_ms: LONG_TTL })).json();
    expect(third.batches.map((b: any) => b.batch_id)).toEqual(ids.slice(4));

    expect(await batchIdsWith(id, 'claimed')).toEqual(ids);
    expect(await batchIdsWith(id, 'pending')).toEqual([]);
  });

  it('204 with no body when nothing is pending', async () => {
    const id = await newSession();
    const none = await claim(id, { max_batches: 5, ttl_ms: LONG_TTL });
    expect(none.statusCode).toBe(204);
    expect(none.body).toBe('');

    await enqueueAll(id, [[1]]);
    expect((await claim(id, { max_batches: 5, ttl_ms: LONG_TTL })).statusCode).toBe(200);
    expect((await claim(id, { max_batches: 5, ttl_ms: LONG_TTL })).statusCode).toBe(204);
    expect((await queueEvents(id)).map((e) => e.type)).toEqual(['queue.enqueued', 'queue.claimed']);
  });

  it('a claim that finds nothing, and cancelling a cancelled batch, change nothing: no event, and expires_at does not move', async () => {
    // docs/API.md, Expiry: a request that changes nothing does not move expires_at (an idle worker polling the
    // queue would otherwise keep its session alive for ever).
    const id = `q-unchanged-${++counter}`;
    expect((await call(t.app, 'POST', '/v1/sessions', { id, ttl_ms: LONG_TTL })).statusCode).toBe(201);
    const [batch] = await enqueueAll(id, [[1]]);
    expect((await cancel(id, batch!)).statusCode).toBe(204);
    const session = async () => (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
    const before = await session();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await claim(id, { max_batches: 5, ttl_ms: LONG_TTL })).statusCode).toBe(204);
    expect((await cancel(id, batch!)).statusCode).toBe(204);
    const after = await session();
    expect({ last_seq: after.last_seq, updated_at: after.updated_at, expires_at: after.expires_at }).toEqual({
      last_seq: before.last_seq,
      updated_at: before.updated_at,
      expires_at: before.expires_at,
    });
    expect(after.expires_at).not.toBeNull();
  });

  it('400 invalid_request for a bad max_batches or ttl_ms; 404 for an unknown session', async () => {
    const id = await newSession();
    await enqueueAll(id, [[1]]);
    expectProblem(await claim(id, { max_batches: 0, ttl_ms: LONG_TTL }), 400, 'invalid_request');
    expectProblem(await claim(id, { max_batches: '1', ttl_ms: LONG_TTL }), 400, 'invalid_request');
    expectProblem(await claim(id, { max_batches: 1, ttl_ms: 99 }), 400, 'invalid_request');
    expectProblem(await claim(id, { max_batches: 1 }), 400, 'invalid_request');
    expectProblem(await claim(id, { max_batches: 1, ttl_ms: LONG_TTL, extra: true }), 400, 'invalid_request');
    expect(await batchIdsWith(id, 'pending')).toHaveLength(1);
    expectProblem(await claim('queue-no-such-session', { max_batches: 1, ttl_ms: LONG_TTL }), 404, 'session_not_found');
  });

  it('10 concurrent claims of one batch each over 10 pending batches claim every batch exactly once', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, Array.from({ length: 10 }, (_, i) => [i]));
    const answers = await Promise.all(Array.from({ length: 10 }, () => claim(id, { max_batches: 1, ttl_ms: LONG_TTL })));
    for (const answer of answers) expect(answer.statusCode).toBe(200);
    const claimed = answers.flatMap((a) => a.json().batches.map((b: any) => b.batch_id));
    expect(claimed).toHaveLength(10);
    expect([...claimed].sort()).toEqual([...ids].sort());
    expect(new Set(answers.map((a) => a.json().claim_id)).size).toBe(10);
    expect((await claim(id, { max_batches: 1, ttl_ms: LONG_TTL })).statusCode).toBe(204);
    expect(await batchIdsWith(id, 'claimed')).toEqual(ids);
  });

  it('a claim retried with the same Idempotency-Key replays the same claim and batches and claims nothing more', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b'], ['c']]);
    const headers = { 'idempotency-key': 'claim-once-1' };
    const first = await claim(id, { max_batches: 2, ttl_ms: LONG_TTL }, headers);
    expect(first.statusCode).toBe(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();

    const retry = await claim(id, { max_batches: 2, ttl_ms: LONG_TTL }, headers);
    expect(retry.statusCode).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json()).toEqual(first.json());
    expect(retry.json().batches.map((b: any) => b.batch_id)).toEqual(ids.slice(0, 2));

    expect(await batchIdsWith(id, 'pending')).toEqual([ids[2]]);
    expect((await queueEvents(id)).filter((e) => e.type === 'queue.claimed')).toHaveLength(1);

    expectProblem(await claim(id, { max_batches: 1, ttl_ms: LONG_TTL }, headers), 422, 'idempotency_key_reused');
  });
});

describe('claims: complete, renew, abandon', () => {
  it('complete marks the batches completed; completing again is 409 claim_expired', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b'], ['c']]);
    const { claim_id: claimId } = (await claim(id, { max_batches: 2, ttl_ms: LONG_TTL })).json();

    const done = await act(id, claimId, 'complete');
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ claim_id: claimId, status: 'completed', batch_ids: ids.slice(0, 2) });

    expect(await batchIdsWith(id, 'completed')).toEqual(ids.slice(0, 2));
    expect(await batchIdsWith(id, 'claimed')).toEqual([]);
    expect(await batchIdsWith(id, 'pending')).toEqual([ids[2]]);

    const again = expectProblem(await act(id, claimId, 'complete'), 409, 'claim_expired');
    expect(again.claim_id).toBe(claimId);
    expectProblem(await act(id, claimId, 'abandon'), 409, 'claim_expired');
    expectProblem(await act(id, claimId, 'renew', { ttl_ms: LONG_TTL }), 409, 'claim_expired');
    expect(await batchIdsWith(id, 'completed')).toEqual(ids.slice(0, 2));
    // Completed work is never handed out again.
    const next = (await claim(id, { max_batches: 10, ttl_ms: LONG_TTL })).json();
    expect(next.batches.map((b: any) => b.batch_id)).toEqual([ids[2]]);
  });

  it('abandon returns the batches to pending; they are claimed again first, in their original order', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b'], ['c'], ['d']]);
    const first = (await claim(id, { max_batches: 2, ttl_ms: LONG_TTL })).json();
    expect(first.batches.map((b: any) => b.batch_id)).toEqual(ids.slice(0, 2));

    const abandoned = await act(id, first.claim_id, 'abandon');
    expect(abandoned.statusCode).toBe(200);
    expect(abandoned.json()).toMatchObject({ claim_id: first.claim_id, status: 'abandoned', batch_ids: ids.slice(0, 2) });
    expect(await batchIdsWith(id, 'pending')).toEqual(ids);

    const again = (await claim(id, { max_batches: 3, ttl_ms: LONG_TTL })).json();
    expect(again.claim_id).not.toBe(first.claim_id);
    expect(again.batches.map((b: any) => b.batch_id)).toEqual(ids.slice(0, 3));
    expect(again.batches.map((b: any) => b.items)).toEqual([['a'], ['b'], ['c']]);
    expectProblem(await act(id, first.claim_id, 'complete'), 409, 'claim_expired');
  });

  it('renew extends expires_at; a bodyless renew works too', async () => {
    const id = await newSession();
    await enqueueAll(id, [['a']]);
    const claimed = (await claim(id, { max_batches: 1, ttl_ms: 1_000 })).json();

    const renewed = await act(id, claimed.claim_id, 'renew', { ttl_ms: LONG_TTL });
    expect(renewed.statusCode).toBe(200);
    const body = renewed.json();
    expect(body).toMatchObject({ claim_id: claimed.claim_id, status: 'active' });
    expectIso(body.expires_at);
    expect(Date.parse(body.expires_at)).toBeGreaterThan(Date.parse(claimed.expires_at));
    // The renewed expiry is about ttl_ms after the renewal, far beyond the original one.
    expect(Date.parse(body.expires_at) - Date.parse(claimed.expires_at)).toBeGreaterThan(LONG_TTL / 2);

    const bodyless = await act(id, claimed.claim_id, 'renew');
    expect(bodyless.statusCode).toBe(200);
    expect(bodyless.json()).toMatchObject({ claim_id: claimed.claim_id, status: 'active' });
    expectIso(bodyless.json().expires_at);

    // Still the holder of the batch: it completes normally.
    expect((await act(id, claimed.claim_id, 'complete')).json().status).toBe('completed');
  });

  it('a renewed claim outlives its original ttl', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a']]);
    // A minute: the renewal comes well within it, however slow the machine.
    const claimed = (await claim(id, { max_batches: 1, ttl_ms: 60_000 })).json();
    expect((await act(id, claimed.claim_id, 'renew', { ttl_ms: LONG_TTL })).statusCode).toBe(200);
    // A minute and a second pass: every expiry is decided by the database's clock, so moving the claim's
    // expiry back is that time passing. Past the original TTL, the renewed claim must still hold its batch
    // once the sweeper has run (two runs: one begun before the move may have read the rows before it).
    await t.database.db`update queue_claims set expires_at = expires_at - interval '61 seconds' where claim_id = ${claimed.claim_id}`;
    const sweeps = await claimSweeps();
    await until(async () => (await claimSweeps()) >= sweeps + 2, 'two runs of the claim expiry sweep');
    expect(await batchIdsWith(id, 'claimed')).toEqual(ids);
    expect((await act(id, claimed.claim_id, 'complete')).statusCode).toBe(200);
    expect(await batchIdsWith(id, 'completed')).toEqual(ids);
  });

  it('bodyless complete and abandon work', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b']]);
    const one = (await claim(id, { max_batches: 1, ttl_ms: LONG_TTL })).json();
    const two = (await claim(id, { max_batches: 1, ttl_ms: LONG_TTL })).json();
    const completed = await act(id, one.claim_id, 'complete');
    expect(completed.statusCode).toBe(200);
    expect(completed.json().batch_ids).toEqual([ids[0]]);
    const abandoned = await act(id, two.claim_id, 'abandon');
    expect(abandoned.statusCode).toBe(200);
    expect(abandoned.json().batch_ids).toEqual([ids[1]]);
  });

  it('404 claim_not_found for an unknown claim, and for a claim of another session', async () => {
    const id = await newSession();
    const other = await newSession();
    await enqueueAll(other, [['x']]);
    const foreign = (await claim(other, { max_batches: 1, ttl_ms: LONG_TTL })).json();
    expectProblem(await act(id, '0190aaaa-0000-7000-8000-000000000000', 'complete'), 404, 'claim_not_found');
    expectProblem(await act(id, foreign.claim_id, 'complete'), 404, 'claim_not_found');
    expect(await batchIdsWith(other, 'claimed')).toHaveLength(1);
  });

  it('an expired claim returns its work: batches pending again, queue.expired appended, completing is 409 claim_expired', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b'], ['c']]);
    const claimed = (await claim(id, { max_batches: 2, ttl_ms: 200 })).json();
    expect(claimed.batches.map((b: any) => b.batch_id)).toEqual(ids.slice(0, 2));

    // Nobody touches the session: the expiry sweeper alone must return the work.
    await expect.poll(() => batchIdsWith(id, 'pending'), POLL).toEqual(ids);
    await expect
      .poll(async () => (await queueEvents(id)).filter((e) => e.type === 'queue.expired').map((e) => e.data.claim_id), POLL)
      .toEqual([claimed.claim_id]);

    const late = expectProblem(await act(id, claimed.claim_id, 'complete'), 409, 'claim_expired');
    expect(late.claim_id).toBe(claimed.claim_id);
    expect(await batchIdsWith(id, 'completed')).toEqual([]);
    expectProblem(await act(id, claimed.claim_id, 'renew', { ttl_ms: LONG_TTL }), 409, 'claim_expired');
    expectProblem(await act(id, claimed.claim_id, 'abandon'), 409, 'claim_expired');
    expect(await batchIdsWith(id, 'pending')).toEqual(ids);

    // The returned work is claimed again first, in its original order.
    const again = (await claim(id, { max_batches: 2, ttl_ms: LONG_TTL })).json();
    expect(again.batches.map((b: any) => b.batch_id)).toEqual(ids.slice(0, 2));
    // Only one queue.expired for the claim, however often it was looked at.
    expect((await queueEvents(id)).filter((e) => e.type === 'queue.expired')).toHaveLength(1);
  });

  it('queue.expired names the claim and the batches it returned to the queue', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b'], ['c']]);
    const claimed = (await claim(id, { max_batches: 2, ttl_ms: 200 })).json();
    await expect.poll(() => batchIdsWith(id, 'pending'), POLL).toEqual(ids);
    const expired = (await queueEvents(id)).filter((e) => e.type === 'queue.expired');
    expect(expired.map((e) => e.data)).toEqual([{ claim_id: claimed.claim_id, batch_ids: ids.slice(0, 2) }]);
  });
  it('a claim that ran out before any sweep looked is settled by the next claim: its batches first, in enqueue order, after queue.expired', async () => {
    // The claim expiry sweep runs every 500 ms and takes no setting, so this app runs none: only the claim can settle.
    const quiet = await createTestApp({ sweeps: false });
    const claimOn = async (id: string, maxBatches: number, status = 200) => {
      const res = await call(quiet.app, 'POST', `/v1/sessions/${id}/queue/claim`, { max_batches: maxBatches, ttl_ms: LONG_TTL });
      expect(res.statusCode, res.body).toBe(status);
      return res.statusCode === 200 ? res.json() : undefined;
    };
    const enqueueOn = async (id: string, items: unknown[]): Promise<string> =>
      (await call(quiet.app, 'POST', `/v1/sessions/${id}/queue`, { items })).json().batch_id;
    // Expiry is judged by the database's clock: moving the claim's expiry back is its TTL passing.
    const runOut = (claimId: string) => quiet.database.db`update queue_claims set expires_at = now() - interval '1 second' where claim_id = ${claimId}`;
    const queueEventsOn = async (id: string) =>
      (await call(quiet.app, 'GET', `/v1/sessions/${id}/events?limit=1000`)).json().events.filter((e: any) => String(e.type).startsWith('queue.'));
    try {
      // A batch enqueued after the claim waits behind the claim's batches, which come back in their order.
      await createSession(quiet, 'settled-by-claim');
      const [a, b] = [await enqueueOn('settled-by-claim', ['a']), await enqueueOn('settled-by-claim', ['b'])];
      const dead = await claimOn('settled-by-claim', 2);
      const later = await enqueueOn('settled-by-claim', ['later']);
      await runOut(dead.claim_id);
      const next = await claimOn('settled-by-claim', 2);
      expect(next.batches.map((batch: any) => batch.batch_id)).toEqual([a, b]);
      const events = await queueEventsOn('settled-by-claim');
      expect(events.map((e: any) => e.type)).toEqual(['queue.enqueued', 'queue.enqueued', 'queue.claimed', 'queue.enqueued', 'queue.expired', 'queue.claimed']);
      expect(events.slice(-2).map((e: any) => e.data)).toEqual([
        { claim_id: dead.claim_id, batch_ids: [a, b] },
        { claim_id: next.claim_id, batch_ids: [a, b], expires_at: next.expires_at },
      ]);
      expect((await claimOn('settled-by-claim', 2)).batches.map((batch: any) => batch.batch_id)).toEqual([later]);

      // When the dead claim's batches are all there is, the claim gets them (200), not "nothing pending" (204).
      await createSession(quiet, 'only-dead-work');
      const only = await enqueueOn('only-dead-work', ['x']);
      const gone = await claimOn('only-dead-work', 1);
      await runOut(gone.claim_id);
      expect((await claimOn('only-dead-work', 1)).batches.map((batch: any) => batch.batch_id)).toEqual([only]);
      expect((await queueEventsOn('only-dead-work')).map((e: any) => e.type).slice(-2)).toEqual(['queue.expired', 'queue.claimed']);
    } finally {
      await quiet.close();
    }
  });
});

describe('DELETE /v1/sessions/{id}/queue/{batch_id}', () => {
  it('cancels a pending batch: 204, status cancelled, never claimed; cancelling again is 204', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b']]);
    const res = await cancel(id, ids[0]!);
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(await batchIdsWith(id, 'cancelled')).toEqual([ids[0]]);
    expect(await batchIdsWith(id, 'pending')).toEqual([ids[1]]);
    expect((await list(id)).batches.find((b) => b.batch_id === ids[0]).status).toBe('cancelled');

    const claimed = (await claim(id, { max_batches: 10, ttl_ms: LONG_TTL })).json();
    expect(claimed.batches.map((b: any) => b.batch_id)).toEqual([ids[1]]);

    expect((await cancel(id, ids[0]!)).statusCode).toBe(204);
    expect(await batchIdsWith(id, 'cancelled')).toEqual([ids[0]]);
    expect((await queueEvents(id)).filter((e) => e.type === 'queue.cancelled')).toHaveLength(1);
  });

  it('409 batch_claimed for a claimed or completed batch, which stays as it was', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b']]);
    const first = (await claim(id, { max_batches: 1, ttl_ms: LONG_TTL })).json();
    const whileClaimed = await cancel(id, ids[0]!);
    expect(whileClaimed.statusCode).toBe(409);
    expect(await batchIdsWith(id, 'claimed')).toEqual([ids[0]]);

    expect((await act(id, first.claim_id, 'complete')).statusCode).toBe(200);
    const whenCompleted = await cancel(id, ids[0]!);
    expect(whenCompleted.statusCode).toBe(409);
    expect(await batchIdsWith(id, 'completed')).toEqual([ids[0]]);
    expect(await batchIdsWith(id, 'cancelled')).toEqual([]);
    expect((await queueEvents(id)).filter((e) => e.type === 'queue.cancelled')).toEqual([]);

    const problem = expectProblem(whileClaimed, 409, 'batch_claimed');
    expect(problem.batch_id).toBe(ids[0]);
    expect(problem.batch_status).toBe('claimed');
    expect(expectProblem(whenCompleted, 409, 'batch_claimed').batch_status).toBe('completed');
  });

  it('404 batch_not_found for an unknown batch or one of another session', async () => {
    const id = await newSession();
    const other = await newSession();
    const [foreign] = await enqueueAll(other, [['x']]);
    expectProblem(await cancel(id, '0190aaaa-0000-7000-8000-000000000000'), 404, 'batch_not_found');
    expectProblem(await cancel(id, foreign!), 404, 'batch_not_found');
    expect(await batchIdsWith(other, 'pending')).toEqual([foreign]);
  });
});

describe('GET /v1/sessions/{id}/queue', () => {
  it('pages with limit and next_cursor, visiting every batch once in enqueue order', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, Array.from({ length: 7 }, (_, i) => [i]));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `?limit=3${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const page = await list(id, query);
      expect(page.batches.length).toBeLessThanOrEqual(3);
      seen.push(...page.batches.map((b) => b.batch_id));
      cursor = page.next_cursor;
      pages++;
      expect(pages).toBeLessThanOrEqual(5);
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
  });

  it('pages through a status filter', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, Array.from({ length: 6 }, (_, i) => [i]));
    await cancel(id, ids[1]!);
    await cancel(id, ids[4]!);
    const first = await list(id, '?status=pending&limit=2');
    expect(first.batches.map((b) => b.batch_id)).toEqual([ids[0], ids[2]]);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await list(id, `?status=pending&limit=2&cursor=${encodeURIComponent(first.next_cursor!)}`);
    expect(second.batches.map((b) => b.batch_id)).toEqual([ids[3], ids[5]]);
    expect(second.next_cursor).toBeNull();
  });

  it('400 for a bad status, limit or cursor; 404 for an unknown session', async () => {
    const id = await newSession();
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/queue?status=done`), 400, 'invalid_request');
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/queue?limit=0`), 400, 'invalid_request');
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/queue?limit=1001`), 400, 'invalid_request');
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/queue?cursor=garbage`), 400, 'invalid_request');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/queue-no-such-session/queue'), 404, 'session_not_found');
  });
});

describe('queued work and the execution lease', () => {
  // Refusals without or with a wrong Lease-Token, for every queue worker route: test/http/leases.test.ts (the fence table).
  it('the lease holder claims, then completes, queued work with its token', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b']]);
    const { token } = await lease(id, 'worker-a');
    const ok = await claim(id, { max_batches: 1, ttl_ms: LONG_TTL }, tokenHeader(token));
    expect(ok.statusCode).toBe(200);
    const claimId = ok.json().claim_id;
    expect(ok.json().batches.map((b: any) => b.batch_id)).toEqual([ids[0]]);
    expectProblem(await act(id, claimId, 'complete'), 409, 'lease_held');
    expect(await batchIdsWith(id, 'claimed')).toEqual([ids[0]]);
    const done = await act(id, claimId, 'complete', undefined, tokenHeader(token));
    expect(done.statusCode).toBe(200);
    expect(done.json().batch_ids).toEqual([ids[0]]);
  });

  it('enqueueing needs no token while a lease is held', async () => {
    const id = await newSession();
    const { token } = await lease(id, 'worker-a');
    const res = await enqueue(id, [{ text: 'from the dashboard' }]);
    expect(res.statusCode).toBe(201);
    expect(res.json().status).toBe('pending');
    const claimed = (await claim(id, { max_batches: 1, ttl_ms: LONG_TTL }, tokenHeader(token))).json();
    expect(claimed.batches.map((b: any) => b.batch_id)).toEqual([res.json().batch_id]);
  });

  it('a claim dies with its lease: once the lease is released, completing is 409 claim_expired and the work is claimable again', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b'], ['c']]);
    const { token } = await lease(id, 'worker-a');
    const claimed = (await claim(id, { max_batches: 2, ttl_ms: LONG_TTL }, tokenHeader(token))).json();
    expect(claimed.batches.map((b: any) => b.batch_id)).toEqual(ids.slice(0, 2));

    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, tokenHeader(token))).statusCode).toBe(204);

    // No lease now, so no token is needed; the claim's lease generation is over.
    const problem = expectProblem(await act(id, claimed.claim_id, 'complete'), 409, 'claim_expired');
    expect(problem.claim_id).toBe(claimed.claim_id);
    expectProblem(await act(id, claimed.claim_id, 'renew', { ttl_ms: LONG_TTL }), 409, 'claim_expired');
    expect(await batchIdsWith(id, 'completed')).toEqual([]);
    await expect.poll(() => batchIdsWith(id, 'pending'), POLL).toEqual(ids);
    await expect
      .poll(async () => (await queueEvents(id)).filter((e) => e.type === 'queue.expired').map((e) => e.data.claim_id), POLL)
      .toEqual([claimed.claim_id]);

    // The work is claimable again, first and in order, and the dead claim stays dead.
    const again = (await claim(id, { max_batches: 2, ttl_ms: LONG_TTL })).json();
    expect(again.batches.map((b: any) => b.batch_id)).toEqual(ids.slice(0, 2));
    expectProblem(await act(id, claimed.claim_id, 'complete'), 409, 'claim_expired');
    expect(await batchIdsWith(id, 'claimed')).toEqual(ids.slice(0, 2));
  });

  it("one session's lease ending never kills another session's claim: only the claims of the session written are judged", async () => {
    const [first, second] = [await newSession(), await newSession()];
    const [kept] = await enqueueAll(first, [['kept']]);
    await enqueueAll(second, [['ended']]);
    const a = await lease(first, 'worker-a');
    const b = await lease(second, 'worker-b');
    const claimA = (await claim(first, { max_batches: 1, ttl_ms: LONG_TTL }, tokenHeader(a.token))).json();
    const claimB = (await claim(second, { max_batches: 1, ttl_ms: LONG_TTL }, tokenHeader(b.token))).json();

    // The second session's lease ends, and a write there settles its dead claim.
    expect((await call(t.app, 'DELETE', `/v1/sessions/${second}/lease`, undefined, tokenHeader(b.token))).statusCode).toBe(204);
    expectProblem(await act(second, claimB.claim_id, 'complete'), 409, 'claim_expired');

    // The first session's claim lives on with its lease: it completes, and its session heard of no expiry.
    expect((await act(first, claimA.claim_id, 'complete', undefined, tokenHeader(a.token))).statusCode).toBe(200);
    expect(await batchIdsWith(first, 'completed')).toEqual([kept]);
    expect((await queueEvents(first)).map((e) => e.type)).not.toContain('queue.expired');
  });

  it('a claim dies when its lease expires and another worker takes the lease: 409 claim_expired with the new token', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b']]);
    const a = await lease(id, 'worker-a');
    const claimedByA = await claim(id, { max_batches: 2, ttl_ms: LONG_TTL }, tokenHeader(a.token));
    expect(claimedByA.statusCode).toBe(200);
    const claimA = claimedByA.json();

    // A's lease runs out: its expiry, like every expiry, is decided by the database's clock.
    await t.database.db`update sessions set lease_expires_at = now() - interval '1 second' where id = ${id}`;
    await expect.poll(async () => (await call(t.app, 'GET', `/v1/sessions/${id}`)).json().lease, POLL).toBeNull();
    const b = await lease(id, 'worker-b');
    expect(b.fencing_token).toBeGreaterThan(a.fencing_token);

    const problem = expectProblem(await act(id, claimA.claim_id, 'complete', undefined, tokenHeader(b.token)), 409, 'claim_expired');
    expect(problem.claim_id).toBe(claimA.claim_id);
    // A's old token is no longer current either.
    expectProblem(await act(id, claimA.claim_id, 'complete', undefined, tokenHeader(a.token)), 409, 'lease_lost');
    expect(await batchIdsWith(id, 'completed')).toEqual([]);

    // B gets A's work, in order.
    const claimB = (await claim(id, { max_batches: 5, ttl_ms: LONG_TTL }, tokenHeader(b.token))).json();
    expect(claimB.batches.map((batch: any) => batch.batch_id)).toEqual(ids);
    expect((await act(id, claimB.claim_id, 'complete', undefined, tokenHeader(b.token))).statusCode).toBe(200);
    expect(await batchIdsWith(id, 'completed')).toEqual(ids);
    expectProblem(await act(id, claimA.claim_id, 'complete', undefined, tokenHeader(b.token)), 409, 'claim_expired');
  });

  it('a 409 claim_expired answer leaves the dead claim\'s batches pending at once', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b']]);
    const { token } = await lease(id, 'worker-a');
    const claimed = (await claim(id, { max_batches: 2, ttl_ms: LONG_TTL }, tokenHeader(token))).json();
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, tokenHeader(token))).statusCode).toBe(204);
    expectProblem(await act(id, claimed.claim_id, 'complete'), 409, 'claim_expired');
    // The answer says the batches were returned to the queue: a dashboard listing right after must see them.
    expect(await batchIdsWith(id, 'pending')).toEqual(ids);
    expect((await queueEvents(id)).filter((e) => e.type === 'queue.expired').map((e) => e.data.claim_id)).toEqual([
      claimed.claim_id,
    ]);
  });

  it('a claim_expired refusal sent with an Idempotency-Key is not stored: a retry with the key is 409 again, never a replayed 200', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b']]);
    const { token } = await lease(id, 'worker-a');
    const claimed = (await claim(id, { max_batches: 2, ttl_ms: LONG_TTL }, tokenHeader(token))).json();
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, tokenHeader(token))).statusCode).toBe(204);

    // The refusal commits (it returns the work and appends queue.expired), yet it is a refusal: a worker retrying
    // after a lost answer must learn again that its work was not done, or it would drop the batches as finished.
    for (const action of ['complete', 'renew'] as const) {
      const key = { 'idempotency-key': `queue-refused-${action}-${id}` };
      for (let attempt = 0; attempt < 2; attempt++) {
        const res = await act(id, claimed.claim_id, action, action === 'renew' ? { ttl_ms: LONG_TTL } : undefined, key);
        expect(expectProblem(res, 409, 'claim_expired').claim_id).toBe(claimed.claim_id);
      }
    }
    expect(await batchIdsWith(id, 'completed')).toEqual([]);
    expect(await batchIdsWith(id, 'pending')).toEqual(ids);
  });

  it('a claim made without a lease is not ended by a later lease', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a']]);
    const claimed = (await claim(id, { max_batches: 1, ttl_ms: LONG_TTL })).json();
    const { token } = await lease(id, 'worker-a');
    const done = await act(id, claimed.claim_id, 'complete', undefined, tokenHeader(token));
    expect(done.statusCode).toBe(200);
    expect(await batchIdsWith(id, 'completed')).toEqual(ids);
  });

  it('with nobody writing, the sweep ends a claim whose lease ran out: its batches pending again, queue.expired appended', async () => {
    const id = await newSession();
    const ids = await enqueueAll(id, [['a'], ['b'], ['c']]);
    const { token } = await lease(id, 'worker-a');
    // The claim's own ttl is long: only the end of its lease generation ends it.
    const claimed = (await claim(id, { max_batches: 2, ttl_ms: LONG_TTL }, tokenHeader(token))).json();
    expect(claimed.batches.map((b: any) => b.batch_id)).toEqual(ids.slice(0, 2));

    // The lease runs out (by the database's clock, as every expiry) and nobody writes to the session again:
    // a dashboard listing the queue sees the work back without any worker's request.
    await t.database.db`update sessions set lease_expires_at = now() - interval '1 second' where id = ${id}`;
    await expect.poll(() => batchIdsWith(id, 'pending'), POLL).toEqual(ids);
    await expect
      .poll(async () => (await queueEvents(id)).filter((e) => e.type === 'queue.expired').map((e) => e.data), POLL)
      .toEqual([{ claim_id: claimed.claim_id, batch_ids: ids.slice(0, 2) }]);
    expect(await batchIdsWith(id, 'claimed')).toEqual([]);
    expectProblem(await act(id, claimed.claim_id, 'complete'), 409, 'claim_expired');
  });
});

describe('queue.* events', () => {
  it('every change appends its queue.* event to the session history, in order', async () => {
    const id = await newSession();
    const [b1, b2, b3] = await enqueueAll(id, [['one'], ['two'], [{ three: 3 }]]);

    const c1 = (await claim(id, { max_batches: 1, ttl_ms: LONG_TTL })).json();
    const renewed = (await act(id, c1.claim_id, 'renew', { ttl_ms: LONG_TTL })).json();
    await act(id, c1.claim_id, 'complete');
    const c2 = (await claim(id, { max_batches: 1, ttl_ms: LONG_TTL })).json();
    await act(id, c2.claim_id, 'abandon');
    expect((await cancel(id, b3!)).statusCode).toBe(204);
    const c3 = (await claim(id, { max_batches: 1, ttl_ms: 200 })).json();
    expect(c3.batches.map((b: any) => b.batch_id)).toEqual([b2]);
    await expect.poll(() => batchIdsWith(id, 'pending'), POLL).toEqual([b2]);

    const history = await events(id);
    const seqs = history.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    const queue = history.filter((e) => String(e.type).startsWith('queue.'));
    expect(queue.map((e) => e.type)).toEqual([
      'queue.enqueued',
      'queue.enqueued',
      'queue.enqueued',
      'queue.claimed',
      'queue.renewed',
      'queue.completed',
      'queue.claimed',
      'queue.abandoned',
      'queue.cancelled',
      'queue.claimed',
      'queue.expired',
    ]);
    expect(queue.map((e) => e.data)).toEqual([
      { batch_id: b1, items: ['one'] },
      { batch_id: b2, items: ['two'] },
      { batch_id: b3, items: [{ three: 3 }] },
      { claim_id: c1.claim_id, batch_ids: [b1], expires_at: c1.expires_at },
      expect.objectContaining({ claim_id: c1.claim_id, expires_at: renewed.expires_at }),
      { claim_id: c1.claim_id, batch_ids: [b1] },
      { claim_id: c2.claim_id, batch_ids: [b2], expires_at: c2.expires_at },
      { claim_id: c2.claim_id, batch_ids: [b2] },
      { batch_id: b3 },
      { claim_id: c3.claim_id, batch_ids: [b2], expires_at: c3.expires_at },
      { claim_id: c3.claim_id, batch_ids: [b2] },
    ]);
  });

  it('a refused request appends no queue event', async () => {
    const id = await newSession();
    const [b1] = await enqueueAll(id, [['a']]);
    const c1 = (await claim(id, { max_batches: 1, ttl_ms: LONG_TTL })).json();
    const before = (await events(id)).length;
    expect((await cancel(id, b1!)).statusCode).toBe(409);
    expectProblem(await act(id, 'no-such-claim', 'complete'), 404, 'claim_not_found');
    expect((await claim(id, { max_batches: 1, ttl_ms: LONG_TTL })).statusCode).toBe(204);
    await act(id, c1.claim_id, 'complete');
    expectProblem(await act(id, c1.claim_id, 'complete'), 409, 'claim_expired');
    const after = await events(id);
    expect(after.length).toBe(before + 1);
    expect(after.at(-1).type).toBe('queue.completed');
  });
});

describe('an imported copy of a session (POST /v1/sessions/import)', () => {
  const importCopy = (lines: ExportLine[], id: string) =>
    t.app.inject({ method: 'POST', url: `/v1/sessions/import?id=${id}`, headers: { 'content-type': 'application/x-ndjson' }, payload: exportFile(lines) });

  it("keeps its batches' ids when the server holds none of them, and gives fresh ones beside the originals it copies", async () => {
    const source = await newSession();
    const ids = await enqueueAll(source, [['one'], ['two']]);
    const lines = await exportLines(t, source);

    // Beside the original: every id is held already, so each copy gets its own, in the same order.
    const beside = `queue-import-${++counter}`;
    expect((await importCopy(lines, beside)).statusCode).toBe(201);
    const copied = (await list(beside)).batches;
    expect(copied.map((b) => b.items)).toEqual([['one'], ['two']]);
    for (const batch of copied) expect(ids).not.toContain(batch.batch_id);
    expect((await list(source)).batches.map((b) => b.batch_id)).toEqual(ids);

    // Ids the server holds nowhere are kept as the file has them.
    const unheld = [uuidv7(), uuidv7()];
    let n = 0;
    const renamed = lines.map((line) => (line.record === 'queue_batch' ? { ...line, batch_id: unheld[n++] } : line));
    const kept = `queue-import-${++counter}`;
    expect((await importCopy(renamed, kept)).statusCode).toBe(201);
    expect((await list(kept)).batches.map((b) => b.batch_id)).toEqual(unheld);
  });

  it("a cancelled batch's export says when it was cancelled: updated_at moves past created_at", async () => {
    const id = await newSession();
    const [batch] = await enqueueAll(id, [['a']]);
    expect((await cancel(id, batch!)).statusCode).toBe(204);
    const [line] = (await exportLines(t, id)).filter((l) => l.record === 'queue_batch');
    expect(line).toMatchObject({ batch_id: batch, status: 'cancelled' });
    expect(Date.parse(line!.updated_at)).toBeGreaterThan(Date.parse(line!.created_at));
  });
});
