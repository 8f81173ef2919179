import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteExpiredSessions } from '../../src/history/expiry.js';
import { RetentionSweeper } from '../../src/history/trim.js';
import { StateCache } from '../../src/state/cache.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

// The history lifecycle stays cheap on a large database: the sweeps find due
// sessions on an index (never by scanning the sessions table), a trim removes
// a seq range on the events key, and ?at_version= finds its state event and
// checkpoint on indexes. We capture the exact SQL the server sends and ask
// Postgres for its plan, as test/db/messages-index.test.ts does.
let t: TestApp;
let raw: postgres.Sql;
const captured: { query: string; params: unknown[] }[] = [];
const SESSIONS = 100_000;
const EVENTS = 1_000_000;

beforeAll(async () => {
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000' } });
  raw = postgres(t.url, { max: 1, onnotice: () => {} });
  // Many sessions: a few due for trimming or expiry, the rest parked or never due.
  await raw`
    insert into sessions (id, metadata, encoding, updated_at, ttl_ms, expiry_check_at, trim_due_at, retention)
    select 'bulk-' || g, '{}', 'json',
           case when g % 1000 = 0 then now() - interval '2 hours' else now() end,
           case when g % 10 = 0 then 3600000 end,
           case when g % 10 = 0 then now() + interval '1 hour' - (g % 1000 = 0)::int * interval '2 hours' end,
           case when g % 2000 = 1 then now() - interval '1 minute' when g % 2 = 0 then 'infinity'::timestamptz end,
           case when g % 3 = 0 then '{"max_events": 100}'::jsonb end
    from generate_series(1, ${SESSIONS}) g`;
  // Each with a stored state, so the snapshots table is large too.
  await raw`insert into state_snapshots (session_sid, version, schema_version, origin, body) select sid, 1, 1, 'put', '{}' from sessions`;
  // One long json session: a snapshot at version 1, then a million events, every tenth a state delta.
  await call(t.app, 'POST', '/v1/sessions', { id: 'long', retention: { max_events: 1000 } });
  await call(t.app, 'PUT', '/v1/sessions/long/state', { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
  await raw`
    insert into events (session_sid, seq, type, data, version)
    select s.sid, g,
           case when g % 10 = 0 then 'state.delta' else 'note' end,
           case when g % 10 = 0 then json_build_object('merge_patch', json_build_object('n', g)) else json_build_object('i', g) end,
           case when g % 10 = 0 then 1 + g / 10 end
    from sessions s, generate_series(2, ${EVENTS}) g where s.id = 'long'`;
  await raw`
    insert into state_snapshots (session_sid, version, schema_version, origin, body)
    select sid, v, 1, 'checkpoint', json_build_object('n', (v - 1) * 10) from sessions, generate_series(1001, 100001, 1000) v where id = 'long'`;
  await raw`
    update sessions set last_seq = ${EVENTS}, version = ${1 + EVENTS / 10}, state_seq = ${EVENTS},
      base_version = 100001, chain_deltas = 0, trim_due_at = now() where id = 'long'`;
  await raw`analyze`;
  await t.close();
  t = await createTestApp({
    env: { HISTORY_SWEEP_MS: '86400000', HISTORY_TRIM_BATCH: '1000' },
    databaseUrl: t.url,
    logQuery: (query, params) => captured.push({ query, params }),
  });
}, 300_000);
afterAll(async () => {
  await raw.end();
  await t.close();
});

async function planOf(match: RegExp): Promise<string> {
  const query = captured.find((c) => match.test(c.query));
  expect(query, `no query matching ${match} was captured`).toBeDefined();
  // EXPLAIN without ANALYZE: a plan, nothing run (the delete stays undone).
  const rows = await raw.unsafe(`explain ${query!.query}`, query!.params as postgres.ParameterOrJSON<never>[]);
  return rows.map((r) => String(r['QUERY PLAN'])).join('\n');
}

describe(`the history lifecycle on ${SESSIONS} sessions and a ${EVENTS}-event session`, () => {
  it('the retention sweep finds due sessions on trim_due_at, and trims a seq range on the events key', async () => {
    captured.length = 0;
    const sweeper = new RetentionSweeper(t.database.db, { cache: new StateCache(0), batch: 1000 }, t.config.history);
    expect(await sweeper.sweep()).toBeGreaterThan(0);
    const search = await planOf(/from sessions where trim_due_at <= now\(\)/);
    expect(search).toContain('sessions_trim_due_idx');
    expect(search).not.toMatch(/Seq Scan/);
    const trim = await planOf(/delete from events where session_sid/);
    expect(trim).toMatch(/Index (Only )?Scan using events_pkey|Index Cond/);
    expect(trim).not.toMatch(/Seq Scan/);
    for (const step of [/select\s+\(select version from events/, /delete from state_snapshots/]) {
      expect(await planOf(step)).not.toMatch(/Seq Scan/);
    }
    const long = (await call(t.app, 'GET', '/v1/sessions/long')).json();
    expect(long.history_start).toBe(1000);
  });

  it('the expiry sweep finds due sessions on expiry_check_at', async () => {
    captured.length = 0;
    expect(await deleteExpiredSessions(t.database.db)).toBe(SESSIONS / 1000);
    const search = await planOf(/from sessions where expiry_check_at <= now\(\)/);
    expect(search).toContain('sessions_expiry_check_idx');
    expect(search).not.toMatch(/Seq Scan/);
  });

  it('?at_version= finds its state event and its checkpoint on indexes', async () => {
    captured.length = 0;
    const res = await call(t.app, 'GET', '/v1/sessions/long/state?at_version=50005');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ version: 50005, seq: 500040, snapshot: { n: 500040 } });
    const event = await planOf(/select seq from events\s+where session_sid = \$1 and version = \$2/);
    expect(event).toContain('events_state_version_idx');
    expect(event).not.toMatch(/Seq Scan/);
    const checkpoint = await planOf(/from "?state_snapshots"?\s/);
    expect(checkpoint).toContain('state_snapshots');
    expect(checkpoint).not.toMatch(/Seq Scan/);
    const deltas = await planOf(/from "?events"?\s+where/);
    expect(deltas).not.toMatch(/Seq Scan/);
  });
});
