import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';
import { metric } from '../helpers/metrics.js';

// The Durable Streams face (issue 28, slice 1): /v1/stream/<path> is a session; its messages are durable events.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { CORS_ORIGINS: 'https://dash.example.com' } });
});
afterAll(async () => {
  await t?.close();
});

const ZERO = '0000000000000000_0000000000000000';
const offset = (seq: number) => `0000000000000000_${String(seq).padStart(16, '0')}`;

function ds(method: 'PUT' | 'POST' | 'GET' | 'HEAD' | 'DELETE', path: string, body?: string | Buffer, headers: Record<string, string> = {}) {
  return t.app.inject({ method, url: `/v1/stream/${path}`, headers, ...(body === undefined ? {} : { payload: body }) });
}
const put = (path: string, body?: string, headers: Record<string, string> = {}) => ds('PUT', path, body, headers);
const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) => ds('POST', path, body, headers);
const read = (path: string, query = '', headers: Record<string, string> = {}) => ds('GET', `${path}${query}`, undefined, headers);
/** Bytes of ROWS_MEMORY_BYTES held by pages read for clients and not yet taken by them. */
const rowsMemory = () => metric(t.app, 'session_sync_rows_memory_bytes');

describe('create (PUT)', () => {
  it('201 with Location and the tail offset; 200 when the config matches; 409 when it differs', async () => {
    const created = await put('create-1', undefined, { 'content-type': 'text/plain' });
    expect(created.statusCode).toBe(201);
    expect(created.headers.location).toMatch(/\/v1\/stream\/create-1$/);
    expect(created.headers['stream-next-offset']).toBe(ZERO);
    expect(created.headers['x-content-type-options']).toBe('nosniff');
    // Case and parameters do not make another type.
    const again = await put('create-1', undefined, { 'content-type': 'TEXT/Plain; charset=utf-8' });
    expect(again.statusCode).toBe(200);
    expect(again.headers.location).toBeUndefined();
    // The 409 says what differs: the Content-Type the stream has, or its closure.
    const otherType = expectProblem(await put('create-1', undefined, { 'content-type': 'application/json' }), 409, 'session_exists');
    expect(otherType.detail).toBe('stream of session "create-1" already exists, with Content-Type text/plain');
    const closed = expectProblem(await put('create-1', undefined, { 'content-type': 'text/plain', 'stream-closed': 'true' }), 409, 'session_exists');
    expect(closed.detail).toBe('stream of session "create-1" already exists, open');
  });

  it('defaults to application/octet-stream, and keeps the initial body as the first message', async () => {
    expect((await put('create-2', 'first')).statusCode).toBe(201);
    const head = await ds('HEAD', 'create-2');
    expect(head.headers['content-type']).toBe('application/octet-stream');
    expect(head.headers['stream-next-offset']).toBe(offset(1));
    expect((await read('create-2', '?offset=-1')).body).toBe('first');
  });

  it('a JSON [] body creates an empty stream; Stream-Closed: true creates it closed', async () => {
    expect((await put('create-3', '[]', { 'content-type': 'application/json' })).statusCode).toBe(201);
    const empty = await read('create-3');
    expect(empty.body).toBe('[]');
    expect(empty.headers['stream-next-offset']).toBe(ZERO);
    const closed = await put('create-4', '{"last":true}', { 'content-type': 'application/json', 'stream-closed': 'true' });
    expect(closed.statusCode).toBe(201);
    expect(closed.headers['stream-closed']).toBe('true');
    const all = await read('create-4', '?offset=-1');
    expect(all.json()).toEqual([{ last: true }]);
    expect(all.headers['stream-closed']).toBe('true');
    // A PUT again must ask for the closure it has: the 409 says which.
    const open = expectProblem(await put('create-4', undefined, { 'content-type': 'application/json' }), 409, 'session_exists');
    expect(open.detail).toBe('stream of session "create-4" already exists, closed');
    expect((await put('create-4', undefined, { 'content-type': 'application/json', 'stream-closed': 'true' })).statusCode).toBe(200);
  });

  it('a folder path is a session id with :, readable through the native API', async () => {
    expect((await put('team-a/chat-1', '{"n":1}', { 'content-type': 'application/json' })).statusCode).toBe(201);
    const session = await call(t.app, 'GET', '/v1/sessions/team-a:chat-1');
    expect(session.statusCode).toBe(200);
    expect(session.json().last_seq).toBe(1);
  });

  it('refuses a path that cannot name a session, with invalid_stream_path', async () => {
    // (A `..` segment is refused too, see test/unit/stream-paths.test.ts; inject resolves it before routing.)
    for (const path of ['a:b', 'a%2Fb', 'a//b', '-x', '__ds/jwks.json']) {
      const problem = expectProblem(await put(path), 400, 'invalid_stream_path');
      expect(problem.detail).toContain('stream path');
    }
  });
});

describe('append (POST)', () => {
  it('JSON: an array is flattened one level into messages, each a stream.message event', async () => {
    await put('json-1', undefined, { 'content-type': 'application/json' });
    const appended = await post('json-1', '[{"a":1},[2,3]]', { 'content-type': 'application/json' });
    expect(appended.statusCode).toBe(204);
    expect(appended.headers['stream-next-offset']).toBe(offset(2));
    await post('json-1', '"x"', { 'content-type': 'application/json; charset=utf-8' });
    expect((await read('json-1', '?offset=-1')).json()).toEqual([{ a: 1 }, [2, 3], 'x']);
    const events = (await call(t.app, 'GET', '/v1/sessions/json-1/events')).json().events;
    expect(events.map((e: { type: string; data: unknown }) => [e.type, e.data])).toEqual([
      ['stream.message', { a: 1 }],
      ['stream.message', [2, 3]],
      ['stream.message', 'x'],
    ]);
  });

  it('JSON: [] , invalid JSON, an empty body and a missing Content-Type are 400; another type is 409', async () => {
    await put('json-2', undefined, { 'content-type': 'application/json' });
    const empty = expectProblem(await post('json-2', '[]', { 'content-type': 'application/json' }), 400, 'invalid_request');
    expect(empty.detail).toBe('an empty JSON array appends nothing: send at least one message');
    expect(empty.errors).toEqual([{ in: 'body', field: '', message: 'is an empty array' }]);
    expectProblem(await post('json-2', '{"a":', { 'content-type': 'application/json' }), 400, 'invalid_request');
    expectProblem(await post('json-2', '', { 'content-type': 'application/json' }), 400, 'invalid_request');
    expectProblem(await post('json-2', '{"a":1}'), 400, 'invalid_request');
    expectProblem(await post('json-2', 'text', { 'content-type': 'text/plain' }), 409, 'content_type_mismatch');
    expect((await read('json-2')).body).toBe('[]');
  });

  it('JSON: one append holds at most MAX_BATCH_EVENTS messages, as a native batch (413, nothing appended)', async () => {
    await put('json-3', undefined, { 'content-type': 'application/json' });
    const tooMany = JSON.stringify(Array.from({ length: t.config.limits.maxBatchEvents + 1 }, (_, i) => i));
    expectProblem(await post('json-3', tooMany, { 'content-type': 'application/json' }), 413, 'payload_too_large');
    expect((await read('json-3')).body).toBe('[]');
  });

  it('a message over MAX_EVENT_BYTES is 413 naming which: the message, a message of an array by index, a byte body as base64', async () => {
    const small = await createTestApp({ databaseUrl: t.url, env: { MAX_EVENT_BYTES: String(1024) } });
    try {
      const smallPost = (path: string, body: string | Buffer, type: string) =>
        small.app.inject({ method: 'POST', url: `/v1/stream/${path}`, headers: { 'content-type': type }, payload: body });
      await put('big-1', undefined, { 'content-type': 'application/json' });
      const one = JSON.stringify('x'.repeat(1100));
      const single = expectProblem(await smallPost('big-1', one, 'application/json'), 413, 'payload_too_large');
      expect(single.detail).toBe('the message is 1102 bytes; it may hold 1024 (MAX_EVENT_BYTES)');
      const inArray = expectProblem(await smallPost('big-1', `[1,${one}]`, 'application/json'), 413, 'payload_too_large');
      expect(inArray.detail).toBe('message 1 is 1102 bytes; it may hold 1024 (MAX_EVENT_BYTES)');
      await put('big-2', undefined, { 'content-type': 'application/octet-stream' });
      // {"base64":"..."}: 1,000 bytes are 1,336 characters of base64, 1,349 with the JSON around them.
      const bytes = expectProblem(await smallPost('big-2', Buffer.alloc(1000, 7), 'application/octet-stream'), 413, 'payload_too_large');
      expect(bytes.detail).toBe('the body (as base64) is 1349 bytes; it may hold 1024 (MAX_EVENT_BYTES)');
      expect((await read('big-1')).body).toBe('[]');
      expect((await read('big-2')).body).toBe('');
    } finally {
      await small.close();
    }
  });

  it('bytes: each append is one event and the body reads back byte for byte', async () => {
    await put('bytes-1', undefined, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    await post('bytes-1', chunk, { 'content-type': 'application/octet-stream' });
    await post('bytes-1', Buffer.from('tail'), { 'content-type': 'application/octet-stream' });
    const all = await read('bytes-1', '?offset=-1');
    expect(all.rawPayload.equals(Buffer.concat([chunk, Buffer.from('tail')]))).toBe(true);
    // Reading on from an offset the first read did not reach gives the rest.
    expect((await read('bytes-1', `?offset=${offset(1)}`)).body).toBe('tail');
  });

  it('Stream-Seq must rise byte-wise, else 409 and nothing is appended', async () => {
    await put('seq-1', undefined, { 'content-type': 'text/plain' });
    expect((await post('seq-1', 'a', { 'content-type': 'text/plain', 'stream-seq': '09' })).statusCode).toBe(204);
    expect((await post('seq-1', 'b', { 'content-type': 'text/plain', 'stream-seq': '10' })).statusCode).toBe(204);
    expectProblem(await post('seq-1', 'c', { 'content-type': 'text/plain', 'stream-seq': '10' }), 409, 'stream_seq_conflict');
    // Byte-wise, not numeric: "1" is below "10", "2" above it.
    expectProblem(await post('seq-1', 'c', { 'content-type': 'text/plain', 'stream-seq': '1' }), 409, 'stream_seq_conflict');
    expect((await post('seq-1', 'c', { 'content-type': 'text/plain', 'stream-seq': '2' })).statusCode).toBe(204);
    expect((await read('seq-1', '?offset=-1')).body).toBe('abc');
  });

  it('Stream-Closed: true closes, with a final body or without; then appends are 409 with Stream-Closed and the tail', async () => {
    await put('close-1', undefined, { 'content-type': 'text/plain' });
    const last = await post('close-1', 'bye', { 'content-type': 'text/plain', 'stream-closed': 'true' });
    expect(last.statusCode).toBe(204);
    expect(last.headers['stream-closed']).toBe('true');
    const refused = await post('close-1', 'more', { 'content-type': 'text/plain' });
    expectProblem(refused, 409, 'session_closed');
    expect(refused.headers['stream-closed']).toBe('true');
    expect(refused.headers['stream-next-offset']).toBe(offset(1));
    // Closing again is idempotent.
    const again = await post('close-1', '', { 'stream-closed': 'true' });
    expect(again.statusCode).toBe(204);
    expect(again.headers['stream-closed']).toBe('true');
    const head = await ds('HEAD', 'close-1');
    expect(head.headers['stream-closed']).toBe('true');
    expect(head.headers['cache-control']).toBe('no-store');

    await put('close-2', 'x', { 'content-type': 'text/plain' });
    const closeOnly = await post('close-2', '', { 'stream-closed': 'true' });
    expect(closeOnly.statusCode).toBe(204);
    expect(closeOnly.headers['stream-next-offset']).toBe(offset(1));
  });

  it('on a closed stream a close carrying data is an append (409 Stream-Closed, nothing stored); a close without data stays 204', async () => {
    await put('close-4', undefined, { 'content-type': 'text/plain' });
    expect((await post('close-4', 'bye', { 'content-type': 'text/plain', 'stream-closed': 'true' })).statusCode).toBe(204);

    const late = await post('close-4', 'late', { 'content-type': 'text/plain', 'stream-closed': 'true' });
    expect(late.statusCode, 'a close with data on a closed stream').toBe(409);
    expectProblem(late, 409, 'session_closed');
    expect(late.headers['stream-closed']).toBe('true');
    expect(late.headers['stream-next-offset']).toBe(offset(1));
    // Nothing of it stored: the same bytes, the same tail.
    expect((await read('close-4', '?offset=-1')).body).toBe('bye');
    expect((await ds('HEAD', 'close-4')).headers['stream-next-offset']).toBe(offset(1));

    // Closing again without data is the idempotent no-op: 204, closed, at the unchanged tail.
    const again = await post('close-4', '', { 'stream-closed': 'true' });
    expect(again.statusCode).toBe(204);
    expect(again.headers['stream-closed']).toBe('true');
    expect(again.headers['stream-next-offset']).toBe(offset(1));
    expect((await read('close-4', '?offset=-1')).body).toBe('bye');
  });

  it('only the value true closes (in any case); Stream-Closed: false or another word appends and leaves the stream open', async () => {
    await put('close-3', undefined, { 'content-type': 'text/plain' });
    for (const value of ['false', 'yes', '1']) {
      const appended = await post('close-3', value, { 'content-type': 'text/plain', 'stream-closed': value });
      expect(appended.statusCode, value).toBe(204);
      expect(appended.headers['stream-closed'], value).toBeUndefined();
    }
    expect((await ds('HEAD', 'close-3')).headers['stream-closed']).toBeUndefined();
    expect((await read('close-3', '?offset=-1')).body).toBe('falseyes1');
    const closed = await post('close-3', '', { 'stream-closed': 'TRUE' });
    expect(closed.headers['stream-closed']).toBe('true');
  });

  it('404 for a stream that does not exist', async () => {
    expectProblem(await post('missing-1', 'x', { 'content-type': 'text/plain' }), 404, 'session_not_found');
    // A HEAD answer has no body: only its status.
    expect((await ds('HEAD', 'missing-1')).statusCode).toBe(404);
    expectProblem(await read('missing-1'), 404, 'session_not_found');
    expectProblem(await ds('DELETE', 'missing-1'), 404, 'session_not_found');
  });
});

describe('one store, two faces', () => {
  it('a native SSE subscriber of the session sees what a stream append wrote', async () => {
    await put('both-1', undefined, { 'content-type': 'application/json' });
    const base = await t.listen();
    const sse = await SseClient.open(`${base}/v1/sessions/both-1/stream`);
    try {
      await post('both-1', '[{"n":1},{"n":2}]', { 'content-type': 'application/json' });
      await sse.waitForDurable(2);
      expect(sse.durable.map((m) => [m.event, m.json.data])).toEqual([
        ['stream.message', { n: 1 }],
        ['stream.message', { n: 2 }],
      ]);
    } finally {
      await sse.close();
    }
  });

  it('a stream reader sees native typed events as {type, data}; a native session reads as JSON', async () => {
    await createSession(t, 'native-1');
    await call(t.app, 'POST', '/v1/sessions/native-1/events', { events: [{ type: 'tool.call', data: { name: 'grep' } }] });
    const head = await ds('HEAD', 'native-1');
    expect(head.headers['content-type']).toBe('application/json');
    expect((await read('native-1', '?offset=-1')).json()).toEqual([{ type: 'tool.call', data: { name: 'grep' } }]);
  });

  it('a byte stream reader sees a native event as its JSON line, between the bytes around it', async () => {
    await put('both-bytes', 'before|', { 'content-type': 'text/plain' });
    const native = await call(t.app, 'POST', '/v1/sessions/both-bytes/events', { events: [{ type: 'tool.call', data: { name: 'grep' } }] });
    expect(native.statusCode, native.body).toBe(201);
    await post('both-bytes', 'after', { 'content-type': 'text/plain' });
    expect((await read('both-bytes', '?offset=-1')).body).toBe('before|{"type":"tool.call","data":{"name":"grep"}}\nafter');
  });

  it('native writes to a closed session are 409 session_closed: events, state, messages', async () => {
    await createSession(t, 'native-closed');
    expect((await post('native-closed', '', { 'stream-closed': 'true' })).statusCode).toBe(204);
    const events = await call(t.app, 'POST', '/v1/sessions/native-closed/events', { events: [{ type: 'x.y', data: 1 }] });
    expectProblem(events, 409, 'session_closed');
    expectProblem(await call(t.app, 'PUT', '/v1/sessions/native-closed/state', { base_version: 0, schema_version: 1, snapshot: { n: 0 } }), 409, 'session_closed');
    expectProblem(
      await call(t.app, 'POST', '/v1/sessions/native-closed/messages', { messages: [{ role: 'user', content: 'hi' }] }),
      409,
      'session_closed',
    );
    // Reads still work, and the history did not move.
    expect((await call(t.app, 'GET', '/v1/sessions/native-closed')).json().last_seq).toBe(0);
  });

  it('a lease that runs when the session is closed still ends on the record (the sweep appends after close)', async () => {
    await createSession(t, 'closed-lease');
    expect((await call(t.app, 'POST', '/v1/sessions/closed-lease/lease', { owner: 'w', ttl_ms: 150 })).statusCode).toBe(201);
    expect((await post('closed-lease', '', { 'stream-closed': 'true' })).statusCode).toBe(204);
    const types = async () => (await call(t.app, 'GET', '/v1/sessions/closed-lease/events')).json().events.map((e: { type: string }) => e.type);
    await expect.poll(types, { timeout: 10_000 }).toEqual(['lease.acquired', 'lease.expired']);
  });

  it('the stream. event type prefix is the server\'s', async () => {
    await createSession(t, 'reserved-1');
    const res = await call(t.app, 'POST', '/v1/sessions/reserved-1/events', { events: [{ type: 'stream.message', data: 1 }] });
    expectProblem(res, 400, 'reserved_event_type');
  });
});

describe('catch-up read (GET)', () => {
  it('offset -1, an offset, now; Stream-Up-To-Date only at the tail; 400 past the tail or malformed', async () => {
    await put('read-1', '[1,2,3]', { 'content-type': 'application/json' });
    const all = await read('read-1', '?offset=-1');
    expect(all.json()).toEqual([1, 2, 3]);
    expect(all.headers['stream-up-to-date']).toBe('true');
    expect(all.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect((await read('read-1', `?offset=${offset(2)}`)).json()).toEqual([3]);
    const now = await read('read-1', '?offset=now');
    expect(now.json()).toEqual([]);
    expect(now.headers['stream-next-offset']).toBe(offset(3));
    expect(now.headers['cache-control']).toContain('no-store');
    expectProblem(await read('read-1', `?offset=${offset(4)}`), 400, 'invalid_request');
    expectProblem(await read('read-1', '?offset='), 400, 'invalid_request');
    expectProblem(await read('read-1', '?offset=-1&offset=-1'), 400, 'invalid_request');
    expectProblem(await read('read-1', '?offset=abc'), 400, 'invalid_request');
    // Of the offset's shape but not one this server gives (another server's, or a fork's of another epoch): its
    // second half is not a position here.
    expectProblem(await read('read-1', `?offset=0000000000000001_${offset(1).split('_')[1]}`), 400, 'invalid_request');
  });

  it('pages by bytes: following Stream-Next-Offset reaches the tail with every byte once', async () => {
    await put('page-1', undefined, { 'content-type': 'application/octet-stream' });
    const chunks = [0, 1, 2, 3].map((i) => Buffer.alloc(100 * 1024, i));
    for (const chunk of chunks) await post('page-1', chunk, { 'content-type': 'application/octet-stream' });
    const small = await createTestApp({ databaseUrl: t.url, env: { EVENTS_PAGE_BYTES: String(16 * 1024) } });
    try {
      const got: Buffer[] = [];
      let at = '-1';
      let pages = 0;
      for (;;) {
        const res = await small.app.inject({ method: 'GET', url: `/v1/stream/page-1?offset=${at}` });
        expect(res.statusCode).toBe(200);
        got.push(res.rawPayload);
        pages++;
        at = res.headers['stream-next-offset'] as string;
        if (res.headers['stream-up-to-date'] === 'true') break;
      }
      expect(pages).toBeGreaterThan(1);
      expect(Buffer.concat(got).equals(Buffer.concat(chunks))).toBe(true);
    } finally {
      await small.close();
    }
  });

  /** Every page of `path` from the start, read through an app with the smallest pages (one holds at least one event of MAX_EVENT_BYTES). */
  async function pagesOf(path: string, query = '') {
    const small = await createTestApp({ databaseUrl: t.url, env: { EVENTS_PAGE_BYTES: String(16 * 1024) } });
    try {
      const pages = [];
      for (let at = '-1'; ; ) {
        const res = await small.app.inject({ method: 'GET', url: `/v1/stream/${path}?offset=${at}${query}` });
        expect(res.statusCode).toBe(200);
        pages.push(res);
        at = res.headers['stream-next-offset'] as string;
        if (res.headers['stream-up-to-date'] === 'true') return pages;
      }
    } finally {
      await small.close();
    }
  }

  it('a closed stream says Stream-Closed on its tail page only, so a reader reads every page before it stops', async () => {
    await put('closed-pages', undefined, { 'content-type': 'application/octet-stream' });
    for (const i of [0, 1, 2, 3]) await post('closed-pages', Buffer.alloc(100 * 1024, i), { 'content-type': 'application/octet-stream' });
    await post('closed-pages', '', { 'stream-closed': 'true' });
    const pages = await pagesOf('closed-pages');
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages.slice(0, -1)) expect(page.headers['stream-closed']).toBeUndefined();
    expect(pages.at(-1)!.headers['stream-closed']).toBe('true');
    expect(Buffer.concat(pages.map((page) => page.rawPayload)).length).toBe(4 * 100 * 1024);
  });

  it('a long-poll through a closed stream: each page before the tail has a Stream-Cursor and no Stream-Closed, the tail the reverse', async () => {
    await put('closed-poll', undefined, { 'content-type': 'application/octet-stream' });
    for (const i of [0, 1, 2, 3]) await post('closed-poll', Buffer.alloc(100 * 1024, i), { 'content-type': 'application/octet-stream' });
    await post('closed-poll', '', { 'stream-closed': 'true' });
    const pages = await pagesOf('closed-poll', '&live=long-poll');
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages.slice(0, -1)) {
      expect(page.headers['stream-closed']).toBeUndefined();
      expect(page.headers['stream-cursor']).toMatch(/^\d+$/);
    }
    const tail = pages.at(-1)!;
    expect(tail.headers['stream-closed']).toBe('true');
    // Nothing follows the end of a closed stream, so there is no cursor to come back with.
    expect(tail.headers['stream-cursor']).toBeUndefined();
    expect(Buffer.concat(pages.map((page) => page.rawPayload)).length).toBe(4 * 100 * 1024);
  });

  it('a history page may be cached a while; the tail page must be revalidated, so a new append is seen at once', async () => {
    await put('cache-pages', undefined, { 'content-type': 'application/octet-stream' });
    for (const i of [0, 1, 2, 3]) await post('cache-pages', Buffer.alloc(100 * 1024, i), { 'content-type': 'application/octet-stream' });
    const pages = await pagesOf('cache-pages');
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages.slice(0, -1)) expect(page.headers['cache-control']).toBe('private, max-age=60, stale-while-revalidate=300');
    expect(pages.at(-1)!.headers['cache-control']).toBe('no-cache');
  });

  it('ETag and If-None-Match: 304 while nothing changed, 200 after an append or a close', async () => {
    await put('etag-1', 'a', { 'content-type': 'text/plain' });
    const first = await read('etag-1', '?offset=-1');
    const etag = first.headers.etag as string;
    expect(etag).toBeTruthy();
    const memoryBefore = await rowsMemory();
    const same = await read('etag-1', '?offset=-1', { 'if-none-match': etag });
    expect(same.statusCode).toBe(304);
    expect(same.body).toBe('');
    // The page read to compare the tag is not sent: its reservation of ROWS_MEMORY_BYTES is given back with the 304.
    expect(await rowsMemory()).toBe(memoryBefore);
    await post('etag-1', '', { 'stream-closed': 'true' });
    const closed = await read('etag-1', '?offset=-1', { 'if-none-match': etag });
    expect(closed.statusCode).toBe(200);
    expect(closed.headers.etag).not.toBe(etag);
  });

  it('If-None-Match as a cache or a proxy sends it: a weak tag, a list, or * is 304 too; a list without the tag is 200', async () => {
    await put('etag-forms', 'a', { 'content-type': 'text/plain' });
    const etag = (await read('etag-forms', '?offset=-1')).headers.etag as string;
    for (const header of [`W/${etag}`, `"other", ${etag}`, `"other",W/${etag}`, '*']) {
      expect((await read('etag-forms', '?offset=-1', { 'if-none-match': header })).statusCode, header).toBe(304);
    }
    const missed = await read('etag-forms', '?offset=-1', { 'if-none-match': `"other", W/"${etag.slice(1, -1)}x"` });
    expect(missed.statusCode).toBe(200);
    expect(missed.body).toBe('a');
  });

  // Live reads themselves: test/http/streams-live.test.ts.
  it('a live read needs an offset and a known mode (400); a stream that is not there is 404', async () => {
    await put('live-1', undefined, { 'content-type': 'text/plain' });
    expectProblem(await read('live-1', '?live=sse'), 400, 'invalid_request');
    expectProblem(await read('live-1', '?live=long-poll'), 400, 'invalid_request');
    expectProblem(await read('live-1', '?offset=-1&live=websocket'), 400, 'invalid_request');
    expectProblem(await read('live-0', '?offset=-1&live=long-poll'), 404, 'session_not_found');
  });
});

describe('refusals say what is wrong (the detail, and errors[] naming the field)', () => {
  /** The detail and errors[] of a 400 invalid_request. */
  function refusal(res: Awaited<ReturnType<typeof ds>>) {
    const problem = expectProblem(res, 400, 'invalid_request');
    return { detail: problem.detail, errors: problem.errors };
  }
  const offsetRefusal = (what: string) => ({ detail: `offset ${what}`, errors: [{ in: 'querystring', field: '/offset', message: what }] });

  it('one the request alone decides costs no database query, on a stream that exists or not', async () => {
    await put('refuse-cheap', 'a', { 'content-type': 'text/plain' });
    const queries: string[] = [];
    // An instance of its own, to see every query it makes; no sweeps, which query on their own schedule.
    const own = await createTestApp({ databaseUrl: t.url, sweeps: false, logQuery: (query) => queries.push(query) });
    try {
      const at = (path: string) => (method: 'GET' | 'POST' | 'PUT', query: string, headers: Record<string, string> = {}, body?: string) =>
        own.app.inject({ method, url: `/v1/stream/${path}${query}`, headers, ...(body === undefined ? {} : { payload: body }) });
      for (const ds of [at('refuse-cheap'), at('refuse-cheap-absent')]) {
        queries.length = 0;
        refusal(await ds('GET', '?offset=abc'));
        refusal(await ds('GET', '?offset=-1&live=websocket'));
        refusal(await ds('POST', '', { 'content-type': 'text/plain' }));
        refusal(await ds('PUT', '', { 'content-type': 'text/plain', 'stream-forked-from': 'refuse-cheap' }));
        expect(queries).toEqual([]);
      }
    } finally {
      await own.close();
    }
  });

  it('an offset given twice, of another shape, or beyond any history', async () => {
    await put('refuse-offset', '[1]', { 'content-type': 'application/json' });
    expect(refusal(await read('refuse-offset', '?offset=-1&offset=-1'))).toEqual(offsetRefusal('is given more than once'));
    expect(refusal(await read('refuse-offset', '?offset=abc'))).toEqual(offsetRefusal('"abc" is not -1, now or an offset this server gave'));
    const huge = '0000000000000000_9999999999999999';
    expect(refusal(await read('refuse-offset', `?offset=${huge}`))).toEqual(offsetRefusal(`"${huge}" is beyond any history`));
  });

  it('a live read of another mode names the two there are', async () => {
    await put('refuse-mode', undefined, { 'content-type': 'text/plain' });
    expect(refusal(await read('refuse-mode', '?offset=-1&live=websocket'))).toEqual({
      detail: 'live must be long-poll or sse',
      errors: [{ in: 'querystring', field: '/live', message: 'is not long-poll or sse' }],
    });
  });

  it('an offset past the tail of the stream names both, and gives back the page memory it reserved', async () => {
    await put('refuse-past', '[1,2]', { 'content-type': 'application/json' });
    const memoryBefore = await rowsMemory();
    expect(refusal(await read('refuse-past', `?offset=${offset(3)}`))).toEqual({
      detail: `offset ${offset(3)} is beyond the tail of the stream, ${offset(2)}`,
      errors: [{ in: 'querystring', field: '/offset', message: 'is beyond the tail' }],
    });
    // The read reserved a page's room before it learnt where the tail is.
    expect(await rowsMemory()).toBe(memoryBefore);
  });

  it('a live read without an offset says that it needs one, naming the field', async () => {
    await put('refuse-live', undefined, { 'content-type': 'text/plain' });
    for (const live of ['long-poll', 'sse']) {
      expect(refusal(await read('refuse-live', `?live=${live}`))).toEqual({
        detail: 'a live read needs an offset (-1 for the start, now for the tail)',
        errors: [{ in: 'querystring', field: '/offset', message: 'is required' }],
      });
    }
  });

  it('an append with nothing to append, or a body without a Content-Type', async () => {
    await put('refuse-append', undefined, { 'content-type': 'text/plain' });
    expect(refusal(await post('refuse-append', '', { 'content-type': 'text/plain' }))).toEqual({
      detail: 'the body is empty: send the messages to append, or Stream-Closed: true to close',
      errors: [{ in: 'body', field: '', message: 'is empty' }],
    });
    expect(refusal(await post('refuse-append', 'x'))).toEqual({
      detail: "Content-Type is required with a body: the stream's own",
      errors: [{ in: 'headers', field: '/content-type', message: 'is required' }],
    });
    expect((await ds('HEAD', 'refuse-append')).headers['stream-next-offset']).toBe(ZERO);
  });

  it('a fork from a path that is not a stream path, or at an offset that is none', async () => {
    await put('refuse-fork-source', 'a', { 'content-type': 'text/plain' });
    const fork = (headers: Record<string, string>) => put('refuse-fork', undefined, { 'content-type': 'text/plain', ...headers });
    expect(refusal(await fork({ 'stream-forked-from': '/v1/sessions/refuse-fork-source' }))).toEqual({
      detail: "Stream-Forked-From must be the source stream's path on this server, /v1/stream/<path>",
      errors: [{ in: 'headers', field: '/stream-forked-from', message: 'does not start with /v1/stream/' }],
    });
    expect(refusal(await fork({ 'stream-forked-from': '/v1/stream/refuse-fork-source', 'stream-fork-offset': '1' }))).toEqual({
      detail: 'Stream-Fork-Offset "1" is not an offset of the source',
      errors: [{ in: 'headers', field: '/stream-fork-offset', message: 'is not an offset' }],
    });
    expect((await ds('HEAD', 'refuse-fork')).statusCode).toBe(404);
  });
});

describe('delete, headers, CORS', () => {
  it('DELETE is 204, then the path is free for a fresh stream', async () => {
    await put('del-1', 'old', { 'content-type': 'text/plain' });
    expect((await ds('DELETE', 'del-1')).statusCode).toBe(204);
    expect((await ds('HEAD', 'del-1')).statusCode).toBe(404);
    expect((await put('del-1', 'new', { 'content-type': 'text/plain' })).statusCode).toBe(201);
    expect((await read('del-1', '?offset=-1')).body).toBe('new');
  });

  it('errors carry nosniff; a preflight allows the protocol headers and If-None-Match', async () => {
    expect((await read('nothing-here')).headers['x-content-type-options']).toBe('nosniff');
    const preflight = await t.app.inject({
      method: 'OPTIONS',
      url: '/v1/stream/x',
      headers: {
        origin: 'https://dash.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'if-none-match, stream-seq, producer-id',
      },
    });
    expect(preflight.statusCode).toBe(204);
    const allowed = String(preflight.headers['access-control-allow-headers']);
    for (const name of ['if-none-match', 'stream-seq', 'stream-closed', 'producer-id', 'producer-epoch', 'producer-seq']) {
      expect(allowed).toContain(name);
    }
    const get = await read('nothing-here', '', { origin: 'https://dash.example.com' });
    const exposed = String(get.headers['access-control-expose-headers']);
    for (const name of ['stream-next-offset', 'stream-up-to-date', 'stream-closed', 'etag']) expect(exposed).toContain(name);
  });

  it('a page on a listed origin may send every header of the protocol and read every one the face answers with', async () => {
    const origin = { origin: 'https://dash.example.com' };
    const requestHeaders = [
      'stream-seq',
      'stream-ttl',
      'stream-expires-at',
      'stream-closed',
      'stream-forked-from',
      'stream-fork-offset',
      'stream-fork-sub-offset',
      'producer-id',
      'producer-epoch',
      'producer-seq',
    ];
    const preflight = await t.app.inject({
      method: 'OPTIONS',
      url: '/v1/stream/cors-all',
      headers: { ...origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': requestHeaders.join(', ') },
    });
    expect(preflight.statusCode).toBe(204);
    const allowed = String(preflight.headers['access-control-allow-headers']).split(/,\s*/);
    for (const name of requestHeaders) expect(allowed, name).toContain(name);
    // Each header the face answers with, from an answer that has it: a browser reads only those exposed.
    const exposedOn = (res: Answer) => String(res.headers['access-control-expose-headers']).split(/,\s*/);
    type Answer = Awaited<ReturnType<typeof ds>>;
    const answers: [string, Answer][] = [];
    const made = await put('cors-all', undefined, { ...origin, 'content-type': 'text/plain', 'stream-ttl': '3600' });
    answers.push(['location', made], ['stream-next-offset', made]);
    answers.push(['stream-ttl', await ds('HEAD', 'cors-all', undefined, origin)]);
    expect((await put('cors-at', undefined, { 'content-type': 'text/plain', 'stream-expires-at': '2999-01-01T00:00:00Z' })).statusCode).toBe(201);
    answers.push(['stream-expires-at', await ds('HEAD', 'cors-at', undefined, origin)]);
    const producer = (seq: string) => ({ ...origin, 'content-type': 'text/plain', 'producer-id': 'p', 'producer-epoch': '0', 'producer-seq': seq });
    const accepted = await post('cors-all', 'a', producer('0'));
    answers.push(['producer-epoch', accepted], ['producer-seq', accepted]);
    const gap = await post('cors-all', 'b', producer('5'));
    answers.push(['producer-expected-seq', gap], ['producer-received-seq', gap]);
    const page = await read('cors-all', '?offset=-1', origin);
    answers.push(['etag', page], ['stream-up-to-date', page]);
    answers.push(['stream-cursor', await read('cors-all', '?offset=-1&live=long-poll', origin)]);
    // A closed byte stream: its SSE read sends the final control and ends.
    expect((await put('cors-bytes', undefined, { 'content-type': 'application/octet-stream', 'stream-closed': 'true' })).statusCode).toBe(201);
    answers.push(['stream-sse-data-encoding', await read('cors-bytes', '?offset=-1&live=sse', origin)]);
    expect((await post('cors-all', '', { ...origin, 'stream-closed': 'true' })).statusCode).toBe(204);
    answers.push(['stream-closed', await ds('HEAD', 'cors-all', undefined, origin)]);
    for (const [name, res] of answers) {
      expect(res.headers[name], `${name} is answered`).toBeDefined();
      expect(exposedOn(res), `${name} is exposed`).toContain(name);
    }
  });
});
