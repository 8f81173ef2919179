import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

const MAX_EVENT_BYTES = 1024;
const MAX_BATCH_EVENTS = 4;
let t: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp({ env: { MAX_EVENT_BYTES: String(MAX_EVENT_BYTES), MAX_BATCH_EVENTS: String(MAX_BATCH_EVENTS) } });
});
afterAll(() => t.close());

/** A string whose JSON takes exactly `bytes` bytes of UTF-8, mostly two-byte characters (so far fewer characters than bytes). */
function textOfBytes(bytes: number): string {
  const body = bytes - 2;
  const text = 'é'.repeat(Math.floor(body / 2)) + 'a'.repeat(body % 2);
  expect(Buffer.byteLength(JSON.stringify(text))).toBe(bytes);
  return text;
}

async function newSession(): Promise<string> {
  const id = `bytes-${++counter}`;
  expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
  return id;
}

const session = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
const contents = async (id: string) =>
  (await call(t.app, 'GET', `/v1/sessions/${id}/messages?include_archived=true`)).json().messages.map((m: { content: unknown }) => m.content);
const datas = async (id: string) =>
  (await call(t.app, 'GET', `/v1/sessions/${id}/events?limit=100`)).json().events.map((e: { data: unknown }) => e.data);

interface SizedRoute {
  name: string;
  method: 'POST' | 'PUT';
  path: (id: string) => string;
  body: (value: string) => unknown;
  /** Where the value is read back from. */
  stored: (id: string) => Promise<unknown[]>;
  part?: { part: string; index: number };
  /** How the refusal names the value at fault. */
  named: RegExp;
}

// The contract counts data and content in bytes of their JSON: `MAX_EVENT_BYTES`.
const sized: SizedRoute[] = [
  { name: 'an event\'s data', method: 'POST', path: (id) => `/v1/sessions/${id}/events`, body: (v) => ({ events: [{ type: 'note', data: v }] }), stored: datas, named: /^events\[0\]\.data is 1025 bytes/ },
  {
    name: 'a message\'s content',
    method: 'POST',
    path: (id) => `/v1/sessions/${id}/messages`,
    body: (v) => ({ messages: [{ role: 'user', content: 'short' }, { role: 'user', content: v }] }),
    stored: async (id) => (await contents(id)).slice(1),
    named: /^messages\[1\]\.content is 1025 bytes/,
  },
  { name: 'a replaced kind\'s content', method: 'PUT', path: (id) => `/v1/sessions/${id}/messages/kinds/summary`, body: (v) => ({ role: 'system', content: v }), stored: contents, named: /content is 1025 bytes/ },
  {
    name: 'a turn event\'s data',
    method: 'POST',
    path: (id) => `/v1/sessions/${id}/turns`,
    body: (v) => ({ turn_id: `t-${v.length}`, events: [{ type: 'note', data: 1 }, { type: 'note', data: v }] }),
    stored: async (id) => (await datas(id)).slice(1, 2),
    part: { part: 'events', index: 1 },
    named: /^events\[1\]\.data is 1025 bytes/,
  },
  {
    name: 'a turn message\'s content',
    method: 'POST',
    path: (id) => `/v1/sessions/${id}/turns`,
    body: (v) => ({ turn_id: `m-${v.length}`, messages: [{ role: 'user', content: v }] }),
    stored: contents,
    part: { part: 'messages', index: 0 },
    named: /^messages\[0\]\.content is 1025 bytes/,
  },
];

describe('MAX_EVENT_BYTES counts bytes of JSON, multibyte text included', () => {
  for (const route of sized) {
    it(`${route.name}: exactly the limit is taken as sent; one byte more is 413 and stores nothing`, async () => {
      const id = await newSession();
      const over = textOfBytes(MAX_EVENT_BYTES + 1);
      const before = await session(id);
      const problem = expectProblem(await call(t.app, route.method, route.path(id), route.body(over)), 413, 'payload_too_large');
      expect(problem).toMatchObject({ limit_bytes: MAX_EVENT_BYTES, size: MAX_EVENT_BYTES + 1, ...route.part });
      expect(problem.detail).toMatch(route.named);
      expect(problem.detail).toContain('MAX_EVENT_BYTES');
      expect(await session(id)).toEqual(before);

      const at = textOfBytes(MAX_EVENT_BYTES);
      const taken = await call(t.app, route.method, route.path(id), route.body(at));
      expect(taken.statusCode, taken.body).toBeLessThan(300);
      expect(await route.stored(id)).toEqual([at]);
    });
  }
});

interface CountedRoute {
  name: string;
  path: (id: string) => string;
  body: (n: number) => unknown;
  count: (id: string) => Promise<number>;
  /** What the refusal says the batch holds too many of. */
  items: string;
}

const counted: CountedRoute[] = [
  {
    name: 'events',
    path: (id) => `/v1/sessions/${id}/events`,
    body: (n) => ({ events: Array.from({ length: n }, (_, i) => ({ type: 'note', data: i })) }),
    count: async (id) => (await session(id)).last_seq,
    items: 'events',
  },
  {
    name: 'messages',
    path: (id) => `/v1/sessions/${id}/messages`,
    body: (n) => ({ messages: Array.from({ length: n }, (_, i) => ({ role: 'user', content: `m${i}` })) }),
    count: async (id) => (await contents(id)).length,
    items: 'messages',
  },
  {
    name: 'a turn\'s messages alone',
    path: (id) => `/v1/sessions/${id}/turns`,
    body: (n) => ({ turn_id: `only-messages-${n}`, messages: Array.from({ length: n }, (_, i) => ({ role: 'user', content: `m${i}` })) }),
    count: async (id) => (await contents(id)).length,
    items: 'items across events, messages',
  },
  {
    name: 'a turn\'s events alone',
    path: (id) => `/v1/sessions/${id}/turns`,
    body: (n) => ({ turn_id: `only-events-${n}`, events: Array.from({ length: n }, (_, i) => ({ type: 'note', data: i })) }),
    count: async (id) => (await datas(id)).filter((data: unknown) => typeof data === 'number').length,
    items: 'items across events, messages',
  },
];

describe('MAX_BATCH_EVENTS bounds each list', () => {
  for (const route of counted) {
    it(`${route.name}: ${MAX_BATCH_EVENTS} are taken; ${MAX_BATCH_EVENTS + 1} are 413 {limit, size} and store nothing`, async () => {
      const id = await newSession();
      const problem = expectProblem(await call(t.app, 'POST', route.path(id), route.body(MAX_BATCH_EVENTS + 1)), 413, 'payload_too_large');
      expect(problem).toMatchObject({ limit: MAX_BATCH_EVENTS, size: MAX_BATCH_EVENTS + 1 });
      expect(problem.detail).toMatch(new RegExp(`^a batch may hold ${MAX_BATCH_EVENTS} ${route.items}.* \\(MAX_BATCH_EVENTS\\); this one has ${MAX_BATCH_EVENTS + 1}$`));
      expect(await route.count(id)).toBe(0);
      const taken = await call(t.app, 'POST', route.path(id), route.body(MAX_BATCH_EVENTS));
      expect(taken.statusCode, taken.body).toBe(201);
      expect(await route.count(id)).toBe(MAX_BATCH_EVENTS);
    });
  }
});
