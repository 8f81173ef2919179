import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, type TestApp } from '../helpers/app.js';

/**
 * Batch ids in a claim's answers and events come in enqueue order, even when
 * PostgreSQL hands the rows back in another order. A batch that was claimed
 * and abandoned has its newest row version stored after the batches enqueued
 * after it, so an UPDATE ... RETURNING gives it back out of enqueue order.
 */

let t: TestApp;
let counter = 0;
const LONG_TTL = 600_000;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

async function ok(res: Promise<{ statusCode: number; body: string; json: () => any }>, status = 200): Promise<any> {
  const r = await res;
  expect(r.statusCode, r.body).toBe(status);
  return r.body === '' ? undefined : r.json();
}

async function sessionWithBatches(n: number): Promise<{ id: string; ids: string[] }> {
  const id = await createSession(t, `queue-order-${++counter}`);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await ok(call(t.app, 'POST', `/v1/sessions/${id}/queue`, { items: [i] }), 201)).batch_id);
  return { id, ids };
}

const claim = (id: string, maxBatches: number, headers?: Record<string, string>) =>
  ok(call(t.app, 'POST', `/v1/sessions/${id}/queue/claim`, { max_batches: maxBatches, ttl_ms: LONG_TTL }, headers));
const act = (id: string, claimId: string, action: string, headers?: Record<string, string>) =>
  call(t.app, 'POST', `/v1/sessions/${id}/queue/claims/${claimId}/${action}`, undefined, headers);

/** Claims the first batch alone and abandons it: its row now lies after the others. */
async function moveFirstBatchToTheEnd(id: string): Promise<void> {
  const first = await claim(id, 1);
  await ok(act(id, first.claim_id, 'abandon'));
}

async function queueEvents(id: string, type: string): Promise<any[]> {
  const { events } = await ok(call(t.app, 'GET', `/v1/sessions/${id}/events?limit=1000`));
  return events.filter((e: any) => e.type === type).map((e: any) => e.data);
}

describe('batch ids in enqueue order', () => {
  it('completing and abandoning a claim', async () => {
    for (const action of ['complete', 'abandon'] as const) {
      const { id, ids } = await sessionWithBatches(3);
      await moveFirstBatchToTheEnd(id);
      const all = await claim(id, 3);
      expect(all.batches.map((b: any) => b.batch_id)).toEqual(ids);
      const done = await ok(act(id, all.claim_id, action));
      expect(done.batch_ids).toEqual(ids);
      const type = action === 'complete' ? 'queue.completed' : 'queue.abandoned';
      expect((await queueEvents(id, type)).at(-1)).toEqual({ claim_id: all.claim_id, batch_ids: ids });
    }
  });

  it('queue.expired, one per dead claim, each naming only its own batches', async () => {
    const { id, ids } = await sessionWithBatches(4);
    await moveFirstBatchToTheEnd(id);
    const lease = await ok(call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w', ttl_ms: LONG_TTL }), 201);
    const headers = { 'lease-token': lease.token };
    const first = await claim(id, 2, headers);
    const second = await claim(id, 2, headers);
    expect([first.batches.map((b: any) => b.batch_id), second.batches.map((b: any) => b.batch_id)]).toEqual([ids.slice(0, 2), ids.slice(2)]);
    // Releasing the lease ends both claims made under it; the next look at the queue settles them together.
    await ok(call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, headers), 204);
    expect((await act(id, first.claim_id, 'complete')).statusCode).toBe(409);
    expect(await queueEvents(id, 'queue.expired')).toEqual([
      { claim_id: first.claim_id, batch_ids: ids.slice(0, 2) },
      { claim_id: second.claim_id, batch_ids: ids.slice(2) },
    ]);
  });
});
