import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';
import { ndjsonRequest as ndjsonRequestTo } from '../helpers/streams.js';

// Live batches and NDJSON streaming ingest on POST /v1/sessions/{id}/live,
// over real sockets: a worker pipes a token stream through one request.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
});
afterAll(async () => {
  await t?.close();
});

async function append(id: string, events: { type: string; data: unknown }[]): Promise<number> {
  const res = await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().last_seq;
}

async function openStream(id: string): Promise<SseClient> {
  const client = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream`);
  await client.waitFor(() => client.ofType('session.activity').length >= 1, 'the replay marker');
  return client;
}

/** A POST whose NDJSON body the test writes line by line while the request is open. */
const ndjsonRequest = (id: string) => ndjsonRequestTo(t.baseUrl, id);
/** The answer to an NDJSON body sent in one chunk. */
async function ndjsonAnswer(id: string, body: string) {
  const request = ndjsonRequest(id);
  request.write(body);
  request.end();
  return request.response;
}

const liveOf = (client: SseClient, type: string) => client.ofType(type).map((m) => m.json.data);

describe('live batches', () => {
  it('{events: [...]} delivers every event in the order posted and answers {accepted, after_seq}', async () => {
    await createSession(t, 'batch');
    await append('batch', [{ type: 'e', data: 1 }]);
    const client = await openStream('batch');
    try {
      const events = Array.from({ length: 5 }, (_, i) => ({ type: 'token', data: { i } }));
      const res = await call(t.app, 'POST', '/v1/sessions/batch/live', { events });
      expect(res.statusCode, res.body).toBe(202);
      expect(res.json()).toEqual({ accepted: 5, after_seq: 1 });
      await client.waitFor(() => client.ofType('token').length === 5, 'five live events');
      expect(liveOf(client, 'token')).toEqual(events.map((e) => e.data));
    } finally {
      await client.close();
    }
  });

  it('refuses a batch with a reserved type or an oversized item whole, naming the index', async () => {
    await createSession(t, 'batch-bad');
    const client = await openStream('batch-bad');
    try {
      const reserved = expectProblem(
        await call(t.app, 'POST', '/v1/sessions/batch-bad/live', { events: [{ type: 'ok', data: 1 }, { type: 'state.x', data: 2 }] }),
        400,
        'reserved_event_type',
      );
      expect(reserved.index).toBe(1);
      const big = expectProblem(
        await call(t.app, 'POST', '/v1/sessions/batch-bad/live', { events: [{ type: 'ok', data: 1 }, { type: 'ok', data: 'x'.repeat(8000) }] }),
        413,
        'payload_too_large',
      );
      expect(big.detail).toContain('events[1].data');
      expectProblem(await call(t.app, 'POST', '/v1/sessions/batch-bad/live', { events: [] }), 400, 'invalid_request');
      const many = expectProblem(
        await call(t.app, 'POST', '/v1/sessions/batch-bad/live', { events: Array.from({ length: 1001 }, () => ({ type: 'ok', data: 1 })) }),
        413,
        'payload_too_large',
      );
      expect(many).toMatchObject({ limit: 1000, size: 1001, detail: 'a batch may hold 1000 live events (MAX_BATCH_EVENTS); this one has 1001' });
      // A marker published afterwards arrives; nothing from the refused batches came before it.
      expect((await call(t.app, 'POST', '/v1/sessions/batch-bad/live', { type: 'marker', data: 0 })).statusCode).toBe(202);
      await client.waitFor(() => client.ofType('marker').length === 1, 'the marker');
      expect(client.ofType('ok')).toEqual([]);
    } finally {
      await client.close();
    }
  });
});

describe('NDJSON streaming ingest', () => {
  it('delivers each line while the request is still open, then answers 202 {accepted, after_seq}', async () => {
    await createSession(t, 'nd');
    const client = await openStream('nd');
    try {
      const request = ndjsonRequest('nd');
      for (let i = 0; i < 4; i++) {
        request.write(`${JSON.stringify({ type: 'token', data: { text: `t${i}` } })}\n`);
        // The line reaches subscribers before the body has ended.
        await client.waitFor(() => client.ofType('token').length === i + 1, `token ${i} before the body ends`);
      }
      // A line split across writes, a CRLF line ending and a blank line are all fine; the last line needs no newline.
      request.write('{"type":"token","da');
      request.write('ta":{"text":"t4"}}\r\n\n');
      request.write('{"type":"done","data":null}');
      request.end();
      const res = await request.response;
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({ accepted: 6, after_seq: 0 });
      await client.waitFor(() => client.ofType('done').length === 1, 'the last line');
      expect(liveOf(client, 'token').map((d) => d.text)).toEqual(['t0', 't1', 't2', 't3', 't4']);
      expect(client.durable).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('causal per line: a line sent after a durable append was acknowledged arrives after that event', async () => {
    await createSession(t, 'nd-causal');
    const client = await openStream('nd-causal');
    try {
      const request = ndjsonRequest('nd-causal');
      const filler = 'f'.repeat(1000);
      const sizes = [300, 1, 500, 2, 250];
      for (const [round, size] of sizes.entries()) {
        const seq = await append('nd-causal', Array.from({ length: size }, (_, i) => ({ type: 'step', data: { round, i, filler } })));
        request.write(`${JSON.stringify({ type: 'after_step', data: { seq } })}\n`);
        // Wait for this line to arrive before the next append, so its head read happens now.
        await client.waitFor(() => client.ofType('after_step').length === round + 1, `line ${round + 1}`, 20_000);
      }
      request.end();
      const res = await request.response;
      expect(await res.json()).toEqual({ accepted: sizes.length, after_seq: sizes.reduce((a, b) => a + b, 0) });
      for (const live of client.ofType('after_step')) {
        const durableIndex = client.messages.findIndex((m) => m.id === String(live.json.data.seq));
        expect(durableIndex, `durable ${live.json.data.seq} arrived before the line sent after it`).toBeGreaterThanOrEqual(0);
        expect(durableIndex).toBeLessThan(client.messages.indexOf(live));
      }
    } finally {
      await client.close();
    }
  });

  it('a malformed line ends the request with 400 naming the line; the lines before it were delivered', async () => {
    await createSession(t, 'nd-bad');
    const client = await openStream('nd-bad');
    try {
      const res = await ndjsonAnswer('nd-bad', '{"type":"token","data":1}\n{"type":"token","data":2}\n{"type":"token", oops}\n{"type":"token","data":4}\n');
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem: any = await res.json();
      expect(problem).toMatchObject({ code: 'invalid_request', line: 3, accepted: 2 });
      expect(problem.detail).toMatch(/^line 3 /);
      await call(t.app, 'POST', '/v1/sessions/nd-bad/live', { type: 'marker', data: 0 });
      await client.waitFor(() => client.ofType('marker').length === 1, 'the marker');
      expect(liveOf(client, 'token')).toEqual([1, 2]);
    } finally {
      await client.close();
    }
  });

  it('the line named counts blank lines, as an editor numbers them; they are skipped, not delivered', async () => {
    await createSession(t, 'nd-blank');
    const res = await ndjsonAnswer('nd-blank', '{"type":"token","data":1}\n\n\r\n   \n{"type":"token", oops}\n');
    expect(res.status).toBe(400);
    const problem: any = await res.json();
    expect(problem).toMatchObject({ code: 'invalid_request', line: 5, accepted: 1 });
    expect(problem.detail).toMatch(/^line 5 /);
  });

  it('each line is checked like a single event: fields, reserved types and size, with the line named', async () => {
    await createSession(t, 'nd-rules');
    const cases: [string, number, string][] = [
      ['{"type":"token"}', 400, 'invalid_request'],
      ['{"type":"token","data":1,"extra":1}', 400, 'invalid_request'],
      ['{"type":"Bad Type","data":1}', 400, 'invalid_request'],
      ['[1,2]', 400, 'invalid_request'],
      ['{"type":"session.x","data":1}', 400, 'reserved_event_type'],
      [JSON.stringify({ type: 'token', data: 'x'.repeat(8000) }), 413, 'payload_too_large'],
    ];
    for (const [line, status, code] of cases) {
      const res = await ndjsonAnswer('nd-rules', `{"type":"ok","data":0}\n${line}\n`);
      const problem: any = await res.json();
      expect([res.status, problem.code, problem.line, problem.accepted], line).toEqual([status, code, 2, 1]);
    }
  });

  it('a refused line is named and explained in the detail, in words a person reading curl output can act on', async () => {
    await createSession(t, 'nd-words');
    const cases: [string, string][] = [
      ['not json', 'line 2 is not valid JSON: expected a value, found "n" at column 1'],
      ['{"type":"token"}', 'line 2 field data Expected required property; each line is {type, data}'],
      ['{"type":"token","data":1,"x":1}', 'line 2 field x Unexpected property; each line is {type, data}'],
      ['5', 'line 2 Expected object; each line is {type, data}'],
      ['{"type":"t","data":"\\u0000"}', 'line 2 at /data: a string holds U+0000, which Postgres cannot store'],
      ['{"type":"session.x","data":1}', expect.stringMatching(/^line 2: event type "session\.x" uses a prefix only the server writes/)],
    ];
    for (const [line, detail] of cases) {
      const res = await ndjsonAnswer('nd-words', `{"type":"ok","data":0}\n${line}\n`);
      expect(await res.json(), line).toMatchObject({ status: 400, line: 2, accepted: 1, detail });
    }
  });

  it('only a CR that ends the last line is its line ending: a raw CR inside its JSON string is refused, as on any line', async () => {
    await createSession(t, 'nd-last-cr');
    const res = await ndjsonAnswer('nd-last-cr', '{"type":"ok","data":0}\n{"type":"t","data":"a\rb"}');
    expect(await res.json()).toMatchObject({ status: 400, code: 'invalid_request', line: 2, accepted: 1, detail: expect.stringMatching(/^line 2 is not valid JSON/) });
  });

  it('the last line needs no newline, and its CRLF ending is as good as a newline', async () => {
    await createSession(t, 'nd-last');
    const client = await openStream('nd-last');
    try {
      const res = await ndjsonAnswer('nd-last', '{"type":"first","data":1}\r\n{"type":"last","data":2}\r');
      expect([res.status, await res.json()]).toEqual([202, { accepted: 2, after_seq: 0 }]);
      await client.waitFor(() => client.ofType('last').length === 1, 'the last line');
      expect(liveOf(client, 'last')).toEqual([2]);
    } finally {
      await client.close();
    }
  });

  it('a body of blank lines only accepts nothing and still answers after_seq, the head it was published after', async () => {
    await createSession(t, 'nd-empty');
    const head = await append('nd-empty', [{ type: 'durable', data: 1 }, { type: 'durable', data: 2 }]);
    const res = await ndjsonAnswer('nd-empty', '\n\r\n\n');
    expect([res.status, await res.json()]).toEqual([202, { accepted: 0, after_seq: head }]);
  });

  it('a character split between two chunks of the body arrives whole', async () => {
    await createSession(t, 'nd-split-char');
    const client = await openStream('nd-split-char');
    try {
      const request = ndjsonRequest('nd-split-char');
      const text = 'héllo 🙂 wörld';
      const line = Buffer.from(`{"type":"first","data":1}\n${JSON.stringify({ type: 'text', data: text })}\n`);
      // The cut falls after the first two of the emoji's four bytes.
      const cut = line.indexOf(Buffer.from('🙂')) + 2;
      request.write(line.subarray(0, cut));
      // The server has read the first chunk once its whole line is delivered; the rest comes as another chunk.
      await client.waitFor(() => client.ofType('first').length === 1, 'the line before the split one');
      request.write(line.subarray(cut));
      request.end();
      const res = await request.response;
      expect([res.status, await res.json()]).toEqual([202, { accepted: 2, after_seq: 0 }]);
      await client.waitFor(() => client.ofType('text').length === 1, 'the split line');
      expect(liveOf(client, 'text')).toEqual([text]);
    } finally {
      await client.close();
    }
  });

  it('the NDJSON content type is recognised with a charset parameter and in any letter case', async () => {
    await createSession(t, 'nd-ctype');
    const client = await openStream('nd-ctype');
    try {
      for (const [i, type] of ['application/x-ndjson; charset=utf-8', 'Application/X-NDJSON', 'application/x-ndjson ; charset=utf-8'].entries()) {
        const res = await fetch(`${t.baseUrl}/v1/sessions/nd-ctype/live`, {
          method: 'POST',
          headers: { 'content-type': type },
          body: `{"type":"token","data":${2 * i}}\n{"type":"token","data":${2 * i + 1}}\n`,
        });
        expect([type, res.status, await res.json()]).toEqual([type, 202, { accepted: 2, after_seq: 0 }]);
      }
      await client.waitFor(() => client.ofType('token').length === 6, 'the six lines');
      expect(liveOf(client, 'token')).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      await client.close();
    }
  });

  it('a type that only starts like NDJSON is not NDJSON: 415 unsupported_media_type, nothing published', async () => {
    await createSession(t, 'nd-ctype-near');
    for (const type of ['application/x-ndjsonx', 'application/x-ndjson-seq; charset=utf-8']) {
      const res = await fetch(`${t.baseUrl}/v1/sessions/nd-ctype-near/live`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: '{"type":"token","data":1}\n',
      });
      expect([type, res.status, ((await res.json()) as { code: string }).code]).toEqual([type, 415, 'unsupported_media_type']);
    }
  });

  it('404 for an unknown session before reading the body', async () => {
    const res = await ndjsonAnswer('nd-missing', '{"type":"token","data":1}\n');
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).code).toBe('session_not_found');
  });
});

describe('an NDJSON line held to MAX_BODY_BYTES', () => {
  const LIMIT = 64 * 1024;
  let small: TestApp;
  beforeAll(async () => {
    small = await createTestApp({ env: { MAX_BODY_BYTES: String(LIMIT) } });
    await small.listen();
  });
  afterAll(async () => {
    await small?.close();
  });

  it('counts bytes, not characters: a line of three-byte characters under the limit in characters, over it in bytes, is 413 naming the line', async () => {
    await createSession(small, 'nd-bytes');
    // 30,000 characters, 90,000 bytes: still unfinished (no newline) when it passes the limit.
    const line = `{"type":"t","data":"${'\u20AC'.repeat(30_000)}`;
    expect(line.length).toBeLessThan(LIMIT);
    expect(Buffer.byteLength(line)).toBeGreaterThan(LIMIT);
    const res = await fetch(`${small.baseUrl}/v1/sessions/nd-bytes/live`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: `{"type":"ok","data":0}\n${line}`,
    });
    const problem = (await res.json()) as Record<string, unknown>;
    expect([res.status, problem.code, problem.line, problem.accepted, problem.limit_bytes]).toEqual([413, 'payload_too_large', 2, 1, LIMIT]);
    expect(problem.detail).toBe(`line 2: a line is longer than ${LIMIT} bytes (MAX_BODY_BYTES)`);
  });
  it('a line of exactly MAX_BODY_BYTES, unfinished until its newline comes, is delivered; one byte more is 413', async () => {
    await createSession(small, 'nd-edge');
    // JSON's own whitespace pads the line to the limit while its data stays small.
    const padded = (bytes: number) => {
      const bare = '{"type":"edge",' + '"data":1}';
      return '{"type":"edge",' + ' '.repeat(bytes - bare.length) + '"data":1}';
    };
    for (const [bytes, status] of [[LIMIT, 202], [LIMIT + 1, 413]] as const) {
      const line = padded(bytes);
      expect(Buffer.byteLength(line)).toBe(bytes);
      const request = ndjsonRequestTo(small.baseUrl, 'nd-edge');
      request.write(line);
      // The newline comes in a later chunk: until then the line is unfinished, and held to the bound as such.
      await new Promise((resolve) => setTimeout(resolve, 100));
      try {
        request.write('\n');
        request.end();
      } catch {
        // Refused already: the server stopped reading the body.
      }
      const res = await request.response;
      const body = (await res.json()) as Record<string, unknown>;
      expect(res.status, `${bytes} bytes: ${JSON.stringify(body).slice(0, 200)}`).toBe(status);
      if (status === 202) expect(body).toMatchObject({ accepted: 1 });
      else expect(body).toMatchObject({ code: 'payload_too_large', line: 1, accepted: 0 });
    }
  });
});
