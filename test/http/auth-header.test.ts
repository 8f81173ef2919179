import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { mintToken } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config.js';
import { connectDatabase } from '../../src/db/client.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

/** How a token may be sent, to the character: the Authorization header's form and ?access_token= on streams. */

const SECRET = 'an-auth-header-secret-that-is-32-bytes-long';
const MALFORMED = 'the Authorization header must be "Bearer <token>"';
let t: TestApp;
let reader: string;

beforeAll(async () => {
  t = await createTestApp({ env: { AUTH_SECRET: SECRET } });
  const admin = await mintToken(SECRET, { sessions: [], admin: true, ttlSeconds: 600 });
  expect((await call(t.app, 'POST', '/v1/sessions', { id: 'hdr:1' }, { authorization: `Bearer ${admin}` })).statusCode).toBe(201);
  reader = await mintToken(SECRET, { sessions: ['hdr:*'], read: true, ttlSeconds: 600 });
});
afterAll(() => t.close());

describe('the Authorization header', () => {
  it('is "Bearer", any case, then whitespace, the token, and optional trailing whitespace', async () => {
    for (const header of [`Bearer ${reader}`, `bearer ${reader}`, `BEARER ${reader}`, `Bearer  ${reader}`, `Bearer\t${reader}`, `Bearer ${reader}  `]) {
      const res = await call(t.app, 'GET', '/v1/sessions/hdr:1', undefined, { authorization: header });
      expect(res.statusCode, JSON.stringify(header)).toBe(200);
    }
  });

  it('anything else is a 401 that shows the form, whatever token it carries', async () => {
    for (const header of [`Token ${reader}`, `x Bearer ${reader}`, `Bearer ${reader} junk`, `Bearer`, `Bearer `, `${reader}`, `Bearer: ${reader}`]) {
      const res = await call(t.app, 'GET', '/v1/sessions/hdr:1', undefined, { authorization: header });
      const problem = expectProblem(res, 401, 'unauthorized');
      expect({ header, detail: problem.detail, challenge: res.headers['www-authenticate'] }).toEqual({
        header,
        detail: MALFORMED,
        challenge: 'Bearer realm="session-sync", error="invalid_token"',
      });
    }
  });
});

describe('?access_token= on a stream', () => {
  it('an empty one is no token: the 401 says how to send one', async () => {
    const problem = expectProblem(await call(t.app, 'GET', '/v1/sessions/hdr:1/stream?live=false&access_token='), 401, 'unauthorized');
    expect(problem.detail).toBe('this route needs a token: send "Authorization: Bearer <token>" or ?access_token=');
  });

  it('the header wins over the query, so a bad header is refused even beside a good query token', async () => {
    const res = await call(t.app, 'GET', `/v1/sessions/hdr:1/stream?live=false&access_token=${reader}`, undefined, { authorization: 'Basic abc' });
    expect(expectProblem(res, 401, 'unauthorized').detail).toBe(MALFORMED);
  });
});

describe('a /v1 route that declares no access', () => {
  it('is admin-only (closed by default), while such a route outside /v1 stays open', async () => {
    const config = loadConfig({ DATABASE_URL: t.url, AUTH_SECRET: SECRET, LOG_LEVEL: 'silent' });
    const database = connectDatabase({ url: t.url, poolMax: 2 });
    const app = await buildApp({ config, database, logger: false, listen: false });
    try {
      app.get('/v1/forgotten', async () => ({ ok: true }));
      app.get('/forgotten', async () => ({ ok: true }));
      await app.ready();
      const everyone = await mintToken(SECRET, { sessions: ['*'], read: true, write: true, ttlSeconds: 600 });
      const admin = await mintToken(SECRET, { sessions: [], admin: true, ttlSeconds: 600 });
      expectProblem(await call(app, 'GET', '/v1/forgotten'), 401, 'unauthorized');
      const denied = expectProblem(await call(app, 'GET', '/v1/forgotten', undefined, { authorization: `Bearer ${everyone}` }), 403, 'forbidden');
      expect(denied.detail).toBe('this route needs an admin token');
      expect((await call(app, 'GET', '/v1/forgotten', undefined, { authorization: `Bearer ${admin}` })).json()).toEqual({ ok: true });
      expect((await call(app, 'GET', '/forgotten')).json()).toEqual({ ok: true });
      // A request target in absolute form reaches the same route, and the same rule.
      const address = await app.listen({ port: 0, host: '127.0.0.1' });
      expect(await rawStatus(address, 'GET http://127.0.0.1/v1/forgotten HTTP/1.1')).toBe(401);
      expect(await rawStatus(address, 'GET http://127.0.0.1/forgotten HTTP/1.1')).toBe(200);
    } finally {
      await app.close();
      await database.close();
    }
  });
});

/** The status of one request written by hand (a request line Node's clients never send), on a connection of its own. */
async function rawStatus(address: string, requestLine: string): Promise<number> {
  const { port } = new URL(address);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.end(`${requestLine}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  let answer = '';
  for await (const chunk of socket) answer += String(chunk);
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
}
