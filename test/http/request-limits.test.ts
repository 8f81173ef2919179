import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createSession, createTestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';
import { unlessStuck } from '../helpers/waits.js';

/**
 * A raw connection, to send a request piece by piece and read the raw answer.
 * `ended`: the server closed its half; `closed`: the socket is gone. With
 * `allowHalfOpen` the client keeps its own half open after the server's ends.
 */
async function connect(
  baseUrl: string,
  allowHalfOpen = false,
): Promise<{ socket: net.Socket; answer: () => string; ended: Promise<void>; closed: Promise<void> }> {
  const socket = net.connect({ port: Number(new URL(baseUrl).port), host: '127.0.0.1', allowHalfOpen });
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, answer: () => text, ended, closed };
}

const connections = (server: net.Server) =>
  new Promise<number>((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));

function parse(raw: string): { status: number; headers: Record<string, string>; body: any } {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) };
}

/** A page on this origin reads the refusals below only if they carry the CORS headers of every other answer. */
const LISTED = 'https://dash.example.com';

describe('request timeouts and shutdown answers', () => {
  it('a body that stalls gets a 408 problem once REQUEST_TIMEOUT_MS passes, and its connection closes', async () => {
    const t = await createTestApp({ env: { REQUEST_TIMEOUT_MS: '1000', CORS_ORIGINS: LISTED } });
    await t.listen();
    try {
      const slow = await connect(t.baseUrl);
      slow.socket.write(
        `POST /v1/sessions HTTP/1.1\r\nHost: x\r\nOrigin: ${LISTED}\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"id":`,
      );
      // Bounded well above the 1 s configured, well below the 30 s Node checks at.
      await unlessStuck(slow.closed, 'the connection awaiting its 408', 10_000);
      const answer = parse(slow.answer());
      expect(answer.status).toBe(408);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.body).toMatchObject({ status: 408, code: 'request_timeout', limit_ms: 1000, instance: '/v1/sessions' });
      expect(answer.headers['access-control-allow-origin']).toBe(LISTED);
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      // Its own headers too: the rest of the body is never read, so the connection cannot carry another request.
      expect(answer.headers.connection).toBe('close');
      // The server is fine, and a stream (whose request is complete) is not cut by this timer.
      expect((await fetch(`${t.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      await t.close();
    }
  }, 20_000);

  it('a request that arrives while the server drains gets a 503 problem with Connection: close', async () => {
    const t = await createTestApp({ env: { REQUEST_TIMEOUT_MS: '5000', CORS_ORIGINS: LISTED } });
    await t.listen();
    // An unfinished request keeps the server draining; a second connection has started its request.
    const inFlight = await connect(t.baseUrl);
    inFlight.socket.write('POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{');
    const late = await connect(t.baseUrl);
    late.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nOrigin: ${LISTED}\r\n`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = t.close();
    await expect.poll(() => t.app.server.listening).toBe(false);
    late.socket.write('\r\n');
    await late.closed;
    const answer = parse(late.answer());
    expect(answer.status).toBe(503);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(answer.headers.connection).toBe('close');
    expect(answer.headers['retry-after']).toBe('1');
    expect(answer.body).toMatchObject({ status: 503, code: 'shutting_down' });
    expect(answer.headers['access-control-allow-origin']).toBe(LISTED);
    // A page's script reads Retry-After (the client waits that long) only if it is exposed to it.
    expect(answer.headers['access-control-expose-headers']?.split(/,\s*/)).toContain('retry-after');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    inFlight.socket.destroy();
    await closing;
  }, 20_000);

  it('a connection that never sends a request does not hold the drain: the server closes it', async () => {
    const t = await createTestApp();
    await t.listen();
    // A browser's speculative connection, or the one undici opens when a request of its is aborted: Node counts it
    // busy until its headers timeout (60 s), so the close waited that long for it.
    const silent = await connect(t.baseUrl);
    const closing = t.close();
    const inTime = await Promise.race([silent.closed.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 10_000))]);
    if (!inTime) t.app.server.closeAllConnections();
    expect(inTime, 'the server closed the silent connection').toBe(true);
    expect(silent.answer()).toBe('');
    await closing;
  }, 30_000);

  it('a request still arriving on a connection older than the 1 s grace gets its answer while the server drains; only a silent connection is closed', async () => {
    const t = await createTestApp();
    await t.listen();
    // A slow upload: its headers and the start of its body are in when the close begins.
    const busy = await connect(t.baseUrl);
    const body = JSON.stringify({ id: 'drain-slow-upload' });
    busy.socket.write(
      `POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    );
    // Opened after the busy one: once the server closes it (past the grace), the busy connection is past it too.
    const silent = await connect(t.baseUrl);
    const closing = t.close();
    try {
      await unlessStuck(silent.closed, 'the close of the silent connection', 10_000);
      expect(silent.answer()).toBe('');
      expect(busy.socket.destroyed, 'the connection of the upload still open').toBe(false);
      busy.socket.write(body.slice(5));
      await unlessStuck(busy.closed, 'the answer to the upload and the close of its connection', 10_000);
      expect(busy.answer(), 'the answer to the upload').toMatch(/^HTTP\/1\.1 201 /);
      const answer = parse(busy.answer());
      expect(answer.body).toMatchObject({ id: 'drain-slow-upload' });
    } finally {
      busy.socket.destroy();
      silent.socket.destroy();
      await closing;
    }
  }, 30_000);
});

describe('a handler whose client left before the shutdown', () => {
  /** An app whose session stream's first read waits for `release`, with its log at warn. */
  async function heldRead() {
    const log = logSink('warn');
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let reached!: () => void;
    const reachedRead = new Promise<void>((resolve) => (reached = resolve));
    const t = await createTestApp({
      log,
      beforeStreamRead: async () => {
        reached();
        await released;
      },
    });
    await t.listen();
    await createSession(t, 'left-early');
    // One event, so the stream's handler reads history (with none it reads nothing and joins the tail at once).
    await t.app.inject({ method: 'POST', url: '/v1/sessions/left-early/events', payload: { events: [{ type: 'step', data: 1 }] } });
    // The client opens the stream and leaves while the stream's handler waits before its read.
    const client = await connect(t.baseUrl);
    client.socket.write('GET /v1/sessions/left-early/stream HTTP/1.1\r\nHost: x\r\n\r\n');
    await reachedRead;
    client.socket.destroy();
    await expect.poll(() => connections(t.app.server)).toBe(0);
    return { t, log, release };
  }

  it('the pool closes only after it: its next query still runs, and nothing fails in the log', async () => {
    const { t, log, release } = await heldRead();
    // The server has no connection left, so its close is at once; the handler still has a read to make.
    const closing = t.close();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    release();
    await closing;
    // (A handler the close did not wait for fails a moment after its read is released.)
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Closed under it, the pool refused that read (CONNECTION_ENDED) and the stream failed in the log.
    expect(log.entries().map((entry) => entry.msg)).toEqual([]);
  }, 20_000);

  it('one that does not end holds the close for 3 s at most, and the log says how many were left', async () => {
    const { t, log, release } = await heldRead();
    const started = performance.now();
    await t.close();
    const waited = performance.now() - started;
    release();
    expect(waited).toBeGreaterThanOrEqual(2900);
    expect(waited).toBeLessThan(8000);
    expect(log.entries()).toContainEqual(expect.objectContaining({ handlers: 1, msg: 'request handlers still running when the pool closes' }));
  }, 20_000);
});

describe('handlers that ended in a refusal', () => {
  it('are not left counted as running: the close does not wait for them, and the log says nothing of them', async () => {
    const log = logSink('warn');
    const t = await createTestApp({ log });
    // Each refused by its handler (a rejected promise), not by validation or a hook.
    expect((await t.app.inject({ method: 'GET', url: '/v1/sessions/handlers-refused-none' })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'POST', url: '/v1/sessions/handlers-refused-none/events', payload: { events: [{ type: 'step', data: 1 }] } })).statusCode).toBe(404);
    await createSession(t, 'handlers-refused-1');
    expect((await t.app.inject({ method: 'POST', url: '/v1/sessions', payload: { id: 'handlers-refused-1' } })).statusCode).toBe(409);
    await t.close();
    expect(log.entries().map((entry) => entry.msg)).not.toContain('request handlers still running when the pool closes');
  }, 20_000);
});

/** A request whose body never comes must not hold a socket, whatever the client does with its own half. */
describe('a refused body still arriving when REQUEST_TIMEOUT_MS passes', () => {
  it('is read to its end and answered with its refusal, not a 408, and its connection serves the next request', async () => {
    const limit = 64 * 1024;
    const t = await createTestApp({ env: { REQUEST_TIMEOUT_MS: '1000', MAX_BODY_BYTES: String(limit), MAX_EVENT_BYTES: String(limit) } });
    await t.listen();
    try {
      const steady = await connect(t.baseUrl);
      const size = 2 * limit;
      steady.socket.write(`POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`);
      // 16 pieces 200 ms apart: steady (never idle for DRAIN_IDLE_MS), and still arriving at 3 s, past the 1 s timeout.
      const piece = Buffer.alloc(size / 16, ' ');
      for (let n = 0; n < 16; n++) {
        expect(steady.answer()).toBe('');
        steady.socket.write(piece);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await expect.poll(() => steady.answer().includes('\r\n\r\n{'), { timeout: 5000, interval: 20 }).toBe(true);
      const answer = parse(steady.answer());
      expect(answer.status).toBe(413);
      expect(answer.body).toMatchObject({ status: 413, code: 'payload_too_large' });
      expect(answer.headers.connection).not.toBe('close');
      // The same connection carries the next request.
      const before = steady.answer().length;
      steady.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await expect.poll(() => steady.answer().slice(before), { timeout: 5000, interval: 20 }).toMatch(/^HTTP\/1\.1 200 /);
      steady.socket.destroy();
    } finally {
      await t.close();
    }
  }, 30_000);
});

describe('a body that never arrives', () => {
  it('the 408 goes out and the server lets go of the socket, even for a client that keeps its half open', async () => {
    const t = await createTestApp({ env: { REQUEST_TIMEOUT_MS: '1000' } });
    await t.listen();
    try {
      const slow = await connect(t.baseUrl, true);
      slow.socket.write('POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"id":');
      await slow.ended;
      expect(slow.answer()).toMatch(/^HTTP\/1\.1 408 /);
      // The client has not closed its half: only the server can have let go.
      await expect.poll(() => connections(t.app.server), { timeout: 5000, interval: 50 }).toBe(0);
      expect(slow.socket.destroyed).toBe(false);
      slow.socket.destroy();
    } finally {
      await t.close();
    }
  }, 20_000);

  it('on a stream that already answered, the connection is cut at the timeout (no second answer)', async () => {
    const t = await createTestApp({ env: { REQUEST_TIMEOUT_MS: '1000' } });
    await t.listen();
    try {
      await createSession(t, 'cut');
      const client = await connect(t.baseUrl);
      // A GET that announces a body it never sends: the stream answers at once, the body never completes.
      client.socket.write('GET /v1/sessions/cut/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n');
      await expect.poll(() => client.answer(), { timeout: 5000, interval: 20 }).toContain('event: session.activity');
      await client.closed;
      const answer = client.answer();
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(answer.match(/^HTTP\/1\.1 /gm)).toHaveLength(1);
      expect(answer).not.toContain('request_timeout');
      expect(await connections(t.app.server)).toBe(0);
    } finally {
      await t.close();
    }
  }, 20_000);
});

describe('requests Node cannot parse, on the native routes', () => {
  it('headers past the size limit get a readable 431, a bad Content-Length a 400, each a problem document; then the connection closes and the server serves on', async () => {
    const t = await createTestApp();
    await t.listen();
    try {
      await createSession(t, 'parse-native');
      const cases: [string, string, number, RegExp][] = [
        [
          'headers past 16 KiB',
          `GET /v1/sessions/parse-native HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`,
          431,
          /header/i,
        ],
        [
          'a Content-Length not a number',
          'POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}',
          400,
          /^the request is not valid HTTP\/1\.1 \(.+\); nothing was done$/,
        ],
      ];
      for (const [what, request, status, detail] of cases) {
        const client = await connect(t.baseUrl);
        client.socket.write(request);
        await unlessStuck(client.closed, `${what}: the connection's close`);
        const answer = parse(client.answer());
        expect(answer.status, what).toBe(status);
        expect(answer.headers['content-type'], what).toMatch(/^application\/problem\+json/);
        expect(answer.headers.connection, what).toBe('close');
        expect(answer.body, what).toMatchObject({ status, code: 'invalid_request' });
        expect(answer.body.detail, what).toMatch(detail);
      }
      const after = await fetch(`${t.baseUrl}/v1/sessions/parse-native`);
      expect(after.status).toBe(200);
    } finally {
      await t.close();
    }
  });
});
