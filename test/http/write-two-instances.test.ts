import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { lockWaiters } from '../helpers/db.js';

// The write path (src/writes/session-write.ts) with two server instances on one database: each has its own queue of
// writers per session and its own state cache, so only the database orders their writes. A write must see what the
// other instance committed before it, and must leave behind nothing of a write that did not commit.
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  // A checkpoint at every delta: the document a delta was applied to is what the state is read back from.
  a = await createTestApp({ env: { STATE_CHECKPOINT_DELTAS: '1' } });
  b = await createTestApp({ databaseUrl: a.url, env: { STATE_CHECKPOINT_DELTAS: '1' } });
});
afterAll(async () => {
  await b.close();
  await a.close();
});

const waitingForLocks = () => lockWaiters(a.database.db);

/** Runs `send` while the test holds `id`'s row lock, until `waiters` writers wait on it; answers them once it is let go. */
async function sentWhileLocked<T>(id: string, waiters: number, send: () => Promise<T>[]): Promise<T[]> {
  let sent: Promise<T>[] = [];
  await a.database.db.begin(async (tx) => {
    await tx`select 1 from sessions where id = ${id} for update`;
    sent = send();
    await expect.poll(waitingForLocks, { timeout: 20_000 }).toBe(waiters);
  });
  return Promise.all(sent);
}

describe('a failed write leaves nothing behind', () => {
  it('a turn refused after its state change: the next write of that version on the same instance is built on what committed', async () => {
    const id = 'w2i-refused-turn';
    expect((await call(a.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    expect((await call(a.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 0 } })).statusCode).toBe(200);
    // On a: the turn's delta is applied (version 2 in a's hands), then its unknown attachment refuses the whole turn.
    const refused = await call(a.app, 'POST', `/v1/sessions/${id}/turns`, {
      turn_id: 'refused',
      base_version: 1,
      state: { merge_patch: { by: 'the refused turn', refused: true } },
      attachments: ['0'.repeat(64)],
    });
    expectProblem(refused, 404, 'attachment_not_found');
    expect((await call(a.app, 'GET', `/v1/sessions/${id}/state`)).json()).toMatchObject({ version: 1, snapshot: { n: 0 } });
    // On b: the version 2 that commits.
    expect((await call(b.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, merge_patch: { by: 'b' } })).statusCode).toBe(200);
    // On a: version 3, built on b's version 2.
    const turned = await call(a.app, 'POST', `/v1/sessions/${id}/turns`, { turn_id: 'next', base_version: 2, state: { merge_patch: { then: 'a' } } });
    expect(turned.statusCode, turned.body).toBe(201);
    const expected = { n: 0, by: 'b', then: 'a' };
    expect((await call(a.app, 'GET', `/v1/sessions/${id}/state`)).json()).toMatchObject({ version: 3, snapshot: expected });
    expect((await call(b.app, 'GET', `/v1/sessions/${id}/state`)).json()).toMatchObject({ version: 3, snapshot: expected });
    // A JSON Patch testing b's value applies on a as well.
    const patched = await call(a.app, 'POST', `/v1/sessions/${id}/deltas`, {
      base_version: 3,
      patch: [{ op: 'test', path: '/by', value: 'b' }, { op: 'add', path: '/last', value: 'a' }],
    });
    expect(patched.statusCode, patched.body).toBe(200);
  });
});

describe('a turn retried on another instance while its first attempt runs', () => {
  it('waits for the first attempt and replays its answer: one turn committed, no failure on the turn id', async () => {
    const id = 'w2i-turn-retry';
    expect((await call(a.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const turn = { turn_id: 'once', events: [{ type: 'step', data: 1 }], messages: [{ role: 'assistant', content: 'done' }] };
    // Both attempts reach the session's lock while the test holds it; let go, one commits the turn, the other then
    // takes the lock and must find that turn (its lookup runs under the lock, not before it).
    const responses = await sentWhileLocked(id, 2, () => [
      call(a.app, 'POST', `/v1/sessions/${id}/turns`, turn),
      call(b.app, 'POST', `/v1/sessions/${id}/turns`, turn),
    ]);
    expect(responses.map((r) => `${r.statusCode} ${r.statusCode === 201 ? '' : r.body}`)).toEqual(['201 ', '201 ']);
    expect(responses[1]!.json()).toEqual(responses[0]!.json());
    expect(responses.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(1);
    const events = (await call(a.app, 'GET', `/v1/sessions/${id}/events`)).json().events as { type: string }[];
    expect(events.filter((e) => e.type === 'step')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'turn.committed')).toHaveLength(1);
    expect((await call(b.app, 'GET', `/v1/sessions/${id}/messages`)).json().messages).toHaveLength(1);
  });
});
