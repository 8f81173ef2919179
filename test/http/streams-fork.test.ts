import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

// Durable Streams forks (PROTOCOL §4.2): a fork is a session of its own whose history starts as a copy of the
// source's, same seqs; deleting a source with live forks is a soft delete until the last fork goes.
let t: TestApp;
/** The statements the app sends while a test records them (the one that counts a fork's reads of its source). */
let recorded: string[] | undefined;

beforeAll(async () => {
  t = await createTestApp({ logQuery: (query) => recorded?.push(query) });
  await t.listen();
});
afterAll(async () => {
  await t?.close();
});

const offset = (seq: number) => `0000000000000000_${String(seq).padStart(16, '0')}`;
const url = (path: string, query = '') => `${t.baseUrl}/v1/stream/${path}${query}`;

function ds(method: 'PUT' | 'POST' | 'GET' | 'HEAD' | 'DELETE', path: string, body?: string, headers: Record<string, string> = {}) {
  return t.app.inject({ method, url: `/v1/stream/${path}`, headers, ...(body === undefined ? {} : { payload: body }) });
}
const text = { 'content-type': 'text/plain' };
const fork = (path: string, source: string, headers: Record<string, string> = {}, body?: string) =>
  ds('PUT', path, body, { 'stream-forked-from': `/v1/stream/${source}`, ...headers });
async function source(path: string, ...chunks: string[]) {
  expect((await ds('PUT', path, undefined, text)).statusCode).toBe(201);
  for (const chunk of chunks) expect((await ds('POST', path, chunk, text)).statusCode).toBe(204);
}
const nativeEvents = async (id: string) =>
  (await call(t.app, 'GET', `/v1/sessions/${id}/events?after=0`)).json().events.map((e: { seq: number; type: string; data: unknown }) => [e.seq, e.type, e.data]);

describe('fork history', () => {
  it("the fork's offsets are the source's up to the fork point: the same events, seqs and data", async () => {
    await source('off-src', 'A', 'B', 'C');
    const created = await fork('off-fork', 'off-src', { 'stream-fork-offset': offset(2) });
    expect(created.statusCode).toBe(201);
    expect(created.headers['stream-next-offset']).toBe(offset(2));
    const src = await nativeEvents('off-src');
    expect(await nativeEvents('off-fork')).toEqual(src.slice(0, 2));
    // An offset the source gave reads the same on the fork, up to the fork point.
    const fromSource = await ds('GET', `off-src?offset=${offset(1)}`);
    const fromFork = await ds('GET', `off-fork?offset=${offset(1)}`);
    expect(fromFork.body).toBe('B');
    expect(fromSource.body.startsWith(fromFork.body)).toBe(true);
    // Past it, the fork's own appends take the next seqs.
    expect((await ds('POST', 'off-fork', 'x', text)).headers['stream-next-offset']).toBe(offset(3));
    expect((await ds('GET', `off-fork?offset=${offset(2)}`)).body).toBe('x');
    const view = (await call(t.app, 'GET', '/v1/sessions/off-fork')).json();
    expect(view.parent_id).toBe('off-src');
    expect(view.forked_from).toEqual({ session_id: 'off-src', seq: 2, sub_offset: 0 });
  });

  it('a sub-offset that cuts a chunk is one stream.bytes event holding the cut; whole chunks are copied', async () => {
    await source('cut-src', 'first', 'second');
    expect((await fork('cut-fork', 'cut-src', { 'stream-fork-offset': offset(0), 'stream-fork-sub-offset': '8' })).statusCode).toBe(201);
    const events = await nativeEvents('cut-fork');
    expect(events).toEqual([
      [1, 'stream.bytes', { base64: Buffer.from('first').toString('base64') }],
      [2, 'stream.bytes', { base64: Buffer.from('sec').toString('base64') }],
    ]);
    expect((await ds('GET', 'cut-fork?offset=-1')).body).toBe('firstsec');
    // The source's own second chunk is untouched.
    expect((await ds('GET', 'cut-src?offset=-1')).body).toBe('firstsecond');
  });

  it('a native SSE subscriber of the fork sees the copied history, then its own appends only', async () => {
    await ds('PUT', 'live-src', '[{"n":1},{"n":2}]', { 'content-type': 'application/json' });
    expect((await fork('live-fork', 'live-src')).statusCode).toBe(201);
    const sse = await SseClient.open(`${t.baseUrl}/v1/sessions/live-fork/stream`);
    try {
      await sse.waitForDurable(2);
      expect((await ds('POST', 'live-src', '{"n":"source"}', { 'content-type': 'application/json' })).statusCode).toBe(204);
      expect((await ds('POST', 'live-fork', '{"n":"fork"}', { 'content-type': 'application/json' })).statusCode).toBe(204);
      await sse.waitForDurable(3);
      // The fork's append comes after the source's: had the source's reached the fork, it would be here first.
      expect(sse.durable.map((m) => [m.id, m.json.data])).toEqual([
        ['1', { n: 1 }],
        ['2', { n: 2 }],
        ['3', { n: 'fork' }],
      ]);
    } finally {
      await sse.close();
    }
  });

  it('refuses: an unknown source 404, another content type 409, past the tail 400, a session with state 409 fork_has_state', async () => {
    await source('ref-src', 'a');
    expectProblem(await fork('ref-1', 'ref-missing'), 404, 'session_not_found');
    expectProblem(await fork('ref-2', 'ref-src', { 'content-type': 'application/json' }), 409, 'content_type_mismatch');
    const beyond = expectProblem(await fork('ref-3', 'ref-src', { 'stream-fork-offset': offset(2) }), 400, 'invalid_request');
    expect(beyond.detail).toBe(`Stream-Fork-Offset ${offset(2)} is beyond the tail of the source, ${offset(1)}`);
    expect(beyond.errors).toEqual([{ in: 'headers', field: '/stream-fork-offset', message: 'is beyond the tail of the source' }]);
    expectProblem(await fork('ref-4', 'ref-src', { 'stream-fork-offset': 'nope' }), 400, 'invalid_request');
    expectProblem(await ds('PUT', 'ref-5', undefined, { 'stream-forked-from': 'ref-src' }), 400, 'invalid_request');
    await createSession(t, 'ref-state');
    await call(t.app, 'PUT', '/v1/sessions/ref-state/state', { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
    expectProblem(await fork('ref-6', 'ref-state'), 409, 'fork_has_state');
    // A conversation without state refuses alike: a copy of events would not carry the messages.
    await createSession(t, 'ref-talk');
    expect((await call(t.app, 'POST', '/v1/sessions/ref-talk/messages', { messages: [{ role: 'user', content: 'hi' }] })).statusCode).toBe(201);
    expect((await call(t.app, 'GET', '/v1/sessions/ref-talk')).json().version).toBe(0);
    const talk = expectProblem(await fork('ref-7', 'ref-talk'), 409, 'fork_has_state');
    expect(talk.detail).toContain('POST /v1/sessions/{id}/fork');
    // Nothing was made under the refused paths.
    for (const path of ['ref-1', 'ref-2', 'ref-3', 'ref-4', 'ref-5', 'ref-6', 'ref-7']) expect((await ds('HEAD', path)).statusCode).toBe(404);
  });

  it('a source with trimmed history forks at or after where it starts; below it is 410 cursor_expired', async () => {
    await source('trim-src', 'A', 'B', 'C');
    const trimmed = await call(t.app, 'POST', '/v1/sessions/trim-src/compact', { before_seq: 3 });
    expect(trimmed.json().history_start).toBe(2);
    expectProblem(await fork('trim-1', 'trim-src', { 'stream-fork-offset': offset(1) }), 410, 'cursor_expired');
    // Exactly where the kept history starts is still a place to fork: a fork there is empty from that offset on.
    const atStart = await fork('trim-at', 'trim-src', { 'stream-fork-offset': offset(2) });
    expect(atStart.statusCode).toBe(201);
    expect(atStart.headers['stream-next-offset']).toBe(offset(2));
    const fromStart = await ds('GET', `trim-at?offset=${offset(2)}`);
    expect(fromStart.body).toBe('');
    expect(fromStart.headers['stream-up-to-date']).toBe('true');
    expect((await fork('trim-2', 'trim-src')).statusCode).toBe(201);
    expect((await ds('GET', `trim-2?offset=${offset(2)}`)).body).toBe('C');
    expectProblem(await ds('GET', 'trim-2?offset=-1'), 410, 'cursor_expired');
    expect((await call(t.app, 'GET', '/v1/sessions/trim-2')).json().history_start).toBe(2);
  });

  it('a native fork of a closed stream is an open native session: its state, not the stream (no content type, no closure)', async () => {
    await ds('PUT', 'nat-src', '{"n":1}', { 'content-type': 'application/json', 'stream-closed': 'true' });
    const forked = await call(t.app, 'POST', '/v1/sessions/nat-src/fork', { id: 'nat-fork' });
    expect(forked.statusCode).toBe(201);
    expect(forked.json().forked_from).toEqual({ session_id: 'nat-src', version: 0 });
    expect((await ds('POST', 'nat-fork', '{"n":2}', { 'content-type': 'application/json' })).statusCode).toBe(204);
    // A native fork does not hold its source: the source's DELETE is a plain one.
    expect((await ds('DELETE', 'nat-src')).statusCode).toBe(204);
    expect((await ds('HEAD', 'nat-src')).statusCode).toBe(404);
  });
});

describe('sub-offsets', () => {
  it('a sub-offset past the data is 400 naming how much follows, on a JSON and a byte stream', async () => {
    await ds('PUT', 'over-json', '[{"n":1},{"n":2}]', { 'content-type': 'application/json' });
    const json = expectProblem(await fork('over-json-fork', 'over-json', { 'stream-fork-offset': offset(0), 'stream-fork-sub-offset': '3' }), 400, 'invalid_request');
    expect(json.detail).toBe('Stream-Fork-Sub-Offset 3 is past the data after the fork offset: 2 messages follow it');
    expect(json.errors).toEqual([{ in: 'headers', field: '/stream-fork-sub-offset', message: 'is past the data after the fork offset' }]);
    await source('over-bytes', 'ab', 'c');
    const bytes = expectProblem(await fork('over-bytes-fork', 'over-bytes', { 'stream-fork-offset': offset(1), 'stream-fork-sub-offset': '2' }), 400, 'invalid_request');
    expect(bytes.detail).toBe('Stream-Fork-Sub-Offset 2 is past the data after the fork offset: 1 byte follows it');
    expect(bytes.errors).toEqual([{ in: 'headers', field: '/stream-fork-sub-offset', message: 'is past the data after the fork offset' }]);
    for (const path of ['over-json-fork', 'over-bytes-fork']) expect((await ds('HEAD', path)).statusCode).toBe(404);
  });

  it('a sub-offset reads the source only as far as the cut: one read for a cut in its first page, however much follows', async () => {
    const messages = Array.from({ length: 300 }, (_, n) => ({ n }));
    expect((await ds('PUT', 'read-src', JSON.stringify(messages), { 'content-type': 'application/json' })).statusCode).toBe(201);
    const statements: string[] = [];
    recorded = statements;
    const created = await fork('read-fork', 'read-src', { 'stream-fork-offset': offset(0), 'stream-fork-sub-offset': '2' });
    recorded = undefined;
    // The statement that reads a page of a session's events (events/statements.ts readEventPage).
    const pageReads = statements.filter((query) => query.includes('row_number() over w'));
    expect(created.statusCode).toBe(201);
    expect(created.headers['stream-next-offset']).toBe(offset(2));
    expect(pageReads).toHaveLength(1);
    expect((await ds('GET', 'read-fork?offset=-1')).json()).toEqual([{ n: 0 }, { n: 1 }]);
  });

  it('a byte sub-offset spanning pages of the source: the whole chunks before the cut, then the cut', async () => {
    // Three chunks of 100,000 bytes: a page of the source (bounded by bytes, about one MAX_EVENT_BYTES) holds
    // one or two, so a cut in the third reads more than one page.
    const chunks = ['a', 'b', 'c'].map((letter) => letter.repeat(100_000));
    await source('pages-src', ...chunks);
    const created = await fork('pages-fork', 'pages-src', { 'stream-fork-offset': offset(0), 'stream-fork-sub-offset': '250000' });
    expect(created.statusCode).toBe(201);
    expect(created.headers['stream-next-offset']).toBe(offset(3));
    const events = await nativeEvents('pages-fork');
    expect(events.map(([seq, type, data]: [number, string, { base64: string }]) => [seq, type, Buffer.from(data.base64, 'base64').toString()])).toEqual([
      [1, 'stream.bytes', chunks[0]],
      [2, 'stream.bytes', chunks[1]],
      [3, 'stream.bytes', 'c'.repeat(50_000)],
    ]);
  });
});

describe('the PUT of a fork: its body, closure and expiry', () => {
  it('a body is appended after what the fork inherits; a JSON [] appends nothing', async () => {
    await ds('PUT', 'body-src', '[{"n":1},{"n":2}]', { 'content-type': 'application/json' });
    const withBody = await fork('body-fork', 'body-src', { 'content-type': 'application/json' }, '[{"n":"own"}]');
    expect(withBody.statusCode).toBe(201);
    expect(withBody.headers['stream-next-offset']).toBe(offset(3));
    expect((await ds('GET', 'body-fork?offset=-1')).json()).toEqual([{ n: 1 }, { n: 2 }, { n: 'own' }]);
    const empty = await fork('body-empty', 'body-src', { 'content-type': 'application/json' }, '[]');
    expect(empty.statusCode).toBe(201);
    expect(empty.headers['stream-next-offset']).toBe(offset(2));
    expect((await ds('GET', 'body-empty?offset=-1')).json()).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('Stream-Closed: true makes the fork closed: its HEAD says so and an append is 409 session_closed', async () => {
    await source('closed-src', 'A');
    const created = await fork('closed-fork', 'closed-src', { 'stream-closed': 'true' }, 'last');
    expect(created.statusCode).toBe(201);
    expect(created.headers['stream-closed']).toBe('true');
    const head = await ds('HEAD', 'closed-fork');
    expect(head.headers['stream-closed']).toBe('true');
    expect(head.headers['stream-next-offset']).toBe(offset(2));
    expectProblem(await ds('POST', 'closed-fork', 'more', text), 409, 'session_closed');
    expect((await ds('GET', 'closed-fork?offset=-1')).body).toBe('Alast');
    // The source is not closed by it.
    expect((await ds('POST', 'closed-src', 'B', text)).statusCode).toBe(204);
  });

  it("without expiry headers the fork takes its source's; its own Stream-Expires-At or Stream-TTL stands instead", async () => {
    expect((await ds('PUT', 'exp-src', undefined, { ...text, 'stream-ttl': '3600' })).statusCode).toBe(201);
    expect((await fork('exp-inherit', 'exp-src')).statusCode).toBe(201);
    const inherited = await ds('HEAD', 'exp-inherit');
    expect(inherited.headers['stream-ttl']).toBe('3600');
    expect(inherited.headers['stream-expires-at']).toBeUndefined();
    const at = '2099-01-02T03:04:05.678Z';
    expect((await fork('exp-at', 'exp-src', { 'stream-expires-at': at })).statusCode).toBe(201);
    const fixed = await ds('HEAD', 'exp-at');
    expect(fixed.headers['stream-expires-at']).toBe(at);
    expect(fixed.headers['stream-ttl']).toBeUndefined();
    expect((await fork('exp-ttl', 'exp-src', { 'stream-ttl': '60' })).statusCode).toBe(201);
    expect((await ds('HEAD', 'exp-ttl')).headers['stream-ttl']).toBe('60');
    // A re-PUT compares the expiry it names, and only that.
    expect((await fork('exp-at', 'exp-src', { 'stream-expires-at': at })).statusCode).toBe(200);
    expect((await fork('exp-at', 'exp-src')).statusCode).toBe(200);
    const other = expectProblem(await fork('exp-at', 'exp-src', { 'stream-expires-at': '2099-01-02T03:04:06.000Z' }), 409, 'session_exists');
    expect(other.detail).toBe(`stream of session "exp-at" already exists, with Stream-Expires-At ${at} (this request asks for Stream-Expires-At 2099-01-02T03:04:06.000Z)`);
  });

  it('a fork past its expiry is absent: a PUT makes a new one in its place (201), and a refused one leaves the refusal', async () => {
    await source('dead-src', 'A', 'B');
    expect((await fork('dead-fork', 'dead-src', { 'stream-ttl': '0' })).statusCode).toBe(201);
    // The same PUT again, with no expiry this time: the expired fork does not answer for it.
    const again = await fork('dead-fork', 'dead-src', { 'stream-fork-offset': offset(1) });
    expect(again.statusCode).toBe(201);
    expect(again.headers.location).toMatch(/\/v1\/stream\/dead-fork$/);
    expect(again.headers['stream-next-offset']).toBe(offset(1));
    expect((await ds('GET', 'dead-fork?offset=-1')).body).toBe('A');
    // A stream past its expiry under the path: a fork refused for its source is told why, not about the dead stream.
    expect((await ds('PUT', 'dead-plain', undefined, { ...text, 'stream-ttl': '0' })).statusCode).toBe(201);
    const missing = expectProblem(await fork('dead-plain', 'dead-nowhere'), 404, 'session_not_found');
    expect(missing.detail).toContain('"dead-nowhere"');
    expectProblem(await fork('dead-plain', 'dead-src', { 'stream-fork-offset': offset(9) }), 400, 'invalid_request');
    expect((await fork('dead-plain', 'dead-src')).statusCode).toBe(201);
  });
});

describe('a PUT of a path that exists: 200 for the same fork, else 409 saying what differs', () => {
  it('the same source, offset, sub-offset, Content-Type (or none) and closure: 200', async () => {
    await source('same-src', 'A', 'B');
    const headers = { 'stream-fork-offset': offset(1), 'stream-fork-sub-offset': '1' };
    expect((await fork('same-fork', 'same-src', headers)).statusCode).toBe(201);
    for (const extra of [{}, text, { 'content-type': 'Text/Plain; charset=utf-8' }]) {
      const again = await fork('same-fork', 'same-src', { ...headers, ...extra });
      expect(again.statusCode).toBe(200);
      expect(again.headers.location).toBeUndefined();
      expect(again.headers['stream-next-offset']).toBe(offset(2));
    }
    expect((await fork('same-closed', 'same-src', { 'stream-closed': 'true' })).statusCode).toBe(201);
    expect((await fork('same-closed', 'same-src', { 'stream-closed': 'true' })).statusCode).toBe(200);
  });

  it('409 session_exists naming the difference', async () => {
    await source('diff-src', 'A', 'B');
    await source('diff-other', 'X');
    expect((await fork('diff-fork', 'diff-src', { 'stream-fork-offset': offset(1), 'stream-fork-sub-offset': '1' })).statusCode).toBe(201);
    const at = { 'stream-fork-offset': offset(1), 'stream-fork-sub-offset': '1' };
    const differs = async (path: string, from: string, headers: Record<string, string>) =>
      expectProblem(await fork(path, from, headers), 409, 'session_exists').detail;
    expect(await differs('diff-fork', 'diff-other', at)).toBe('stream of session "diff-fork" already exists, forked from "diff-src"');
    expect(await differs('diff-fork', 'diff-src', { ...at, 'stream-fork-offset': offset(0) })).toBe(
      `stream of session "diff-fork" already exists, forked at ${offset(1)}`,
    );
    expect(await differs('diff-fork', 'diff-src', { ...at, 'stream-fork-sub-offset': '0' })).toBe('stream of session "diff-fork" already exists, forked at sub-offset 1');
    expect(await differs('diff-fork', 'diff-src', { ...at, 'content-type': 'application/json' })).toBe(
      'stream of session "diff-fork" already exists, with Content-Type text/plain',
    );
    expect(await differs('diff-fork', 'diff-src', { ...at, 'stream-closed': 'true' })).toBe('stream of session "diff-fork" already exists, open');
    expect((await fork('diff-closed', 'diff-src', { 'stream-closed': 'true' })).statusCode).toBe(201);
    expect(await differs('diff-closed', 'diff-src', {})).toBe('stream of session "diff-closed" already exists, closed');
    // A stream that is not a fork, and a native fork of the same source (its forked_from has a version, not a seq).
    expect(await differs('diff-src', 'diff-other', {})).toBe('stream of session "diff-src" already exists, not a fork');
    expect((await call(t.app, 'POST', '/v1/sessions/diff-src/fork', { id: 'diff-native' })).statusCode).toBe(201);
    expect(await differs('diff-native', 'diff-src', {})).toBe('stream of session "diff-native" already exists, not a fork');
  });
});

describe('soft delete of a source with live forks', () => {
  it('410 on the stream face, 409 on PUT and fork; hidden from the native API; gone with its last fork', async () => {
    await source('soft-src', 'kept');
    expect((await fork('soft-fork', 'soft-src')).statusCode).toBe(201);
    expect((await ds('DELETE', 'soft-src')).statusCode).toBe(204);
    for (const method of ['GET', 'POST', 'DELETE'] as const) {
      expectProblem(await ds(method, 'soft-src', method === 'POST' ? 'x' : undefined, text), 410, 'session_deleted');
    }
    expect((await ds('HEAD', 'soft-src')).statusCode).toBe(410);
    expectProblem(await ds('PUT', 'soft-src', undefined, text), 409, 'session_deleted');
    expectProblem(await fork('soft-fork-2', 'soft-src'), 409, 'session_deleted');
    // A fork PUT to its path, of a live source, would bring it back too.
    const revived = expectProblem(await fork('soft-src', 'soft-fork'), 409, 'session_deleted');
    expect(revived.detail).toBe('session "soft-src" was deleted and forks of it still live: it cannot be created again or forked until they are deleted');
    // The native API does not see it (404), and its id stays taken (409) until its forks go.
    expectProblem(await call(t.app, 'GET', '/v1/sessions/soft-src'), 404, 'session_not_found');
    expectProblem(await call(t.app, 'POST', '/v1/sessions/soft-src/events', { events: [{ type: 'x.y', data: 1 }] }), 404, 'session_not_found');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/soft-src/export'), 404, 'session_not_found');
    expectProblem(await call(t.app, 'POST', '/v1/sessions', { id: 'soft-src' }), 409, 'session_exists');
    const listed = (await call(t.app, 'GET', '/v1/sessions?parent_id=soft-src')).json();
    expect(listed.sessions.map((s: { id: string }) => s.id)).toEqual(['soft-fork']);
    expect((await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions.map((s: { id: string }) => s.id)).not.toContain('soft-src');
    expect((await ds('GET', 'soft-fork?offset=-1')).body).toBe('kept');
    // A native DELETE of the fork releases the source as the stream DELETE does.
    expect((await call(t.app, 'DELETE', '/v1/sessions/soft-fork')).statusCode).toBe(204);
    expect((await ds('HEAD', 'soft-src')).statusCode).toBe(404);
    expect((await ds('PUT', 'soft-src', undefined, text)).statusCode).toBe(201);
  });

  it('a soft delete ends the source\'s open readers; a deleted chain goes when its last fork goes', async () => {
    await source('chain-0', 'A');
    await fork('chain-1', 'chain-0');
    await fork('chain-2', 'chain-1');
    const reader = await SseClient.open(url('chain-0', '?live=sse&offset=-1'));
    await reader.waitFor(() => reader.messages.some((m) => m.event === 'control'), 'the first control');
    expect((await ds('DELETE', 'chain-0')).statusCode).toBe(204);
    await reader.waitForEnd();
    expect((await ds('DELETE', 'chain-1')).statusCode).toBe(204);
    expect((await ds('HEAD', 'chain-1')).statusCode).toBe(410);
    expect((await ds('DELETE', 'chain-2')).statusCode).toBe(204);
    for (const path of ['chain-0', 'chain-1', 'chain-2']) expect((await ds('HEAD', path)).statusCode).toBe(404);
  });

  it('deleting a fork and its source at once, from two requests: no deadlock, both go', async () => {
    for (let round = 0; round < 8; round++) {
      await source(`race-src-${round}`, 'data');
      await fork(`race-fork-${round}`, `race-src-${round}`);
      const [a, b] = await Promise.all([
        fetch(url(`race-src-${round}`), { method: 'DELETE' }),
        fetch(url(`race-fork-${round}`), { method: 'DELETE' }),
      ]);
      expect([a.status, b.status]).toEqual([204, 204]);
      expect((await ds('HEAD', `race-src-${round}`)).statusCode).toBe(404);
      expect((await ds('HEAD', `race-fork-${round}`)).statusCode).toBe(404);
    }
  });

  it('a native DELETE of a source (a plain delete: its forks hold copies) and a DELETE of its fork at once: no deadlock', async () => {
    for (let round = 0; round < 8; round++) {
      await source(`nd-src-${round}`, 'data');
      await fork(`nd-fork-${round}`, `nd-src-${round}`);
      const [a, b] = await Promise.all([
        fetch(`${t.baseUrl}/v1/sessions/nd-src-${round}`, { method: 'DELETE' }),
        fetch(url(`nd-fork-${round}`), { method: 'DELETE' }),
      ]);
      expect([a.status, b.status]).toEqual([204, 204]);
      expect((await ds('HEAD', `nd-src-${round}`)).statusCode).toBe(404);
    }
  });

  it('forking and deleting the source at once: the fork is made and the source soft-deleted, or the fork is 404', async () => {
    for (let round = 0; round < 8; round++) {
      await source(`fd-src-${round}`, 'data');
      const [made, deleted] = await Promise.all([
        fetch(url(`fd-fork-${round}`), { method: 'PUT', headers: { 'stream-forked-from': `/v1/stream/fd-src-${round}` } }),
        fetch(url(`fd-src-${round}`), { method: 'DELETE' }),
      ]);
      expect(deleted.status).toBe(204);
      const sourceHead = (await ds('HEAD', `fd-src-${round}`)).statusCode;
      if (made.status === 201) {
        expect(sourceHead).toBe(410);
        expect((await ds('GET', `fd-fork-${round}?offset=-1`)).body).toBe('data');
      } else {
        expect(made.status).toBe(404);
        expect(sourceHead).toBe(404);
      }
    }
  });
});
