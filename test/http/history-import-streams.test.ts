import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteExpiredSessions } from '../../src/history/expiry.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { exportFile, exportLines, type ExportLine as Line } from '../helpers/export-file.js';

// A Durable Stream moved by export and import (docs/API.md, "export" and "import"): the copy answers the face as
// the original did (its Content-Type, closure, Stream-Seq, expiry and producers' state), and a file's stream
// records pass the checks the face's own writes pass, or the import is refused naming the line, nothing created.
let t: TestApp;
const MAX_EVENT_BYTES = 1024;
const MAX_JSON_DEPTH = 8;

beforeAll(async () => {
  t = await createTestApp({
    env: { MAX_EVENT_BYTES: String(MAX_EVENT_BYTES), MAX_JSON_DEPTH: String(MAX_JSON_DEPTH), HISTORY_SWEEP_MS: '86400000' },
  });
});
afterAll(() => t?.close());

let ids = 0;
const unique = (what: string) => `${what}-${++ids}`;
const JSON_TYPE = { 'content-type': 'application/json' };
const producer = (id: string, epoch: number, seq: number) => ({ 'producer-id': id, 'producer-epoch': String(epoch), 'producer-seq': String(seq) });

function ds(method: 'PUT' | 'POST' | 'GET' | 'HEAD' | 'DELETE', path: string, headers: Record<string, string> = {}, body?: string | Buffer) {
  return t.app.inject({ method, url: `/v1/stream/${path}`, headers, ...(body === undefined ? {} : { payload: body }) });
}
async function expectStatus(response: Promise<{ statusCode: number; body: string }>, status: number): Promise<void> {
  const res = await response;
  expect(res.statusCode, res.body).toBe(status);
}

const importText = (payload: string, id: string) =>
  t.app.inject({ method: 'POST', url: `/v1/sessions/import?id=${id}`, headers: { 'content-type': 'application/x-ndjson' }, payload });

/** The export of `id` imported under a new id, through the HTTP routes: the copy's id. */
async function copyOf(id: string): Promise<string> {
  const exported = await t.app.inject({ method: 'GET', url: `/v1/sessions/${id}/export` });
  expect(exported.statusCode, exported.body).toBe(200);
  const copy = unique('copy');
  const response = await importText(exported.body, copy);
  expect(response.statusCode, response.body).toBe(201);
  return copy;
}

/** Rows in every table an import writes: a refused import leaves each as it was. */
async function rows(): Promise<Record<string, number>> {
  const [row] = await t.database.db`
    select (select count(*)::int from sessions) as sessions, (select count(*)::int from events) as events,
      (select count(*)::int from stream_producers) as producers, (select count(*)::int from state_snapshots) as snapshots`;
  return row as Record<string, number>;
}

async function expectRefused(lines: Line[], line: number, detail: RegExp): Promise<void> {
  const id = unique('refused');
  const before = await rows();
  const problem = expectProblem(await importText(exportFile(lines), id), 400, 'invalid_import');
  expect(problem.detail).toMatch(detail);
  expect(problem.line, problem.detail).toBe(line);
  expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}`), 404, 'session_not_found');
  expect(await rows()).toEqual(before);
}

async function expectImported(lines: Line[]): Promise<string> {
  const id = unique('copy');
  const response = await importText(exportFile(lines), id);
  expect(response.statusCode, response.body).toBe(201);
  return id;
}

const read = (path: string) => ds('GET', `${path}?offset=-1`);
const indexOf = (lines: Line[], record: string) => lines.findIndex((line) => line.record === record);
const nested = (depth: number): unknown => (depth === 0 ? 1 : { a: nested(depth - 1) });
const nestedArray = (depth: number): unknown => (depth === 0 ? 1 : [nestedArray(depth - 1)]);

describe('a stream exported and imported answers the face as the original did', () => {
  it('a JSON stream: the same messages at the same offsets, Content-Type application/json', async () => {
    const id = unique('json');
    await expectStatus(ds('PUT', id, JSON_TYPE, JSON.stringify({ first: true })), 201);
    await expectStatus(ds('POST', id, JSON_TYPE, JSON.stringify([{ n: 1 }, [1, [2]], 'three'])), 204);
    const copy = await copyOf(id);
    const [original, copied] = [await read(id), await read(copy)];
    expect(copied.statusCode).toBe(200);
    expect(copied.headers['content-type']).toBe('application/json');
    expect(copied.body).toBe(original.body);
    expect(JSON.parse(copied.body)).toEqual([{ first: true }, { n: 1 }, [1, [2]], 'three']);
    expect(copied.headers['stream-next-offset']).toBe(original.headers['stream-next-offset']);
    // Open, and still a JSON stream: another message appends after the copied ones.
    await expectStatus(ds('POST', copy, JSON_TYPE, JSON.stringify({ n: 4 })), 204);
    expect(JSON.parse((await read(copy)).body).at(-1)).toEqual({ n: 4 });
  });

  it('a byte stream with multibyte text: the exact bytes, its own Content-Type, and it stays a byte stream', async () => {
    const id = unique('bytes');
    const type = { 'content-type': 'text/plain; charset=utf-8' };
    const first = Buffer.from('héllo wörld, ');
    const second = Buffer.from('日本語 🌍\n');
    await expectStatus(ds('PUT', id, type, first), 201);
    await expectStatus(ds('POST', id, type, second), 204);
    const copy = await copyOf(id);
    const copied = await read(copy);
    expect(copied.statusCode).toBe(200);
    expect(copied.headers['content-type']).toMatch(/^text\/plain/);
    expect(copied.rawPayload.equals(Buffer.concat([first, second]))).toBe(true);
    expect((await ds('HEAD', copy)).headers['content-type']).toMatch(/^text\/plain/);
    // A JSON append is refused as on the original: the copy is not a JSON stream.
    expectProblem(await ds('POST', copy, JSON_TYPE, '{"n":1}'), 409, (await ds('POST', id, JSON_TYPE, '{"n":1}')).json().code);
  });

  it('a closed stream: closed on the copy, a write is 409 session_closed, the closing producer\'s retry is acknowledged', async () => {
    const id = unique('closed');
    await expectStatus(ds('PUT', id, JSON_TYPE), 201);
    const close = { ...JSON_TYPE, ...producer('closer', 2, 0), 'stream-closed': 'true' };
    await expectStatus(ds('POST', id, close, '{"last":true}'), 200);
    const copy = await copyOf(id);
    expect((await ds('HEAD', copy)).headers['stream-closed']).toBe('true');
    const refused = expectProblem(await ds('POST', copy, JSON_TYPE, '{"n":1}'), 409, 'session_closed');
    expect(refused).toBeDefined();
    const retry = await ds('POST', copy, close, '{"last":true}');
    expect(retry.statusCode, retry.body).toBe(204);
    expect(retry.headers['stream-closed']).toBe('true');
    expect(retry.headers['producer-epoch']).toBe('2');
    expect(retry.headers['producer-seq']).toBe('0');
    expect(JSON.parse((await read(copy)).body)).toEqual([{ last: true }]);
  });

  it('producers: a retry on the copy is a duplicate (204), a gap is 409, a fenced epoch 403, the next seq appends', async () => {
    const id = unique('producers');
    await expectStatus(ds('PUT', id, JSON_TYPE), 201);
    for (const [name, epoch, seq] of [['a', 0, 0], ['a', 0, 1], ['b', 3, 0]] as const) {
      await expectStatus(ds('POST', id, { ...JSON_TYPE, ...producer(name, epoch, seq) }, JSON.stringify({ name, seq })), 200);
    }
    const lines = await exportLines(t, id);
    expect(lines.filter((line) => line.record === 'producer')).toEqual([
      { record: 'producer', producer_id: 'a', epoch: 0, seq: 1 },
      { record: 'producer', producer_id: 'b', epoch: 3, seq: 0 },
    ]);
    expect(lines.at(-1)?.counts.producers).toBe(2);
    const copy = await copyOf(id);
    const duplicate = await ds('POST', copy, { ...JSON_TYPE, ...producer('a', 0, 1) }, JSON.stringify({ name: 'a', seq: 1 }));
    expect(duplicate.statusCode, duplicate.body).toBe(204);
    expect(duplicate.headers['producer-seq']).toBe('1');
    const gap = await ds('POST', copy, { ...JSON_TYPE, ...producer('a', 0, 3) }, '{}');
    expect(gap.statusCode, gap.body).toBe(409);
    expect(gap.headers['producer-expected-seq']).toBe('2');
    expect((await ds('POST', copy, { ...JSON_TYPE, ...producer('b', 2, 0) }, '{}')).statusCode).toBe(403);
    await expectStatus(ds('POST', copy, { ...JSON_TYPE, ...producer('a', 0, 2) }, JSON.stringify({ name: 'a', seq: 2 })), 200);
    expect(JSON.parse((await read(copy)).body)).toEqual([
      { name: 'a', seq: 0 },
      { name: 'a', seq: 1 },
      { name: 'b', seq: 0 },
      { name: 'a', seq: 2 },
    ]);
  });

  it('Stream-Seq: the copy refuses what the original would (409), and takes a greater one', async () => {
    const id = unique('seq');
    await expectStatus(ds('PUT', id, JSON_TYPE), 201);
    await expectStatus(ds('POST', id, { ...JSON_TYPE, 'stream-seq': '0005' }, '{"n":1}'), 204);
    const copy = await copyOf(id);
    for (const path of [id, copy]) expect((await ds('POST', path, { ...JSON_TYPE, 'stream-seq': '0005' }, '{"n":2}')).statusCode).toBe(409);
    await expectStatus(ds('POST', copy, { ...JSON_TYPE, 'stream-seq': '0006' }, '{"n":2}'), 204);
  });

  it('Stream-Expires-At and Stream-TTL: HEAD on the copy shows them', async () => {
    const at = unique('expires-at');
    const when = new Date(Date.now() + 3_600_000);
    when.setUTCMilliseconds(250);
    await expectStatus(ds('PUT', at, { 'content-type': 'text/plain', 'stream-expires-at': when.toISOString() }), 201);
    const ttl = unique('ttl');
    await expectStatus(ds('PUT', ttl, { 'content-type': 'text/plain', 'stream-ttl': '3600' }), 201);
    const atCopy = await copyOf(at);
    const atHead = await ds('HEAD', atCopy);
    expect(atHead.statusCode).toBe(200);
    expect(atHead.headers['stream-expires-at']).toBe(when.toISOString());
    expect(atHead.headers['stream-ttl']).toBeUndefined();
    // The expiry sweep knows of the copy's fixed time: once it has passed (the stored times moved back two hours), it deletes the copy.
    await t.database.db`
      update sessions set expires_at = expires_at - interval '2 hours', expiry_check_at = expiry_check_at - interval '2 hours'
      where id = ${atCopy}`;
    expect(await deleteExpiredSessions(t.database.db)).toBeGreaterThanOrEqual(1);
    const [gone] = await t.database.db`select 1 from sessions where id = ${atCopy}`;
    expect(gone).toBeUndefined();
    const ttlHead = await ds('HEAD', await copyOf(ttl));
    expect(ttlHead.headers['stream-ttl']).toBe('3600');
    expect(ttlHead.headers['stream-expires-at']).toBeUndefined();
  });

  it('a stream that reads as absent is not exported: soft-deleted (kept for its fork), or past its Expires-At', async () => {
    const source = unique('deleted');
    await expectStatus(ds('PUT', source, JSON_TYPE, '{"n":1}'), 201);
    await expectStatus(ds('PUT', unique('fork'), { ...JSON_TYPE, 'stream-forked-from': `/v1/stream/${source}` }), 201);
    await expectStatus(ds('DELETE', source), 204);
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${source}/export`), 404, 'session_not_found');
    const expired = unique('expired');
    await expectStatus(ds('PUT', expired, { ...JSON_TYPE, 'stream-expires-at': '2001-01-01T00:00:00Z' }), 201);
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${expired}/export`), 404, 'session_not_found');
  });

  it('a native session exports as before (no stream fields, no producers count); a stream\'s export carries only what is set', async () => {
    const native = unique('plain');
    await call(t.app, 'POST', '/v1/sessions', { id: native });
    const lines = await exportLines(t, native);
    for (const field of ['stream_content_type', 'closed_at', 'stream_seq', 'closed_by', 'expires_at']) expect(lines[1]).not.toHaveProperty(field);
    expect(lines.at(-1)?.counts).not.toHaveProperty('producers');
    const stream = unique('set');
    await expectStatus(ds('PUT', stream, { 'content-type': 'text/plain', 'stream-closed': 'true' }), 201);
    const session = (await exportLines(t, stream))[1] as Line;
    expect(session.stream_content_type).toBe('text/plain');
    expect(Date.parse(session.closed_at)).not.toBeNaN();
    for (const field of ['stream_seq', 'closed_by', 'expires_at']) expect(session).not.toHaveProperty(field);
  });

  it('a file written before the stream fields travelled imports as a session the face reads as JSON', async () => {
    const id = unique('native');
    await expectStatus(ds('PUT', id, JSON_TYPE, '{"n":1}'), 201);
    const lines = await exportLines(t, id);
    const session = lines[1] as Line;
    for (const field of ['stream_content_type', 'closed_at', 'stream_seq', 'closed_by', 'expires_at']) delete session[field];
    const end = lines.at(-1) as Line;
    delete end.counts.producers;
    const copy = unique('copy');
    const response = await importText(lines.map((line) => JSON.stringify(line)).join('\n'), copy);
    expect(response.statusCode, response.body).toBe(201);
    const copied = await read(copy);
    expect(copied.headers['content-type']).toBe('application/json');
    expect(JSON.parse(copied.body)).toEqual([{ n: 1 }]);
  });
});

describe('a file\'s stream records pass the checks of the face, or the import is refused naming the line', () => {
  /** A JSON stream's export with one message and one producer, and a byte stream's with one append. */
  async function jsonStream(): Promise<Line[]> {
    const id = unique('json-src');
    await expectStatus(ds('PUT', id, JSON_TYPE), 201);
    await expectStatus(ds('POST', id, { ...JSON_TYPE, ...producer('p', 1, 0) }, '{"n":1}'), 200);
    return exportLines(t, id);
  }
  async function byteStream(): Promise<Line[]> {
    const id = unique('bytes-src');
    await expectStatus(ds('PUT', id, { 'content-type': 'application/octet-stream' }, Buffer.from([0, 1, 2, 255])), 201);
    return exportLines(t, id);
  }
  const session = (lines: Line[]) => lines[1] as Line;
  const event = (lines: Line[]) => lines[indexOf(lines, 'event')] as Line;
  const eventLine = (lines: Line[]) => indexOf(lines, 'event') + 1;

  it('the exports used here import as they are', async () => {
    await expectImported(await jsonStream());
    await expectImported(await byteStream());
  });

  it('stream_content_type only as the face keeps it: lowercase type/subtype, no parameters, a header value', async () => {
    for (const contentType of ['Text/Plain', 'text/plain; charset=utf-8', ' text/plain', 'text/plain\n', 'text/✓']) {
      const lines = await byteStream();
      session(lines).stream_content_type = contentType;
      await expectRefused(lines, 2, /stream_content_type/);
    }
  });

  it('stream_seq only as a header carries it', async () => {
    for (const seq of ['a\nb', ' 5', '5\t', 'ü✓', 5]) {
      const lines = await jsonStream();
      session(lines).stream_seq = seq;
      await expectRefused(lines, 2, /stream_seq/);
    }
    const lines = await jsonStream();
    session(lines).stream_seq = 'zz\u00ff';
    await expectImported(lines);
  });

  it('closed_by: a producer id within MAX_PRODUCER_ID_LENGTH, safe integers, only with closed_at, matching its producer\'s state', async () => {
    const closed = (lines: Line[], by: unknown) => {
      session(lines).closed_at = '2026-01-01T00:00:00Z';
      session(lines).closed_by = by;
      return lines;
    };
    await expectRefused(closed(await jsonStream(), { producer_id: 'p'.repeat(257), epoch: 1, seq: 0 }), 2, /field closed_by /);
    await expectRefused(closed(await jsonStream(), { producer_id: '', epoch: 1, seq: 0 }), 2, /field closed_by /);
    await expectRefused(closed(await jsonStream(), { producer_id: 'p', epoch: 1.5, seq: 0 }), 2, /field closed_by /);
    // Past 2^53-1 the line itself is refused, as a request body would be.
    await expectRefused(closed(await jsonStream(), { producer_id: 'p', epoch: 2 ** 53, seq: 0 }), 2, /closed_by\/epoch/);
    await expectRefused(closed(await jsonStream(), { producer_id: 'p', epoch: 1, seq: -1 }), 2, /field closed_by /);
    await expectRefused(closed(await jsonStream(), { producer_id: 'p', epoch: 1, seq: 0, extra: 1 }), 2, /closed_by/);
    const open = await jsonStream();
    session(open).closed_by = { producer_id: 'p', epoch: 1, seq: 0 };
    await expectRefused(open, 2, /closed_by .*closed_at is null/);
    const other = await jsonStream();
    await expectRefused(closed(other, { producer_id: 'p', epoch: 1, seq: 5 }), indexOf(other, 'producer') + 1, /producer record: "p" closed the stream with epoch 1 seq 5/);
    const missing = await jsonStream();
    await expectRefused(closed(missing, { producer_id: 'q', epoch: 1, seq: 0 }), missing.length, /closed_by names producer "q", and no producer record/);
    // Closed with the request the producer record holds: as the face would have left it.
    const copy = await expectImported(closed(await jsonStream(), { producer_id: 'p', epoch: 1, seq: 0 }));
    await expectStatus(ds('POST', copy, { ...JSON_TYPE, ...producer('p', 1, 0), 'stream-closed': 'true' }, '{"n":1}'), 204);
  });

  it('a stream whose expiry has passed since the export is refused: the copy would read as absent', async () => {
    const lines = await byteStream();
    session(lines).expires_at = '2001-01-01T00:00:00Z';
    await expectRefused(lines, 2, /past its expiry/);
    // Only the face sets a fixed expiry, on a stream.
    const native = await jsonStream();
    session(native).stream_content_type = null;
    session(native).expires_at = '2101-01-01T00:00:00Z';
    await expectRefused(native, 2, /expires_at is a stream's, and stream_content_type is null/);
  });

  it('expires_at and closed_at as instants', async () => {
    for (const field of ['expires_at', 'closed_at']) {
      const lines = await jsonStream();
      session(lines)[field] = 'tomorrow';
      await expectRefused(lines, 2, new RegExp(field));
    }
  });

  it('producer records: id and numbers as the producer headers take them, each id once, in their place', async () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ producer_id: 'x'.repeat(257) }, /producer_id/],
      [{ producer_id: '' }, /producer_id/],
      [{ producer_id: 'a\r\nb' }, /producer_id/],
      [{ epoch: 2 ** 53 }, /epoch/],
      [{ seq: 1.5 }, /seq/],
      [{ seq: -1 }, /seq/],
      [{ extra: true }, /producer record/],
    ];
    for (const [change, detail] of bad) {
      const lines = await jsonStream();
      const at = indexOf(lines, 'producer');
      lines[at] = { ...lines[at], ...change };
      await expectRefused(lines, at + 1, detail);
    }
    const twice = await jsonStream();
    const at = indexOf(twice, 'producer');
    twice.splice(at + 1, 0, { ...twice[at], seq: 4 });
    await expectRefused(twice, at + 2, new RegExp(`producer_id p appears twice \\(first on line ${at + 1}\\)`));
    const early = await jsonStream();
    const producerLine = early.splice(indexOf(early, 'producer'), 1)[0] as Line;
    early.splice(indexOf(early, 'event'), 0, producerLine);
    await expectRefused(early, indexOf(early, 'event') + 1, /"event" record cannot come after the "producer" records/);
    const counted = await jsonStream();
    const end = counted.at(-1) as Line;
    end.counts.producers = 2;
    const response = await importText(exportFile(counted, true), unique('refused'));
    const problem = expectProblem(response, 400, 'invalid_import');
    expect(problem.detail).toMatch(/producers 1 \(the end record says 2\)/);
  });

  it('stream.message only in a JSON stream, stream.bytes only in a byte stream', async () => {
    const bytes = await byteStream();
    event(bytes).type = 'stream.message';
    event(bytes).data = { n: 1 };
    await expectRefused(bytes, eventLine(bytes), /stream\.message event in a stream of Content-Type application\/octet-stream/);
    const json = await jsonStream();
    event(json).type = 'stream.bytes';
    event(json).data = { base64: 'AAE=' };
    await expectRefused(json, eventLine(json), /stream\.bytes event in a JSON stream/);
    // A session the face never touched reads as a JSON stream: no stream.bytes there either.
    const native = await jsonStream();
    session(native).stream_content_type = null;
    event(native).type = 'stream.bytes';
    event(native).data = { base64: 'AAE=' };
    await expectRefused(native, eventLine(native), /stream\.bytes event in a JSON stream/);
  });

  it('a stream.bytes event\'s data is exactly {"base64": ...}, non-empty, valid, within MAX_EVENT_BYTES', async () => {
    const datas: unknown[] = [
      { base64: 'AAE=', extra: 1 },
      { bytes: 'AAE=' },
      { base64: '' },
      { base64: 'not base64!' },
      { base64: 'AAE' },
      { base64: 'AA==AA==' },
      { base64: 1 },
      ['AAE='],
      'AAE=',
      null,
    ];
    for (const data of datas) {
      const lines = await byteStream();
      event(lines).data = data;
      await expectRefused(lines, eventLine(lines), /stream\.bytes event's data is \{"base64": \.\.\.\}/);
    }
    // The live face's largest append: its base64 in {"base64": ...} at MAX_EVENT_BYTES, one byte more refused.
    const largest = Buffer.alloc(Math.floor((MAX_EVENT_BYTES - 13) / 4) * 3, 7);
    const id = unique('largest');
    await expectStatus(ds('PUT', id, { 'content-type': 'application/octet-stream' }, largest), 201);
    expectProblem(await ds('POST', id, { 'content-type': 'application/octet-stream' }, Buffer.alloc(largest.length + 3, 7)), 413, 'payload_too_large');
    await expectImported(await exportLines(t, id));
    const over = await byteStream();
    event(over).data = { base64: Buffer.alloc(largest.length + 3, 7).toString('base64') };
    await expectRefused(over, eventLine(over), /MAX_EVENT_BYTES/);
  });

  it('a stream.message event: within MAX_EVENT_BYTES, and nested no deeper than an append body carries it', async () => {
    const big = await jsonStream();
    event(big).data = { text: 'x'.repeat(MAX_EVENT_BYTES) };
    await expectRefused(big, eventLine(big), /MAX_EVENT_BYTES/);
    // The face takes an object message MAX_JSON_DEPTH deep (the body itself), an array message one less (inside an array body).
    const id = unique('deep');
    await expectStatus(ds('PUT', id, JSON_TYPE), 201);
    await expectStatus(ds('POST', id, JSON_TYPE, JSON.stringify(nested(MAX_JSON_DEPTH))), 204);
    expect((await ds('POST', id, JSON_TYPE, JSON.stringify(nested(MAX_JSON_DEPTH + 1)))).statusCode).toBe(400);
    await expectStatus(ds('POST', id, JSON_TYPE, JSON.stringify([nestedArray(MAX_JSON_DEPTH - 1)])), 204);
    expect((await ds('POST', id, JSON_TYPE, JSON.stringify([nestedArray(MAX_JSON_DEPTH)]))).statusCode).toBe(400);
    await expectImported(await exportLines(t, id));
    for (const data of [nested(MAX_JSON_DEPTH + 1), nestedArray(MAX_JSON_DEPTH)]) {
      const lines = await jsonStream();
      event(lines).data = data;
      await expectRefused(lines, eventLine(lines), /data nests deeper than/);
    }
  });
});
