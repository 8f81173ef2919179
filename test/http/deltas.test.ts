import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

let t: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp({ env: { MAX_EVENT_BYTES: '4096', MAX_BODY_BYTES: '65536' } });
});
afterAll(() => t.close());

/** A json session holding `snapshot` at version 1. */
async function sessionWith(snapshot: unknown = { items: [], n: 0 }): Promise<string> {
  const id = await createSession(t, `delta-${++counter}`);
  expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot })).statusCode).toBe(200);
  return id;
}

const delta = (id: string, body: unknown, headers?: Record<string, string>) =>
  call(t.app, 'POST', `/v1/sessions/${id}/deltas`, body, headers);
const document = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}/state`)).json().snapshot;
const head = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
const eventCount = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events.length;

describe('POST /v1/sessions/{id}/deltas', () => {
  it('applies a JSON Patch and answers the new version and seq', async () => {
    const id = await sessionWith();
    const res = await delta(id, {
      base_version: 1,
      patch: [
        { op: 'add', path: '/items/-', value: { title: 'a' } },
        { op: 'replace', path: '/n', value: 1 },
        { op: 'copy', from: '/items/0', path: '/first' },
        { op: 'test', path: '/n', value: 1 },
      ],
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ version: 2, seq: 2 });
    expect(await document(id)).toEqual({ items: [{ title: 'a' }], n: 1, first: { title: 'a' } });
  });

  it('applies a merge patch (null removes a member)', async () => {
    const id = await sessionWith({ a: 1, b: { c: 2, d: 3 } });
    await delta(id, { base_version: 1, merge_patch: { a: null, b: { d: null, e: 4 } } });
    expect(await document(id)).toEqual({ b: { c: 2, e: 4 } });
  });

  it('a merge patch that is not an object (null included) replaces the whole document, as RFC 7396 says', async () => {
    const id = await sessionWith({ a: 1 });
    expect((await delta(id, { base_version: 1, merge_patch: null })).json()).toEqual({ version: 2, seq: 2 });
    expect(await document(id)).toBeNull();
    expect((await delta(id, { base_version: 2, merge_patch: { b: { c: null, d: 1 } } })).json()).toEqual({ version: 3, seq: 3 });
    expect(await document(id)).toEqual({ b: { d: 1 } });
    expect((await delta(id, { base_version: 3, merge_patch: [1, null] })).json()).toEqual({ version: 4, seq: 4 });
    expect(await document(id)).toEqual([1, null]);
    const events = (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events;
    expect(events.filter((e: { type: string }) => e.type === 'state.delta').map((e: { data: unknown }) => e.data)).toEqual([
      { merge_patch: null },
      { merge_patch: { b: { c: null, d: 1 } } },
      { merge_patch: [1, null] },
    ]);
    // A worker catching up from version 1 gets the null delta as posted.
    const caught = (await call(t.app, 'GET', `/v1/sessions/${id}/state?have=1`)).json();
    expect(caught).toMatchObject({ mode: 'catch_up', version: 4 });
    expect(caught.deltas[0]).toEqual({ version: 2, merge_patch: null });
  });

  it('appends a state.delta event holding the delta as posted, with its version', async () => {
    const id = await sessionWith();
    const posted = { patch: [{ op: 'add', path: '/n', value: 5 }] };
    await delta(id, { base_version: 1, ...posted });
    const events = (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events;
    expect(events.at(-1)).toMatchObject({ seq: 2, type: 'state.delta', version: 2, data: posted });
  });

  it('409 version_conflict with expected and actual versions; nothing stored', async () => {
    const id = await sessionWith();
    await delta(id, { base_version: 1, merge_patch: { n: 1 } });
    const problem = expectProblem(await delta(id, { base_version: 1, merge_patch: { n: 99 } }), 409, 'version_conflict');
    expect(problem).toMatchObject({ expected_version: 1, actual_version: 2 });
    expect(await document(id)).toEqual({ items: [], n: 1 });
    expect(await eventCount(id)).toBe(2);
  });

  it('422 patch_failed with op_index when an op does not apply, a failed test included; nothing stored', async () => {
    const id = await sessionWith({ n: 0 });
    const failedTest = expectProblem(
      await delta(id, {
        base_version: 1,
        patch: [
          { op: 'replace', path: '/n', value: 1 },
          { op: 'test', path: '/n', value: 7 },
        ],
      }),
      422,
      'patch_failed',
    );
    expect(failedTest.op_index).toBe(1);
    const missingPath = expectProblem(
      await delta(id, {
        base_version: 1,
        patch: [
          { op: 'add', path: '/ok', value: true },
          { op: 'add', path: '/ok2', value: true },
          { op: 'remove', path: '/nothing/here' },
        ],
      }),
      422,
      'patch_failed',
    );
    expect(missingPath.op_index).toBe(2);
    const noValue = expectProblem(await delta(id, { base_version: 1, patch: [{ op: 'add', path: '/x' }] }), 422, 'patch_failed');
    expect(noValue.op_index).toBe(0);
    // The half-applied first ops of the failed patches left no trace.
    expect(await document(id)).toEqual({ n: 0 });
    expect((await head(id)).version).toBe(1);
    expect(await eventCount(id)).toBe(1);
    // And the next valid delta applies to the true state.
    await delta(id, { base_version: 1, patch: [{ op: 'test', path: '/n', value: 0 }, { op: 'add', path: '/m', value: 1 }] });
    expect(await document(id)).toEqual({ n: 0, m: 1 });
  });

  it('refuses patches through __proto__ without touching any prototype', async () => {
    const id = await sessionWith({ n: 0 });
    const problem = expectProblem(
      await delta(id, { base_version: 1, patch: [{ op: 'add', path: '/__proto__/polluted', value: true }] }),
      422,
      'patch_failed',
    );
    expect(problem.op_index).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('409 no_state before the first snapshot', async () => {
    const id = `empty-${++counter}`;
    await call(t.app, 'POST', '/v1/sessions', { id });
    expectProblem(await delta(id, { base_version: 0, merge_patch: { a: 1 } }), 409, 'no_state');
  });

  it('400 for a body that is not exactly one delta, or malformed', async () => {
    const id = await sessionWith();
    const none = expectProblem(await delta(id, { base_version: 1 }), 400, 'invalid_request');
    expect(none.errors.map((e: { field: string }) => e.field)).toEqual(['/patch', '/merge_patch']);
    const both = expectProblem(await delta(id, { base_version: 1, merge_patch: {}, patch: [] }), 400, 'invalid_request');
    expect(both.errors.map((e: { field: string }) => e.field)).toEqual(['/merge_patch']);
    expectProblem(await delta(id, { base_version: '1', merge_patch: {} }), 400, 'invalid_request');
    const badOp = expectProblem(await delta(id, { base_version: 1, patch: [{ op: 'munge', path: '/a' }] }), 400, 'invalid_request');
    expect(badOp.detail).toContain('must be one of');
    const extra = expectProblem(await delta(id, { base_version: 1, merge_patch: {}, basis: 1 }), 400, 'invalid_request');
    expect(extra.errors[0].field).toBe('/basis');
    expectProblem(await delta(id, { base_version: 1, delta_base64: 'AAAA' }), 409, 'encoding_mismatch');
    expect((await head(id)).version).toBe(1);
  });

  it('413 payload_too_large for a delta over MAX_EVENT_BYTES, and for a body over MAX_BODY_BYTES; nothing stored', async () => {
    const id = await sessionWith();
    const tooBig = expectProblem(await delta(id, { base_version: 1, merge_patch: { blob: 'x'.repeat(5000) } }), 413, 'payload_too_large');
    expect(tooBig.limit_bytes).toBe(4096);
    expectProblem(await delta(id, { base_version: 1, merge_patch: { blob: 'x'.repeat(70_000) } }), 413, 'payload_too_large');
    expect((await head(id)).version).toBe(1);
    expect(await eventCount(id)).toBe(1);
  });

  it('404 for an unknown session', async () => {
    expectProblem(await delta('no-such-session', { base_version: 0, merge_patch: {} }), 404, 'session_not_found');
  });
});

describe('Idempotency-Key on deltas', () => {
  it('a retry of a committed delta replays the original answer, never a version_conflict', async () => {
    const id = await sessionWith();
    const body = { base_version: 1, merge_patch: { n: 1 } };
    const first = await delta(id, body, { 'idempotency-key': 'retry-1' });
    expect(first.statusCode).toBe(200);
    const retry = await delta(id, body, { 'idempotency-key': 'retry-1' });
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toEqual(first.json());
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect((await head(id)).version).toBe(2);
    expect(await eventCount(id)).toBe(2);
  });

  it('the same key with a different request is 422 idempotency_key_reused', async () => {
    const id = await sessionWith();
    await delta(id, { base_version: 1, merge_patch: { n: 1 } }, { 'idempotency-key': 'k' });
    expectProblem(await delta(id, { base_version: 2, merge_patch: { n: 2 } }, { 'idempotency-key': 'k' }), 422, 'idempotency_key_reused');
    expect((await head(id)).version).toBe(2);
  });

  it('a failed request stores nothing under its key, so a corrected retry goes through', async () => {
    const id = await sessionWith();
    expectProblem(await delta(id, { base_version: 1, patch: [{ op: 'remove', path: '/zz' }] }, { 'idempotency-key': 'f' }), 422, 'patch_failed');
    const corrected = await delta(id, { base_version: 1, merge_patch: { n: 1 } }, { 'idempotency-key': 'f' });
    expect(corrected.statusCode).toBe(200);
    expect(corrected.headers['idempotent-replayed']).toBeUndefined();
  });

  it('keys belong to one life of a session: after delete and re-create nothing is replayed', async () => {
    const id = await sessionWith({ life: 1 });
    const body = { base_version: 1, merge_patch: { n: 1 } };
    expect((await delta(id, body, { 'idempotency-key': 'old-life' })).statusCode).toBe(200);
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`)).statusCode).toBe(204);
    // The retry of a write to a deleted session is a 404, not a replay of a write that no longer exists.
    expectProblem(await delta(id, body, { 'idempotency-key': 'old-life' }), 404, 'session_not_found');
    await call(t.app, 'POST', '/v1/sessions', { id });
    await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { life: 2 } });
    const fresh = await delta(id, body, { 'idempotency-key': 'old-life' });
    expect(fresh.statusCode).toBe(200);
    expect(fresh.headers['idempotent-replayed']).toBeUndefined();
    expect(await document(id)).toEqual({ life: 2, n: 1 });
  });

  it('a retried DELETE replays its 204 even after the id was re-created, and deletes nothing more', async () => {
    const id = await sessionWith();
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`, undefined, { 'idempotency-key': 'del' })).statusCode).toBe(204);
    await call(t.app, 'POST', '/v1/sessions', { id });
    const retry = await call(t.app, 'DELETE', `/v1/sessions/${id}`, undefined, { 'idempotency-key': 'del' });
    expect(retry.statusCode).toBe(204);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).statusCode).toBe(200);
  });

  it('keys are per session', async () => {
    const a = await sessionWith();
    const b = await sessionWith();
    const body = { base_version: 1, merge_patch: { n: 1 } };
    expect((await delta(a, body, { 'idempotency-key': 'shared' })).headers['idempotent-replayed']).toBeUndefined();
    expect((await delta(b, body, { 'idempotency-key': 'shared' })).headers['idempotent-replayed']).toBeUndefined();
  });

  it('concurrent retries of one delta: one commit, every answer identical', async () => {
    const id = await sessionWith();
    const body = { base_version: 1, patch: [{ op: 'add', path: '/items/-', value: 'once' }] };
    const answers = await Promise.all(Array.from({ length: 8 }, () => delta(id, body, { 'idempotency-key': 'storm' })));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(8).fill(200));
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(7);
    expect(await document(id)).toEqual({ items: ['once'], n: 0 });
  });
});

describe('concurrent writers', () => {
  it('exactly one of many deltas against the same base wins', async () => {
    const id = await sessionWith();
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => delta(id, { base_version: 1, merge_patch: { winner: i } })),
    );
    expect(answers.filter((a) => a.statusCode === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.statusCode === 409 && a.json().code === 'version_conflict')).toHaveLength(11);
    expect((await head(id)).version).toBe(2);
  });

  it('writers that re-sync on conflict produce gapless versions and seqs, and every delta lands once', async () => {
    const id = await sessionWith({ items: [] });
    const writers = 6;
    const perWriter = 8;
    async function writer(w: number): Promise<void> {
      for (let i = 0; i < perWriter; i++) {
        for (;;) {
          const { version } = await head(id);
          const res = await delta(id, { base_version: version, patch: [{ op: 'add', path: '/items/-', value: `${w}:${i}` }] });
          if (res.statusCode === 200) break;
          expect(res.json().code).toBe('version_conflict');
        }
      }
    }
    await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
    const total = writers * perWriter;
    const doc = await document(id);
    expect(doc.items).toHaveLength(total);
    expect(new Set(doc.items).size).toBe(total);
    const events = (await call(t.app, 'GET', `/v1/sessions/${id}/events?limit=1000`)).json().events;
    expect(events.map((e: { seq: number }) => e.seq)).toEqual(Array.from({ length: total + 1 }, (_, i) => i + 1));
    expect(events.map((e: { version: number }) => e.version)).toEqual(Array.from({ length: total + 1 }, (_, i) => i + 1));
  });
});
