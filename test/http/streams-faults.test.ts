import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';
import { SseClient } from '../helpers/sse.js';
import { metric } from '../helpers/metrics.js';

/**
 * The Durable Streams face when the database fails it underneath: what the client gets, what the
 * operator reads in the log, and that nothing stays held. The faults are the database's own (a trigger
 * that refuses, a row changed by hand), never a mock. The native stream's: stream-routes.test.ts.
 */

const log = logSink('warn');
let t: TestApp;

beforeAll(async () => {
  // No sweeps: the expiry sweep would meet the refusing trigger too, and the test is about the face's own delete.
  // The least ROWS_MEMORY_BYTES: a read reserves two pages (EVENTS_PAGE_BYTES, 1 MiB, each), so all of it, and
  // any byte a failed read kept would stop every read after it.
  t = await createTestApp({ log, sweeps: false, env: { ROWS_MEMORY_BYTES: String(1024 * 1024) } });
  await t.listen();
});
afterAll(async () => {
  await t?.close();
});

const warnings = (msg: string) => log.entries().filter((entry) => entry.msg === msg);

function ds(method: 'GET' | 'HEAD' | 'PUT' | 'POST', path: string, headers: Record<string, string> = {}, body?: string) {
  return t.app.inject({ method, url: `/v1/stream/${path}`, headers, ...(body === undefined ? {} : { payload: body }) });
}

const gauge = (name: string) => metric(t.app, name);

describe('an expired stream whose delete fails', () => {
  it('still answers 404; the failure is logged with the session, and a later access deletes it', async () => {
    const id = 'expired-undeletable';
    expect((await ds('PUT', id, { 'content-type': 'text/plain', 'stream-ttl': '60' }, 'a')).statusCode).toBe(201);
    await t.database.db.unsafe(`
      create function refuse_delete() returns trigger language plpgsql as
        $$ begin raise exception 'the test refuses this delete'; end $$;
      create trigger refuse_delete before delete on sessions for each row when (old.id = '${id}') execute function refuse_delete();
    `);
    // Past its idle window, as if a minute had gone by.
    await t.database.db`
      update sessions set updated_at = updated_at - interval '61 seconds', read_at = read_at - interval '61 seconds',
        expires_at = expires_at - interval '61 seconds'
      where id = ${id}`;

    expectProblem(await ds('GET', `${id}?offset=-1`), 404, 'session_not_found');
    expect(warnings('deleting an expired stream failed')).toEqual([
      expect.objectContaining({ level: 40, session: id, err: expect.objectContaining({ message: 'the test refuses this delete' }) }),
    ]);
    expect(await t.database.db`select id from sessions where id = ${id}`).toHaveLength(1);

    await t.database.db.unsafe('drop trigger refuse_delete on sessions');
    expect((await ds('HEAD', id)).statusCode).toBe(404);
    expect(await t.database.db`select id from sessions where id = ${id}`).toHaveLength(0);
  });
});

describe('a row the face cannot read back (its data changed by hand in SQL)', () => {
  /** A byte stream whose second chunk's data is no longer `{"base64": <string>}`. */
  async function unreadable(id: string): Promise<void> {
    expect((await ds('PUT', id, { 'content-type': 'application/octet-stream' }, 'fine')).statusCode).toBe(201);
    expect((await ds('POST', id, { 'content-type': 'application/octet-stream' }, 'lost')).statusCode).toBe(204);
    await t.database.db`
      update events set data = '{"base64": 5}'
      where seq = 2 and session_sid = (select sid from sessions where id = ${id})`;
  }

  it('a catch-up read is a 500, and the page memory it held is given back', async () => {
    await unreadable('unreadable-page');
    expectProblem(await ds('GET', 'unreadable-page?offset=-1'), 500, 'internal_error');
    expect(await gauge('session_sync_rows_memory_bytes')).toBe(0);
    // So the next read is served.
    const next = await ds('GET', 'unreadable-page?offset=0000000000000000_0000000000000002');
    expect(next.statusCode, next.body).toBe(200);
  });

  it('an SSE read is cut, not ended (the client reconnects from its offset); the failure is logged with the session', async () => {
    await unreadable('unreadable-sse');
    const client = await SseClient.open(`${t.baseUrl}/v1/stream/unreadable-sse?live=sse&offset=-1`);
    try {
      // (Cut before the answer's head is flushed, or after: either way a network error, not an end.)
      await client.waitForEnd();
      expect(client.error).toBeDefined();
      expect(client.messages).toEqual([]);
    } finally {
      await client.close();
    }
    expect(warnings('stream read failed; closing it')).toEqual([
      expect.objectContaining({ level: 40, session: 'unreadable-sse', err: expect.objectContaining({ type: 'TypeError' }) }),
    ]);
    await expect.poll(() => gauge('session_sync_open_streams'), { timeout: 10_000 }).toBe(0);
  });
});
