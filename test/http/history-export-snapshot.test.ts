import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000' } });
  await t.listen();
});
afterAll(() => t.close());

const ok = async (method: 'POST' | 'PUT', path: string, body: unknown) => {
  const response = await call(t.app, method, path, body);
  expect(response.statusCode, `${method} ${path}: ${response.body}`).toBeLessThan(300);
  return response.json();
};

const inTransaction = async () =>
  (await t.database.db`select count(*)::int as n from pg_stat_activity
    where datname = current_database() and state like 'idle in transaction%'`)[0]?.n;

describe('an export is one snapshot', () => {
  it('writes landing while its pages are read are not in the file: the file agrees with its own session record', async () => {
    const id = 'export-snapshot-race';
    await ok('POST', '/v1/sessions', { id });
    await ok('PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
    await ok('POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'before' }] });
    // More event bytes than the event page and the socket buffers hold, so the export stops in the events until read.
    const big = 'x'.repeat(200 * 1024);
    for (let i = 0; i < 5; i++) {
      await ok('POST', `/v1/sessions/${id}/events`, { events: Array.from({ length: 15 }, (_, j) => ({ type: 'bulk', data: `${i}-${j}-${big}` })) });
    }
    const before = (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();

    const request = http.get(`${t.baseUrl}/v1/sessions/${id}/export`);
    const response = await new Promise<http.IncomingMessage>((resolve) => request.on('response', resolve));
    expect(response.statusCode).toBe(200);
    response.pause();
    await expect.poll(inTransaction, { timeout: 10_000 }).toBe(1);

    // Writes of every kind the file holds, each after the session record was read and before the pages that list them.
    await ok('POST', `/v1/sessions/${id}/events`, { events: [{ type: 'late', data: 'after' }] });
    await ok('POST', `/v1/sessions/${id}/deltas`, { base_version: 1, merge_patch: { n: 1 } });
    await ok('POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'after' }] });
    await ok('POST', `/v1/sessions/${id}/messages/trim`, { before_seq: 2 });
    await ok('POST', `/v1/sessions/${id}/queue`, { items: ['after'] });
    await ok('POST', `/v1/sessions/${id}/turns`, { turn_id: 'after', events: [{ type: 'late', data: 'turn' }] });
    const after = (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
    expect(after.last_seq).toBeGreaterThan(before.last_seq);

    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise((resolve) => response.on('end', resolve));
    response.resume();
    await ended;
    const lines = Buffer.concat(chunks).toString('utf8').trimEnd().split('\n').map((line) => JSON.parse(line));

    const session = lines.find((line) => line.record === 'session');
    const of = (record: string) => lines.filter((line) => line.record === record);
    expect(session).toMatchObject({ version: before.version, last_seq: before.last_seq, message_seq: 1, message_count: 1, archived_count: 0 });
    const events = of('event');
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: before.last_seq }, (_, i) => i + 1));
    expect(events.filter((event) => event.type === 'late')).toEqual([]);
    expect(of('message').map((message) => [message.seq, message.content, message.archived_at])).toEqual([[1, 'before', null]]);
    expect(of('queue_batch')).toEqual([]);
    expect(of('turn')).toEqual([]);
    expect(of('end')).toEqual([{ record: 'end', counts: { snapshots: 1, events: before.last_seq, messages: 1, queue_batches: 0, turns: 0, attachments: 0 } }]);
    await expect.poll(inTransaction, { timeout: 10_000 }).toBe(0);

    // The file imports as the session was when the export began.
    const copy = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions/import?id=export-snapshot-copy',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: Buffer.concat(chunks),
    });
    expect(copy.statusCode, copy.body).toBe(201);
    expect((await call(t.app, 'GET', '/v1/sessions/export-snapshot-copy/state')).json()).toMatchObject({ version: 1, snapshot: { n: 0 } });
  });
});
