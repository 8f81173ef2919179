import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteExpiredIntents } from '../../src/attachments/statements.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

let t: TestApp;
let counter = 0;
const CHUNK = 1024;

beforeAll(async () => {
  // Small chunks, so a few KiB cross many chunk boundaries.
  t = await createTestApp({ env: { ATTACHMENT_CHUNK_BYTES: String(CHUNK), MAX_ATTACHMENT_BYTES: String(64 * 1024) } });
});
afterAll(() => t.close());

async function newSession(): Promise<string> {
  const id = `att-${++counter}`;
  expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
  return id;
}

const sha = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

const upload = (id: string, body: Buffer | string, contentType = 'application/octet-stream', headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments`, payload: body, headers: { 'content-type': contentType, ...headers } });

const download = (id: string, attachmentId: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'GET', url: `/v1/sessions/${id}/attachments/${attachmentId}`, headers });

const list = async (id: string): Promise<any[]> => (await call(t.app, 'GET', `/v1/sessions/${id}/attachments`)).json().attachments;

async function chunkRows(): Promise<number> {
  const [row] = await t.database.db`select count(*)::int as n from attachment_chunks`;
  return row?.n as number;
}

describe('attachments', () => {
  it('stores the bytes as sent, content-addressed, and serves them back with their type', async () => {
    const id = await newSession();
    const bytes = randomBytes(5 * CHUNK + 17);
    const res = await upload(id, bytes, 'image/png');
    expect(res.statusCode).toBe(201);
    const view = res.json();
    expect(view).toMatchObject({ attachment_id: sha(bytes), sha256: sha(bytes), size: bytes.length, content_type: 'image/png', committed: false });

    const got = await download(id, view.attachment_id);
    expect(got.statusCode).toBe(200);
    expect(got.rawPayload.equals(bytes)).toBe(true);
    expect(got.headers['content-type']).toBe('image/png');
    expect(got.headers['content-length']).toBe(String(bytes.length));
    expect(got.headers.etag).toBe(`"${sha(bytes)}"`);
    // Kept by the browser alone, and asked again before each use: who may read it can change.
    expect(got.headers['cache-control']).toBe('private, no-cache');

    // The same bytes again: the same attachment, stored once.
    const rowsBefore = await chunkRows();
    const again = await upload(id, bytes, 'image/png');
    expect(again.statusCode).toBe(201);
    expect({ ...again.json(), created_at: undefined }).toEqual({ ...view, created_at: undefined });
    expect(await chunkRows()).toBe(rowsBefore);
    expect(await list(id)).toEqual([again.json()]);
  });

  it('an empty body is an attachment of zero bytes; a JSON body is bytes too', async () => {
    const id = await newSession();
    const empty = await upload(id, '');
    expect(empty.statusCode).toBe(201);
    expect(empty.json()).toMatchObject({ size: 0, attachment_id: sha('') });
    expect((await download(id, sha(''))).rawPayload.length).toBe(0);
    const json = await upload(id, '{"not": "parsed"', 'application/json');
    expect(json.statusCode).toBe(201);
    expect((await download(id, json.json().attachment_id)).body).toBe('{"not": "parsed"');
  });

  it('serves byte ranges (206, Content-Range), 416 outside the file, and 304 for a matching ETag', async () => {
    const id = await newSession();
    const bytes = randomBytes(3 * CHUNK + 5);
    const { attachment_id: aid } = (await upload(id, bytes)).json();
    const cases: [string, number, number][] = [
      ['bytes=0-0', 0, 0],
      ['bytes=1000-2100', 1000, 2100],
      [`bytes=${CHUNK}-`, CHUNK, bytes.length - 1],
      ['bytes=-7', bytes.length - 7, bytes.length - 1],
      // A suffix longer than the file is the whole file (RFC 9110, 14.1.2).
      ['bytes=-999999', 0, bytes.length - 1],
      ['bytes=3000-999999', 3000, bytes.length - 1],
    ];
    for (const [range, first, last] of cases) {
      const res = await download(id, aid, { range });
      expect(res.statusCode, range).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes ${first}-${last}/${bytes.length}`);
      expect(res.rawPayload.equals(bytes.subarray(first, last + 1)), range).toBe(true);
    }
    const outside = expectProblem(await download(id, aid, { range: `bytes=${bytes.length}-` }), 416, 'range_not_satisfiable');
    expect(outside.size).toBe(bytes.length);
    // A suffix of no bytes asks for nothing the file has (RFC 9110, 14.1.2).
    expectProblem(await download(id, aid, { range: 'bytes=-0' }), 416, 'range_not_satisfiable');
    // A range with neither end, or a last byte before the first, is no range: the whole file.
    for (const range of ['bytes=-', 'bytes=9-3']) {
      const whole = await download(id, aid, { range });
      expect([whole.statusCode, whole.headers['content-range'], whole.rawPayload.equals(bytes)], range).toEqual([200, undefined, true]);
    }
    // Several ranges, or a stale If-Range: the whole file.
    expect((await download(id, aid, { range: 'bytes=0-1,5-6' })).statusCode).toBe(200);
    expect((await download(id, aid, { range: 'bytes=0-1', 'if-range': '"other"' })).statusCode).toBe(200);
    const cached = await download(id, aid, { 'if-none-match': `"${aid}"` });
    expect(cached.statusCode).toBe(304);
    expect(cached.rawPayload.length).toBe(0);
    // RFC 9110 15.4.5: a 304 carries what a 200 would of ETag and Cache-Control, so a cache refreshes its copy by them.
    expect([cached.headers.etag, cached.headers['cache-control'], cached.headers['x-content-type-options']]).toEqual([
      `"${aid}"`,
      'private, no-cache',
      'nosniff',
    ]);
    // If-None-Match as RFC 9110 reads it: any tag of a list, weak or strong, with spaces around, or *; another tag is a 200.
    for (const header of [`"other", "${aid}"`, `W/"${aid}"`, `  "${aid}"  `, '*']) {
      expect((await download(id, aid, { 'if-none-match': header })).statusCode, header).toBe(304);
    }
    expect((await download(id, aid, { 'if-none-match': '"other"' })).statusCode).toBe(200);
    // If-Range compares strongly (RFC 9110 13.1.5): a weak tag never matches, even of these bytes, so the whole file comes.
    for (const ifRange of [`W/"${aid}"`, `"${aid.slice(1)}"`, aid]) {
      const whole = await download(id, aid, { range: 'bytes=0-1', 'if-range': ifRange });
      expect([whole.statusCode, whole.headers['content-range'], whole.rawPayload.equals(bytes)], ifRange).toEqual([200, undefined, true]);
    }
    // If-Range with the current tag: the range is served.
    const ranged = await download(id, aid, { range: 'bytes=0-1', 'if-range': `"${aid}"` });
    expect([ranged.statusCode, ranged.headers['content-range']]).toEqual([206, `bytes 0-1/${bytes.length}`]);

    // An empty file has no byte to give: any suffix range is 416; without a range it is a 200 of nothing.
    const { attachment_id: empty } = (await upload(id, Buffer.alloc(0))).json();
    expectProblem(await download(id, empty, { range: 'bytes=-5' }), 416, 'range_not_satisfiable');
    const nothing = await download(id, empty);
    expect([nothing.statusCode, nothing.headers['content-length'], nothing.rawPayload.length]).toEqual([200, '0', 0]);
  });

  it('hostile documents never render in this origin: nosniff, a sandbox CSP, and a download for HTML, SVG and XML', async () => {
    const id = await newSession();
    const page = '<html><body><script>fetch("/v1/sessions").then(r => r.text()).then(t => parent.postMessage(t, "*"))</script></body></html>';
    for (const type of ['text/html', 'image/svg+xml', 'application/xml', 'text/xml', 'application/xhtml+xml', 'text/html; charset=utf-8', 'application/x-unknown']) {
      const { attachment_id: aid } = (await upload(id, `${type}:${page}`, type)).json();
      const res = await download(id, aid);
      expect(res.headers['x-content-type-options'], type).toBe('nosniff');
      expect(res.headers['content-security-policy'], type).toMatch(/(^|;\s*)sandbox(;|$)/);
      expect(res.headers['content-security-policy'], type).toContain("default-src 'none'");
      expect(res.headers['content-disposition'], type).toBe(`attachment; filename="${aid}"`);
    }
    // Media and plain text are safe to show inline (still sandboxed and nosniff).
    for (const type of ['image/png', 'text/plain', 'video/mp4']) {
      const { attachment_id: aid } = (await upload(id, `${type}:bytes`, type)).json();
      const res = await download(id, aid);
      expect(res.headers['content-disposition'], type).toBe('inline');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    // A malformed type is refused; none at all is kept as opaque bytes.
    const malformed = await upload(id, 'x', 'text/html<script>');
    expectProblem(malformed, 415, 'unsupported_media_type');
    // An upload takes any media type: the problem is the header, and the detail says so rather than asking for JSON.
    expect(malformed.json().detail).toBe(
      'Content-Type "text/html<script>" is not a media type: type/subtype, then parameters as name=value (e.g. text/plain; charset=utf-8)',
    );
    const untyped = await t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments`, payload: 'untyped' });
    expect(untyped.json().content_type).toBe('application/octet-stream');
    expect((await download(id, untyped.json().attachment_id)).headers['content-disposition']).toMatch(/^attachment;/);
  });

  it('inline or a download is decided by the media type alone: its parameters and the case it was sent in change nothing', async () => {
    const id = await newSession();
    // The types docs/API.md shows inline, each as a client may well send it (a charset, a codec, capitals).
    const inline = [
      'text/plain; charset=utf-8',
      'Text/Plain;charset=UTF-8',
      'application/json; charset=utf-8',
      'image/png',
      'image/jpeg; q=1',
      'image/gif',
      'image/webp',
      'image/avif',
      'image/bmp',
      'audio/ogg; codecs=opus',
      'video/webm; codecs="vp8, vorbis"',
    ];
    for (const type of inline) {
      const up = await upload(id, `inline ${type}`, type);
      expect(up.statusCode, `${type}: ${up.body}`).toBe(201);
      const res = await download(id, up.json().attachment_id);
      expect(res.headers['content-disposition'], type).toBe('inline');
      expect(res.headers['content-type'], type).toBe(up.json().content_type);
    }
    // Every other type is a download, parameters or not.
    for (const type of ['application/pdf', 'image/svg+xml; charset=utf-8', 'text/html;charset=utf-8', 'text/plainx', 'application/jsonp']) {
      const up = await upload(id, `download ${type}`, type);
      expect(up.statusCode, `${type}: ${up.body}`).toBe(201);
      const aid = up.json().attachment_id;
      expect((await download(id, aid)).headers['content-disposition'], type).toBe(`attachment; filename="${aid}"`);
    }
  });

  it('a Content-Type that is not a media type (RFC 9110) is 415 naming the header, never kept as another type', async () => {
    const id = await newSession();
    const malformed = [
      'application/json; x',
      'application/json; x=',
      'application/json; =y',
      'text/plain; charset=utf 8',
      'text/plain; name="unterminated',
      'text/plain, text/html',
      'text/',
      '/plain',
      'plain',
      `text/${'x'.repeat(300)}`,
    ];
    for (const type of malformed) {
      const refused = await upload(id, 'x', type);
      expect(refused.statusCode, type).toBe(415);
      const problem = expectProblem(refused, 415, 'unsupported_media_type');
      expect(problem.detail, type).toMatch(/^Content-Type (".*" is not a media type|is longer than 255 characters)/);
    }
    expect(await list(id)).toEqual([]);
    // What the grammar allows is kept as sent, type and subtype lowercased.
    const kept: [string, string][] = [
      ['Text/Plain; charset=UTF-8', 'text/plain; charset=UTF-8'],
      ['text/plain;charset="utf-8"', 'text/plain;charset="utf-8"'],
      ['text/plain; name="a \\"quoted\\" ;name"', 'text/plain; name="a \\"quoted\\" ;name"'],
      ['application/json;', 'application/json;'],
      ['  image/png  ', 'image/png'],
    ];
    for (const [sent, stored] of kept) {
      const res = await upload(id, `bytes for ${sent}`, sent);
      expect(res.statusCode, sent).toBe(201);
      expect(res.json().content_type, sent).toBe(stored);
    }
  });

  it('over MAX_ATTACHMENT_BYTES is 413 and stores nothing, declared or not', async () => {
    const id = await newSession();
    const rows = await chunkRows();
    expectProblem(await upload(id, randomBytes(64 * 1024 + 1)), 413, 'payload_too_large');
    // Sent without a Content-Length: refused while it streams in.
    const base = t.baseUrl || (await t.listen());
    const streamed = await fetch(`${base}/v1/sessions/${id}/attachments`, {
      method: 'POST',
      body: Readable.toWeb(Readable.from([randomBytes(40 * 1024), randomBytes(40 * 1024)])) as ReadableStream,
      headers: { 'content-type': 'application/octet-stream' },
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(((await streamed.json()) as { code: string }).code).toBe('payload_too_large');
    expect(await chunkRows()).toBe(rows);
    expect(await list(id)).toEqual([]);
  });

  it('is fenced: under a lease an upload needs the Lease-Token', async () => {
    const id = await newSession();
    const lease = await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w', ttl_ms: 600_000 });
    expectProblem(await upload(id, 'x'), 409, 'lease_held');
    expect((await upload(id, 'x', 'text/plain', { 'lease-token': lease.json().token })).statusCode).toBe(201);
  });

  it('POST .../commit commits once, with one attachment.committed event; unknown ids are 404', async () => {
    const id = await newSession();
    const { attachment_id: aid } = (await upload(id, 'commit me', 'text/plain')).json();
    const first = await call(t.app, 'POST', `/v1/sessions/${id}/attachments/${aid}/commit`);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ attachment_id: aid, committed: true });
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/attachments/${aid}/commit`)).statusCode).toBe(200);
    const events = (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events;
    expect(events.map((e: any) => e.type)).toEqual(['attachment.committed']);
    expect(events[0].data).toEqual({ attachment_id: aid, size: 9, content_type: 'text/plain', sha256: aid, created_at: expect.any(String) });
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/attachments/${'0'.repeat(64)}/commit`), 404, 'attachment_not_found');
    expectProblem(await download(id, '0'.repeat(64)), 404, 'attachment_not_found');
  });

  it('committing is a fenced write: under a lease POST .../commit needs the Lease-Token, and a refusal commits nothing', async () => {
    const id = await newSession();
    const { attachment_id: aid } = (await upload(id, 'fenced commit', 'text/plain')).json();
    const lease = await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w', ttl_ms: 600_000 });
    expect(lease.statusCode).toBe(201);
    const commit = (headers: Record<string, string> = {}) =>
      t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments/${aid}/commit`, payload: {}, headers });
    expectProblem(await commit(), 409, 'lease_held');
    expectProblem(await commit({ 'lease-token': 'not-the-token' }), 409, 'lease_lost');
    expect((await list(id)).map((a) => a.committed)).toEqual([false]);
    const types = async () => (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events.map((e: any) => e.type);
    expect(await types()).not.toContain('attachment.committed');
    const held = await commit({ 'lease-token': lease.json().token });
    expect(held.statusCode, held.body).toBe(200);
    expect(held.json()).toMatchObject({ attachment_id: aid, committed: true });
    expect((await types()).filter((type: string) => type === 'attachment.committed')).toHaveLength(1);
  });

  it('a turn commits the attachments it lists, with the rest of the turn', async () => {
    const id = await newSession();
    const { attachment_id: aid } = (await upload(id, 'from a turn')).json();
    const res = await call(t.app, 'POST', `/v1/sessions/${id}/turns`, { turn_id: 'with-file', attachments: [aid] });
    expect(res.statusCode).toBe(201);
    expect((await list(id))[0].committed).toBe(true);
    const types = (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events.map((e: any) => e.type);
    expect(types).toEqual(['attachment.committed', 'turn.committed']);
  });

  it("a turn cannot commit another session's attachment: 404 attachment_not_found, and the owner's stays uncommitted", async () => {
    const [owner, other] = [await newSession(), await newSession()];
    const { attachment_id: aid } = (await upload(owner, 'only the owner commits this')).json();
    const res = await call(t.app, 'POST', `/v1/sessions/${other}/turns`, { turn_id: 'foreign-file', attachments: [aid] });
    expectProblem(res, 404, 'attachment_not_found');
    expect((await list(owner)).map((a) => a.committed)).toEqual([false]);
    const types = (await call(t.app, 'GET', `/v1/sessions/${other}/events`)).json().events.map((e: any) => e.type);
    expect(types).toEqual([]);
  });

  it('a turn naming an attachment the session does not hold is refused naming it, its part and its place in the list (0-based), and commits none of the list', async () => {
    const [id, other] = [await newSession(), await newSession()];
    const first = (await upload(id, 'first of the turn')).json().attachment_id;
    const second = (await upload(id, 'second of the turn')).json().attachment_id;
    const foreign = (await upload(other, 'held by another session')).json().attachment_id;
    const cases: [string[], number, string][] = [
      [[first, second, foreign], 2, foreign],
      [[foreign, first], 0, foreign],
      [[first, '0'.repeat(64), second], 1, '0'.repeat(64)],
    ];
    for (const [attachments, index, missing] of cases) {
      const res = await call(t.app, 'POST', `/v1/sessions/${id}/turns`, { turn_id: `refused-${index}`, attachments });
      const problem = expectProblem(res, 404, 'attachment_not_found');
      expect({ part: problem.part, index: problem.index, attachment_id: problem.attachment_id }, JSON.stringify(attachments)).toEqual({
        part: 'attachments',
        index,
        attachment_id: missing,
      });
    }
    // A refused turn stores nothing: the ones it could have committed stay uncommitted, and no event was appended.
    expect((await list(id)).map((a) => a.committed)).toEqual([false, false]);
    expect((await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events).toEqual([]);
  });

  it('the sweep deletes uncommitted attachments past the intent TTL, and only those', async () => {
    const id = await newSession();
    const kept = (await upload(id, 'kept')).json().attachment_id;
    const dropped = (await upload(id, 'dropped')).json().attachment_id;
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/attachments/${kept}/commit`)).statusCode).toBe(200);
    // Within the TTL nothing goes.
    await deleteExpiredIntents(t.database.db, 3_600_000);
    expect((await list(id)).map((a) => a.attachment_id).sort()).toEqual([kept, dropped].sort());
    // Past it (a TTL of 0: everything uncommitted is old enough), the uncommitted one goes, with its bytes.
    await deleteExpiredIntents(t.database.db, 0);
    expect((await list(id)).map((a) => a.attachment_id)).toEqual([kept]);
    expectProblem(await download(id, dropped), 404, 'attachment_not_found');
    expect((await download(id, kept)).body).toBe('kept');
    const [orphans] = await t.database.db`select count(*)::int as n from attachment_chunks c where not exists (select 1 from attachments a where a.id = c.blob_id)`;
    expect(orphans?.n).toBe(0);
  });

  it('uploading the same bytes again before any commit starts the intent over: the sweep leaves it', async () => {
    const id = await newSession();
    const aid = (await upload(id, 'uploaded twice')).json().attachment_id;
    const ageTwoHours = () =>
      t.database.db`update attachments set created_at = created_at - interval '2 hours', intent_at = intent_at - interval '2 hours' where attachment_id = ${aid}`;
    await ageTwoHours();
    expect((await upload(id, 'uploaded twice')).statusCode).toBe(201);
    await deleteExpiredIntents(t.database.db, 3_600_000);
    expect((await list(id)).map((a) => a.attachment_id)).toEqual([aid]);
    // Without the second upload it would have gone.
    await ageTwoHours();
    await deleteExpiredIntents(t.database.db, 3_600_000);
    expect(await list(id)).toEqual([]);
  });

  it('uploading the same bytes again keeps the first upload\'s created_at, before and after the commit', async () => {
    const id = await newSession();
    const first = (await upload(id, 'the same bytes', 'text/plain')).json();
    const again = await upload(id, 'the same bytes', 'text/plain');
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first);
    expect(await list(id)).toEqual([first]);
    const committed = await call(t.app, 'POST', `/v1/sessions/${id}/attachments/${first.attachment_id}/commit`);
    expect(committed.json().created_at).toBe(first.created_at);
    expect((await upload(id, 'the same bytes', 'text/plain')).json()).toEqual({ ...first, committed: true });
  });

  it('deleting the session deletes its attachments and their bytes', async () => {
    const id = await newSession();
    await upload(id, randomBytes(4 * CHUNK));
    const rows = await chunkRows();
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`)).statusCode).toBe(204);
    expect(await chunkRows()).toBe(rows - 4);
    const [left] = await t.database.db`select count(*)::int as n from attachments a join sessions s on s.sid = a.session_sid where s.id = ${id}`;
    expect(left?.n).toBe(0);
  });

  it('the server sweeps by itself: an uncommitted attachment goes after ATTACHMENT_INTENT_TTL_MS, a committed one stays', { timeout: 60_000 }, async () => {
    const short = await createTestApp({ env: { ATTACHMENT_INTENT_TTL_MS: '5000' } });
    try {
      const id = 'swept';
      expect((await call(short.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
      const send = (body: string) =>
        short.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments`, payload: body, headers: { 'content-type': 'text/plain' } });
      const kept = (await send('kept')).json().attachment_id;
      const dropped = (await send('dropped')).json().attachment_id;
      expect((await call(short.app, 'POST', `/v1/sessions/${id}/attachments/${kept}/commit`)).statusCode).toBe(200);
      const ids = async () => (await call(short.app, 'GET', `/v1/sessions/${id}/attachments`)).json().attachments.map((a: any) => a.attachment_id);
      expect((await ids()).sort()).toEqual([kept, dropped].sort());
      await expect.poll(ids, { timeout: 40_000, interval: 200 }).toEqual([kept]);
    } finally {
      await short.close();
    }
  });
});
