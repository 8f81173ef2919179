import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { copyingUpload, stalledUpload } from '../helpers/uploads.js';
import { unlessStuck } from '../helpers/waits.js';

const CHUNK = 1024;
const MAX = 4 * CHUNK;
let t: TestApp;
let counter = 0;

beforeAll(async () => {
  // The expiry sweep a day away: a stream past its expiry stays unswept, as between two sweeps.
  t = await createTestApp({ env: { ATTACHMENT_CHUNK_BYTES: String(CHUNK), MAX_ATTACHMENT_BYTES: String(MAX), HISTORY_SWEEP_MS: '86400000' } });
  await t.listen();
});
afterAll(() => t.close());

async function newSession(): Promise<string> {
  const id = `att-edge-${++counter}`;
  expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
  return id;
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const declared = (id: string, body: Buffer) =>
  t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments`, payload: body, headers: { 'content-type': 'application/octet-stream' } });
/** Sent without a Content-Length, in pieces that do not line up with the stored chunks. */
const streamed = (id: string, body: Buffer) =>
  fetch(`${t.baseUrl}/v1/sessions/${id}/attachments`, {
    method: 'POST',
    body: Readable.toWeb(Readable.from([body.subarray(0, 1000), body.subarray(1000)])) as ReadableStream,
    headers: { 'content-type': 'application/octet-stream' },
    duplex: 'half',
  } as RequestInit);
const download = (id: string, attachmentId: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'GET', url: `/v1/sessions/${id}/attachments/${attachmentId}`, headers });
const listed = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}/attachments`)).json().attachments;

describe('MAX_ATTACHMENT_BYTES at and past the edge', () => {
  it('exactly the limit is stored, declared or streamed; one byte more is 413 and stores nothing', async () => {
    const id = await newSession();
    const overDeclared = expectProblem(await declared(id, randomBytes(MAX + 1)), 413, 'payload_too_large');
    // A declared size is refused before a byte is read, and named; a streamed body is cut where it passes the limit, its size unknown.
    expect(overDeclared).toMatchObject({
      limit_bytes: MAX,
      size: MAX + 1,
      detail: `an attachment may hold ${MAX} bytes (MAX_ATTACHMENT_BYTES); this one has ${MAX + 1}`,
    });
    const overStreamed = await streamed(id, randomBytes(MAX + 1));
    expect(overStreamed.status).toBe(413);
    const streamedProblem = (await overStreamed.json()) as Record<string, unknown>;
    expect(streamedProblem).toMatchObject({ code: 'payload_too_large', limit_bytes: MAX, detail: `an attachment may hold ${MAX} bytes (MAX_ATTACHMENT_BYTES)` });
    expect(streamedProblem).not.toHaveProperty('size');
    expect(await listed(id)).toEqual([]);

    const atDeclared = randomBytes(MAX);
    const one = await declared(id, atDeclared);
    expect(one.statusCode, one.body).toBe(201);
    expect(one.json()).toMatchObject({ size: MAX, sha256: sha(atDeclared) });
    const atStreamed = randomBytes(MAX);
    const two = await streamed(id, atStreamed);
    expect(two.status).toBe(201);
    expect(await two.json()).toMatchObject({ size: MAX, sha256: sha(atStreamed) });
    expect((await download(id, sha(atStreamed))).rawPayload.equals(atStreamed)).toBe(true);
  });
});

describe('stored chunks', () => {
  it('bytes on either side of a chunk boundary come back as sent, whole and by range', async () => {
    const id = await newSession();
    for (const size of [CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7]) {
      const bytes = randomBytes(size);
      const up = await declared(id, bytes);
      expect(up.statusCode, up.body).toBe(201);
      const whole = await download(id, sha(bytes));
      expect(whole.rawPayload.equals(bytes), `size ${size}`).toBe(true);
      if (size > CHUNK + 1) {
        const part = await download(id, sha(bytes), { range: `bytes=${CHUNK - 2}-${CHUNK + 1}` });
        expect(part.statusCode).toBe(206);
        expect(part.headers['content-range']).toBe(`bytes ${CHUNK - 2}-${CHUNK + 1}/${size}`);
        expect(part.rawPayload.equals(bytes.subarray(CHUNK - 2, CHUNK + 2)), `size ${size}`).toBe(true);
      }
    }
  });
});

describe('an upload sent in pieces smaller than a chunk', () => {
  it('is stored in whole chunks: its bytes come back as sent, whole and by range across each boundary', async () => {
    const id = await newSession();
    const bytes = randomBytes(3 * CHUNK + 7);
    // Each piece sent a moment after the last, so that each reaches the server as a read of its own.
    const upload = stalledUpload(t, id);
    for (let at = 0; at < bytes.length; at += 300) {
      upload.send(bytes.subarray(at, at + 300));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    upload.finish();
    const up = await upload.response;
    expect(up.status).toBe(201);
    expect((await download(id, sha(bytes))).rawPayload.equals(bytes)).toBe(true);
    for (const boundary of [CHUNK, 2 * CHUNK, 3 * CHUNK]) {
      const part = await download(id, sha(bytes), { range: `bytes=${boundary - 3}-${boundary + 2}` });
      expect(part.statusCode).toBe(206);
      expect(part.rawPayload.equals(bytes.subarray(boundary - 3, boundary + 3)), `at ${boundary}`).toBe(true);
    }
  });
});

describe('an upload whose session goes while its bytes come', () => {
  it('is 404 session_not_found and stores nothing, also when a session of the same id was created meanwhile', async () => {
    const rows = async () => (await t.database.db<{ n: number }[]>`select count(*)::int as n from attachments`)[0]?.n;
    for (const recreated of [false, true]) {
      const id = await newSession();
      const before = await rows();
      const upload = await copyingUpload(t, id, randomBytes(CHUNK + 10));
      // The session row is not locked while the bytes flow: the delete is not held up by the upload.
      expect((await unlessStuck(call(t.app, 'DELETE', `/v1/sessions/${id}`), 'the delete beside an upload')).statusCode).toBe(204);
      if (recreated) expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
      upload.send(randomBytes(10));
      upload.finish();
      const refused = await upload.response;
      expect(refused.status, `recreated: ${recreated}`).toBe(404);
      expect(await refused.json()).toMatchObject({ code: 'session_not_found' });
      if (recreated) expect(await listed(id)).toEqual([]);
      expect(await rows(), `recreated: ${recreated}`).toBe(before);
    }
  });
});

describe('uploads to one session', () => {
  it('do not wait for each other: one stored while another is still sending', async () => {
    const id = await newSession();
    const slow = await copyingUpload(t, id, randomBytes(CHUNK + 10));
    const quick = Buffer.from('stored while the other upload is still sending');
    const stored = await unlessStuck(declared(id, quick), 'an upload beside one still sending');
    expect(stored.statusCode, stored.body).toBe(201);
    slow.finish();
    expect((await slow.response).status).toBe(201);
    expect((await listed(id)).length).toBe(2);
  });
});

describe('a lease refuses an upload before its body', () => {
  it('an upload without the lease token is answered 409 lease_held while its body is still coming, and stores nothing', async () => {
    const id = await newSession();
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'holder', ttl_ms: 600_000 })).statusCode).toBe(201);
    const upload = stalledUpload(t, id);
    upload.send(randomBytes(100));
    // Never finished: a refusal that waited for the body would come only with TRANSFER_IDLE_TIMEOUT_MS's 408.
    const refused = await unlessStuck(upload.response, 'the refusal of an upload without the lease token');
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'lease_held' });
    upload.abandon();
    expect(await listed(id)).toEqual([]);
  });
});

describe('an upload without a body', () => {
  it('(no Content-Length, no Transfer-Encoding) is an attachment of zero bytes of application/octet-stream', async () => {
    const id = await newSession();
    const address = new URL(t.baseUrl);
    const socket = net.connect(Number(address.port), address.hostname);
    socket.write(`POST /v1/sessions/${id}/attachments HTTP/1.1\r\nHost: ${address.host}\r\nConnection: close\r\n\r\n`);
    let text = '';
    for await (const chunk of socket) text += (chunk as Buffer).toString('latin1');
    const [head = '', body = ''] = text.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 201 /);
    expect(JSON.parse(body)).toMatchObject({ size: 0, attachment_id: sha(Buffer.alloc(0)), content_type: 'application/octet-stream' });
  });
});

describe('a Range header in another unit than bytes', () => {
  it('is ignored: the whole file, 200', async () => {
    const id = await newSession();
    const bytes = randomBytes(100);
    expect((await declared(id, bytes)).statusCode).toBe(201);
    for (const range of ['notbytes=0-3', 'items=0-3']) {
      const whole = await download(id, sha(bytes), { range });
      expect([whole.statusCode, whole.headers['content-range'], whole.rawPayload.equals(bytes)], range).toEqual([200, undefined, true]);
    }
  });
});

describe('bytes gone between the lookup and the read', () => {
  it('a download whose bytes were deleted after its attachment was found is a 404 problem, not a 200 that ends short', async () => {
    const id = await newSession();
    const bytes = randomBytes(3 * CHUNK + 7);
    expect((await declared(id, bytes)).statusCode).toBe(201);
    // What a session deleted, or an intent swept, a moment after the lookup leaves: the row read, its bytes gone.
    await t.database.db`delete from attachment_chunks where blob_id = (select id from attachments where attachment_id = ${sha(bytes)})`;
    for (const headers of [{}, { range: `bytes=${CHUNK + 3}-` }] as Record<string, string>[]) {
      const gone = await download(id, sha(bytes), headers);
      expect(expectProblem(gone, 404, 'attachment_not_found')).toMatchObject({ attachment_id: sha(bytes) });
      expect(gone.headers['content-disposition']).toBeUndefined();
      expect(gone.headers['content-range']).toBeUndefined();
    }
  });

  it('a stored chunk shorter than its place in the file reads as gone (404), not as an endless run of empty reads', async () => {
    const id = await newSession();
    const bytes = randomBytes(3 * CHUNK + 7);
    expect((await declared(id, bytes)).statusCode).toBe(201);
    await t.database.db`
      update attachment_chunks set data = substring(data from 1 for 10)
      where n = 1 and blob_id = (select id from attachments where attachment_id = ${sha(bytes)})`;
    const cut = await unlessStuck(download(id, sha(bytes), { range: `bytes=${CHUNK + 100}-` }), 'a read past a short chunk');
    expectProblem(cut, 404, 'attachment_not_found');
  });
});

describe('GET .../attachments paging', () => {
  it('pages of a size that divides the list end with next_cursor null, each attachment once, oldest first', async () => {
    const id = await newSession();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await declared(id, Buffer.from(`attachment ${i}`))).json().attachment_id);
    const seen: string[] = [];
    const sizes: number[] = [];
    const cursors: (string | null)[] = [];
    for (let cursor: string | null = null, pages = 0; pages < 10; pages++) {
      const query: string = cursor === null ? 'limit=2' : `limit=2&cursor=${encodeURIComponent(cursor)}`;
      const page = (await call(t.app, 'GET', `/v1/sessions/${id}/attachments?${query}`)).json();
      sizes.push(page.attachments.length);
      seen.push(...page.attachments.map((a: { attachment_id: string }) => a.attachment_id));
      cursor = page.next_cursor;
      cursors.push(cursor);
      if (cursor === null) break;
    }
    expect(seen).toEqual(ids);
    expect(sizes).toEqual([2, 2]);
    expect(cursors.length).toBe(2);
    expect(cursors[1]).toBeNull();
  });

  it('without limit a page holds 100 (docs/API.md: default 100): 101 attachments are a page of 100 and a page of 1', async () => {
    const id = await newSession();
    // Two at a time (each upload takes one of MAX_TRANSFERS slots): their order is the one the whole list (a page of up to 1000) gives.
    for (let i = 0; i < 101; i += 2) {
      const pair = await Promise.all([i, i + 1].filter((n) => n < 101).map((n) => declared(id, Buffer.from(`listed ${n}`))));
      for (const response of pair) expect(response.statusCode, response.body).toBe(201);
    }
    const all = (await call(t.app, 'GET', `/v1/sessions/${id}/attachments?limit=1000`)).json();
    const ids: string[] = all.attachments.map((a: { attachment_id: string }) => a.attachment_id);
    expect([ids.length, all.next_cursor]).toEqual([101, null]);
    const first = (await call(t.app, 'GET', `/v1/sessions/${id}/attachments`)).json();
    expect(first.attachments.map((a: { attachment_id: string }) => a.attachment_id)).toEqual(ids.slice(0, 100));
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = (await call(t.app, 'GET', `/v1/sessions/${id}/attachments?cursor=${encodeURIComponent(first.next_cursor)}`)).json();
    expect(second).toEqual({ attachments: [expect.objectContaining({ attachment_id: ids[100] })], next_cursor: null });
  });

  it('takes a cursor only as a listing gave it out, and no parameter it does not know', async () => {
    const id = await newSession();
    const cursor = (text: string) => Buffer.from(text).toString('base64url');
    for (const text of ['att:x12', 'att:12x', 'att:', 'msg:12']) {
      const refused = expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/attachments?cursor=${cursor(text)}`), 400, 'invalid_request');
      expect(refused.errors, text).toEqual([{ in: 'querystring', field: '/cursor', message: 'is not a valid cursor' }]);
    }
    // One this listing could have given out (past every row): the last page, empty.
    const past = await call(t.app, 'GET', `/v1/sessions/${id}/attachments?cursor=${cursor('att:1234')}`);
    expect([past.statusCode, past.json()]).toEqual([200, { attachments: [], next_cursor: null }]);
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/attachments?limit=2&committed=true`), 400, 'invalid_request');
  });
});

// Each upload holds one of MAX_TRANSFERS slots (its COPY's connection) while its bytes come. With one slot,
// a refusal that kept it would turn every later upload into 503 too_many_transfers.
describe('an upload gives its transfer slot back however it ends', () => {
  let one: TestApp;
  beforeAll(async () => {
    one = await createTestApp({ env: { ATTACHMENT_CHUNK_BYTES: String(CHUNK), MAX_ATTACHMENT_BYTES: String(MAX), MAX_TRANSFERS: '1' } });
    await one.listen();
  });
  afterAll(() => one.close());

  const post = (id: string, body: Buffer, headers: Record<string, string> = {}) =>
    one.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments`, payload: body, headers: { 'content-type': 'application/octet-stream', ...headers } });
  const servedAfter = async (what: string) => {
    const res = await post('slots-1', randomBytes(100));
    expect(res.statusCode, `${what}: ${res.body}`).toBe(201);
  };

  it('stored, refused for its size (declared or streamed), its type, an unknown session or a lease: the next upload is served', async () => {
    expect((await call(one.app, 'POST', '/v1/sessions', { id: 'slots-1' })).statusCode).toBe(201);
    await servedAfter('a stored upload');
    await servedAfter('a second stored upload');

    // Refused on its Content-Length, before a byte is read.
    expectProblem(await post('slots-1', randomBytes(MAX + 1)), 413, 'payload_too_large');
    await servedAfter('an upload declared over MAX_ATTACHMENT_BYTES');
    expectProblem(await post('slots-1', randomBytes(100), { 'content-type': 'text/' }), 415, 'unsupported_media_type');
    await servedAfter('an upload with a malformed Content-Type');

    expectProblem(await post('slots-none', randomBytes(100)), 404, 'session_not_found');
    await servedAfter('an upload to an unknown session');

    expect((await call(one.app, 'POST', '/v1/sessions', { id: 'slots-2' })).statusCode).toBe(201);
    expect((await call(one.app, 'POST', '/v1/sessions/slots-2/lease', { owner: 'w', ttl_ms: 600_000 })).statusCode).toBe(201);
    expectProblem(await post('slots-2', randomBytes(100)), 409, 'lease_held');
    await servedAfter('an upload refused by a lease');

    // No Content-Length: the limit is found only once the bytes pass it.
    const over = await fetch(`${one.baseUrl}/v1/sessions/slots-1/attachments`, {
      method: 'POST',
      body: Readable.toWeb(Readable.from([randomBytes(MAX), randomBytes(10)])) as ReadableStream,
      headers: { 'content-type': 'application/octet-stream' },
      duplex: 'half',
    } as RequestInit);
    expect(over.status).toBe(413);
    await over.arrayBuffer();
    await servedAfter('an upload past MAX_ATTACHMENT_BYTES');
  });
});

describe('an upload is a write', () => {
  it('of bytes already stored moves the session\'s expiry too, so a worker kept alive by re-uploads is not expired under it', async () => {
    const id = `att-edge-${++counter}`;
    expect((await call(t.app, 'POST', '/v1/sessions', { id, ttl_ms: 600_000 })).statusCode).toBe(201);
    const bytes = randomBytes(100);
    const expiresAt = async () => Date.parse((await call(t.app, 'GET', `/v1/sessions/${id}`)).json().expires_at);
    expect((await declared(id, bytes)).statusCode).toBe(201);
    const first = await expiresAt();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await declared(id, bytes)).statusCode).toBe(201);
    expect(await expiresAt()).toBeGreaterThan(first);
  });
});

describe('a new attachment is a write', () => {
  it('moves the session\'s updated_at and expires_at (ttl_ms on from now)', async () => {
    const id = `att-edge-${++counter}`;
    const ttl = 600_000;
    expect((await call(t.app, 'POST', '/v1/sessions', { id, ttl_ms: ttl })).statusCode).toBe(201);
    // The session's last write an hour ago: an upload now must count as a write of now.
    await t.database.db`update sessions set updated_at = updated_at - interval '1 hour' where id = ${id}`;
    const before = (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
    const up = await declared(id, randomBytes(100));
    expect(up.statusCode, up.body).toBe(201);
    const after = (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
    expect(Date.parse(after.updated_at)).toBeGreaterThanOrEqual(Date.parse(up.json().created_at));
    expect(Date.parse(after.expires_at)).toBe(Date.parse(after.updated_at) + ttl);
    expect(Date.parse(after.expires_at)).toBeGreaterThan(Date.parse(before.expires_at) + 30 * 60_000);
  });
});

describe('a Durable Stream past its expiry reads as absent before the sweep', () => {
  it('an upload to it is 404 session_not_found and stores nothing, declared or streamed', async () => {
    const id = `att-edge-expired-${++counter}`;
    const put = await t.app.inject({
      method: 'PUT',
      url: `/v1/stream/${id}`,
      headers: { 'content-type': 'application/json', 'stream-expires-at': '2001-01-01T00:00:00Z' },
      payload: '{"n":1}',
    });
    expect(put.statusCode, put.body).toBe(201);
    const bytes = randomBytes(CHUNK + 10);
    expectProblem(await declared(id, bytes), 404, 'session_not_found');
    const viaStream = await streamed(id, bytes);
    expect(viaStream.status).toBe(404);
    expect(((await viaStream.json()) as { code: string }).code).toBe('session_not_found');
    expectProblem(await download(id, sha(bytes)), 404, 'session_not_found');
    // Its row is still there (not swept): nothing was stored under it.
    const [row] = await t.database.db`
      select count(a.id)::int as n from sessions s left join attachments a on a.session_sid = s.sid where s.id = ${id}`;
    expect(row?.n).toBe(0);
    const [session] = await t.database.db`select count(*)::int as n from sessions where id = ${id}`;
    expect(session?.n).toBe(1);
  });
});

describe('the fence is checked again under the lock', () => {
  it('an upload still sending when a worker takes the lease is refused (409 lease_held) and stores nothing', async () => {
    const id = await newSession();
    // Its bytes are being copied in: the upload is past its first fence check (no lease then).
    const upload = await copyingUpload(t, id, randomBytes(CHUNK + 10));
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'other', ttl_ms: 600_000 })).statusCode).toBe(201);
    upload.send(randomBytes(10));
    upload.finish();
    const refused = await upload.response;
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'lease_held' });
    expect(await listed(id)).toEqual([]);
  });
});

describe('a range outside the file', () => {
  it('is 416 range_not_satisfiable {size} with Content-Range: bytes */<size>, still nosniff', async () => {
    const id = await newSession();
    const bytes = randomBytes(CHUNK + 3);
    expect((await declared(id, bytes)).statusCode).toBe(201);
    for (const range of [`bytes=${bytes.length}-`, `bytes=${bytes.length + 10}-${bytes.length + 20}`, 'bytes=-0']) {
      const refused = await download(id, sha(bytes), { range });
      expect(expectProblem(refused, 416, 'range_not_satisfiable'), range).toMatchObject({ size: bytes.length });
      expect(refused.headers['content-range'], range).toBe(`bytes */${bytes.length}`);
      expect(refused.headers['x-content-type-options'], range).toBe('nosniff');
    }
    const { attachment_id: empty } = (await declared(id, Buffer.alloc(0))).json();
    const none = await download(id, empty, { range: 'bytes=0-' });
    expect(expectProblem(none, 416, 'range_not_satisfiable')).toMatchObject({ size: 0 });
    expect(none.headers['content-range']).toBe('bytes */0');
  });
});

describe('content-addressed on one session', () => {
  it('the same bytes keep their first Content-Type; on another session they are another attachment, committed and deleted apart', async () => {
    const [one, two, three] = [await newSession(), await newSession(), await newSession()];
    const bytes = Buffer.from('the same bytes on two sessions');
    const first = await t.app.inject({ method: 'POST', url: `/v1/sessions/${one}/attachments`, payload: bytes, headers: { 'content-type': 'text/plain' } });
    expect(first.statusCode).toBe(201);
    const again = await t.app.inject({ method: 'POST', url: `/v1/sessions/${one}/attachments`, payload: bytes, headers: { 'content-type': 'text/html' } });
    expect([again.statusCode, again.json()]).toEqual([201, first.json()]);
    const served = await download(one, sha(bytes));
    expect([served.headers['content-type'], served.headers['content-disposition']]).toEqual(['text/plain', 'inline']);

    const other = await t.app.inject({ method: 'POST', url: `/v1/sessions/${two}/attachments`, payload: bytes, headers: { 'content-type': 'text/html' } });
    expect(other.statusCode).toBe(201);
    expect(other.json()).toMatchObject({ attachment_id: sha(bytes), content_type: 'text/html', committed: false });
    expect((await call(t.app, 'POST', `/v1/sessions/${one}/attachments/${sha(bytes)}/commit`)).json().committed).toBe(true);
    expect((await listed(two)).map((a: { committed: boolean }) => a.committed)).toEqual([false]);
    // A session that never had them knows nothing of them.
    expectProblem(await download(three, sha(bytes)), 404, 'attachment_not_found');
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${three}/attachments/${sha(bytes)}/commit`), 404, 'attachment_not_found');
    expect(await listed(three)).toEqual([]);
    // Deleting one session leaves the other's copy whole.
    expect((await call(t.app, 'DELETE', `/v1/sessions/${one}`)).statusCode).toBe(204);
    const kept = await download(two, sha(bytes));
    expect([kept.statusCode, kept.headers['content-type'], kept.rawPayload.equals(bytes)]).toEqual([200, 'text/html', true]);
  });
});
