import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createClient, SessionSyncError } from '../../client/src/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { json, networkFailure, problem, scriptedFetch } from '../helpers/fake-fetch.js';

// The retry rules of docs/client.md ("Requests"), observed through a
// scripted transport: which failures are tried again, how often, how long
// the client waits, and the Idempotency-Key that makes a retried write safe.
const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 };
const session = { id: 'x', version: 0, last_seq: 0 };

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('which failures are retried', () => {
  it.each([
    ['a connection refused or cut before the answer', () => networkFailure()],
    ['502', () => problem(502, 'bad_gateway')],
    ['503', () => problem(503, 'database_unavailable')],
    ['504', () => problem(504, 'gateway_timeout')],
    ['a 502 page from a proxy (not a problem document)', () => new Response('<html>Bad Gateway</html>', { status: 502 })],
    // As a browser hands over an answer cut right after its headers (test/browser/client.test.ts met it).
    ['an answer whose body is empty though its Content-Length is not', () => new Response('', { status: 201, headers: { 'content-type': 'application/json', 'content-length': '57' } })],
    // As Chromium hands over an answer cut right after its status line: a 200 with no headers and no body.
    ['a 200 with no headers and an empty body', () => new Response('', { status: 200 })],
    ['a 201 with an empty JSON body and no Content-Length', () => new Response('', { status: 201, headers: { 'content-type': 'application/json' } })],
  ])('%s is retried, and the call answers what the retry got', async (_name, fault) => {
    const { fetch, requests } = scriptedFetch((_request, i) => (i < 2 ? fault() : json({ ...session, id: 'retried' }, 201)));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    expect(await client.createSession({ id: 'retried' })).toMatchObject({ id: 'retried' });
    expect(requests).toHaveLength(3);
  });

  it.each([
    [500, 'internal_error'],
    [400, 'bad_request'],
    [401, 'unauthorized'],
    [404, 'session_not_found'],
    [408, 'request_timeout'],
    [409, 'version_conflict'],
    [413, 'payload_too_large'],
    [422, 'idempotency_key_reused'],
    [429, 'too_many_requests'],
  ])('%i is never retried: the call fails after one attempt with that status and code', async (status, code) => {
    // 429 with Retry-After too: docs/client.md retries 502/503/504 "only, never on other statuses".
    const { fetch, requests } = scriptedFetch(() => problem(status, code, {}, { 'retry-after': '1' }));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    const error = await client.pushDelta('s', { base_version: 0, merge_patch: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionSyncError);
    expect(error).toMatchObject({ status, code });
    expect(requests).toHaveLength(1);
  });

  it('reads are retried like writes: a GET that met 503 is asked again', async () => {
    const { fetch, requests } = scriptedFetch((_r, i) => (i === 0 ? problem(503, 'database_unavailable') : json(session)));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    expect(await client.getSession('x')).toEqual(session);
    expect(requests.map((r) => r.method)).toEqual(['GET', 'GET']);
  });
});

describe('how many attempts', () => {
  it.each([1, 2, 5])('attempts: %i makes exactly that many, then fails with the last failure', async (attempts) => {
    const { fetch, requests } = scriptedFetch((_r, i) => problem(503, 'database_unavailable', { attempt: i }));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: { ...fast, attempts } });
    const error = await client.appendEvents('s', { events: [{ type: 'a', data: 1 }] }).catch((e: unknown) => e);
    expect(requests).toHaveLength(attempts);
    expect(error).toMatchObject({ status: 503, code: 'database_unavailable', problem: { attempt: attempts - 1 } });
  });

  it('network failures that outlast the attempts end as status 0 network_error', async () => {
    const { fetch, requests } = scriptedFetch(() => networkFailure());
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: { ...fast, attempts: 3 } });
    await expect(client.listSessions()).rejects.toMatchObject({ status: 0, code: 'network_error' });
    expect(requests).toHaveLength(3);
  });

  it('the default is a few attempts, not one and not unbounded', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { fetch, requests } = scriptedFetch(() => problem(503, 'database_unavailable'));
    const client = createClient({ baseUrl: 'http://server.test', fetch });
    const call = client.getSession('x').catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(await call).toMatchObject({ status: 503 });
    expect(requests.length).toBeGreaterThanOrEqual(3);
    expect(requests.length).toBeLessThanOrEqual(6);
  });
});

describe('Idempotency-Key', () => {
  it('one key on every attempt of a call, a fresh key for the next call', async () => {
    const { fetch, requests } = scriptedFetch((_r, i) => (i % 3 < 2 ? networkFailure() : json({ first_seq: 1, last_seq: 1 }, 201)));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    await client.appendEvents('s', { events: [{ type: 'a', data: 1 }] });
    await client.appendEvents('s', { events: [{ type: 'a', data: 1 }] });
    const keys = requests.map((r) => r.headers.get('idempotency-key'));
    expect(keys).toHaveLength(6);
    expect(keys.every((k) => typeof k === 'string' && /^[\x21-\x7e]{1,255}$/.test(k))).toBe(true);
    expect(new Set(keys.slice(0, 3)).size).toBe(1);
    expect(new Set(keys.slice(3)).size).toBe(1);
    expect(keys[0]).not.toBe(keys[3]);
  });

  it("the caller's key is sent as given on every attempt, with the same body bytes", async () => {
    const bodies: string[] = [];
    const scripted = scriptedFetch((_r, i) => (i === 0 ? problem(504, 'gateway_timeout') : json({ version: 1, seq: 1 })));
    const fetch: typeof globalThis.fetch = (input, init) => {
      bodies.push(String(init?.body));
      return scripted.fetch(input, init);
    };
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    await client.pushDelta('s', { base_version: 0, merge_patch: { a: 1 } }, { idempotencyKey: 'mine-1' });
    expect(scripted.requests.map((r) => r.headers.get('idempotency-key'))).toEqual(['mine-1', 'mine-1']);
    expect(bodies[1]).toBe(bodies[0]);
  });

  it('every kind of write carries one: POST, PUT, PATCH and DELETE', async () => {
    const { fetch, requests } = scriptedFetch((r) => (r.method === 'DELETE' ? new Response(null, { status: 204 }) : json(session)));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    await client.createSession({});
    await client.setActivity('s', { status: 'thinking' });
    await client.updateSession('s', { metadata: {} });
    await client.deleteSession('s');
    expect(requests.map((r) => [r.method, Boolean(r.headers.get('idempotency-key'))])).toEqual([
      ['POST', true],
      ['PUT', true],
      ['PATCH', true],
      ['DELETE', true],
    ]);
  });
});

describe('bodies that cannot be sent twice', () => {
  it('a streamed NDJSON publishLive is sent once, even on a 503', async () => {
    const { fetch, requests } = scriptedFetch(() => problem(503, 'database_unavailable'));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    async function* tokens() {
      for (let i = 0; i < 3; i++) yield { type: 'token', data: i };
    }
    await expect(client.publishLive('s', tokens())).rejects.toMatchObject({ status: 503 });
    expect(requests).toHaveLength(1);
  });

  it('a streamed NDJSON publishLive is sent once when the connection drops', async () => {
    const { fetch, requests } = scriptedFetch(() => networkFailure());
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    async function* tokens() {
      yield { type: 'token', data: 'only' };
    }
    await expect(client.publishLive('s', tokens())).rejects.toMatchObject({ status: 0, code: 'network_error' });
    expect(requests).toHaveLength(1);
  });

  it('a streamed upload or import is sent once; the same bytes as a Blob are retried, whole each time', async () => {
    const { fetch, requests } = scriptedFetch((_r, i) => (i < 3 ? problem(502, 'bad_gateway') : json({ attachment_id: 'a' }, 201)));
    const bodies: unknown[] = [];
    const recording: typeof fetch = (input, init) => {
      bodies.push(init?.body);
      return fetch(input, init);
    };
    const client = createClient({ baseUrl: 'http://server.test', fetch: recording, retry: fast });
    const stream = () => new Blob(['bytes']).stream();
    await expect(client.uploadAttachment('s', stream())).rejects.toMatchObject({ status: 502 });
    await expect(client.importSession(stream())).rejects.toMatchObject({ status: 502 });
    expect(requests).toHaveLength(2);
    // The Blob's first attempt meets the third 502 and is sent again.
    expect(await client.uploadAttachment('s', new Blob(['bytes']))).toEqual({ attachment_id: 'a' });
    expect(requests).toHaveLength(4);
    expect(await Promise.all(bodies.slice(2).map((body) => new Response(body as Blob).text()))).toEqual(['bytes', 'bytes']);
  });
});

describe('waits between attempts', () => {
  it('each wait is at least half its exponential step and never longer than maxDelayMs', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const retry = { attempts: 7, baseDelayMs: 100, maxDelayMs: 450 };
    for (const random of [0, 0.5, 0.999999]) {
      vi.spyOn(Math, 'random').mockReturnValue(random);
      const { fetch, requests } = scriptedFetch(() => networkFailure());
      const client = createClient({ baseUrl: 'http://server.test', fetch, retry });
      const call = client.getSession('x').catch((e: unknown) => e);
      await vi.runAllTimersAsync();
      await call;
      expect(requests).toHaveLength(7);
      const waits = requests.slice(1).map((r, i) => r.at - requests[i]!.at);
      waits.forEach((wait, i) => {
        const step = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** i);
        expect(wait).toBeGreaterThanOrEqual(step / 2);
        expect(wait).toBeLessThanOrEqual(retry.maxDelayMs);
      });
      // Exponential until the cap: the later waits are capped, the first are not.
      expect(waits[3]).toBeGreaterThan(waits[0]!);
    }
  });

  // docs/client.md ("Retries"): Retry-After is a floor. The server sends it with its 503s (database_unavailable 1 s,
  // too_many_transfers 1 s, shutting_down 1 s): a client that retries sooner spends its attempts
  // inside the outage. So a retried answer's Retry-After is a floor for the wait, and maxDelayMs
  // stays its ceiling (the caller's bound on how long one call may sit waiting).
  it('a 503 with Retry-After is retried no sooner than it asks, and never later than maxDelayMs', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const now = new Date('2026-12-04T00:00:00Z');
    const scripts: [retryAfter: string, expectedWait: number][] = [
      ['1', 1000],
      ['60', 3000],
      [new Date(now.getTime() + 2000).toUTCString(), 2000],
      // Unreadable: the ordinary backoff (at most baseDelayMs for the first retry).
      ['soon', 10],
    ];
    for (const [retryAfter, expectedWait] of scripts) {
      vi.setSystemTime(now);
      const { fetch, requests } = scriptedFetch((_r, i) =>
        i === 0 ? problem(503, 'database_unavailable', {}, { 'retry-after': retryAfter }) : json(session),
      );
      const client = createClient({ baseUrl: 'http://server.test', fetch, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 3000 } });
      const call = client.getSession('x');
      await vi.runAllTimersAsync();
      await call;
      const wait = requests[1]!.at - requests[0]!.at;
      if (retryAfter === 'soon') expect(wait).toBeLessThanOrEqual(expectedWait);
      else expect(wait, `Retry-After: ${retryAfter}`).toBe(expectedWait);
    }
  });

  it('an abort during the wait ends the call with the abort reason, and nothing more is sent', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { fetch, requests } = scriptedFetch(() => problem(503, 'database_unavailable'));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: { attempts: 10, baseDelayMs: 1000, maxDelayMs: 1000 } });
    const controller = new AbortController();
    const call = client.appendEvents('s', { events: [{ type: 'a', data: 1 }] }, { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0);
    expect(requests).toHaveLength(1);
    const reason = new DOMException('user gave up', 'AbortError');
    controller.abort(reason);
    expect(await call).toBe(reason);
    await vi.runAllTimersAsync();
    expect(requests).toHaveLength(1);
  });

  it('an abort while a request is in flight ends the call with the abort reason, not a retry', async () => {
    const controller = new AbortController();
    const { fetch, requests } = scriptedFetch(
      (request) =>
        new Promise<Response>((_resolve, reject) => {
          request.signal?.addEventListener('abort', () => reject(new TypeError('fetch failed')), { once: true });
          controller.abort(new DOMException('user gave up', 'AbortError'));
        }),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    await expect(client.getSession('x', { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError', message: 'user gave up' });
    expect(requests).toHaveLength(1);
  });
});

// The server half of the rule: a write that committed but whose answer never
// arrived is answered, on retry, with the original result and applied once.
describe('a committed write whose answer is lost (real server)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
    await t.listen();
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Forwards to the server, waits for its answer (so the write committed), and throws it away for the first `drops` requests matching `path`. */
  const losingAnswers = (path: RegExp, drops: number) => {
    let dropped = 0;
    const sent: string[] = [];
    const fetchImpl: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (init?.method !== 'GET' && path.test(new URL(String(input)).pathname)) {
        sent.push(new Headers(init?.headers).get('idempotency-key') ?? '');
        if (dropped < drops) {
          dropped += 1;
          await response.arrayBuffer();
          networkFailure();
        }
      }
      return response;
    };
    return { fetchImpl, sent };
  };

  it.each([
    ['appendMessages', 'lost-msg-1'],
    ['appendEvents', 'lost-events-1'],
    ['commitTurn', 'lost-turn-1'],
  ])('%s: the retry gets the first answer, and the write happened once', async (method, id) => {
    const direct = createClient({ baseUrl: t.baseUrl });
    await direct.createSession({ id });
    const { fetchImpl, sent } = losingAnswers(/\/(messages|events|turns)$/, 2);
    const client = createClient({ baseUrl: t.baseUrl, fetch: fetchImpl, retry: fast });
    if (method === 'appendMessages') {
      const answer = await client.appendMessages(id, { messages: [{ role: 'user', content: 'once' }] });
      expect(answer.messages).toHaveLength(1);
      expect((await direct.getMessagesMeta(id)).message_count).toBe(1);
    } else if (method === 'appendEvents') {
      expect(await client.appendEvents(id, { events: [{ type: 'once', data: 1 }] })).toEqual({ first_seq: 1, last_seq: 1 });
    } else {
      const answer = await client.commitTurn(id, { turn_id: `${id}-t`, events: [{ type: 'once', data: 1 }] });
      expect(answer).toMatchObject({ turn_id: `${id}-t`, first_seq: 1, last_seq: 2 });
    }
    expect(sent).toHaveLength(3);
    expect(new Set(sent).size).toBe(1);
    const once = (await direct.listEvents(id)).events.filter((e) => e.type === 'once' || e.type.startsWith('message.'));
    expect(once).toHaveLength(1);
  });

  it('a delta whose answer was lost is not turned into a version_conflict by its retry', async () => {
    const id = 'lost-delta-1';
    const direct = createClient({ baseUrl: t.baseUrl });
    await direct.createSession({ id });
    await direct.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { items: [] } });
    const { fetchImpl } = losingAnswers(/\/deltas$/, 1);
    const client = createClient({ baseUrl: t.baseUrl, fetch: fetchImpl, retry: fast });
    expect(await client.pushDelta(id, { base_version: 1, patch: [{ op: 'add', path: '/items/-', value: 'x' }] })).toEqual({ version: 2, seq: 2 });
    expect(await direct.sync(id)).toMatchObject({ version: 2, snapshot: { items: ['x'] } });
  });
});

describe('the token on a retried request', () => {
  it('is asked of the token function again before each attempt, so a retry carries a refreshed token', async () => {
    let issued = 0;
    const token = async () => `t${++issued}`;
    const { fetch, requests } = scriptedFetch((_request, i) => (i === 0 ? problem(503, 'database_unavailable') : json({ ...session, id: 'fresh' }, 201)));
    const client = createClient({ baseUrl: 'http://server.test', fetch, token, retry: fast });
    expect(await client.createSession({ id: 'fresh' })).toMatchObject({ id: 'fresh' });
    expect(requests.map((r) => r.headers.get('authorization'))).toEqual(['Bearer t1', 'Bearer t2']);
  });
});
