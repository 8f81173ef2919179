import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';
import { SseClient } from '../helpers/sse.js';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
let t: TestApp;
let admin: string;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const mint = (grants: { sessions?: string[]; read?: boolean; write?: boolean; admin?: boolean }, ttlSeconds = 3600) =>
  mintToken(SECRET, { sessions: grants.sessions ?? [], read: grants.read, write: grants.write, admin: grants.admin, ttlSeconds });
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

beforeAll(async () => {
  t = await createTestApp({ env: { AUTH_SECRET: SECRET, CORS_ORIGINS: 'https://dash.example.com' } });
  await t.listen();
  admin = await mint({ admin: true });
  for (const id of ['team-a:1', 'team-a:2', 'team-b:1', 'solo']) {
    expect((await call(t.app, 'POST', '/v1/sessions', { id }, bearer(admin))).statusCode).toBe(201);
  }
});
afterAll(() => t.close());

describe('401 unauthorized', () => {
  async function expect401(headers: Record<string, string>, detail: RegExp) {
    const res = await call(t.app, 'GET', '/v1/sessions/team-a:1', undefined, headers);
    const problem = expectProblem(res, 401, 'unauthorized');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(problem.detail).toMatch(detail);
  }

  it('for garbage', () => expect401(bearer('not.a.jwt'), /malformed or its signature/));

  it('for a token signed with another secret', async () => {
    const forged = await mintToken('another-secret-that-is-also-32-bytes-long!!', { sessions: ['*'], admin: true, ttlSeconds: 60 });
    await expect401(bearer(forged), /signature/);
  });

  it('for an expired token', async () => {
    const expired = await new SignJWT({ grants: { sessions: ['team-a:1'], read: true } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(SECRET));
    await expect401(bearer(expired), /expired/);
  });

  it('for a token without exp', async () => {
    const eternal = await new SignJWT({ grants: { sessions: ['team-a:1'], read: true } })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    await expect401(bearer(eternal), /exp/);
  });

  it('for alg "none" and for another HMAC algorithm with the right secret', async () => {
    const payload = { grants: { sessions: ['*'], admin: true }, exp: Math.floor(Date.now() / 1000) + 600 };
    await expect401(bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`), /.+/);
    const hs512 = await new SignJWT(payload).setProtectedHeader({ alg: 'HS512' }).sign(new TextEncoder().encode(SECRET));
    await expect401(bearer(hs512), /HS256/);
  });

  it('for a token without grants', async () => {
    const bare = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    await expect401(bearer(bare), /grants/);
  });

  it('on every /v1 route, writes included, before anything is validated or stored', async () => {
    expectProblem(await call(t.app, 'POST', '/v1/sessions', { id: 'sneaky' }), 401, 'unauthorized');
    expectProblem(await call(t.app, 'POST', '/v1/sessions/team-a:1/events', { nonsense: true }), 401, 'unauthorized');
    expectProblem(await call(t.app, 'GET', '/v1/sessions'), 401, 'unauthorized');
    expect((await call(t.app, 'GET', '/v1/sessions/sneaky', undefined, bearer(admin))).statusCode).toBe(404);
  });
});

describe('403 forbidden at each grant boundary', () => {
  it('read may read matching sessions, and nothing else', async () => {
    const reader = await mint({ sessions: ['team-a:*'], read: true });
    expect((await call(t.app, 'GET', '/v1/sessions/team-a:1', undefined, bearer(reader))).statusCode).toBe(200);
    expect((await call(t.app, 'GET', '/v1/sessions/team-a:2/events', undefined, bearer(reader))).statusCode).toBe(200);
    expectProblem(await call(t.app, 'GET', '/v1/sessions/team-b:1', undefined, bearer(reader)), 403, 'forbidden');
    expectProblem(await call(t.app, 'POST', '/v1/sessions/team-a:1/events', { events: [{ type: 'x', data: 1 }] }, bearer(reader)), 403, 'forbidden');
    expectProblem(await call(t.app, 'PUT', '/v1/sessions/team-a:1/activity', { status: 'x' }, bearer(reader)), 403, 'forbidden');
  });

  it('write may write matching sessions (creating one included), but not read them', async () => {
    const writer = await mint({ sessions: ['team-a:*'], write: true });
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'team-a:new' }, bearer(writer))).statusCode).toBe(201);
    expect((await call(t.app, 'POST', '/v1/sessions/team-a:new/events', { events: [{ type: 'x', data: 1 }] }, bearer(writer))).statusCode).toBe(201);
    expectProblem(await call(t.app, 'POST', '/v1/sessions', { id: 'team-b:new' }, bearer(writer)), 403, 'forbidden');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/team-a:new', undefined, bearer(writer)), 403, 'forbidden');
  });

  it('an exact pattern matches only that id, not ids it prefixes', async () => {
    const exact = await mint({ sessions: ['solo'], read: true });
    expect((await call(t.app, 'GET', '/v1/sessions/solo', undefined, bearer(exact))).statusCode).toBe(200);
    await call(t.app, 'POST', '/v1/sessions', { id: 'solo2' }, bearer(admin));
    expectProblem(await call(t.app, 'GET', '/v1/sessions/solo2', undefined, bearer(exact)), 403, 'forbidden');
  });

  it('naming a parent_id needs read on the parent: refused 403 before any lookup, whether the parent exists or not', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'kin:parent' }, bearer(admin))).statusCode).toBe(201);
    const create = (token: string, id: string, parentId: string) => call(t.app, 'POST', '/v1/sessions', { id, parent_id: parentId }, bearer(token));

    // Write on every kin:* session, read on none: it may create kin:child, but not name a parent.
    const writer = await mint({ sessions: ['kin:*'], write: true });
    for (const parent of ['kin:parent', 'kin:nobody']) {
      const problem = expectProblem(await create(writer, 'kin:child', parent), 403, 'forbidden');
      expect(problem.detail).toBe(`this token may not read session "${parent}", so it may not name it as parent_id`);
    }
    expectProblem(await call(t.app, 'GET', '/v1/sessions/kin:child', undefined, bearer(admin)), 404, 'session_not_found');

    // Read and write on kin:*: the missing parent is its 404, the existing one is the child's parent.
    const both = await mint({ sessions: ['kin:*'], read: true, write: true });
    expectProblem(await create(both, 'kin:child', 'kin:nobody'), 404, 'parent_not_found');
    const made = await create(both, 'kin:child', 'kin:parent');
    expect(made.statusCode).toBe(201);
    expect(made.json().parent_id).toBe('kin:parent');
  });

  it('admin-only: delete, create without an id, metrics', async () => {
    const both = await mint({ sessions: ['*'], read: true, write: true });
    expectProblem(await call(t.app, 'DELETE', '/v1/sessions/team-a:2', undefined, bearer(both)), 403, 'forbidden');
    expectProblem(await call(t.app, 'POST', '/v1/sessions', {}, bearer(both)), 403, 'forbidden');
    expectProblem(await call(t.app, 'GET', '/metrics', undefined, bearer(both)), 403, 'forbidden');
    expectProblem(await call(t.app, 'GET', '/metrics'), 401, 'unauthorized');
    expect((await call(t.app, 'GET', '/metrics', undefined, bearer(admin))).statusCode).toBe(200);
    expect((await call(t.app, 'POST', '/v1/sessions', {}, bearer(admin))).statusCode).toBe(201);
  });

  it('health, readiness and the docs stay open', async () => {
    for (const url of ['/healthz', '/readyz', '/openapi.json']) expect((await call(t.app, 'GET', url)).statusCode, url).toBe(200);
  });
});

describe('lists and feeds show only what the caller may read', () => {
  it('GET /v1/sessions', async () => {
    const reader = await mint({ sessions: ['team-a:*', 'solo'], read: true });
    const ids = (await call(t.app, 'GET', '/v1/sessions?limit=1000', undefined, bearer(reader))).json().sessions.map((s: { id: string }) => s.id);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect(id === 'solo' || id.startsWith('team-a:')).toBe(true);
    const writerOnly = await mint({ sessions: ['*'], write: true });
    expect((await call(t.app, 'GET', '/v1/sessions', undefined, bearer(writerOnly))).json().sessions).toEqual([]);
    const all = (await call(t.app, 'GET', '/v1/sessions?limit=1000', undefined, bearer(admin))).json().sessions.map((s: { id: string }) => s.id);
    expect(all).toEqual(expect.arrayContaining(['team-b:1', 'team-a:1', 'solo']));
  });

  it('a prefix grant with LIKE wildcards in it matches literally', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'a_b:1' }, bearer(admin));
    await call(t.app, 'POST', '/v1/sessions', { id: 'axb:1' }, bearer(admin));
    const reader = await mint({ sessions: ['a_b:*'], read: true });
    const ids = (await call(t.app, 'GET', '/v1/sessions', undefined, bearer(reader))).json().sessions.map((s: { id: string }) => s.id);
    expect(ids).toEqual(['a_b:1']);
  });

  it('GET /v1/changes', async () => {
    const reader = await mint({ sessions: ['team-a:*'], read: true });
    const feed = await SseClient.open(`${t.baseUrl}/v1/changes?access_token=${reader}`);
    try {
      expect(feed.status).toBe(200);
      await feed.waitFor(() => feed.ofType('sweep_required').length === 1, 'sweep_required');
      await call(t.app, 'POST', '/v1/sessions/team-b:1/events', { events: [{ type: 'x', data: 1 }] }, bearer(admin));
      await call(t.app, 'POST', '/v1/sessions/team-a:1/events', { events: [{ type: 'x', data: 1 }] }, bearer(admin));
      await feed.waitFor(() => feed.ofType('session.changed').length >= 1, 'a hint');
      await call(t.app, 'POST', '/v1/sessions', { id: 'team-b:2' }, bearer(admin));
      await call(t.app, 'POST', '/v1/sessions', { id: 'team-a:3' }, bearer(admin));
      await feed.waitFor(() => feed.ofType('session.created').length >= 1, 'a created notice');
      const seen = feed.messages.filter((m) => m.json?.session_id).map((m) => m.json.session_id);
      expect(seen.every((id: string) => id.startsWith('team-a:'))).toBe(true);
    } finally {
      await feed.close();
    }
  });
});

describe('tokens on streams', () => {
  it('EventSource passes its token as ?access_token=', async () => {
    const reader = await mint({ sessions: ['team-a:1'], read: true });
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/team-a:1/stream?access_token=${reader}`);
    try {
      expect(stream.status).toBe(200);
      await stream.waitFor(() => stream.ofType('session.activity').length === 1, 'the activity marker');
    } finally {
      await stream.close();
    }
    const denied = await call(t.app, 'GET', `/v1/sessions/team-b:1/stream?access_token=${reader}`);
    expectProblem(denied, 403, 'forbidden');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/team-a:1/stream?access_token=garbage'), 401, 'unauthorized');
  });

  it('is not accepted in the query of ordinary routes', async () => {
    const reader = await mint({ sessions: ['team-a:1'], read: true });
    expectProblem(await call(t.app, 'GET', `/v1/sessions/team-a:1?access_token=${reader}`), 401, 'unauthorized');
  });

  it('never reaches the logs', async () => {
    const { lines, ...log } = logSink('trace');
    const logged = await createTestApp({ databaseUrl: t.url, env: { AUTH_SECRET: SECRET }, log });
    const { app } = logged;
    try {
      const reader = await mint({ sessions: ['team-a:1'], read: true });
      await app.inject({ method: 'GET', url: '/v1/sessions/team-a:1', headers: bearer(reader) });
      await app.inject({ method: 'GET', url: `/v1/sessions/team-a:1/stream?live=false&access_token=${reader}` });
      await app.inject({ method: 'GET', url: '/v1/sessions/team-a:1', headers: bearer(`${reader}x`) });
      const log = lines.join('\n');
      expect(log).toContain('access_token=[redacted]');
      expect(log).not.toContain(reader);
      expect(log).not.toContain(reader.split('.')[2]);
    } finally {
      await logged.close();
    }
  });
});

describe('CORS', () => {
  it('answers a preflight from a listed origin, exposing the headers dashboards read', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/v1/sessions/team-a:1/deltas',
      headers: {
        origin: 'https://dash.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, idempotency-key',
      },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://dash.example.com');
    expect(String(res.headers['access-control-allow-headers'])).toContain('idempotency-key');
    const simple = await call(t.app, 'GET', '/v1/sessions/team-a:1', undefined, { ...bearer(admin), origin: 'https://dash.example.com' });
    expect(simple.headers['access-control-allow-origin']).toBe('https://dash.example.com');
    expect(String(simple.headers['access-control-expose-headers'])).toContain('etag');
  });

  it('a preflight allows every method some route answers to, so no route is out of a dashboard\'s reach', async () => {
    // An app of its own, built in the test: the CORS rule is fixed while the app is built, which for t was in beforeAll.
    const own = await createTestApp({ databaseUrl: t.url, env: { AUTH_SECRET: SECRET, CORS_ORIGINS: 'https://dash.example.com' } });
    const { app } = own;
    try {
      const routed = new Set([...app.printRoutes({ commonPrefix: false }).matchAll(/\(([A-Z, ]+)\)/g)].flatMap((m) => m[1]!.split(', ')));
      routed.delete('OPTIONS');
      // The route table was read (a method added later is checked below without a change here).
      expect([...routed]).toEqual(expect.arrayContaining(['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT']));
      for (const method of routed) {
        const res = await app.inject({
          method: 'OPTIONS',
          url: '/v1/sessions/team-a:1',
          headers: { origin: 'https://dash.example.com', 'access-control-request-method': method },
        });
        expect(res.statusCode, method).toBe(204);
        expect(String(res.headers['access-control-allow-methods']).split(/,\s*/), method).toContain(method);
        expect(res.headers['access-control-max-age']).toBe('600');
      }
    } finally {
      await own.close();
    }
  });

  it('does not allow an unlisted origin', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/v1/sessions/team-a:1',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' },
    });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  // A refusal a page on a listed origin cannot read is a network error to it, with nothing to show.
  describe('on answers no route gives, also those the router gives before any hook runs', () => {
    const listed = 'https://dash.example.com';
    const cases = [
      { what: 'a bad %-escape', method: 'GET', url: '/v1/sessions/%zz', status: 400, code: 'invalid_request', face: false },
      { what: 'an over-long parameter', method: 'GET', url: `/v1/sessions/${'a'.repeat(1100)}`, status: 400, code: 'invalid_request', face: false },
      { what: 'a bad %-escape on the streams face', method: 'GET', url: '/v1/stream/team-a/%zz', status: 400, code: 'invalid_stream_path', face: true },
      { what: 'an unknown route', method: 'GET', url: '/nowhere', status: 404, code: 'not_found', face: false },
      { what: 'a method a path has not', method: 'PATCH', url: '/v1/sessions', status: 405, code: 'method_not_allowed', face: false },
      { what: 'a method the streams face has not', method: 'PATCH', url: '/v1/stream/team-a/1', status: 405, code: 'method_not_allowed', face: true },
    ] as const;

    it.each(cases)('$what ($status $code) has the CORS and security headers of a routed answer', async ({ method, url, status, code, face }) => {
      const routed = await call(t.app, 'GET', face ? '/v1/stream/team-a/1' : '/v1/sessions/team-a:1', undefined, {
        ...bearer(admin),
        origin: listed,
      });
      expect(routed.statusCode).toBe(200);
      const res = await t.app.inject({ method, url, headers: { ...bearer(admin), origin: listed } });
      expectProblem(res, status, code);
      expect(res.headers['access-control-allow-origin']).toBe(listed);
      for (const name of ['access-control-allow-origin', 'access-control-expose-headers', 'vary', 'cross-origin-resource-policy']) {
        expect(res.headers[name], name).toBe(routed.headers[name]);
      }
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['cross-origin-resource-policy']).toBe(face ? 'cross-origin' : undefined);
    });

    it.each(cases)('$what ($status $code) does not allow an unlisted origin', async ({ method, url, status, code }) => {
      const res = await t.app.inject({ method, url, headers: { ...bearer(admin), origin: 'https://evil.example.com' } });
      expectProblem(res, status, code);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    });
  });

  it('reaches SSE responses too', async () => {
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/team-a:1/stream?live=false`, {
      ...bearer(admin),
      origin: 'https://dash.example.com',
    });
    try {
      expect(stream.headers.get('access-control-allow-origin')).toBe('https://dash.example.com');
    } finally {
      await stream.close();
    }
  });
});
