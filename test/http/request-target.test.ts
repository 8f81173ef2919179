import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';

/*
 * An HTTP/1.1 server must take a request target in absolute-form (RFC 9112
 * section 3.2.2: `GET http://host/v1/sessions/a HTTP/1.1`), which proxies and
 * hand-written clients send. The router routes it by its path; each place
 * below that reads the target must read it so too, or the same request in the
 * other form is another request. Node's clients always send origin-form, so
 * these requests are written by hand on a socket.
 */

const SECRET = 'a-request-target-secret-32-bytes-long!';
let t: TestApp;
let log: ReturnType<typeof logSink>;
let bearer: Record<string, string>;
let token: string;

beforeAll(async () => {
  log = logSink('info');
  t = await createTestApp({ env: { AUTH_SECRET: SECRET, REQUEST_TIMEOUT_MS: '1000' }, log });
  await t.listen();
  token = await mintToken(SECRET, { sessions: ['*'], read: true, write: true, admin: true, ttlSeconds: 600 });
  bearer = { authorization: `Bearer ${token}` };
  for (const id of ['target:1', 'target:2']) expect((await send('POST', '/v1/sessions', bearer, { id })).status).toBe(201);
  expect((await send('PUT', '/v1/stream/target/face', { ...bearer, 'content-type': 'text/plain' }, 'ab')).status).toBe(201);
});
afterAll(() => t.close());

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: any;
}

/** One request written by hand on a connection of its own, its target as given; the whole answer once the server closes. */
async function send(method: string, target: string, headers: Record<string, string> = {}, body?: unknown, untilHead = false): Promise<Answer> {
  const bytes = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const head = { host: 'sync.example.com', connection: 'close', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers };
  const lines = Object.entries({ ...head, 'content-length': String(Buffer.byteLength(bytes)) }).map(([name, value]) => `${name}: ${value}\r\n`);
  const socket = net.connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
  // Written, not ended: a client that half-closes is taken to have gone away. Connection: close ends the answer.
  socket.write(`${method} ${target} HTTP/1.1\r\n${lines.join('')}\r\n${bytes}`);
  let raw = '';
  for await (const chunk of socket) {
    raw += String(chunk);
    // An event stream stays open past its catch-up: its head is the answer here.
    if (untilHead && raw.includes('\r\n\r\n')) break;
  }
  return parse(raw);
}

function parse(raw: string): Answer {
  const split = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = raw.slice(0, split).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const text = raw.slice(split + 4);
  return { status: Number(statusLine.split(' ')[1]), headers, body: /json/.test(headers['content-type'] ?? '') ? JSON.parse(text) : text };
}

/** The same target in absolute-form, as a proxy would send it. */
const absolute = (path: string) => `http://sync.example.com${path}`;

describe('a request target in absolute-form is the same request as its path', () => {
  it('a keyed write sent in one form, then in the other, is replayed, not refused as another request with the key', async () => {
    const write = { events: [{ type: 'note.added', data: { n: 1 } }] };
    for (const [key, first, second] of [
      ['origin-then-absolute', (p: string) => p, absolute],
      ['absolute-then-origin', absolute, (p: string) => p],
    ] as const) {
      const path = '/v1/sessions/target:1/events';
      const headers = { ...bearer, 'idempotency-key': key };
      const original = await send('POST', first(path), headers, write);
      expect(original.status, key).toBe(201);
      const retry = await send('POST', second(`${path}?form=other`), headers, write);
      expect({ status: retry.status, replayed: retry.headers['idempotent-replayed'], body: retry.body }, key).toEqual({
        status: 201,
        replayed: 'true',
        body: original.body,
      });
    }
    // Two writes, each once: the retries wrote nothing.
    const events = await send('GET', '/v1/sessions/target:1/events', bearer);
    expect(events.body.events.map((e: { type: string }) => e.type)).toEqual(['note.added', 'note.added']);
  });

  it('a known path with a method it does not take is 405 with Allow, and a problem names the path as its instance', async () => {
    for (const [method, path] of [
      ['DELETE', '/v1/sessions/target:2/events?after=0'],
      ['GET', '/v1/sessions/nowhere:1?x=1'],
      ['GET', '/v1/no-such-route'],
      ['PUT', '/v1/sessions/target:2/deltas'],
    ] as const) {
      const inOrigin = await send(method, path, bearer);
      const inAbsolute = await send(method, absolute(path), bearer);
      expect({ status: inAbsolute.status, allow: inAbsolute.headers.allow, body: inAbsolute.body }, path).toEqual({
        status: inOrigin.status,
        allow: inOrigin.headers.allow,
        body: inOrigin.body,
      });
      expect(inAbsolute.body.instance, path).toBe(path.split('?')[0]);
    }
    const refused = await send('DELETE', absolute('/v1/sessions/target:2/events'), bearer);
    expect({ status: refused.status, allow: refused.headers.allow, code: refused.body.code }).toEqual({
      status: 405,
      allow: 'GET, HEAD, POST',
      code: 'method_not_allowed',
    });
  });

  it('the scheme is taken in any case (HTTP://, Http://, HTTPS://), as the router takes it', async () => {
    for (const scheme of ['HTTP', 'Http', 'HTTPS']) {
      const refused = await send('DELETE', `${scheme}://sync.example.com/v1/sessions/target:2/events?after=0`, bearer);
      expect({ status: refused.status, allow: refused.headers.allow, code: refused.body.code, instance: refused.body.instance }, scheme).toEqual({
        status: 405,
        allow: 'GET, HEAD, POST',
        code: 'method_not_allowed',
        instance: '/v1/sessions/target:2/events',
      });
      const face = await send('GET', `${scheme}://sync.example.com/v1/stream/target/face?offset=-1`, bearer);
      expect({ status: face.status, corp: face.headers['cross-origin-resource-policy'] }, scheme).toEqual({ status: 200, corp: 'cross-origin' });
    }
  });

  it("a Durable Streams answer and refusal carry the face's headers (CORP cross-origin)", async () => {
    for (const path of ['/v1/stream/target/face?offset=-1', '/v1/stream/target/none?offset=-1']) {
      const inOrigin = await send('GET', path, bearer);
      const inAbsolute = await send('GET', absolute(path), bearer);
      expect(inOrigin.headers['cross-origin-resource-policy'], path).toBe('cross-origin');
      expect({ status: inAbsolute.status, corp: inAbsolute.headers['cross-origin-resource-policy'] }, path).toEqual({
        status: inOrigin.status,
        corp: 'cross-origin',
      });
    }
    // A native route is not the face's: no CORP there, in either form.
    expect((await send('GET', absolute('/v1/sessions/target:2'), bearer)).headers['cross-origin-resource-policy']).toBeUndefined();
  });

  it('a body that stalls gets the 408 whose instance is the path', async () => {
    const socket = net.connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
    socket.write(`POST ${absolute('/v1/sessions?x=1')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"id":`);
    let raw = '';
    // The server closes the connection after its 408 (REQUEST_TIMEOUT_MS is 1 s here).
    for await (const chunk of socket) raw += String(chunk);
    expect(parse(raw).body).toMatchObject({ status: 408, code: 'request_timeout', instance: '/v1/sessions' });
  });

  it('the log line names the path, with an ?access_token= redacted and no userinfo', async () => {
    // EventSource's way to send a token: the one place a credential rides in the target.
    const read = await send('GET', absolute(`/v1/sessions/target:2/stream?live=false&access_token=${token}`), {}, undefined, true);
    expect(read.status).toBe(200);
    const withUserinfo = await send('GET', 'http://someone:a-password-9e1f@sync.example.com/v1/sessions/target:2', bearer);
    expect(withUserinfo.status).toBe(200);
    const urls = log.entries().flatMap((entry) => (entry.req?.url === undefined ? [] : [entry.req.url as string]));
    expect(urls).toContain('/v1/sessions/target:2/stream?live=false&access_token=[redacted]');
    expect(urls).toContain('/v1/sessions/target:2');
    const text = log.lines.join('');
    for (const part of token.split('.')) expect(text).not.toContain(part);
    expect(text).not.toContain('a-password-9e1f');
  });
});
