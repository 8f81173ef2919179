import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

// Listing by kind or role must stay an index walk on a long conversation. We
// capture the exact SQL the route sends and ask Postgres for its plan.
let t: TestApp;
let raw: postgres.Sql;
const captured: { query: string; params: unknown[] }[] = [];
const MESSAGES = 100_000;

beforeAll(async () => {
  t = await createTestApp({ logQuery: () => {} });
  raw = postgres(t.url, { max: 1, onnotice: () => {} });
  await call(t.app, 'POST', '/v1/sessions', { id: 'long' });
  await raw`
    insert into messages (session_sid, seq, id, role, kind, content)
    select s.sid, g, 'm-' || g,
           (array['user','assistant','tool','system'])[1 + g % 4],
           case when g % 1000 = 0 then 'summary' else 'message' end,
           json_build_object('n', g)
    from sessions s, generate_series(1, ${MESSAGES}) g where s.id = 'long'`;
  await raw`update sessions set message_seq = ${MESSAGES}, message_count = ${MESSAGES} where id = 'long'`;
  await raw`analyze messages`;
  // From here on, record what the list route sends.
  await t.close();
  t = await createTestApp({ databaseUrl: t.url, logQuery: (query, params) => captured.push({ query, params }) });
}, 120_000);
afterAll(async () => {
  await raw.end();
  await t.close();
});

async function planOf(query: string): Promise<string> {
  captured.length = 0;
  const res = await call(t.app, 'GET', `/v1/sessions/long/messages${query}`);
  expect(res.statusCode).toBe(200);
  const listing = captured.find((c) => /from "?messages"?\s/.test(c.query));
  expect(listing, 'the list query was not captured').toBeDefined();
  const rows = await raw.unsafe(`explain ${listing!.query}`, listing!.params as postgres.ParameterOrJSON<never>[]);
  return rows.map((r) => String(r['QUERY PLAN'])).join('\n');
}

describe('message listing on a 100k-message conversation', () => {
  it.each([
    ['?kind=summary', 'messages_kind_idx'],
    ['?kind=summary&order=desc', 'messages_kind_idx'],
    ['?role=tool&limit=50', 'messages_'],
    ['?limit=100', 'messages_session_sid_seq_pk'],
    ['?order=desc&limit=100', 'messages_session_sid_seq_pk'],
  ])('%s walks an index (%s), never scans the table', async (query, index) => {
    const plan = await planOf(query);
    expect(plan).toContain(index);
    expect(plan).not.toMatch(/Seq Scan/);
  });
});
