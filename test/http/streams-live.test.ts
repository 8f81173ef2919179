import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';
import { SseClient } from '../helpers/sse.js';
import { until } from '../helpers/waits.js';
import { encodeNotification, WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { metric } from '../helpers/metrics.js';

// The Durable Streams face, slice 2 (issue 28): long-poll and SSE reads wait on the session's tail.
/** Far longer than any wait below: a long-poll answered sooner was answered by an append, a close or a read, never by its timeout. */
const LONG_POLL_MS = 20_000;
/** The timeout of `short`, the instance whose timeout answers are waited for. */
const SHORT_POLL_MS = 1500;
let t: TestApp;
let other: TestApp;
let short: TestApp;

const env = { STREAM_LONG_POLL_MS: String(LONG_POLL_MS), STREAM_HEAD_POLL_MS: '60000' };

beforeAll(async () => {
  t = await createTestApp({ env });
  await t.listen();
  // A second instance on the same database: its readers learn of the first one's appends by LISTEN only.
  other = await createTestApp({ databaseUrl: t.url, env });
  await other.listen();
  short = await createTestApp({ databaseUrl: t.url, env: { ...env, STREAM_LONG_POLL_MS: String(SHORT_POLL_MS) } });
  await short.listen();
});
afterAll(async () => {
  await short?.close();
  await other?.close();
  await t?.close();
});

const offset = (seq: number) => `0000000000000000_${String(seq).padStart(16, '0')}`;
const url = (app: TestApp, path: string, query = '') => `${app.baseUrl}/v1/stream/${path}${query}`;
/** The control events an SSE reader has received, as JSON. */
const controls = (c: SseClient) => c.messages.filter((m) => m.event === 'control').map((m) => m.json);

async function put(path: string, contentType: string, body?: string) {
  const res = await fetch(url(t, path), { method: 'PUT', headers: { 'content-type': contentType }, body });
  expect(res.status).toBe(201);
}
async function post(path: string, contentType: string, body: string | Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(url(t, path), { method: 'POST', headers: { 'content-type': contentType, ...headers }, body });
  expect(res.status, await res.clone().text()).toBe(204);
  return res;
}
async function close(path: string) {
  const res = await fetch(url(t, path), { method: 'POST', headers: { 'stream-closed': 'true' } });
  expect(res.status).toBe(204);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const gauge = (app: TestApp, name: string) => metric(app.app, name);
/** MAX_STREAMS slots taken: SSE reads, and long-polls while they wait. */
const openStreams = (app: TestApp) => gauge(app, 'session_sync_open_streams');
/** Bytes of ROWS_MEMORY_BYTES held by pages read for clients and not yet taken by them. */
const rowsMemory = (app: TestApp) => gauge(app, 'session_sync_rows_memory_bytes');
/** Page queries made by /v1/stream reads (readers of one page at one moment share one). */
const faceReads = (app: TestApp) => gauge(app, 'session_sync_stream_face_reads_total');
/** Reads of native subscribers' shared tails: one starts on each wakeup of a tail with a subscriber joined. */
const tailReads = (app: TestApp) => gauge(app, 'session_sync_stream_tail_reads_total');

/** Waits until `app` holds `count` stream slots: a long-poll takes one once it waits at the tail, its position fixed. */
function streamsOpen(app: TestApp, count: number, what: string): Promise<void> {
  return until(async () => (await openStreams(app)) === count, what);
}

describe('long-poll (PROTOCOL 5.7)', () => {
  it('needs an offset; data after it answers at once', async () => {
    await put('lp-1', 'application/json', '[{"n":1}]');
    expect((await fetch(url(t, 'lp-1', '?live=long-poll'))).status).toBe(400);
    const started = Date.now();
    const res = await fetch(url(t, 'lp-1', '?live=long-poll&offset=-1'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([{ n: 1 }]);
    expect(res.headers.get('stream-next-offset')).toBe(offset(1));
    expect(res.headers.get('stream-cursor')).toMatch(/^\d+$/);
    expect(Date.now() - started).toBeLessThan(LONG_POLL_MS);
  });

  it('at the tail waits, then answers 200 with what was appended meanwhile', async () => {
    await put('lp-2', 'application/json', '[{"n":1}]');
    const before = await openStreams(t);
    const started = Date.now();
    const polled = fetch(url(t, 'lp-2', `?live=long-poll&offset=${offset(1)}`));
    await streamsOpen(t, before + 1, 'the long-poll waiting at the tail');
    await post('lp-2', 'application/json', '{"n":2}');
    const res = await polled;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([{ n: 2 }]);
    expect(res.headers.get('stream-next-offset')).toBe(offset(2));
    expect(res.headers.get('stream-up-to-date')).toBe('true');
    expect(Date.now() - started).toBeLessThan(LONG_POLL_MS);
  });

  it('204 after the timeout with the tail offset, up-to-date and a cursor; an echoed cursor gets a larger one', async () => {
    await put('lp-3', 'text/plain', 'x');
    const started = Date.now();
    const res = await fetch(url(short, 'lp-3', `?live=long-poll&offset=${offset(1)}`));
    expect(res.status).toBe(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(SHORT_POLL_MS - 50);
    expect(res.headers.get('stream-next-offset')).toBe(offset(1));
    expect(res.headers.get('stream-up-to-date')).toBe('true');
    expect(res.headers.get('stream-closed')).toBeNull();
    expect(res.headers.get('cache-control')).toBe('no-store');
    const cursor = res.headers.get('stream-cursor') as string;
    expect(cursor).toMatch(/^\d+$/);
    const again = await fetch(url(short, 'lp-3', `?live=long-poll&offset=${offset(1)}&cursor=${cursor}`));
    expect(Number(again.headers.get('stream-cursor'))).toBeGreaterThan(Number(cursor));
  });

  it('offset=now waits for the next append', async () => {
    await put('lp-4', 'application/json', '[{"n":1},{"n":2}]');
    const before = await openStreams(t);
    const started = Date.now();
    const polled = fetch(url(t, 'lp-4', '?live=long-poll&offset=now'));
    // Waiting, so "now" was the tail before the append: an append before it would not be the answer.
    await streamsOpen(t, before + 1, 'the long-poll waiting at the tail');
    await post('lp-4', 'application/json', '{"n":3}');
    const res = await polled;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([{ n: 3 }]);
    // Woken by the append, not found by the read at the deadline (LONG_POLL_MS after the request at the earliest).
    expect(Date.now() - started).toBeLessThan(LONG_POLL_MS);
  });

  it('a closed stream at its tail answers 204 Stream-Closed at once; closing wakes a waiting long-poll', async () => {
    await put('lp-5', 'text/plain', 'a');
    const before = await openStreams(t);
    const started = Date.now();
    const polled = fetch(url(t, 'lp-5', `?live=long-poll&offset=${offset(1)}`));
    await streamsOpen(t, before + 1, 'the long-poll waiting at the tail');
    await close('lp-5');
    const woken = await polled;
    expect(woken.status).toBe(204);
    expect(woken.headers.get('stream-closed')).toBe('true');
    expect(woken.headers.get('cache-control')).toBe('no-store');
    expect(Date.now() - started).toBeLessThan(LONG_POLL_MS);
    const begun = Date.now();
    const atTail = await fetch(url(t, 'lp-5', '?live=long-poll&offset=now'));
    expect(atTail.status).toBe(204);
    expect(atTail.headers.get('stream-closed')).toBe('true');
    expect(atTail.headers.get('stream-next-offset')).toBe(offset(1));
    expect(atTail.headers.get('cache-control')).toBe('no-store');
    expect(Date.now() - begun).toBeLessThan(LONG_POLL_MS / 2);
  });

  it('two instances: a long-poll on one is answered by an append and a close on the other', async () => {
    await put('lp-6', 'application/json', '[]');
    const before = await openStreams(other);
    const polled = fetch(url(other, 'lp-6', `?live=long-poll&offset=${offset(0)}`));
    await streamsOpen(other, before + 1, 'the long-poll waiting at the tail');
    await post('lp-6', 'application/json', '{"from":"t"}');
    const res = await polled;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([{ from: 't' }]);
    await streamsOpen(other, before, 'the answered long-poll giving its slot back');
    const started = Date.now();
    const waiting = fetch(url(other, 'lp-6', `?live=long-poll&offset=${offset(1)}`));
    await streamsOpen(other, before + 1, 'the second long-poll waiting at the tail');
    await close('lp-6');
    const closed = await waiting;
    expect(closed.status).toBe(204);
    expect(closed.headers.get('stream-closed')).toBe('true');
    expect(Date.now() - started).toBeLessThan(LONG_POLL_MS);
  });

  it('a client that goes away mid-wait leaves no stream slot behind', async () => {
    await put('lp-7', 'text/plain', 'a');
    const before = await openStreams(t);
    const aborter = new AbortController();
    const polled = fetch(url(t, 'lp-7', `?live=long-poll&offset=${offset(1)}`), { signal: aborter.signal }).catch(() => undefined);
    await streamsOpen(t, before + 1, 'the long-poll waiting at the tail');
    aborter.abort();
    await polled;
    // The server learns of the abort from its socket; the long-poll would hold the slot until LONG_POLL_MS.
    await until(async () => (await openStreams(t)) === before, 'the slot given back, long before the long-poll timeout', LONG_POLL_MS / 2);
  });
});

describe('readers at the same moment', () => {
  it('each catch-up read alone is one page read on /metrics (stream_face_reads_total)', async () => {
    // An instance of its own, built in the test: the counter is wired to the reads when the routes are registered,
    // which per-test coverage (npm run mutate) sees only in a test that builds its app.
    const own = await createTestApp({ databaseUrl: t.url, env });
    try {
      await put('counted-reads', 'text/plain', 'a');
      const before = await faceReads(own);
      for (const query of ['?offset=-1', `?offset=${offset(1)}`]) {
        const res = await own.app.inject({ method: 'GET', url: `/v1/stream/counted-reads${query}` });
        expect(res.statusCode, res.body).toBe(200);
      }
      expect(await faceReads(own)).toBe(before + 2);
    } finally {
      await own.close();
    }
  });

  it('readers of two streams at the same offset at the same moment each get their own stream', async () => {
    await put('same-moment-a', 'text/plain', 'from a');
    await put('same-moment-b', 'application/json', '[{"from":"b"}]');
    // Asked together (one turn of the event loop): reads of one page are shared, reads of two streams never.
    const paths = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'same-moment-a' : 'same-moment-b'));
    for (const query of ['?offset=-1', `?offset=${offset(0)}`, `?offset=${offset(0)}&live=long-poll`]) {
      const answers = await Promise.all(paths.map((path) => t.app.inject({ method: 'GET', url: `/v1/stream/${path}${query}` })));
      answers.forEach((res, i) => {
        expect(res.statusCode, res.body).toBe(200);
        if (paths[i] === 'same-moment-a') {
          expect(res.headers['content-type']).toMatch(/^text\/plain/);
          expect(res.body).toBe('from a');
        } else {
          expect(res.headers['content-type']).toMatch(/^application\/json/);
          expect(res.json()).toEqual([{ from: 'b' }]);
        }
      });
    }
  });

  it('twenty long-polls woken by one append all get it from one page read', async () => {
    await put('lp-share', 'application/json', '[{"n":1}]');
    const before = await openStreams(t);
    const polls = Array.from({ length: 20 }, () => fetch(url(t, 'lp-share', `?live=long-poll&offset=${offset(1)}`)));
    const deadline = Date.now() + 10_000;
    while ((await openStreams(t)) < before + 20 && Date.now() < deadline) await sleep(20);
    const readsBefore = await faceReads(t);
    await post('lp-share', 'application/json', '{"n":2}');
    const answers = await Promise.all(polls);
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([{ n: 2 }]);
      expect(res.headers.get('stream-next-offset')).toBe(offset(2));
    }
    // Alone, each woken reader read the page itself: 20.
    expect(await faceReads(t)).toBe(readsBefore + 1);
  });
});

describe('SSE (PROTOCOL 5.8)', () => {
  const data = (c: SseClient) => c.messages.filter((m) => m.event === 'data').map((m) => m.data);

  it('text/event-stream, no-cache, no Content-Length; a control after every data event; live appends follow', async () => {
    await put('sse-1', 'application/json', '[{"n":1},{"n":2}]');
    const client = await SseClient.open(url(t, 'sse-1', '?live=sse&offset=-1'));
    try {
      expect(client.status).toBe(200);
      expect(client.headers.get('content-type')).toBe('text/event-stream');
      expect(client.headers.get('cache-control')).toContain('no-cache');
      expect(client.headers.get('content-length')).toBeNull();
      expect(client.headers.get('stream-sse-data-encoding')).toBeNull();
      expect(client.headers.get('x-content-type-options')).toBe('nosniff');
      expect(client.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
      await client.waitFor(() => controls(client).length >= 1, 'the first control');
      expect(data(client).map((d) => JSON.parse(d))).toEqual([[{ n: 1 }, { n: 2 }]]);
      expect(controls(client)[0]).toMatchObject({ streamNextOffset: offset(2), upToDate: true });
      expect(controls(client)[0].streamCursor).toMatch(/^\d+$/);
      await post('sse-1', 'application/json', '{"n":3}');
      await client.waitFor(() => controls(client).length >= 2, 'the second control');
      expect(JSON.parse(data(client)[1] as string)).toEqual([{ n: 3 }]);
      expect(controls(client)[1]).toMatchObject({ streamNextOffset: offset(3), upToDate: true });
      const events = client.messages.filter((m) => m.event === 'data' || m.event === 'control').map((m) => m.event);
      expect(events).toEqual(['data', 'control', 'data', 'control']);
    } finally {
      await client.close();
    }
  });

  it('binary streams are base64 with stream-sse-data-encoding; CR/LF in text is framed as data lines', async () => {
    await put('sse-2', 'application/octet-stream');
    await post('sse-2', 'application/octet-stream', new Uint8Array([0, 1, 2, 255, 10, 13]));
    const binary = await SseClient.open(url(t, 'sse-2', '?live=sse&offset=-1'));
    try {
      expect(binary.headers.get('stream-sse-data-encoding')).toBe('base64');
      await binary.waitFor(() => controls(binary).length >= 1, 'a control');
      expect([...Buffer.from(data(binary)[0] as string, 'base64')]).toEqual([0, 1, 2, 255, 10, 13]);
    } finally {
      await binary.close();
    }
    await put('sse-3', 'text/plain');
    await post('sse-3', 'text/plain', 'line1\r\nevent: control\ndata: {"streamClosed":true}\rend');
    const text = await SseClient.open(url(t, 'sse-3', '?live=sse&offset=-1'));
    try {
      await text.waitFor(() => controls(text).length >= 1, 'a control');
      expect(data(text)).toEqual(['line1\nevent: control\ndata: {"streamClosed":true}\nend']);
      expect(controls(text)).toHaveLength(1);
      expect(controls(text)[0].streamClosed).toBeUndefined();
    } finally {
      await text.close();
    }
  });

  it('offset=now starts with an up-to-date control; a close sends the final control and ends the response', async () => {
    await put('sse-4', 'application/json', '[{"n":1}]');
    const client = await SseClient.open(url(t, 'sse-4', '?live=sse&offset=now'));
    await client.waitFor(() => controls(client).length >= 1, 'the first control');
    expect(data(client)).toEqual([]);
    expect(controls(client)[0]).toMatchObject({ streamNextOffset: offset(1), upToDate: true });
    await fetch(url(t, 'sse-4'), { method: 'POST', headers: { 'content-type': 'application/json', 'stream-closed': 'true' }, body: '{"n":2}' });
    await client.waitForEnd();
    expect(data(client).map((d) => JSON.parse(d))).toEqual([[{ n: 2 }]]);
    expect(controls(client).at(-1)).toEqual({ streamNextOffset: offset(2), streamClosed: true, upToDate: true });
    // At the tail of a closed stream: the final control at once, then the end.
    const again = await SseClient.open(url(t, 'sse-4', `?live=sse&offset=${offset(2)}`));
    await again.waitForEnd();
    expect(controls(again)).toEqual([{ streamNextOffset: offset(2), streamClosed: true, upToDate: true }]);
  });

  it('a closed stream longer than a page: every page comes before the final control, which alone says closed', async () => {
    // Pages of one message each: four pages before the end.
    const paged = await createTestApp({ databaseUrl: t.url, env: { ...env, STREAM_PAGE_SIZE: '1' } });
    try {
      await paged.listen();
      await put('sse-closed-pages', 'application/octet-stream');
      for (const i of [0, 1, 2, 3]) await post('sse-closed-pages', 'application/octet-stream', new Uint8Array([i, i]));
      await close('sse-closed-pages');
      const client = await SseClient.open(url(paged, 'sse-closed-pages', '?live=sse&offset=-1'));
      await client.waitForEnd();
      // Each data event has its control; only the last one says the stream is closed (and has no cursor).
      expect(data(client).map((d) => [...Buffer.from(d, 'base64')])).toEqual([[0, 0], [1, 1], [2, 2], [3, 3]]);
      expect(controls(client)).toHaveLength(4);
      controls(client).slice(0, -1).forEach((control, i) => {
        expect(control).toEqual({ streamNextOffset: offset(i + 1), streamCursor: expect.stringMatching(/^\d+$/) });
      });
      expect(controls(client).at(-1)).toEqual({ streamNextOffset: offset(4), streamClosed: true, upToDate: true });
    } finally {
      await paged.close();
    }
  });

  it('two instances: an SSE read on one follows appends and the close made on the other', async () => {
    await put('sse-5', 'text/plain');
    const client = await SseClient.open(url(other, 'sse-5', '?live=sse&offset=-1'));
    await client.waitFor(() => controls(client).length >= 1, 'the first control');
    await post('sse-5', 'text/plain', 'hello');
    await client.waitFor(() => data(client).length >= 1, 'the data');
    expect(data(client)).toEqual(['hello']);
    await close('sse-5');
    await client.waitForEnd();
    expect(controls(client).at(-1)).toMatchObject({ streamClosed: true });
  });

  it('a stream deleted while read ends the response cleanly; the reconnect gets 404', async () => {
    await put('sse-7', 'text/plain', 'a');
    const client = await SseClient.open(url(other, 'sse-7', '?live=sse&offset=-1'));
    await client.waitFor(() => controls(client).length >= 1, 'the first control');
    expect((await fetch(url(t, 'sse-7'), { method: 'DELETE' })).status).toBe(204);
    await client.waitForEnd();
    expect(client.error).toBeUndefined();
    expect((await fetch(url(other, 'sse-7', '?live=sse&offset=-1'))).status).toBe(404);
  });

  it('a client that goes away gives back its stream slot', async () => {
    await put('sse-6', 'text/plain');
    const before = await openStreams(t);
    const client = await SseClient.open(url(t, 'sse-6', '?live=sse&offset=-1'));
    await client.waitFor(() => controls(client).length >= 1, 'the first control');
    expect(await openStreams(t)).toBe(before + 1);
    await client.close();
    // Well before the next heartbeat (15 s), whose write would find the socket gone anyway.
    await until(async () => (await openStreams(t)) === before, 'the slot given back', 10_000);
    // A refusal (past the tail) takes nothing either.
    const refused = await fetch(url(t, 'sse-6', `?live=sse&offset=${offset(5)}`));
    expect(refused.status).toBe(400);
    expect(await openStreams(t)).toBe(before);
  });
});

describe('what a live read reads and holds', () => {

  it('an SSE reader idle at the tail reads once when it opens and once per wakeup, nothing in between', async () => {
    // Created empty: no wakeup of its own is on the way when the reader opens.
    await put('idle-reads', 'application/json');
    const before = await faceReads(t);
    const client = await SseClient.open(url(t, 'idle-reads', '?live=sse&offset=now'));
    try {
      await client.waitFor(() => controls(client).length >= 1, 'the first control');
      await post('idle-reads', 'application/json', '{"n":1}');
      await client.waitFor(() => controls(client).length >= 2, 'the control after the append');
      expect(client.ofType('data').map((m) => m.json)).toEqual([[{ n: 1 }]]);
      expect(await faceReads(t)).toBe(before + 2);
    } finally {
      await client.close();
    }
  });

  it('a wakeup that brings nothing new (a repeated or late notification) sends the reader nothing', async () => {
    await put('idle-wakeups', 'application/json');
    const client = await SseClient.open(url(t, 'idle-wakeups', '?live=sse&offset=now'));
    try {
      await client.waitFor(() => controls(client).length >= 1, 'the first control');
      const before = await faceReads(t);
      // Wakeups as an append's NOTIFY carries them, for a seq the reader already has.
      for (let n = 1; n <= 3; n++) {
        await t.database.db`select pg_notify(${WAKEUP_CHANNEL}, ${encodeNotification({ kind: 'append', session_id: 'idle-wakeups', seq: 0 })})`;
        await until(async () => (await faceReads(t)) === before + n, `the read after wakeup ${n}`);
      }
      await post('idle-wakeups', 'application/json', '{"n":1}');
      await client.waitFor(() => controls(client).length >= 2, 'the control after the append');
      // The first control, then the append's data and its control: no control for the empty reads in between.
      expect(client.messages.map((m) => m.event)).toEqual(['control', 'data', 'control']);
    } finally {
      await client.close();
    }
  });

  it('an append committed while the page before it is still on its way to the reader follows it at once', async () => {
    // A first page larger than what a response buffers before it waits for the client (Node's high-water mark, 64 KiB)...
    await put('in-flight', 'application/json', JSON.stringify([{ blob: 'x'.repeat(100_000) }]));
    const before = await openStreams(t);
    // ...which the client cannot take yet: the SSE read is pipelined behind a long-poll of the same stream,
    // and its answer goes out only once the long-poll's is sent.
    const socket = net.connect({ port: Number(new URL(t.baseUrl).port), host: '127.0.0.1' });
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => {});
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      const get = (query: string) => `GET /v1/stream/in-flight${query} HTTP/1.1\r\nhost: x\r\n\r\n`;
      socket.write(get(`?live=long-poll&offset=${offset(1)}`) + get('?live=sse&offset=-1'));
      // Both admitted, the long-poll waiting at the tail, the SSE read holding its first page, unsent.
      await until(async () => {
        const rows = await rowsMemory(t);
        return (await openStreams(t)) === before + 2 && rows > 100_000 && rows < 1_000_000;
      }, 'the long-poll waiting and the SSE page read');
      // Its wakeup reaches the SSE reader while that page waits for the client, and answers the long-poll,
      // whose answer sent lets the page go.
      await post('in-flight', 'application/json', '{"m":2}');
      const sse = () => text.slice(text.indexOf('text/event-stream'));
      await until(() => text.includes('text/event-stream') && sse().includes('{"m":2}'), 'the append after the first page', 10_000);
      expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\[\{"m":2\}\]HTTP\/1\.1 200 OK\r\n/);
      // Then it waits again: the next append costs one read.
      const readsAfter = await faceReads(t);
      await post('in-flight', 'application/json', '{"m":3}');
      await until(() => sse().includes('{"m":3}'), 'the next append');
      expect(await faceReads(t)).toBe(readsAfter + 1);
    } finally {
      socket.destroy();
    }
    await streamsOpen(t, before, 'the SSE slot given back');
  });

  it('a live read refused past the tail gives back the memory it reserved and leaves nothing followed', async () => {
    const statements: { query: string; params: unknown[] }[] = [];
    const polled = await createTestApp({
      databaseUrl: t.url,
      env: { ...env, STREAM_HEAD_POLL_MS: '10' },
      logQuery: (query, params) => statements.push({ query, params }),
    });
    try {
      await polled.listen();
      await put('refused-past', 'application/json', '[1]');
      await put('followed', 'application/json');
      for (const live of ['long-poll', 'sse']) {
        const refused = await fetch(url(polled, 'refused-past', `?live=${live}&offset=${offset(5)}`));
        expect(refused.status, live).toBe(400);
        await refused.text();
      }
      // Each had reserved a page's room before its read was refused.
      await until(async () => (await rowsMemory(polled)) === 0, 'the reservations given back', 5000);
      // The head poll (one statement for the heads of every stream a reader waits on here): with a reader
      // waiting now, its stream alone. (Its ids are one parameter, an array or, once prepared, its text.)
      const follower = await SseClient.open(url(polled, 'followed', '?live=sse&offset=now'));
      try {
        const polls = () =>
          statements.filter(({ query }) => /from sessions where id = any\(/.test(query)).map(({ params }) => String(params)).filter((ids) => ids.includes('followed'));
        await until(() => polls().length > 0, 'a head poll of the waiting reader');
        expect(polls().filter((ids) => ids.includes('refused-past'))).toEqual([]);
      } finally {
        await follower.close();
      }
      await streamsOpen(polled, 0, 'the SSE slot given back');
    } finally {
      await polled.close();
    }
  });
});
  it('an SSE reader gone leaves its stream followed no more', async () => {
    const statements: { query: string; params: unknown[] }[] = [];
    const polled = await createTestApp({
      databaseUrl: t.url,
      env: { ...env, STREAM_HEAD_POLL_MS: '10' },
      logQuery: (query, params) => statements.push({ query, params }),
    });
    try {
      await polled.listen();
      await put('left-behind', 'application/json');
      await put('followed-on', 'application/json');
      const gone = await SseClient.open(url(polled, 'left-behind', '?live=sse&offset=now'));
      await gone.waitFor(() => controls(gone).length >= 1, 'the first control');
      await gone.close();
      await streamsOpen(polled, 0, 'the slot of the reader gone given back');
      // The head poll of a reader waiting now: its stream alone, nothing of the reader gone (see the test above).
      const follower = await SseClient.open(url(polled, 'followed-on', '?live=sse&offset=now'));
      try {
        const polls = () =>
          statements.filter(({ query }) => /from sessions where id = any\(/.test(query)).map(({ params }) => String(params)).filter((ids) => ids.includes('followed-on'));
        await until(() => polls().length > 0, 'a head poll of the waiting reader');
        expect(polls().filter((ids) => ids.includes('left-behind'))).toEqual([]);
      } finally {
        await follower.close();
      }
    } finally {
      await polled.close();
    }
  });


describe('what a live read leaves behind', () => {
  /** Timers keeping this process (the app runs in it) alive: a wait's timer not cleared stays here until it fires, up to a minute later. */
  const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

  it('an SSE reader woken ten times, and twenty that go away while they wait, leave no timer behind', async () => {
    await put('timers-woken', 'application/json');
    const before = await openStreams(t);
    const woken = await SseClient.open(url(t, 'timers-woken', '?live=sse&offset=now'));
    try {
      await woken.waitFor(() => controls(woken).length >= 1, 'the first control');
      const waiting = timers();
      for (let n = 1; n <= 10; n++) {
        await post('timers-woken', 'application/json', `{"n":${n}}`);
        await woken.waitFor(() => controls(woken).length >= n + 1, `the control after append ${n}`);
      }
      // Each wakeup ended a wait; a timer left by each would make ten more. (A few others come and go meanwhile.)
      expect(timers() - waiting).toBeLessThan(5);
    } finally {
      await woken.close();
    }
    await streamsOpen(t, before, 'the woken reader gone');
    await put('timers-gone', 'application/json');
    const readers = await Promise.all(Array.from({ length: 20 }, () => SseClient.open(url(t, 'timers-gone', '?live=sse&offset=now'))));
    await Promise.all(readers.map((reader) => reader.waitFor(() => controls(reader).length >= 1, 'the first control')));
    const open = timers();
    await Promise.all(readers.map((reader) => reader.close()));
    await streamsOpen(t, before, 'the readers gone');
    // Each of their waits had a timer, which a wait the client's going did not end would keep until the read's
    // lifetime (a minute). (Connections' own timers come and go meanwhile: a few, not twenty.)
    await until(() => open - timers() >= 12, 'the readers gone without their timers', 5000);
  });

  it('an SSE reader woken ten times holds no more abort listeners than one', async () => {
    await put('listeners-woken', 'application/json');
    const reader = await SseClient.open(url(t, 'listeners-woken', '?live=sse&offset=now'));
    // Abort listeners on signals added from here on and not removed (a read's signal lives as long as the read: up to a minute).
    const registered = new Set<string>();
    const ids = new WeakMap<object, number>();
    let named = 0;
    const idOf = (value: object) => ids.get(value) ?? (ids.set(value, ++named), named);
    const { addEventListener, removeEventListener } = EventTarget.prototype;
    let leftRegistered: number | undefined;
    const key = (target: object, listener: unknown) => (typeof listener === 'object' || typeof listener === 'function') && listener !== null ? `${idOf(target)}:${idOf(listener)}` : undefined;
    try {
      await reader.waitFor(() => controls(reader).length >= 1, 'the first control');
      EventTarget.prototype.addEventListener = function (this: EventTarget, type: string, listener: any, options?: any) {
        const k = this instanceof AbortSignal && type === 'abort' ? key(this, listener) : undefined;
        if (k) registered.add(k);
        return addEventListener.call(this, type, listener, options);
      };
      EventTarget.prototype.removeEventListener = function (this: EventTarget, type: string, listener: any, options?: any) {
        const k = this instanceof AbortSignal && type === 'abort' ? key(this, listener) : undefined;
        if (k) registered.delete(k);
        return removeEventListener.call(this, type, listener, options);
      };
      for (let n = 1; n <= 10; n++) {
        // (Through inject: fetch adds abort listeners of its own.)
        const res = await t.app.inject({ method: 'POST', url: '/v1/stream/listeners-woken', headers: { 'content-type': 'application/json' }, payload: `{"n":${n}}` });
        expect(res.statusCode).toBe(204);
        await reader.waitFor(() => controls(reader).length >= n + 1, `the control after append ${n}`);
      }
      leftRegistered = registered.size;
    } finally {
      EventTarget.prototype.addEventListener = addEventListener;
      EventTarget.prototype.removeEventListener = removeEventListener;
      await reader.close();
    }
    // The wait it is in now has one; one left by each wait a wakeup ended would make ten.
    expect(leftRegistered).toBeLessThanOrEqual(2);
  });

  it('a long-poll woken with nothing to read waits again in the slot it holds', async () => {
    await put('woken-empty', 'application/json', '[{"n":1}]');
    const before = await openStreams(t);
    const polled = fetch(url(t, 'woken-empty', `?live=long-poll&offset=${offset(1)}`));
    await streamsOpen(t, before + 1, 'the long-poll waiting at the tail');
    const reads = await faceReads(t);
    // The first native subscriber of a session wakes its tail, and with it the long-poll, which finds nothing new.
    const native = await SseClient.open(`${t.baseUrl}/v1/sessions/woken-empty/stream?after=now`);
    try {
      await until(async () => (await faceReads(t)) === reads + 1, 'the long-poll reading again');
      await post('woken-empty', 'application/json', '{"n":2}');
      const res = await polled;
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([{ n: 2 }]);
    } finally {
      await native.close();
    }
    await until(async () => (await openStreams(t)) === before, 'every slot given back', 5000);
  });

  it('a long-poll whose client goes away reads nothing more', async () => {
    await put('gone-idle', 'application/json', '[{"n":1}]');
    const before = await openStreams(t);
    const aborter = new AbortController();
    const polled = fetch(url(t, 'gone-idle', `?live=long-poll&offset=${offset(1)}`), { signal: aborter.signal }).catch(() => undefined);
    await streamsOpen(t, before + 1, 'the long-poll waiting at the tail');
    const reads = await faceReads(t);
    aborter.abort();
    await polled;
    await streamsOpen(t, before, 'the slot given back');
    // Its wait ended, nobody is there to get a page: none is read (were one read, it was before the slot came back).
    expect(await faceReads(t)).toBe(reads);
  });

  it('a long-poll whose stream was deleted and made again answers at once from the new one', async () => {
    await put('reborn', 'application/json', '[{"n":1}]');
    await put('reborn-next', 'application/json', '[{"again":1}]');
    const before = await openStreams(t);
    const started = Date.now();
    const polled = fetch(url(t, 'reborn', `?live=long-poll&offset=${offset(1)}`));
    await streamsOpen(t, before + 1, 'the long-poll waiting at the tail');
    // Deleted and made again in one transaction, so no wakeup reaches the long-poll before the new stream is there
    // (through the API, the read after the deletion's wakeup may come before or after the new PUT).
    await t.database.db.begin(async (sql) => {
      await sql`delete from sessions where id = 'reborn'`;
      await sql`update sessions set id = 'reborn' where id = 'reborn-next'`;
    });
    // A native reader of the new stream ends the old one's tail, which wakes the long-poll.
    const native = await SseClient.open(`${t.baseUrl}/v1/sessions/reborn/stream?after=now`);
    try {
      const res = await polled;
      // The new stream is at its tail at offset 1: nothing to send, and no timeout waited for.
      expect(res.status).toBe(204);
      expect(res.headers.get('stream-next-offset')).toBe(offset(1));
      expect(Date.now() - started).toBeLessThan(LONG_POLL_MS / 2);
    } finally {
      await native.close();
    }
  });
});

/** An app's `beforeStreamRead` that holds the stream reads of one session (by sid) until the test resumes them. */
function pausedReads() {
  const paused = new Map<number, Promise<void>>();
  return {
    hook: async ({ sid }: { sid: number }) => {
      await paused.get(sid);
    },
    pause(sid: number): () => void {
      let resume!: () => void;
      paused.set(sid, new Promise<void>((resolve) => (resume = resolve)));
      return () => {
        paused.delete(sid);
        resume();
      };
    },
  };
}

describe('while every byte of the row memory is held', () => {
  /** Its long-polls' timeout: long enough for the test to set up before the first one ends. */
  const TIGHT_POLL_MS = 4000;
  let tight: TestApp;
  /** Its log: a reader gone while it waited for room is no failure, and says nothing. */
  const log = logSink('warn');
  const tightReads = pausedReads();
  beforeAll(async () => {
    // A live read reserves two pages (EVENTS_PAGE_BYTES for the face, STREAM_PAGE_BYTES for a native replay) before it
    // reads, at most all of ROWS_MEMORY_BYTES: here all of it.
    tight = await createTestApp({
      env: { STREAM_LONG_POLL_MS: String(TIGHT_POLL_MS), STREAM_HEAD_POLL_MS: '60000', ROWS_MEMORY_BYTES: String(1024 * 1024), STREAM_PAGE_BYTES: String(512 * 1024) },
      log,
      beforeStreamRead: tightReads.hook,
    });
    await tight.listen();
  });
  afterAll(async () => {
    await tight?.close();
  });

  /** A native subscriber replaying `path` holding all the row memory, its page read paused (`pausedReads`); `free` lets it go. */
  function holdAllRowMemory(path: string): Promise<{ free: () => Promise<void> }> {
    return holdRowMemory(tight, tightReads, path, 1024 * 1024);
  }

  /**
   * As `holdAllRowMemory`, on `app` (whose stream reads `reads` pauses), where the row memory in use is `inUse` once the
   * replay holds its page's share. Paused before its query, it holds no lock and no pool connection: appends, tail
   * reads and the face's own reads go on.
   */
  async function holdRowMemory(app: TestApp, reads: ReturnType<typeof pausedReads>, path: string, inUse: number): Promise<{ free: () => Promise<void> }> {
    const [row] = await app.database.db<{ sid: number }[]>`select sid from sessions where id = ${path}`;
    const resume = reads.pause(Number(row!.sid));
    // (Through node:http: fetch adds abort listeners of its own, which a test below counts.)
    let received = '';
    const holder = http.get(`${app.baseUrl}/v1/sessions/${path}/stream?after=0`, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (received += chunk));
    });
    holder.on('error', () => {});
    await until(async () => (await rowsMemory(app)) === inUse, 'the replay holding its row memory');
    return {
      free: async () => {
        resume();
        await until(() => received.includes('\nid: 1\n') || received.startsWith('id: 1\n'), 'the replay sent');
        holder.destroy();
      },
    };
  }

  /**
   * An SSE reader idle at the tail of `path`, and a native subscriber joined to the same tail before it: the tail read
   * each wakeup starts for the subscriber (`tailReads`) says the wakeup reached the tail, which wakes the reader in the
   * same turn. (Joined first, its joining's wakeup came before the reader was there to read again.)
   */
  async function readerBesideSubscriber(path: string): Promise<{ reader: SseClient; native: SseClient }> {
    const joined = await tailReads(tight);
    const native = await SseClient.open(`${tight.baseUrl}/v1/sessions/${path}/stream?after=now`);
    await until(async () => (await tailReads(tight)) > joined, 'the subscriber joined');
    const reader = await SseClient.open(url(tight, path, '?live=sse&offset=now'));
    await reader.waitFor(() => controls(reader).length >= 1, 'the first control');
    return { reader, native };
  }

  it('a long-poll whose client goes away gives its slot back at once, though its last read waits for room', async () => {
    for (const path of ['held', 'gone-at-tail', 'gone-in-queue']) {
      const res = await fetch(url(tight, path), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '[{"n":1}]' });
      expect(res.status).toBe(201);
    }
    const aborters = [new AbortController(), new AbortController()];
    const started = Date.now();
    const polls = ['gone-at-tail', 'gone-in-queue'].map((path, i) =>
      fetch(url(tight, path, `?live=long-poll&offset=${offset(1)}`), { signal: aborters[i]!.signal }).catch(() => undefined),
    );
    await streamsOpen(tight, 2, 'both long-polls waiting at the tail');
    const logged = log.lines.length;
    // A native replay reserves all the row memory, and holds it while its page read is paused. (It holds a slot too.)
    const held = await holdAllRowMemory('held');
    try {
      expect(Date.now() - started, 'set up before the long-polls time out').toBeLessThan(TIGHT_POLL_MS);
      // Gone while it waits at the tail: its wait ends, and its read must not wait for room for nobody.
      aborters[0]!.abort();
      await until(async () => (await openStreams(tight)) === 2, 'the slot of the long-poll gone at the tail given back', 5000);
      // This one times out, and waits for room to read its answer; then its client goes away.
      await until(() => Date.now() - started > TIGHT_POLL_MS + 200, 'the other long-poll timed out');
      aborters[1]!.abort();
      await until(async () => (await openStreams(tight)) === 1, 'the slot of the long-poll gone while it waited for room given back', 5000);
      await Promise.all(polls);
    } finally {
      await held.free();
    }
    await until(async () => (await rowsMemory(tight)) === 0, 'the row memory given back');
    // Their going is no failure of the server's: nothing logged (no 500 "request failed" for a client not there).
    expect(log.entries().slice(logged)).toEqual([]);
  });

  it('a catch-up read whose client goes away while it waits for room reads nothing', async () => {
    for (const path of ['queue-held', 'queue-gone']) {
      const res = await fetch(url(tight, path), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '[{"n":1}]' });
      expect(res.status).toBe(201);
    }
    const held = await holdAllRowMemory('queue-held');
    let freed: ReturnType<typeof held.free> | undefined;
    const free = () => (freed ??= held.free());
    try {
      const readsHeld = await faceReads(tight);
      // The server's side of the read's connection, once its request arrived (all of the row memory held: it waits for room).
      const arrived = new Promise<net.Socket>((resolve) => tight.app.server.once('request', (request: http.IncomingMessage) => resolve(request.socket)));
      const client = net.connect({ port: Number(new URL(tight.baseUrl).port), host: '127.0.0.1' });
      client.on('error', () => {});
      client.write('GET /v1/stream/queue-gone?offset=-1 HTTP/1.1\r\nhost: x\r\n\r\n');
      const serverSide = await arrived;
      const closed = new Promise((resolve) => serverSide.once('close', resolve));
      client.destroy();
      // Its close heard (by the server's listeners, registered before this one): the read gave its place up.
      await closed;
      await free();
      await until(async () => (await rowsMemory(tight)) === 0, 'the row memory given back');
      // Nobody to send a page to: none was read.
      expect(await faceReads(tight)).toBe(readsHeld);
    } finally {
      await free();
    }
  });

  it('a long-poll granted room in the turn its connection closes gives the room back', async () => {
    // Pages of 256 KiB, so a read reserves half of the row memory (two pages).
    const half = 512 * 1024;
    const pagedReads = pausedReads();
    const paged = await createTestApp({
      databaseUrl: t.url,
      env: { ...env, ROWS_MEMORY_BYTES: String(2 * half), EVENTS_PAGE_BYTES: String(half / 2), STREAM_PAGE_BYTES: String(half / 2), MAX_EVENT_BYTES: String(64 * 1024) },
      beforeStreamRead: pagedReads.hook,
    });
    const socket = new net.Socket();
    let native: SseClient | undefined;
    try {
      await paged.listen();
      for (const [path, body] of [['race-tail', '[{"n":1}]'], ['race-page', JSON.stringify([{ blob: 'x'.repeat(10_000) }])], ['race-poll', undefined], ['race-held', '[{"n":1}]']]) {
        const res = await fetch(url(paged, path!), { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
        expect(res.status).toBe(201);
      }
      // A native subscriber joined to race-poll's tail: its tail read on a wakeup says the wakeup reached the tail (see readerBesideSubscriber).
      const joined = await tailReads(paged);
      native = await SseClient.open(`${paged.baseUrl}/v1/sessions/race-poll/stream?after=now`);
      await until(async () => (await tailReads(paged)) > joined, 'the subscriber joined');
      // (It holds a stream slot of its own.)
      const base = await openStreams(paged);
      // One connection: a long-poll waiting at the tail, and a page read behind it whose answer waits its turn, holding
      // its page's memory; the connection's close gives that back.
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.connect(Number(new URL(paged.baseUrl).port), '127.0.0.1', resolve));
      const get = (query: string) => `GET /v1/stream/${query} HTTP/1.1\r\nhost: x\r\n\r\n`;
      socket.write(get(`race-tail?live=long-poll&offset=${offset(1)}`) + get('race-page?offset=-1'));
      await until(async () => {
        const rows = await rowsMemory(paged);
        return (await openStreams(paged)) === base + 1 && rows > 10_000 && rows < half;
      }, 'the long-poll waiting and the page held');
      const page = await rowsMemory(paged);
      // Then a long-poll on the same connection, at race-poll's tail: it heard of the connection's close after the page.
      socket.write(get('race-poll?live=long-poll&offset=now'));
      await streamsOpen(paged, base + 2, 'the second long-poll waiting at the tail');
      const held = await holdRowMemory(paged, pagedReads, 'race-held', page + half);
      try {
        const woken = await tailReads(paged);
        await paged.database.db`select pg_notify(${WAKEUP_CHANNEL}, ${encodeNotification({ kind: 'append', session_id: 'race-poll', seq: 0 })})`;
        // Woken, it waits for room: the page and the held read leave less than half.
        await until(async () => (await tailReads(paged)) > woken, 'the wakeup at the tail');
        // The close gives the page's memory back, which grants the waiting long-poll its room; then it hears the close.
        socket.destroy();
        // (The replay holding memory keeps its slot.)
        await streamsOpen(paged, base + 1, 'both long-polls gone');
      } finally {
        await held.free();
      }
      // The room it was granted for nobody is given back, with the rest.
      await until(async () => (await rowsMemory(paged)) === 0, 'the row memory given back', 5000);
    } finally {
      socket.destroy();
      await native?.close();
      await paged.close();
    }
  });

  it('an SSE reader that waits for room at each of its reads collects no abort listener per wait', async () => {
    for (const [path, body] of [['room-held', '[{"n":1}]'], ['room-waits', undefined]]) {
      const res = await fetch(url(tight, path!), { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(201);
    }
    const before = await openStreams(tight);
    const { reader, native } = await readerBesideSubscriber('room-waits');
    // Abort listeners on signals added from here on and not removed (a read's signal lives as long as the read: up to a minute).
    const registered = new Set<string>();
    const ids = new WeakMap<object, number>();
    let named = 0;
    const idOf = (value: object) => ids.get(value) ?? (ids.set(value, ++named), named);
    const key = (target: object, listener: unknown) => (typeof listener === 'object' || typeof listener === 'function') && listener !== null ? `${idOf(target)}:${idOf(listener)}` : undefined;
    const { addEventListener, removeEventListener } = EventTarget.prototype;
    let leftRegistered: number | undefined;
    try {
      EventTarget.prototype.addEventListener = function (this: EventTarget, type: string, listener: any, options?: any) {
        const k = this instanceof AbortSignal && type === 'abort' ? key(this, listener) : undefined;
        if (k) registered.add(k);
        return addEventListener.call(this, type, listener, options);
      };
      EventTarget.prototype.removeEventListener = function (this: EventTarget, type: string, listener: any, options?: any) {
        const k = this instanceof AbortSignal && type === 'abort' ? key(this, listener) : undefined;
        if (k) registered.delete(k);
        return removeEventListener.call(this, type, listener, options);
      };
      for (let n = 1; n <= 4; n++) {
        const held = await holdAllRowMemory('room-held');
        const readsHeld = await faceReads(tight);
        const woken = await tailReads(tight);
        await tight.database.db`select pg_notify(${WAKEUP_CHANNEL}, ${encodeNotification({ kind: 'append', session_id: 'room-waits', seq: 0 })})`;
        // Woken with the tail, the reader waits for room; the holder done, it reads (nothing new: it sends nothing).
        await until(async () => (await tailReads(tight)) > woken, `wakeup ${n} at the tail`);
        await held.free();
        await until(async () => (await faceReads(tight)) === readsHeld + 1, `the read after wakeup ${n}`);
      }
      leftRegistered = registered.size;
    } finally {
      EventTarget.prototype.addEventListener = addEventListener;
      EventTarget.prototype.removeEventListener = removeEventListener;
      await native.close();
      await reader.close();
    }
    // The wait it is in now has one (or none yet, its last read still on its way); one left by each read that waited
    // for room would make four more.
    expect(leftRegistered).toBeLessThanOrEqual(2);
    await streamsOpen(tight, before, 'the slots given back');
  });

  it('an SSE reader whose client goes away while its next read waits for room ends quietly, its slot given back', async () => {
    // The reader's stream created empty: no wakeup of its own is on the way when the reader opens.
    for (const [path, body] of [['sse-held', '[{"n":1}]'], ['sse-gone-in-queue', undefined]]) {
      const res = await fetch(url(tight, path!), { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(201);
    }
    const logged = log.lines.length;
    const { reader, native } = await readerBesideSubscriber('sse-gone-in-queue');
    try {
      const held = await holdAllRowMemory('sse-held');
      try {
        const readsHeld = await faceReads(tight);
        const woken = await tailReads(tight);
        // A wakeup as an append's NOTIFY carries it, for a seq the reader has: its read finds nothing to send.
        await tight.database.db`select pg_notify(${WAKEUP_CHANNEL}, ${encodeNotification({ kind: 'append', session_id: 'sse-gone-in-queue', seq: 0 })})`;
        // The tail was woken, and with it the SSE reader, now waiting for room to read.
        await until(async () => (await tailReads(tight)) > woken, 'the wakeup at the tail');
        expect(await faceReads(tight)).toBe(readsHeld);
        await reader.close();
        // (The native subscriber and the replay holding memory hold the others.)
        await streamsOpen(tight, 2, 'the SSE slot given back while the row memory is still held');
        expect(await rowsMemory(tight)).toBe(1024 * 1024);
      } finally {
        await held.free();
      }
    } finally {
      await native.close();
    }
    await until(async () => (await rowsMemory(tight)) === 0, 'the row memory given back');
    // The reader gone is no failure of the read: no "stream read failed" warning.
    expect(log.entries().slice(logged)).toEqual([]);
  });
});

