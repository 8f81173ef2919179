import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectIso, expectProblem, type TestApp } from '../helpers/app.js';
import { type SseClient as SseClientType, SseClient } from '../helpers/sse.js';

// The per-session SSE stream, live events, activity and the changes feed,
// exercised over real sockets against the real app and database.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
});
afterAll(async () => {
  await t?.close();
});

async function createSession(app: TestApp, id: string): Promise<void> {
  const res = await call(app.app, 'POST', '/v1/sessions', { id });
  expect(res.statusCode, res.body).toBe(201);
}

async function append(app: TestApp, id: string, events: { type: string; data: unknown }[]): Promise<{ first_seq: number; last_seq: number }> {
  const res = await call(app.app, 'POST', `/v1/sessions/${id}/events`, { events });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

/** A session holding `n` events of type `e<seq>` with data `{n: seq}`. */
async function sessionWithEvents(id: string, n: number, app: TestApp = t): Promise<void> {
  await createSession(app, id);
  if (n > 0) await append(app, id, Array.from({ length: n }, (_, i) => ({ type: `e${i + 1}`, data: { n: i + 1 } })));
}

async function history(app: TestApp, id: string): Promise<{ events: any[]; last_seq: number; has_more: boolean }> {
  const res = await call(app.app, 'GET', `/v1/sessions/${id}/events?limit=1000`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function getSession(app: TestApp, id: string): Promise<any> {
  const res = await call(app.app, 'GET', `/v1/sessions/${id}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

function open(app: TestApp, path: string, headers: Record<string, string> = {}): Promise<SseClientType> {
  return SseClient.open(`${app.baseUrl}${path}`, headers);
}

function markers(client: SseClientType) {
  return client.ofType('session.activity');
}

/** Waits for the one `session.activity` marker that ends the replay. */
async function waitForMarker(client: SseClientType): Promise<void> {
  await client.waitFor(() => markers(client).length >= 1, 'the session.activity marker');
}

/** Polls `read` until `done` holds (a bounded wait, not an assertion on time). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

describe('stream: response headers', () => {
  it('answers 200 text/event-stream, no-cache no-transform, X-Accel-Buffering: no, with a retry hint', async () => {
    await sessionWithEvents('headers', 0);
    const client = await open(t, '/v1/sessions/headers/stream');
    try {
      expect(client.status).toBe(200);
      expect(client.headers.get('content-type')).toMatch(/^text\/event-stream(;|$)/);
      expect(client.headers.get('cache-control')).toBe('no-cache, no-transform');
      expect(client.headers.get('x-accel-buffering')).toBe('no');
      await waitForMarker(client);
      expect(client.retry).toEqual(expect.any(Number));
      expect(client.retry).toBeGreaterThan(0);
      expect(client.raw).toMatch(/^retry: \d+\n/m);
      expect(client.ended).toBe(false);
    } finally {
      await client.close();
    }
  });
});

describe('stream: replay, marker, tail', () => {
  it('replays 1..N as id/event/data frames, sends exactly one marker with cursor N, then follows concurrent appends with no gap or duplicate', async () => {
    const id = 'replay-tail';
    await createSession(t, id);
    await append(t, id, [
      { type: 'tool.call', data: { name: 'grep', args: ['-r'] } },
      { type: 'note', data: 'text' },
    ]);
    // A state write puts an event carrying `version` into the history.
    const put = await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { a: 1 } });
    expect(put.json()).toEqual({ version: 1, seq: 3 });
    await append(t, id, [
      { type: 'progress', data: 0.5 },
      { type: 'nothing', data: null },
    ]);
    const stored = (await history(t, id)).events;
    expect(stored).toHaveLength(5);

    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      expect(client.messages).toHaveLength(6);
      // Durable frames: id = seq, event = type, data = the event as GET .../events shows it.
      expect(client.messages.slice(0, 5).map((m) => ({ id: m.id, event: m.event, json: m.json }))).toEqual(
        stored.map((e) => ({ id: String(e.seq), event: e.type, json: e })),
      );
      expect(Object.keys(client.messages[0]?.json).sort()).toEqual(['created_at', 'data', 'seq', 'type']);
      expect(Object.keys(client.messages[2]?.json).sort()).toEqual(['created_at', 'data', 'seq', 'type', 'version']);
      expect(client.messages[2]?.json).toMatchObject({ seq: 3, type: 'state.snapshot', version: 1, data: { schema_version: 1 } });
      expectIso(client.messages[0]?.json.created_at);
      const marker = client.messages[5];
      expect(marker?.event).toBe('session.activity');
      expect(marker?.id).toBeUndefined();
      expect(marker?.json).toEqual({ status: 'idle', cursor: 5 });

      // Several batches at once, while the stream is following.
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, b) =>
          append(t, id, [0, 1, 2].map((i) => ({ type: 'batch', data: { b, i } }))),
        ),
      );
      expect(answers.map((a) => a.last_seq).sort((x, y) => x - y)).toEqual([8, 11, 14, 17, 20, 23, 26, 29]);
      await client.waitForDurable(29);
      // A sentinel after everything: anything duplicated or late would show up before it.
      await append(t, id, [{ type: 'sentinel', data: true }]);
      await client.waitForDurable(30);

      expect(client.durable.map((m) => m.id)).toEqual(range(1, 30));
      expect(client.durable.map((m) => m.json)).toEqual((await history(t, id)).events);
      expect(client.durable.every((m) => m.event === m.json.type)).toBe(true);
      // A batch arrives contiguously, in its own order.
      for (const answer of answers) {
        const frames = client.durable.slice(answer.first_seq - 1, answer.last_seq).map((m) => m.json.data);
        expect(frames.map((d: any) => d.i)).toEqual([0, 1, 2]);
        expect(new Set(frames.map((d: any) => d.b)).size).toBe(1);
      }
      expect(markers(client)).toHaveLength(1);
      expect(client.messages.indexOf(marker!)).toBe(5);
      expect(client.ended).toBe(false);
    } finally {
      await client.close();
    }
  });

  it('streams from an empty history: marker with cursor 0 first, then new events from seq 1', async () => {
    await sessionWithEvents('empty-start', 0);
    const client = await open(t, '/v1/sessions/empty-start/stream');
    try {
      await waitForMarker(client);
      expect(client.messages.map((m) => m.event)).toEqual(['session.activity']);
      expect(markers(client)[0]?.json).toEqual({ status: 'idle', cursor: 0 });
      await append(t, 'empty-start', [{ type: 'first', data: 1 }]);
      await client.waitForDurable(1);
      expect(client.durable.map((m) => [m.id, m.event])).toEqual([['1', 'first']]);
    } finally {
      await client.close();
    }
  });
});

describe('stream: opened while the session is busy', () => {
  it('streams opened at any point during concurrent appends each get every event exactly once, in order', async () => {
    const id = 'busy';
    await sessionWithEvents(id, 0);
    let stop = false;
    const writers = Array.from({ length: 3 }, async (_, w) => {
      let n = 0;
      while (!stop) {
        await append(t, id, Array.from({ length: 1 + (n % 5) }, (_, i) => ({ type: 'busy', data: { w, n, i } })));
        n++;
      }
    });
    const clients: SseClientType[] = [];
    const afters: number[] = [];
    try {
      // Open streams from different cursors while the writers run.
      for (let i = 0; i < 6; i++) {
        const current = (await getSession(t, id)).last_seq as number;
        const after = i % 2 === 0 ? 0 : Math.max(0, current - 3);
        afters.push(after);
        clients.push(await open(t, `/v1/sessions/${id}/stream?after=${after}`));
        await eventually(
          () => getSession(t, id),
          (s) => s.last_seq > current + 5,
          'more appends',
        );
      }
      stop = true;
      await Promise.all(writers);
      const { last_seq: last } = await append(t, id, [{ type: 'sentinel', data: null }]);
      const expected = (await history(t, id)).events;
      expect(expected).toHaveLength(last);
      for (const [i, client] of clients.entries()) {
        await client.waitFor(() => client.durable.some((m) => m.id === String(last)), `the sentinel on stream ${i}`, 20_000);
        const first = (afters[i] ?? 0) + 1;
        expect(client.durable.map((m) => m.id), `stream ${i}`).toEqual(range(first, last));
        expect(client.durable.map((m) => m.json)).toEqual(expected.slice(first - 1));
        expect(markers(client), `stream ${i}`).toHaveLength(1);
        // The marker sits where the replay ended: after the event it names, before the next one.
        const marker = markers(client)[0]!;
        const markerIndex = client.messages.indexOf(marker);
        const cursor = marker.json.cursor as number;
        expect(client.messages.slice(0, markerIndex).every((m) => Number(m.id) <= cursor)).toBe(true);
        expect(client.messages.slice(markerIndex + 1).every((m) => Number(m.id) > cursor)).toBe(true);
      }
    } finally {
      stop = true;
      await Promise.allSettled(writers);
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});

describe('stream: cursor', () => {
  async function durableIdsAndCursor(path: string, headers: Record<string, string> = {}) {
    const client = await open(t, path, headers);
    try {
      expect(client.status).toBe(200);
      await waitForMarker(client);
      const markerIndex = client.messages.findIndex((m) => m.event === 'session.activity');
      return {
        ids: client.messages.slice(0, markerIndex).map((m) => m.id),
        events: client.messages.slice(0, markerIndex).map((m) => m.event),
        cursor: markers(client)[0]?.json.cursor,
      };
    } finally {
      await client.close();
    }
  }

  beforeAll(async () => {
    await sessionWithEvents('cursor', 5);
  });

  it('without a cursor starts at 0', async () => {
    expect(await durableIdsAndCursor('/v1/sessions/cursor/stream')).toEqual({
      ids: range(1, 5),
      events: ['e1', 'e2', 'e3', 'e4', 'e5'],
      cursor: 5,
    });
  });

  it('?after=K replays from K+1 (the cursor is exclusive)', async () => {
    expect(await durableIdsAndCursor('/v1/sessions/cursor/stream?after=2')).toMatchObject({ ids: range(3, 5), cursor: 5 });
    expect(await durableIdsAndCursor('/v1/sessions/cursor/stream?after=0')).toMatchObject({ ids: range(1, 5), cursor: 5 });
    expect(await durableIdsAndCursor('/v1/sessions/cursor/stream?after=5')).toMatchObject({ ids: [], cursor: 5 });
  });

  it('Last-Event-ID beats ?after', async () => {
    expect(await durableIdsAndCursor('/v1/sessions/cursor/stream?after=1', { 'last-event-id': '3' })).toMatchObject({
      ids: range(4, 5),
      cursor: 5,
    });
    expect(await durableIdsAndCursor('/v1/sessions/cursor/stream?after=4', { 'last-event-id': '0' })).toMatchObject({
      ids: range(1, 5),
      cursor: 5,
    });
    expect(await durableIdsAndCursor('/v1/sessions/cursor/stream?after=now', { 'last-event-id': '2' })).toMatchObject({
      ids: range(3, 5),
      cursor: 5,
    });
    // An ?after above the head does not matter when Last-Event-ID is given.
    expect(await durableIdsAndCursor('/v1/sessions/cursor/stream?after=99', { 'last-event-id': '4' })).toMatchObject({
      ids: ['5'],
      cursor: 5,
    });
  });

  it('?after=now starts at the head: no history, marker cursor = head, then only new events', async () => {
    await sessionWithEvents('cursor-now', 4);
    const client = await open(t, '/v1/sessions/cursor-now/stream?after=now');
    try {
      await waitForMarker(client);
      expect(client.messages).toHaveLength(1);
      expect(markers(client)[0]?.json).toEqual({ status: 'idle', cursor: 4 });
      await append(t, 'cursor-now', [{ type: 'later', data: 5 }]);
      await client.waitForDurable(1);
      expect(client.durable.map((m) => [m.id, m.event])).toEqual([['5', 'later']]);
    } finally {
      await client.close();
    }
  });
});

describe('stream: ?live=false', () => {
  it('replays (cursor, B], sends the one marker, and the server ends the stream', async () => {
    await sessionWithEvents('replay-only', 4);
    const client = await open(t, '/v1/sessions/replay-only/stream?after=1&live=false');
    try {
      expect(client.status).toBe(200);
      await client.waitForEnd();
      expect(client.messages.map((m) => [m.id, m.event])).toEqual([
        ['2', 'e2'],
        ['3', 'e3'],
        ['4', 'e4'],
        [undefined, 'session.activity'],
      ]);
      expect(markers(client)[0]?.json).toEqual({ status: 'idle', cursor: 4 });
    } finally {
      await client.close();
    }
  });

  it('at the head sends only the marker and ends', async () => {
    await sessionWithEvents('replay-only-head', 2);
    const client = await open(t, '/v1/sessions/replay-only-head/stream?after=now&live=false');
    try {
      await client.waitForEnd();
      expect(client.messages.map((m) => m.event)).toEqual(['session.activity']);
      expect(markers(client)[0]?.json).toEqual({ status: 'idle', cursor: 2 });
    } finally {
      await client.close();
    }
  });
});

describe('stream: errors come before any stream bytes, as problem+json', () => {
  beforeAll(async () => {
    await sessionWithEvents('errors', 3);
  });

  it('404 session_not_found for an unknown session', async () => {
    expectProblem(await call(t.app, 'GET', '/v1/sessions/no-such-session/stream'), 404, 'session_not_found');
  });

  it('409 cursor_ahead when after or Last-Event-ID is above the head', async () => {
    const byAfter = expectProblem(await call(t.app, 'GET', '/v1/sessions/errors/stream?after=4'), 409, 'cursor_ahead');
    expect(byAfter).toMatchObject({ cursor: 4, last_seq: 3 });
    expectProblem(await call(t.app, 'GET', '/v1/sessions/errors/stream', undefined, { 'last-event-id': '4' }), 409, 'cursor_ahead');
    // The header wins even when ?after alone would be fine.
    expectProblem(await call(t.app, 'GET', '/v1/sessions/errors/stream?after=1', undefined, { 'last-event-id': '10' }), 409, 'cursor_ahead');
  });

  for (const [what, query, headers] of [
    ['after=abc', '?after=abc', {}],
    ['after=-1', '?after=-1', {}],
    ['after=1.5', '?after=1.5', {}],
    ['after= (empty)', '?after=', {}],
    ['Last-Event-ID "xyz"', '', { 'last-event-id': 'xyz' }],
    ['Last-Event-ID "-1"', '', { 'last-event-id': '-1' }],
    ['an unknown query parameter', '?cursor=1', {}],
    ['live=maybe', '?live=maybe', {}],
  ] as [string, string, Record<string, string>][]) {
    it(`400 invalid_request for ${what}`, async () => {
      expectProblem(await call(t.app, 'GET', `/v1/sessions/errors/stream${query}`, undefined, headers), 400, 'invalid_request');
    });
  }

  it('over a real socket the error is a plain problem+json response, not a stream', async () => {
    for (const [path, status] of [
      ['/v1/sessions/no-such-session/stream', 404],
      ['/v1/sessions/errors/stream?after=9', 409],
    ] as const) {
      const client = await open(t, path);
      try {
        expect(client.status).toBe(status);
        expect(client.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        await client.waitForEnd();
        expect(client.raw).not.toContain('retry:');
        expect(JSON.parse(client.raw).status).toBe(status);
        expect(client.messages).toEqual([]);
      } finally {
        await client.close();
      }
    }
  });
});

describe('stream: heartbeat', () => {
  it('sends `: keepalive` comments while idle (SSE_HEARTBEAT_MS)', async () => {
    const hb = await createTestApp({ env: { SSE_HEARTBEAT_MS: '200' } });
    try {
      await hb.listen();
      await createSession(hb, 'idle');
      const client = await open(hb, '/v1/sessions/idle/stream');
      try {
        await waitForMarker(client);
        await client.waitFor(() => client.comments.filter((c) => c.trim() === 'keepalive').length >= 3, 'three keepalive comments');
        expect(client.raw).toContain(': keepalive\n\n');
        // Heartbeats are comments only: no extra events, and the stream stays open.
        expect(client.messages.map((m) => m.event)).toEqual(['session.activity']);
        expect(client.ended).toBe(false);
      } finally {
        await client.close();
      }
    } finally {
      await hb.close();
    }
  });
});

describe('stream: framing cannot be forged', () => {
  const FORGERIES: unknown[] = [
    'a\n\nid: 999\nevent: evil\ndata: x\n\n',
    'b\r\n\r\nid: 999\r\nevent: evil\r\ndata: x\r\n\r\n',
    'c\r\rid: 999\revent: evil\rdata: x\r\r',
    { nested: ['\n\nid: 999\nevent: evil\ndata: x\n\n'], 'key\r\n\r\nevent: evil\r\n': '\r\n' },
  ];

  function expectCleanFraming(client: SseClientType, durableCount: number): void {
    expect(client.messages.filter((m) => m.event === 'evil')).toEqual([]);
    expect(client.messages.filter((m) => m.id === '999')).toEqual([]);
    expect(client.durable).toHaveLength(durableCount);
    expect(client.raw).not.toContain('\r');
    const lines = client.raw.split('\n');
    for (const line of lines) {
      if (line === '' || line.startsWith(':')) continue;
      expect(line).toMatch(/^(id|event|data|retry): /);
      if (line.startsWith('data: ')) expect(() => JSON.parse(line.slice('data: '.length))).not.toThrow();
    }
    expect(lines.filter((line) => line.startsWith('id: '))).toHaveLength(durableCount);
    expect(lines.filter((line) => line.startsWith('event: evil'))).toEqual([]);
  }

  it('a payload with CR/LF and SSE field text travels as one single-line data frame, replayed or live', async () => {
    const id = 'forgery';
    await createSession(t, id);
    await append(t, id, FORGERIES.map((data) => ({ type: 'text', data })));
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      // Now the same through the live tail.
      await append(t, id, FORGERIES.map((data) => ({ type: 'text', data })));
      await client.waitForDurable(8);
      await append(t, id, [{ type: 'sentinel', data: 0 }]);
      await client.waitForDurable(9);
      expectCleanFraming(client, 9);
      expect(client.messages).toHaveLength(10);
      expect(client.durable.map((m) => m.id)).toEqual(range(1, 9));
      expect(client.durable.slice(0, 8).map((m) => m.json.data)).toEqual([...FORGERIES, ...FORGERIES]);
    } finally {
      await client.close();
    }
  });

  it('a live event or activity with CR/LF in its data cannot forge a frame either', async () => {
    const id = 'forgery-live';
    await createSession(t, id);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      const live = await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type: 'token', data: FORGERIES[0] });
      expect(live.statusCode, live.body).toBe(202);
      const activity = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool', detail: FORGERIES[1] });
      expect(activity.statusCode, activity.body).toBe(200);
      await client.waitFor(() => client.ofType('token').length === 1 && markers(client).length === 2, 'the live event and the activity');
      expectCleanFraming(client, 0);
      expect(client.ofType('token')[0]?.json.data).toEqual(FORGERIES[0]);
      expect(markers(client)[1]?.json.detail).toEqual(FORGERIES[1]);
    } finally {
      await client.close();
    }
  });

  it('an event type with CR/LF or uppercase is refused at append, so it never reaches a frame', async () => {
    const id = 'bad-types';
    await createSession(t, id);
    for (const type of ['a\nevent: evil', 'a\r\nid: 999', 'ok\n', 'ok\r', 'Upper', 'a.B']) {
      expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type, data: 1 }] }), 400, 'invalid_request');
      expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type, data: 1 }), 400, 'invalid_request');
    }
    await append(t, id, [{ type: 'good', data: 1 }]);
    const client = await open(t, `/v1/sessions/${id}/stream?live=false`);
    try {
      await client.waitForEnd();
      expect(client.messages.map((m) => [m.id, m.event])).toEqual([
        ['1', 'good'],
        [undefined, 'session.activity'],
      ]);
      expectCleanFraming(client, 1);
    } finally {
      await client.close();
    }
  });
});

describe('stream: session deleted', () => {
  it('an open stream receives session.deleted {session_id} and the server ends it', async () => {
    await sessionWithEvents('doomed', 2);
    const client = await open(t, '/v1/sessions/doomed/stream');
    try {
      await waitForMarker(client);
      const del = await call(t.app, 'DELETE', '/v1/sessions/doomed');
      expect(del.statusCode, del.body).toBe(204);
      await client.waitFor(() => client.ofType('session.deleted').length === 1, 'session.deleted');
      const deleted = client.ofType('session.deleted')[0];
      expect(deleted?.json).toEqual({ session_id: 'doomed' });
      expect(deleted?.id).toBeUndefined();
      await client.waitForEnd();
      expect(client.messages.at(-1)?.event).toBe('session.deleted');
      expectProblem(await call(t.app, 'GET', '/v1/sessions/doomed/stream'), 404, 'session_not_found');
    } finally {
      await client.close();
    }
  });

  it('every open stream of the session ends, and a re-created session streams its own history', async () => {
    await sessionWithEvents('reborn-stream', 3);
    const first = await open(t, '/v1/sessions/reborn-stream/stream');
    const second = await open(t, '/v1/sessions/reborn-stream/stream?after=now');
    try {
      await waitForMarker(first);
      await waitForMarker(second);
      expect((await call(t.app, 'DELETE', '/v1/sessions/reborn-stream')).statusCode).toBe(204);
      await first.waitForEnd();
      await second.waitForEnd();
      expect(first.ofType('session.deleted')).toHaveLength(1);
      expect(second.ofType('session.deleted')).toHaveLength(1);

      await sessionWithEvents('reborn-stream', 1);
      // The old cursor is above the new life's head.
      expectProblem(await call(t.app, 'GET', '/v1/sessions/reborn-stream/stream', undefined, { 'last-event-id': '3' }), 409, 'cursor_ahead');
      const fresh = await open(t, '/v1/sessions/reborn-stream/stream?live=false');
      try {
        await fresh.waitForEnd();
        expect(fresh.messages.map((m) => [m.id, m.event])).toEqual([
          ['1', 'e1'],
          [undefined, 'session.activity'],
        ]);
      } finally {
        await fresh.close();
      }
    } finally {
      await first.close();
      await second.close();
    }
  });
});

describe('live events', () => {
  it('answers 202 {accepted, after_seq}; open streams get a frame without id; it is not stored and never replayed', async () => {
    const id = 'live';
    await sessionWithEvents(id, 2);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      const res = await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type: 'token', data: { text: 'hel' } });
      expect(res.statusCode, res.body).toBe(202);
      expect(res.json()).toEqual({ accepted: 1, after_seq: 2 });
      await client.waitFor(() => client.ofType('token').length === 1, 'the live event');
      const frame = client.ofType('token')[0];
      expect(frame?.id).toBeUndefined();
      expect(frame?.json).toMatchObject({ data: { text: 'hel' } });
      expect(client.durable).toHaveLength(2);

      // Not in the history, not counted in the head.
      const page = await history(t, id);
      expect(page.last_seq).toBe(2);
      expect(page.events.map((e) => e.type)).toEqual(['e1', 'e2']);
      expect((await getSession(t, id)).last_seq).toBe(2);

      // A new stream replays durable history only.
      const replay = await open(t, `/v1/sessions/${id}/stream?live=false`);
      try {
        await replay.waitForEnd();
        expect(replay.messages.map((m) => m.event)).toEqual(['e1', 'e2', 'session.activity']);
      } finally {
        await replay.close();
      }

      // The live frame did not move the durable sequence: the next event is seq 3.
      await append(t, id, [{ type: 'e3', data: 3 }]);
      await client.waitForDurable(3);
      expect(client.durable.map((m) => m.id)).toEqual(['1', '2', '3']);
    } finally {
      await client.close();
    }
  });

  it('is delivered to every open stream of the session and to none of another session', async () => {
    await sessionWithEvents('live-a', 0);
    await sessionWithEvents('live-b', 0);
    const a1 = await open(t, '/v1/sessions/live-a/stream');
    const a2 = await open(t, '/v1/sessions/live-a/stream');
    const b = await open(t, '/v1/sessions/live-b/stream');
    try {
      await Promise.all([waitForMarker(a1), waitForMarker(a2), waitForMarker(b)]);
      expect((await call(t.app, 'POST', '/v1/sessions/live-a/live', { type: 'for_a', data: 1 })).statusCode).toBe(202);
      expect((await call(t.app, 'POST', '/v1/sessions/live-b/live', { type: 'for_b', data: 2 })).statusCode).toBe(202);
      await a1.waitFor(() => a1.ofType('for_a').length === 1, 'for_a on a1');
      await a2.waitFor(() => a2.ofType('for_a').length === 1, 'for_a on a2');
      await b.waitFor(() => b.ofType('for_b').length === 1, 'for_b on b');
      // for_b was published after for_a: had for_a leaked to b, it would be there by now.
      expect(b.ofType('for_a')).toEqual([]);
      expect(a1.ofType('for_b')).toEqual([]);
    } finally {
      await Promise.all([a1.close(), a2.close(), b.close()]);
    }
  });

  it('causality: a live event published right after durable event N was acknowledged arrives after N', async () => {
    const id = 'causal';
    await sessionWithEvents(id, 0);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      // Large batches take the stream a while to read; the live event is published as soon as the append is acknowledged.
      const sizes = [1, 400, 1, 250, 3, 600, 1, 1, 300, 2];
      const filler = 'f'.repeat(1000);
      for (const [round, size] of sizes.entries()) {
        const { last_seq: seq } = await append(t, id, Array.from({ length: size }, (_, i) => ({ type: 'step', data: { round, i, filler } })));
        const res = await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type: 'after_step', data: { seq } });
        expect(res.statusCode, res.body).toBe(202);
        expect(res.json().after_seq).toBeGreaterThanOrEqual(seq);
      }
      const total = sizes.reduce((a, b) => a + b, 0);
      await client.waitFor(() => client.ofType('after_step').length === sizes.length, `${sizes.length} live events`, 20_000);
      await client.waitForDurable(total, 20_000);
      for (const live of client.ofType('after_step')) {
        const seq = live.json.data.seq as number;
        const durableIndex = client.messages.findIndex((m) => m.id === String(seq));
        expect(durableIndex, `durable ${seq} arrived`).toBeGreaterThanOrEqual(0);
        expect(durableIndex, `durable ${seq} before the live event published after it`).toBeLessThan(client.messages.indexOf(live));
      }
      expect(client.durable.map((m) => m.id)).toEqual(range(1, total));
    } finally {
      await client.close();
    }
  });

  it('400 reserved_event_type for a reserved prefix, 400 invalid_request for a bad body, 404 for an unknown session', async () => {
    await sessionWithEvents('live-errors', 0);
    for (const type of ['session.x', 'state.x', 'message.x', 'queue.x', 'lease.x']) {
      expectProblem(await call(t.app, 'POST', '/v1/sessions/live-errors/live', { type, data: 1 }), 400, 'reserved_event_type');
    }
    expectProblem(await call(t.app, 'POST', '/v1/sessions/live-errors/live', { type: 'token' }), 400, 'invalid_request');
    expectProblem(await call(t.app, 'POST', '/v1/sessions/live-errors/live', { type: 'token', data: 1, extra: 1 }), 400, 'invalid_request');
    expectProblem(await call(t.app, 'POST', '/v1/sessions/no-such-session/live', { type: 'token', data: 1 }), 404, 'session_not_found');
  });
});

describe('limits on live payloads (MAX_LIVE_BYTES=100)', () => {
  let small: TestApp;
  beforeAll(async () => {
    small = await createTestApp({ env: { MAX_LIVE_BYTES: '100' } });
    await small.listen();
    await createSession(small, 'small');
  });
  afterAll(async () => {
    await small?.close();
  });

  it('413 payload_too_large for live data over the limit; it reaches no stream', async () => {
    const client = await open(small, '/v1/sessions/small/stream');
    try {
      await waitForMarker(client);
      expectProblem(
        await call(small.app, 'POST', '/v1/sessions/small/live', { type: 'big', data: 'x'.repeat(200) }),
        413,
        'payload_too_large',
      );
      const ok = await call(small.app, 'POST', '/v1/sessions/small/live', { type: 'fits', data: 'x'.repeat(50) });
      expect(ok.statusCode, ok.body).toBe(202);
      await client.waitFor(() => client.ofType('fits').length === 1, 'the live event under the limit');
      expect(client.ofType('big')).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('413 payload_too_large for an activity detail over the limit; the activity is unchanged', async () => {
    expectProblem(
      await call(small.app, 'PUT', '/v1/sessions/small/activity', { status: 'tool', detail: { blob: 'x'.repeat(200) } }),
      413,
      'payload_too_large',
    );
    expect((await getSession(small, 'small')).activity).toEqual({ status: 'idle' });
  });
});

describe('activity', () => {
  it('a session that never set one reads {status: "idle"}, in GET and in the stream marker', async () => {
    await sessionWithEvents('never-active', 1);
    expect((await getSession(t, 'never-active')).activity).toEqual({ status: 'idle' });
    const client = await open(t, '/v1/sessions/never-active/stream?live=false');
    try {
      await client.waitForEnd();
      expect(markers(client).map((m) => m.json)).toEqual([{ status: 'idle', cursor: 1 }]);
    } finally {
      await client.close();
    }
  });

  it('PUT sets it (200 {status, detail, updated_at}); GET shows it; open streams get session.activity; no history is written', async () => {
    const id = 'active';
    await sessionWithEvents(id, 1);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      const res = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'thinking', detail: { tool: 'x' } });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ status: 'thinking', detail: { tool: 'x' } });
      expectIso(body.updated_at);
      expect(body.expired).toBeUndefined();

      const session = await getSession(t, id);
      expect(session.activity).toEqual(body);
      expect(session.last_seq).toBe(1);
      expect((await history(t, id)).events).toHaveLength(1);

      await client.waitFor(() => markers(client).some((m) => m.json.status === 'thinking'), 'the thinking activity');
      const frame = markers(client).find((m) => m.json.status === 'thinking');
      expect(frame?.id).toBeUndefined();
      expect(frame?.json).toMatchObject({ status: 'thinking', detail: { tool: 'x' } });
      expect(client.durable).toHaveLength(1);

      // A new stream's marker carries the current activity.
      const later = await open(t, `/v1/sessions/${id}/stream?live=false`);
      try {
        await later.waitForEnd();
        expect(markers(later).map((m) => m.json)).toEqual([{ ...body, cursor: 1 }]);
      } finally {
        await later.close();
      }

      // The current value only: a second PUT replaces it.
      const next = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'idle' });
      expect(next.statusCode, next.body).toBe(200);
      expect(next.json().detail).toBeUndefined();
      expect((await getSession(t, id)).activity).toMatchObject({ status: 'idle' });
      expect((await getSession(t, id)).activity.detail).toBeUndefined();
      await client.waitFor(() => markers(client).some((m) => m.json.status === 'idle' && m.json.cursor === undefined), 'the idle activity');
    } finally {
      await client.close();
    }
  });

  it('with ttl_ms it expires: GET reads {status: "idle", expired: true} and open streams are told', async () => {
    const id = 'expiring';
    await sessionWithEvents(id, 0);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      const res = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool', detail: { tool: 'bash' }, ttl_ms: 300 });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ status: 'tool', detail: { tool: 'bash' } });

      await client.waitFor(() => markers(client).some((m) => m.json.expired === true), 'an expired session.activity', 5_000);
      const expired = markers(client).find((m) => m.json.expired === true);
      expect(expired?.json).toMatchObject({ status: 'idle', expired: true });
      expect(expired?.json.detail).toBeUndefined();
      // The 'tool' activity came before its expiry.
      const toolIndex = client.messages.findIndex((m) => m.event === 'session.activity' && m.json.status === 'tool');
      expect(toolIndex).toBeGreaterThan(0);
      expect(toolIndex).toBeLessThan(client.messages.indexOf(expired!));

      const activity = (
        await eventually(
          () => getSession(t, id),
          (s) => s.activity.expired === true,
          'GET to read the expired activity',
        )
      ).activity;
      expect(activity).toMatchObject({ status: 'idle', expired: true });
      expect(activity.detail).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  describe('validation', () => {
    beforeAll(async () => {
      await sessionWithEvents('activity-invalid', 0);
    });
    const invalid: [string, unknown][] = [
      ['an empty status', { status: '' }],
      ['a status over 64 characters', { status: 'x'.repeat(65) }],
      ['a missing status', { detail: {} }],
      ['a status that is not a string', { status: 5 }],
      ['ttl_ms 0', { status: 'thinking', ttl_ms: 0 }],
      ['ttl_ms "5"', { status: 'thinking', ttl_ms: '5' }],
      ['a fractional ttl_ms', { status: 'thinking', ttl_ms: 1.5 }],
      ['a negative ttl_ms', { status: 'thinking', ttl_ms: -100 }],
      ['an unknown field', { status: 'thinking', color: 'red' }],
    ];
    for (const [what, body] of invalid) {
      it(`400 invalid_request for ${what}, activity unchanged`, async () => {
        expectProblem(await call(t.app, 'PUT', '/v1/sessions/activity-invalid/activity', body), 400, 'invalid_request');
        expect((await getSession(t, 'activity-invalid')).activity).toEqual({ status: 'idle' });
      });
    }

    it('accepts a status of exactly 64 characters', async () => {
      const res = await call(t.app, 'PUT', '/v1/sessions/activity-invalid/activity', { status: 'y'.repeat(64) });
      expect(res.statusCode, res.body).toBe(200);
      expect((await getSession(t, 'activity-invalid')).activity.status).toBe('y'.repeat(64));
    });

    it('404 session_not_found for an unknown session', async () => {
      expectProblem(await call(t.app, 'PUT', '/v1/sessions/no-such-session/activity', { status: 'thinking' }), 404, 'session_not_found');
    });
  });
});

describe('two instances on one database', () => {
  let b: TestApp;
  beforeAll(async () => {
    b = await createTestApp({ databaseUrl: t.url });
    await b.listen();
  });
  afterAll(async () => {
    await b?.close();
  });

  it('a stream on B sees activity, durable events, live events and the deletion made through A', async () => {
    const id = 'across';
    await sessionWithEvents(id, 2);
    const client = await open(b, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      expect(client.durable.map((m) => m.id)).toEqual(['1', '2']);

      const put = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'thinking', detail: { step: 1 } });
      expect(put.statusCode, put.body).toBe(200);
      await client.waitFor(() => markers(client).some((m) => m.json.status === 'thinking'), 'the activity set on A');
      expect(markers(client).find((m) => m.json.status === 'thinking')?.json).toMatchObject({ status: 'thinking', detail: { step: 1 } });
      expect((await getSession(b, id)).activity).toEqual(put.json());

      const { last_seq: seq } = await append(t, id, [{ type: 'from_a', data: 'x' }]);
      expect((await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type: 'live_from_a', data: { seq } })).statusCode).toBe(202);
      await client.waitFor(() => client.ofType('live_from_a').length === 1, 'the live event published on A');
      const durableIndex = client.messages.findIndex((m) => m.id === String(seq));
      expect(durableIndex).toBeGreaterThanOrEqual(0);
      expect(durableIndex).toBeLessThan(client.messages.indexOf(client.ofType('live_from_a')[0]!));

      expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`)).statusCode).toBe(204);
      await client.waitFor(() => client.ofType('session.deleted').length === 1, 'session.deleted from A');
      await client.waitForEnd();
    } finally {
      await client.close();
    }
  });

  it('a changes feed on B hears of a session created and changed through A', async () => {
    const feed = await open(b, '/v1/changes');
    try {
      await feed.waitFor(() => feed.messages.length >= 1, 'sweep_required');
      await createSession(t, 'across-changes');
      await append(t, 'across-changes', [{ type: 'a', data: 1 }]);
      await feed.waitFor(
        () => feed.ofType('session.changed').some((m) => m.json.session_id === 'across-changes' && m.json.last_seq === 1),
        'the hint for the append on A',
      );
      expect(feed.ofType('session.created').map((m) => m.json)).toContainEqual({ session_id: 'across-changes' });
    } finally {
      await feed.close();
    }
  });
});

describe('GET /v1/changes', () => {
  it('sends sweep_required first, then session.created, coalesced session.changed hints, session.activity and session.deleted', async () => {
    const id = 'watched';
    const feed = await open(t, '/v1/changes');
    try {
      expect(feed.status).toBe(200);
      expect(feed.headers.get('content-type')).toMatch(/^text\/event-stream/);
      await feed.waitFor(() => feed.messages.length >= 1, 'the first message');
      expect(feed.messages[0]?.event).toBe('sweep_required');
      expect(feed.messages[0]?.id).toBeUndefined();

      await createSession(t, id);
      const mine = (event: string) => feed.ofType(event).filter((m) => m.json?.session_id === id);
      await feed.waitFor(() => mine('session.created').length === 1, 'session.created');
      expect(mine('session.created')[0]?.json).toEqual({ session_id: id });

      // 20 appends at once: hints are coalesced, and the last one names the head.
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => append(t, id, [{ type: 'tick', data: i }])));
      expect(Math.max(...answers.map((a) => a.last_seq))).toBe(20);
      await feed.waitFor(() => mine('session.changed').some((m) => m.json.last_seq === 20), 'a hint with last_seq 20');
      const hints = mine('session.changed').map((m) => m.json);
      for (const hint of hints) expect(hint).toEqual({ session_id: id, last_seq: expect.any(Number), version: 0 });
      expect(hints.length).toBeLessThan(20);
      expect(hints.length).toBeLessThanOrEqual(10);
      const seqs = hints.map((h) => h.last_seq as number);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(seqs.at(-1)).toBe(20);
      expect(mine('session.changed').every((m) => m.id === undefined)).toBe(true);

      // A state write is a change too, and the hint carries the state version.
      const put = await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: {} });
      expect(put.json()).toEqual({ version: 1, seq: 21 });
      await feed.waitFor(() => mine('session.changed').some((m) => m.json.last_seq === 21), 'the hint for the state write');
      expect(mine('session.changed').find((m) => m.json.last_seq === 21)?.json).toEqual({ session_id: id, last_seq: 21, version: 1 });

      const activity = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'thinking', detail: { tool: 'x' } });
      expect(activity.statusCode, activity.body).toBe(200);
      await feed.waitFor(() => mine('session.activity').length === 1, 'session.activity');
      expect(mine('session.activity')[0]?.json).toMatchObject({ session_id: id, status: 'thinking', detail: { tool: 'x' } });

      expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`)).statusCode).toBe(204);
      await feed.waitFor(() => mine('session.deleted').length === 1, 'session.deleted');
      expect(mine('session.deleted')[0]?.json).toEqual({ session_id: id });
      // The feed serves many sessions: it stays open after one is deleted.
      expect(feed.ended).toBe(false);
      expect(feed.ofType('sweep_required')).toHaveLength(1);
    } finally {
      await feed.close();
    }
  });

  it('is live-only: a new feed does not replay earlier changes', async () => {
    // A probe feed sees the earlier changes go out, so they are all sent before the new feed opens.
    const probe = await open(t, '/v1/changes');
    try {
      await probe.waitFor(() => probe.messages.length >= 1, 'sweep_required on the probe');
      await sessionWithEvents('before-feed', 3);
      await probe.waitFor(
        () =>
          probe.ofType('session.created').some((m) => m.json.session_id === 'before-feed') &&
          probe.ofType('session.changed').some((m) => m.json.session_id === 'before-feed' && m.json.last_seq === 3),
        'the earlier changes on the probe',
      );
    } finally {
      await probe.close();
    }
    const feed = await open(t, '/v1/changes');
    try {
      await feed.waitFor(() => feed.messages.length >= 1, 'sweep_required');
      await createSession(t, 'after-feed');
      await feed.waitFor(
        () => feed.ofType('session.created').some((m) => m.json.session_id === 'after-feed'),
        'session.created for after-feed',
      );
      expect(feed.messages.filter((m) => m.json?.session_id === 'before-feed')).toEqual([]);
      expect(feed.messages[0]?.event).toBe('sweep_required');
    } finally {
      await feed.close();
    }
  });
});

describe('a real EventSource client (eventsource package)', () => {
  it('receives durable events with lastEventId, reconnects by itself with Last-Event-ID, and gets what it missed exactly once', async () => {
    const es = await createTestApp();
    let source: EventSource | undefined;
    try {
      await es.listen();
      const id = 'browser';
      await createSession(es, id);
      await append(es, id, [1, 2, 3].map((n) => ({ type: 'tick', data: n })));

      const requests: (string | undefined)[] = [];
      let releaseReconnect!: () => void;
      const reconnectGate = new Promise<void>((resolve) => {
        releaseReconnect = resolve;
      });
      const received: { lastEventId: string; seq: number; data: unknown }[] = [];
      const markerCursors: number[] = [];
      let errors = 0;

      source = new EventSource(`${es.baseUrl}/v1/sessions/${id}/stream`, {
        fetch: async (input, init) => {
          requests.push(init.headers['Last-Event-ID']);
          // Hold every reconnect until the test has appended what the client must catch up on.
          if (requests.length > 1) await reconnectGate;
          return fetch(input, init);
        },
      });
      source.addEventListener('tick', (event) => {
        const message = event as MessageEvent;
        const json = JSON.parse(message.data);
        received.push({ lastEventId: message.lastEventId, seq: json.seq, data: json.data });
      });
      source.addEventListener('session.activity', (event) => {
        markerCursors.push(JSON.parse((event as MessageEvent).data).cursor);
      });
      source.addEventListener('error', () => {
        errors++;
      });

      const until = (condition: () => boolean, what: string) =>
        eventually(
          async () => condition(),
          (ok) => ok,
          what,
        ).then(() => undefined, () => {
          throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(received)}, requests ${JSON.stringify(requests)}`);
        });

      await until(() => received.length === 3 && markerCursors.length === 1, 'the replay');
      expect(received.map((r) => r.lastEventId)).toEqual(['1', '2', '3']);
      expect(received.map((r) => r.data)).toEqual([1, 2, 3]);
      expect(markerCursors).toEqual([3]);
      expect(requests).toEqual([undefined]);

      await append(es, id, [{ type: 'tick', data: 4 }]);
      await until(() => received.length === 4, 'the live event 4');
      expect(source.readyState).toBe(source.OPEN);

      // The server drops the connection; the client notices and tries again on its own.
      es.app.server.closeAllConnections();
      await until(() => requests.length === 2, 'the reconnect attempt');
      expect(errors).toBeGreaterThanOrEqual(1);
      expect(requests[1]).toBe('4');

      // Committed while the client was away.
      await append(es, id, [5, 6].map((n) => ({ type: 'tick', data: n })));
      releaseReconnect();
      await until(() => received.length >= 6 && markerCursors.length === 2, 'events 5 and 6 after the reconnect');
      expect(markerCursors).toEqual([3, 6]);

      await append(es, id, [{ type: 'tick', data: 7 }]);
      await until(() => received.length >= 7, 'the live event 7');
      expect(received.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(received.map((r) => r.lastEventId)).toEqual(range(1, 7));
      expect(received.map((r) => r.data)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(requests).toHaveLength(2);
    } finally {
      source?.close();
      await es.close();
    }
  });
});
