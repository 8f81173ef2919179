import net from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';
import { killListenBackends } from '../helpers/db.js';

let a: TestApp;
let b: TestApp;
let c: TestApp;

beforeAll(async () => {
  a = await createTestApp();
  b = await createTestApp({ databaseUrl: a.url });
  c = await createTestApp({ databaseUrl: a.url, env: { SSE_MAX_BUFFER_BYTES: String(64 * 1024) } });
  await Promise.all([a.listen(), b.listen(), c.listen()]);
});
afterAll(async () => {
  await Promise.all([a, b, c].map((t) => t.close()));
});

const seqs = (client: SseClient) => client.durable.map((m) => Number(m.id));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function create(id: string): Promise<void> {
  expect((await call(a.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
}

describe('streams across instances and faults', () => {
  it('200 events from 4 concurrent writers through two instances reach a third in order, no gap, no duplicate', async () => {
    await create('fan-in');
    const client = await SseClient.open(`${c.baseUrl}/v1/sessions/fan-in/stream`);
    try {
      await client.waitFor(() => client.ofType('session.activity').length === 1, 'the activity marker');
      const writer = async (via: TestApp, name: string) => {
        for (let i = 0; i < 50; i++) {
          const res = await call(via.app, 'POST', '/v1/sessions/fan-in/events', { events: [{ type: 'step', data: { name, i } }] });
          expect(res.statusCode).toBe(201);
        }
      };
      await Promise.all([writer(a, 'a1'), writer(b, 'b1'), writer(a, 'a2'), writer(b, 'b2')]);
      await client.waitForDurable(200);
      expect(seqs(client)).toEqual(range(1, 200));
      // Every writer's events arrive in the order that writer wrote them.
      for (const name of ['a1', 'b1', 'a2', 'b2']) {
        const mine = client.durable.map((m) => m.json.data).filter((d) => d.name === name);
        expect(mine.map((d: { i: number }) => d.i)).toEqual(range(0, 49));
      }
    } finally {
      await client.close();
    }
  });

  it('a killed LISTEN backend: commits made during the outage still arrive, and readiness comes back', async () => {
    await create('outage');
    const client = await SseClient.open(`${b.baseUrl}/v1/sessions/outage/stream`);
    const admin = postgres(a.url, { max: 1, onnotice: () => {} });
    try {
      await client.waitFor(() => client.ofType('session.activity').length === 1, 'the activity marker');
      await call(a.app, 'POST', '/v1/sessions/outage/events', { events: [{ type: 'before', data: 1 }] });
      await client.waitForDurable(1);

      expect(await killListenBackends(admin)).toBeGreaterThanOrEqual(3);
      // Written through instance a while every LISTEN connection (a, b, c) is down or reconnecting.
      await call(a.app, 'POST', '/v1/sessions/outage/events', {
        events: [
          { type: 'during', data: 1 },
          { type: 'during', data: 2 },
        ],
      });
      await client.waitForDurable(3);
      expect(seqs(client)).toEqual([1, 2, 3]);
      await expect.poll(async () => (await call(b.app, 'GET', '/readyz')).statusCode, { timeout: 10_000 }).toBe(200);

      await call(a.app, 'POST', '/v1/sessions/outage/events', { events: [{ type: 'after', data: 1 }] });
      await client.waitForDurable(4);
      expect(seqs(client)).toEqual([1, 2, 3, 4]);
    } finally {
      await admin.end();
      await client.close();
    }
  });

  it('readiness drops while the LISTEN connection cannot come back, and returns with it', async () => {
    const readiness = async () => {
      const res = await call(b.app, 'GET', '/readyz');
      return { status: res.statusCode, body: res.json() };
    };
    expect(await readiness()).toEqual({ status: 200, body: { status: 'ready' } });
    const database = new URL(a.url).pathname.slice(1);
    // The admin connection is to another database: it stays up while this one refuses new connections.
    const admin = postgres(inject('pgAdminUrl'), { max: 1, onnotice: () => {} });
    try {
      // Open connections (the pools answering `select 1`) stay; a new LISTEN connection is refused.
      await admin.unsafe(`alter database "${database}" allow_connections false`);
      await killListenBackends(admin, database);
      await expect
        .poll(readiness, { timeout: 10_000 })
        .toEqual({ status: 503, body: { status: 'not_ready', reason: 'LISTEN connection is down' } });
    } finally {
      await admin.unsafe(`alter database "${database}" allow_connections true`);
      await admin.end();
    }
    await expect.poll(readiness, { timeout: 10_000 }).toEqual({ status: 200, body: { status: 'ready' } });
  });

  it('a subscriber that stops reading is cut off, and on reconnect with Last-Event-ID loses nothing', async () => {
    await create('slow');
    // A raw socket that sends the request and then never reads.
    const { port } = new URL(c.baseUrl);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /v1/sessions/slow/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    socket.pause();
    const closed = new Promise((resolve) => socket.once('close', resolve));
    try {
      const blob = 'x'.repeat(16 * 1024);
      for (let batch = 0; batch < 60; batch++) {
        const events = Array.from({ length: 10 }, (_, i) => ({ type: 'bulk', data: { batch, i, blob } }));
        expect((await call(a.app, 'POST', '/v1/sessions/slow/events', { events })).statusCode).toBe(201);
      }
      // About 10 MB was appended against a 64 KiB bound: the server must have given up on it.
      await expect.poll(async () => (await call(c.app, 'GET', '/metrics')).body, { timeout: 10_000 }).toMatch(
        /session_sync_stream_slow_disconnects_total 1/,
      );
      socket.resume();
      socket.on('data', () => {});
      await closed;
    } finally {
      socket.destroy();
    }
    // A well-behaved client resuming from any cursor gets everything after it, once,
    // even though the replay is far larger than the slow-reader bound.
    const client = await SseClient.open(`${c.baseUrl}/v1/sessions/slow/stream`, { 'last-event-id': '123' });
    try {
      await client.waitForDurable(600 - 123, 30_000);
      expect(seqs(client)).toEqual(range(124, 600));
      expect(client.error).toBeUndefined();
    } finally {
      await client.close();
    }
  }, 60_000);

  it('one database read per wakeup serves every subscriber of the session', async () => {
    await create('shared');
    const clients = await Promise.all(Array.from({ length: 20 }, () => SseClient.open(`${b.baseUrl}/v1/sessions/shared/stream`)));
    try {
      await Promise.all(clients.map((cl) => cl.waitFor(() => cl.ofType('session.activity').length === 1, 'marker')));
      const reads = async () => {
        const body = (await call(b.app, 'GET', '/metrics')).body;
        return Number(/session_sync_stream_tail_reads_total (\d+)/.exec(body)?.[1] ?? NaN);
      };
      const before = await reads();
      for (let i = 0; i < 10; i++) {
        await call(a.app, 'POST', '/v1/sessions/shared/events', { events: [{ type: 'tick', data: i }] });
        await Promise.all(clients.map((cl) => cl.waitForDurable(i + 1)));
      }
      for (const client of clients) expect(seqs(client)).toEqual(range(1, 10));
      // 10 wakeups, 20 subscribers: reads scale with wakeups, not with subscribers.
      const used = (await reads()) - before;
      expect(used).toBeGreaterThanOrEqual(10);
      expect(used).toBeLessThanOrEqual(20);
    } finally {
      await Promise.all(clients.map((cl) => cl.close()));
    }
  });

  it('shutting an instance down ends its streams cleanly', async () => {
    const d = await createTestApp({ databaseUrl: a.url });
    await d.listen();
    await create('shutdown');
    const client = await SseClient.open(`${d.baseUrl}/v1/sessions/shutdown/stream`);
    try {
      await client.waitFor(() => client.ofType('session.activity').length === 1, 'the activity marker');
      await d.close();
      await client.waitForEnd();
      expect(client.ended).toBe(true);
    } finally {
      await client.close();
    }
  });
});
