import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

// docs/API.md, "Per-session stream" and "History lifecycle": a stream's cursor below `history_start`
// (from `after` or Last-Event-ID) is 410 `cursor_expired` `{history_start}` before any stream bytes, and
// the documented recovery, a stream `after=history_start`, is served. "Errors": 503 `too_many_streams`
// `{limit}` with `Retry-After: 5`.

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000' } });
  await t.listen();
});
afterAll(() => t.close());

describe('a stream cursor below history_start', () => {
  it('is 410 cursor_expired {history_start} by ?after and by Last-Event-ID; at history_start the stream is served', async () => {
    const id = await createSession(t, 'refusals-trimmed');
    const appended = await call(t.app, 'POST', `/v1/sessions/${id}/events`, {
      events: Array.from({ length: 10 }, (_, i) => ({ type: 'note', data: i })),
    });
    expect(appended.statusCode, appended.body).toBe(201);
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/compact`, { before_seq: 6 })).json()).toEqual({ history_start: 5 });

    for (const cursor of [0, 4]) {
      const byAfter = expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/stream?after=${cursor}`), 410, 'cursor_expired');
      expect(byAfter.history_start).toBe(5);
    }
    // Last-Event-ID beats a later `after`: the cursor is 4.
    const byHeader = expectProblem(
      await call(t.app, 'GET', `/v1/sessions/${id}/stream?after=7`, undefined, { 'last-event-id': '4' }),
      410,
      'cursor_expired',
    );
    expect(byHeader.history_start).toBe(5);

    // The recovery: stream from history_start.
    const client = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream?after=5&live=false`);
    try {
      expect(client.status).toBe(200);
      await client.waitForEnd();
      expect(client.error).toBeUndefined();
      expect(client.durable.map((m) => Number(m.id))).toEqual([6, 7, 8, 9, 10]);
      expect(client.ofType('session.activity').map((m) => m.json.cursor)).toEqual([10]);
    } finally {
      await client.close();
    }
    // And by Last-Event-ID at history_start too.
    const resumed = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream?live=false`, { 'last-event-id': '5' });
    try {
      expect(resumed.status).toBe(200);
      await resumed.waitForEnd();
      expect(resumed.durable.map((m) => Number(m.id))).toEqual([6, 7, 8, 9, 10]);
    } finally {
      await resumed.close();
    }
  });
});

describe('MAX_STREAMS reached', () => {
  it('a session stream is 503 too_many_streams {limit} with Retry-After: 5', async () => {
    const small = await createTestApp({ env: { MAX_STREAMS: '1' } });
    try {
      await small.listen();
      await createSession(small, 'refusals-full');
      const feed = await SseClient.open(`${small.baseUrl}/v1/changes`);
      try {
        expect(feed.status).toBe(200);
        const refused = await call(small.app, 'GET', '/v1/sessions/refusals-full/stream');
        expect(expectProblem(refused, 503, 'too_many_streams').limit).toBe(1);
        expect(refused.headers['retry-after']).toBe('5');
      } finally {
        await feed.close();
      }
    } finally {
      await small.close();
    }
  });
});
