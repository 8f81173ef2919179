import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetentionSweeper, trimSession } from '../../src/history/trim.js';
import { StateCache } from '../../src/state/cache.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { exportFile, exportLines } from '../helpers/export-file.js';
import { SseClient } from '../helpers/sse.js';

let t: TestApp;
let counter = 0;

beforeAll(async () => {
  // Checkpoints every 4 deltas, trimming 3 events per batch, no background sweep during the tests.
  t = await createTestApp({
    env: { STATE_CHECKPOINT_DELTAS: '4', HISTORY_TRIM_BATCH: '3', HISTORY_SWEEP_MS: '86400000' },
  });
  await t.listen();
});
afterAll(() => t.close());

async function session(body: Record<string, unknown> = {}): Promise<string> {
  const id = `ret-${++counter}`;
  const res = await call(t.app, 'POST', '/v1/sessions', { id, ...body });
  expect(res.statusCode, res.body).toBe(201);
  return id;
}

const get = async (path: string) => (await call(t.app, 'GET', path)).json();
const compact = (id: string, body: unknown = {}) => call(t.app, 'POST', `/v1/sessions/${id}/compact`, body);
const notes = (id: string, n: number) =>
  call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: Array.from({ length: n }, (_, i) => ({ type: 'note', data: { i } })) });
const deltaN = (id: string, base: number) =>
  call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: base, merge_patch: { [`k${base}`]: base } });

/** A json session: snapshot {start: true}, then deltas k1..k{n}, one note event after each. */
async function jsonHistory(id: string, n: number): Promise<Record<string, unknown>> {
  await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { start: true } });
  const expected: Record<string, unknown> = { start: true };
  for (let v = 1; v <= n; v++) {
    expect((await deltaN(id, v)).statusCode).toBe(200);
    expected[`k${v}`] = v;
    await notes(id, 1);
  }
  return expected;
}

describe('retention policy on the session', () => {
  it('starts with history_start 0 and retention null; create and PATCH set it; bad policies are 400', async () => {
    const plain = await get(`/v1/sessions/${await session()}`);
    expect(plain).toMatchObject({ history_start: 0, retention: null });
    const id = await session({ retention: { max_events: 10 } });
    expect((await get(`/v1/sessions/${id}`)).retention).toEqual({ max_events: 10 });
    const patched = await call(t.app, 'PATCH', `/v1/sessions/${id}`, { retention: { max_age_ms: 60000 } });
    expect(patched.json()).toMatchObject({ retention: { max_age_ms: 60000 }, metadata: {} });
    // The change is in the history too, for dashboards.
    expect((await get(`/v1/sessions/${id}/events`)).events.at(-1)).toMatchObject({
      type: 'session.updated',
      data: { metadata: {}, retention: { max_age_ms: 60000 } },
    });
    // A PATCH that leaves retention out keeps the policy.
    expect((await call(t.app, 'PATCH', `/v1/sessions/${id}`, { metadata: { name: 'renamed' } })).json().retention).toEqual({ max_age_ms: 60000 });
    expect((await get(`/v1/sessions/${id}`)).retention).toEqual({ max_age_ms: 60000 });
    expectProblem(await call(t.app, 'PATCH', `/v1/sessions/${id}`, { retention: { max_events: -1 } }), 400, 'invalid_request');
    expectProblem(await call(t.app, 'PATCH', `/v1/sessions/${id}`, { retention: { keep: 1 } }), 400, 'invalid_request');
    expectProblem(await call(t.app, 'POST', '/v1/sessions', { retention: { max_age_ms: 0 } }), 400, 'invalid_request');
  });
});

describe('POST .../compact and what readers see after it', () => {
  it('trims below before_seq; the state is unchanged; events and streams below history_start are 410 with the recovery point', async () => {
    const id = await session();
    const expected = await jsonHistory(id, 6); // seq 1 snapshot, then delta/note pairs: head seq 13, version 7
    const res = await compact(id, { before_seq: 6 });
    expect(res.json()).toEqual({ history_start: 5 });
    expect(await get(`/v1/sessions/${id}`)).toMatchObject({ history_start: 5, last_seq: 13, version: 7 });

    const state = await get(`/v1/sessions/${id}/state`);
    expect(state).toMatchObject({ mode: 'snapshot', version: 7, seq: 12, snapshot: expected });
    // A worker two versions behind still catches up from kept deltas; one whose deltas are gone gets a snapshot.
    expect((await get(`/v1/sessions/${id}/state?have=5`)).mode).toBe('catch_up');
    expect(await get(`/v1/sessions/${id}/state?have=1`)).toMatchObject({ mode: 'snapshot', snapshot: expected });

    const kept = await get(`/v1/sessions/${id}/events?after=5`);
    expect(kept.events.map((e: { seq: number }) => e.seq)).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
    for (const after of [0, 4]) {
      const problem = expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/events?after=${after}`), 410, 'cursor_expired');
      expect(problem.history_start).toBe(5);
    }
    const byQuery = await fetch(`${t.baseUrl}/v1/sessions/${id}/stream?after=2`, { headers: { accept: 'text/event-stream' } });
    expect(byQuery.status).toBe(410);
    expect(await byQuery.json()).toMatchObject({ code: 'cursor_expired', history_start: 5 });
    const byHeader = await fetch(`${t.baseUrl}/v1/sessions/${id}/stream`, {
      headers: { accept: 'text/event-stream', 'last-event-id': '4' },
    });
    expect(byHeader.status).toBe(410);
    expect(await byHeader.json()).toMatchObject({ code: 'cursor_expired', history_start: 5 });

    // At history_start the stream is complete.
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream?after=5&live=false`);
    await stream.waitFor(() => stream.ended, 'the replay to end');
    expect(stream.durable.map((m) => Number(m.id))).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
  });

  it('writes a checkpoint when the trim reaches into the json delta chain, so the state and later deltas still work', async () => {
    const id = await session();
    const expected = await jsonHistory(id, 6);
    expect((await compact(id, { before_seq: 14 })).json()).toEqual({ history_start: 13 });
    expect((await get(`/v1/sessions/${id}/events?after=13`)).events).toEqual([]);
    expect(await get(`/v1/sessions/${id}/state`)).toMatchObject({ version: 7, seq: 12, snapshot: expected });
    expect((await deltaN(id, 7)).json()).toEqual({ version: 8, seq: 14 });
    expect(await get(`/v1/sessions/${id}/state`)).toMatchObject({ version: 8, snapshot: { ...expected, k7: 7 } });
    expect((await get(`/v1/sessions/${id}/state?have=7`)).deltas).toEqual([{ version: 8, merge_patch: { k7: 7 } }]);
  });

  it('refuses to trim past a lost delta rather than checkpoint a wrong state: 409 state_unreadable, what was trimmed before it stays trimmed', async () => {
    const id = await session();
    await jsonHistory(id, 4); // seq 1 snapshot (version 1), then delta/note pairs: the delta of version 3 is seq 4
    const { sid } = (await t.database.db`select sid from sessions where id = ${id}`)[0] as { sid: string };
    await t.database.db`delete from events where session_sid = ${sid} and seq = 4`;
    // The first batch (to seq 3) rebuilds version 2; the second would need version 4 without the delta of version 3.
    const problem = expectProblem(await compact(id, { before_seq: 7 }), 409, 'state_unreadable');
    expect(problem).toMatchObject({ version: 4, failed_version: 2 });
    expect((await get(`/v1/sessions/${id}`)).history_start).toBe(3);
    expect((await get(`/v1/sessions/${id}/events?after=3`)).events.map((e: { seq: number }) => e.seq)).toEqual([5, 6, 7, 8, 9]);
    // Broken on purpose: gone, so that the sweeps of later tests do not meet it.
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`)).statusCode).toBe(204);
  });

  it('trims a binary session no further than its last snapshot: its deltas cannot be rebuilt by the server', async () => {
    const id = await session({ encoding: 'binary' });
    await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot_base64: 'AA==' });
    await notes(id, 2);
    await call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, delta_base64: 'AQ==' }); // seq 4
    await call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 2, delta_base64: 'Ag==' }); // seq 5
    expect((await compact(id, { before_seq: 6 })).json()).toEqual({ history_start: 3 });
    expect(await get(`/v1/sessions/${id}/state`)).toMatchObject({
      snapshot_version: 1,
      snapshot_base64: 'AA==',
      deltas: [
        { version: 2, delta_base64: 'AQ==' },
        { version: 3, delta_base64: 'Ag==' },
      ],
    });
    // A new snapshot from the worker lets the trim go on.
    await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 3, schema_version: 1, snapshot_base64: 'Aw==' });
    expect((await compact(id, { before_seq: 7 })).json()).toEqual({ history_start: 6 });
    expect(await get(`/v1/sessions/${id}/state`)).toMatchObject({ version: 4, seq: 6, snapshot_base64: 'Aw==', deltas: [] });
  });

  it('without before_seq trims by the policy; an unknown session is 404', async () => {
    const id = await session({ retention: { max_events: 4 } });
    await notes(id, 10);
    expect((await compact(id)).json()).toEqual({ history_start: 6 });
    expectProblem(await compact('ret-missing'), 404, 'session_not_found');
  });
});

describe('background trimming', () => {
  const deps = () => ({ cache: new StateCache(0), batch: 3 });

  it('applies the server default, a session policy over it, and {} to keep everything, in bounded batches', async () => {
    const app = await createTestApp({ databaseUrl: t.url, env: { HISTORY_MAX_EVENTS: '2', HISTORY_SWEEP_MS: '86400000' } });
    try {
      const byDefault = await session();
      const own = await session({ retention: { max_events: 5 } });
      const keepAll = await session({ retention: {} });
      for (const id of [byDefault, own, keepAll]) await notes(id, 10);
      const sweeper = new RetentionSweeper(app.database.db, deps(), app.config.history);
      // One sweep trims one batch (3 events) per session that is due.
      await sweeper.sweep(1000);
      expect((await get(`/v1/sessions/${byDefault}`)).history_start).toBe(3);
      expect((await get(`/v1/sessions/${own}`)).history_start).toBe(3);
      while ((await sweeper.sweep(1000)) > 0);
      expect((await get(`/v1/sessions/${byDefault}`)).history_start).toBe(8);
      expect((await get(`/v1/sessions/${own}`)).history_start).toBe(5);
      expect((await get(`/v1/sessions/${keepAll}`)).history_start).toBe(0);
      expect((await get(`/v1/sessions/${byDefault}/events?after=8`)).events.map((e: { seq: number }) => e.seq)).toEqual([9, 10]);
    } finally {
      await app.close();
    }
  });

  it('trims by age, judged by the database clock', async () => {
    const id = await session({ retention: { max_age_ms: 3_600_000 } });
    await notes(id, 6);
    const { sid } = (await t.database.db`select sid from sessions where id = ${id}`)[0] as { sid: string };
    // Events 1-4 were written two hours ago.
    await t.database.db`update events set created_at = now() - interval '2 hours' where session_sid = ${sid} and seq <= 4`;
    expect(await trimSession(t.database.db, deps(), id, { policy: { max_age_ms: 3_600_000 } })).toBe(4);
    const sweeper = new RetentionSweeper(t.database.db, deps(), t.config.history);
    expect(await sweeper.sweep(1000)).toBe(0);
    expect((await get(`/v1/sessions/${id}`)).history_start).toBe(4);
  });

  it('an imported copy is due for its policy at once, down to a copy of one event', async () => {
    const id = await session({ retention: { max_age_ms: 3_600_000 } });
    await notes(id, 1);
    // Its one event was written two hours ago: the copy keeps that time.
    await t.database.db`update events set created_at = now() - interval '2 hours' where session_sid = (select sid from sessions where id = ${id})`;
    const file = exportFile(await exportLines(t, id));
    const copy = `${id}-copy`;
    const imported = await t.app.inject({
      method: 'POST',
      url: `/v1/sessions/import?id=${copy}`,
      headers: { 'content-type': 'application/x-ndjson' },
      payload: file,
    });
    expect(imported.statusCode, imported.body).toBe(201);
    const sweeper = new RetentionSweeper(t.database.db, deps(), t.config.history);
    while ((await sweeper.sweep(1000)) > 0);
    expect((await get(`/v1/sessions/${copy}`)).history_start).toBe(1);
  });

  it('skips a session another transaction holds, and trims it on a later sweep', async () => {
    const id = await session({ retention: { max_events: 1 } });
    await notes(id, 3);
    const sweeper = new RetentionSweeper(t.database.db, deps(), t.config.history);
    await t.database.db.begin(async (tx) => {
      await tx`select 1 from sessions where id = ${id} for update`;
      // Nothing trimmed, and the sweep says so: its supervisor runs again at once only after a sweep that trimmed.
      expect(await sweeper.sweep(1000)).toBe(0);
      expect((await tx`select history_start from sessions where id = ${id}`)[0]?.historyStart).toBe(0);
    });
    while ((await sweeper.sweep(1000)) > 0);
    expect((await get(`/v1/sessions/${id}`)).history_start).toBe(2);
  });

  it('a server default set at a restart reaches sessions the sweep had put aside, with no write to them', async () => {
    const id = await session();
    await notes(id, 6);
    // No policy applies yet: the sweep looks at the written session once and puts it aside.
    const before = new RetentionSweeper(t.database.db, deps(), t.config.history);
    while ((await before.sweep(1000)) > 0);
    expect((await get(`/v1/sessions/${id}`)).history_start).toBe(0);
    const restarted = await createTestApp({ databaseUrl: t.url, env: { HISTORY_MAX_EVENTS: '2', HISTORY_SWEEP_MS: '86400000' } });
    try {
      const sweeper = new RetentionSweeper(restarted.database.db, deps(), restarted.config.history);
      while ((await sweeper.sweep(1000)) > 0);
      expect((await get(`/v1/sessions/${id}`)).history_start).toBe(4);
    } finally {
      await restarted.close();
    }
  });

  it('a policy set by PATCH on a session put aside is applied by the next sweep', async () => {
    const id = await session({ retention: {} });
    await notes(id, 6);
    const sweeper = new RetentionSweeper(t.database.db, deps(), t.config.history);
    while ((await sweeper.sweep(1000)) > 0);
    expect((await get(`/v1/sessions/${id}`)).history_start).toBe(0);
    // Another write leaves it aside: `{}` keeps everything.
    await notes(id, 1);
    while ((await sweeper.sweep(1000)) > 0);
    expect((await get(`/v1/sessions/${id}`)).history_start).toBe(0);
    expect((await call(t.app, 'PATCH', `/v1/sessions/${id}`, { retention: { max_events: 3 } })).statusCode).toBe(200);
    while ((await sweeper.sweep(1000)) > 0);
    // 8 events with the session.updated of the PATCH: the last 3 stay.
    expect((await get(`/v1/sessions/${id}`)).history_start).toBe(5);
  });

  it('applies a server default age bound, set at a restart, to sessions without a policy that the sweep had put aside', async () => {
    const id = await session();
    await notes(id, 5);
    await backdate(id, 3);
    const before = new RetentionSweeper(t.database.db, deps(), t.config.history);
    while ((await before.sweep(1000)) > 0);
    expect(await dueIn(id)).toEqual({ parked: true, dueAt: null });
    const app = await createTestApp({ databaseUrl: t.url, env: { HISTORY_MAX_AGE_MS: '3600000', HISTORY_SWEEP_MS: '86400000' } });
    try {
      const sweeper = new RetentionSweeper(app.database.db, deps(), app.config.history);
      while ((await sweeper.sweep(1000)) > 0);
      expect((await get(`/v1/sessions/${id}`)).history_start).toBe(3);
    } finally {
      await app.close();
    }
  });

  it('keeps trimming an age bound past one batch, then looks again exactly when the oldest kept event comes of age', async () => {
    const id = await session({ retention: { max_age_ms: 3_600_000 } });
    await notes(id, 9);
    await backdate(id, 7); // two batches and a bit of 3: the first two looks find no young event in their window
    const sweeper = new RetentionSweeper(t.database.db, deps(), t.config.history);
    // Three looks, one batch each; the one that trims the last old event already sets the next look.
    for (const start of [3, 6, 7]) {
      await sweeper.sweep(1000);
      expect((await get(`/v1/sessions/${id}`)).history_start).toBe(start);
    }
    // Not due again before event 8 is an hour old: the sweep leaves it alone till then, with no write needed after.
    expect(await dueIn(id)).toEqual({ parked: false, dueAt: await createdAt(id, 8, '1 hour') });
    expect(await sweeper.sweep(1000)).toBe(0);

    // All of one batch old and nothing after it: trimmed in one look, and no look is due before the next write.
    const allOld = await session({ retention: { max_age_ms: 3_600_000 } });
    await notes(allOld, 3);
    await backdate(allOld, 3);
    await sweeper.sweep(1000);
    expect((await get(`/v1/sessions/${allOld}`)).history_start).toBe(3);
    expect(await dueIn(allOld)).toEqual({ parked: false, dueAt: null });
  });

  it('after an age-bound trim, looks again when the oldest kept event comes of age, not the newest', async () => {
    const id = await session({ retention: { max_age_ms: 3_600_000 } });
    await notes(id, 2);
    await notes(id, 2); // a later write: events 3 and 4 are younger than event 2
    await backdate(id, 1);
    const sweeper = new RetentionSweeper(t.database.db, deps(), t.config.history);
    await sweeper.sweep(1000);
    expect((await get(`/v1/sessions/${id}`)).history_start).toBe(1);
    // Event 2 comes of age first: a look any later would keep it past its hour.
    expect(await createdAt(id, 2, '0')).not.toBe(await createdAt(id, 4, '0'));
    expect(await dueIn(id)).toEqual({ parked: false, dueAt: await createdAt(id, 2, '1 hour') });
  });

  it('a sweep of limited size takes the sessions due longest first, so later ones never starve them', async () => {
    const longDue = await session({ retention: { max_events: 1 } });
    const lately = await session({ retention: { max_events: 1 } });
    for (const id of [longDue, lately]) await notes(id, 2);
    await t.database.db`update sessions set trim_due_at = now() - interval '10 years' where id = ${longDue}`;
    await t.database.db`update sessions set trim_due_at = now() - interval '1 minute' where id = ${lately}`;
    await new RetentionSweeper(t.database.db, deps(), t.config.history).sweep(1);
    expect((await get(`/v1/sessions/${longDue}`)).history_start).toBe(1);
    expect((await get(`/v1/sessions/${lately}`)).history_start).toBe(0);
  });

  it('after a look, a count bound waits for the next write, and a session no policy applies to is put aside for good', async () => {
    const counted = await session({ retention: { max_events: 2 } });
    const kept = await session({ retention: {} });
    for (const id of [counted, kept]) await notes(id, 4);
    const sweeper = new RetentionSweeper(t.database.db, deps(), t.config.history);
    while ((await sweeper.sweep(1000)) > 0);
    expect((await get(`/v1/sessions/${counted}`)).history_start).toBe(2);
    expect(await dueIn(counted)).toEqual({ parked: false, dueAt: null });
    expect(await dueIn(kept)).toEqual({ parked: true, dueAt: null });
    await notes(counted, 1);
    await notes(kept, 1);
    // The write makes the counted session due now; the one put aside stays aside.
    const due = await dueIn(counted);
    expect(due.dueAt !== null && due.dueAt <= (await databaseNow())).toBe(true);
    expect(await dueIn(kept)).toEqual({ parked: true, dueAt: null });
  });

  it('a session whose state cannot be rebuilt does not hold up the others: the sweep trims them, then fails, and looks at it again in an hour', async () => {
    const broken = await session({ retention: { max_events: 2 } });
    await jsonHistory(broken, 4); // seq 1 snapshot, then delta/note pairs up to seq 9
    const healthy = await session({ retention: { max_events: 2 } });
    await notes(healthy, 6);
    // Its stored snapshot lost under the server (an operator's mistake): the checkpoint the trim needs cannot be built.
    const { sid } = (await t.database.db`select sid from sessions where id = ${broken}`)[0] as { sid: string };
    await t.database.db`delete from state_snapshots where session_sid = ${sid}`;
    const sweeper = new RetentionSweeper(t.database.db, deps(), t.config.history);
    await expect(sweeper.sweep(1000)).rejects.toMatchObject({ code: 'state_unreadable' });
    expect((await get(`/v1/sessions/${healthy}`)).history_start).toBe(3);
    expect((await get(`/v1/sessions/${broken}`)).history_start).toBe(0);
    const [{ postponed }] = (await t.database.db`
      select trim_due_at between now() + interval '59 minutes' and now() + interval '61 minutes' as postponed
      from sessions where id = ${broken}`) as unknown as [{ postponed: boolean }];
    expect(postponed).toBe(true);
    // Until then the others go on without it.
    while ((await sweeper.sweep(1000)) > 0);
    expect((await get(`/v1/sessions/${healthy}`)).history_start).toBe(4);
    expect((await call(t.app, 'DELETE', `/v1/sessions/${broken}`)).statusCode).toBe(204);
  });
});

/** Makes the session's events up to `seq` two hours old. */
async function backdate(id: string, seq: number): Promise<void> {
  const { sid } = (await t.database.db`select sid from sessions where id = ${id}`)[0] as { sid: string };
  await t.database.db`update events set created_at = now() - interval '2 hours' where session_sid = ${sid} and seq <= ${seq}`;
}

/** When the retention sweep looks at the session next: parked ('infinity'), a time, or null (after the next write). */
async function dueIn(id: string): Promise<{ parked: boolean; dueAt: string | null }> {
  const [row] = (await t.database.db`
    select trim_due_at = 'infinity' as parked, case when trim_due_at = 'infinity' then null else trim_due_at::text end as due_at
    from sessions where id = ${id}`) as unknown as [{ parked: boolean | null; dueAt: string | null }];
  return { parked: row.parked === true, dueAt: row.dueAt };
}

async function createdAt(id: string, seq: number, plus: string): Promise<string> {
  const [row] = (await t.database.db`
    select (e.created_at + ${plus}::interval)::text as at from events e join sessions s on s.sid = e.session_sid
    where s.id = ${id} and e.seq = ${seq}`) as unknown as [{ at: string }];
  return row.at;
}

async function databaseNow(): Promise<string> {
  const [row] = (await t.database.db`select now()::text as now`) as unknown as [{ now: string }];
  return row.now;
}
