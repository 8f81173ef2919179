import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectIso, expectProblem, type TestApp } from '../helpers/app.js';

// POST /v1/sessions/{id}/events: atomic, gapless batches of durable events.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

function append(app: TestApp, id: string, body: unknown, headers: Record<string, string> = {}) {
  return call(app.app, 'POST', `/v1/sessions/${id}/events`, body, headers);
}

async function history(app: TestApp, id: string): Promise<{ events: any[]; last_seq: number }> {
  const res = await call(app.app, 'GET', `/v1/sessions/${id}/events?limit=1000`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function head(app: TestApp, id: string): Promise<number> {
  const res = await call(app.app, 'GET', `/v1/sessions/${id}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().last_seq;
}

/** Asserts nothing was stored: the history and the session head are what they were. */
async function expectUnchanged(app: TestApp, id: string, before: { events: any[]; last_seq: number }): Promise<void> {
  expect(await history(app, id)).toEqual(before);
  expect(await head(app, id)).toBe(before.last_seq);
}

describe('POST /v1/sessions/{id}/events: success', () => {
  it('answers 201 {first_seq, last_seq} and stores the batch in order, gapless from 1', async () => {
    await createSession(t, 'ok-batch');
    const batch = [
      { type: 'tool.call', data: { name: 'grep', args: ['-r', 'x'] } },
      { type: 'note', data: 'plain string' },
      { type: 'progress_update', data: 42 },
      { type: 'nothing', data: null },
    ];
    const res = await append(t, 'ok-batch', { events: batch });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toEqual({ first_seq: 1, last_seq: 4 });

    const page = await history(t, 'ok-batch');
    expect(page.last_seq).toBe(4);
    expect(page.events.map((e) => ({ seq: e.seq, type: e.type, data: e.data }))).toEqual(
      batch.map((e, i) => ({ seq: i + 1, type: e.type, data: e.data })),
    );
    for (const event of page.events) {
      expectIso(event.created_at);
      expect(event).not.toHaveProperty('version');
    }
    expect(await head(t, 'ok-batch')).toBe(4);
  });

  it('continues the seq across batches', async () => {
    await createSession(t, 'across');
    expect((await append(t, 'across', { events: [{ type: 'a', data: 1 }] })).json()).toEqual({ first_seq: 1, last_seq: 1 });
    expect((await append(t, 'across', { events: [{ type: 'b', data: 2 }, { type: 'c', data: 3 }] })).json()).toEqual({
      first_seq: 2,
      last_seq: 3,
    });
    expect((await append(t, 'across', { events: [{ type: 'd', data: 4 }] })).json()).toEqual({ first_seq: 4, last_seq: 4 });
    expect((await history(t, 'across')).events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
      [4, 'd'],
    ]);
  });

  it('shares one seq with state writes: events after a PUT state continue after its state.snapshot event', async () => {
    await createSession(t, 'with-state');
    expect((await append(t, 'with-state', { events: [{ type: 'a', data: 1 }, { type: 'b', data: 2 }] })).json()).toEqual({
      first_seq: 1,
      last_seq: 2,
    });
    const put = await call(t.app, 'PUT', '/v1/sessions/with-state/state', { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toEqual({ version: 1, seq: 3 });
    const after = await append(t, 'with-state', { events: [{ type: 'c', data: 3 }] });
    expect(after.statusCode, after.body).toBe(201);
    expect(after.json()).toEqual({ first_seq: 4, last_seq: 4 });
    const delta = await call(t.app, 'POST', '/v1/sessions/with-state/deltas', { base_version: 1, merge_patch: { n: 1 } });
    expect(delta.json()).toEqual({ version: 2, seq: 5 });
    expect((await append(t, 'with-state', { events: [{ type: 'd', data: 4 }] })).json()).toEqual({ first_seq: 6, last_seq: 6 });

    const page = await history(t, 'with-state');
    expect(page.events.map((e) => [e.seq, e.type, e.version])).toEqual([
      [1, 'a', undefined],
      [2, 'b', undefined],
      [3, 'state.snapshot', 1],
      [4, 'c', undefined],
      [5, 'state.delta', 2],
      [6, 'd', undefined],
    ]);
  });

  it('accepts expected_seq equal to the head (0 on a new session)', async () => {
    await createSession(t, 'expected-ok');
    const first = await append(t, 'expected-ok', { expected_seq: 0, events: [{ type: 'a', data: 1 }, { type: 'b', data: 2 }] });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toEqual({ first_seq: 1, last_seq: 2 });
    const second = await append(t, 'expected-ok', { expected_seq: 2, events: [{ type: 'c', data: 3 }] });
    expect(second.statusCode, second.body).toBe(201);
    expect(second.json()).toEqual({ first_seq: 3, last_seq: 3 });
  });

  it('stores data exactly as sent: GET gives back its members in the order sent, at every depth, as compact JSON', async () => {
    await createSession(t, 'as-sent');
    const data = { zeta: 1, alpha: { y: 2, x: 3 }, mid: [{ b: 'ü', a: null }, 2.5], empty: {} };
    const res = await append(t, 'as-sent', { events: [{ type: 'ordered', data }] });
    expect(res.statusCode, res.body).toBe(201);
    const page = await call(t.app, 'GET', '/v1/sessions/as-sent/events');
    expect(page.statusCode, page.body).toBe(200);
    expect(page.body).toContain(`"data":${JSON.stringify(data)}`);
    const [event] = page.json().events;
    expect(Object.keys(event.data)).toEqual(['zeta', 'alpha', 'mid', 'empty']);
    expect(Object.keys(event.data.alpha)).toEqual(['y', 'x']);
  });

  it('accepts names that only resemble a reserved prefix', async () => {
    await createSession(t, 'near-reserved');
    // Only the reserved prefixes of API.md, with their dot, are reserved.
    const types = ['session', 'state', 'messages.sent', 'queued.item', 'leases', 'sessionx.y', 'turn', 'turns.x', 'attachments.x'];
    const res = await append(t, 'near-reserved', { events: types.map((type) => ({ type, data: type })) });
    expect(res.statusCode, res.body).toBe(201);
    expect((await history(t, 'near-reserved')).events.map((e) => e.type)).toEqual(types);
  });

  it('accepts a type of exactly 128 characters', async () => {
    await createSession(t, 'long-type');
    const type = `a${'b'.repeat(63)}.${'c'.repeat(63)}`;
    expect(type).toHaveLength(128);
    const res = await append(t, 'long-type', { events: [{ type, data: 1 }] });
    expect(res.statusCode, res.body).toBe(201);
    expect((await history(t, 'long-type')).events[0].type).toBe(type);
  });

  it('gives 40 concurrent single-event appends the seqs 1..40, each exactly once', async () => {
    await createSession(t, 'concurrent');
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => append(t, 'concurrent', { events: [{ type: 'tick', data: { writer: i } }] })),
    );
    for (const res of responses) expect(res.statusCode, res.body).toBe(201);
    const seqs = responses.map((res) => {
      const body = res.json();
      expect(body.first_seq).toBe(body.last_seq);
      return body.first_seq as number;
    });
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));

    const page = await history(t, 'concurrent');
    expect(page.last_seq).toBe(40);
    expect(page.events.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    // Each writer's event sits at the seq its answer named.
    responses.forEach((res, writer) => {
      expect(page.events[res.json().first_seq - 1].data).toEqual({ writer });
    });
  });
});

describe('POST /v1/sessions/{id}/events: conflicts and refusals', () => {
  it('answers 409 seq_conflict {expected_seq, actual_seq} for a stale expected_seq and stores nothing', async () => {
    await createSession(t, 'stale');
    await append(t, 'stale', { events: [{ type: 'a', data: 1 }, { type: 'b', data: 2 }, { type: 'c', data: 3 }] });
    const before = await history(t, 'stale');

    const stale = await append(t, 'stale', { expected_seq: 1, events: [{ type: 'x', data: 'lost' }] });
    const problem = expectProblem(stale, 409, 'seq_conflict');
    expect(problem.expected_seq).toBe(1);
    expect(problem.actual_seq).toBe(3);
    await expectUnchanged(t, 'stale', before);

    const ahead = await append(t, 'stale', { expected_seq: 7, events: [{ type: 'x', data: 'lost' }] });
    const aheadProblem = expectProblem(ahead, 409, 'seq_conflict');
    expect(aheadProblem.expected_seq).toBe(7);
    expect(aheadProblem.actual_seq).toBe(3);
    await expectUnchanged(t, 'stale', before);

    // 0 is a seq like any other: "I expect an empty history" on a session that has events.
    const empty = await append(t, 'stale', { expected_seq: 0, events: [{ type: 'x', data: 'lost' }] });
    const emptyProblem = expectProblem(empty, 409, 'seq_conflict');
    expect(emptyProblem.expected_seq).toBe(0);
    expect(emptyProblem.actual_seq).toBe(3);
    await expectUnchanged(t, 'stale', before);
  });

  // API.md's list, written out here rather than imported: a prefix dropped from the code must fail this.
  for (const prefix of ['session.', 'state.', 'message.', 'queue.', 'lease.', 'turn.', 'attachment.', 'stream.']) {
    it(`answers 400 reserved_event_type for "${prefix}*", naming the index, and stores nothing of the batch`, async () => {
      const id = `reserved-${prefix.slice(0, -1)}`;
      await createSession(t, id);
      await append(t, id, { events: [{ type: 'before', data: 0 }] });
      const before = await history(t, id);
      const res = await append(t, id, {
        events: [
          { type: 'valid.one', data: 1 },
          { type: 'valid_two', data: 2 },
          { type: `${prefix}forged`, data: 3 },
          { type: 'valid.three', data: 4 },
        ],
      });
      const problem = expectProblem(res, 400, 'reserved_event_type');
      expect(problem.index).toBe(2);
      expect(problem.event_type).toBe(`${prefix}forged`);
      await expectUnchanged(t, id, before);
    });
  }

  describe('400 invalid_request, nothing stored', () => {
    const invalid: [string, unknown][] = [
      ['an empty batch', { events: [] }],
      ['a missing events member', {}],
      ['events that are not an array', { events: { type: 'a', data: 1 } }],
      ['an event without data', { events: [{ type: 'a', data: 1 }, { type: 'b' }] }],
      ['an event without type', { events: [{ data: 1 }] }],
      ['an uppercase type', { events: [{ type: 'Bad', data: 1 }] }],
      ['an empty segment', { events: [{ type: 'a..b', data: 1 }] }],
      ['a leading digit', { events: [{ type: '1a', data: 1 }] }],
      ['a leading dot', { events: [{ type: '.a', data: 1 }] }],
      ['a trailing dot', { events: [{ type: 'a.', data: 1 }] }],
      ['a hyphen', { events: [{ type: 'a-b', data: 1 }] }],
      ['an empty type', { events: [{ type: '', data: 1 }] }],
      ['a type of 129 characters', { events: [{ type: `a${'b'.repeat(128)}`, data: 1 }] }],
      ['a type with LF', { events: [{ type: 'a\nevent: evil', data: 1 }] }],
      ['a type with a trailing LF', { events: [{ type: 'ok\n', data: 1 }] }],
      ['a type with CR', { events: [{ type: 'a\rb', data: 1 }] }],
      ['a type that is not a string', { events: [{ type: 7, data: 1 }] }],
      ['an unknown field in an event', { events: [{ type: 'a', data: 1, seq: 9 }] }],
      ['an unknown top-level field', { events: [{ type: 'a', data: 1 }], extra: true }],
      ['expected_seq as a string', { events: [{ type: 'a', data: 1 }], expected_seq: '0' }],
      ['a negative expected_seq', { events: [{ type: 'a', data: 1 }], expected_seq: -1 }],
      ['a fractional expected_seq', { events: [{ type: 'a', data: 1 }], expected_seq: 0.5 }],
    ];
    beforeAll(async () => {
      await createSession(t, 'invalid');
      await append(t, 'invalid', { events: [{ type: 'kept', data: 1 }] });
    });
    for (const [what, body] of invalid) {
      it(`refuses ${what}`, async () => {
        const before = await history(t, 'invalid');
        const problem = expectProblem(await append(t, 'invalid', body), 400, 'invalid_request');
        expect(typeof problem.detail).toBe('string');
        await expectUnchanged(t, 'invalid', before);
      });
    }

    it('names the offending field', async () => {
      const problem = expectProblem(await append(t, 'invalid', { events: [{ type: 'a', data: 1 }, { type: 'Bad', data: 2 }] }), 400, 'invalid_request');
      expect(JSON.stringify(problem)).toContain('events/1/type');
      const missing = expectProblem(await append(t, 'invalid', { events: [{ type: 'a' }] }), 400, 'invalid_request');
      expect(JSON.stringify(missing)).toContain('events/0/data');
    });
  });

  it('answers 404 session_not_found for an unknown session', async () => {
    expectProblem(await append(t, 'no-such-session', { events: [{ type: 'a', data: 1 }] }), 404, 'session_not_found');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/no-such-session'), 404, 'session_not_found');
  });
});

describe('POST /v1/sessions/{id}/events: limits', () => {
  let small: TestApp;
  beforeAll(async () => {
    small = await createTestApp({ env: { MAX_BATCH_EVENTS: '3', MAX_EVENT_BYTES: '1024' } });
    await createSession(small, 'limits');
    await append(small, 'limits', { events: [{ type: 'kept', data: 1 }] });
  });
  afterAll(async () => {
    await small?.close();
  });

  it('accepts a batch of MAX_BATCH_EVENTS', async () => {
    const res = await append(small, 'limits', { events: [1, 2, 3].map((n) => ({ type: 'ok', data: n })) });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toEqual({ first_seq: 2, last_seq: 4 });
  });

  it('answers 413 payload_too_large for a batch over MAX_BATCH_EVENTS and stores none of it', async () => {
    const before = await history(small, 'limits');
    const res = await append(small, 'limits', { events: [1, 2, 3, 4].map((n) => ({ type: 'over', data: n })) });
    const problem = expectProblem(res, 413, 'payload_too_large');
    expect(problem).toMatchObject({ limit: 3, size: 4 });
    expect(problem.detail).toBe('a batch may hold 3 events (MAX_BATCH_EVENTS); this one has 4');
    await expectUnchanged(small, 'limits', before);
  });

  // A JSON string's size is its UTF-8 bytes plus two quotes: these are exactly 1024 bytes.
  const exactly = { ascii: 'x'.repeat(1022), accented: 'é'.repeat(511), emoji: `${'😀'.repeat(255)}xx` };

  it('accepts data of exactly MAX_EVENT_BYTES bytes of JSON, in any script', async () => {
    for (const [name, data] of Object.entries(exactly)) {
      expect(Buffer.byteLength(JSON.stringify(data))).toBe(1024);
      const res = await append(small, 'limits', { events: [{ type: name, data }] });
      expect(res.statusCode, res.body).toBe(201);
    }
  });

  it('refuses data one byte over MAX_EVENT_BYTES, counting bytes not characters, and says by how much', async () => {
    const before = await history(small, 'limits');
    for (const data of [`${exactly.ascii}x`, `${exactly.accented}x`, `${exactly.emoji.slice(0, -1)}é`]) {
      // Well under 1024 characters: only the byte count is over.
      expect(Buffer.byteLength(JSON.stringify(data))).toBe(1025);
      const problem = expectProblem(await append(small, 'limits', { events: [{ type: 'over', data }] }), 413, 'payload_too_large');
      expect(problem).toMatchObject({ limit_bytes: 1024, size: 1025 });
      expect(problem.detail).toContain('events[0].data is 1025 bytes; it may hold 1024 (MAX_EVENT_BYTES)');
    }
    await expectUnchanged(small, 'limits', before);
  });

  it('answers 413 payload_too_large when one event\'s data is over MAX_EVENT_BYTES and stores none of the batch', async () => {
    const before = await history(small, 'limits');
    const res = await append(small, 'limits', {
      events: [
        { type: 'small', data: 1 },
        { type: 'big', data: { text: 'x'.repeat(2000) } },
      ],
    });
    expectProblem(res, 413, 'payload_too_large');
    await expectUnchanged(small, 'limits', before);
  });
});

describe('POST /v1/sessions/{id}/events: Idempotency-Key', () => {
  it('replays the first 201 and its body with Idempotent-Replayed: true, storing the events once', async () => {
    await createSession(t, 'idem');
    await append(t, 'idem', { events: [{ type: 'first', data: 0 }] });
    const body = { events: [{ type: 'a', data: 1 }, { type: 'b', data: 2 }] };
    const key = { 'idempotency-key': 'append-once-1' };

    const first = await append(t, 'idem', body, key);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toEqual({ first_seq: 2, last_seq: 3 });
    expect(first.headers['idempotent-replayed']).toBeUndefined();

    // Something else happens in between; the replay must still answer what the first attempt did.
    await append(t, 'idem', { events: [{ type: 'other', data: 9 }] });

    for (let i = 0; i < 2; i++) {
      const again = await append(t, 'idem', body, key);
      expect(again.statusCode, again.body).toBe(201);
      expect(again.json()).toEqual({ first_seq: 2, last_seq: 3 });
      expect(again.headers['idempotent-replayed']).toBe('true');
    }

    const page = await history(t, 'idem');
    expect(page.events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'first'],
      [2, 'a'],
      [3, 'b'],
      [4, 'other'],
    ]);
  });

  it('replays even when the retry carries a now-stale expected_seq', async () => {
    await createSession(t, 'idem-expected');
    const body = { expected_seq: 0, events: [{ type: 'a', data: 1 }] };
    const key = { 'idempotency-key': 'expected-0' };
    expect((await append(t, 'idem-expected', body, key)).statusCode).toBe(201);
    const retry = await append(t, 'idem-expected', body, key);
    expect(retry.statusCode, retry.body).toBe(201);
    expect(retry.json()).toEqual({ first_seq: 1, last_seq: 1 });
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(await head(t, 'idem-expected')).toBe(1);
  });

  it('answers 422 idempotency_key_reused for the same key with a different body, storing nothing', async () => {
    await createSession(t, 'idem-reused');
    const key = { 'idempotency-key': 'reused-key' };
    expect((await append(t, 'idem-reused', { events: [{ type: 'a', data: 1 }] }, key)).statusCode).toBe(201);
    const before = await history(t, 'idem-reused');
    expectProblem(await append(t, 'idem-reused', { events: [{ type: 'a', data: 2 }] }, key), 422, 'idempotency_key_reused');
    await expectUnchanged(t, 'idem-reused', before);
  });
});

describe('POST /v1/sessions/{id}/events under a lease', () => {
  it('needs the current Lease-Token: none is 409 lease_held, a stale one 409 lease_lost, and neither stores anything', async () => {
    await createSession(t, 'events-fenced');
    const first = await call(t.app, 'POST', '/v1/sessions/events-fenced/lease', { owner: 'w1', ttl_ms: 600_000 });
    expect(first.statusCode).toBe(201);
    const stale = first.json().token as string;
    expect((await call(t.app, 'DELETE', '/v1/sessions/events-fenced/lease', undefined, { 'lease-token': stale })).statusCode).toBeLessThan(300);
    const second = await call(t.app, 'POST', '/v1/sessions/events-fenced/lease', { owner: 'w2', ttl_ms: 600_000 });
    expect(second.statusCode).toBe(201);
    const current = second.json().token as string;
    const before = await history(t, 'events-fenced');
    const events = { events: [{ type: 'step', data: 1 }] };
    expectProblem(await append(t, 'events-fenced', events), 409, 'lease_held');
    expectProblem(await append(t, 'events-fenced', events, { 'lease-token': stale }), 409, 'lease_lost');
    await expectUnchanged(t, 'events-fenced', before);
    expect((await append(t, 'events-fenced', events, { 'lease-token': current })).statusCode).toBe(201);
  });
});

describe('POST /v1/sessions/{id}/events to a closed session', () => {
  it('is 409 session_closed and stores nothing, expected_seq or not', async () => {
    // Closed through the Durable Streams face: `Stream-Closed: true` creates it closed, with one message.
    const created = await t.app.inject({
      method: 'PUT',
      url: '/v1/stream/events-closed',
      headers: { 'content-type': 'application/json', 'stream-closed': 'true' },
      payload: JSON.stringify({ first: true }),
    });
    expect(created.statusCode, created.body).toBe(201);
    const before = await history(t, 'events-closed');
    expect(before.last_seq).toBe(1);
    expectProblem(await append(t, 'events-closed', { events: [{ type: 'after.close', data: 1 }] }), 409, 'session_closed');
    expectProblem(await append(t, 'events-closed', { expected_seq: 1, events: [{ type: 'after.close', data: 2 }] }), 409, 'session_closed');
    await expectUnchanged(t, 'events-closed', before);
  });

  it('still takes what the server settles on its own: a lease that runs out after the close is lease.expired on the history', async () => {
    const id = 'events-closed-sweep';
    const stream = (headers: Record<string, string>, method: 'PUT' | 'POST' = 'POST') =>
      t.app.inject({ method, url: `/v1/stream/${id}`, headers: { 'content-type': 'application/json', ...headers } });
    const created = await stream({}, 'PUT');
    expect(created.statusCode, created.body).toBe(201);
    const lease = await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w1', ttl_ms: 60_000 });
    expect(lease.statusCode, lease.body).toBe(201);
    const closed = await stream({ 'stream-closed': 'true', 'lease-token': lease.json().token });
    expect(closed.statusCode, closed.body).toBe(204);
    const types = async () => (await history(t, id)).events.map((event) => event.type);
    expect(await types()).toEqual(['lease.acquired']);
    // Time passes for the lease: the database's clock decides expiry, so its expiry moved into the past is the lease running out.
    await t.database.db`update sessions set lease_expires_at = now() - interval '1 second' where id = ${id}`;
    await expect.poll(types).toEqual(['lease.acquired', 'lease.expired']);
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).json().lease).toBeNull();
    expectProblem(await append(t, id, { events: [{ type: 'after.close', data: 1 }] }), 409, 'session_closed');
  });
});
