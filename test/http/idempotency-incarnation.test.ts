import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

async function recreate(id: string): Promise<void> {
  expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`)).statusCode).toBe(204);
  expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
}

const eventsOf = async (id: string): Promise<any[]> => (await call(t.app, 'GET', `/v1/sessions/${id}/events?limit=1000`)).json().events;

// Keys and turns belong to one life of a session: the same id created again is another session.
describe('a session deleted and created again under the same id replays nothing of its old life', () => {
  it('an Idempotency-Key used on the old session runs again on the new one, and is the new one\'s key from then on', async () => {
    const id = 'reborn-key';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const key = { 'idempotency-key': 'append-once' };
    const body = { events: [{ type: 'note', data: 'old' }, { type: 'note', data: 'old' }] };
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/events`, body, key)).json()).toEqual({ first_seq: 1, last_seq: 2 });
    await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 'more' }] });
    await recreate(id);

    const again = await call(t.app, 'POST', `/v1/sessions/${id}/events`, body, key);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(again.json()).toEqual({ first_seq: 1, last_seq: 2 });
    expect((await eventsOf(id)).map((event) => event.data)).toEqual(['old', 'old']);
    const replay = await call(t.app, 'POST', `/v1/sessions/${id}/events`, body, key);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect((await eventsOf(id)).length).toBe(2);
  });

  it('the same key with another body is not idempotency_key_reused on the new session', async () => {
    const id = 'reborn-reused';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const key = { 'idempotency-key': 'one-key' };
    await call(t.app, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'old life' }] }, key);
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'other' }] }, key), 422, 'idempotency_key_reused');
    await recreate(id);
    const fresh = await call(t.app, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'new life' }] }, key);
    expect(fresh.statusCode, fresh.body).toBe(201);
    expect((await call(t.app, 'GET', `/v1/sessions/${id}/messages`)).json().messages.map((m: { content: string }) => m.content)).toEqual(['new life']);
  });

  it('a turn_id committed on the old session commits again on the new one; with another body it is no turn_conflict', async () => {
    const id = 'reborn-turn';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const turn = { turn_id: 'batch-1', events: [{ type: 'note', data: 'turn' }], messages: [{ role: 'assistant', content: 'done' }] };
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/turns`, turn)).statusCode).toBe(201);
    await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 'later' }] });
    await recreate(id);

    const again = await call(t.app, 'POST', `/v1/sessions/${id}/turns`, turn);
    expect(again.statusCode, again.body).toBe(201);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(again.json()).toMatchObject({ turn_id: 'batch-1', first_seq: 1 });
    expect((await eventsOf(id)).map((event) => event.type)).toEqual(['note', 'message.appended', 'turn.committed']);
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).json().usage.turns).toBe(1);

    await recreate(id);
    const other = await call(t.app, 'POST', `/v1/sessions/${id}/turns`, { ...turn, events: [{ type: 'note', data: 'other' }] });
    expect(other.statusCode, other.body).toBe(201);
  });

  it('a turn_id is the session\'s own: another session naming the same turn commits its own', async () => {
    const turn = { turn_id: 'shared-name', events: [{ type: 'note', data: 'mine' }] };
    for (const id of ['turn-scope-a', 'turn-scope-b']) {
      expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    }
    await call(t.app, 'POST', '/v1/sessions/turn-scope-a/events', { events: [{ type: 'note', data: 'first' }] });
    expect((await call(t.app, 'POST', '/v1/sessions/turn-scope-a/turns', turn)).json()).toMatchObject({ first_seq: 2 });
    const b = await call(t.app, 'POST', '/v1/sessions/turn-scope-b/turns', turn);
    expect(b.statusCode, b.body).toBe(201);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(b.json()).toMatchObject({ first_seq: 1, last_seq: 2 });
    expect((await eventsOf('turn-scope-b')).map((event) => event.type)).toEqual(['note', 'turn.committed']);
  });
});

describe('the keyed writes of the session and messages routes belong to one life too', () => {
  const writes: [name: string, method: 'POST' | 'PUT' | 'PATCH', path: (id: string) => string, body: unknown, seen: (id: string) => Promise<unknown>][] = [
    ['PATCH metadata', 'PATCH', (id) => `/v1/sessions/${id}`, { metadata: { title: 'set' } }, async (id) => (await call(t.app, 'GET', `/v1/sessions/${id}`)).json().metadata],
    [
      'replace a kind',
      'PUT',
      (id) => `/v1/sessions/${id}/messages/kinds/summary`,
      { role: 'system', content: 'sum' },
      async (id) => (await call(t.app, 'GET', `/v1/sessions/${id}/messages/meta`)).json(),
    ],
    ['trim', 'POST', (id) => `/v1/sessions/${id}/messages/trim`, { before_seq: 5 }, async (id) => (await call(t.app, 'GET', `/v1/sessions/${id}/messages/meta`)).json()],
  ];
  for (const [name, method, path, body, seen] of writes) {
    it(`${name}: the key of the old life runs again on the new one, then replays there`, async () => {
      const id = `reborn-${name.replace(/ /g, '-').toLowerCase()}`;
      expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
      const key = { 'idempotency-key': 'same-key' };
      const first = await call(t.app, method, path(id), body, key);
      expect(first.statusCode, first.body).toBe(200);
      await recreate(id);
      const fresh = await seen(id);

      const again = await call(t.app, method, path(id), body, key);
      expect(again.statusCode, again.body).toBe(200);
      expect(again.headers['idempotent-replayed']).toBeUndefined();
      const done = await seen(id);
      expect(done).not.toEqual(fresh);
      const replay = await call(t.app, method, path(id), body, key);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.json()).toEqual(again.json());
      expect(await seen(id)).toEqual(done);
    });
  }

  it('DELETE: a retried delete whose first attempt committed replays its 204 and leaves the new life alone', async () => {
    const id = 'reborn-delete';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const key = { 'idempotency-key': 'delete-once' };
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`, undefined, key)).statusCode).toBe(204);
    const reborn = await call(t.app, 'POST', '/v1/sessions', { id, metadata: { life: 2 } });
    expect(reborn.statusCode).toBe(201);
    const retried = await call(t.app, 'DELETE', `/v1/sessions/${id}`, undefined, key);
    expect(retried.statusCode).toBe(204);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).json()).toEqual(reborn.json());
  });
});
