import { readFile } from 'node:fs/promises';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

/**
 * The access every route declares, checked against docs/API.md ("Access")
 * with session-scoped tokens, route by route. The app is built inside each
 * test: a route's `config.access` is read when the route is registered, and a
 * route that forgets it is admin-only (closed by default), which no admin
 * token would notice.
 */

const SECRET = 'a-route-access-secret-that-is-32-bytes-long';
const SESSION = 'acc:1';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

type Access = 'public' | 'read' | 'write' | 'create' | 'list' | 'admin';

/**
 * docs/API.md: `read` is GET routes and streams of matching sessions, `write`
 * every write to them, `admin` listing all, generated ids and delete; health
 * and readiness open, /metrics admin. The exceptions to that rule, each with
 * the reason the contract gives.
 */
const EXCEPTIONS: Record<string, Access> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /metrics': 'admin',
  // Create: write on the id in the body, admin for a generated id.
  'POST /v1/sessions': 'create',
  // Lists show only what the caller may read: any valid token.
  'GET /v1/sessions': 'list',
  'GET /v1/changes': 'list',
  'DELETE /v1/sessions/{id}': 'admin',
  'POST /v1/sessions/import': 'admin',
  // A fork reads its source; the handler checks write on the new id.
  'POST /v1/sessions/{id}/fork': 'read',
};

function expectedAccess(method: string, path: string): Access {
  const exception = EXCEPTIONS[`${method} ${path}`];
  if (exception) return exception;
  if (!path.startsWith('/v1/sessions/{id}')) throw new Error(`no rule in docs/API.md covers ${method} ${path}: add it to this table`);
  return method === 'GET' ? 'read' : 'write';
}

const SSE_ROUTES = new Set(['GET /v1/sessions/{id}/stream', 'GET /v1/changes']);

async function routes(): Promise<Array<{ method: string; path: string; url: string; key: string }>> {
  const document = JSON.parse(await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'));
  const out = [];
  for (const [path, item] of Object.entries<Record<string, unknown>>(document.paths)) {
    for (const method of Object.keys(item)) {
      const upper = method.toUpperCase();
      const key = `${upper} ${path}`;
      // A session that does not exist: past the access check every route answers
      // without opening a stream (404, or 400 for a body it does not take).
      let url = path.replace('{id}', encodeURIComponent(SESSION)).replace(/\{[a-z_]+\}/g, '0190a0c8-0000-7000-8000-000000000000');
      // The changes feed has no session to miss: an unknown query parameter makes it a 400 instead of a stream.
      if (key === 'GET /v1/changes') url += '?not_a_parameter=1';
      out.push({ method: upper, path, url, key });
    }
  }
  return out;
}

async function withApp(work: (t: TestApp) => Promise<void>): Promise<void> {
  const t = await createTestApp({ env: { AUTH_SECRET: SECRET } });
  try {
    await work(t);
  } finally {
    await t.close();
  }
}

const mint = (grants: { sessions: string[]; read?: boolean; write?: boolean; admin?: boolean }) =>
  mintToken(SECRET, { ...grants, ttlSeconds: 600 });

describe('every route declares the access docs/API.md gives it', () => {
  it('session-scoped read, write and other-session tokens, a non-admin token for every session, and an admin', async () => {
    const reader = await mint({ sessions: ['acc:*'], read: true });
    const writer = await mint({ sessions: ['acc:*'], write: true });
    const readWriter = await mint({ sessions: ['acc:*'], read: true, write: true });
    const stranger = await mint({ sessions: ['other:*'], read: true, write: true });
    const everyone = await mint({ sessions: ['*'], read: true, write: true });
    const admin = await mint({ sessions: [], admin: true });

    await withApp(async (t) => {
      const send = (route: { method: string; url: string }, token?: string, body?: unknown) =>
        call(t.app, route.method as never, route.url, body, token === undefined ? {} : bearer(token));
      const allowed = async (route: { method: string; url: string; key: string }, token: string, who: string, body?: unknown) => {
        const res = await send(route, token, body);
        expect([401, 403], `${route.key} with the ${who} token: ${res.body}`).not.toContain(res.statusCode);
      };
      const denied = async (route: { method: string; url: string; key: string }, token: string, detail: string, body?: unknown) => {
        const problem = expectProblem(await send(route, token, body), 403, 'forbidden');
        expect({ route: route.key, title: problem.title, detail: problem.detail }).toEqual({ route: route.key, title: 'Forbidden', detail });
      };

      const table = await routes();
      expect(table.length).toBeGreaterThan(30);
      const seen = new Set<Access>();
      for (const route of table) {
        const access = expectedAccess(route.method, route.path);
        seen.add(access);
        if (access === 'public') {
          await allowed(route, '', 'no');
          continue;
        }
        // Every other route: no token is a 401 that says how to send one (and, on a stream, the query form).
        const res = await send(route);
        const problem = expectProblem(res, 401, 'unauthorized');
        expect({ route: route.key, title: problem.title, detail: problem.detail, challenge: res.headers['www-authenticate'] }).toEqual({
          route: route.key,
          title: 'Unauthorized',
          detail: `this route needs a token: send "Authorization: Bearer <token>"${SSE_ROUTES.has(route.key) ? ' or ?access_token=' : ''}`,
          challenge: 'Bearer realm="session-sync", error="invalid_token"',
        });
        switch (access) {
          case 'read':
            if (route.key === 'POST /v1/sessions/{id}/fork') {
              // Read on the source, and write on the new id the body names.
              await allowed(route, readWriter, 'read and write', { id: 'acc:fork' });
              const forkDetail = (id: string) => `this token may not create session "${id}" (a fork needs write on the new id; admin when the server picks it)`;
              await denied(route, reader, forkDetail('acc:fork'), { id: 'acc:fork' });
              await denied(route, readWriter, forkDetail('other:fork'), { id: 'other:fork' });
              // No id: the server picks one, which only an admin may have it do.
              const picked = expectProblem(await send(route, readWriter, {}), 403, 'forbidden');
              expect(picked.detail).toMatch(/^this token may not create session "[0-9a-f-]{36}" \(a fork needs write on the new id; admin when the server picks it\)$/);
            } else {
              await allowed(route, reader, 'read');
            }
            await denied(route, writer, `this token may not read session "${SESSION}"`);
            await denied(route, stranger, `this token may not read session "${SESSION}"`);
            break;
          case 'write':
            await allowed(route, writer, 'write');
            await denied(route, reader, `this token may not write session "${SESSION}"`);
            await denied(route, stranger, `this token may not write session "${SESSION}"`);
            break;
          case 'list':
            await allowed(route, reader, 'read');
            await allowed(route, stranger, 'other session');
            break;
          case 'create':
            await allowed(route, writer, 'write', { id: 'acc:new' });
            await denied(route, reader, 'this token may not create session "acc:new"', { id: 'acc:new' });
            await denied(route, everyone, 'only an admin token may create a session without an id', {});
            await allowed(route, admin, 'admin', {});
            break;
          case 'admin':
            await denied(route, everyone, 'this route needs an admin token');
            break;
        }
        await allowed(route, admin, 'admin');
      }
      expect([...seen].sort()).toEqual(['admin', 'create', 'list', 'public', 'read', 'write']);
    });
  });
});

describe('the Durable Streams face declares the same access (its routes are not in the OpenAPI document)', () => {
  it('HEAD and GET take read, PUT and POST write, DELETE admin, on the session the path names', async () => {
    // Only the one grant each: a route closed by default (admin-only) refuses both.
    const reader = await mint({ sessions: ['acc:*'], read: true });
    const writer = await mint({ sessions: ['acc:*'], write: true });
    const admin = await mint({ sessions: [], admin: true });

    await withApp(async (t) => {
      const ds = (method: 'PUT' | 'POST' | 'HEAD' | 'GET' | 'DELETE', query: string, token: string, body?: string) =>
        t.app.inject({ method, url: `/v1/stream/acc/face${query}`, headers: { 'content-type': 'text/plain', ...bearer(token) }, payload: body });
      const denied = async (res: LightMyRequestResponse, detail: string) => {
        expect(expectProblem(res, 403, 'forbidden').detail).toBe(detail);
      };

      expect((await ds('PUT', '', writer, 'a')).statusCode).toBe(201);
      await denied(await ds('PUT', '', reader, 'a'), 'this token may not write session "acc:face"');
      expect((await ds('POST', '', writer, 'b')).statusCode).toBe(204);
      await denied(await ds('POST', '', reader, 'b'), 'this token may not write session "acc:face"');

      const head = await ds('HEAD', '', reader);
      expect(head.statusCode).toBe(200);
      expect(head.headers['stream-next-offset']).toBe('0000000000000000_0000000000000002');
      // A HEAD answer has no body to carry the problem: its status says it.
      expect((await ds('HEAD', '', writer)).statusCode).toBe(403);
      const read = await ds('GET', '?offset=-1', reader);
      expect(read.statusCode).toBe(200);
      expect(read.body).toBe('ab');
      await denied(await ds('GET', '?offset=-1', writer), 'this token may not read session "acc:face"');

      await denied(await ds('DELETE', '', writer), 'this route needs an admin token');
      expect((await ds('DELETE', '', admin)).statusCode).toBe(204);
    });
  });
});
