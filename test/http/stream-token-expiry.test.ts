import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

// A stream is authorised once, when it opens; it must not outlive its token.
const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
let t: TestApp;
let admin: string;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const reader = (ttlSeconds: number) => mintToken(SECRET, { sessions: ['team-a:*'], read: true, ttlSeconds });

beforeAll(async () => {
  t = await createTestApp({ env: { AUTH_SECRET: SECRET } });
  await t.listen();
  admin = await mintToken(SECRET, { sessions: ['*'], admin: true, ttlSeconds: 3600 });
  expect((await call(t.app, 'POST', '/v1/sessions', { id: 'team-a:1' }, bearer(admin))).statusCode).toBe(201);
});
afterAll(() => t.close());

describe('streams end when their token expires', () => {
  it('a session stream gets session.token_expired and ends; a fresh token resumes from Last-Event-ID', async () => {
    const append = (n: number) => call(t.app, 'POST', '/v1/sessions/team-a:1/events', { events: [{ type: 'step', data: n }] }, bearer(admin));
    const shortLived = await reader(3);
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/team-a:1/stream?access_token=${shortLived}`);
    try {
      expect(stream.status).toBe(200);
      await append(1);
      await stream.waitForDurable(1);
      await stream.waitForEnd(10_000);
      const last = stream.messages.at(-1);
      expect(last?.event).toBe('session.token_expired');
      expect(last?.id).toBeUndefined();
      const expiredAt = Date.parse(last?.json.expired_at);
      expect(expiredAt).toBeLessThanOrEqual(Date.now());
      expect(stream.error).toBeUndefined();
    } finally {
      await stream.close();
    }
    await append(2);
    const fresh = await SseClient.open(`${t.baseUrl}/v1/sessions/team-a:1/stream?access_token=${await reader(3600)}`, { 'last-event-id': '1' });
    try {
      await fresh.waitForDurable(1);
      expect(fresh.durable.map((m) => m.json.data)).toEqual([2]);
      expect(fresh.ofType('session.token_expired')).toHaveLength(0);
    } finally {
      await fresh.close();
    }
  }, 20_000);

  it('the changes feed gets session.token_expired and ends', async () => {
    const feed = await SseClient.open(`${t.baseUrl}/v1/changes`, bearer(await reader(2)));
    try {
      expect(feed.status).toBe(200);
      await feed.waitForEnd(10_000);
      // A write by an earlier test can still be announced (its NOTIFY is late on a loaded machine): that is the feed working.
      const events = feed.messages.map((m) => m.event).filter((event) => event !== 'session.changed');
      expect(events).toEqual(['sweep_required', 'session.token_expired']);
    } finally {
      await feed.close();
    }
  }, 20_000);

  // Node's timers take at most 2^31-1 ms (24.8 days); a longer delay fires after 1 ms. A service token valid for
  // 60 days must not end its stream at once.
  it('a token valid for longer than a timer can wait (60 days) keeps its stream open', async () => {
    const longLived = await reader(60 * 86_400);
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/team-a:1/stream?access_token=${longLived}`);
    try {
      expect(stream.status).toBe(200);
      const n = Date.now();
      expect((await call(t.app, 'POST', '/v1/sessions/team-a:1/events', { events: [{ type: 'step', data: n }] }, bearer(admin))).statusCode).toBe(201);
      await stream.waitFor(() => stream.durable.some((m) => m.json.data === n), 'the event appended after opening');
      expect(stream.ofType('session.token_expired')).toHaveLength(0);
      expect(stream.ended).toBe(false);
    } finally {
      await stream.close();
    }
  });
});

