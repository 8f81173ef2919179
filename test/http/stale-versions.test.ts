import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

let t: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000' } });
});
afterAll(() => t.close());

const ok = async (method: 'POST' | 'PUT', path: string, body: unknown) => {
  const response = await call(t.app, method, path, body);
  expect(response.statusCode, `${method} ${path}: ${response.body}`).toBeLessThan(300);
  return response.json();
};

/** A session at state version 2 and conversation version 2, with two messages (seq 1, 2) and its events. */
async function sessionAtTwo(): Promise<string> {
  const id = `stale-${++counter}`;
  await ok('POST', '/v1/sessions', { id });
  await ok('PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 1 } });
  await ok('POST', `/v1/sessions/${id}/deltas`, { base_version: 1, merge_patch: { n: 2 } });
  await ok('POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'first' }] });
  await ok('POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'assistant', content: 'second' }] });
  return id;
}

/** What any refused write could have moved. */
async function footprint(id: string) {
  const session = (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
  const meta = (await call(t.app, 'GET', `/v1/sessions/${id}/messages/meta`)).json();
  const messages = (await call(t.app, 'GET', `/v1/sessions/${id}/messages?include_archived=true`)).json().messages;
  const state = (await call(t.app, 'GET', `/v1/sessions/${id}/state`)).json();
  return { version: session.version, last_seq: session.last_seq, turns: session.usage.turns, meta, messages, state };
}

interface VersionedRoute {
  name: string;
  method: 'POST' | 'PUT';
  path: (id: string) => string;
  /** The body naming `version` as the one the caller believes current. */
  body: (version: number) => unknown;
  /** The version the session is at (sessionAtTwo: 2 for state and conversation, 4 for the seq). */
  current: number;
  /** The members of the 409 beside its code. */
  conflict: (stale: number) => Record<string, unknown>;
  /** A problem's `part`, for a turn. */
  part?: string;
  /** The problem's code when it is not version_conflict. */
  code?: string;
}

// Every route of docs/API.md that takes an expected or base version.
const routes: VersionedRoute[] = [
  {
    name: 'PUT state base_version',
    method: 'PUT',
    path: (id) => `/v1/sessions/${id}/state`,
    body: (v) => ({ base_version: v, schema_version: 1, snapshot: { n: 'new' } }),
    current: 2,
    conflict: (stale) => ({ expected_version: stale, actual_version: 2 }),
  },
  {
    name: 'POST deltas base_version',
    method: 'POST',
    path: (id) => `/v1/sessions/${id}/deltas`,
    body: (v) => ({ base_version: v, merge_patch: { n: 'new' } }),
    current: 2,
    conflict: (stale) => ({ expected_version: stale, actual_version: 2 }),
  },
  {
    name: 'POST events expected_seq',
    method: 'POST',
    path: (id) => `/v1/sessions/${id}/events`,
    body: (v) => ({ expected_seq: v, events: [{ type: 'note', data: 'new' }] }),
    current: 4,
    conflict: (stale) => ({ expected_seq: stale, actual_seq: 4 }),
    code: 'seq_conflict',
  },
  {
    name: 'POST messages expected_version',
    method: 'POST',
    path: (id) => `/v1/sessions/${id}/messages`,
    body: (v) => ({ expected_version: v, messages: [{ role: 'user', content: 'new' }] }),
    current: 2,
    conflict: (stale) => ({ expected_version: stale, actual_version: 2 }),
  },
  {
    name: 'PUT messages/kinds expected_version',
    method: 'PUT',
    path: (id) => `/v1/sessions/${id}/messages/kinds/message`,
    body: (v) => ({ expected_version: v, role: 'system', content: 'new' }),
    current: 2,
    conflict: (stale) => ({ expected_version: stale, actual_version: 2 }),
  },
  {
    name: 'POST messages/trim expected_version',
    method: 'POST',
    path: (id) => `/v1/sessions/${id}/messages/trim`,
    body: (v) => ({ expected_version: v, before_seq: 3 }),
    current: 2,
    conflict: (stale) => ({ expected_version: stale, actual_version: 2 }),
  },
  {
    name: 'POST turns base_version (asserting the head only)',
    method: 'POST',
    path: (id) => `/v1/sessions/${id}/turns`,
    body: (v) => ({ turn_id: `assert-${v}`, base_version: v, events: [{ type: 'note', data: 'new' }] }),
    current: 2,
    conflict: (stale) => ({ expected_version: stale, actual_version: 2 }),
    part: 'state',
  },
  {
    name: 'POST turns base_version with state',
    method: 'POST',
    path: (id) => `/v1/sessions/${id}/turns`,
    body: (v) => ({ turn_id: `state-${v}`, base_version: v, state: { merge_patch: { n: 'new' } }, messages: [{ role: 'user', content: 'new' }] }),
    current: 2,
    conflict: (stale) => ({ expected_version: stale, actual_version: 2 }),
    part: 'state',
  },
];

describe('a stale version is refused on every route that takes one, and changes nothing', () => {
  for (const route of routes) {
    it(`${route.name}: behind and ahead are 409; the current one is taken`, async () => {
      const id = await sessionAtTwo();
      const before = await footprint(id);
      for (const stale of [route.current - 1, 0, route.current + 1]) {
        const problem = expectProblem(await call(t.app, route.method, route.path(id), route.body(stale)), 409, route.code ?? 'version_conflict');
        expect(problem, `${route.name} at ${stale}`).toMatchObject(route.conflict(stale));
        if (route.part) expect(problem.part).toBe(route.part);
        expect(await footprint(id), `${route.name} at ${stale}`).toEqual(before);
      }
      const taken = await call(t.app, route.method, route.path(id), route.body(route.current));
      expect(taken.statusCode, taken.body).toBeLessThan(300);
      expect(await footprint(id)).not.toEqual(before);
    });
  }

  it('trim with a stale expected_version archives nothing, even messages it would archive', async () => {
    const id = await sessionAtTwo();
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/messages/trim`, { expected_version: 1, before_seq: 100 }), 409, 'version_conflict');
    const meta = (await call(t.app, 'GET', `/v1/sessions/${id}/messages/meta`)).json();
    expect(meta).toEqual({ version: 2, last_seq: 2, message_count: 2, archived_count: 0 });
    expect(await ok('POST', `/v1/sessions/${id}/messages/trim`, { expected_version: 2, before_seq: 100 })).toEqual({ trimmed: 2, version: 3 });
  });
});

describe('fork at the edges of the kept versions', () => {
  it('at_version 0 forks the empty session: no state, not the head', async () => {
    const id = await sessionAtTwo();
    const fork = await ok('POST', `/v1/sessions/${id}/fork`, { id: `${id}-zero`, at_version: 0 });
    expect(fork).toMatchObject({ id: `${id}-zero`, parent_id: id, forked_from: { session_id: id, version: 0 }, version: 0 });
    expect((await call(t.app, 'GET', `/v1/sessions/${id}-zero/state`)).json()).toEqual({ mode: 'new', version: 0, seq: 0 });
    // Its first write starts from nothing, as on a new session.
    await ok('PUT', `/v1/sessions/${id}-zero/state`, { base_version: 0, schema_version: 1, snapshot: { fresh: true } });
    expect((await call(t.app, 'GET', `/v1/sessions/${id}-zero/state`)).json()).toMatchObject({ version: 1, snapshot: { fresh: true } });
  });

  it('at the head exactly forks the head; one past it is version_ahead and creates nothing', async () => {
    const id = await sessionAtTwo();
    await ok('POST', `/v1/sessions/${id}/fork`, { id: `${id}-head`, at_version: 2 });
    expect((await call(t.app, 'GET', `/v1/sessions/${id}-head/state`)).json()).toMatchObject({ snapshot: { n: 2 } });
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/fork`, { id: `${id}-past`, at_version: 3 }), 409, 'version_ahead');
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}-past`), 404, 'session_not_found');
  });
});
