import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

// Hostile bodies thrown at every write route: never a 5xx, never a change of
// state on refusal, never a polluted prototype.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { MAX_BODY_BYTES: '65536', MAX_EVENT_BYTES: '8192', MAX_JSON_DEPTH: '32' } });
  for (const encoding of ['json', 'binary']) {
    await call(t.app, 'POST', '/v1/sessions', { id: `fuzz-${encoding}`, encoding });
    const snapshot = encoding === 'json' ? { snapshot: { a: [1, 2, { b: 'c' }], n: 0 } } : { snapshot_base64: 'AAAA' };
    await call(t.app, 'PUT', `/v1/sessions/fuzz-${encoding}/state`, { base_version: 0, schema_version: 1, ...snapshot });
  }
  await call(t.app, 'POST', '/v1/sessions', { id: 'fuzz-leased' });
  // Renewals there carry a wrong token: they must all be refused, changing nothing.
  await call(t.app, 'POST', '/v1/sessions/fuzz-leased/lease', { owner: 'fuzzer', ttl_ms: 3_600_000 });
});
afterAll(() => t.close());

/** Bodies JSON.stringify cannot produce: __proto__ keys, lone surrogates, huge numbers, deep nesting, broken JSON. */
const ADVERSARIAL = [
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"base_version":1,"merge_patch":{"__proto__":{"polluted":true}}}',
  '{"base_version":1,"patch":[{"op":"add","path":"/__proto__/polluted","value":true}]}',
  '{"base_version":1,"patch":[{"op":"add","path":"/constructor/prototype/polluted","value":true}]}',
  '{"base_version":1,"patch":[{"op":"copy","from":"/__proto__","path":"/x"}]}',
  '{"base_version":1,"merge_patch":{"s":"\\ud800"}}',
  '{"base_version":1,"merge_patch":{"s":"\\u0000"}}',
  '{"metadata":{"s":"\\u0000"}}',
  '{"metadata":{"s":"\\udc00\\ud800"}}',
  '{"events":[{"type":"x","data":"\\ud800"}]}',
  '{"events":[{"type":"x","data":1e400}]}',
  '{"base_version":1e400,"merge_patch":{}}',
  '{"base_version":-1,"merge_patch":{}}',
  '{"base_version":9007199254740993,"merge_patch":{}}',
  '{"base_version":1.5,"merge_patch":{}}',
  '{"messages":[{"role":"user","content":"\\ud800"}]}',
  '{"status":"\\u0000"}',
  '{"items":[{"__proto__":{"x":1}}]}',
  `${'['.repeat(5000)}${']'.repeat(5000)}`,
  `{"base_version":1,"merge_patch":${'{"a":'.repeat(200)}1${'}'.repeat(200)}}`,
  '{"base_version":1,"merge_patch":{}',
  'null',
  '"just a string"',
  '',
];

const hostileText = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.constantFrom(...ADVERSARIAL),
  // Plausible shapes with wrong values.
  fc
    .record({
      base_version: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.double()),
      schema_version: fc.oneof(fc.integer(), fc.string()),
      patch: fc.array(fc.record({ op: fc.string(), path: fc.string(), value: fc.jsonValue(), from: fc.string() }), { maxLength: 4 }),
      merge_patch: fc.jsonValue(),
      snapshot: fc.jsonValue(),
      events: fc.array(fc.record({ type: fc.string(), data: fc.jsonValue() }), { maxLength: 4 }),
      messages: fc.array(fc.record({ role: fc.string(), kind: fc.string(), content: fc.jsonValue() }), { maxLength: 3 }),
      items: fc.array(fc.jsonValue(), { maxLength: 3 }),
      metadata: fc.jsonValue(),
      status: fc.string(),
      owner: fc.string(),
      ttl_ms: fc.oneof(fc.integer(), fc.string()),
      before_seq: fc.oneof(fc.integer(), fc.string()),
    }, { requiredKeys: [] })
    .map((v) => JSON.stringify(v)),
);

const routes: [string, string][] = [
  ['POST', '/v1/sessions'],
  ['PATCH', '/v1/sessions/fuzz-json'],
  ['PUT', '/v1/sessions/fuzz-json/state'],
  ['POST', '/v1/sessions/fuzz-json/deltas'],
  ['PUT', '/v1/sessions/fuzz-binary/state'],
  ['POST', '/v1/sessions/fuzz-binary/deltas'],
  ['POST', '/v1/sessions/fuzz-json/events'],
  ['PUT', '/v1/sessions/fuzz-json/activity'],
  ['POST', '/v1/sessions/fuzz-json/live'],
  ['POST', '/v1/sessions/fuzz-json/lease'],
  ['PUT', '/v1/sessions/fuzz-leased/lease'],
  ['POST', '/v1/sessions/fuzz-json/queue'],
  ['POST', '/v1/sessions/fuzz-json/queue/claim'],
  ['POST', '/v1/sessions/fuzz-json/queue/claims/no-such-claim/complete'],
  ['POST', '/v1/sessions/fuzz-json/messages'],
  ['PUT', '/v1/sessions/fuzz-json/messages/kinds/summary'],
  ['POST', '/v1/sessions/fuzz-json/messages/trim'],
];

async function snapshotOf(id: string): Promise<unknown> {
  const session = (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
  const state = (await call(t.app, 'GET', `/v1/sessions/${id}/state`)).json();
  const meta = (await call(t.app, 'GET', `/v1/sessions/${id}/messages/meta`)).json();
  const queue = (await call(t.app, 'GET', `/v1/sessions/${id}/queue`)).json();
  return { session: { ...session, updated_at: undefined }, state, meta, queue };
}

describe('hostile bodies on every write route', () => {
  it.each(routes)('%s %s: never a 5xx; a refusal changes nothing; no prototype pollution', async (method, url) => {
    const id = /\/v1\/sessions\/([^/]+)/.exec(url)?.[1] ?? 'fuzz-json';
    const check = async (payload: string) => {
      const before = await snapshotOf(id);
      const res = await t.app.inject({
        method: method as 'POST',
        url,
        headers: { 'content-type': 'application/json', 'lease-token': 'not-the-token' },
        payload,
      });
      expect(res.statusCode, `${payload.slice(0, 200)} -> ${res.body.slice(0, 300)}`).toBeLessThan(500);
      if (res.statusCode >= 400) {
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(typeof res.json().code).toBe('string');
        expect(await snapshotOf(id)).toEqual(before);
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    };
    for (const payload of ADVERSARIAL) await check(payload);
    await fc.assert(fc.asyncProperty(hostileText, check), { numRuns: 40 });
  }, 120_000);
});

describe('resource bounds', () => {
  it('refuses JSON nested deeper than MAX_JSON_DEPTH with a clear 400', async () => {
    const deep = `{"base_version":1,"merge_patch":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`;
    const problem = expectProblem(
      await t.app.inject({ method: 'POST', url: '/v1/sessions/fuzz-json/deltas', headers: { 'content-type': 'application/json' }, payload: deep }),
      400,
      'invalid_request',
    );
    expect(problem.detail).toMatch(/nested deeper than 32/);
  });

  it('refuses a stream past MAX_STREAMS with 503 and Retry-After', async () => {
    const small = await createTestApp({ databaseUrl: t.url, env: { MAX_STREAMS: '2' } });
    await small.listen();
    const open = await Promise.all([1, 2].map(() => SseClient.open(`${small.baseUrl}/v1/sessions/fuzz-json/stream`)));
    try {
      await Promise.all(open.map((s) => s.waitFor(() => s.ofType('session.activity').length === 1, 'marker')));
      const refused = await call(small.app, 'GET', '/v1/sessions/fuzz-json/stream');
      expect(expectProblem(refused, 503, 'too_many_streams').limit).toBe(2);
      expect(refused.headers['retry-after']).toBe('5');
    } finally {
      await Promise.all(open.map((s) => s.close()));
      await small.close();
    }
  });
});
