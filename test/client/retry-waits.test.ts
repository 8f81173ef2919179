import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createClient } from '../../client/src/index.js';
import { json, problem, scriptedFetch } from '../helpers/fake-fetch.js';

// The waits between attempts of a call (docs/client.md, "Requests": jittered
// exponential backoff) on a fake clock: a Retry-After that cannot be read,
// an abort that ends a wait, and what a finished call leaves on the caller's
// signal; and the Idempotency-Key each call generates.
const session = { id: 'x', version: 0, last_seq: 0 };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Retry-After', () => {
  it.each(['5 minutes', 'in 5', '1.5'])('"%s" is not delta-seconds or an HTTP date: the ordinary backoff, at least half its step', async (retryAfter) => {
    const { fetch, requests } = scriptedFetch((_r, i) =>
      i === 0 ? problem(503, 'database_unavailable', {}, { 'retry-after': retryAfter }) : json(session),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: { attempts: 2, baseDelayMs: 1000, maxDelayMs: 5000 } });
    const call = client.getSession('x');
    await vi.runAllTimersAsync();
    await call;
    const wait = requests[1]!.at - requests[0]!.at;
    expect(wait).toBeGreaterThanOrEqual(500);
    expect(wait).toBeLessThanOrEqual(1000);
  });
});

describe('an abort and the wait', () => {
  it('an abort that arrives with a retryable answer ends the call at once: nothing more is sent, no timer is left', async () => {
    const controller = new AbortController();
    const reason = new DOMException('user gave up', 'AbortError');
    const { fetch, requests } = scriptedFetch(() => {
      controller.abort(reason);
      return problem(503, 'database_unavailable');
    });
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: { attempts: 4, baseDelayMs: 1000, maxDelayMs: 1000 } });
    const call = client.getSession('x', { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
    await vi.runAllTimersAsync();
    expect(await call).toBe(reason);
    expect(requests).toHaveLength(1);
  });

  it('an abort during the wait leaves no timer behind (a pending one would keep a process alive)', async () => {
    const controller = new AbortController();
    const { fetch } = scriptedFetch(() => problem(503, 'database_unavailable'));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: { attempts: 4, baseDelayMs: 5000, maxDelayMs: 5000 } });
    const call = client.getSession('x', { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    controller.abort();
    await call;
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a caller's long-lived signal keeps no listener from calls that ended, answered after a wait or aborted in one", async () => {
    const shutdown = new AbortController();
    const { fetch } = scriptedFetch((_r, i) => (i % 2 === 0 ? problem(503, 'database_unavailable') : json(session)));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10 } });
    for (let i = 0; i < 12; i++) {
      const call = client.getSession('x', { signal: shutdown.signal });
      await vi.runAllTimersAsync();
      expect(await call).toEqual(session);
    }
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
    const waiting = client.getSession('x', { signal: shutdown.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0);
    shutdown.abort();
    await waiting;
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
  });
});

describe('generated Idempotency-Keys', () => {
  it('are all 128 random bits, as 32 hex digits: different bytes never give the same key', async () => {
    const { fetch, requests } = scriptedFetch(() => json({ first_seq: 1, last_seq: 1 }, 201));
    const client = createClient({ baseUrl: 'http://server.test', fetch });
    for (let i = 0; i < 50; i++) await client.appendEvents('s', { events: [{ type: 'a', data: i }] });
    const keys = requests.map((r) => r.headers.get('idempotency-key'));
    for (const key of keys) expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(keys).size).toBe(50);
  });
});
