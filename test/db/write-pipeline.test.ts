import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inFlight, startQuery } from '../../src/db/pipeline.js';
import { startEventAppend } from '../../src/events/append.js';
import { writeSession } from '../../src/writes/session-write.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { sessionWriterOn } from '../helpers/committer.js';

// A write's last statements are sent with its COMMIT and answered after it
// (src/db/pipeline.ts). These tests hold the promise that makes this safe: a
// statement failing beside the COMMIT fails the write and nothing commits.

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const DIVISION_BY_ZERO = '22012';

// The same queue of writers per session a running app uses.
const writer = () => sessionWriterOn(t.database.db);

async function appendBeside(sessionId: string, failing: boolean, key?: string) {
  return writeSession(writer(), { sessionId, idempotencyTtlMs: 60_000 }, key ? { idempotency: { key, fingerprint: 'probe' } } : {}, async (tx, session) => {
    const sent = startEventAppend(tx, session, [{ type: 'probe', dataJson: '{"n":1}' }]);
    const extra = startQuery(failing ? tx`select 1 / 0` : tx`select 1`);
    return { status: 201, body: { last_seq: sent?.lastSeq }, pending: inFlight([sent?.pending, extra]) };
  });
}

async function head(sessionId: string) {
  const session = await call(t.app, 'GET', `/v1/sessions/${sessionId}`);
  const events = await call(t.app, 'GET', `/v1/sessions/${sessionId}/events`);
  return { lastSeq: session.json().last_seq, events: events.json().events.length };
}

describe('writes sent with the COMMIT', () => {
  it('commit when every statement succeeds', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'pipe-ok' });
    const outcome = await appendBeside('pipe-ok', false);
    expect(outcome.status).toBe(201);
    expect(await head('pipe-ok')).toEqual({ lastSeq: 1, events: 1 });
  });

  it('fail the write, and commit nothing, when a statement beside the COMMIT fails', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'pipe-fail' });
    await expect(appendBeside('pipe-fail', true)).rejects.toMatchObject({ code: DIVISION_BY_ZERO });
    expect(await head('pipe-fail')).toEqual({ lastSeq: 0, events: 0 });
    // The connection is clean afterwards: the next write on the pool commits.
    await appendBeside('pipe-fail', false);
    expect(await head('pipe-fail')).toEqual({ lastSeq: 1, events: 1 });
  });

  it('roll back the Idempotency-Key stored beside a failed COMMIT, so a retry runs again', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'pipe-key' });
    await expect(appendBeside('pipe-key', true, 'k1')).rejects.toMatchObject({ code: DIVISION_BY_ZERO });
    const retried = await appendBeside('pipe-key', false, 'k1');
    expect(retried.replayed).toBe(false);
    expect(await head('pipe-key')).toEqual({ lastSeq: 1, events: 1 });
    const again = await appendBeside('pipe-key', false, 'k1');
    expect(again).toMatchObject({ replayed: true, body: { last_seq: 1 } });
  });

  it("tell a failed write, commit included, before the session's next writer starts; a committed one is not told", async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'pipe-told' });
    const log: string[] = [];
    const shared = writer();
    const attempt = (failing: boolean, name: string) =>
      writeSession(shared, { sessionId: 'pipe-told', idempotencyTtlMs: 60_000, onFailed: () => log.push(`${name} failed`) }, {}, async (tx, session) => {
        log.push(`${name} runs`);
        const sent = startEventAppend(tx, session, [{ type: 'probe', dataJson: '{}' }]);
        // Fails beside the COMMIT, after the work has returned: only the commit tells.
        const extra = startQuery(failing ? tx`select 1 / 0` : tx`select 1`);
        return { status: 201, body: null, pending: inFlight([sent?.pending, extra]) };
      });
    const results = await Promise.allSettled([attempt(true, 'first'), attempt(false, 'second')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    expect(log).toEqual(['first runs', 'first failed', 'second runs']);
  });

  // What a failed write is logged and answered with is its cause. Postgres refuses every statement after the one that
  // failed with 25P02 ("current transaction is aborted"), so a write listed before the one it was sent after must not
  // stand in for it.
  it('fail with the statement Postgres refused, not the ones refused after it, whatever order the writes are listed in', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'pipe-cause' });
    const failed = writeSession(writer(), { sessionId: 'pipe-cause', idempotencyTtlMs: 60_000 }, {}, async (tx, session) => {
      const cause = startQuery(tx`select 1 / 0`);
      const after = startEventAppend(tx, session, [{ type: 'probe', dataJson: '{}' }]);
      return { status: 201, body: null, pending: inFlight([after?.pending, cause]) };
    });
    await expect(failed).rejects.toMatchObject({ code: DIVISION_BY_ZERO });
    expect(await head('pipe-cause')).toEqual({ lastSeq: 0, events: 0 });
  });
});
