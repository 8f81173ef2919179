import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let raw: postgres.Sql;
const queries: string[] = [];

beforeAll(async () => {
  t = await createTestApp({
    env: { STATE_CHECKPOINT_DELTAS: '4', STATE_CHECKPOINT_BYTES: '65536', MAX_BODY_BYTES: '4194304' },
    logQuery: (query) => queries.push(query),
  });
  raw = postgres(t.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await raw.end();
  await t.close();
});

async function createWithState(id: string, snapshot: unknown): Promise<void> {
  expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
  expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot })).statusCode).toBe(200);
}

const readsState = (sql: string) => /from "?(state_snapshots|events)\b/.test(sql);

describe('json state storage', () => {
  it('a JSON Patch delta on a warm state reads neither the snapshot nor the chain, however large the state', async () => {
    const big = { rows: Array.from({ length: 5000 }, (_, i) => ({ i, text: 'x'.repeat(150) })), counter: 0 };
    await createWithState('big', big);
    queries.length = 0;
    for (let v = 1; v <= 3; v++) {
      const res = await call(t.app, 'POST', '/v1/sessions/big/deltas', {
        base_version: v,
        patch: [{ op: 'test', path: '/counter', value: v - 1 }, { op: 'replace', path: '/counter', value: v }],
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    expect(queries.filter(readsState)).toEqual([]);
  });

  it('a merge-patch delta on a cold cache reads the state once (its result must fit the state limits), then never again', async () => {
    const coldQueries: string[] = [];
    const other = await createTestApp({ databaseUrl: t.url, logQuery: (q) => coldQueries.push(q) });
    try {
      await createWithState('cold-merge', { a: 0 });
      const first = await call(other.app, 'POST', '/v1/sessions/cold-merge/deltas', { base_version: 1, merge_patch: { a: 1 } });
      expect(first.statusCode).toBe(200);
      expect(coldQueries.filter(readsState).length).toBeGreaterThan(0);
      coldQueries.length = 0;
      for (let v = 2; v <= 3; v++) {
        const res = await call(other.app, 'POST', '/v1/sessions/cold-merge/deltas', { base_version: v, merge_patch: { a: v } });
        expect(res.statusCode).toBe(200);
      }
      expect(coldQueries.filter(readsState)).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('writes a checkpoint every STATE_CHECKPOINT_DELTAS deltas; earlier bodies stay for ?at_version= until history is trimmed', async () => {
    await createWithState('ckpt', { n: 0 });
    for (let v = 1; v <= 9; v++) await call(t.app, 'POST', '/v1/sessions/ckpt/deltas', { base_version: v, merge_patch: { n: v } });
    const rows = await raw`
      select s.version, s.origin, s.body::text as body, x.base_version, x.chain_deltas
      from state_snapshots s join sessions x on x.sid = s.session_sid where x.id = 'ckpt' order by s.version`;
    // Bodies at versions 1 (put), 5 and 9 (checkpoints); the delta to version 10 is the whole chain after the newest.
    expect(rows.map((r) => [r.version, r.origin])).toEqual([
      ['1', 'put'],
      ['5', 'checkpoint'],
      ['9', 'checkpoint'],
    ]);
    expect(rows.at(-1)).toEqual({ version: '9', origin: 'checkpoint', body: '{"n":8}', base_version: '9', chain_deltas: 1 });
    expect((await call(t.app, 'GET', '/v1/sessions/ckpt/state')).json().snapshot).toEqual({ n: 9 });
  });

  it('writes a checkpoint when the chain passes STATE_CHECKPOINT_BYTES', async () => {
    await createWithState('ckpt-bytes', {});
    for (let v = 1; v <= 3; v++) {
      await call(t.app, 'POST', '/v1/sessions/ckpt-bytes/deltas', { base_version: v, merge_patch: { [`k${v}`]: 'y'.repeat(30_000) } });
    }
    const [row] = await raw`select base_version, chain_deltas, chain_bytes from sessions where id = 'ckpt-bytes'`;
    // 30 KB per delta against a 64 KiB threshold: the third delta checkpoints.
    expect(row).toEqual({ base_version: '4', chain_deltas: 0, chain_bytes: '0' });
  });
});

describe('wakeups', () => {
  it('a committed write sends one NOTIFY with the session id and seq; a refused write sends none', async () => {
    const received: string[] = [];
    const listener = await raw.listen(WAKEUP_CHANNEL, (payload) => received.push(payload));
    try {
      // The snapshot's own wakeup is published after its commit, maybe late on a loaded machine: it is
      // awaited here, so the count below is the later writes' alone.
      await createWithState('notified', { a: 0 });
      await expect.poll(() => received.map((p) => JSON.parse(p))).toContainEqual({ session_id: 'notified', seq: 1 });
      received.length = 0;
      await call(t.app, 'POST', '/v1/sessions/notified/deltas', { base_version: 1, merge_patch: { a: 1 } });
      await call(t.app, 'POST', '/v1/sessions/notified/deltas', { base_version: 1, merge_patch: { a: 2 } }); // conflict
      await call(t.app, 'POST', '/v1/sessions/notified/deltas', { base_version: 2, patch: [{ op: 'remove', path: '/x' }] }); // fails
      await expect.poll(() => received.length).toBe(1);
      // Give a stray notification time to show up before asserting there is none.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(received.map((p) => JSON.parse(p))).toEqual([{ session_id: 'notified', seq: 2 }]);
    } finally {
      await listener.unlisten();
    }
  });
});
