import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { exportFile, exportLines, importCopy } from '../helpers/export-file.js';
import { SseClient } from '../helpers/sse.js';
import { until } from '../helpers/waits.js';

// What the Session record says after the writes that change it (a PATCH, a turn,
// the Durable Streams face), and how a session ends (expiry, a soft-deleted
// source's last fork). No sweeps here: a read must answer without one.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ sweeps: false });
});
afterAll(async () => {
  await t?.close();
});

const stream = (method: 'PUT' | 'DELETE' | 'GET', id: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method, url: `/v1/stream/${id}`, headers: { 'content-type': 'text/plain', ...headers } });

describe('the Session a PATCH answers with', () => {
  it('ttl_ms: null clears the TTL: no ttl_ms and no expires_at, on the answer and on later reads', async () => {
    const created = (await call(t.app, 'POST', '/v1/sessions', { id: 'lc-ttl-cleared', ttl_ms: 60_000 })).json();
    expect(created).toMatchObject({ ttl_ms: 60_000, expires_at: expect.any(String) });
    const cleared = await call(t.app, 'PATCH', '/v1/sessions/lc-ttl-cleared', { ttl_ms: null });
    expect(cleared.statusCode, cleared.body).toBe(200);
    expect(cleared.json()).toMatchObject({ ttl_ms: null, expires_at: null });
    expect((await call(t.app, 'GET', '/v1/sessions/lc-ttl-cleared')).json()).toEqual(cleared.json());
  });

  it("shows the session's current activity, as GET does", async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-patch-busy' })).statusCode).toBe(201);
    expect((await call(t.app, 'PUT', '/v1/sessions/lc-patch-busy/activity', { status: 'thinking' })).statusCode).toBe(200);
    const patched = await call(t.app, 'PATCH', '/v1/sessions/lc-patch-busy', { metadata: { title: 'renamed' } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().activity).toMatchObject({ status: 'thinking' });
    expect((await call(t.app, 'GET', '/v1/sessions/lc-patch-busy')).json()).toEqual(patched.json());
  });

  it("of a Durable Stream with a fixed expiry shows the sooner of it and the TTL's idle window", async () => {
    const fixed = new Date(Date.now() + 86_400_000);
    fixed.setUTCMilliseconds(0);
    const put = await stream('PUT', 'lc-fixed-and-ttl', { 'stream-expires-at': fixed.toISOString() });
    expect(put.statusCode, put.body).toBe(201);
    expect(Date.parse((await call(t.app, 'GET', '/v1/sessions/lc-fixed-and-ttl')).json().expires_at)).toBe(fixed.getTime());
    // An idle window that ends first: it is when the session expires.
    const short = (await call(t.app, 'PATCH', '/v1/sessions/lc-fixed-and-ttl', { ttl_ms: 60_000 })).json();
    expect(Date.parse(short.expires_at) - Date.parse(short.updated_at)).toBe(60_000);
    // One that would end after the fixed time: the fixed time stands.
    const long = (await call(t.app, 'PATCH', '/v1/sessions/lc-fixed-and-ttl', { ttl_ms: 2 * 86_400_000 })).json();
    expect(Date.parse(long.expires_at)).toBe(fixed.getTime());
  });
});

describe('usage on the Session', () => {
  it('carries each total the turns reported under its own name, on the read and in the list', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-usage' })).statusCode).toBe(201);
    const turn = await call(t.app, 'POST', '/v1/sessions/lc-usage/turns', {
      turn_id: 'lc-usage-1',
      usage: [
        { model: 'm', input_tokens: 3, output_tokens: 50, cost_usd: 0.25 },
        { model: 'm', input_tokens: 4, output_tokens: 60 },
      ],
    });
    expect(turn.statusCode, turn.body).toBe(201);
    const expected = { input_tokens: 7, output_tokens: 110, cost_usd: 0.25, turns: 1 };
    expect((await call(t.app, 'GET', '/v1/sessions/lc-usage')).json().usage).toEqual(expected);
    const listed = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions.find((s: { id: string }) => s.id === 'lc-usage');
    expect(listed.usage).toEqual(expected);
  });
});

describe('ids that free up', () => {
  it('a native create takes the id of a Durable Stream past its expiry, before any sweep', async () => {
    const put = await stream('PUT', 'lc-expired-id', { 'stream-expires-at': '2001-01-01T00:00:00Z' });
    expect(put.statusCode, put.body).toBe(201);
    const created = await call(t.app, 'POST', '/v1/sessions', { id: 'lc-expired-id', metadata: { fresh: true } });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ id: 'lc-expired-id', metadata: { fresh: true }, expires_at: null, last_seq: 0 });
    expect((await call(t.app, 'GET', '/v1/sessions/lc-expired-id')).json()).toMatchObject({ metadata: { fresh: true } });
  });

  it("a soft-deleted source goes with its last fork, not before: its id is free again, for a native create", async () => {
    expect((await stream('PUT', 'lc-soft-src')).statusCode).toBe(201);
    for (const fork of ['lc-soft-fork', 'lc-soft-fork-2']) {
      expect((await stream('PUT', fork, { 'stream-forked-from': '/v1/stream/lc-soft-src' })).statusCode).toBe(201);
    }
    expect((await stream('DELETE', 'lc-soft-src')).statusCode).toBe(204);
    // Soft-deleted while a fork lives: the id is still held, and the stream face says it was deleted (410).
    expectProblem(await call(t.app, 'POST', '/v1/sessions', { id: 'lc-soft-src' }), 409, 'session_exists');
    expect((await call(t.app, 'DELETE', '/v1/sessions/lc-soft-fork-2')).statusCode).toBe(204);
    expectProblem(await call(t.app, 'POST', '/v1/sessions', { id: 'lc-soft-src' }), 409, 'session_exists');
    expect((await stream('GET', 'lc-soft-src')).statusCode).toBe(410);
    expect((await call(t.app, 'DELETE', '/v1/sessions/lc-soft-fork')).statusCode).toBe(204);
    const created = await call(t.app, 'POST', '/v1/sessions', { id: 'lc-soft-src' });
    expect(created.statusCode, created.body).toBe(201);
    expect((await call(t.app, 'GET', '/v1/sessions/lc-soft-src')).json()).toMatchObject({ id: 'lc-soft-src', last_seq: 0 });
  });
});

describe('with the sweeps running: expiry by ttl_ms, and retention', () => {
  let swept: TestApp;
  beforeAll(async () => {
    swept = await createTestApp({ env: { HISTORY_SWEEP_MS: '100' } });
    await swept.listen();
  });
  afterAll(async () => {
    await swept?.close();
  });

  it('a session never written after its create is deleted once idle for ttl_ms; its stream gets session.deleted {reason: "expired"}', async () => {
    const created = await call(swept.app, 'POST', '/v1/sessions', { id: 'lc-idle', ttl_ms: 1500 });
    expect(created.statusCode, created.body).toBe(201);
    const client = await SseClient.open(`${swept.baseUrl}/v1/sessions/lc-idle/stream`);
    try {
      await client.waitFor(() => client.messages.length > 0 || client.ended, 'the stream to open');
      await until(async () => (await call(swept.app, 'GET', '/v1/sessions/lc-idle')).statusCode === 404, 'the sweep to delete the idle session');
      await client.waitForEnd();
      expect(client.ofType('session.deleted').map((m) => m.json)).toEqual([{ session_id: 'lc-idle', reason: 'expired' }]);
    } finally {
      await client.close();
    }
  });

  it('a ttl_ms given by PATCH to a session created without one expires it once idle that long', async () => {
    expect((await call(swept.app, 'POST', '/v1/sessions', { id: 'lc-patched-ttl' })).statusCode).toBe(201);
    const patched = await call(swept.app, 'PATCH', '/v1/sessions/lc-patched-ttl', { ttl_ms: 1000 });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ ttl_ms: 1000, expires_at: expect.any(String) });
    await until(async () => (await call(swept.app, 'GET', '/v1/sessions/lc-patched-ttl')).statusCode === 404, 'the sweep to delete the idle session');
  });

  it('an imported copy with ttl_ms expires once idle that long after the import, never written again', async () => {
    expect((await call(swept.app, 'POST', '/v1/sessions', { id: 'lc-imp-idle', ttl_ms: 1000 })).statusCode).toBe(201);
    expect((await call(swept.app, 'POST', '/v1/sessions/lc-imp-idle/events', { events: [{ type: 'note', data: {} }] })).statusCode).toBe(201);
    expect(await importCopy(swept, 'lc-imp-idle', 'lc-imp-idle-copy')).toMatchObject({ ttl_ms: 1000, expires_at: expect.any(String) });
    await until(async () => (await call(swept.app, 'GET', '/v1/sessions/lc-imp-idle-copy')).statusCode === 404, 'the sweep to delete the idle copy');
  });

  it('an imported copy is trimmed to its retention policy by the sweep, never written again', async () => {
    // The source lives where no sweep runs, so its file holds the whole history the policy would trim.
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-imp-kept', retention: { max_events: 1 } })).statusCode).toBe(201);
    const notes = Array.from({ length: 3 }, (_, n) => ({ type: 'note', data: { n } }));
    expect((await call(t.app, 'POST', '/v1/sessions/lc-imp-kept/events', { events: notes })).statusCode).toBe(201);
    const imported = await swept.app.inject({
      method: 'POST',
      url: '/v1/sessions/import?id=lc-imp-kept-copy',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: exportFile(await exportLines(t, 'lc-imp-kept')),
    });
    expect(imported.statusCode, imported.body).toBe(201);
    expect(imported.json()).toMatchObject({ history_start: 0, last_seq: 3 });
    await until(async () => (await call(swept.app, 'GET', '/v1/sessions/lc-imp-kept-copy')).json().history_start === 2, 'the sweep to trim the copy');
  });
});

describe('what a PATCH records and resets', () => {
  it('its session.updated event carries the retention and ttl_ms it set, and only what it set', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-updated-event' })).statusCode).toBe(201);
    for (const body of [{ retention: { max_events: 5 } }, { ttl_ms: 60_000 }, { metadata: { a: 1 } }]) {
      const patched = await call(t.app, 'PATCH', '/v1/sessions/lc-updated-event', body);
      expect(patched.statusCode, patched.body).toBe(200);
    }
    const updates = (await call(t.app, 'GET', '/v1/sessions/lc-updated-event/events?type=session.updated')).json().events;
    expect(updates.map((event: { data: unknown }) => event.data)).toEqual([
      { metadata: {}, retention: { max_events: 5 } },
      { metadata: {}, ttl_ms: 60_000 },
      { metadata: { a: 1 } },
    ]);
  });

  it('retention: null goes back to the server default: the Session shows retention null again', async () => {
    const created = (await call(t.app, 'POST', '/v1/sessions', { id: 'lc-retention-reset', retention: { max_events: 10 } })).json();
    expect(created.retention).toEqual({ max_events: 10 });
    const reset = await call(t.app, 'PATCH', '/v1/sessions/lc-retention-reset', { retention: null });
    expect(reset.statusCode, reset.body).toBe(200);
    expect(reset.json().retention).toBeNull();
    expect((await call(t.app, 'GET', '/v1/sessions/lc-retention-reset')).json().retention).toBeNull();
  });
});

describe('a Durable Stream past its expiry, before any sweep', () => {
  it('is 404 session_not_found to every native read, as GET by id is', async () => {
    expect((await stream('PUT', 'lc-expired-reads')).statusCode).toBe(201);
    await t.database.db`update sessions set expires_at = now() - interval '1 minute' where id = 'lc-expired-reads'`;
    for (const path of ['', '/events', '/messages', '/state', '/attachments', '/queue', '/export']) {
      expectProblem(await call(t.app, 'GET', `/v1/sessions/lc-expired-reads${path}`), 404, 'session_not_found');
    }
  });
});

describe('a chain of soft-deleted sources', () => {
  it('goes whole with its last fork: every id up the chain is free again', async () => {
    expect((await stream('PUT', 'lc-chain-0')).statusCode).toBe(201);
    expect((await stream('PUT', 'lc-chain-1', { 'stream-forked-from': '/v1/stream/lc-chain-0' })).statusCode).toBe(201);
    expect((await stream('PUT', 'lc-chain-2', { 'stream-forked-from': '/v1/stream/lc-chain-1' })).statusCode).toBe(201);
    expect((await stream('DELETE', 'lc-chain-0')).statusCode).toBe(204);
    expect((await stream('DELETE', 'lc-chain-1')).statusCode).toBe(204);
    for (const id of ['lc-chain-0', 'lc-chain-1']) expect((await stream('GET', id)).statusCode, id).toBe(410);
    expect((await call(t.app, 'DELETE', '/v1/sessions/lc-chain-2')).statusCode).toBe(204);
    for (const id of ['lc-chain-0', 'lc-chain-1']) {
      expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode, id).toBe(201);
    }
  });
});

describe('what a session picker reads', () => {
  it('first_user_message (cut to 200 characters) and message_count, on the read and in the list', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-picker' })).statusCode).toBe(201);
    const posted = await call(t.app, 'POST', '/v1/sessions/lc-picker/messages', {
      messages: [
        { role: 'system', content: 'you are helpful' },
        { role: 'user', content: 'q'.repeat(250) },
        { role: 'user', content: 'second question' },
      ],
    });
    expect(posted.statusCode, posted.body).toBe(201);
    const read = (await call(t.app, 'GET', '/v1/sessions/lc-picker')).json();
    expect(read).toMatchObject({ first_user_message: 'q'.repeat(200), message_count: 3 });
    const listed = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions.find((s: { id: string }) => s.id === 'lc-picker');
    expect(listed).toMatchObject({ first_user_message: 'q'.repeat(200), message_count: 3 });
    // Archived messages are not counted: a picker shows the conversation as it is now.
    const trimmed = await call(t.app, 'POST', '/v1/sessions/lc-picker/messages/trim', { before_seq: 3 });
    expect(trimmed.json()).toMatchObject({ trimmed: 2 });
    expect((await call(t.app, 'GET', '/v1/sessions/lc-picker')).json()).toMatchObject({ message_count: 1 });
    const relisted = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions.find((s: { id: string }) => s.id === 'lc-picker');
    expect(relisted).toMatchObject({ message_count: 1 });
  });

  it('a Durable Stream past its expiry is not listed, before any sweep, as GET by id answers 404; one not yet due is', async () => {
    expect((await stream('PUT', 'lc-list-due', { 'stream-expires-at': '2001-01-01T00:00:00Z' })).statusCode).toBe(201);
    expect((await stream('PUT', 'lc-list-later', { 'stream-expires-at': '2099-01-01T00:00:00Z' })).statusCode).toBe(201);
    expectProblem(await call(t.app, 'GET', '/v1/sessions/lc-list-due'), 404, 'session_not_found');
    const listed = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions.map((s: { id: string }) => s.id);
    expect(listed).toContain('lc-list-later');
    expect(listed).not.toContain('lc-list-due');
  });
});

describe('a Durable Stream with Stream-TTL', () => {
  it("shows reads sliding its window: expires_at moves past the last write's updated_at plus the TTL", async () => {
    const put = await stream('PUT', 'lc-read-slides', { 'stream-ttl': '60' });
    expect(put.statusCode, put.body).toBe(201);
    const before = (await call(t.app, 'GET', '/v1/sessions/lc-read-slides')).json();
    expect(Date.parse(before.expires_at) - Date.parse(before.updated_at)).toBe(60_000);
    // A read slides the window once the last slide is a little while old (a tenth of the TTL, at most 1 s): read until one has.
    await until(async () => {
      expect((await t.app.inject({ method: 'GET', url: '/v1/stream/lc-read-slides?offset=-1' })).statusCode).toBe(200);
      const now = (await call(t.app, 'GET', '/v1/sessions/lc-read-slides')).json();
      return Date.parse(now.expires_at) > Date.parse(now.updated_at) + 60_000;
    }, 'a stream read to move expires_at');
    // Reading is not writing: updated_at stays the last write's.
    expect((await call(t.app, 'GET', '/v1/sessions/lc-read-slides')).json().updated_at).toBe(before.updated_at);
  });
});

describe('what open streams and the changes feed are told', () => {
  beforeAll(async () => {
    await t.listen();
  });

  it('the changes feed announces a session as it is created', async () => {
    const changes = await SseClient.open(`${t.baseUrl}/v1/changes`);
    try {
      await changes.waitFor(() => changes.ofType('sweep_required').length > 0, 'sweep_required');
      expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-announced' })).statusCode).toBe(201);
      await changes.waitFor(() => changes.ofType('session.created').some((m) => m.json?.session_id === 'lc-announced'), 'session.created');
    } finally {
      await changes.close();
    }
  });

  it('DELETE ends an open stream with session.deleted, which names no reason', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-deleted-live' })).statusCode).toBe(201);
    const client = await SseClient.open(`${t.baseUrl}/v1/sessions/lc-deleted-live/stream`);
    try {
      await client.waitFor(() => client.messages.length > 0, 'the stream to open');
      expect((await call(t.app, 'DELETE', '/v1/sessions/lc-deleted-live')).statusCode).toBe(204);
      await client.waitForEnd();
      expect(client.ofType('session.deleted').map((m) => m.json)).toEqual([{ session_id: 'lc-deleted-live' }]);
    } finally {
      await client.close();
    }
  });
});

describe('what open streams and the changes feed are told, beyond create and delete', () => {
  beforeAll(async () => {
    // The block above may have made it listen already.
    if (!t.baseUrl) await t.listen();
  });

  it("the changes feed's hint names the session's head: its last_seq and its state version, as GET shows them", async () => {
    const changes = await SseClient.open(`${t.baseUrl}/v1/changes`);
    try {
      await changes.waitFor(() => changes.ofType('sweep_required').length > 0, 'sweep_required');
      expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-hinted' })).statusCode).toBe(201);
      const events = await call(t.app, 'POST', '/v1/sessions/lc-hinted/events', { events: [{ type: 'note', data: 1 }, { type: 'note', data: 2 }] });
      expect(events.statusCode, events.body).toBe(201);
      const put = await call(t.app, 'PUT', '/v1/sessions/lc-hinted/state', { base_version: 0, schema_version: 1, snapshot: {} });
      expect(put.json()).toEqual({ version: 1, seq: 3 });
      const hints = () => changes.ofType('session.changed').filter((m) => m.json?.session_id === 'lc-hinted');
      await changes.waitFor(() => hints().some((m) => m.json.last_seq === 3), 'the hint for the state write');
      expect(hints().find((m) => m.json.last_seq === 3)?.json).toEqual({ session_id: 'lc-hinted', last_seq: 3, version: 1 });
      expect((await call(t.app, 'GET', '/v1/sessions/lc-hinted')).json()).toMatchObject({ last_seq: 3, version: 1 });
    } finally {
      await changes.close();
    }
  });

  it('a Durable Stream deleted while a fork of it lives ends its open native stream with session.deleted', async () => {
    expect((await stream('PUT', 'lc-soft-live')).statusCode).toBe(201);
    expect((await stream('PUT', 'lc-soft-live-fork', { 'stream-forked-from': '/v1/stream/lc-soft-live' })).statusCode).toBe(201);
    const client = await SseClient.open(`${t.baseUrl}/v1/sessions/lc-soft-live/stream`);
    try {
      await client.waitFor(() => client.messages.length > 0, 'the stream to open');
      expect((await stream('DELETE', 'lc-soft-live')).statusCode).toBe(204);
      // Soft-deleted (its fork still holds it), yet gone for every reader.
      expect((await stream('GET', 'lc-soft-live')).statusCode).toBe(410);
      await client.waitForEnd();
      expect(client.ofType('session.deleted').map((m) => m.json)).toEqual([{ session_id: 'lc-soft-live' }]);
    } finally {
      await client.close();
    }
  });
});

describe('what a fork shows', () => {
  it('forked_from names the source and the version, on the answer, the read and in the list', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-fork-src' })).statusCode).toBe(201);
    expect((await call(t.app, 'PUT', '/v1/sessions/lc-fork-src/state', { base_version: 0, schema_version: 1, snapshot: { a: 1 } })).statusCode).toBe(200);
    expect((await call(t.app, 'POST', '/v1/sessions/lc-fork-src/deltas', { base_version: 1, merge_patch: { b: 2 } })).statusCode).toBe(200);
    const fork = await call(t.app, 'POST', '/v1/sessions/lc-fork-src/fork', { id: 'lc-fork', at_version: 1 });
    expect(fork.statusCode, fork.body).toBe(201);
    const forkedFrom = { session_id: 'lc-fork-src', version: 1 };
    expect(fork.json()).toMatchObject({ id: 'lc-fork', parent_id: 'lc-fork-src', forked_from: forkedFrom });
    expect((await call(t.app, 'GET', '/v1/sessions/lc-fork')).json().forked_from).toEqual(forkedFrom);
    const listed = (await call(t.app, 'GET', '/v1/sessions?parent_id=lc-fork-src')).json().sessions;
    expect(listed.map((s: { id: string; forked_from: unknown }) => [s.id, s.forked_from])).toEqual([['lc-fork', forkedFrom]]);
    // A session made by POST /v1/sessions was forked from nothing.
    expect((await call(t.app, 'GET', '/v1/sessions/lc-fork-src')).json().forked_from).toBeNull();
  });
});

describe('a session imported from an export', () => {
  it('carries the counters a picker shows: usage, message_count and first_user_message, each under its own name', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-imp-counted' })).statusCode).toBe(201);
    const turn = await call(t.app, 'POST', '/v1/sessions/lc-imp-counted/turns', {
      turn_id: 'lc-imp-counted-1',
      usage: [{ model: 'm', input_tokens: 3, output_tokens: 50, cost_usd: 0.25 }],
    });
    expect(turn.statusCode, turn.body).toBe(201);
    const posted = await call(t.app, 'POST', '/v1/sessions/lc-imp-counted/messages', {
      messages: [
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'an answer' },
      ],
    });
    expect(posted.statusCode, posted.body).toBe(201);
    const original = (await call(t.app, 'GET', '/v1/sessions/lc-imp-counted')).json();
    expect(original).toMatchObject({
      usage: { input_tokens: 3, output_tokens: 50, cost_usd: 0.25, turns: 1 },
      message_count: 2,
      first_user_message: 'first question',
    });
    await importCopy(t, 'lc-imp-counted', 'lc-imp-counted-copy');
    const copy = (await call(t.app, 'GET', '/v1/sessions/lc-imp-counted-copy')).json();
    expect({ usage: copy.usage, message_count: copy.message_count, first_user_message: copy.first_user_message }).toEqual({
      usage: original.usage,
      message_count: original.message_count,
      first_user_message: original.first_user_message,
    });
  });

  it('keeps the parent this server holds and its created_at, and takes the import as its last write (updated_at, the TTL window)', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-imp-parent' })).statusCode).toBe(201);
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'lc-imp-child', parent_id: 'lc-imp-parent', ttl_ms: 3_600_000 })).statusCode).toBe(201);
    expect((await call(t.app, 'POST', '/v1/sessions/lc-imp-child/events', { events: [{ type: 'note', data: {} }] })).statusCode).toBe(201);
    // The original was last written half an hour ago: the copy's idle window starts at the import, not then.
    await t.database.db`update sessions set created_at = now() - interval '2 hours', updated_at = now() - interval '30 minutes' where id = 'lc-imp-child'`;
    const original = (await call(t.app, 'GET', '/v1/sessions/lc-imp-child')).json();
    const file = await t.app.inject({ method: 'GET', url: '/v1/sessions/lc-imp-child/export' });
    expect(file.statusCode).toBe(200);
    const copy = await t.app.inject({
      method: 'POST',
      url: '/v1/sessions/import?id=lc-imp-copy',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: file.body,
    });
    expect(copy.statusCode, copy.body).toBe(201);
    const read = (await call(t.app, 'GET', '/v1/sessions/lc-imp-copy')).json();
    expect(read).toEqual(copy.json());
    expect(read).toMatchObject({ parent_id: 'lc-imp-parent', created_at: original.created_at, last_seq: original.last_seq, ttl_ms: 3_600_000 });
    expect(Date.parse(read.updated_at)).toBeGreaterThan(Date.parse(original.updated_at));
    expect(Date.parse(read.expires_at)).toBeGreaterThan(Date.parse(original.expires_at));
  });
});
