import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type DurableEvent, type SessionSyncError, type StreamStatus } from '../../client/src/index.js';
import { freePort } from '../../src/db/embedded.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/db.js';
import { seededRandom, TcpProxy } from '../helpers/proxy.js';
import { startServerProcess } from '../helpers/server-process.js';
import { until } from '../helpers/waits.js';

// client.subscribe against the real server: every durable event exactly
// once, in order, whatever happens to the connection.
let t: TestApp;
let proxy: TcpProxy;

beforeAll(async () => {
  t = await createTestApp();
  const address = new URL(await t.listen());
  proxy = await new TcpProxy(Number(address.port)).listen();
});
afterAll(async () => {
  await proxy?.close();
  await t?.close();
});

const fastRetry = { attempts: 4, baseDelayMs: 5, maxDelayMs: 50 };

/** Polls until `done()` holds: a bounded wait, not an assertion on time. */
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('subscribe', () => {
  it('through a proxy that cuts connections at random moments: every durable event exactly once, in order; tokens asked again per connection', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id: 'cuts' });
    const streamTokens: string[] = [];
    let n = 0;
    const reader = createClient({
      baseUrl: proxy.url,
      retry: fastRetry,
      token: () => `token-${++n}`,
      fetch: (input, init) => {
        if (String(input).includes('/stream')) streamTokens.push(new Headers(init?.headers).get('authorization') ?? '');
        return fetch(input, init);
      },
    });
    const events: DurableEvent[] = [];
    const statuses: StreamStatus[] = [];
    const live: unknown[] = [];
    const cutsBefore = proxy.cuts;
    proxy.cutRandomly(15, 3000);
    const sub = reader.subscribe('cuts', {}, {
      onEvent: (event) => events.push(event),
      onLive: (event) => live.push(event.data),
      onStatus: (status) => statuses.push(status),
    });
    try {
      const random = seededRandom(7);
      let total = 0;
      for (let round = 0; round < 60; round++) {
        const size = 1 + Math.floor(random() * 12);
        const batch = Array.from({ length: size }, (_, i) => ({ type: 'step', data: { n: total + i + 1, pad: 'p'.repeat(Math.floor(random() * 300)) } }));
        total = (await writer.appendEvents('cuts', { events: batch })).last_seq;
        if (round % 10 === 0) await writer.publishLive('cuts', { type: 'token', data: round });
        // Let the reader fall behind and catch up at different points.
        if (round % 7 === 0) await until(() => sub.lastSeq >= total, `seq ${total}`);
      }
      await until(() => sub.lastSeq === total, `all ${total} events`);
      expect(events.map((e) => e.seq)).toEqual(range(total));
      expect(events.map((e) => (e.data as { n: number }).n)).toEqual(range(total));
      expect(proxy.cuts - cutsBefore).toBeGreaterThan(10);
      expect(statuses.filter((s) => s === 'reconnecting').length).toBeGreaterThan(5);
      // A new token for every connection attempt.
      expect(new Set(streamTokens).size).toBe(streamTokens.length);
    } finally {
      proxy.calm();
      sub.close();
      await sub.closed;
    }
    expect(sub.status).toBe('closed');
  });

  it('across a server that is killed (SIGKILL) and started again, twice, while another instance keeps writing', async () => {
    const databaseUrl = await createTestDatabase();
    const other = await createTestApp({ databaseUrl });
    const writer = createClient({ baseUrl: await other.listen() });
    const port = await freePort();
    let server = await startServerProcess({ port, databaseUrl });
    const reader = createClient({ baseUrl: server.url, retry: { attempts: 4, baseDelayMs: 50, maxDelayMs: 300 } });
    await writer.createSession({ id: 'restarts' });
    const events: DurableEvent[] = [];
    const sub = reader.subscribe('restarts', {}, { onEvent: (event) => events.push(event) });
    const write = async (count: number) => {
      let last = 0;
      for (let i = 0; i < count; i += 10) {
        last = (await writer.appendEvents('restarts', { events: Array.from({ length: 10 }, (_, j) => ({ type: 'e', data: i + j })) })).last_seq;
      }
      return last;
    };
    try {
      let total = await write(50);
      await until(() => sub.lastSeq === total, 'the first 50');
      for (let restart = 0; restart < 2; restart++) {
        await server.kill();
        // Written while the reader's server is dead.
        total = await write(50);
        server = await startServerProcess({ port, databaseUrl });
        total = await write(20);
        await until(() => sub.lastSeq === total, `${total} events after restart ${restart + 1}`);
      }
      expect(events.map((e) => e.seq)).toEqual(range(total));
    } finally {
      sub.close();
      await sub.closed;
      await server.kill();
      await other.close();
    }
  }, 120_000);

  it('a connection that goes silent (not even a heartbeat) for idleTimeoutMs is dropped and resumed', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id: 'silent' });
    const reader = createClient({ baseUrl: proxy.url, retry: fastRetry });
    const events: DurableEvent[] = [];
    const sub = reader.subscribe('silent', { idleTimeoutMs: 400 }, { onEvent: (event) => events.push(event) });
    try {
      await until(() => sub.status === 'open', 'the stream to open');
      await writer.appendEvents('silent', { events: [{ type: 'a', data: 1 }] });
      await until(() => events.length === 1, 'the first event');
      // The path dies without closing: the server's heartbeat (every 15 s) would never arrive either.
      proxy.freezeAll();
      await writer.appendEvents('silent', { events: [{ type: 'b', data: 2 }] });
      await until(() => events.length === 2, 'the event sent after the path died');
      expect(events.map((e) => e.type)).toEqual(['a', 'b']);
    } finally {
      sub.close();
      await sub.closed;
    }
  });

  it('after: "now" starts at the head and resumes from it; live events, activity and onCaughtUp', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id: 'now' });
    await writer.appendEvents('now', { events: [{ type: 'old', data: 1 }, { type: 'old', data: 2 }] });
    const reader = createClient({ baseUrl: proxy.url, retry: fastRetry });
    const seen: string[] = [];
    const caughtUp: number[] = [];
    const sub = reader.subscribe('now', { after: 'now' }, {
      onEvent: (event) => seen.push(`${event.seq}:${event.type}`),
      onLive: (event) => seen.push(`live:${event.type}:${JSON.stringify(event.data)}`),
      onActivity: (activity) => seen.push(`activity:${activity.status}`),
      onCaughtUp: (cursor) => caughtUp.push(cursor),
    });
    try {
      await until(() => caughtUp.length === 1, 'caught up');
      expect(caughtUp).toEqual([2]);
      expect(sub.lastSeq).toBe(2);
      proxy.cutAll();
      await until(() => caughtUp.length === 2, 'caught up again after the cut');
      await writer.appendEvents('now', { events: [{ type: 'new', data: 3 }] });
      await writer.publishLive('now', { type: 'token', data: 'hi' });
      await writer.setActivity('now', { status: 'tool' });
      await until(() => seen.includes('activity:tool'), 'the activity');
      expect(seen.filter((s) => !s.startsWith('activity:idle'))).toEqual(['3:new', 'live:token:"hi"', 'activity:tool']);
    } finally {
      sub.close();
      await sub.closed;
    }
  });

  it('ends with status closed and onError on 404, and on session.deleted', async () => {
    const client = createClient({ baseUrl: t.baseUrl, retry: fastRetry });
    const errors: SessionSyncError[] = [];
    const missing = client.subscribe('no-such', {}, { onError: (error) => errors.push(error) });
    await missing.closed;
    expect(missing.status).toBe('closed');
    expect(errors.map((e) => [e.status, e.code])).toEqual([[404, 'session_not_found']]);

    await client.createSession({ id: 'doomed' });
    const statuses: StreamStatus[] = [];
    const doomed = client.subscribe('doomed', {}, { onError: (error) => errors.push(error), onStatus: (s) => statuses.push(s) });
    await until(() => doomed.status === 'open', 'the stream to open');
    await client.deleteSession('doomed');
    await doomed.closed;
    expect(errors.map((e) => e.code)).toEqual(['session_not_found', 'session_deleted']);
    expect(statuses.at(-1)).toBe('closed');
  });

  it('live: false replays up to the head and ends', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    await client.createSession({ id: 'replay' });
    await client.appendEvents('replay', { events: [{ type: 'x', data: 1 }, { type: 'y', data: 2 }] });
    const types: string[] = [];
    const sub = client.subscribe('replay', { live: false }, { onEvent: (e) => types.push(e.type) });
    await sub.closed;
    expect(types).toEqual(['x', 'y']);
  });
});
