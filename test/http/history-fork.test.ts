import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../client/src/index.js';
import { mintToken } from '../../src/auth/tokens.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { STATE_CHECKPOINT_DELTAS: '3', HISTORY_SWEEP_MS: '86400000' } });
  await t.listen();
});
afterAll(() => t.close());

const get = async (path: string) => (await call(t.app, 'GET', path)).json();

/** A json session whose state at version v is {v, items: [1..v-1]}; a note event after each write. */
async function history(id: string, versions: number): Promise<void> {
  await call(t.app, 'POST', '/v1/sessions', { id, metadata: { name: id } });
  await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 2, snapshot: { v: 1, items: [] } });
  for (let v = 2; v <= versions; v++) {
    const patch = [{ op: 'replace', path: '/v', value: v }, { op: 'add', path: '/items/-', value: v - 1 }];
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: v - 1, patch })).statusCode).toBe(200);
    await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: v }] });
  }
}
const stateOf = (v: number) => ({ v, items: Array.from({ length: v - 1 }, (_, i) => i + 1) });

describe('?at_version= (time travel)', () => {
  it('answers every kept version, across checkpoints, with the seq of its state event', async () => {
    await history('tt', 10);
    const events = (await get('/v1/sessions/tt/events?limit=100')).events as { seq: number; version?: number }[];
    for (let v = 1; v <= 10; v++) {
      const answer = await get(`/v1/sessions/tt/state?at_version=${v}`);
      expect(answer, `version ${v}`).toEqual({
        mode: 'snapshot',
        version: v,
        seq: events.find((e) => e.version === v)?.seq,
        schema_version: 2,
        snapshot_version: v,
        snapshot: stateOf(v),
        deltas: [],
      });
    }
    expect(await get('/v1/sessions/tt/state?at_version=0')).toEqual({ mode: 'new', version: 0, seq: 0 });
    const ahead = expectProblem(await call(t.app, 'GET', '/v1/sessions/tt/state?at_version=11'), 409, 'version_ahead');
    // The problem names what the request sent: at_version, not the sync handshake's have.
    expect(ahead).toMatchObject({ at_version: 11, version: 10 });
    expect(ahead).not.toHaveProperty('have');
    expect(ahead.detail).toMatch(/^at_version=11 is ahead/);
  });

  it('is 410 version_expired once the version is trimmed; kept versions still answer', async () => {
    await history('tt-trim', 10);
    const { history_start: start } = (await call(t.app, 'POST', '/v1/sessions/tt-trim/compact', { before_seq: 8 })).json();
    expect(start).toBe(7);
    // Versions 1-4 had their state events at seq 1, 2, 4, 6: gone. Version 5 (seq 8) onwards are kept.
    for (const v of [1, 4]) {
      const problem = expectProblem(await call(t.app, 'GET', `/v1/sessions/tt-trim/state?at_version=${v}`), 410, 'version_expired');
      expect(problem).toMatchObject({ history_start: 7, version: v });
    }
    for (let v = 5; v <= 10; v++) expect((await get(`/v1/sessions/tt-trim/state?at_version=${v}`)).snapshot).toEqual(stateOf(v));
    // Snapshots nothing needs any more are gone; the one below version 5 stays.
    const kept = await t.database.db`
      select version from state_snapshots where session_sid = (select sid from sessions where id = 'tt-trim') order by version`;
    expect(kept.map((r) => Number(r.version))).toEqual([4, 7, 10]);
  });

  it('always answers the head, and forks it, even once its state event is trimmed', async () => {
    await history('tt-head', 3); // seq 1 snapshot (version 1), seq 2 delta (2), seq 3 note, seq 4 delta (3), seq 5 note
    await call(t.app, 'POST', '/v1/sessions/tt-head/events', { events: [{ type: 'note', data: 'a' }, { type: 'note', data: 'b' }] });
    // Past the head's state event (seq 4): no state event is kept.
    const { history_start: start } = (await call(t.app, 'POST', '/v1/sessions/tt-head/compact', { before_seq: 7 })).json();
    expect(start).toBe(6);
    expect((await get('/v1/sessions/tt-head/events?after=6')).events.map((e: { type: string }) => e.type)).toEqual(['note']);
    expectProblem(await call(t.app, 'GET', '/v1/sessions/tt-head/state?at_version=2'), 410, 'version_expired');
    const head = { mode: 'snapshot', version: 3, seq: 4, schema_version: 2, snapshot_version: 3, snapshot: stateOf(3), deltas: [] };
    expect(await get('/v1/sessions/tt-head/state')).toEqual(head);
    const at = await call(t.app, 'GET', '/v1/sessions/tt-head/state?at_version=3');
    expect(at.statusCode, at.body).toBe(200);
    expect(at.json()).toEqual(head);
    const fork = await call(t.app, 'POST', '/v1/sessions/tt-head/fork', { id: 'tt-head-fork', at_version: 3 });
    expect(fork.statusCode, fork.body).toBe(201);
    expect(fork.json()).toMatchObject({ id: 'tt-head-fork', parent_id: 'tt-head', forked_from: { session_id: 'tt-head', version: 3 }, version: 1 });
    expect((await get('/v1/sessions/tt-head-fork/state')).snapshot).toEqual(stateOf(3));
  });

  it('is 410 version_expired, never a wrong document, for a version whose delta chain lost a delta; the fork there too', async () => {
    await history('tt-lost', 7);
    // Checkpoints every 3 deltas: snapshots at versions 1, 4, 7. Versions 2 and 3 are rebuilt from version 1's.
    const { sid } = (await t.database.db`select sid from sessions where id = 'tt-lost'`)[0] as { sid: string };
    const events = (await get('/v1/sessions/tt-lost/events?limit=100')).events as { seq: number; version?: number }[];
    const deltaOf2 = events.find((e) => e.version === 2)!.seq;
    await t.database.db`delete from events where session_sid = ${sid} and seq = ${deltaOf2}`;
    // Version 3's state event is kept, but its state cannot be rebuilt: version 1 plus the delta of 3 alone is not it.
    const problem = expectProblem(await call(t.app, 'GET', '/v1/sessions/tt-lost/state?at_version=3'), 410, 'version_expired');
    expect(problem).toMatchObject({ version: 3 });
    expectProblem(await call(t.app, 'POST', '/v1/sessions/tt-lost/fork', { id: 'tt-lost-fork', at_version: 3 }), 410, 'version_expired');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/tt-lost-fork'), 404, 'session_not_found');
    // From the next checkpoint on, nothing lost is needed.
    for (let v = 4; v <= 7; v++) expect((await get(`/v1/sessions/tt-lost/state?at_version=${v}`)).snapshot).toEqual(stateOf(v));
  });

  it('for a binary session: the snapshot below the version plus the deltas up to it', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'tt-bin', encoding: 'binary' });
    await call(t.app, 'PUT', '/v1/sessions/tt-bin/state', { base_version: 0, schema_version: 1, snapshot_base64: 'AA==' });
    await call(t.app, 'POST', '/v1/sessions/tt-bin/deltas', { base_version: 1, delta_base64: 'AQ==' });
    await call(t.app, 'PUT', '/v1/sessions/tt-bin/state', { base_version: 2, schema_version: 1, snapshot_base64: 'Ag==' });
    expect(await get('/v1/sessions/tt-bin/state?at_version=2')).toEqual({
      mode: 'snapshot',
      version: 2,
      seq: 2,
      schema_version: 1,
      snapshot_version: 1,
      snapshot_base64: 'AA==',
      deltas: [{ version: 2, delta_base64: 'AQ==' }],
    });
  });
});

describe('POST .../fork', () => {
  it('creates a session with the state at the version, parent and forked_from, and a history of its own', async () => {
    await history('fork-src', 6);
    const client = createClient({ baseUrl: t.baseUrl });
    const fork = await client.forkSession('fork-src', { id: 'fork-a', at_version: 4, metadata: { title: 'branch' } });
    expect(fork).toMatchObject({
      id: 'fork-a',
      parent_id: 'fork-src',
      forked_from: { session_id: 'fork-src', version: 4 },
      metadata: { title: 'branch' },
      version: 1,
      last_seq: 2,
      schema_version: 2,
    });
    expect(await get('/v1/sessions/fork-a/state')).toMatchObject({ mode: 'snapshot', version: 1, seq: 2, snapshot: stateOf(4) });
    expect((await get('/v1/sessions/fork-a/events')).events.map((e: { type: string; data: unknown }) => [e.type, e.data])).toEqual([
      ['session.forked', { forked_from: { session_id: 'fork-src', version: 4 } }],
      ['state.snapshot', { schema_version: 2 }],
    ]);
    // The fork is writable on its own; the source is untouched.
    expect((await call(t.app, 'POST', '/v1/sessions/fork-a/deltas', { base_version: 1, merge_patch: { v: 'b' } })).statusCode).toBe(200);
    expect((await get('/v1/sessions/fork-src/state')).snapshot).toEqual(stateOf(6));
    // Default: the head.
    const head = await client.forkSession('fork-src', { id: 'fork-head' });
    expect(head.forked_from).toEqual({ session_id: 'fork-src', version: 6 });
    expect((await get('/v1/sessions/fork-head/state')).snapshot).toEqual(stateOf(6));
  });

  it('forks a binary session with its snapshot and the deltas after it', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'fork-bin', encoding: 'binary' });
    await call(t.app, 'PUT', '/v1/sessions/fork-bin/state', { base_version: 0, schema_version: 3, snapshot_base64: 'AA==' });
    await call(t.app, 'POST', '/v1/sessions/fork-bin/deltas', { base_version: 1, delta_base64: 'AQ==' });
    await call(t.app, 'POST', '/v1/sessions/fork-bin/deltas', { base_version: 2, delta_base64: 'Ag==' });
    const forked = await call(t.app, 'POST', '/v1/sessions/fork-bin/fork', { id: 'fork-bin-2', at_version: 2 });
    expect(forked.statusCode).toBe(201);
    expect(forked.headers.location).toBe('/v1/sessions/fork-bin-2');
    expect(await get('/v1/sessions/fork-bin-2/state')).toEqual({
      mode: 'snapshot',
      version: 2,
      seq: 3,
      schema_version: 3,
      snapshot_version: 1,
      snapshot_base64: 'AA==',
      deltas: [{ version: 2, delta_base64: 'AQ==' }],
    });
  });

  it('refuses a taken id, an unknown source, a version past the head or no longer kept, and creates nothing', async () => {
    await history('fork-bad', 6);
    expectProblem(await call(t.app, 'POST', '/v1/sessions/fork-bad/fork', { id: 'fork-bad' }), 409, 'session_exists');
    expectProblem(await call(t.app, 'POST', '/v1/sessions/nope/fork', { id: 'fork-x' }), 404, 'session_not_found');
    const ahead = expectProblem(await call(t.app, 'POST', '/v1/sessions/fork-bad/fork', { id: 'fork-x', at_version: 9 }), 409, 'version_ahead');
    expect(ahead).toMatchObject({ at_version: 9, version: 6 });
    expect(ahead).not.toHaveProperty('have');
    expect(ahead.detail).toMatch(/^at_version=9 is ahead/);
    await call(t.app, 'POST', '/v1/sessions/fork-bad/compact', { before_seq: 8 });
    expectProblem(await call(t.app, 'POST', '/v1/sessions/fork-bad/fork', { id: 'fork-x', at_version: 2 }), 410, 'version_expired');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/fork-x'), 404, 'session_not_found');
  });
});

describe('what a fork takes and who may make one', () => {
  it('keeps the source\'s retention policy', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'fork-kept', retention: { max_events: 10 } })).statusCode).toBe(201);
    const fork = await call(t.app, 'POST', '/v1/sessions/fork-kept/fork', { id: 'fork-kept-copy' });
    expect(fork.statusCode, fork.body).toBe(201);
    expect(fork.json().retention).toEqual({ max_events: 10 });
    expect((await get('/v1/sessions/fork-kept-copy')).retention).toEqual({ max_events: 10 });
  });

  it('a Durable Stream past its expiry reads as absent: forking it is 404 session_not_found and creates nothing', async () => {
    const put = await t.app.inject({
      method: 'PUT',
      url: '/v1/stream/fork-expired-src',
      headers: { 'content-type': 'application/json', 'stream-expires-at': '2001-01-01T00:00:00Z' },
      payload: '{"n":1}',
    });
    expect(put.statusCode, put.body).toBe(201);
    // Not swept yet (the sweep is a day away): every read by id finds it gone, and so does a fork.
    expectProblem(await call(t.app, 'POST', '/v1/sessions/fork-expired-src/fork', { id: 'fork-expired-copy' }), 404, 'session_not_found');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/fork-expired-copy'), 404, 'session_not_found');
  });

  it('holds the new session\'s metadata to MAX_METADATA_BYTES: at the limit 201, one byte over 413 and nothing created', async () => {
    await history('fork-meta-src', 2);
    const limit = t.config.limits.maxMetadataBytes;
    // {"n":"..."} is 8 bytes around its string.
    const sized = (bytes: number) => ({ n: 'x'.repeat(bytes - 8) });
    expect(Buffer.byteLength(JSON.stringify(sized(limit)))).toBe(limit);
    const over = await call(t.app, 'POST', '/v1/sessions/fork-meta-src/fork', { id: 'fork-meta-over', metadata: sized(limit + 1) });
    expectProblem(over, 413, 'payload_too_large');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/fork-meta-over'), 404, 'session_not_found');
    const at = await call(t.app, 'POST', '/v1/sessions/fork-meta-src/fork', { id: 'fork-meta-at', metadata: sized(limit) });
    expect(at.statusCode, at.body).toBe(201);
    expect(at.json().metadata).toEqual(sized(limit));
  });

  it('needs write on the new id (admin when the server picks it): a token may not fork into an id outside its grant', async () => {
    const SECRET = 'history-fork-test-secret-of-32-bytes-or-more';
    const authed = await createTestApp({ env: { AUTH_SECRET: SECRET, HISTORY_SWEEP_MS: '86400000' } });
    try {
      const bearer = async (grants: { sessions: string[]; read?: boolean; write?: boolean; admin?: boolean }) => ({
        authorization: `Bearer ${await mintToken(SECRET, { ...grants, ttlSeconds: 600 })}`,
      });
      const admin = await bearer({ sessions: ['*'], admin: true });
      expect((await call(authed.app, 'POST', '/v1/sessions', { id: 'a-src' }, admin)).statusCode).toBe(201);
      const teamA = await bearer({ sessions: ['a-*'], read: true, write: true });
      const outside = await call(authed.app, 'POST', '/v1/sessions/a-src/fork', { id: 'b-1' }, teamA);
      expectProblem(outside, 403, 'forbidden');
      expect((await call(authed.app, 'GET', '/v1/sessions/b-1', undefined, admin)).statusCode).toBe(404);
      expectProblem(await call(authed.app, 'POST', '/v1/sessions/a-src/fork', {}, teamA), 403, 'forbidden');
      expect((await call(authed.app, 'POST', '/v1/sessions/a-src/fork', { id: 'a-fork' }, teamA)).statusCode).toBe(201);
      // Read on the source is needed too.
      const teamB = await bearer({ sessions: ['b-*'], read: true, write: true });
      expect((await call(authed.app, 'POST', '/v1/sessions/a-src/fork', { id: 'b-2' }, teamB)).statusCode).toBe(403);
      expect((await call(authed.app, 'POST', '/v1/sessions/a-src/fork', {}, admin)).statusCode).toBe(201);
    } finally {
      await authed.close();
    }
  });
});
