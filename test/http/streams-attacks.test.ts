import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { busyBackends as busyBackendsOf } from '../helpers/postgres.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';
import { metric } from '../helpers/metrics.js';

/**
 * The Durable Streams face under slow, paused, vanished and malicious clients, and at its limits: what
 * pool-under-slow-clients, stream-resources and stream-faults do to the native routes, done to
 * `/v1/stream/*`. Every refusal is a problem document with a stable code on a connection that was
 * answered; no client holds a pool connection, and every stream slot comes back.
 */

const apps: TestApp[] = [];
const sockets = new Set<net.Socket>();
const stopWatching: (() => void)[] = [];

afterEach(async () => {
  for (const stop of stopWatching.splice(0)) stop();
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await Promise.all(apps.splice(0).map((t) => t.close()));
});

/**
 * The MaxListenersExceededWarnings this process emits from now on (the app runs in it): Node's sign of
 * a listener added per request to something they share, which grows with what a client pipelines.
 */
function listenerWarnings(): string[] {
  const seen: string[] = [];
  const onWarning = (warning: Error) => {
    if (warning.name === 'MaxListenersExceededWarning') seen.push(warning.message);
  };
  process.on('warning', onWarning);
  stopWatching.push(() => process.off('warning', onWarning));
  return seen;
}

async function appWith(env: Record<string, string>): Promise<TestApp> {
  const t = await createTestApp({ env: { DB_POOL_MAX: '4', ...env } });
  apps.push(t);
  await t.listen();
  return t;
}

const offset = (seq: number) => `0000000000000000_${String(seq).padStart(16, '0')}`;
const ds = (t: TestApp, path: string, query = '') => `${t.baseUrl}/v1/stream/${path}${query}`;

async function put(t: TestApp, path: string, contentType = 'application/json', body?: string): Promise<void> {
  const res = await fetch(ds(t, path), { method: 'PUT', headers: { 'content-type': contentType }, body });
  expect(res.status, await res.text()).toBe(201);
}

async function nativeSeqs(t: TestApp, id: string): Promise<number[]> {
  const res = await call(t.app, 'GET', `/v1/sessions/${id}/events?limit=1000`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().events.map((e: { seq: number }) => e.seq);
}

const gauge = (t: TestApp, name: string) => metric(t.app, name);
/** MAX_STREAMS slots taken: SSE reads, and long-polls while they wait. */
const openStreams = (t: TestApp) => gauge(t, 'session_sync_open_streams');
/** Bytes of ROWS_MEMORY_BYTES held by pages read for clients and not yet taken by them. */
const rowsMemory = (t: TestApp) => gauge(t, 'session_sync_rows_memory_bytes');

/** A fetch answer that must be a problem document: status, code, and a Retry-After when given. */
async function expectFetchedProblem(res: Response, status: number, code: string): Promise<any> {
  const text = await res.text();
  expect(`${res.status} ${text}`).toMatch(new RegExp(`^${status} `));
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(text);
  expect(problem).toMatchObject({ status, code });
  expect(typeof problem.detail).toBe('string');
  return problem;
}

interface RawClient {
  socket: net.Socket;
  /** What the server sent so far (only once reading: a paused socket takes nothing). */
  answer: () => string;
  read: () => void;
  closed: () => boolean;
}

/** A raw connection sending `head` (the request line and headers, bytes as given) and `body`, then nothing. */
async function rawRequest(t: TestApp, head: Buffer | string, body: Buffer | string = '', read = true): Promise<RawClient> {
  const socket = net.connect({ port: Number(new URL(t.baseUrl).port), host: '127.0.0.1' });
  sockets.add(socket);
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  let closed = false;
  socket.on('error', () => {});
  socket.once('close', () => (closed = true));
  const client: RawClient = {
    socket,
    answer: () => text,
    read: () => socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1'))),
    closed: () => closed,
  };
  socket.write(Buffer.concat([Buffer.isBuffer(head) ? head : Buffer.from(head, 'latin1'), Buffer.from('\r\n'), Buffer.isBuffer(body) ? body : Buffer.from(body)]));
  if (read) client.read();
  return client;
}

const headOf = (method: string, path: string, headers: Record<string, string>) =>
  `${method} ${path} HTTP/1.1\r\nhost: x\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}`;
const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
const codeOf = (raw: string) => /"code":"([a-z_]+)"/.exec(raw)?.[1];

/** Waits for a raw client's whole problem answer; returns "status code". */
async function rawOutcome(client: RawClient, timeoutMs = 10_000): Promise<string> {
  await expect.poll(() => codeOf(client.answer()) !== undefined, { timeout: timeoutMs, interval: 25 }).toBe(true);
  expect(client.answer()).toMatch(/\r\ncontent-type: application\/problem\+json/i);
  return `${statusOf(client.answer())} ${codeOf(client.answer())}`;
}

const busyBackends = (t: TestApp) => busyBackendsOf(t.url);

/** No backend busy, and as many ordinary requests at once as the pool holds are all answered. */
async function expectPoolWhole(t: TestApp): Promise<void> {
  await expect.poll(() => busyBackends(t), { timeout: 5000, interval: 100 }).toEqual([]);
  const answers = await Promise.all(
    Array.from({ length: t.config.dbPoolMax }, () => fetch(`${t.baseUrl}/v1/stream/bystander`, { method: 'HEAD', signal: AbortSignal.timeout(10_000) })),
  );
  expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
}

describe('MAX_STREAMS on the face', () => {
  it('reached: SSE and a waiting long-poll are a readable 503 too_many_streams with Retry-After; a long-poll with data is served; slots come back', async () => {
    const t = await appWith({ MAX_STREAMS: '2', STREAM_LONG_POLL_MS: '20000' });
    await put(t, 'bystander');
    await put(t, 'full', 'application/json', '[{"n":1}]');
    const held = await Promise.all([SseClient.open(ds(t, 'full', '?live=sse&offset=now')), SseClient.open(ds(t, 'full', '?live=sse&offset=now'))]);
    try {
      expect(held.map((c) => c.status)).toEqual([200, 200]);
      const sse = await fetch(ds(t, 'full', '?live=sse&offset=-1'));
      await expectFetchedProblem(sse, 503, 'too_many_streams');
      expect(sse.headers.get('retry-after')).toMatch(/^\d+$/);
      const waiting = await fetch(ds(t, 'full', `?live=long-poll&offset=${offset(1)}`));
      await expectFetchedProblem(waiting, 503, 'too_many_streams');
      expect(waiting.headers.get('retry-after')).toMatch(/^\d+$/);
      // The face's own headers are on the refusal too.
      expect(waiting.headers.get('x-content-type-options')).toBe('nosniff');
      // Data at once takes no slot.
      const served = await fetch(ds(t, 'full', '?live=long-poll&offset=-1'));
      expect(served.status).toBe(200);
      expect(await served.json()).toEqual([{ n: 1 }]);
      // A refusal on a raw connection is answered, and the connection stays usable.
      const raw = await rawRequest(t, headOf('GET', `/v1/stream/full?live=sse&offset=-1`, {}));
      expect(await rawOutcome(raw)).toBe('503 too_many_streams');
      expect(raw.closed()).toBe(false);
    } finally {
      await Promise.all(held.map((c) => c.close()));
    }
    await expect.poll(() => openStreams(t)).toBe(0);
    const again = await Promise.all([SseClient.open(ds(t, 'full', '?live=sse&offset=now')), SseClient.open(ds(t, 'full', '?live=sse&offset=now'))]);
    expect(again.map((c) => c.status)).toEqual([200, 200]);
    await Promise.all(again.map((c) => c.close()));
  });
});

describe('readers that vanish or stop reading', () => {
  it('vanished SSE and long-poll readers give their slots back at once (not at the long-poll timeout) and hold no connection', async () => {
    const t = await appWith({ MAX_STREAMS: '6', STREAM_LONG_POLL_MS: '60000' });
    await put(t, 'bystander');
    await put(t, 'gone', 'application/json', '[{"n":1}]');
    const readers = await Promise.all([
      ...Array.from({ length: 3 }, () => rawRequest(t, headOf('GET', '/v1/stream/gone?live=sse&offset=-1', {}))),
      ...Array.from({ length: 3 }, () => rawRequest(t, headOf('GET', `/v1/stream/gone?live=long-poll&offset=${offset(1)}`, {}))),
    ]);
    await expect.poll(() => openStreams(t)).toBe(6);
    const refused = await fetch(ds(t, 'gone', '?live=sse&offset=now'));
    await expectFetchedProblem(refused, 503, 'too_many_streams');
    for (const reader of readers) reader.socket.destroy();
    // Below the 15 s heartbeat, whose write would find the SSE sockets gone anyway, and the 60 s long-poll timeout.
    await expect.poll(() => openStreams(t), { timeout: 10_000 }).toBe(0);
    await expectPoolWhole(t);
    // And the slots serve new readers, who still get what is appended.
    const fresh = await SseClient.open(ds(t, 'gone', '?live=sse&offset=now'));
    try {
      expect(fresh.status).toBe(200);
      const appended = await fetch(ds(t, 'gone'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":2}' });
      expect(appended.status).toBe(204);
      await fresh.waitFor(() => fresh.ofType('data').length === 1, 'the data event');
      expect(fresh.ofType('data')[0]?.json).toEqual([{ n: 2 }]);
    } finally {
      await fresh.close();
    }
  });

  it('paused SSE readers hold no connection, give their memory up when others wait for it, and their slots at the drain timeout', async () => {
    // Pages of 128 KiB, each held twice over until sent: four paused readers hold the whole 1 MiB row budget.
    const t = await appWith({
      MAX_STREAMS: '8',
      STREAM_LONG_POLL_MS: '60000',
      MAX_EVENT_BYTES: String(64 * 1024),
      EVENTS_PAGE_BYTES: String(128 * 1024),
      ROWS_MEMORY_BYTES: String(1024 * 1024),
    });
    await put(t, 'bystander');
    await put(t, 'flood', 'application/json');
    // A history far larger than the socket buffers between a paused reader and the server (several MB on loopback).
    const message = JSON.stringify({ blob: 'x'.repeat(60_000) });
    for (let i = 0; i < 8; i++) {
      const res = await fetch(ds(t, 'flood'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: `[${Array(32).fill(message).join(',')}]` });
      expect(res.status, await res.text()).toBe(204);
    }
    // They never read a byte: TCP stops the server's writes once the buffers are full, and each waits holding a page.
    const paused = await Promise.all(Array.from({ length: 4 }, () => rawRequest(t, headOf('GET', '/v1/stream/flood?live=sse&offset=-1', {}), '', false)));
    await expect.poll(() => openStreams(t)).toBe(4);
    // Meanwhile nothing of theirs sits on a pool connection, and the API answers.
    await expectPoolWhole(t);
    // A reader that does read gets the whole history: the paused ones give way (after a second, not the 30 s drain timeout).
    const started = Date.now();
    const reader = await SseClient.open(ds(t, 'flood', '?live=sse&offset=-1'));
    try {
      expect(reader.status).toBe(200);
      await reader.waitFor(() => reader.ofType('data').reduce((n, m) => n + (m.json as unknown[]).length, 0) === 256, 'the whole history', 15_000);
      expect(Date.now() - started).toBeLessThan(10_000);
      // Those still paused are cut once they took nothing for 30 s (DRAIN_TIMEOUT_MS, sse.ts).
      expect(await openStreams(t)).toBeLessThanOrEqual(4);
    } finally {
      await reader.close();
    }
    await expect.poll(() => openStreams(t), { timeout: 35_000, interval: 500 }).toBe(0);
    await expectPoolWhole(t);
    // A paused socket sees its end once it reads what came before it.
    for (const client of paused) client.read();
    await expect.poll(() => paused.every((client) => client.closed()), { timeout: 5000 }).toBe(true);
  }, 60_000);

  it('a paused SSE reader cut for holding memory others wait for counts as a slow disconnect on /metrics; a reader that leaves does not', async () => {
    // A live read reserves two pages (EVENTS_PAGE_BYTES), all of ROWS_MEMORY_BYTES: a paused reader holding its page
    // makes every other reader wait for room.
    const t = await appWith({ MAX_EVENT_BYTES: String(64 * 1024), EVENTS_PAGE_BYTES: String(512 * 1024), ROWS_MEMORY_BYTES: String(1024 * 1024) });
    await put(t, 'slow-flood');
    // A history far larger than the socket buffers between a paused reader and the server (several MB on loopback).
    const message = JSON.stringify({ blob: 'x'.repeat(60_000) });
    for (let i = 0; i < 8; i++) {
      const res = await fetch(ds(t, 'slow-flood'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: `[${Array(32).fill(message).join(',')}]` });
      expect(res.status, await res.text()).toBe(204);
    }
    const slowDisconnects = () => gauge(t, 'session_sync_stream_slow_disconnects_total');
    expect(await slowDisconnects()).toBe(0);
    await rawRequest(t, headOf('GET', '/v1/stream/slow-flood?live=sse&offset=-1', {}), '', false);
    await expect.poll(() => openStreams(t)).toBe(1);
    // A reader that reads waits for the room the paused one holds: that one is cut (after a second), and counted.
    const reader = await SseClient.open(ds(t, 'slow-flood', '?live=sse&offset=-1'));
    try {
      await expect.poll(() => slowDisconnects(), { timeout: 15_000 }).toBe(1);
      await reader.waitFor(() => reader.ofType('data').reduce((n, m) => n + (m.json as unknown[]).length, 0) === 256, 'the whole history', 15_000);
    } finally {
      await reader.close();
    }
    // Its slot is given back where its close is counted, if it were: once the slot is back, nothing more is to come.
    await expect.poll(() => openStreams(t)).toBe(0);
    expect(await slowDisconnects()).toBe(1);
  }, 40_000);

  for (const [kind, path] of [
    ['catch-up', '/v1/stream/pages?offset=-1'],
    ['long-poll', '/v1/stream/pages?live=long-poll&offset=-1'],
    // The native history read holds its page the same way.
    ['native events', '/v1/sessions/pages/events'],
  ] as const) {
  it(`${kind} readers that pipeline large pages, stop reading and vanish: their queued requests give their place up at once; no pool connection held`, async () => {
    // 256 KiB reserved per page (two pages' worth): four stuck readers hold the whole 1 MiB row budget.
    const t = await appWith({ MAX_EVENT_BYTES: String(64 * 1024), EVENTS_PAGE_BYTES: String(128 * 1024), ROWS_MEMORY_BYTES: String(1024 * 1024) });
    await put(t, 'bystander');
    await put(t, 'pages', 'application/json');
    const message = JSON.stringify({ blob: 'x'.repeat(60_000) });
    const res = await fetch(ds(t, 'pages'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: `[${Array(32).fill(message).join(',')}]` });
    expect(res.status).toBe(204);
    // Each asks for the same large page many times over on one connection (pipelined), and reads none of it:
    // once the socket buffers are full, one page waits unsent and the rest wait in the row budget's queue.
    const warnings = listenerWarnings();
    const request = headOf('GET', path, {});
    const stuck = await Promise.all(Array.from({ length: 4 }, () => rawRequest(t, request, `\r\n${request}`.repeat(80).slice(2) + '\r\n', false)));
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await expect.poll(() => busyBackends(t), { timeout: 5000, interval: 100 }).toEqual([]);
    // Those waiting in the queue wait on their connection's close: one listener for all of a connection's.
    expect(warnings).toEqual([]);
    for (const client of stuck) client.socket.destroy();
    // A reader that reads is served at once (milliseconds), not after the vanished connections' queued reads (over
    // 10 s when they kept their places): 5 s leaves a loaded machine its slowness and still tells the two apart.
    const started = Date.now();
    const page = await fetch(ds(t, 'pages', '?offset=-1'), { signal: AbortSignal.timeout(10_000) });
    expect(page.status).toBe(200);
    expect(((await page.json()) as unknown[]).length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(5000);
    await expectPoolWhole(t);
    await expect.poll(() => rowsMemory(t)).toBe(0);
  });
  }

  it('paused long-poll readers answered with a large page give their slots back and hold no connection', async () => {
    const t = await appWith({ MAX_STREAMS: '4', STREAM_LONG_POLL_MS: '60000' });
    await put(t, 'bystander');
    await put(t, 'lp', 'application/json', '[{"n":0}]');
    const paused = await Promise.all(
      Array.from({ length: 4 }, () => rawRequest(t, headOf('GET', `/v1/stream/lp?live=long-poll&offset=${offset(1)}`, {}), '', false)),
    );
    await expect.poll(() => openStreams(t)).toBe(4);
    const message = JSON.stringify({ blob: 'x'.repeat(60_000) });
    const res = await fetch(ds(t, 'lp'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: `[${Array(16).fill(message).join(',')}]` });
    expect(res.status).toBe(204);
    // Well below the 60 s long-poll timeout.
    await expect.poll(() => openStreams(t), { timeout: 10_000 }).toBe(0);
    await expectPoolWhole(t);
    for (const client of paused) client.read();
    await expect.poll(() => paused.map((client) => statusOf(client.answer()))).toEqual([200, 200, 200, 200]);
  });
});

describe('requests pipelined on one connection', () => {
  /** `n` copies of a GET, sent back to back. */
  const gets = (path: string, n: number) => `${headOf('GET', path, {})}\r\n`.repeat(n);
  const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

  it('fifty long-polls: no listener warning; one append answers each, in order; fifty more are freed at once when the connection closes', async () => {
    const warnings = listenerWarnings();
    const t = await appWith({ STREAM_LONG_POLL_MS: '60000' });
    await put(t, 'bystander');
    await put(t, 'piped', 'application/json', '[{"n":1}]');
    const poll = (seq: number) => `/v1/stream/piped?live=long-poll&offset=${offset(seq)}`;
    const client = await rawRequest(t, headOf('GET', poll(1), {}), gets(poll(1), 49));
    // Every one waits at the tail, each holding a slot.
    await expect.poll(() => openStreams(t)).toBe(50);
    expect(warnings).toEqual([]);
    const appended = await fetch(ds(t, 'piped'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":2}' });
    expect(appended.status).toBe(204);
    await expect.poll(() => count(client.answer(), /HTTP\/1\.1 \d{3} /g)).toBe(50);
    expect(count(client.answer(), /HTTP\/1\.1 200 OK\r\n/g)).toBe(50);
    expect(count(client.answer(), /\r\n\r\n\[\{"n":2\}\]/g)).toBe(50);
    await expect.poll(() => openStreams(t)).toBe(0);
    await expect.poll(() => rowsMemory(t)).toBe(0);
    // The same connection asks again; it closes while they wait: each gives its slot back at once (not at the 60 s timeout).
    client.socket.write(gets(poll(2), 50));
    await expect.poll(() => openStreams(t)).toBe(50);
    expect(warnings).toEqual([]);
    client.socket.destroy();
    await expect.poll(() => openStreams(t)).toBe(0);
    expect(await rowsMemory(t)).toBe(0);
    await expectPoolWhole(t);
    expect(warnings).toEqual([]);
  });

  it('a page read pipelined behind a waiting long-poll gives its memory back when the connection closes, not after the stalled-client timeout', async () => {
    const t = await appWith({ STREAM_LONG_POLL_MS: '60000' });
    await put(t, 'bystander');
    await put(t, 'queued', 'application/json', JSON.stringify([{ blob: 'x'.repeat(10_000) }]));
    // The long-poll holds the connection; the page read behind it is answered, but its answer waits its turn.
    const client = await rawRequest(t, headOf('GET', `/v1/stream/queued?live=long-poll&offset=${offset(1)}`, {}), gets('/v1/stream/queued?offset=-1', 1));
    await expect.poll(() => openStreams(t)).toBe(1);
    await expect.poll(() => rowsMemory(t)).toBeGreaterThan(10_000);
    client.socket.destroy();
    // Below the 30 s after which a client that takes nothing is cut (STALLED_CLIENT_MS).
    await expect.poll(() => rowsMemory(t), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => openStreams(t)).toBe(0);
    await expectPoolWhole(t);
  });

  for (const [kind, path] of [
    ['Durable Streams SSE', '/v1/stream/sse?live=sse&offset=now'],
    ['native SSE', '/v1/sessions/sse/stream?after=now'],
  ] as const) {
    it(`${kind} reads pipelined behind an open one: closing the connection frees every slot, the queued ones' too`, async () => {
      const warnings = listenerWarnings();
      const t = await appWith({});
      await put(t, 'bystander');
      await put(t, 'sse', 'application/json');
      const client = await rawRequest(t, headOf('GET', path, {}), gets(path, 19));
      await expect.poll(() => openStreams(t)).toBe(20);
      // One stream is on the connection; the others wait behind it, each admitted.
      await expect.poll(() => count(client.answer(), /HTTP\/1\.1 200 OK\r\n/g)).toBe(1);
      client.socket.destroy();
      // Below the face's 60 s SSE lifetime; a native stream has none.
      await expect.poll(() => openStreams(t), { timeout: 10_000 }).toBe(0);
      await expectPoolWhole(t);
      expect(warnings).toEqual([]);
    });
  }
});

describe('request bodies at and past MAX_BODY_BYTES', () => {
  const LIMIT = 64 * 1024;
  const env = { MAX_BODY_BYTES: String(LIMIT), MAX_EVENT_BYTES: String(LIMIT) };
  /** A JSON message (one string) of exactly `bytes` bytes. */
  const messageOf = (bytes: number) => JSON.stringify('y'.repeat(bytes - 2));

  it('exactly at the limit is taken; one byte past is a readable 413 payload_too_large and appends nothing', async () => {
    const t = await appWith(env);
    await put(t, 'limit');
    const at = await fetch(ds(t, 'limit'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: messageOf(LIMIT) });
    expect(at.status, await at.text()).toBe(204);
    const past = await fetch(ds(t, 'limit'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: messageOf(LIMIT + 1) });
    const problem = await expectFetchedProblem(past, 413, 'payload_too_large');
    expect(problem.detail).toContain('MAX_BODY_BYTES');
    // Far past it (the client still sending when the answer comes): answered, not reset.
    const far = await fetch(ds(t, 'limit'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: messageOf(8 * LIMIT) });
    await expectFetchedProblem(far, 413, 'payload_too_large');
    // A PUT's first message counts the same.
    const created = await fetch(ds(t, 'limit-put'), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: messageOf(LIMIT + 1) });
    await expectFetchedProblem(created, 413, 'payload_too_large');
    expect((await fetch(ds(t, 'limit-put'), { method: 'HEAD' })).status).toBe(404);
    expect(await nativeSeqs(t, 'limit')).toEqual([1]);
  });

  it('a chunked body (no Content-Length) past the limit, and one declared past it that stops halfway, are answered 413', async () => {
    const t = await appWith(env);
    await put(t, 'chunked');
    const chunk = messageOf(LIMIT + 100);
    const chunked = await rawRequest(
      t,
      headOf('POST', '/v1/stream/chunked', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }),
      `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    expect(await rawOutcome(chunked)).toBe('413 payload_too_large');
    const stalled = await rawRequest(t, headOf('POST', '/v1/stream/chunked', { 'content-type': 'application/json', 'content-length': String(10 * LIMIT) }), 'x'.repeat(LIMIT));
    expect(await rawOutcome(stalled)).toBe('413 payload_too_large');
    expect(await nativeSeqs(t, 'chunked')).toEqual([]);
  });

  it('a byte stream append is one event: its base64 must fit MAX_EVENT_BYTES, else 413 payload_too_large', async () => {
    const t = await appWith(env);
    await put(t, 'octets', 'application/octet-stream');
    // {"base64":"..."} around 4/3 of the bytes.
    const fits = Math.floor((LIMIT - 13) / 4) * 3;
    const ok = await fetch(ds(t, 'octets'), { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(fits, 1) });
    expect(ok.status, await ok.text()).toBe(204);
    const over = await fetch(ds(t, 'octets'), { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(fits + 3, 1) });
    await expectFetchedProblem(over, 413, 'payload_too_large');
    expect(await nativeSeqs(t, 'octets')).toEqual([1]);
  });
});

describe('slow uploads', () => {
  it('a body trickled byte by byte is cut at REQUEST_TIMEOUT_MS with 408 request_timeout; nothing appended, nothing held', async () => {
    const t = await appWith({ REQUEST_TIMEOUT_MS: '1000' });
    await put(t, 'bystander');
    await put(t, 'slow');
    const body = JSON.stringify({ text: 'z'.repeat(200) });
    const uploads = await Promise.all(
      Array.from({ length: 6 }, () => rawRequest(t, headOf('POST', '/v1/stream/slow', { 'content-type': 'application/json', 'content-length': String(body.length) }), body.slice(0, 1))),
    );
    let sent = 1;
    const trickle = setInterval(() => {
      for (const upload of uploads) if (!upload.closed()) upload.socket.write(body.slice(sent, sent + 1));
      sent++;
    }, 50);
    try {
      // Meanwhile the API answers (the six hold no pool connection while their bodies come).
      await expectPoolWhole(t);
      const started = Date.now();
      const outcomes = await Promise.all(uploads.map((upload) => rawOutcome(upload, 8000)));
      expect(outcomes).toEqual(Array(6).fill('408 request_timeout'));
      // Cut at the 1 s timeout, with room for a loaded machine: the trickle would end the bodies only after 10 s.
      expect(Date.now() - started).toBeLessThan(5000);
      expect(uploads[0]!.answer()).toContain('REQUEST_TIMEOUT_MS');
      await expect.poll(() => uploads.every((upload) => upload.closed())).toBe(true);
    } finally {
      clearInterval(trickle);
    }
    expect(await nativeSeqs(t, 'slow')).toEqual([]);
    await expectPoolWhole(t);
  });
});

describe('paths and headers at their bounds', () => {
  it('a path whose id is 128 characters is a stream; one of 129, or one far longer, is 400 invalid_stream_path', async () => {
    const t = await appWith({});
    const longest = `${'a'.repeat(60)}/${'b'.repeat(67)}`;
    expect(longest.replace('/', ':')).toHaveLength(128);
    await put(t, longest, 'text/plain', 'hi');
    const read = await fetch(ds(t, longest, '?offset=-1'));
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('hi');
    expect((await call(t.app, 'GET', `/v1/sessions/${longest.replace('/', ':')}`)).statusCode).toBe(200);
    for (const path of [`${longest}c`, 'x'.repeat(129), `${'s/'.repeat(1500)}end`, 'q'.repeat(4000)]) {
      for (const method of ['PUT', 'POST', 'GET', 'HEAD'] as const) {
        const res = await t.app.inject({ method, url: `/v1/stream/${path}`, headers: { 'content-type': 'text/plain' }, ...(method === 'POST' ? { payload: 'x' } : {}) });
        if (method === 'HEAD') expect(res.statusCode, `${method} ${path.length}`).toBe(400);
        else expectProblem(res, 400, 'invalid_stream_path');
      }
    }
  });

  it('a path under __ds/, which the protocol keeps for its control APIs (PROTOCOL 6), is 400 invalid_stream_path and creates nothing', async () => {
    const t = await appWith({});
    for (const path of ['__ds/x', '__ds/a/b']) {
      const refused = expectProblem(await t.app.inject({ method: 'PUT', url: `/v1/stream/${path}`, headers: { 'content-type': 'text/plain' } }), 400, 'invalid_stream_path');
      expect(refused.detail).toBe(`stream path ${JSON.stringify(path)} starts with __ds/, which the protocol reserves`);
    }
    // Only as the first segment: elsewhere it is a name like another.
    expect((await t.app.inject({ method: 'PUT', url: '/v1/stream/team/__ds', headers: { 'content-type': 'text/plain' } })).statusCode).toBe(201);
  });

  it('a malformed %-escape in a stream path (%zz, a cut UTF-8 sequence) is 400 invalid_stream_path naming the path, on a connection that stays open', async () => {
    const t = await appWith({});
    await put(t, 'bystander');
    const bad = ['a%zz', '%E0%A4%A', 'team/chat%', 'a%2', '%'];
    for (const path of bad) {
      for (const method of ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'] as const) {
        const res = await t.app.inject({ method, url: `/v1/stream/${path}?offset=-1`, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { payload: '{}' } : {}) });
        if (method === 'HEAD') {
          expect(res.statusCode, `${method} ${path}`).toBe(400);
          continue;
        }
        const problem = expectProblem(res, 400, 'invalid_stream_path');
        // The path as sent, without the query: the part of the request to fix.
        expect(problem.path, `${method} ${path}`).toBe(path);
        expect(problem.detail).toBe(`stream path ${JSON.stringify(path)} has a %: a stream path is letters, digits, . _ - and / as they are, never %-escaped`);
      }
    }
    // A well-formed escape is refused alike (it is never decoded into another path).
    expect(expectProblem(await t.app.inject({ method: 'PUT', url: '/v1/stream/a%41' }), 400, 'invalid_stream_path').detail).toContain('has a %');
    // Elsewhere the router's refusal stays the generic one.
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/sessions/a%zz' }), 400, 'invalid_request');
    // Over a real connection: answered, then the next request on it is too.
    const client = await rawRequest(t, headOf('GET', '/v1/stream/a%zz?offset=-1', {}), `${headOf('HEAD', '/v1/stream/bystander', {})}\r\n`);
    await expect.poll(() => (client.answer().match(/HTTP\/1\.1 \d{3} /g) ?? []).length).toBe(2);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(client.answer()).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    expect(codeOf(client.answer())).toBe('invalid_stream_path');
    expect(client.answer()).toMatch(/HTTP\/1\.1 200 OK\r\n[^]*stream-next-offset: /i);
    expect(client.closed()).toBe(false);
    await expectPoolWhole(t);
  });

  it('a request target in absolute-form (RFC 9112 §3.2.2) names the stream of its path, as the router routes it', async () => {
    const t = await appWith({});
    await put(t, 'bystander');
    const send = async (method: string, target: string, headers: Record<string, string>, body = '') => {
      const client = await rawRequest(t, headOf(method, target, { ...headers, 'content-length': String(body.length), connection: 'close' }), body);
      await expect.poll(() => client.closed(), { timeout: 5000 }).toBe(true);
      return client.answer();
    };
    const created = await send('PUT', 'http://x/v1/stream/absolute/one', { 'content-type': 'text/plain' }, 'a');
    expect(statusOf(created), created).toBe(201);
    // Where the stream is, not the target as sent again.
    expect(created).toMatch(/\r\nlocation: http:\/\/x\/v1\/stream\/absolute\/one\r\n/i);
    expect(created).toMatch(/\r\ncross-origin-resource-policy: cross-origin\r\n/i);
    expect(statusOf(await send('POST', 'HTTP://x:80/v1/stream/absolute/one?ignored=1', { 'content-type': 'text/plain' }, 'b'))).toBe(204);
    const read = await send('GET', 'https://x/v1/stream/absolute/one?offset=-1', {});
    expect(statusOf(read), read).toBe(200);
    expect(read.endsWith('\r\n\r\nab')).toBe(true);
    // Its path is refused as the same path in origin-form is, naming it.
    const escaped = await send('PUT', 'http://x/v1/stream/a%zz', {});
    expect(`${statusOf(escaped)} ${codeOf(escaped)}`).toBe('400 invalid_stream_path');
    expect(JSON.parse(escaped.slice(escaped.indexOf('\r\n\r\n') + 4)).path).toBe('a%zz');
    expect(await nativeSeqs(t, 'absolute:one')).toEqual([1, 2]);
  });

  it('a protocol header sent twice is 400 naming it, not its two lines joined into one value', async () => {
    const t = await appWith({});
    await put(t, 'bystander');
    await put(t, 'twice', 'text/plain');
    // Node hands a repeated field over as one value, "3, 4": a Stream-Seq or Producer-Id that no client sent.
    const send = async (head: string, body = '') => {
      const client = await rawRequest(t, `${head}content-length: ${body.length}\r\nconnection: close\r\n`, body);
      await expect.poll(() => client.closed(), { timeout: 5000 }).toBe(true);
      const answer = client.answer();
      return { status: statusOf(answer), body: JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4) || 'null') };
    };
    const refusal = (name: string) => ({
      status: 400,
      body: expect.objectContaining({
        code: 'invalid_request',
        detail: `${name} is given more than once`,
        errors: [{ in: 'headers', field: `/${name}`, message: 'is given more than once' }],
      }),
    });
    const append = 'POST /v1/stream/twice HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\n';
    expect(await send(`${append}Stream-Seq: 3\r\nStream-Seq: 4\r\n`, 'a')).toEqual(refusal('stream-seq'));
    const producer = 'Producer-Epoch: 0\r\nProducer-Seq: 0\r\n';
    expect(await send(`${append}Producer-Id: a\r\n${producer}Producer-Id: b\r\n`, 'a')).toEqual(refusal('producer-id'));
    expect(await send('PUT /v1/stream/twice-ttl HTTP/1.1\r\nhost: x\r\nStream-TTL: 60\r\nstream-ttl: 60\r\n')).toEqual(refusal('stream-ttl'));
    // Once each, the same headers are taken.
    expect((await send(`${append}Stream-Seq: 3\r\nProducer-Id: a\r\n${producer}`, 'b')).status).toBe(200);
    expect(await nativeSeqs(t, 'twice')).toEqual([1]);
    expect((await call(t.app, 'GET', '/v1/sessions/twice-ttl')).statusCode).toBe(404);
  });

  it('Stream-Seq orders bytes, whatever their length: 2^53-1 then 2^53 pass, then 10 is 409; a long value is taken', async () => {
    const t = await appWith({});
    await put(t, 'seq');
    const post = (seq: string) =>
      t.app.inject({ method: 'POST', url: '/v1/stream/seq', headers: { 'content-type': 'application/json', 'stream-seq': seq }, payload: '{"n":1}' });
    expect((await post('9007199254740991')).statusCode).toBe(204);
    expect((await post('9007199254740992')).statusCode).toBe(204);
    expectProblem(await post('10'), 409, 'stream_seq_conflict');
    expectProblem(await post('9007199254740992'), 409, 'stream_seq_conflict');
    // Byte order, not number order: 'A' (0x41) is past '9' (0x39), however long what follows.
    expect((await post(`A${'0'.repeat(8000)}`)).statusCode).toBe(204);
    expect(await nativeSeqs(t, 'seq')).toEqual([1, 2, 3]);
  });

  it('producer epoch and seq: 2^53-1 is taken, 2^53 is 400 invalid_request; a seq of 2^53-1 in a new epoch is a gap', async () => {
    const t = await appWith({});
    await put(t, 'prod');
    const post = (epoch: string, seq: string, id = 'p') =>
      t.app.inject({
        method: 'POST',
        url: '/v1/stream/prod',
        headers: { 'content-type': 'application/json', 'producer-id': id, 'producer-epoch': epoch, 'producer-seq': seq },
        payload: '{"n":1}',
      });
    const MAX = '9007199254740991';
    const PAST = '9007199254740992';
    const first = await post(MAX, '0');
    expect(first.statusCode, first.body).toBe(200);
    expect(first.headers['producer-epoch']).toBe(MAX);
    expectProblem(await post(PAST, '0'), 400, 'invalid_request');
    expectProblem(await post(MAX, PAST), 400, 'invalid_request');
    const gap = await post(MAX, MAX);
    expectProblem(gap, 409, 'producer_seq_gap');
    expect(gap.headers['producer-expected-seq']).toBe('1');
    expect(gap.headers['producer-received-seq']).toBe(MAX);
    const stale = await post('0', '0');
    expectProblem(stale, 403, 'producer_epoch_stale');
    expect(stale.headers['producer-epoch']).toBe(MAX);
    expectProblem(await post('0', '0', 'i'.repeat(257)), 400, 'invalid_request');
    expect((await post('0', '0', 'i'.repeat(256))).statusCode).toBe(200);
    expect(await nativeSeqs(t, 'prod')).toEqual([1, 2]);
  });

  it('requests Node cannot parse (control bytes in a header, a bad or doubled Content-Length, a raw byte in the path, huge headers) get a problem document, then the connection closes', async () => {
    const t = await appWith({});
    await put(t, 'bystander');
    await put(t, 'parse');
    const cases: [string, string, number][] = [
      ['a NUL in Stream-Seq', 'POST /v1/stream/parse HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1\r\nstream-seq: a\x00b\r\n\r\n1', 400],
      ['a DEL in Producer-Id', 'POST /v1/stream/parse HTTP/1.1\r\nhost: x\r\nproducer-id: a\x7fb\r\n\r\n', 400],
      ['Content-Length not a number', 'POST /v1/stream/parse HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n', 400],
      ['two Content-Lengths', 'POST /v1/stream/parse HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab', 400],
      ['raw bytes 0xFF 0xFE in the path', 'GET /v1/stream/\xff\xfe?offset=-1 HTTP/1.1\r\nhost: x\r\n\r\n', 400],
      ['headers past 16 KiB', `GET /v1/stream/parse?offset=-1 HTTP/1.1\r\nhost: x\r\nstream-seq: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ];
    const details: string[] = [];
    for (const [what, request, status] of cases) {
      const end = request.indexOf('\r\n\r\n') + 2;
      const client = await rawRequest(t, Buffer.from(request.slice(0, end), 'latin1'), Buffer.from(request.slice(end + 2), 'latin1'));
      await expect.poll(() => client.closed(), { timeout: 3000 }).toBe(true);
      const answer = client.answer();
      expect(`${what}: ${statusOf(answer)} ${codeOf(answer)}`).toBe(`${what}: ${status} invalid_request`);
      expect(answer, what).toMatch(/\r\ncontent-type: application\/problem\+json/i);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
      expect(body).toMatchObject({ status, code: 'invalid_request', type: 'urn:session-sync:problem:invalid_request' });
      expect(typeof body.detail).toBe('string');
      details.push(body.detail);
    }
    expect(details[0]).toMatch(/^the request is not valid HTTP\/1\.1 \(.+\); nothing was done$/);
    expect(await nativeSeqs(t, 'parse')).toEqual([]);
    await expectPoolWhole(t);
  });

  it('header values that are not UTF-8: Stream-Seq ordered by their bytes, a Producer-Id kept as sent, a Content-Type refused readably', async () => {
    const t = await appWith({});
    await put(t, 'bystander');
    await put(t, 'bytes');
    const post = (headers: Buffer) =>
      rawRequest(t, Buffer.concat([Buffer.from('POST /v1/stream/bytes HTTP/1.1\r\nhost: x\r\ncontent-length: 7\r\nconnection: close\r\n', 'latin1'), headers]), '{"n":1}');
    const latin1 = (text: string) => Buffer.from(text, 'latin1');
    const answered = async (client: RawClient) => {
      await expect.poll(() => client.closed(), { timeout: 5000 }).toBe(true);
      return client.answer();
    };
    // 0xFF sorts after every ASCII byte; 0xFE before 0xFF.
    expect(statusOf(await answered(await post(latin1('content-type: application/json\r\nstream-seq: z\r\n'))))).toBe(204);
    expect(statusOf(await answered(await post(latin1('content-type: application/json\r\nstream-seq: \xff\x80\r\n'))))).toBe(204);
    const regressed = await answered(await post(latin1('content-type: application/json\r\nstream-seq: \xfe\r\n')));
    expect(`${statusOf(regressed)} ${codeOf(regressed)}`).toBe('409 stream_seq_conflict');
    // A producer named by bytes that are not UTF-8: the same bytes are the same producer.
    const producer = latin1('content-type: application/json\r\nproducer-id: \xc3\x28\xff\r\nproducer-epoch: 0\r\nproducer-seq: 0\r\n');
    expect(statusOf(await answered(await post(producer)))).toBe(200);
    expect(statusOf(await answered(await post(producer)))).toBe(204);
    // Not a media type at all (a byte no token may hold): refused as one, before the stream is looked at.
    const mismatch = await answered(await post(latin1('content-type: application/json\xff\r\n')));
    expect(`${statusOf(mismatch)} ${codeOf(mismatch)}`).toBe('415 unsupported_media_type');
    expect(mismatch).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    // Every answer was whole, and the stream holds the three appends.
    expect(await nativeSeqs(t, 'bytes')).toEqual([1, 2, 3]);
    await expectPoolWhole(t);
  });
});
