import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type DurableEvent, type LiveEvent, type SessionChange, type StreamStatus } from '../../client/src/index.js';
import { mintToken } from '../../src/auth/tokens.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { until } from '../helpers/waits.js';

// A stream ends at its token's `exp` with `session.token_expired`: the client
// reconnects with a fresh token from its token function and resumes from its
// cursor, and the frame is never handed to the application as a live event or change.
const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
let t: TestApp;
let admin: string;

beforeAll(async () => {
  t = await createTestApp({ env: { AUTH_SECRET: SECRET } });
  await t.listen();
  admin = await mintToken(SECRET, { sessions: ['*'], admin: true, ttlSeconds: 3600 });
});
afterAll(() => t?.close());

/** A token source handing out short-lived read tokens, counting how often it is asked. */
function shortLivedTokens() {
  const issued: string[] = [];
  return {
    issued,
    token: async () => {
      const token = await mintToken(SECRET, { sessions: ['exp-*'], read: true, ttlSeconds: 2 });
      issued.push(token);
      return token;
    },
  };
}

describe('streams that outlive their token', () => {
  it('subscribe reconnects with a fresh token at session.token_expired and resumes from its cursor', async () => {
    const writer = createClient({ baseUrl: t.baseUrl, token: admin });
    await writer.createSession({ id: 'exp-sub' });
    await writer.appendEvents('exp-sub', { events: [{ type: 'step', data: 1 }] });
    const tokens = shortLivedTokens();
    const reader = createClient({ baseUrl: t.baseUrl, token: tokens.token, retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 50 } });
    const events: DurableEvent[] = [];
    const live: LiveEvent[] = [];
    const statuses: StreamStatus[] = [];
    const errors: unknown[] = [];
    const sub = reader.subscribe('exp-sub', {}, {
      onEvent: (event) => events.push(event),
      onLive: (event) => live.push(event),
      onStatus: (status) => statuses.push(status),
      onError: (error) => errors.push(error),
    });
    try {
      await until(() => events.length === 1, 'the first event');
      // Past the first token's exp: the server ended that stream, the client opened another with a new token.
      await until(() => tokens.issued.length >= 2 && sub.status === 'open', 'a reconnect with a second token', 10_000);
      await writer.appendEvents('exp-sub', { events: [{ type: 'step', data: 2 }] });
      await until(() => events.length === 2, 'the event after the reconnect');
      await writer.publishLive('exp-sub', { type: 'token', data: { text: 'hi' } });
      await until(() => live.length >= 1, 'a live event');
    } finally {
      sub.close();
      await sub.closed;
    }
    expect(events.map((e) => e.seq)).toEqual([1, 2]);
    expect(live.map((e) => e.type)).toEqual(['token']);
    expect(statuses).toContain('reconnecting');
    expect(errors).toEqual([]);
  });

  it('watchChanges reconnects with a fresh token at session.token_expired and sweeps again', async () => {
    const tokens = shortLivedTokens();
    const reader = createClient({ baseUrl: t.baseUrl, token: tokens.token, retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 50 } });
    const changes: SessionChange[] = [];
    const errors: unknown[] = [];
    let sweeps = 0;
    const feed = reader.watchChanges({
      onChange: (change) => changes.push(change),
      onSweepRequired: () => sweeps++,
      onError: (error) => errors.push(error),
    });
    try {
      await until(() => sweeps >= 2 && feed.status === 'open', 'a second sweep after the token expired', 10_000);
      await createClient({ baseUrl: t.baseUrl, token: admin }).createSession({ id: 'exp-feed' });
      await until(() => changes.some((c) => c.session_id === 'exp-feed'), 'a change after the reconnect');
    } finally {
      feed.close();
      await feed.closed;
    }
    expect(tokens.issued.length).toBeGreaterThanOrEqual(2);
    expect(changes.map((c) => c.type)).not.toContain('session.token_expired');
    expect(errors).toEqual([]);
  });
});
