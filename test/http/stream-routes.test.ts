import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.js';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';
import { metric } from '../helpers/metrics.js';
import { SseClient } from '../helpers/sse.js';
import { until } from '../helpers/waits.js';

/** GET /v1/sessions/{id}/stream: what a refused, failing or long-lived stream does. */

describe('a refused stream gives its slot back', () => {
  it('with MAX_STREAMS=1, refusals (cursor ahead, unknown session) leave the one slot free', async () => {
    const t = await createTestApp({ env: { MAX_STREAMS: '1' } });
    try {
      await createSession(t, 'slot');
      for (let i = 0; i < 3; i++) {
        expectProblem(await call(t.app, 'GET', '/v1/sessions/slot/stream?after=5&live=false'), 409, 'cursor_ahead');
        expectProblem(await call(t.app, 'GET', '/v1/sessions/no-such/stream?live=false'), 404, 'session_not_found');
      }
      const res = await call(t.app, 'GET', '/v1/sessions/slot/stream?live=false');
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body).toContain('event: session.activity');
    } finally {
      await t.close();
    }
  });
});

describe('a closed changes feed gives its slot back', () => {
  it('with MAX_STREAMS=1, /v1/changes closed by its client frees the one slot for the next stream', async () => {
    const t = await createTestApp({ env: { MAX_STREAMS: '1' } });
    try {
      await t.listen();
      const feed = await SseClient.open(`${t.baseUrl}/v1/changes`);
      await feed.waitFor(() => feed.ofType('sweep_required').length === 1, 'sweep_required');
      expectProblem(await call(t.app, 'GET', '/v1/changes'), 503, 'too_many_streams');
      await feed.close();
      // The server learns of the close from its socket: asked until it has.
      await expect.poll(async () => (await call(t.app, 'GET', '/v1/sessions/no-such/stream')).statusCode).toBe(404);
      const again = await SseClient.open(`${t.baseUrl}/v1/changes`);
      expect(again.status).toBe(200);
      await again.close();
    } finally {
      await t.close();
    }
  });
});

describe('a token that expires after the longest timer Node takes (about 24.8 days)', () => {
  const SECRET = 'a-stream-routes-secret-that-is-32-bytes-long';
  it('keeps the stream open: the expiry is re-armed in steps, not fired at once', async () => {
    const t = await createTestApp({ env: { AUTH_SECRET: SECRET } });
    try {
      await t.listen();
      const admin = await mintToken(SECRET, { sessions: [], admin: true, ttlSeconds: 600 });
      expect((await call(t.app, 'POST', '/v1/sessions', { id: 'long:1' }, { authorization: `Bearer ${admin}` })).statusCode).toBe(201);
      const monthLong = await mintToken(SECRET, { sessions: ['long:*'], read: true, ttlSeconds: 30 * 24 * 3600 });
      const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/long:1/stream?access_token=${monthLong}`);
      try {
        await stream.waitFor(() => stream.ofType('session.activity').length === 1, 'the activity marker');
        await call(t.app, 'POST', '/v1/sessions/long:1/events', { events: [{ type: 'step', data: 1 }] }, { authorization: `Bearer ${admin}` });
        await stream.waitForDurable(1);
        expect(stream.messages.map((m) => m.event)).toEqual(['session.activity', 'step']);
        expect(stream.ended).toBe(false);
      } finally {
        await stream.close();
      }
    } finally {
      await t.close();
    }
  });
});

describe('a replay whose read fails', () => {
  let failNext: Error | undefined;
  const log = logSink('warn');
  let t: TestApp;
  let app: FastifyInstance;
  let baseUrl: string;

  beforeAll(async () => {
    t = await createTestApp({
      log,
      beforeStreamRead: async () => {
        const failure = failNext;
        failNext = undefined;
        if (failure) throw failure;
      },
    });
    app = t.app;
    baseUrl = await t.listen();
  });
  afterAll(async () => {
    await t.close();
  });

  it('a read that fails ends the stream and logs a warning with the error and the session', async () => {
    expect((await call(app, 'POST', '/v1/sessions', { id: 'fails' })).statusCode).toBe(201);
    await call(app, 'POST', '/v1/sessions/fails/events', { events: [{ type: 'step', data: 1 }] });
    failNext = new Error('the database went away mid-replay');
    const stream = await SseClient.open(`${baseUrl}/v1/sessions/fails/stream`);
    try {
      // Cut, not ended cleanly: no event, and no activity marker that would claim the replay was complete.
      await stream.waitForEnd();
      expect(stream.messages).toEqual([]);
    } finally {
      await stream.close();
    }
    const warning = log.entries().find((l) => l.msg === 'stream failed; closing it');
    expect(warning).toMatchObject({ level: 40, session: 'fails', err: { message: 'the database went away mid-replay' } });
  });
});

describe('a stream its client closed is let go of', () => {
  it("once the server has seen the close, appends to its session start no more reads of the session's tail", async () => {
    // The head poll is off, so only wakeups start tail reads (session_sync_stream_tail_reads_total counts them).
    const t = await createTestApp({ env: { STREAM_HEAD_POLL_MS: '3600000' } });
    const tailReads = () => metric(t.app, 'session_sync_stream_tail_reads_total');
    const append = async (id: string, n: number) =>
      expect((await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: n }] })).statusCode).toBe(201);
    try {
      await t.listen();
      await createSession(t, 'let-go');
      await createSession(t, 'let-go-witness');
      const leaving = await SseClient.open(`${t.baseUrl}/v1/sessions/let-go/stream`);
      const witness = await SseClient.open(`${t.baseUrl}/v1/sessions/let-go-witness/stream`);
      // Both joined their tails: each has had an event from it.
      await append('let-go', 1);
      await append('let-go-witness', 1);
      await leaving.waitForDurable(1);
      await witness.waitForDurable(1);
      await leaving.close();
      await until(async () => (await metric(t.app, 'session_sync_open_streams')) === 1, 'the server to see the close');

      const before = await tailReads();
      for (let n = 2; n <= 4; n++) await append('let-go', n);
      // Wakeups are published and received in commit order: once the witness has its event, the others were routed.
      await append('let-go-witness', 2);
      await witness.waitForDurable(2);
      // The witness's one read, and none for the stream that left.
      expect((await tailReads()) - before).toBe(1);
      await witness.close();
    } finally {
      await t.close();
    }
  });
});
