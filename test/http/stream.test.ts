import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectIso, expectProblem, type TestApp } from '../helpers/app.js';
import { type SseClient as SseClientType } from '../helpers/sse.js';
import { append, eventually, getSession, history, listeningApp, markers, open, range, sessionWithEvents, waitForMarker } from '../helpers/streams.js';

// The per-session SSE stream over real sockets against the real app and database: replay, tail,
// cursor, errors, heartbeat, framing, deletion, several instances, and a real EventSource client.
let t: TestApp;
listeningApp((app) => (t = app));

describe('stream: response headers', () => {
  it('answers 200 text/event-stream, no-cache no-transform, X-Accel-Buffering: no, with a retry hint', async () => {
    await sessionWithEvents(t, 'headers', 0);
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
    await sessionWithEvents(t, 'empty-start', 0);
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
    await sessionWithEvents(t, id, 0);
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
    await sessionWithEvents(t, 'cursor', 5);
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
    await sessionWithEvents(t, 'cursor-now', 4);
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
    await sessionWithEvents(t, 'replay-only', 4);
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
    await sessionWithEvents(t, 'replay-only-head', 2);
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
    await sessionWithEvents(t, 'errors', 3);
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
    await sessionWithEvents(t, 'doomed', 2);
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
    await sessionWithEvents(t, 'reborn-stream', 3);
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

      await sessionWithEvents(t, 'reborn-stream', 1);
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
    await sessionWithEvents(t, id, 2);
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
