import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { MAX_STREAMS: '1' } });
  await t.listen();
});
afterAll(() => t.close());

const busyConnections = async () =>
  (await t.database.db`select count(*)::int as n from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid() and state in ('active', 'idle in transaction')
      and query not ilike '%listen%'`)[0]?.n;

/** Opens a stream and drops the socket once the answer's head is in, before any event is read. */
async function openAndDrop(path: string): Promise<number> {
  const request = http.get(`${t.baseUrl}${path}`);
  request.on('error', () => {});
  const response = await new Promise<http.IncomingMessage>((resolve) => request.on('response', resolve));
  response.socket.destroy();
  return response.statusCode ?? 0;
}

describe('a subscriber that goes away before its first event', () => {
  it('during a long replay, and on an empty live session: its slot and connection come back, and the next subscriber gets everything', async () => {
    const id = 'early-close';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'early-quiet' })).statusCode).toBe(201);
    const data = 'y'.repeat(100 * 1024);
    for (let i = 0; i < 8; i++) {
      await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: Array.from({ length: 20 }, (_, j) => ({ type: 'bulk', data: `${i}-${j}-${data}` })) });
    }

    for (const path of [`/v1/sessions/${id}/stream`, '/v1/sessions/early-quiet/stream']) {
      expect(await openAndDrop(path)).toBe(200);
      // The server learns of the close from its socket: asked until the one slot is free again.
      await expect.poll(async () => (await call(t.app, 'GET', '/v1/sessions/no-such/stream')).statusCode, { timeout: 10_000 }).toBe(404);
      await expect.poll(busyConnections, { timeout: 10_000 }).toBe(0);
    }

    const next = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream`);
    try {
      await next.waitFor(() => next.durable.length === 160, 'the whole history', 30_000);
      expect(next.durable.map((m) => Number(m.id))).toEqual(Array.from({ length: 160 }, (_, i) => i + 1));
      // The slot is this one's now.
      expectProblem(await call(t.app, 'GET', '/v1/sessions/early-quiet/stream'), 503, 'too_many_streams');
      await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'after', data: 1 }] });
      await next.waitFor(() => next.durable.length === 161, 'the live event');
    } finally {
      await next.close();
    }
  });

  it('one that goes away while the server still looks the session up: its slot and subscription come back', async () => {
    const id = 'early-close-lookup';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const connections = () => new Promise<number>((resolve) => t.app.server.getConnections((_error, n) => resolve(n)));
    const idle = await connections();
    // Holds the stream's first read (the session lookup) until the client has gone.
    const locker = await t.database.db.reserve();
    try {
      await locker`begin`;
      await locker`lock table sessions in access exclusive mode`;
      const request = http.get(`${t.baseUrl}/v1/sessions/${id}/stream`);
      request.on('error', () => {});
      await expect.poll(async () => (await t.database.db`select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`)[0]?.n, { timeout: 10_000 }).toBeGreaterThan(0);
      request.destroy();
      await expect.poll(connections, { timeout: 10_000 }).toBeLessThanOrEqual(idle);
    } finally {
      await locker`rollback`;
      locker.release();
    }
    await expect.poll(async () => (await call(t.app, 'GET', '/v1/sessions/no-such/stream')).statusCode, { timeout: 10_000 }).toBe(404);
    const next = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream`);
    try {
      expect(next.status).toBe(200);
      await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'after', data: 1 }] });
      await next.waitFor(() => next.durable.length === 1, 'the live event');
    } finally {
      await next.close();
    }
  });
});
