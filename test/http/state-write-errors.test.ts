import { describe, expect, it } from 'vitest';
import { call, createSession, expectProblem, type TestApp, warmAndColdApps } from '../helpers/app.js';

// What a curl user reads when a state write is refused or a stored state
// cannot be rebuilt: the exact problem (status, code, detail, extensions),
// and nothing changed. The applier's own refusals are tabled in
// test/unit/json-patch-errors.test.ts; a few here show their detail reaching
// the problem document.
let t: TestApp;
let cold: TestApp;
let counter = 0;

// MAX_JSON_DEPTH 8: a state may nest 7 levels. MAX_BODY_BYTES 4096: a state may measure 4096 - 128 = 3968 bytes.
// Checkpoints far apart, so a stored chain stays snapshot + deltas.
const env = { MAX_JSON_DEPTH: '8', MAX_BODY_BYTES: '4096', MAX_EVENT_BYTES: '4096', STATE_CHECKPOINT_DELTAS: '1000' };

warmAndColdApps(env, (warm, coldApp) => {
  t = warm;
  cold = coldApp;
});

async function session(encoding: 'json' | 'binary', snapshot?: unknown): Promise<string> {
  const id = await createSession(t, `write-errors-${++counter}`, { encoding });
  if (snapshot !== undefined) {
    const body = encoding === 'json' ? { snapshot } : { snapshot_base64: snapshot };
    const put = await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, ...body });
    expect(put.statusCode, put.body).toBe(200);
  }
  return id;
}
const put = (id: string, body: Record<string, unknown>) => call(t.app, 'PUT', `/v1/sessions/${id}/state`, body);
const delta = (app: TestApp, id: string, body: Record<string, unknown>) => call(app.app, 'POST', `/v1/sessions/${id}/deltas`, body);
const version = async (id: string) => (await call(cold.app, 'GET', `/v1/sessions/${id}/state`)).json().version;

/** The problem without its standard members that do not vary (type, title, status, instance). */
function problemOf(response: Awaited<ReturnType<typeof call>>, status: number, code: string): Record<string, unknown> {
  const { type: _type, title: _title, status: _status, instance: _instance, code: _code, ...rest } = expectProblem(response, status, code);
  return rest;
}

describe('PUT /state refusals', () => {
  it('a json session refuses snapshot_base64 and a missing snapshot', async () => {
    const id = await session('json');
    expect(problemOf(await put(id, { base_version: 0, schema_version: 1, snapshot_base64: 'AAEC' }), 409, 'encoding_mismatch')).toEqual({
      detail: `session "${id}" holds json state: send "snapshot" (any JSON value), not "snapshot_base64"`,
      encoding: 'json',
    });
    expect(problemOf(await put(id, { base_version: 0, schema_version: 1 }), 400, 'invalid_request')).toEqual({
      detail: 'body field snapshot is required for a json session (any JSON value)',
      errors: [{ in: 'body', field: '/snapshot', message: 'is required for a json session (any JSON value)' }],
    });
    expect(await version(id)).toBe(0);
  });

  it('a snapshot of null, false, 0 or "" is a JSON value, not a missing snapshot', async () => {
    const id = await session('json');
    const values = [null, false, 0, '', { a: null }];
    for (const [index, snapshot] of values.entries()) {
      const res = await put(id, { base_version: index, schema_version: 1, snapshot });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ version: index + 1, seq: index + 1 });
      expect((await call(cold.app, 'GET', `/v1/sessions/${id}/state`)).json()).toEqual({
        mode: 'snapshot',
        version: index + 1,
        seq: index + 1,
        schema_version: 1,
        snapshot_version: index + 1,
        snapshot,
        deltas: [],
      });
    }
  });

  it('a binary session refuses snapshot and a missing snapshot_base64', async () => {
    const id = await session('binary');
    expect(problemOf(await put(id, { base_version: 0, schema_version: 1, snapshot: { a: 1 } }), 409, 'encoding_mismatch')).toEqual({
      detail: `session "${id}" holds binary state: send "snapshot_base64", not "snapshot"`,
      encoding: 'binary',
    });
    expect(problemOf(await put(id, { base_version: 0, schema_version: 1 }), 400, 'invalid_request')).toEqual({
      detail: 'body field snapshot_base64 is required for a binary session',
      errors: [{ in: 'body', field: '/snapshot_base64', message: 'is required for a binary session' }],
    });
    expect(await version(id)).toBe(0);
  });

  it('a snapshot may keep or raise schema_version, never lower it', async () => {
    const id = await session('json', { a: 1 });
    expect((await put(id, { base_version: 1, schema_version: 3, snapshot: { a: 2 } })).statusCode).toBe(200);
    expect(problemOf(await put(id, { base_version: 2, schema_version: 2, snapshot: { a: 3 } }), 409, 'schema_mismatch')).toEqual({
      detail: 'schema_version 2 is lower than the stored 3; a snapshot may keep or raise it',
      stored_schema_version: 3,
    });
    expect(await version(id)).toBe(2);
  });

  it('a snapshot may measure exactly MAX_BODY_BYTES less 128 bytes, counted in bytes of UTF-8', async () => {
    const id = await session('json');
    // "é" is 2 bytes: 1983 of them and the quotes measure 3968 bytes (1985 characters).
    const fits = 'é'.repeat(1983);
    expect((await put(id, { base_version: 0, schema_version: 1, snapshot: fits })).statusCode).toBe(200);
    expect(problemOf(await put(id, { base_version: 1, schema_version: 1, snapshot: `${fits}x` }), 413, 'payload_too_large')).toEqual({
      detail: 'the snapshot measures 3969 bytes; a json state may hold 3968 (MAX_BODY_BYTES less room for the PUT envelope)',
      limit_bytes: 3968,
      size: 3969,
    });
    expect(await version(id)).toBe(1);
  });
});

describe('POST /deltas refusals', () => {
  it('each encoding names its own delta fields', async () => {
    const json = await session('json', { a: 1 });
    expect(problemOf(await delta(t, json, { base_version: 1, delta_base64: 'AAEC' }), 409, 'encoding_mismatch')).toEqual({
      detail: `session "${json}" holds json state: send "patch" or "merge_patch", not "delta_base64"`,
      encoding: 'json',
    });
    const binary = await session('binary', 'AAEC');
    expect(problemOf(await delta(t, binary, { base_version: 1, patch: [] }), 409, 'encoding_mismatch')).toEqual({
      detail: `session "${binary}" holds binary state: send "delta_base64", not "patch"`,
      encoding: 'binary',
    });
    expect(problemOf(await delta(t, binary, { base_version: 1 }), 400, 'invalid_request')).toEqual({
      detail: 'send exactly one of "delta_base64"',
      errors: [{ in: 'body', field: '/delta_base64', message: 'is required (exactly one delta)' }],
    });
    expect([await version(json), await version(binary)]).toEqual([1, 1]);
  });

  it('a json delta is exactly one of patch and merge_patch', async () => {
    const id = await session('json', { a: 1 });
    expect(problemOf(await delta(t, id, { base_version: 1 }), 400, 'invalid_request')).toEqual({
      detail: 'send exactly one of "patch" or "merge_patch"',
      errors: [
        { in: 'body', field: '/patch', message: 'is required (exactly one delta)' },
        { in: 'body', field: '/merge_patch', message: 'is required (exactly one delta)' },
      ],
    });
    expect(problemOf(await delta(t, id, { base_version: 1, patch: [], merge_patch: {} }), 400, 'invalid_request')).toEqual({
      detail: 'send exactly one of "patch" or "merge_patch"',
      errors: [{ in: 'body', field: '/merge_patch', message: 'must not be sent together with /patch' }],
    });
    expect(await version(id)).toBe(1);
  });

  it('only a snapshot may change schema_version', async () => {
    const id = await session('json', { a: 1 });
    expect(problemOf(await delta(t, id, { base_version: 1, schema_version: 2, merge_patch: { a: 2 } }), 409, 'schema_mismatch')).toEqual({
      detail: 'schema_version 2 differs from the stored 1; only a snapshot may change it',
      stored_schema_version: 1,
    });
    expect((await delta(t, id, { base_version: 1, schema_version: 1, merge_patch: { a: 2 } })).statusCode).toBe(200);
  });

  it("the applier's detail and the failing op_index reach the problem", async () => {
    const id = await session('json', { list: [1] });
    const refused = [
      [
        [{ op: 'add', path: '/a', value: 1 }, { op: 'remove', path: '/list/-' }],
        1,
        'operation 1 does not apply: "/list/-": "-" is not an array index (digits without a leading zero)',
      ],
      [[{ op: 'move', path: '/b' }], 0, 'operation 0 does not apply: "move" needs a "from" member'],
      [[{ op: 'test', path: '/list' }], 0, 'operation 0 does not apply: "test" needs a "value" member'],
      [[{ op: 'remove', path: '' }], 0, 'operation 0 does not apply: the whole document cannot be removed (replace it instead)'],
    ] as const;
    for (const [patch, opIndex, detail] of refused) {
      expect(problemOf(await delta(t, id, { base_version: 1, patch }), 422, 'patch_failed')).toEqual({ detail, op_index: opIndex });
    }
    expect(await version(id)).toBe(1);
  });

  it('a member name counts in bytes of UTF-8 towards the size a state may hold, by merge patch and by JSON Patch', async () => {
    // {} measures 2; a member "é…é":"" adds its name (2 bytes a character, and the quotes), a colon,
    // a separator and the value's 2: with 1980 characters the state measures exactly 3968.
    const fits = 'é'.repeat(1980);
    const over = `${fits}é`;
    const id = await session('json', {});
    expect(problemOf(await delta(t, id, { base_version: 1, merge_patch: { [over]: '' } }), 422, 'patch_failed')).toEqual({
      detail: 'the patch does not apply: the state would measure 3970 bytes; a json state may hold 3968 (MAX_BODY_BYTES less room for the PUT envelope)',
    });
    expect(problemOf(await delta(t, id, { base_version: 1, patch: [{ op: 'add', path: `/${over}`, value: '' }] }), 422, 'patch_failed')).toEqual({
      detail: 'the patch does not apply: the state would measure 3970 bytes; a json state may hold 3968 (MAX_BODY_BYTES less room for the PUT envelope)',
    });
    expect(await version(id)).toBe(1);
    expect((await delta(t, id, { base_version: 1, merge_patch: { [fits]: '' } })).statusCode).toBe(200);
    // What a client reads it can PUT back.
    const read = (await call(cold.app, 'GET', `/v1/sessions/${id}/state`)).json();
    expect(read).toMatchObject({ version: 2, snapshot: { [fits]: '' } });
    expect((await put(id, { base_version: 2, schema_version: 1, snapshot: read.snapshot })).statusCode).toBe(200);
    const other = await session('json', {});
    expect((await delta(t, other, { base_version: 1, patch: [{ op: 'add', path: `/${fits}`, value: '' }] })).statusCode).toBe(200);
  });

  it('an instance that has not cached the state holds a delta to the same size limit', async () => {
    // {"s":"a…a"} with 3950 a's measures 3959 bytes; a member "t" adds 5 and its value.
    const id = await session('json', { s: 'a'.repeat(3950) });
    expect(problemOf(await delta(cold, id, { base_version: 1, merge_patch: { t: 'abc' } }), 422, 'patch_failed')).toEqual({
      detail: 'the patch does not apply: the state would measure 3969 bytes; a json state may hold 3968 (MAX_BODY_BYTES less room for the PUT envelope)',
    });
    expect((await delta(cold, id, { base_version: 1, merge_patch: { t: 'ab' } })).statusCode).toBe(200);
    expect(await version(id)).toBe(2);
  });

  it('a delta may nest the state exactly MAX_JSON_DEPTH less one levels', async () => {
    // Six levels of objects; f makes seven, and a container inside f would be eight.
    const id = await session('json', { a: { b: { c: { d: { e: {} } } } } });
    expect(problemOf(await delta(t, id, { base_version: 1, patch: [{ op: 'add', path: '/a/b/c/d/e/f', value: { g: [] } }] }), 422, 'patch_failed')).toEqual({
      detail:
        'operation 0 does not apply: the value at "/a/b/c/d/e/f" would nest the state deeper than 7 levels (MAX_JSON_DEPTH less one, so the state fits back into a PUT body)',
      op_index: 0,
    });
    expect((await delta(t, id, { base_version: 1, patch: [{ op: 'add', path: '/a/b/c/d/e/f', value: { g: 1 } }] })).statusCode).toBe(200);
    expect((await call(cold.app, 'GET', `/v1/sessions/${id}/state`)).json().snapshot).toEqual({ a: { b: { c: { d: { e: { f: { g: 1 } } } } } } });
  });
});

describe('a stored json state that cannot be rebuilt', () => {
  /** A session at version 3: snapshot 1, deltas 2 and 3, all applied by `t` (the cold instance has nothing cached). */
  async function chain(): Promise<string> {
    const id = await session('json', { n: 0 });
    expect((await delta(t, id, { base_version: 1, merge_patch: { m: 1 } })).statusCode).toBe(200);
    expect((await delta(t, id, { base_version: 2, patch: [{ op: 'remove', path: '/m' }] })).statusCode).toBe(200);
    return id;
  }
  const sid = (id: string) => t.database.db`(select sid from sessions where id = ${id})`;

  async function expectUnreadable(id: string, failedVersion: number, reason: string): Promise<void> {
    const detail = `the stored state of session "${id}" cannot be rebuilt at version 3: version ${failedVersion} ${reason}; PUT /v1/sessions/${id}/state with base_version 3 to replace it`;
    expect(problemOf(await call(cold.app, 'GET', `/v1/sessions/${id}/state`), 409, 'state_unreadable')).toEqual({ detail, version: 3, failed_version: failedVersion });
    // A write on an instance that must rebuild the state is refused the same way, and stores nothing.
    expect(problemOf(await delta(cold, id, { base_version: 3, merge_patch: { k: 1 } }), 409, 'state_unreadable')).toEqual({ detail, version: 3, failed_version: failedVersion });
    // A snapshot never reads the chain: it repairs the session.
    expect((await call(cold.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 3, schema_version: 1, snapshot: { n: 'repaired' } })).statusCode).toBe(200);
    expect((await call(cold.app, 'GET', `/v1/sessions/${id}/state`)).json()).toMatchObject({ version: 4, snapshot: { n: 'repaired' } });
  }

  it('with no stored snapshot at the base of the chain', async () => {
    const id = await chain();
    await t.database.db`delete from state_snapshots where session_sid = ${sid(id)}`;
    await expectUnreadable(id, 1, 'has no stored json snapshot');
  });

  it('with the snapshot at the base of the chain gone, never rebuilt from an older one', async () => {
    const id = await session('json', { n: 0 });
    expect((await put(id, { base_version: 1, schema_version: 1, snapshot: { n: 1 } })).statusCode).toBe(200);
    expect((await delta(t, id, { base_version: 2, merge_patch: { m: 1 } })).statusCode).toBe(200);
    await t.database.db`delete from state_snapshots where version = 2 and session_sid = ${sid(id)}`;
    await expectUnreadable(id, 2, 'has no stored json snapshot');
  });

  it('with a delta missing from the chain', async () => {
    const id = await chain();
    await t.database.db`delete from events where type = 'state.delta' and version = 2 and session_sid = ${sid(id)}`;
    await expectUnreadable(id, 1, 'is followed by an incomplete delta chain');
  });

  it('with a stored delta that no longer applies', async () => {
    const id = await chain();
    await t.database.db`update events set data = ${JSON.stringify({ patch: [{ op: 'remove', path: '/gone' }] })}::json
      where type = 'state.delta' and version = 2 and session_sid = ${sid(id)}`;
    await expectUnreadable(id, 2, 'does not apply (operation 0 does not apply: "/gone" does not exist)');
  });

  it('with a binary delta in a json chain', async () => {
    const id = await chain();
    await t.database.db`update events set data = ${JSON.stringify({ delta_base64: 'AAEC' })}::json
      where type = 'state.delta' and version = 3 and session_sid = ${sid(id)}`;
    await expectUnreadable(id, 3, 'cannot be read (binary deltas cannot be applied by the server)');
  });

  it('with a state nested deeper than a read rebuilds', async () => {
    const id = await chain();
    const deep = `${'['.repeat(1001)}${']'.repeat(1001)}`;
    await t.database.db`update state_snapshots set body = ${`{"n":${deep}}`}::json where version = 1 and session_sid = ${sid(id)}`;
    await expectUnreadable(id, 3, 'cannot be read (nesting too deep)');
  });
});
