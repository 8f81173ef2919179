import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { lockWaiters } from '../helpers/db.js';

// Two server instances on one database, each with its own in-memory state
// cache: every write must still see the true head, whichever instance made it.
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  a = await createTestApp({ env: { STATE_CHECKPOINT_DELTAS: '5' } });
  b = await createTestApp({ databaseUrl: a.url, env: { STATE_CHECKPOINT_DELTAS: '5' } });
});
afterAll(async () => {
  await b.close();
  await a.close();
});

const waitingForLocks = () => lockWaiters(a.database.db);

describe('two instances on one database', () => {
  it('one create with an Idempotency-Key sent to both instances at once: one creates the session, the other replays its answer', async () => {
    expect((await call(a.app, 'POST', '/v1/sessions', { id: 'twin-parent' })).statusCode).toBe(201);
    const body = { id: 'twin-child', parent_id: 'twin-parent' };
    const key = { 'idempotency-key': 'twin-key' };
    let attempts: ReturnType<typeof call>[] = [];
    // Both check the key and find nothing, then wait on the parent's row (their foreign-key check) while the test
    // holds it: released, one inserts the id first and the other's insert waits for that commit.
    await a.database.db.begin(async (tx) => {
      await tx`select 1 from sessions where id = 'twin-parent' for update`;
      attempts = [call(a.app, 'POST', '/v1/sessions', body, key), call(b.app, 'POST', '/v1/sessions', body, key)];
      await expect.poll(waitingForLocks, { timeout: 30_000 }).toBe(2);
    });
    const responses = await Promise.all(attempts);
    expect(responses.map((r) => `${r.statusCode} ${r.statusCode === 201 ? '' : r.body}`)).toEqual(['201 ', '201 ']);
    expect(responses[1]!.json()).toEqual(responses[0]!.json());
    expect(responses.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(1);
  });

  it('one delta with an Idempotency-Key sent to both instances while its session is locked: one applies it, the other replays its answer', async () => {
    const id = 'twin-delta';
    expect((await call(a.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    expect((await call(a.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 0 } })).statusCode).toBe(200);
    const delta = { base_version: 1, merge_patch: { n: 1 } };
    const key = { 'idempotency-key': 'twin-delta-key' };
    let attempts: ReturnType<typeof call>[] = [];
    // Each write sends its key's lookup right behind the statement that locks the session, before the lock is
    // granted (src/writes/session-write.ts): the lookup must still see the answer the other committed meanwhile.
    await a.database.db.begin(async (tx) => {
      await tx`select 1 from sessions where id = ${id} for update`;
      attempts = [call(a.app, 'POST', `/v1/sessions/${id}/deltas`, delta, key), call(b.app, 'POST', `/v1/sessions/${id}/deltas`, delta, key)];
      await expect.poll(waitingForLocks, { timeout: 30_000 }).toBe(2);
    });
    const responses = await Promise.all(attempts);
    expect(responses.map((r) => `${r.statusCode} ${r.statusCode === 200 ? '' : r.body}`)).toEqual(['200 ', '200 ']);
    expect(responses[1]!.json()).toEqual(responses[0]!.json());
    expect(responses.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(1);
    expect((await call(a.app, 'GET', `/v1/sessions/${id}/state`)).json()).toMatchObject({ version: 2, snapshot: { n: 1 } });
  });

  it('alternating JSON Patch writers never patch a stale cached document', async () => {
    const id = 'two-instances';
    await call(a.app, 'POST', '/v1/sessions', { id });
    await call(a.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { log: [] } });
    // Warm both caches, then interleave: each write lands on the instance whose cache is one version behind.
    for (let version = 1; version <= 20; version++) {
      const via = version % 3 === 0 ? a : b;
      const res = await call(via.app, 'POST', `/v1/sessions/${id}/deltas`, {
        base_version: version,
        patch: [
          { op: 'test', path: '/log', value: Array.from({ length: version - 1 }, (_, i) => i + 1) },
          { op: 'add', path: '/log/-', value: version },
        ],
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    const expected = { log: Array.from({ length: 20 }, (_, i) => i + 1) };
    expect((await call(a.app, 'GET', `/v1/sessions/${id}/state`)).json().snapshot).toEqual(expected);
    expect((await call(b.app, 'GET', `/v1/sessions/${id}/state`)).json().snapshot).toEqual(expected);
  });

  it('a snapshot replaced on one instance is what the other patches next', async () => {
    const id = 'replaced-elsewhere';
    await call(a.app, 'POST', '/v1/sessions', { id });
    await call(a.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { v: 'old' } });
    await call(a.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, patch: [{ op: 'add', path: '/a', value: 1 }] });
    await call(b.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 2, schema_version: 1, snapshot: { v: 'new' } });
    const res = await call(a.app, 'POST', `/v1/sessions/${id}/deltas`, {
      base_version: 3,
      patch: [{ op: 'test', path: '/v', value: 'new' }, { op: 'add', path: '/b', value: 2 }],
    });
    expect(res.statusCode, res.body).toBe(200);
    expect((await call(b.app, 'GET', `/v1/sessions/${id}/state`)).json().snapshot).toEqual({ v: 'new', b: 2 });
  });

  it('a turn refused after its state change leaves no document behind that the other instance\'s write could be mistaken for', async () => {
    const id = 'turn-refused-elsewhere';
    await call(a.app, 'POST', '/v1/sessions', { id });
    await call(a.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
    // On a: the turn's delta is applied (version 2 in a's hands), then its unknown claim refuses the whole turn.
    const refused = await call(a.app, 'POST', `/v1/sessions/${id}/turns`, {
      turn_id: 'refused',
      base_version: 1,
      state: { merge_patch: { by: 'the refused turn' } },
      complete_claims: ['0000-unknown'],
    });
    expect(refused.statusCode, refused.body).toBe(404);
    // On b: another version 2; then a patches it, testing what b wrote.
    expect((await call(b.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, merge_patch: { by: 'b' } })).statusCode).toBe(200);
    const res = await call(a.app, 'POST', `/v1/sessions/${id}/deltas`, {
      base_version: 2,
      patch: [{ op: 'test', path: '/by', value: 'b' }, { op: 'add', path: '/then', value: 'a' }],
    });
    expect(res.statusCode, res.body).toBe(200);
    const expected = { n: 0, by: 'b', then: 'a' };
    expect((await call(a.app, 'GET', `/v1/sessions/${id}/state`)).json().snapshot).toEqual(expected);
    expect((await call(b.app, 'GET', `/v1/sessions/${id}/state`)).json().snapshot).toEqual(expected);
  });

  it('a session deleted and re-created under the same id starts from its own state', async () => {
    const id = 'reborn';
    await call(a.app, 'POST', '/v1/sessions', { id });
    await call(a.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { life: 1 } });
    await call(a.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, patch: [{ op: 'add', path: '/x', value: 1 }] });
    await call(b.app, 'DELETE', `/v1/sessions/${id}`);
    await call(b.app, 'POST', '/v1/sessions', { id });
    await call(b.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { life: 2 } });
    await call(b.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, merge_patch: { y: 1 } });
    // Instance a still caches the first life at version 2; the same version number must not fool it.
    const res = await call(a.app, 'POST', `/v1/sessions/${id}/deltas`, {
      base_version: 2,
      patch: [{ op: 'test', path: '/life', value: 2 }, { op: 'add', path: '/z', value: 1 }],
    });
    expect(res.statusCode, res.body).toBe(200);
    expect((await call(a.app, 'GET', `/v1/sessions/${id}/state`)).json().snapshot).toEqual({ life: 2, y: 1, z: 1 });
  });

  it('concurrent writers through both instances keep version and seq gapless', async () => {
    const id = 'both-busy';
    await call(a.app, 'POST', '/v1/sessions', { id });
    await call(a.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { items: [] } });
    async function writer(app: TestApp, name: string): Promise<void> {
      for (let i = 0; i < 10; i++) {
        for (;;) {
          const { version } = (await call(app.app, 'GET', `/v1/sessions/${id}`)).json();
          const res = await call(app.app, 'POST', `/v1/sessions/${id}/deltas`, {
            base_version: version,
            patch: [{ op: 'add', path: '/items/-', value: `${name}${i}` }],
          });
          if (res.statusCode === 200) break;
          expect(res.json().code).toBe('version_conflict');
        }
      }
    }
    await Promise.all([writer(a, 'a'), writer(b, 'b'), writer(a, 'c'), writer(b, 'd')]);
    const doc = (await call(b.app, 'GET', `/v1/sessions/${id}/state`)).json().snapshot;
    expect(doc.items).toHaveLength(40);
    expect(new Set(doc.items).size).toBe(40);
    const events = (await call(a.app, 'GET', `/v1/sessions/${id}/events?limit=1000`)).json().events;
    expect(events.map((e: { seq: number }) => e.seq)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
  });
});
