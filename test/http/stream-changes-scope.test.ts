import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

// GET /v1/changes (docs/API.md, "Changes feed") tells a caller only of the sessions its token may read:
// a hint names a session, its head and its activity, which a token scoped elsewhere may not learn.
const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
let t: TestApp;
let admin: string;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  t = await createTestApp({ env: { AUTH_SECRET: SECRET } });
  await t.listen();
  admin = await mintToken(SECRET, { sessions: ['*'], admin: true, ttlSeconds: 3600 });
  for (const id of ['scope-a:1', 'scope-b:1']) expect((await call(t.app, 'POST', '/v1/sessions', { id }, bearer(admin))).statusCode).toBe(201);
});
afterAll(() => t.close());

describe('the changes feed of a token scoped to some sessions', () => {
  it('carries hints (changes, creations, activity) of those sessions only, while a feed that may read all hears of the others', async () => {
    const reader = await mintToken(SECRET, { sessions: ['scope-a:*'], read: true, ttlSeconds: 3600 });
    const scoped = await SseClient.open(`${t.baseUrl}/v1/changes`, bearer(reader));
    const everything = await SseClient.open(`${t.baseUrl}/v1/changes`, bearer(admin));
    const ok = async (method: 'POST' | 'PUT', path: string, body: unknown) => {
      const response = await call(t.app, method, path, body, bearer(admin));
      expect(response.statusCode, `${method} ${path}: ${response.body}`).toBeLessThan(300);
    };
    const named = (feed: SseClient, event: string, id: string) => feed.ofType(event).some((m) => m.json?.session_id === id);
    try {
      expect([scoped.status, everything.status]).toEqual([200, 200]);
      await scoped.waitFor(() => scoped.ofType('sweep_required').length === 1, 'sweep_required');
      await everything.waitFor(() => everything.ofType('sweep_required').length === 1, 'sweep_required');
      // Each write to the session the token may not read comes before one to a session it may read: once the
      // feed has heard of the second, it has been sent (or spared) the first.
      await ok('POST', '/v1/sessions/scope-b:1/events', { events: [{ type: 'x', data: 1 }] });
      await ok('POST', '/v1/sessions/scope-a:1/events', { events: [{ type: 'x', data: 1 }] });
      await ok('POST', '/v1/sessions', { id: 'scope-b:2' });
      await ok('POST', '/v1/sessions', { id: 'scope-a:2' });
      await ok('PUT', '/v1/sessions/scope-b:1/activity', { status: 'thinking' });
      await ok('PUT', '/v1/sessions/scope-a:1/activity', { status: 'thinking' });
      for (const feed of [scoped, everything]) {
        await feed.waitFor(
          () => named(feed, 'session.changed', 'scope-a:1') && named(feed, 'session.created', 'scope-a:2') && named(feed, 'session.activity', 'scope-a:1'),
          'the hints of the sessions it may read',
        );
      }
      // The feed that may read everything heard of scope-b: the writes were announced.
      await everything.waitFor(
        () => named(everything, 'session.changed', 'scope-b:1') && named(everything, 'session.created', 'scope-b:2') && named(everything, 'session.activity', 'scope-b:1'),
        'the hints of scope-b on the unscoped feed',
      );
      const told = scoped.messages.filter((m) => m.json?.session_id !== undefined).map((m) => `${m.event} ${m.json.session_id}`);
      expect(told.filter((line) => !line.endsWith(' scope-a:1') && !line.endsWith(' scope-a:2'))).toEqual([]);
    } finally {
      await scoped.close();
      await everything.close();
    }
  });
});
