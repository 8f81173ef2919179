import { describe, expect, it } from 'vitest';
import { call, createSession, expectProblem, type TestApp, warmAndColdApps } from '../helpers/app.js';

// No accepted write may leave a session unreadable: the patches from issue 11
// that did, and the guard every json write now passes.
let t: TestApp;
let cold: TestApp;
let counter = 0;

// MAX_JSON_DEPTH 8: a state may nest 7 levels. MAX_BODY_BYTES 4096: a state may measure 3968 bytes.
const env = { MAX_JSON_DEPTH: '8', MAX_BODY_BYTES: '4096', MAX_EVENT_BYTES: '4096', STATE_CHECKPOINT_DELTAS: '4' };

warmAndColdApps(env, (warm, coldApp) => {
  t = warm;
  cold = coldApp;
});

async function sessionWith(snapshot: unknown): Promise<string> {
  const id = await createSession(t, `guard-${++counter}`);
  expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot })).statusCode).toBe(200);
  return id;
}
const delta = (app: TestApp, id: string, body: unknown) => call(app.app, 'POST', `/v1/sessions/${id}/deltas`, body);
const state = async (app: TestApp, id: string) => {
  const response = await call(app.app, 'GET', `/v1/sessions/${id}/state`);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
};

/** Refused with 422 patch_failed (op_index when given), and nothing changed on either instance. */
async function expectRefused(id: string, patch: unknown[], before: unknown, opIndex?: number): Promise<any> {
  const { version } = await state(cold, id);
  const problem = expectProblem(await delta(t, id, { base_version: version, patch }), 422, 'patch_failed');
  if (opIndex !== undefined) expect(problem.op_index).toBe(opIndex);
  for (const app of [t, cold]) expect(await state(app, id)).toMatchObject({ version, snapshot: before });
  return problem;
}

describe('RFC 6902 / 6901 rules the old applier broke', () => {
  it('move into its own child is refused (it built a cycle: every later read answered 500)', async () => {
    const id = await sessionWith({ a: { b: 1 } });
    const problem = await expectRefused(id, [{ op: 'move', from: '/a', path: '/a/c' }], { a: { b: 1 } }, 0);
    expect(problem.detail).toContain('into its own child');
    // Moving to itself is allowed and changes nothing; moving to a sibling whose name starts the same is not "into".
    expect((await delta(t, id, { base_version: 1, patch: [{ op: 'move', from: '/a', path: '/a' }] })).statusCode).toBe(200);
    expect((await delta(t, id, { base_version: 2, patch: [{ op: 'move', from: '/a', path: '/ab' }] })).statusCode).toBe(200);
    expect((await state(cold, id)).snapshot).toEqual({ ab: { b: 1 } });
  });

  it("JavaScript's built-in members are not members of the document", async () => {
    const id = await sessionWith({ a: {}, list: [1] });
    const before = { a: {}, list: [1] };
    await expectRefused(id, [{ op: 'remove', path: '/a/constructor' }], before, 0);
    await expectRefused(id, [{ op: 'test', path: '/a/hasOwnProperty', value: null }], before, 0);
    await expectRefused(id, [{ op: 'copy', from: '/a/valueOf', path: '/b' }], before, 0);
    await expectRefused(id, [{ op: 'replace', path: '/list/length', value: 0 }], before, 0);
    await expectRefused(id, [{ op: 'add', path: '/a/toString/x', value: 0 }], before, 0);
    // A member of that name that the document does hold works as any other.
    expect((await delta(t, id, { base_version: 1, patch: [{ op: 'add', path: '/a/constructor', value: 'Alice' }] })).statusCode).toBe(200);
    expect((await state(cold, id)).snapshot).toEqual({ a: { constructor: 'Alice' }, list: [1] });
  });

  it('pointers outside the RFC 6901 grammar are refused', async () => {
    const before = { a: [10, 20], '~x': 1 };
    const id = await sessionWith(before);
    await expectRefused(id, [{ op: 'add', path: 'a', value: 1 }], before, 0);
    await expectRefused(id, [{ op: 'test', path: '/~x', value: 1 }], before, 0);
    await expectRefused(id, [{ op: 'test', path: '/a/01', value: 20 }], before, 0);
    await expectRefused(id, [{ op: 'test', path: '/a/+1', value: 20 }], before, 0);
    await expectRefused(id, [{ op: 'remove', path: '/a/-' }], before, 0);
    await expectRefused(id, [{ op: 'test', path: '/a/2', value: null }], before, 0);
    await expectRefused(id, [{ op: 'copy', from: 'a', path: '/b' }], before, 0);
    // The escapes themselves work.
    expect((await delta(t, id, { base_version: 1, patch: [{ op: 'test', path: '/~0x', value: 1 }] })).statusCode).toBe(200);
  });

  it('members an operation does not define are ignored, and kept in the stored delta', async () => {
    const id = await sessionWith({ n: 0 });
    const patch = [{ op: 'replace', path: '/n', value: 1, from: '/ignored', note: 'why' }, { op: 'remove', path: '/n', value: 5 }];
    expect((await delta(t, id, { base_version: 1, patch })).statusCode).toBe(200);
    expect((await state(cold, id)).snapshot).toEqual({});
    expect((await call(cold.app, 'GET', `/v1/sessions/${id}/state?have=1`)).json().deltas).toEqual([{ version: 2, patch }]);
  });

  it('an op missing a member it needs is 422 with its index, never a 500', async () => {
    const id = await sessionWith({ n: 0 });
    for (const op of [{ op: 'add', path: '/x' }, { op: 'replace', path: '/n' }, { op: 'test', path: '/n' }, { op: 'move', path: '/x' }, { op: 'copy', path: '/x' }]) {
      await expectRefused(id, [{ op: 'test', path: '/n', value: 0 }, op], { n: 0 }, 1);
    }
  });

  it('a failed patch leaves no trace of its earlier operations, on the instance that tried it too', async () => {
    const id = await sessionWith({ n: 0, list: [] });
    await expectRefused(id, [{ op: 'add', path: '/list/-', value: 1 }, { op: 'remove', path: '/n' }, { op: 'test', path: '/n', value: 0 }], { n: 0, list: [] }, 2);
    expect((await delta(t, id, { base_version: 1, patch: [{ op: 'test', path: '', value: { n: 0, list: [] } }] })).statusCode).toBe(200);
  });
});

describe('the result of every write stays within the state limits', () => {
  it('values added at ever deeper paths stop at MAX_JSON_DEPTH; the state stays readable and re-PUTable', async () => {
    const id = await sessionWith({});
    let path = '';
    let version = 1;
    let refused: any;
    for (let level = 1; level <= 10 && !refused; level += 1) {
      path += '/a';
      const response = await delta(t, id, { base_version: version, patch: [{ op: 'add', path, value: {} }] });
      if (response.statusCode === 200) version += 1;
      else refused = expectProblem(response, 422, 'patch_failed');
    }
    expect(refused.detail).toContain('MAX_JSON_DEPTH');
    expect(version).toBe(7); // seven levels: the root and six times "a"
    // Deeper by a move or a copy, or by a value that is deep itself: refused too.
    await expectRefused(id, [{ op: 'copy', from: '/a', path: '/a/a/b' }], (await state(t, id)).snapshot, 0);
    await expectRefused(id, [{ op: 'add', path: '/a/a/b', value: { c: { d: { e: { f: {} } } } } }], (await state(t, id)).snapshot, 0);
    const { snapshot } = await state(cold, id);
    // What a client reads back, it can always write back.
    expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: version, schema_version: 1, snapshot })).statusCode).toBe(200);
  });

  it('a merge patch past the size limit is refused as a whole (no op_index)', async () => {
    const id = await sessionWith({ text: 'x'.repeat(2000) });
    const problem = expectProblem(await delta(t, id, { base_version: 1, merge_patch: { more: 'y'.repeat(2000) } }), 422, 'patch_failed');
    expect(problem.detail).toMatch(/may hold 3968/);
    expect(problem.op_index).toBeUndefined();
    expect(await state(cold, id)).toMatchObject({ version: 1, snapshot: { text: 'x'.repeat(2000) } });
  });

  it('the state size is bounded on every write, so a read can always be written back', async () => {
    const id = await sessionWith({ items: [] });
    let version = 1;
    let refused: any;
    while (!refused && version < 20) {
      const response = await delta(t, id, { base_version: version, patch: [{ op: 'add', path: '/items/-', value: 'x'.repeat(500) }] });
      if (response.statusCode === 200) version += 1;
      else refused = expectProblem(response, 422, 'patch_failed');
    }
    expect(refused.detail).toMatch(/may hold 3968/);
    const { snapshot } = await state(cold, id);
    expect(Buffer.byteLength(JSON.stringify(snapshot))).toBeLessThanOrEqual(3968);
    // Removing makes room again: sizes go down as well as up.
    expect((await delta(t, id, { base_version: version, patch: [{ op: 'remove', path: '/items/0' }, { op: 'remove', path: '/items/0' }] })).statusCode).toBe(200);
    expect((await delta(t, id, { base_version: version + 1, merge_patch: { more: 'y'.repeat(600) } })).statusCode).toBe(200);
    const again = await state(cold, id);
    expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: again.version, schema_version: 1, snapshot: again.snapshot })).statusCode).toBe(200);
  });

  it('a snapshot that fits in a body but not in a state is 413, so it can always be PUT back', async () => {
    const id = await sessionWith({});
    const problem = expectProblem(
      await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 1, schema_version: 1, snapshot: 'x'.repeat(4000) }),
      413,
      'payload_too_large',
    );
    expect(problem).toMatchObject({ limit_bytes: 3968, size: 4002 });
    expect(await state(cold, id)).toMatchObject({ version: 1, snapshot: {} });
  });

  it('a patch cannot create a __proto__ member or a constructor.prototype chain', async () => {
    const id = await sessionWith({ c: {} });
    await expectRefused(id, [{ op: 'add', path: '/__proto__', value: { polluted: true } }], { c: {} }, 0);
    await expectRefused(id, [{ op: 'add', path: '/constructor', value: { prototype: {} } }], { c: {} }, 0);
    await expectRefused(id, [{ op: 'move', from: '/c', path: '/constructor/prototype' }], { c: {} }, 0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('numbers that JSON can write but a double cannot hold', () => {
  it('1e400 in a merge patch is refused at parse time (it used to be stored as null, which a merge patch reads as delete)', async () => {
    const id = await sessionWith({ n: 1 });
    const response = await t.app.inject({
      method: 'POST',
      url: `/v1/sessions/${id}/deltas`,
      headers: { 'content-type': 'application/json' },
      payload: '{"base_version":1,"merge_patch":{"n":1e400}}',
    });
    const problem = expectProblem(response, 400, 'invalid_request');
    expect(problem.errors).toEqual([{ in: 'body', field: '/merge_patch/n', message: expect.stringContaining('too large for a double') }]);
    expect(await state(cold, id)).toMatchObject({ version: 1, snapshot: { n: 1 } });
  });

  it('integers past 2^53 are refused naming the field; numbers written as doubles are kept as doubles', async () => {
    const id = await sessionWith({});
    const send = (payload: string) =>
      t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/deltas`, headers: { 'content-type': 'application/json' }, payload });
    const problem = expectProblem(await send('{"base_version":1,"patch":[{"op":"add","path":"/id","value":9007199254740993}]}'), 400, 'invalid_request');
    expect(problem.errors[0].field).toBe('/patch/0/value');
    expect(problem.detail).toContain('9007199254740993');
    expect((await send('{"base_version":1,"merge_patch":{"max":9007199254740991,"big":1e300,"avogadro":6.02214076e23}}')).statusCode).toBe(200);
    const stored = (await state(cold, id)).snapshot;
    expect(stored).toEqual({ max: 9007199254740991, big: 1e300, avogadro: 6.02214076e23 });
    const events = (await call(cold.app, 'GET', `/v1/sessions/${id}/events`)).json().events;
    expect(events.at(-1).data.merge_patch).toEqual(stored);
  });
});

describe('a stored chain that no longer rebuilds (data written by an older build)', () => {
  async function metric(): Promise<number> {
    const text = (await call(cold.app, 'GET', '/metrics')).body;
    return Number(/^session_sync_state_unreadable_total (\d+)/m.exec(text)?.[1] ?? 'NaN');
  }

  it('answers 409 state_unreadable naming the version, counts it, and a PUT snapshot repairs the session', async () => {
    const id = await sessionWith({ n: 0 });
    await delta(t, id, { base_version: 1, patch: [{ op: 'add', path: '/m', value: 1 }] });
    await delta(t, id, { base_version: 2, patch: [{ op: 'remove', path: '/m' }] });
    // What the old applier accepted and stored: a move of a member into its own child.
    await t.database.db`
      update events set data = ${JSON.stringify({ patch: [{ op: 'move', from: '/n', path: '/n/x' }] })}::json
      where type = 'state.delta' and version = 3
        and session_sid = (select sid from sessions where id = ${id})`;
    const before = await metric();
    const problem = expectProblem(await call(cold.app, 'GET', `/v1/sessions/${id}/state`), 409, 'state_unreadable');
    expect(problem).toMatchObject({ version: 3, failed_version: 3 });
    expect(problem.detail).toContain(`PUT /v1/sessions/${id}/state with base_version 3`);
    expectProblem(await delta(cold, id, { base_version: 3, patch: [{ op: 'add', path: '/k', value: 1 }] }), 409, 'state_unreadable');
    expect(await metric()).toBe(before + 2);
    // The writer that applied the deltas itself still holds them in its cache; the stored truth is what counts.
    expect((await call(cold.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 3, schema_version: 1, snapshot: { n: 'repaired' } })).statusCode).toBe(200);
    expect(await state(cold, id)).toMatchObject({ version: 4, snapshot: { n: 'repaired' } });
    expect((await delta(t, id, { base_version: 4, merge_patch: { ok: true } })).statusCode).toBe(200);
    expect((await state(cold, id)).snapshot).toEqual({ n: 'repaired', ok: true });
  });
});
