import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
});
afterAll(() => t.close());

describe('GET /v1/sessions/{id}/stream: replay, marker, tail', () => {
  it('replays history up to B, sends one session.activity with cursor B, then follows live', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'basics' });
    await call(t.app, 'POST', '/v1/sessions/basics/events', { events: [{ type: 'a', data: 1 }, { type: 'b', data: 2 }] });
    const client = await SseClient.open(`${t.baseUrl}/v1/sessions/basics/stream`);
    try {
      expect(client.status).toBe(200);
      await client.waitFor(() => client.ofType('session.activity').length === 1, 'the activity marker');
      expect(client.messages.map((m) => [m.id, m.event])).toEqual([
        ['1', 'a'],
        ['2', 'b'],
        [undefined, 'session.activity'],
      ]);
      expect(client.ofType('session.activity')[0]?.json).toEqual({ status: 'idle', cursor: 2 });
      await call(t.app, 'POST', '/v1/sessions/basics/events', { events: [{ type: 'c', data: { x: 3 } }] });
      await client.waitForDurable(3);
      expect(client.durable[2]?.json).toMatchObject({ seq: 3, type: 'c', data: { x: 3 } });
    } finally {
      await client.close();
    }
  });
});
