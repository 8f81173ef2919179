import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.js';
import { call, createTestApp, expectIso, expectProblem, type TestApp } from '../helpers/app.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  await t?.close();
});

async function create(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return call(t.app, 'POST', '/v1/sessions', body, headers);
}

async function createOk(body: Record<string, unknown>): Promise<any> {
  const response = await create(body);
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

/** Transactions of this app's database waiting for a lock. */
async function lockWaiters(): Promise<number> {
  const [row] = await t.database.db<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
  return row?.n ?? 0;
}

/** Every session, following next_cursor to the end. */
async function listAll(query = '', limit = 1000): Promise<any[]> {
  const sessions: any[] = [];
  let cursor: string | null = null;
  do {
    const params = new URLSearchParams(query);
    params.set('limit', String(limit));
    if (cursor !== null) params.set('cursor', cursor);
    const response = await call(t.app, 'GET', `/v1/sessions?${params}`);
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json();
    sessions.push(...page.sessions);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return sessions;
}

describe('POST /v1/sessions', () => {
  it('creates a session with the given id and answers 201 with a Location and the full session', async () => {
    const response = await create({ id: 'create-1' });
    expect(response.statusCode).toBe(201);
    expect(response.headers.location).toBe('/v1/sessions/create-1');
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const session = response.json();
    expect(session).toEqual({
      id: 'create-1',
      parent_id: null,
      metadata: {},
      encoding: 'json',
      schema_version: null,
      version: 0,
      last_seq: 0,
      history_start: 0,
      retention: null,
      forked_from: null,
      ttl_ms: null,
      expires_at: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
      usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0, turns: 0 },
      first_user_message: null,
      message_count: 0,
      activity: { status: 'idle' },
      lease: null,
    });
    expectIso(session.created_at);
    expectIso(session.updated_at);

    const read = await call(t.app, 'GET', '/v1/sessions/create-1');
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(session);
  });

  it('accepts ids using every allowed character', async () => {
    const id = 'A9._:-z';
    const response = await create({ id });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json().id).toBe(id);
    const read = await call(t.app, 'GET', `/v1/sessions/${encodeURIComponent(id)}`);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json().id).toBe(id);
  });

  it('accepts a 128-character id, which can then be read, patched and deleted', async () => {
    const id = 'L'.repeat(128);
    const response = await create({ id });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json().id).toBe(id);
    const read = await call(t.app, 'GET', `/v1/sessions/${id}`);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json().id).toBe(id);
    const patch = await call(t.app, 'PATCH', `/v1/sessions/${id}`, { metadata: { long: true } });
    expect(patch.statusCode, patch.body).toBe(200);
    const removed = await call(t.app, 'DELETE', `/v1/sessions/${id}`);
    expect(removed.statusCode, removed.body).toBe(204);
  });

  it('stores the metadata given at creation', async () => {
    const session = await createOk({ id: 'create-meta', metadata: { title: 'hello', tags: ['a'], n: { deep: 1 } } });
    expect(session.metadata).toEqual({ title: 'hello', tags: ['a'], n: { deep: 1 } });
  });

  it('generates a UUIDv7 id when none is given, and generated ids sort in creation order', async () => {
    const first = await create({});
    expect(first.statusCode).toBe(201);
    const a = first.json();
    expect(a.id).toMatch(UUID_V7);
    expect(first.headers.location).toBe(`/v1/sessions/${a.id}`);
    const b = await createOk({});
    expect(b.id).toMatch(UUID_V7);
    expect(b.id).not.toBe(a.id);
    expect(a.id < b.id).toBe(true);
    expect((await call(t.app, 'GET', `/v1/sessions/${a.id}`)).statusCode).toBe(200);
  });

  it('creates a session from a request with no body at all', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/sessions' });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ encoding: 'json', version: 0, metadata: {} });
  });

  it('creates a binary session', async () => {
    const session = await createOk({ id: 'create-binary', encoding: 'binary' });
    expect(session.encoding).toBe('binary');
    expect((await call(t.app, 'GET', '/v1/sessions/create-binary')).json().encoding).toBe('binary');
  });

  it('answers 409 session_exists for a taken id and leaves the original unchanged', async () => {
    const original = await createOk({ id: 'create-dup', metadata: { who: 'first' } });
    const again = await create({ id: 'create-dup', metadata: { who: 'second' }, encoding: 'binary' });
    expectProblem(again, 409, 'session_exists');
    const read = await call(t.app, 'GET', '/v1/sessions/create-dup');
    expect(read.json()).toEqual(original);
  });

  it('answers 404 parent_not_found for an unknown parent and creates nothing', async () => {
    const response = await create({ id: 'orphan', parent_id: 'no-such-parent' });
    expectProblem(response, 404, 'parent_not_found');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/orphan'), 404, 'session_not_found');
  });

  it('accepts a parent_id when the parent exists', async () => {
    await createOk({ id: 'parent-ok' });
    const child = await createOk({ id: 'child-ok', parent_id: 'parent-ok' });
    expect(child.parent_id).toBe('parent-ok');
    expect((await call(t.app, 'GET', '/v1/sessions/child-ok')).json().parent_id).toBe('parent-ok');
  });

  it('keeps the children when a parent is deleted, as roots (parent_id null) with their state and history', async () => {
    await createOk({ id: 'parent-gone' });
    await createOk({ id: 'child-kept', parent_id: 'parent-gone' });
    await call(t.app, 'PUT', '/v1/sessions/child-kept/state', { base_version: 0, schema_version: 1, snapshot: { kept: true } });
    expect((await call(t.app, 'DELETE', '/v1/sessions/parent-gone')).statusCode).toBe(204);
    const child = (await call(t.app, 'GET', '/v1/sessions/child-kept')).json();
    expect(child.parent_id).toBeNull();
    expect(child.version).toBe(1);
    expect((await call(t.app, 'GET', '/v1/sessions?parent_id=parent-gone')).json().sessions).toEqual([]);
  });

  describe('validation', () => {
    it.each([
      ['starts with a dash', '-bad'],
      ['is 129 characters', 'a'.repeat(129)],
      ['is empty', ''],
      ['holds a space', 'has space'],
      ['holds a slash', 'a/b'],
    ])('rejects an id that %s with 400 invalid_request naming /id', async (_what, id) => {
      const problem = expectProblem(await create({ id }), 400, 'invalid_request');
      expect(problem.errors[0].field).toBe('/id');
    });

    it('rejects a number where a string belongs, never coercing it', async () => {
      const problem = expectProblem(await create({ id: 5 }), 400, 'invalid_request');
      expect(problem.errors[0].field).toBe('/id');
      expectProblem(await call(t.app, 'GET', '/v1/sessions/5'), 404, 'session_not_found');
    });

    it('rejects an unknown body field and names it', async () => {
      const problem = expectProblem(await create({ id: 'colourful', colour: 'red' }), 400, 'invalid_request');
      expect(problem.errors[0].field).toBe('/colour');
      expectProblem(await call(t.app, 'GET', '/v1/sessions/colourful'), 404, 'session_not_found');
    });

    it.each([
      ['an array', ['a']],
      ['a string', 'meta'],
      ['a number', 3],
      ['null', null],
    ])('rejects metadata that is %s', async (_what, metadata) => {
      const problem = expectProblem(await create({ metadata }), 400, 'invalid_request');
      expect(problem.errors[0].field).toBe('/metadata');
    });

    it('rejects an unknown encoding and lists the allowed values', async () => {
      const problem = expectProblem(await create({ encoding: 'xml' }), 400, 'invalid_request');
      expect(problem.errors[0].field).toBe('/encoding');
      expect(problem.detail).toContain('json');
      expect(problem.detail).toContain('binary');
    });

    it('rejects a parent_id that is not a valid session id', async () => {
      const problem = expectProblem(await create({ parent_id: '-nope' }), 400, 'invalid_request');
      expect(problem.errors[0].field).toBe('/parent_id');
    });

    it('rejects a body that is not an object', async () => {
      expectProblem(await create([] as unknown as Record<string, unknown>), 400, 'invalid_request');
    });

    it('rejects malformed JSON with 400 invalid_request', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { 'content-type': 'application/json' },
        payload: '{"id": "broken",',
      });
      expectProblem(response, 400, 'invalid_request');
      expectProblem(await call(t.app, 'GET', '/v1/sessions/broken'), 404, 'session_not_found');
    });

    it.each(['application/xml', 'text/plain'])('rejects a %s body with 415 unsupported_media_type', async (type) => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { 'content-type': type },
        payload: type === 'text/plain' ? '{"id":"plain-text"}' : '<session id="xml-body"/>',
      });
      expectProblem(response, 415, 'unsupported_media_type');
      expectProblem(await call(t.app, 'GET', '/v1/sessions/plain-text'), 404, 'session_not_found');
    });
  });
});

describe('GET /v1/sessions/{id}', () => {
  it('answers 404 session_not_found for an unknown id', async () => {
    const problem = expectProblem(await call(t.app, 'GET', '/v1/sessions/never-created'), 404, 'session_not_found');
    expect(problem.detail).toContain('never-created');
  });

  it.each([
    ['starts with a dash', '-bad'],
    ['is 129 characters', 'a'.repeat(129)],
  ])('answers 400 invalid_request for an id that %s', async (_what, id) => {
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}`), 400, 'invalid_request');
  });
});

describe('GET /v1/sessions', () => {
  it('lists newest first', async () => {
    const ids = ['order-1', 'order-2', 'order-3'];
    for (const id of ids) await createOk({ id });
    const listed = (await listAll()).map((s) => s.id).filter((id) => ids.includes(id));
    expect(listed).toEqual(['order-3', 'order-2', 'order-1']);
    const newest = (await call(t.app, 'GET', '/v1/sessions?limit=1')).json();
    expect(newest.sessions).toHaveLength(1);
    expect(newest.sessions[0].id).toBe('order-3');
  });

  it('answers sessions in the same shape as GET /v1/sessions/{id}', async () => {
    const created = await createOk({ id: 'list-shape', metadata: { k: 'v' } });
    const listed = (await listAll()).find((s) => s.id === 'list-shape');
    expect(listed).toEqual(created);
  });

  it('pages with limit and next_cursor, visiting every session exactly once', async () => {
    for (let i = 0; i < 7; i++) await createOk({ id: `page-${i}` });
    const everything = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json();
    expect(everything.next_cursor).toBeNull();
    const allIds = everything.sessions.map((s: any) => s.id);
    expect(allIds.length).toBeGreaterThan(7);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/sessions?limit=3${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const response = await call(t.app, 'GET', url);
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json();
      expect(page.sessions.length).toBeLessThanOrEqual(3);
      if (page.next_cursor !== null) expect(page.sessions).toHaveLength(3);
      seen.push(...page.sessions.map((s: any) => s.id));
      cursor = page.next_cursor;
      pages++;
      expect(pages).toBeLessThanOrEqual(allIds.length);
    } while (cursor !== null);

    expect(pages).toBe(Math.ceil(allIds.length / 3));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(allIds);
  });

  it('filters by parent_id', async () => {
    await createOk({ id: 'family' });
    await createOk({ id: 'family-a', parent_id: 'family' });
    await createOk({ id: 'unrelated' });
    await createOk({ id: 'family-b', parent_id: 'family' });
    const response = await call(t.app, 'GET', '/v1/sessions?parent_id=family');
    expect(response.statusCode).toBe(200);
    const page = response.json();
    expect(page.sessions.map((s: any) => s.id)).toEqual(['family-b', 'family-a']);
    expect(page.next_cursor).toBeNull();

    const paged = await listAll('parent_id=family', 1);
    expect(paged.map((s) => s.id)).toEqual(['family-b', 'family-a']);
    const none = (await call(t.app, 'GET', '/v1/sessions?parent_id=childless')).json();
    expect(none).toEqual({ sessions: [], next_cursor: null });
  });

  it.each(['0', '1001', 'abc', '-1', '1.5'])('rejects limit=%s with 400 invalid_request', async (limit) => {
    const problem = expectProblem(await call(t.app, 'GET', `/v1/sessions?limit=${limit}`), 400, 'invalid_request');
    expect(problem.errors[0].field).toBe('/limit');
  });

  it.each(['garbage', 'czo', '!!!', Buffer.from('s:abc').toString('base64url')])(
    'rejects cursor=%s with 400 invalid_request',
    async (cursor) => {
      const response = await call(t.app, 'GET', `/v1/sessions?cursor=${encodeURIComponent(cursor)}`);
      expectProblem(response, 400, 'invalid_request');
    },
  );

  it('rejects an unknown query parameter', async () => {
    expectProblem(await call(t.app, 'GET', '/v1/sessions?colour=red'), 400, 'invalid_request');
  });
});

describe('PATCH /v1/sessions/{id}', () => {
  it('applies metadata as a JSON merge patch: null deletes, objects merge, updated_at moves forward', async () => {
    const created = await createOk({
      id: 'patch-1',
      metadata: { drop: 1, keep: 'yes', nested: { a: 1, b: 2, inner: { x: 1 } }, list: [1, 2] },
    });
    await sleep(5); // so that a moved updated_at is visible at millisecond precision
    const response = await call(t.app, 'PATCH', '/v1/sessions/patch-1', {
      metadata: { drop: null, nested: { b: 3, c: 4, inner: { x: null, y: 2 } }, list: [3], added: true },
    });
    expect(response.statusCode, response.body).toBe(200);
    const patched = response.json();
    expect(patched.metadata).toEqual({
      keep: 'yes',
      nested: { a: 1, b: 3, c: 4, inner: { y: 2 } },
      list: [3],
      added: true,
    });
    expect(patched.id).toBe('patch-1');
    expect(patched.created_at).toBe(created.created_at);
    expectIso(patched.updated_at);
    expect(Date.parse(patched.updated_at)).toBeGreaterThan(Date.parse(created.updated_at));
    expect(patched.version).toBe(0);

    const read = (await call(t.app, 'GET', '/v1/sessions/patch-1')).json();
    expect(read).toEqual(patched);
  });

  it('leaves metadata unchanged with an empty patch', async () => {
    await createOk({ id: 'patch-empty', metadata: { a: 1 } });
    const response = await call(t.app, 'PATCH', '/v1/sessions/patch-empty', { metadata: {} });
    expect(response.statusCode).toBe(200);
    expect(response.json().metadata).toEqual({ a: 1 });
  });

  it('answers 404 for an unknown session', async () => {
    expectProblem(await call(t.app, 'PATCH', '/v1/sessions/patch-missing', { metadata: { a: 1 } }), 404, 'session_not_found');
  });

  it('rejects metadata that is not an object; a body without metadata leaves it as it is', async () => {
    await createOk({ id: 'patch-bad', metadata: { a: 1 } });
    expect((await call(t.app, 'PATCH', '/v1/sessions/patch-bad', {})).json().metadata).toEqual({ a: 1 });
    expectProblem(await call(t.app, 'PATCH', '/v1/sessions/patch-bad', { metadata: [1] }), 400, 'invalid_request');
  });
});

describe('DELETE /v1/sessions/{id}', () => {
  it('answers 204, after which the session and its events are gone', async () => {
    await createOk({ id: 'doomed' });
    const put = await call(t.app, 'PUT', '/v1/sessions/doomed/state', { base_version: 0, schema_version: 1, snapshot: { a: 1 } });
    expect(put.statusCode, put.body).toBe(200);
    expect((await call(t.app, 'GET', '/v1/sessions/doomed/events')).json().events).toHaveLength(1);

    const response = await call(t.app, 'DELETE', '/v1/sessions/doomed');
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');

    expectProblem(await call(t.app, 'GET', '/v1/sessions/doomed'), 404, 'session_not_found');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/doomed/events'), 404, 'session_not_found');
    expect((await listAll()).some((s) => s.id === 'doomed')).toBe(false);

    // The id is free again, and the new session starts with no history.
    const again = await createOk({ id: 'doomed' });
    expect(again.version).toBe(0);
    expect(again.last_seq).toBe(0);
    const events = (await call(t.app, 'GET', '/v1/sessions/doomed/events')).json();
    expect(events).toEqual({ events: [], last_seq: 0, has_more: false });
  });

  it('answers 404 for an unknown session', async () => {
    expectProblem(await call(t.app, 'DELETE', '/v1/sessions/never-there'), 404, 'session_not_found');
  });
});

describe('Idempotency-Key', () => {
  it('replays a repeated create with the same key and body', async () => {
    const headers = { 'idempotency-key': 'create-key-1' };
    const body = { id: 'idem-create', metadata: { n: 1 } };
    const first = await create(body, headers);
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();

    const second = await create(body, headers);
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.json()).toEqual(first.json());
  });

  it('replays a create without id: the same generated id comes back and only one session exists', async () => {
    const before = await listAll();
    const headers = { 'idempotency-key': 'generated-key-1' };
    const body = { metadata: { generated: 'once' } };
    const first = await create(body, headers);
    expect(first.statusCode).toBe(201);
    const second = await create(body, headers);
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.json()).toEqual(first.json());
    expect(second.json().id).toMatch(UUID_V7);

    const after = await listAll();
    expect(after).toHaveLength(before.length + 1);
    expect(after.filter((s) => s.metadata.generated === 'once').map((s) => s.id)).toEqual([first.json().id]);
  });

  it('answers 422 idempotency_key_reused for the same key with a different body, changing nothing', async () => {
    const headers = { 'idempotency-key': 'create-key-2' };
    const first = await create({ id: 'idem-reused', metadata: { v: 1 } }, headers);
    expect(first.statusCode).toBe(201);
    expectProblem(await create({ id: 'idem-reused', metadata: { v: 2 } }, headers), 422, 'idempotency_key_reused');
    expect((await call(t.app, 'GET', '/v1/sessions/idem-reused')).json()).toEqual(first.json());

    const generated = { 'idempotency-key': 'generated-key-2' };
    const count = (await listAll()).length;
    expect((await create({ metadata: { v: 1 } }, generated)).statusCode).toBe(201);
    expectProblem(await create({ metadata: { v: 2 } }, generated), 422, 'idempotency_key_reused');
    expect(await listAll()).toHaveLength(count + 1);
  });

  it('replays a repeated PATCH without applying it twice', async () => {
    await createOk({ id: 'idem-patch', metadata: { list: [1] } });
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'patch-key' };
    const first = await call(t.app, 'PATCH', '/v1/sessions/idem-patch', { metadata: { list: [1, 2] } }, headers);
    expect(first.statusCode).toBe(200);
    await call(t.app, 'PATCH', '/v1/sessions/idem-patch', { metadata: { other: true } });
    const again = await call(t.app, 'PATCH', '/v1/sessions/idem-patch', { metadata: { list: [1, 2] } }, headers);
    expect(again.statusCode).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect((await call(t.app, 'GET', '/v1/sessions/idem-patch')).json().metadata).toEqual({ list: [1, 2], other: true });
  });

  it('replays a repeated DELETE with 204 and the replay header', async () => {
    await createOk({ id: 'idem-delete' });
    const headers = { 'idempotency-key': 'delete-key' };
    const first = await call(t.app, 'DELETE', '/v1/sessions/idem-delete', undefined, headers);
    expect(first.statusCode).toBe(204);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const second = await call(t.app, 'DELETE', '/v1/sessions/idem-delete', undefined, headers);
    expect(second.statusCode).toBe(204);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.body).toBe('');
    // Without the key, the repeat is a plain 404.
    expectProblem(await call(t.app, 'DELETE', '/v1/sessions/idem-delete'), 404, 'session_not_found');
  });

  it.each([
    ['300 characters', 'k'.repeat(300)],
    ['256 characters', 'k'.repeat(256)],
    ['a space', 'has space'],
    ['a non-ASCII character', 'clé'],
  ])('rejects a key of %s with 400 invalid_request and creates nothing', async (_what, key) => {
    const response = await create({ id: 'idem-invalid-key' }, { 'idempotency-key': key });
    expectProblem(response, 400, 'invalid_request');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/idem-invalid-key'), 404, 'session_not_found');
  });

  it('accepts a key of 255 visible ASCII characters', async () => {
    const key = '!~'.repeat(127) + 'k';
    expect(key).toHaveLength(255);
    const first = await create({ id: 'idem-long-key' }, { 'idempotency-key': key });
    expect(first.statusCode).toBe(201);
    const second = await create({ id: 'idem-long-key' }, { 'idempotency-key': key });
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
  });
});

describe('concurrent creates', () => {
  it('of one id without a key: exactly one 201 and nineteen 409 session_exists', async () => {
    const responses = await Promise.all(Array.from({ length: 20 }, () => create({ id: 'race-plain' })));
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    for (const r of responses.filter((r) => r.statusCode === 409)) expectProblem(r, 409, 'session_exists');
    expect((await listAll()).filter((s) => s.id === 'race-plain')).toHaveLength(1);
  });

  it('with one Idempotency-Key and a given id: all 201 with identical bodies, one session', async () => {
    const body = { id: 'race-keyed', metadata: { race: true } };
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => create(body, { 'idempotency-key': 'race-key-with-id' })),
    );
    expect(responses.map((r) => `${r.statusCode} ${r.statusCode === 201 ? '' : r.body}`)).toEqual(
      Array.from({ length: 10 }, () => '201 '),
    );
    const bodies = responses.map((r) => r.json());
    for (const b of bodies) expect(b).toEqual(bodies[0]);
    expect(responses.filter((r) => r.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    expect((await listAll()).filter((s) => s.id === 'race-keyed')).toHaveLength(1);
  });

  it('with one Idempotency-Key and no id, both past the key check before either stored it: the second replays the first', async () => {
    await createOk({ id: 'race-held-parent' });
    const body = { parent_id: 'race-held-parent', metadata: { race: 'held' } };
    const key = { 'idempotency-key': 'race-key-held' };
    let attempts: ReturnType<typeof create>[] = [];
    // Each create checks the key, then waits on the parent's row (its foreign-key check)
    // while the test holds it: both have found no stored answer before either commits.
    await t.database.db.begin(async (tx) => {
      await tx`select 1 from sessions where id = 'race-held-parent' for update`;
      attempts = [create(body, key), create(body, key)];
      await expect.poll(lockWaiters, { timeout: 30_000 }).toBe(2);
    });
    const responses = await Promise.all(attempts);
    expect(responses.map((r) => `${r.statusCode} ${r.statusCode === 201 ? '' : r.body}`)).toEqual(['201 ', '201 ']);
    const [first, second] = responses.map((r) => r.json());
    expect(second).toEqual(first);
    expect(responses.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(1);
    expect(await listAll('parent_id=race-held-parent')).toEqual([first]);
  });

  it('with one Idempotency-Key and no id: all 201 with identical bodies, one session', async () => {
    const before = (await listAll()).length;
    const body = { metadata: { race: 'generated' } };
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => create(body, { 'idempotency-key': 'race-key-generated' })),
    );
    expect(responses.map((r) => `${r.statusCode} ${r.statusCode === 201 ? '' : r.body}`)).toEqual(
      Array.from({ length: 10 }, () => '201 '),
    );
    const bodies = responses.map((r) => r.json());
    for (const b of bodies) expect(b).toEqual(bodies[0]);
    const after = await listAll();
    expect(after).toHaveLength(before + 1);
    expect(after.filter((s) => s.metadata.race === 'generated').map((s) => s.id)).toEqual([bodies[0].id]);
  });
});

describe('what a session picker and a retrying client rely on', () => {
  it('an Idempotency-Key belongs to its session: the same key creating two named ids creates both', async () => {
    const key = { 'idempotency-key': 'per-session-key' };
    const a = await create({ id: 'key-scope-a' }, key);
    const b = await create({ id: 'key-scope-b' }, key);
    expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(b.json().id).toBe('key-scope-b');
    expect((await call(t.app, 'GET', '/v1/sessions/key-scope-b')).statusCode).toBe(200);
  });

  it('a replayed create never points its Location at another session than the one it answers with', async () => {
    const key = { 'idempotency-key': 'located-once' };
    const first = await create({ metadata: { where: 'here' } }, key);
    expect(first.headers.location).toBe(`/v1/sessions/${first.json().id}`);
    const again = await create({ metadata: { where: 'here' } }, key);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect([undefined, `/v1/sessions/${first.json().id}`]).toContain(again.headers.location);
  });

  it('a list without limit answers 100 and a cursor to the rest', async () => {
    await createOk({ id: 'hundred-parent' });
    for (let i = 0; i < 101; i++) await createOk({ id: `hundred-${i}`, parent_id: 'hundred-parent' });
    const page = (await call(t.app, 'GET', '/v1/sessions?parent_id=hundred-parent')).json();
    expect(page.sessions).toHaveLength(100);
    expect(page.sessions[0].id).toBe('hundred-100');
    const rest = (await call(t.app, 'GET', `/v1/sessions?parent_id=hundred-parent&cursor=${page.next_cursor}`)).json();
    expect(rest).toEqual({ sessions: [expect.objectContaining({ id: 'hundred-0' })], next_cursor: null });
  });

  it('a page exactly as long as what is left has no next_cursor', async () => {
    await createOk({ id: 'exact-parent' });
    for (const id of ['exact-a', 'exact-b']) await createOk({ id, parent_id: 'exact-parent' });
    expect((await call(t.app, 'GET', '/v1/sessions?parent_id=exact-parent&limit=2')).json()).toMatchObject({
      sessions: [{ id: 'exact-b' }, { id: 'exact-a' }],
      next_cursor: null,
    });
    const first = (await call(t.app, 'GET', '/v1/sessions?parent_id=exact-parent&limit=1')).json();
    expect(first).toMatchObject({ sessions: [{ id: 'exact-b' }], next_cursor: expect.any(String) });
    expect((await call(t.app, 'GET', `/v1/sessions?parent_id=exact-parent&limit=1&cursor=${first.next_cursor}`)).json()).toMatchObject({
      sessions: [{ id: 'exact-a' }],
      next_cursor: null,
    });
  });

  it.each([
    ['a number with text after it', 's:12x'],
    ['a number with text before it', 's:x12'],
    ['17 digits', `s:${'1'.repeat(17)}`],
    ['another listing\'s tag', 'm:asc:12'],
  ])('refuses a forged cursor holding %s', async (_what, text) => {
    const problem = expectProblem(await call(t.app, 'GET', `/v1/sessions?cursor=${Buffer.from(text).toString('base64url')}`), 400, 'invalid_request');
    expect(problem.errors[0].field).toBe('/cursor');
  });

  it('the list and the read show a session\'s current activity', async () => {
    await createOk({ id: 'busy-one' });
    expect((await call(t.app, 'PUT', '/v1/sessions/busy-one/activity', { status: 'thinking' })).statusCode).toBe(200);
    const listed = (await listAll()).find((s) => s.id === 'busy-one');
    expect(listed.activity).toMatchObject({ status: 'thinking' });
    expect((await call(t.app, 'GET', '/v1/sessions/busy-one')).json()).toEqual(listed);
  });

  it('concurrent PATCHes of different keys all land: each merges into what the one before it wrote', async () => {
    await createOk({ id: 'many-editors', metadata: { base: true } });
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => call(t.app, 'PATCH', '/v1/sessions/many-editors', { metadata: { [`editor${i}`]: i } })),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(Array(10).fill(200));
    const expected = { base: true, ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`editor${i}`, i])) };
    expect((await call(t.app, 'GET', '/v1/sessions/many-editors')).json().metadata).toEqual(expected);
    // Each answer is the metadata as of its own write: the last one's holds every key.
    expect(answers.map((a) => Object.keys(a.json().metadata).length).sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => i + 2));
    const updates = (await call(t.app, 'GET', '/v1/sessions/many-editors/events?type=session.updated')).json().events;
    expect(updates).toHaveLength(10);
    expect(updates.at(-1).data.metadata).toEqual(expected);
  });

  it('create keeps retention and ttl_ms, and shows expires_at as ttl_ms after the last write', async () => {
    const session = await createOk({ id: 'with-policy', retention: { max_events: 10 }, ttl_ms: 60_000 });
    expect(session).toMatchObject({ retention: { max_events: 10 }, ttl_ms: 60_000 });
    expect(Date.parse(session.expires_at) - Date.parse(session.updated_at)).toBe(60_000);
    expect((await call(t.app, 'GET', '/v1/sessions/with-policy')).json()).toEqual(session);
  });
});

describe('what the session routes show of expired streams and to scoped tokens', () => {
  const SECRET = 'sessions-test-secret-of-32-bytes-or-more';
  let scoped: TestApp;
  beforeAll(async () => {
    // No sweeps: what a read answers must not depend on a sweep having run.
    scoped = await createTestApp({ env: { AUTH_SECRET: SECRET }, sweeps: false });
  });
  afterAll(() => scoped.close());
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('a Durable Stream past its Stream-Expires-At is 404 at once, though no sweep has deleted its row', async () => {
    const admin = await mintToken(SECRET, { sessions: ['*'], admin: true, ttlSeconds: 600 });
    const put = await scoped.app.inject({
      method: 'PUT',
      url: '/v1/stream/expired-stream',
      headers: { ...bearer(admin), 'content-type': 'text/plain', 'stream-expires-at': '2001-01-01T00:00:00Z' },
    });
    expect(put.statusCode, put.body).toBe(201);
    expectProblem(await call(scoped.app, 'GET', '/v1/sessions/expired-stream', undefined, bearer(admin)), 404, 'session_not_found');
    // Nor is it there for live events: a publish to it is 404 too, not delivered to whoever still follows it.
    expectProblem(await call(scoped.app, 'POST', '/v1/sessions/expired-stream/live', { type: 'note', data: {} }, bearer(admin)), 404, 'session_not_found');
    const [row] = await scoped.database.db`select count(*)::int as n from sessions where id = 'expired-stream'`;
    expect(row?.n).toBe(1);
  });

  it('GET /v1/sessions lists only the sessions a token may read', async () => {
    const admin = await mintToken(SECRET, { sessions: ['*'], admin: true, ttlSeconds: 600 });
    for (const id of ['list-a-1', 'list-a-2', 'list-b-1']) {
      expect((await call(scoped.app, 'POST', '/v1/sessions', { id, metadata: { secret: id } }, bearer(admin))).statusCode).toBe(201);
    }
    const reader = await mintToken(SECRET, { sessions: ['list-a-*'], read: true, ttlSeconds: 600 });
    const listed = await call(scoped.app, 'GET', '/v1/sessions?limit=1000', undefined, bearer(reader));
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().sessions.map((s: { id: string }) => s.id).sort()).toEqual(['list-a-1', 'list-a-2']);
    const all = (await call(scoped.app, 'GET', '/v1/sessions?limit=1000', undefined, bearer(admin))).json().sessions.map((s: { id: string }) => s.id);
    expect(all).toEqual(expect.arrayContaining(['list-a-1', 'list-a-2', 'list-b-1']));
  });

  it('a token granted sessions by exact id lists those sessions, and not others sharing their prefix', async () => {
    const admin = await mintToken(SECRET, { sessions: ['*'], admin: true, ttlSeconds: 600 });
    for (const id of ['list-exact-1', 'list-exact-10', 'list-exact-2']) {
      expect((await call(scoped.app, 'POST', '/v1/sessions', { id }, bearer(admin))).statusCode).toBe(201);
    }
    const reader = await mintToken(SECRET, { sessions: ['list-exact-1', 'list-exact-2'], read: true, ttlSeconds: 600 });
    const listed = await call(scoped.app, 'GET', '/v1/sessions?limit=1000', undefined, bearer(reader));
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().sessions.map((s: { id: string }) => s.id)).toEqual(['list-exact-2', 'list-exact-1']);
  });
});

describe('GET /v1/sessions and soft-deleted streams', () => {
  it('a Durable Stream deleted while forks of it live is gone from the list (and the session route), its forks listed', async () => {
    const ds = (method: 'PUT' | 'DELETE', path: string, headers: Record<string, string> = {}) =>
      t.app.inject({ method, url: `/v1/stream/${path}`, headers: { 'content-type': 'text/plain', ...headers } });
    expect((await ds('PUT', 'soft-listed')).statusCode).toBe(201);
    expect((await ds('PUT', 'soft-listed-fork', { 'stream-forked-from': '/v1/stream/soft-listed' })).statusCode).toBe(201);
    expect((await ds('DELETE', 'soft-listed')).statusCode).toBe(204);
    const listed = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions.map((s: { id: string }) => s.id);
    expect(listed).toContain('soft-listed-fork');
    expect(listed).not.toContain('soft-listed');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/soft-listed'), 404, 'session_not_found');
  });

  it('a Durable Stream deleted while forks of it live is gone from every native read and write: its events, state, an append, a PATCH, a live event', async () => {
    const ds = (method: 'PUT' | 'DELETE', path: string, headers: Record<string, string> = {}) =>
      t.app.inject({ method, url: `/v1/stream/${path}`, headers: { 'content-type': 'text/plain', ...headers } });
    expect((await ds('PUT', 'soft-native')).statusCode).toBe(201);
    expect((await ds('PUT', 'soft-native-fork', { 'stream-forked-from': '/v1/stream/soft-native' })).statusCode).toBe(201);
    expect((await ds('DELETE', 'soft-native')).statusCode).toBe(204);
    expectProblem(await call(t.app, 'GET', '/v1/sessions/soft-native/events'), 404, 'session_not_found');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/soft-native/state'), 404, 'session_not_found');
    expectProblem(await call(t.app, 'POST', '/v1/sessions/soft-native/events', { events: [{ type: 'note', data: {} }] }), 404, 'session_not_found');
    expectProblem(await call(t.app, 'PATCH', '/v1/sessions/soft-native', { metadata: { a: 1 } }), 404, 'session_not_found');
    expectProblem(await call(t.app, 'POST', '/v1/sessions/soft-native/live', { type: 'note', data: {} }), 404, 'session_not_found');
    // Nothing landed in the deleted stream: its fork still reads, and the id stays gone on the stream face.
    expect((await call(t.app, 'GET', '/v1/sessions/soft-native-fork')).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/v1/stream/soft-native' })).statusCode).toBe(410);
  });
});

describe('the lease a session shows', () => {
  it('is the one held now: an expired lease nobody released shows as none, on the session and in the list', async () => {
    expect((await create({ id: 'lease-shown' })).statusCode).toBe(201);
    const claimed = await call(t.app, 'POST', '/v1/sessions/lease-shown/lease', { owner: 'w', ttl_ms: 200 });
    expect(claimed.statusCode).toBe(201);
    expect((await call(t.app, 'GET', '/v1/sessions/lease-shown')).json().lease).toMatchObject({ owner: 'w' });
    await sleep(400);
    expect((await call(t.app, 'GET', '/v1/sessions/lease-shown')).json().lease).toBeNull();
    const listed = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions.find((s: { id: string }) => s.id === 'lease-shown');
    expect(listed.lease).toBeNull();
  });
});
