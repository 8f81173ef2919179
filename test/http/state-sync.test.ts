import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { exportRecords, importCopy } from '../helpers/export-file.js';

let t: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp({ env: { STATE_CHECKPOINT_DELTAS: '4', STATE_CATCHUP_MAX_DELTAS: '50' } });
});
afterAll(() => t.close());

async function session(encoding: 'json' | 'binary' = 'json'): Promise<string> {
  return createSession(t, `sync-${++counter}`, { encoding });
}

const state = (id: string, query = '', headers: Record<string, string> = {}) =>
  call(t.app, 'GET', `/v1/sessions/${id}/state${query}`, undefined, headers);
const put = (id: string, body: unknown, headers?: Record<string, string>) =>
  call(t.app, 'PUT', `/v1/sessions/${id}/state`, body, headers);
const delta = (id: string, body: unknown, headers?: Record<string, string>) =>
  call(t.app, 'POST', `/v1/sessions/${id}/deltas`, body, headers);

describe('GET /v1/sessions/{id}/state: the worker handshake', () => {
  it('answers new for a session without state, with or without have', async () => {
    const id = await session();
    expect((await state(id)).json()).toEqual({ mode: 'new', version: 0, seq: 0 });
    expect((await state(id, '?have=0')).json()).toEqual({ mode: 'new', version: 0, seq: 0 });
  });

  it('answers new to a worker cold-starting with its schema_version on a session without state: no stored schema to differ from', async () => {
    const id = await session();
    for (const query of ['?schema_version=1', '?schema_version=7', '?have=0&schema_version=3']) {
      const res = await state(id, query);
      expect(res.statusCode, `${query}: ${res.body}`).toBe(200);
      expect(res.json()).toEqual({ mode: 'new', version: 0, seq: 0 });
    }
    // Its first PUT then stores the schema it came with.
    expect((await put(id, { base_version: 0, schema_version: 7, snapshot: { a: 1 } })).json()).toEqual({ version: 1, seq: 1 });
    expect((await state(id, '?have=1&schema_version=7')).json()).toEqual({ mode: 'resume', version: 1, seq: 1 });
  });

  it('answers resume when the worker holds the head', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 1, snapshot: { a: 1 } });
    const res = await state(id, '?have=1');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ mode: 'resume', version: 1, seq: 1 });
  });

  it('answers catch_up with every delta after have, as posted, in order', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 3, snapshot: { n: 0, items: [] } });
    await delta(id, { base_version: 1, merge_patch: { n: 1 } });
    await delta(id, { base_version: 2, patch: [{ op: 'add', path: '/items/-', value: 'x' }] });
    const res = await state(id, '?have=1');
    expect(res.json()).toEqual({
      mode: 'catch_up',
      version: 3,
      seq: 3,
      schema_version: 3,
      deltas: [
        { version: 2, merge_patch: { n: 1 } },
        { version: 3, patch: [{ op: 'add', path: '/items/-', value: 'x' }] },
      ],
    });
  });

  it('catches up across server checkpoints: they are not state changes', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
    for (let v = 1; v <= 9; v++) expect((await delta(id, { base_version: v, merge_patch: { n: v } })).statusCode).toBe(200);
    const res = await state(id, '?have=2');
    expect(res.json().mode).toBe('catch_up');
    expect(res.json().deltas.map((d: { version: number }) => d.version)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('answers snapshot (materialised) for a cold start of json state', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 2, snapshot: { todo: ['a'], done: 0 } });
    await delta(id, { base_version: 1, patch: [{ op: 'add', path: '/todo/-', value: 'b' }] });
    await delta(id, { base_version: 2, merge_patch: { done: 1, extra: { deep: true } } });
    await delta(id, { base_version: 3, patch: [{ op: 'remove', path: '/todo/0' }] });
    expect((await state(id)).json()).toEqual({
      mode: 'snapshot',
      version: 4,
      seq: 4,
      schema_version: 2,
      snapshot_version: 4,
      snapshot: { todo: ['b'], done: 1, extra: { deep: true } },
      deltas: [],
    });
  });

  it('answers snapshot when a replacing snapshot lies between have and the head', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 1, snapshot: { old: true } });
    await delta(id, { base_version: 1, merge_patch: { x: 1 } });
    await put(id, { base_version: 2, schema_version: 1, snapshot: { fresh: true } });
    await delta(id, { base_version: 3, merge_patch: { y: 2 } });
    const res = await state(id, '?have=2');
    expect(res.json()).toMatchObject({ mode: 'snapshot', version: 4, snapshot: { fresh: true, y: 2 } });
    // From the replacing snapshot on, catch-up works again.
    expect((await state(id, '?have=3')).json()).toMatchObject({ mode: 'catch_up', deltas: [{ version: 4 }] });
  });

  it('answers snapshot when a json worker is further behind than STATE_CATCHUP_MAX_DELTAS', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
    for (let v = 1; v <= 52; v++) await delta(id, { base_version: v, merge_patch: { n: v } });
    expect((await state(id, '?have=1')).json()).toMatchObject({ mode: 'snapshot', version: 53, snapshot: { n: 52 } });
    expect((await state(id, '?have=3')).json()).toMatchObject({ mode: 'catch_up', version: 53 });
  });

  it('answers snapshot, never a catch_up with a gap, when a delta after have is no longer kept', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 1, snapshot: { n: 1 } });
    for (let v = 1; v <= 3; v++) expect((await delta(id, { base_version: v, merge_patch: { [`k${v}`]: v } })).statusCode).toBe(200);
    // Seq 1 is the snapshot, seqs 2 to 4 the deltas making versions 2 to 4: the delta that made version 2 goes.
    const compacted = await call(t.app, 'POST', `/v1/sessions/${id}/compact`, { before_seq: 3 });
    expect(compacted.json()).toEqual({ history_start: 2 });
    const head = { n: 1, k1: 1, k2: 2, k3: 3 };
    expect((await state(id, '?have=1')).json()).toMatchObject({ mode: 'snapshot', version: 4, snapshot_version: 4, snapshot: head, deltas: [] });
    // A worker past the gap still catches up from the deltas kept.
    expect((await state(id, '?have=2')).json()).toMatchObject({ mode: 'catch_up', version: 4, deltas: [{ version: 3 }, { version: 4 }] });
  });

  it("every mode's seq is that of the state event that made the version, not the session's last seq", async () => {
    const id = await session();
    const note = async () => expect((await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: {} }] })).statusCode).toBe(201);
    expect((await put(id, { base_version: 0, schema_version: 1, snapshot: { a: 1 } })).json()).toEqual({ version: 1, seq: 1 });
    await note();
    expect((await delta(id, { base_version: 1, merge_patch: { b: 2 } })).json()).toEqual({ version: 2, seq: 3 });
    await note();
    await note();
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).json()).toMatchObject({ version: 2, last_seq: 5 });
    expect((await state(id)).json()).toMatchObject({ mode: 'snapshot', version: 2, seq: 3 });
    expect((await state(id, '?have=1')).json()).toMatchObject({ mode: 'catch_up', version: 2, seq: 3 });
    expect((await state(id, '?have=2')).json()).toEqual({ mode: 'resume', version: 2, seq: 3 });
  });

  it('?at_version answers the state as of that version in snapshot mode: 0 is the empty state, never the head', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 1, snapshot: { a: 1 } });
    await delta(id, { base_version: 1, merge_patch: { b: 2 } });
    await delta(id, { base_version: 2, merge_patch: { c: 3 } });
    expect((await state(id, '?at_version=0')).json()).toEqual({ mode: 'new', version: 0, seq: 0 });
    expect((await state(id, '?at_version=2')).json()).toEqual({
      mode: 'snapshot',
      version: 2,
      seq: 2,
      schema_version: 1,
      snapshot_version: 2,
      snapshot: { a: 1, b: 2 },
      deltas: [],
    });
    // have is ignored: time travel always answers snapshot.
    expect((await state(id, '?at_version=3&have=3')).json()).toMatchObject({ mode: 'snapshot', version: 3, snapshot: { a: 1, b: 2, c: 3 } });
    expect(expectProblem(await state(id, '?at_version=4'), 409, 'version_ahead')).toMatchObject({ version: 3 });
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/compact`, { before_seq: 3 })).json()).toEqual({ history_start: 2 });
    expect(expectProblem(await state(id, '?at_version=1'), 410, 'version_expired')).toMatchObject({ history_start: 2 });
  });

  it('409 version_ahead when have is beyond the head', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 1, snapshot: {} });
    const problem = expectProblem(await state(id, '?have=5'), 409, 'version_ahead');
    expect(problem).toMatchObject({ have: 5, version: 1 });
    expect(problem.detail).toMatch(/^have=5 is ahead/);
  });

  it('409 schema_mismatch with stored_schema_version when schema_version differs', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 4, snapshot: {} });
    const problem = expectProblem(await state(id, '?have=1&schema_version=3'), 409, 'schema_mismatch');
    expect(problem.stored_schema_version).toBe(4);
    expect((await state(id, '?have=1&schema_version=4')).json()).toEqual({ mode: 'resume', version: 1, seq: 1 });
  });

  it('compares If-None-Match weakly, as a list, and honours *', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 1, snapshot: {} });
    const etag = String((await state(id)).headers.etag);
    for (const header of [`W/${etag}`, `"0", ${etag}`, '*']) {
      expect((await state(id, '', { 'if-none-match': header })).statusCode, header).toBe(304);
    }
    expect((await state(id, '', { 'if-none-match': `"0", W/"2${etag.slice(2)}` })).statusCode).toBe(200);
  });

  it('sends ETag "<version>-<incarnation>" and answers 304 to If-None-Match with it', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 1, snapshot: { a: 1 } });
    const first = await state(id);
    expect(first.headers.etag).toMatch(/^"1-[0-9a-f]{8}"$/);
    const etag = String(first.headers.etag);
    const cached = await state(id, '', { 'if-none-match': etag });
    expect(cached.statusCode).toBe(304);
    expect(cached.body).toBe('');
    expect(cached.headers['content-type']).toBeUndefined();
    expect(cached.headers.etag).toBe(etag);
    await delta(id, { base_version: 1, merge_patch: { a: 2 } });
    const changed = await state(id, '', { 'if-none-match': etag });
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).toBe(`"2-${etag.slice(3)}`);
  });

  // Issue 12, defect 9.
  it('a session deleted and created again never answers 304 to the old life\'s ETag', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 1, snapshot: { life: 1 } });
    const old = String((await state(id)).headers.etag);
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`)).statusCode).toBe(204);
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    await put(id, { base_version: 0, schema_version: 1, snapshot: { life: 2 } });
    const reborn = await state(id, '', { 'if-none-match': old });
    expect(reborn.statusCode).toBe(200);
    expect(reborn.json()).toMatchObject({ mode: 'snapshot', version: 1, snapshot: { life: 2 } });
    expect(reborn.headers.etag).not.toBe(old);
  });

  it('rejects malformed queries with 400 and unknown sessions with 404', async () => {
    const id = await session();
    expectProblem(await state(id, '?have=abc'), 400, 'invalid_request');
    expectProblem(await state(id, '?have=-1'), 400, 'invalid_request');
    expectProblem(await state(id, '?wanted=1'), 400, 'invalid_request');
    expectProblem(await state('nope'), 404, 'session_not_found');
  });
});

describe('binary state', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it('keeps the snapshot and the delta chain after it for a cold start', async () => {
    const id = await session('binary');
    expect((await put(id, { base_version: 0, schema_version: 1, snapshot_base64: b64('SQLITE-1') })).json()).toEqual({
      version: 1,
      seq: 1,
    });
    await delta(id, { base_version: 1, delta_base64: b64('changeset-a') });
    await delta(id, { base_version: 2, delta_base64: b64('changeset-b') });
    expect((await state(id)).json()).toEqual({
      mode: 'snapshot',
      version: 3,
      seq: 3,
      schema_version: 1,
      snapshot_version: 1,
      snapshot_base64: b64('SQLITE-1'),
      deltas: [
        { version: 2, delta_base64: b64('changeset-a') },
        { version: 3, delta_base64: b64('changeset-b') },
      ],
    });
    expect((await state(id, '?have=2')).json()).toEqual({
      mode: 'catch_up',
      version: 3,
      seq: 3,
      schema_version: 1,
      deltas: [{ version: 3, delta_base64: b64('changeset-b') }],
    });
  });

  it('a new snapshot (compaction) restarts the chain', async () => {
    const id = await session('binary');
    await put(id, { base_version: 0, schema_version: 1, snapshot_base64: b64('v1') });
    await delta(id, { base_version: 1, delta_base64: b64('d2') });
    await put(id, { base_version: 2, schema_version: 1, snapshot_base64: b64('v3') });
    await delta(id, { base_version: 3, delta_base64: b64('d4') });
    expect((await state(id)).json()).toMatchObject({
      snapshot_version: 3,
      snapshot_base64: b64('v3'),
      deltas: [{ version: 4, delta_base64: b64('d4') }],
    });
  });

  it('catches a binary worker up however far behind: STATE_CATCHUP_MAX_DELTAS bounds only json catch-up', async () => {
    const id = await session('binary');
    await put(id, { base_version: 0, schema_version: 1, snapshot_base64: b64('base') });
    // 51 deltas: one more than the limit this app runs with.
    for (let v = 1; v <= 51; v++) expect((await delta(id, { base_version: v, delta_base64: b64(`d${v + 1}`) })).statusCode).toBe(200);
    const answer = (await state(id, '?have=1')).json();
    expect(answer).toMatchObject({ mode: 'catch_up', version: 52, schema_version: 1 });
    expect(answer.snapshot_base64).toBeUndefined();
    expect(answer.deltas).toEqual(Array.from({ length: 51 }, (_, i) => ({ version: i + 2, delta_base64: b64(`d${i + 2}`) })));
  });

  it('refuses json bodies on binary sessions and invalid base64', async () => {
    const id = await session('binary');
    expectProblem(await put(id, { base_version: 0, schema_version: 1, snapshot: {} }), 409, 'encoding_mismatch');
    expectProblem(await put(id, { base_version: 0, schema_version: 1, snapshot_base64: 'not base64!' }), 400, 'invalid_request');
    await put(id, { base_version: 0, schema_version: 1, snapshot_base64: b64('x') });
    expectProblem(await delta(id, { base_version: 1, merge_patch: { a: 1 } }), 409, 'encoding_mismatch');
    expect((await state(id, '?have=1')).json()).toEqual({ mode: 'resume', version: 1, seq: 1 });
  });
});

describe('PUT /v1/sessions/{id}/state', () => {
  it('stores any JSON value, keeps or raises the schema, and never lowers it', async () => {
    const id = await session();
    expect((await put(id, { base_version: 0, schema_version: 2, snapshot: [1, 'two', null] })).json()).toEqual({
      version: 1,
      seq: 1,
    });
    const lower = expectProblem(await put(id, { base_version: 1, schema_version: 1, snapshot: {} }), 409, 'schema_mismatch');
    expect(lower.stored_schema_version).toBe(2);
    expect((await put(id, { base_version: 1, schema_version: 3, snapshot: { migrated: true } })).statusCode).toBe(200);
    const row = (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
    expect(row).toMatchObject({ schema_version: 3, version: 2, last_seq: 2 });
  });

  it('409 version_conflict on a stale base_version, nothing stored', async () => {
    const id = await session();
    await put(id, { base_version: 0, schema_version: 1, snapshot: { a: 1 } });
    const problem = expectProblem(await put(id, { base_version: 0, schema_version: 1, snapshot: { a: 2 } }), 409, 'version_conflict');
    expect(problem).toMatchObject({ expected_version: 0, actual_version: 1 });
    expect((await state(id)).json().snapshot).toEqual({ a: 1 });
  });

  it('requires snapshot for json sessions, and 404 for unknown sessions', async () => {
    const id = await session();
    const missing = expectProblem(await put(id, { base_version: 0, schema_version: 1 }), 400, 'invalid_request');
    expect(missing.errors).toEqual([{ in: 'body', field: '/snapshot', message: expect.stringContaining('required') }]);
    expectProblem(await put(id, { base_version: 0, schema_version: '1', snapshot: {} }), 400, 'invalid_request');
    expectProblem(await put('missing', { base_version: 0, schema_version: 1, snapshot: {} }), 404, 'session_not_found');
  });
});

describe('stored snapshots in an imported copy', () => {
  it('keep their created_at: the copy exports its snapshots as the original did', async () => {
    const id = await session();
    expect((await put(id, { base_version: 0, schema_version: 1, snapshot: { a: 1 } })).statusCode).toBe(200);
    // Stored an hour before the export, so a copy stamping its import time differs.
    await t.database.db`update state_snapshots set created_at = now() - interval '1 hour' where session_sid = (select sid from sessions where id = ${id})`;
    await importCopy(t, id);
    const original = await exportRecords(t, id, 'snapshot');
    expect(original).toHaveLength(1);
    expect(await exportRecords(t, `${id}-copy`, 'snapshot')).toEqual(original);
  });
});
