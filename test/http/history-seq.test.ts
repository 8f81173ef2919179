import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

let t: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp({ env: { STATE_CHECKPOINT_DELTAS: '3', STATE_CATCHUP_MAX_DELTAS: '50' } });
  await t.listen();
});
afterAll(() => t.close());

async function session(encoding: 'json' | 'binary' = 'json'): Promise<string> {
  const id = `seq-${++counter}`;
  expect((await call(t.app, 'POST', '/v1/sessions', { id, encoding })).statusCode).toBe(201);
  return id;
}

const state = async (id: string, query = '') => (await call(t.app, 'GET', `/v1/sessions/${id}/state${query}`)).json();
const events = async (id: string, query = '') => (await call(t.app, 'GET', `/v1/sessions/${id}/events${query}`)).json();

describe('seq in every sync answer', () => {
  it('names the state event that made the version, in every mode, with other events in between', async () => {
    const id = await session();
    expect((await state(id)).seq).toBe(0);
    const put = (await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 0 } })).json();
    await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 1 }, { type: 'note', data: 2 }] });
    const deltas = [];
    for (let n = 1; n <= 4; n++) {
      deltas.push((await call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: n, merge_patch: { n } })).json());
      await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: n }] });
    }
    const head = deltas.at(-1);
    expect(head).toEqual({ version: 5, seq: 10 });
    // Every answer's seq is the seq of the state event of its version, read back from the history.
    const history = (await events(id)).events as { seq: number; type: string; version?: number }[];
    const stateSeqOf = (version: number) => history.find((e) => e.type.startsWith('state.') && e.version === version)?.seq;
    for (const [query, mode] of [['', 'snapshot'], ['?have=5', 'resume'], ['?have=2', 'catch_up'], ['?have=0', 'snapshot']] as const) {
      const answer = await state(id, query);
      expect(answer.mode, query).toBe(mode);
      expect(answer.version).toBe(5);
      expect(answer.seq, query).toBe(stateSeqOf(5));
    }
    expect(put.seq).toBe(stateSeqOf(1));
  });

  it('for a binary session too', async () => {
    const id = await session('binary');
    await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot_base64: 'AAE=' });
    await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 1 }] });
    const ack = (await call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, delta_base64: 'Ag==' })).json();
    await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 2 }] });
    expect(ack).toEqual({ version: 2, seq: 3 });
    expect((await state(id)).seq).toBe(3);
    expect((await state(id, '?have=1')).seq).toBe(3);
  });
});

describe('PATCH metadata appends session.updated', () => {
  it('is a durable event with the merged metadata, seen by open streams and the history', async () => {
    const id = await session();
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream`);
    await stream.waitFor(() => stream.messages.some((m) => m.event === 'session.activity'), 'the activity marker');
    await call(t.app, 'PATCH', `/v1/sessions/${id}`, { metadata: { title: 'first', tags: ['a'] } });
    const patched = await call(t.app, 'PATCH', `/v1/sessions/${id}`, { metadata: { title: 'renamed' } });
    expect(patched.json().last_seq).toBe(2);
    await stream.waitForDurable(2);
    expect(stream.durable.map((m) => [m.id, m.event, m.json.data])).toEqual([
      ['1', 'session.updated', { metadata: { title: 'first', tags: ['a'] } }],
      ['2', 'session.updated', { metadata: { title: 'renamed', tags: ['a'] } }],
    ]);
    stream.close();
    const history = await events(id);
    expect(history.events.map((e: { seq: number; type: string }) => [e.seq, e.type])).toEqual([
      [1, 'session.updated'],
      [2, 'session.updated'],
    ]);
  });

  it('an idempotent replay appends nothing', async () => {
    const id = await session();
    const headers = { 'idempotency-key': 'rename-1' };
    await call(t.app, 'PATCH', `/v1/sessions/${id}`, { metadata: { title: 'x' } }, headers);
    await call(t.app, 'PATCH', `/v1/sessions/${id}`, { metadata: { title: 'x' } }, headers);
    expect((await events(id)).last_seq).toBe(1);
  });
});
