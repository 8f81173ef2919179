import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

/*
 * CORS_ORIGINS (docs/operations.md, Browsers on other origins; API.md, Access):
 * a page on a listed origin may call every route, and reads every answer,
 * refusals included, also those the router gives before any hook runs; a page
 * on any other origin reads none of them.
 */

const LISTED = 'https://dash.example.com';
const UNLISTED = 'https://evil.example.com';
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { CORS_ORIGINS: `${LISTED},http://localhost:5173` } });
  expect((await call(t.app, 'POST', '/v1/sessions', { id: 'http-cors:1' })).statusCode).toBe(201);
});
afterAll(async () => {
  await t?.close();
});

describe('a preflight from a listed origin', () => {
  // The methods of the API's routes: a dashboard can make each (a metadata PATCH, a DELETE...).
  it.each(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'])('allows %s', async (method) => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/v1/sessions/http-cors:1',
      headers: { origin: LISTED, 'access-control-request-method': method, 'access-control-request-headers': 'content-type' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(LISTED);
    expect(String(res.headers['access-control-allow-methods']).split(/,\s*/)).toContain(method);
  });
});

describe('the headers a page on a listed origin may send and read (docs/operations.md)', () => {
  // Written out here, as the operator's page lists them, not taken from the server's rule.
  const sent = ['authorization', 'content-type', 'idempotency-key', 'lease-token', 'last-event-id', 'if-none-match', 'range', 'if-range'];
  const read = ['etag', 'idempotent-replayed', 'location', 'retry-after', 'content-type', 'content-range', 'accept-ranges', 'content-disposition'];
  const list = (value: unknown) => String(value).toLowerCase().split(/,\s*/);

  it.each(sent)('a preflight allows %s', async (header) => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/v1/sessions/http-cors:1/state',
      headers: { origin: LISTED, 'access-control-request-method': 'PATCH', 'access-control-request-headers': header },
    });
    expect(res.statusCode).toBe(204);
    expect(list(res.headers['access-control-allow-headers'])).toContain(header);
  });

  it('every answer exposes what a page reads of it: a ranged download its part, its name and its tag', async () => {
    const uploaded = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions/http-cors:1/attachments',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.from('0123456789'),
    });
    expect(uploaded.statusCode, uploaded.body).toBe(201);
    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/sessions/http-cors:1/attachments/${uploaded.json().attachment_id}`,
      headers: { origin: LISTED, range: 'bytes=-4' },
    });
    expect(res.statusCode).toBe(206);
    expect(res.body).toBe('6789');
    expect(res.headers['access-control-allow-origin']).toBe(LISTED);
    const exposed = list(res.headers['access-control-expose-headers']);
    for (const header of read) expect(exposed, header).toContain(header);
    for (const header of ['content-range', 'accept-ranges', 'content-disposition', 'etag']) expect(res.headers[header], header).toBeDefined();
  });
});

describe('routes with CORS_ORIGINS set: the preflight answers every path, but routes no other method', () => {
  it('an unknown path is still a 404 not_found, whatever the method, for a page and for any other client', async () => {
    for (const [method, url] of [
      ['GET', '/v1/no-such-route'],
      ['POST', '/v2/sessions'],
      ['DELETE', '/nothing/here'],
    ] as const) {
      for (const headers of [{}, { origin: LISTED }]) {
        const res = await t.app.inject({ method, url, headers });
        const problem = expectProblem(res, 404, 'not_found');
        expect(res.headers.allow, `${method} ${url}`).toBeUndefined();
        expect(problem.allowed, `${method} ${url}`).toBeUndefined();
      }
    }
  });

  it('a known path with a method it does not take is 405, and Allow names its routes, not OPTIONS', async () => {
    const res = await t.app.inject({ method: 'PUT', url: '/v1/sessions/http-cors:1/events', headers: { origin: LISTED } });
    const problem = expectProblem(res, 405, 'method_not_allowed');
    expect(String(res.headers.allow).split(/,\s*/)).toEqual(['GET', 'HEAD', 'POST']);
    expect(problem.allowed).toEqual(['GET', 'HEAD', 'POST']);
    expect(res.headers['access-control-allow-origin']).toBe(LISTED);
  });
});

describe('a refusal given before any route (a bad %-escape, an over-long parameter)', () => {
  const refused = [
    ['a bad %-escape', 'GET', '/v1/sessions/%zz'],
    ['an over-long parameter', 'GET', `/v1/sessions/${'a'.repeat(1100)}`],
    ['a bad %-escape on the streams face', 'GET', '/v1/stream/http-cors/%zz'],
  ] as const;

  it.each(refused)('%s is readable by a page on a listed origin', async (_what, method, url) => {
    const res = await t.app.inject({ method, url, headers: { origin: LISTED } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['access-control-allow-origin']).toBe(LISTED);
    expect(res.headers.vary).toMatch(/origin/i);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it.each(refused)('%s is not readable by a page on an unlisted origin', async (_what, method, url) => {
    const res = await t.app.inject({ method, url, headers: { origin: UNLISTED } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('nor by a page on no origin at all, nor on one that only starts like a listed one', async () => {
    for (const origin of [undefined, `${LISTED}.evil.example`, 'https://dash.example.co', 'null']) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/sessions/%zz', headers: origin === undefined ? {} : { origin } });
      expectProblem(res, 400, 'invalid_request');
      expect(res.headers['access-control-allow-origin'], String(origin)).toBeUndefined();
    }
  });
});
