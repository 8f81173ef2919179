import { createHash } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../client/src/index.js';
import { mintToken } from '../../src/auth/tokens.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { open } from '../helpers/streams.js';
import { unlessStuck } from '../helpers/waits.js';

let t: TestApp;
let auth: TestApp;
const SECRET = 'export-import-test-secret-of-32-bytes-or-more';

beforeAll(async () => {
  // Small stored chunks so attachments cross several of them; checkpoints every 3 deltas.
  t = await createTestApp({ env: { STATE_CHECKPOINT_DELTAS: '3', HISTORY_SWEEP_MS: '86400000', ATTACHMENT_CHUNK_BYTES: '65536' } });
  auth = await createTestApp({ env: { AUTH_SECRET: SECRET, HISTORY_SWEEP_MS: '86400000' } });
  await t.listen();
});
afterAll(async () => {
  await t.close();
  await auth.close();
});

const get = async (path: string, app = t) => {
  const response = await call(app.app, 'GET', path);
  expect(response.statusCode, `${path}: ${response.body}`).toBe(200);
  return response.json();
};
const ok = async (method: 'POST' | 'PUT' | 'PATCH', path: string, body: unknown) => {
  const response = await call(t.app, method, path, body);
  expect(response.statusCode, `${method} ${path}: ${response.body}`).toBeLessThan(300);
  return response.json();
};

async function exportOf(id: string, app = t, headers: Record<string, string> = {}): Promise<string> {
  const response = await app.app.inject({ method: 'GET', url: `/v1/sessions/${id}/export`, headers });
  expect(response.statusCode, response.body).toBe(200);
  expect(response.headers['content-type']).toBe('application/x-ndjson');
  return response.body;
}

function importFile(file: string | Buffer, query = '', app = t, headers: Record<string, string> = {}) {
  return app.app.inject({
    method: 'POST',
    url: `/v1/sessions/import${query}`,
    headers: { 'content-type': 'application/x-ndjson', ...headers },
    payload: file,
  });
}

async function allPages<T>(first: string, key: string): Promise<T[]> {
  const items: T[] = [];
  for (let cursor: string | null = null; ; ) {
    const page = await get(cursor === null ? first : `${first}&cursor=${encodeURIComponent(cursor)}`);
    items.push(...(page[key] as T[]));
    cursor = page.next_cursor;
    if (!cursor) return items;
  }
}

/**
 * Everything a reader of the session can see, through the API: the record,
 * the state now and at every kept version, catch-up from each kept version,
 * every kept event, every message (archived too), the queue, the
 * attachments and their bytes.
 */
async function readsOf(id: string) {
  const s = `/v1/sessions/${id}`;
  const { updated_at: _u, expires_at: _e, id: _id, ...session } = await get(s);
  const events: unknown[] = [];
  for (let after = session.history_start; ; ) {
    const page = await get(`${s}/events?after=${after}&limit=1000`);
    events.push(...page.events);
    after = page.last_seq;
    if (!page.has_more) break;
  }
  const versions = events.filter((e: any) => e.type.startsWith('state.')).map((e: any) => e.version as number);
  const atVersion: Record<number, unknown> = {};
  const catchUp: Record<number, unknown> = {};
  for (const v of versions) {
    atVersion[v] = await get(`${s}/state?at_version=${v}`);
    catchUp[v] = await get(`${s}/state?have=${v}`);
  }
  const attachments = await allPages<{ attachment_id: string }>(`${s}/attachments?limit=1000`, 'attachments');
  const bytes: Record<string, string> = {};
  for (const a of attachments) {
    const download = await t.app.inject({ method: 'GET', url: `${s}/attachments/${a.attachment_id}` });
    bytes[a.attachment_id] = createHash('sha256').update(download.rawPayload).digest('hex');
  }
  return {
    session,
    state: await get(`${s}/state`),
    atVersion,
    catchUp,
    events,
    messages: await allPages(`${s}/messages?include_archived=true&limit=1000`, 'messages'),
    messagesMeta: await get(`${s}/messages/meta`),
    queue: await get(`${s}/queue`),
    attachments,
    bytes,
  };
}

/** A json session with all a session holds: checkpoints, deltas of both kinds, events, messages, queue, a turn, attachments. */
async function jsonSession(id: string, extra: Record<string, unknown> = {}): Promise<void> {
  await ok('POST', '/v1/sessions', { id, metadata: { name: id, tags: ['a', 'b'] }, retention: { max_events: 1000 }, ttl_ms: 86_400_000, ...extra });
  await ok('PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 2, snapshot: { v: 1, items: [], text: 'héllo ✓' } });
  for (let v = 2; v <= 8; v++) {
    const delta =
      v % 2 === 0
        ? { patch: [{ op: 'replace', path: '/v', value: v }, { op: 'add', path: '/items/-', value: { n: v, f: v / 3 } }] }
        : { merge_patch: { v, [`k${v}`]: null, last: `v${v}` } };
    await ok('POST', `/v1/sessions/${id}/deltas`, { base_version: v - 1, ...delta });
    await ok('POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: { v, nested: { deep: [1, 'two', null, true] } } }] });
  }
  await ok('POST', `/v1/sessions/${id}/messages`, {
    messages: [
      { role: 'system', kind: 'prompt', content: 'be brief' },
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: [{ type: 'text', text: 'hi' }] },
    ],
  });
  await ok('PUT', `/v1/sessions/${id}/messages/kinds/prompt`, { role: 'system', content: 'be briefer' });
  const batch = await ok('POST', `/v1/sessions/${id}/queue`, { items: [{ say: 'one' }] });
  await ok('POST', `/v1/sessions/${id}/queue`, { items: [{ say: 'two' }, 2] });
  await ok('POST', `/v1/sessions/${id}/queue`, { items: ['three'] });
  const claim = await ok('POST', `/v1/sessions/${id}/queue/claim`, { max_batches: 1, ttl_ms: 60_000 });
  expect(claim.batches[0].batch_id).toBe(batch.batch_id);
  const upload = await t.app.inject({
    method: 'POST',
    url: `/v1/sessions/${id}/attachments`,
    headers: { 'content-type': 'image/png' },
    payload: Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7 + id.length) % 256)),
  });
  expect(upload.statusCode).toBe(201);
  await ok('POST', `/v1/sessions/${id}/turns`, {
    turn_id: 'turn-1',
    base_version: 8,
    state: { merge_patch: { turn: true } },
    events: [{ type: 'tool.called', data: { name: 'grep' } }],
    messages: [{ role: 'assistant', content: 'done' }],
    complete_claims: [claim.claim_id],
    attachments: [upload.json().attachment_id],
    usage: [{ model: 'm', input_tokens: 10, output_tokens: 5, cost_usd: 0.125 }],
  });
  await ok('POST', `/v1/sessions/${id}/attachments`, 'a second, uncommitted attachment');
  // Held by a worker of this server when the file is written.
  await ok('POST', `/v1/sessions/${id}/queue/claim`, { max_batches: 1, ttl_ms: 60_000 });
  await ok('PATCH', `/v1/sessions/${id}`, { metadata: { renamed: true } });
}

async function binarySession(id: string): Promise<void> {
  await ok('POST', '/v1/sessions', { id, encoding: 'binary', metadata: { kind: 'crdt' } });
  // A snapshot larger than one chunk line.
  const big = Buffer.from(Array.from({ length: 150_000 }, (_, i) => (i * 13) % 251));
  await ok('PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot_base64: big.toString('base64') });
  for (let v = 2; v <= 4; v++) await ok('POST', `/v1/sessions/${id}/deltas`, { base_version: v - 1, delta_base64: Buffer.from([v, 0, 255]).toString('base64') });
  await ok('PUT', `/v1/sessions/${id}/state`, { base_version: 4, schema_version: 1, snapshot_base64: Buffer.from([9, 9, 9]).toString('base64') });
  await ok('POST', `/v1/sessions/${id}/deltas`, { base_version: 5, delta_base64: 'AQID' });
  await ok('POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 'bin' }] });
}

/** Export, delete, import: the copy answers every read as the original did. */
async function roundTrip(id: string): Promise<string> {
  const before = await readsOf(id);
  const file = await exportOf(id);
  expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`)).statusCode).toBe(204);
  const imported = await importFile(file);
  expect(imported.statusCode, imported.body).toBe(201);
  expect(imported.json().id).toBe(id);
  // The claim is the source's worker's: nobody holds its batches in the copy.
  const unclaimed = before.queue.batches.map((b: any) => (b.status === 'claimed' ? { ...b, status: 'pending' } : b));
  expect(await readsOf(id)).toEqual({ ...before, queue: { ...before.queue, batches: unclaimed } });
  // The sweeps (expiry, retention) look at the copy as at any session just written.
  const [due] = await t.database.db`
    select expiry_check_at is not distinct from (case when ttl_ms is not null then updated_at + ttl_ms * interval '1 millisecond' end) as expiry,
      trim_due_at <= now() as trim from sessions where id = ${id}`;
  expect(due).toEqual({ expiry: true, trim: true });
  return file;
}

describe('export and import', () => {
  it('round-trips a json session exactly: state at every version, events with their seqs, messages, queue, attachments, metadata', async () => {
    await jsonSession('rt-json');
    const file = await roundTrip('rt-json');
    const lines = file.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({ record: 'header', format: 'session-sync.export', format_version: 1 });
    expect(lines.at(-1)).toMatchObject({ record: 'end', counts: { events: expect.any(Number), messages: 5, queue_batches: 3, turns: 1, attachments: 2 } });
    // The first batch was completed by the turn; the second was claimed when the file was written, and is pending in the copy.
    expect(lines.filter((l) => l.record === 'queue_batch').map((l) => l.status)).toEqual(['completed', 'claimed', 'pending']);
    const queue = await get('/v1/sessions/rt-json/queue');
    expect(queue.batches.map((b: any) => b.status)).toEqual(['completed', 'pending', 'pending']);
    // A turn replays on the copy.
    const replay = await call(t.app, 'POST', '/v1/sessions/rt-json/turns', {
      turn_id: 'turn-1',
      base_version: 8,
      state: { merge_patch: { turn: true } },
      events: [{ type: 'tool.called', data: { name: 'grep' } }],
      messages: [{ role: 'assistant', content: 'done' }],
      complete_claims: [lines.find((l) => l.record === 'event' && l.type === 'queue.claimed').data.claim_id],
      attachments: [lines.find((l) => l.record === 'attachment' && l.committed).attachment_id],
      usage: [{ model: 'm', input_tokens: 10, output_tokens: 5, cost_usd: 0.125 }],
    });
    expect(replay.statusCode, replay.body).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
  });

  it('round-trips a binary session, its snapshot in chunks', async () => {
    await binarySession('rt-bin');
    const file = await roundTrip('rt-bin');
    expect(file.split('\n').filter((line) => line.includes('"record":"chunk"')).length).toBeGreaterThan(2);
  });

  it('round-trips a trimmed session (history_start > 0), json and binary', async () => {
    await jsonSession('rt-trim');
    const { history_start: start } = await ok('POST', '/v1/sessions/rt-trim/compact', { before_seq: 10 });
    expect(start).toBe(9);
    await roundTrip('rt-trim');
    expect((await get('/v1/sessions/rt-trim')).history_start).toBe(9);
    expectProblem(await call(t.app, 'GET', '/v1/sessions/rt-trim/events?after=3'), 410, 'cursor_expired');

    await binarySession('rt-bin-trim');
    const trimmed = await ok('POST', '/v1/sessions/rt-bin-trim/compact', { before_seq: 100 });
    expect(trimmed.history_start).toBeGreaterThan(0);
    await roundTrip('rt-bin-trim');
  });

  it('round-trips a fork: parent_id and forked_from', async () => {
    await jsonSession('rt-parent');
    await ok('POST', '/v1/sessions/rt-parent/fork', { id: 'rt-fork', at_version: 5 });
    await ok('POST', '/v1/sessions/rt-fork/deltas', { base_version: 1, merge_patch: { forked: true } });
    await roundTrip('rt-fork');
    expect(await get('/v1/sessions/rt-fork')).toMatchObject({ parent_id: 'rt-parent', forked_from: { session_id: 'rt-parent', version: 5 } });
  });

  it('leases do not move: the copy has none (a write needs no Lease-Token), and a lease on it is fenced above every one the original gave', async () => {
    const id = 'lease-src';
    await ok('POST', '/v1/sessions', { id });
    const first = await ok('POST', `/v1/sessions/${id}/lease`, { owner: 'w1', ttl_ms: 60_000 });
    const released = await t.app.inject({ method: 'DELETE', url: `/v1/sessions/${id}/lease`, headers: { 'lease-token': first.token } });
    expect(released.statusCode, released.body).toBeLessThan(300);
    const held = await ok('POST', `/v1/sessions/${id}/lease`, { owner: 'w2', ttl_ms: 60_000 });
    expect(held.fencing_token).toBeGreaterThan(first.fencing_token);
    expect((await get(`/v1/sessions/${id}`)).lease).toMatchObject({ owner: 'w2', fencing_token: held.fencing_token });

    const imported = await importFile(await exportOf(id), '?id=lease-copy');
    expect(imported.statusCode, imported.body).toBe(201);
    expect(imported.json().lease).toBeNull();
    expect((await get('/v1/sessions/lease-copy')).lease).toBeNull();
    // No lease is held on the copy: a worker write without a Lease-Token is taken (on the original it is 409 lease_held).
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 1 }] }), 409, 'lease_held');
    expect((await call(t.app, 'POST', '/v1/sessions/lease-copy/events', { events: [{ type: 'note', data: 1 }] })).statusCode).toBe(201);
    // The held lease's token is the original's only: on the copy it is no lease at all.
    const stale = await call(t.app, 'POST', '/v1/sessions/lease-copy/events', { events: [{ type: 'note', data: 2 }] }, { 'lease-token': held.token });
    expectProblem(stale, 409, 'lease_lost');
    // fencing_token grows with every claim of the session, across the move: a store fenced by the original's tokens
    // refuses the original's worker once the copy's worker has written.
    const moved = await ok('POST', '/v1/sessions/lease-copy/lease', { owner: 'w3', ttl_ms: 60_000 });
    expect(moved.fencing_token).toBeGreaterThan(held.fencing_token);
  });

  it('imports beside the original with ?id=: the same reads, with new message and batch ids', async () => {
    await jsonSession('orig');
    const file = await exportOf('orig');
    const imported = await importFile(file, '?id=orig-copy');
    expect(imported.statusCode, imported.body).toBe(201);
    expect(imported.headers.location).toBe('/v1/sessions/orig-copy');
    const strip = (reads: Awaited<ReturnType<typeof readsOf>>) => ({
      ...reads,
      messages: reads.messages.map(({ id: _id, ...m }: any) => m),
      queue: reads.queue.batches.map(({ batch_id: _b, ...b }: any) => b),
    });
    const original = strip(await readsOf('orig'));
    const copy = strip(await readsOf('orig-copy'));
    // The original's claim is still held there; nobody holds it in the copy.
    expect(original.queue.map((b: any) => b.status)).toEqual(['completed', 'claimed', 'pending']);
    expect(copy.queue.map((b: any) => b.status)).toEqual(['completed', 'pending', 'pending']);
    expect({ ...copy, queue: [] }).toEqual({ ...original, queue: [] });
    expect((await get('/v1/sessions/orig-copy')).id).toBe('orig-copy');
  });

  it('is 409 session_exists when the id is taken, and creates nothing', async () => {
    await jsonSession('taken');
    const file = await exportOf('taken');
    const before = await readsOf('taken');
    expectProblem(await importFile(file), 409, 'session_exists');
    expect(await readsOf('taken')).toEqual(before);
  });

  it('refuses a file cut short anywhere, or with a malformed line, naming the line; nothing is created', async () => {
    await jsonSession('cut');
    await binarySession('cut-bin');
    for (const id of ['cut', 'cut-bin']) {
      const file = await exportOf(id);
      const lines = file.split('\n');
      const count = lines.length - 1;
      // At each line boundary (the end record missing, or more), and in the middle of a line.
      for (const keep of [1, 2, 3, Math.floor(count / 2), count - 2, count - 1]) {
        const truncated = lines.slice(0, keep).join('\n') + '\n';
        const answer = expectProblem(await importFile(truncated, `?id=${id}-copy`), 400, 'invalid_import');
        expect(answer.line, `${id}: kept ${keep} lines: ${answer.detail}`).toBe(keep + 1);
        expect(answer.detail).toMatch(/cut short/);
        const halfLine = lines.slice(0, keep).join('\n') + '\n' + (lines[keep] ?? '').slice(0, 20);
        const half = expectProblem(await importFile(halfLine, `?id=${id}-copy`), 400, 'invalid_import');
        expect(half.line, `${id}: half of line ${keep + 1}: ${half.detail}`).toBe(keep + 1);
      }
      // A byte cut anywhere else.
      for (const at of [10, Math.floor(file.length / 3), file.length - 2]) {
        expectProblem(await importFile(file.slice(0, at), `?id=${id}-copy`), 400, 'invalid_import');
      }
      expect((await call(t.app, 'GET', `/v1/sessions/${id}-copy`)).statusCode).toBe(404);
    }
    const lines = (await exportOf('cut')).split('\n');
    const malformed = [...lines];
    malformed[7] = '{"record":"event","seq":';
    const problem = expectProblem(await importFile(malformed.join('\n'), '?id=cut-copy'), 400, 'invalid_import');
    expect(problem).toMatchObject({ line: 8 });
    const wrongField = [...lines];
    const event = JSON.parse(wrongField[8] ?? '');
    wrongField[8] = JSON.stringify({ ...event, seq: 'x' });
    expect(expectProblem(await importFile(wrongField.join('\n'), '?id=cut-copy'), 400, 'invalid_import').detail).toMatch(/line 9: .*seq/);
    const gap = lines.filter((_, i) => i !== 9);
    expect(expectProblem(await importFile(gap.join('\n'), '?id=cut-copy'), 400, 'invalid_import').detail).toMatch(/line 10: event seq/);
    // Attachment bytes that are not what their id (the SHA-256) says, and one over MAX_ATTACHMENT_BYTES.
    const at = lines.findIndex((line) => line.startsWith('{"record" : "attachment"'));
    const tampered = [...lines];
    const chunk = JSON.parse(tampered[at + 1] ?? '');
    const bytes = Buffer.from(chunk.data_base64, 'base64');
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    tampered[at + 1] = JSON.stringify({ record: 'chunk', data_base64: bytes.toString('base64') });
    expect(expectProblem(await importFile(tampered.join('\n'), '?id=cut-copy'), 400, 'invalid_import')).toMatchObject({ line: at + 1 });
    const huge = [...lines];
    huge[at] = JSON.stringify({ ...JSON.parse(huge[at] ?? ''), size: 64 * 1024 * 1024 });
    const over = expectProblem(await importFile(huge.join('\n'), '?id=cut-copy'), 400, 'invalid_import');
    expect(over).toMatchObject({ line: at + 1 });
    expect(over.detail).toMatch(/MAX_ATTACHMENT_BYTES/);
    // State events that do not rebuild the head.
    const broken = [...lines];
    const head = broken.findIndex((line) => line.startsWith('{"record" : "event"') && JSON.parse(line).version === 9);
    broken[head] = JSON.stringify({ ...JSON.parse(broken[head] ?? ''), data: { patch: [{ op: 'test', path: '/v', value: 'nope' }] } });
    const unreadable = expectProblem(await importFile(broken.join('\n'), '?id=cut-copy'), 400, 'invalid_import');
    expect(unreadable.line).toBe(lines.length - 1);
    expect(unreadable.detail).toMatch(/state at version 9 cannot be rebuilt/);
    expect((await call(t.app, 'GET', '/v1/sessions/cut-copy')).statusCode).toBe(404);
    const count = await t.database.db`select count(*)::int as n from messages m join sessions s on s.sid = m.session_sid where s.id = 'cut-copy'`;
    expect(count[0]?.n).toBe(0);
  });

  it('refuses another format or format version on line 1', async () => {
    const lines = (await exportOf('cut')).split('\n');
    const header = JSON.parse(lines[0] ?? '');
    for (const other of [{ ...header, format_version: 2 }, { ...header, format: 'something-else' }]) {
      const problem = expectProblem(await importFile([JSON.stringify(other), ...lines.slice(1)].join('\n'), '?id=v2'), 400, 'invalid_import');
      expect(problem).toMatchObject({ line: 1 });
      expect(problem.detail).toMatch(/not one this server reads/);
    }
    expectProblem(await importFile('', '?id=v2'), 400, 'invalid_import');
    expect((await call(t.app, 'GET', '/v1/sessions/v2')).statusCode).toBe(404);
  });

  it('the client streams an export from one server into an import: the changes feed hears of the new session at commit', async () => {
    await binarySession('via-client');
    const feed = await open(t, '/v1/changes');
    try {
      await feed.waitFor(() => feed.messages.length >= 1, 'sweep_required');
      const client = createClient({ baseUrl: t.baseUrl });
      const copy = await client.importSession(await client.exportSession('via-client'), { id: 'via-client-copy' });
      expect(copy).toMatchObject({ id: 'via-client-copy', encoding: 'binary', version: 6, last_seq: 7 });
      const mine = (event: string) => feed.ofType(event).filter((m) => m.json?.session_id === 'via-client-copy');
      await feed.waitFor(() => mine('session.created').length === 1, 'session.created');
      await feed.waitFor(() => mine('session.changed').some((m) => m.json.last_seq === 7), 'the hint naming the head');
    } finally {
      await feed.close();
    }
    const { updated_at: _a, expires_at: _b, id: _c, ...original } = await get('/v1/sessions/via-client');
    const { updated_at: _d, expires_at: _e, id: _f, ...copied } = await get('/v1/sessions/via-client-copy');
    expect(copied).toEqual(original);
    expect(await get('/v1/sessions/via-client-copy/state')).toEqual(await get('/v1/sessions/via-client/state'));
  });

  it('a reader that goes away halfway through an export frees its snapshot and connection', async () => {
    await ok('POST', '/v1/sessions', { id: 'walk-away' });
    for (let i = 0; i < 4; i++) {
      const upload = await t.app.inject({
        method: 'POST',
        url: '/v1/sessions/walk-away/attachments',
        headers: { 'content-type': 'application/octet-stream' },
        payload: Buffer.alloc(8 * 1024 * 1024, i),
      });
      expect(upload.statusCode).toBe(201);
    }
    const inTransaction = async () =>
      (await t.database.db`select count(*)::int as n from pg_stat_activity
        where datname = current_database() and state like 'idle in transaction%'`)[0]?.n;
    const connections = () => new Promise<number>((resolve) => t.app.server.getConnections((_error, n) => resolve(n)));
    const idle = await connections();
    const request = http.get(`${t.baseUrl}/v1/sessions/walk-away/export`);
    const response = await new Promise<http.IncomingMessage>((resolve) => request.on('response', resolve));
    request.on('error', () => {});
    expect(response.statusCode).toBe(200);
    // The export is held open in its snapshot while the reader does not read.
    await expect.poll(inTransaction, { timeout: 10_000 }).toBe(1);
    response.socket.destroy();
    await expect.poll(inTransaction, { timeout: 10_000 }).toBe(0);
    await expect.poll(connections, { timeout: 10_000 }).toBeLessThanOrEqual(idle);
    expect((await call(t.app, 'GET', '/v1/sessions/walk-away')).statusCode).toBe(200);
  });

  it('stored bytes found short (a chunk cut under the server) cut the connection of the export before its end record, so no file looks whole', async () => {
    const id = 'short-bytes';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const upload = await t.app.inject({
      method: 'POST',
      url: `/v1/sessions/${id}/attachments`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(3 * 65536, 1),
    });
    expect(upload.statusCode, upload.body).toBe(201);
    await t.database.db`
      update attachment_chunks set data = substring(data from 1 for 10) where n = 1 and blob_id in
        (select a.id from attachments a join sessions s on s.sid = a.session_sid where s.id = ${id})`;
    // The 200 and the lines before the attachment's are sent; then the connection is cut.
    await expect(t.app.inject({ method: 'GET', url: `/v1/sessions/${id}/export` })).rejects.toThrow('response destroyed before completion');
  });

  it('export is 404 for an unknown session', async () => {
    expectProblem(await call(t.app, 'GET', '/v1/sessions/nope/export'), 404, 'session_not_found');
  });
});

describe('access', () => {
  const bearer = async (grants: { sessions: string[]; read?: boolean; write?: boolean; admin?: boolean }) => ({
    authorization: `Bearer ${await mintToken(SECRET, { ...grants, ttlSeconds: 60 })}`,
  });

  it('export needs read on the session; import needs admin (403 for a writer)', async () => {
    const admin = await bearer({ sessions: ['*'], admin: true });
    const created = await auth.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...admin, 'content-type': 'application/json' }, payload: { id: 'team-a:1' } });
    expect(created.statusCode).toBe(201);
    const file = await exportOf('team-a:1', auth, await bearer({ sessions: ['team-a:*'], read: true }));
    expectProblem(await auth.app.inject({ method: 'GET', url: '/v1/sessions/team-a:1/export', headers: await bearer({ sessions: ['team-b:*'], read: true }) }), 403, 'forbidden');
    const writer = await bearer({ sessions: ['*'], read: true, write: true });
    expectProblem(await importFile(file, '?id=team-a:2', auth, writer), 403, 'forbidden');
    expect((await importFile(file, '?id=team-a:2', auth, admin)).statusCode).toBe(201);
  });
});

// An export holds one of MAX_TRANSFERS slots (its snapshot's connection) until its body ends. With one slot,
// one that kept it would turn every later export, upload and import into 503 too_many_transfers.
describe('an export gives its transfer slot back however it ends', () => {
  let one: TestApp;
  beforeAll(async () => {
    one = await createTestApp({ env: { MAX_TRANSFERS: '1', HISTORY_SWEEP_MS: '86400000' } });
  });
  afterAll(() => one.close());

  it('served in full, or refused for an unknown session: the next export is served', async () => {
    expect((await call(one.app, 'POST', '/v1/sessions', { id: 'export-slot' })).statusCode).toBe(201);
    for (const what of ['first', 'second']) {
      const res = await one.app.inject({ method: 'GET', url: '/v1/sessions/export-slot/export' });
      expect(res.statusCode, `${what}: ${res.body}`).toBe(200);
      expect(res.body).toContain('"export-slot"');
    }
    expectProblem(await one.app.inject({ method: 'GET', url: '/v1/sessions/export-none/export' }), 404, 'session_not_found');
    const after = await one.app.inject({ method: 'GET', url: '/v1/sessions/export-slot/export' });
    expect(after.statusCode, `after a refused export: ${after.body}`).toBe(200);
  });
});

// An export reads events in pages of at most 1 MiB of data, but an event may be larger (MAX_EVENT_BYTES up to
// MAX_BODY_BYTES): such an event comes alone on its page, so the export moves past it and carries it whole.
describe('an event larger than an export page', () => {
  let big: TestApp;
  beforeAll(async () => {
    big = await createTestApp({ env: { MAX_BODY_BYTES: '4194304', MAX_EVENT_BYTES: '2097152', HISTORY_SWEEP_MS: '86400000' } });
  });
  afterAll(() => big.close());

  it('is exported whole, with the events before and after it, and the copy reads the same', async () => {
    const id = 'export-big-event';
    expect((await call(big.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const large = 'x'.repeat(1_200_000);
    for (const events of [[{ type: 'small', data: { n: 1 } }], [{ type: 'large', data: { large } }], [{ type: 'small', data: { n: 3 } }]]) {
      const res = await call(big.app, 'POST', `/v1/sessions/${id}/events`, { events });
      expect(res.statusCode, res.body).toBe(201);
    }
    const file = await unlessStuck(exportOf(id, big), 'the export', 20_000);
    const events = file
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((record) => record.record === 'event');
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'small'],
      [2, 'large'],
      [3, 'small'],
    ]);
    expect(events[1].data.large).toBe(large);
    expect((await importFile(file, '?id=export-big-event-copy', big)).statusCode).toBe(201);
    // The large event comes alone on its page of GET .../events too.
    const copy = (await call(big.app, 'GET', '/v1/sessions/export-big-event-copy/events?after=1')).json();
    expect(copy.events.map((e: { seq: number; type: string }) => [e.seq, e.type])).toEqual([[2, 'large']]);
    expect(copy.events[0].data.large).toBe(large);
  });
});
