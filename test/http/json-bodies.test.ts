import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

// Every JSON body is stored exactly as the client will read it back, or
// refused with a 400 that names the place. Sent as raw text: JSON.stringify
// cannot write most of these.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await call(t.app, 'POST', '/v1/sessions', { id: 'bodies' });
  await call(t.app, 'PUT', '/v1/sessions/bodies/state', { base_version: 0, schema_version: 1, snapshot: {} });
});
afterAll(() => t.close());

const send = (method: 'POST' | 'PUT' | 'PATCH', url: string, payload: string | Buffer) =>
  t.app.inject({ method, url, headers: { 'content-type': 'application/json' }, payload });

async function history() {
  const session = (await call(t.app, 'GET', '/v1/sessions/bodies')).json();
  const events = (await call(t.app, 'GET', '/v1/sessions/bodies/events')).json().events;
  const messages = (await call(t.app, 'GET', '/v1/sessions/bodies/messages')).json();
  const queue = (await call(t.app, 'GET', '/v1/sessions/bodies/queue')).json();
  return { session: { ...session, updated_at: undefined }, events, messages, queue };
}

/** 400 invalid_request naming `field`, with `words` in the detail, and nothing stored. */
async function expectRefused(method: 'POST' | 'PUT' | 'PATCH', url: string, payload: string | Buffer, field: string, words: RegExp) {
  const before = await history();
  const problem = expectProblem(await send(method, url, payload), 400, 'invalid_request');
  expect(problem.errors).toEqual([{ in: 'body', field, message: expect.any(String) }]);
  expect(problem.detail).toMatch(words);
  expect(await history()).toEqual(before);
}

describe('strings Postgres would change are refused where they are', () => {
  it('a lone surrogate in a lease owner (it was stored as U+FFFD while the event kept the original)', async () => {
    await expectRefused('POST', '/v1/sessions/bodies/lease', '{"owner":"worker-\\ud800","ttl_ms":60000}', '/owner', /lone UTF-16 surrogate \(\\ud800\)/);
    expect((await call(t.app, 'GET', '/v1/sessions/bodies')).json().lease).toBeNull();
  });

  it('U+0000 and lone surrogates in event data, metadata, messages, queue items and state, keys included', async () => {
    await expectRefused('POST', '/v1/sessions/bodies/events', '{"events":[{"type":"x","data":{"s":"a\\u0000b"}}]}', '/events/0/data/s', /U\+0000/);
    await expectRefused('PATCH', '/v1/sessions/bodies', '{"metadata":{"k\\udc00":1}}', '/metadata/k\udc00', /a key holds a lone UTF-16 surrogate/);
    await expectRefused('POST', '/v1/sessions/bodies/messages', '{"messages":[{"role":"user","content":"\\udbff"}]}', '/messages/0/content', /surrogate/);
    await expectRefused('POST', '/v1/sessions/bodies/queue', '{"items":[1,["\\u0000"]]}', '/items/1/0', /U\+0000/);
    await expectRefused('PUT', '/v1/sessions/bodies/state', '{"base_version":1,"schema_version":1,"snapshot":["\\ud83d"]}', '/snapshot/0', /surrogate/);
  });

  it('bytes that are not UTF-8 (they used to become U+FFFD)', async () => {
    const payload = Buffer.concat([Buffer.from('{"events":[{"type":"x","data":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]);
    await expectRefused('POST', '/v1/sessions/bodies/events', payload, '', /not valid UTF-8 \(at byte 32\)/);
  });

  it('a pair of surrogates is one character and is kept', async () => {
    const response = await send('POST', '/v1/sessions/bodies/events', '{"events":[{"type":"x","data":"\\ud83d\\ude00 ok"}]}');
    expect(response.statusCode).toBe(201);
    expect((await call(t.app, 'GET', '/v1/sessions/bodies/events')).json().events.at(-1).data).toBe('😀 ok');
  });
});

describe('numbers a double cannot hold are refused; the rest read back as sent', () => {
  it('overflow to Infinity, in any body', async () => {
    await expectRefused('POST', '/v1/sessions/bodies/events', '{"events":[{"type":"x","data":{"n":1e400}}]}', '/events/0/data/n', /too large for a double/);
    await expectRefused('PATCH', '/v1/sessions/bodies', '{"metadata":{"n":-1E309}}', '/metadata/n', /too large for a double/);
    await expectRefused('POST', '/v1/sessions/bodies/queue', '{"items":[{"n":[2e308]}]}', '/items/0/n/0', /too large for a double/);
  });

  it('integer literals past 2^53, which would silently round', async () => {
    await expectRefused('POST', '/v1/sessions/bodies/events', '{"events":[{"type":"x","data":{"id":12345678901234567890}}]}', '/events/0/data/id', /12345678901234567890 is beyond/);
    await expectRefused('POST', '/v1/sessions/bodies/messages', '{"messages":[{"role":"user","content":[-9007199254740993]}]}', '/messages/0/content/0', /beyond/);
  });

  it('safe integers, and numbers written with a fraction or exponent (IEEE doubles), are kept', async () => {
    const data = '{"max":9007199254740991,"min":-9007199254740991,"tenth":0.1,"big":1e300,"wide":1e21,"half":12345678901234567890.5}';
    expect((await send('POST', '/v1/sessions/bodies/events', `{"events":[{"type":"x","data":${data}}]}`)).statusCode).toBe(201);
    const stored = (await call(t.app, 'GET', '/v1/sessions/bodies/events')).json().events.at(-1).data;
    expect(stored).toEqual(JSON.parse(data));
  });
});

describe('clear words for JSON the parser refuses', () => {
  it('malformed JSON says where, with line and column and the path reached', async () => {
    await expectRefused('POST', '/v1/sessions/bodies/events', '{"events":[\n  {"type":"x", "data": tru}\n]}', '/events/0/data', /not valid JSON: expected a value, found "t" at line 2, column 24 \(in \/events\/0\/data\)/);
    await expectRefused('POST', '/v1/sessions/bodies/events', '{"events":[{"type":"x","data":1}', '/events/0', /expected "," or "\]", found the end of the body/);
    await expectRefused('POST', '/v1/sessions/bodies/events', '{"events":[],}', '/events', /expected a member name in double quotes/);
  });

  it('a __proto__ key, or constructor holding prototype, says so (not "not valid JSON")', async () => {
    await expectRefused('POST', '/v1/sessions/bodies/events', '{"events":[{"type":"x","data":{"__proto__":{"polluted":true}}}]}', '/events/0/data/__proto__', /key named "__proto__" is not accepted/);
    await expectRefused('PATCH', '/v1/sessions/bodies', '{"metadata":{"constructor":{"prototype":{}}}}', '/metadata/constructor', /"constructor" holding a key "prototype"/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // A key named constructor is an ordinary key.
    expect((await send('PATCH', '/v1/sessions/bodies', '{"metadata":{"constructor":"Alice"}}')).statusCode).toBe(200);
  });

  it('nesting exactly MAX_JSON_DEPTH deep is accepted; one level more is refused, naming where it starts', async () => {
    // The body object, events, the event and 61 arrays: 64 levels.
    const nested = (arrays: number) => `{"events":[{"type":"x","data":${'['.repeat(arrays)}${']'.repeat(arrays)}}]}`;
    expect((await send('POST', '/v1/sessions/bodies/events', nested(61))).statusCode).toBe(201);
    await expectRefused('POST', '/v1/sessions/bodies/events', nested(62), `/events/0/data${'/0'.repeat(61)}`, /nested deeper than 64 levels/);
    await expectRefused('POST', '/v1/sessions/bodies/events', nested(70), `/events/0/data${'/0'.repeat(61)}`, /nested deeper than 64 levels/);
  });
});

/**
 * Generic HTTP wrappers send `Content-Type: application/json` on every
 * request, with no body where there is nothing to send. Sent over one
 * keep-alive connection, so an answer that drops the connection shows.
 */
describe("a body of the wrong shape names the member at fault, so a client can say which", () => {
  const events = '/v1/sessions/bodies/events';
  it('a missing member, at the top and inside an array', async () => {
    await expectRefused('POST', events, '{}', '/events', /^body field events is required$/);
    await expectRefused('POST', events, '{"events":[{"type":"note","data":1},{"data":2}]}', '/events/1/type', /^body field events\.1\.type is required$/);
  });

  it('a member the route does not know, at the top and inside an array', async () => {
    await expectRefused('POST', events, '{"events":[{"type":"note","data":1}],"evnets":[]}', '/evnets', /^body field evnets is not a known field$/);
    await expectRefused('POST', events, '{"events":[{"type":"note","data":1,"seq":3}]}', '/events/0/seq', /^body field events\.0\.seq is not a known field$/);
  });
});

describe('an empty body labelled application/json', () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  afterAll(() => agent.destroy());

  interface Answer {
    status: number;
    body: any;
    /** Whether the request went over the connection the one before it used. */
    reused: boolean;
    connection: string | undefined;
  }

  const overOneConnection = (method: string, path: string, headers: Record<string, string> = {}) =>
    new Promise<Answer>((resolve, reject) => {
      const request = http.request(
        new URL(path, t.baseUrl),
        { method, agent, headers: { 'content-type': 'application/json', 'content-length': '0', ...headers } },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              body: text ? JSON.parse(text) : undefined,
              reused: request.reusedSocket,
              connection: response.headers.connection,
            }),
          );
        },
      );
      request.on('error', reject);
      request.end();
    });

  beforeAll(async () => {
    await t.listen();
  });

  it('is no body where none is required: DELETE and bodyless POSTs answer as without the header, on a connection that stays open', async () => {
    const id = 'empty-json';
    await call(t.app, 'POST', '/v1/sessions', { id });
    await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 1 }] });
    const attachment = (
      await t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments`, payload: 'bytes', headers: { 'content-type': 'text/plain' } })
    ).json().attachment_id;
    const lease = (await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w', ttl_ms: 60_000 })).json();
    const leased = { 'lease-token': lease.token };

    const answers: Answer[] = [];
    answers.push(await overOneConnection('PUT', `/v1/sessions/${id}/lease`, leased));
    expect(answers.at(-1)).toMatchObject({ status: 200, body: { owner: 'w' } });
    answers.push(await overOneConnection('POST', `/v1/sessions/${id}/attachments/${attachment}/commit`, leased));
    expect(answers.at(-1)).toMatchObject({ status: 200, body: { attachment_id: attachment, committed: true } });
    answers.push(await overOneConnection('POST', `/v1/sessions/${id}/compact`, leased));
    expect(answers.at(-1)).toMatchObject({ status: 200 });
    answers.push(await overOneConnection('DELETE', `/v1/sessions/${id}/lease`, leased));
    expect(answers.at(-1)).toMatchObject({ status: 204 });
    answers.push(await overOneConnection('DELETE', `/v1/sessions/${id}`));
    expect(answers.at(-1)).toMatchObject({ status: 204 });
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).statusCode).toBe(404);

    expect(answers.map((a) => a.connection)).not.toContain('close');
    expect(answers.slice(1).map((a) => a.reused)).toEqual([true, true, true, true]);
  });

  it('is a 400 naming the missing body where one is required, and the connection stays open', async () => {
    const id = 'empty-json-required';
    await call(t.app, 'POST', '/v1/sessions', { id });
    const before = (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
    const first = await overOneConnection('POST', `/v1/sessions/${id}/events`);
    expect(first.status).toBe(400);
    expect(first.body).toMatchObject({ code: 'invalid_request', errors: [{ in: 'body', field: '' }] });
    expect(first.body.detail).toMatch(/body is required/);
    const second = await overOneConnection('PUT', `/v1/sessions/${id}/state`);
    expect(second).toMatchObject({ status: 400, reused: true, body: { code: 'invalid_request' } });
    expect(second.body.detail).toMatch(/body is required/);
    expect(first.connection).not.toBe('close');
    expect(second.connection).not.toBe('close');
    // A JSON null is a body, of the wrong type.
    expect(expectProblem(await send('POST', `/v1/sessions/${id}/events`, 'null'), 400, 'invalid_request').detail).toBe('body must be object');
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).json()).toEqual(before);
  });
});
