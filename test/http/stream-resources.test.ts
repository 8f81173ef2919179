import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
});
afterAll(async () => {
  await t.close();
});

async function create(app: TestApp, id: string): Promise<void> {
  expect((await call(app.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
}

describe('MAX_STREAMS under concurrent opens', () => {
  it('200 concurrent opens with 50 allowed: exactly 50 streams, 150 refused, and the slots come back', async () => {
    const small = await createTestApp({ databaseUrl: t.url, env: { MAX_STREAMS: '50' } });
    await small.listen();
    await create(small, 'crowd');
    const clients = await Promise.all(Array.from({ length: 200 }, () => SseClient.open(`${small.baseUrl}/v1/sessions/crowd/stream`)));
    try {
      const opened = clients.filter((c) => c.status === 200);
      const refused = clients.filter((c) => c.status === 503);
      expect(opened.length).toBe(50);
      expect(refused.length).toBe(150);
      // Refused requests (and failed ones) hand their slot back.
      const missing = await call(small.app, 'GET', '/v1/sessions/no-such-session/stream');
      expectProblem(missing, 503, 'too_many_streams');
      await Promise.all(opened.map((c) => c.close()));
      await expect.poll(async () => (await call(small.app, 'GET', '/v1/sessions/no-such-session/stream')).statusCode).toBe(404);
      const again = await SseClient.open(`${small.baseUrl}/v1/sessions/crowd/stream`);
      expect(again.status).toBe(200);
      await again.close();
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await small.close();
    }
  }, 30_000);
});
