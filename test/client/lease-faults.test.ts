import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createClient, SessionSyncError } from '../../client/src/index.js';
import { json, networkFailure, problem, scriptedFetch, type SeenRequest } from '../helpers/fake-fetch.js';

// claimLease's rules from docs/client.md ("Leases") against a scripted
// transport on a fake clock: renewal well before expiry, a dropped renewal
// tried again while time remains, and loss (refusal or expiry) reported on
// `lease.signal` as a `lease_lost` SessionSyncError.
const TTL = 3000;
const retry = { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

const granted = () => json({ owner: 'w', token: 'tok-1', fencing_token: 7, expires_at: new Date(Date.now() + TTL).toISOString() });

/** A server holding one lease: claims granted, renewals answered by `renewal` (default: granted). */
function leaseServer(renewal: (request: SeenRequest, n: number) => Response | Promise<Response> = granted) {
  let renewals = 0;
  const scripted = scriptedFetch((request) => {
    if (request.method === 'POST') return json({ owner: 'w', token: 'tok-1', fencing_token: 7, expires_at: new Date(Date.now() + TTL).toISOString() }, 201);
    if (request.method === 'PUT') return renewal(request, renewals++);
    if (request.method === 'DELETE') return new Response(null, { status: 204 });
    return problem(404, 'not_scripted');
  });
  const renewCalls = () => scripted.requests.filter((r) => r.method === 'PUT');
  return { ...scripted, renewCalls };
}

describe('renewal', () => {
  it('renews a third of the TTL before expiry at the latest, and keeps the lease for as long as the worker runs', async () => {
    const server = leaseServer();
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await vi.advanceTimersByTimeAsync((TTL * 2) / 3);
    expect(server.renewCalls().length).toBeGreaterThanOrEqual(1);
    expect(server.renewCalls()[0]!.headers.get('lease-token')).toBe('tok-1');
    await vi.advanceTimersByTimeAsync(TTL * 10);
    expect(lease.signal.aborted).toBe(false);
    expect(lease.expiresAt.getTime()).toBeGreaterThan(Date.now());
    // Renewing is cheap but not free: not a request every tick.
    expect(server.renewCalls().length).toBeLessThanOrEqual(10 * 4);
    await lease.release();
  });

  it('renew: false never renews, and the lease ends at its TTL', async () => {
    const server = leaseServer();
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL, renew: false });
    await vi.advanceTimersByTimeAsync(TTL - 1);
    expect(lease.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(lease.signal.aborted).toBe(true);
    expect(server.renewCalls()).toHaveLength(0);
  });

  it('a renewal whose connection drops (past the request retries) is tried again, and the lease is kept while time remains', async () => {
    // Two whole renewal calls fail (each attempt cut), and one answered 500, before the path heals.
    const server = leaseServer((_r, n) => (n < 4 ? networkFailure() : n === 4 ? problem(500, 'internal_error') : granted()));
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    const firstExpiry = lease.expiresAt.getTime();
    await vi.advanceTimersByTimeAsync(TTL * 3);
    expect(lease.signal.aborted).toBe(false);
    expect(server.renewCalls().length).toBeGreaterThan(5);
    expect(lease.expiresAt.getTime()).toBeGreaterThan(firstExpiry);
  });

  it('renewals retried after a failure keep one Lease-Token and the worker can write through lease.session', async () => {
    const server = leaseServer((_r, n) => (n < 2 ? networkFailure() : granted()));
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await vi.advanceTimersByTimeAsync(TTL * 2);
    expect(new Set(server.renewCalls().map((r) => r.headers.get('lease-token')))).toEqual(new Set(['tok-1']));
    expect(lease.signal.aborted).toBe(false);
  });
});

describe('loss', () => {
  it('expiry without a successful renewal aborts the signal with lease_lost at the TTL, not before', async () => {
    const server = leaseServer(() => networkFailure());
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    const expiresAt = lease.expiresAt.getTime();
    await vi.advanceTimersByTimeAsync(TTL - 1);
    expect(lease.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toBeInstanceOf(SessionSyncError);
    expect(lease.signal.reason).toMatchObject({ status: 409, code: 'lease_lost', problem: { title: 'Lease expired' } });
    // Whoever logs the reason learns what happened to which session.
    expect((lease.signal.reason as SessionSyncError).detail).toBe('the lease on s expired without a renewal');
    expect(lease.expiresAt.getTime()).toBe(expiresAt);
    // Once lost, it stops renewing.
    const attempts = server.renewCalls().length;
    await vi.advanceTimersByTimeAsync(TTL * 3);
    expect(server.renewCalls()).toHaveLength(attempts);
  });

  it('expiry is counted from when the claim was sent: a slow answer does not lengthen the lease', async () => {
    const server = leaseServer(() => networkFailure());
    const slow: typeof fetch = async (input, init) => {
      const answer = await server.fetch(input, init);
      if (init?.method === 'POST') await new Promise((resolve) => setTimeout(resolve, 1000));
      return answer;
    };
    const client = createClient({ baseUrl: 'http://server.test', fetch: slow, retry });
    const claimed = client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await vi.advanceTimersByTimeAsync(1000);
    const lease = await claimed;
    // The server's TTL started when it took the claim, 1 s ago at the latest.
    await vi.advanceTimersByTimeAsync(TTL - 1000);
    expect(lease.signal.aborted).toBe(true);
  });

  it('a renewal refused with lease_lost aborts the signal at once with that refusal, and renewing stops', async () => {
    const server = leaseServer(() => problem(409, 'lease_lost'));
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await vi.advanceTimersByTimeAsync((TTL * 2) / 3);
    expect(server.renewCalls()).toHaveLength(1);
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toMatchObject({ status: 409, code: 'lease_lost' });
    await vi.advanceTimersByTimeAsync(TTL * 3);
    expect(server.renewCalls()).toHaveLength(1);
    // Releasing a lost lease resolves and sends nothing.
    await lease.release();
    expect(server.requests.filter((r) => r.method === 'DELETE')).toHaveLength(0);
  });

  // docs/client.md: the signal aborts on "renewal refused". A session deleted under the worker answers its
  // renewal 404: the lease went with it, and no later renewal can succeed, so waiting out the TTL
  // would only let the worker write on for nothing.
  it('a renewal answered 404 (the session was deleted) aborts the signal at once with that refusal', async () => {
    const server = leaseServer(() => problem(404, 'session_not_found'));
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await vi.advanceTimersByTimeAsync((TTL * 2) / 3);
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toMatchObject({ status: 404, code: 'session_not_found' });
    expect(server.renewCalls()).toHaveLength(1);
  });

  it('lease_lost on a write through lease.session aborts the signal; other refusals do not', async () => {
    let writes = 0;
    const server = scriptedFetch((request) => {
      if (request.method === 'POST' && request.url.pathname.endsWith('/lease')) {
        return json({ owner: 'w', token: 'tok-1', fencing_token: 7, expires_at: new Date(Date.now() + TTL).toISOString() }, 201);
      }
      return writes++ === 0 ? problem(409, 'version_conflict') : problem(409, 'lease_lost');
    });
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: 60_000 });
    await expect(lease.session.pushDelta({ base_version: 0, merge_patch: {} })).rejects.toMatchObject({ code: 'version_conflict' });
    expect(lease.signal.aborted).toBe(false);
    await expect(lease.session.pushDelta({ base_version: 0, merge_patch: {} })).rejects.toMatchObject({ code: 'lease_lost' });
    expect(lease.signal.aborted).toBe(true);
    expect(server.requests.slice(1).map((r) => r.headers.get('lease-token'))).toEqual(['tok-1', 'tok-1']);
    // A lost lease keeps no timer (nothing left to renew or expire), so a worker process can exit.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('release stops renewing and gives the lease back with its token', async () => {
    const server = leaseServer();
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await lease.release();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(TTL * 3);
    expect(server.renewCalls()).toHaveLength(0);
    expect(server.requests.filter((r) => r.method === 'DELETE').map((r) => r.headers.get('lease-token'))).toEqual(['tok-1']);
  });

  it('release aborts the signal before the lease is given back, with an AbortError (giving back is not losing: no lease_lost)', async () => {
    const server = leaseServer();
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    // What a worker's code in progress sees: the signal aborted by the time the DELETE is on its way.
    let abortedWhenSent: boolean | undefined;
    lease.signal.addEventListener('abort', () => (abortedWhenSent = server.requests.some((r) => r.method === 'DELETE')));
    await lease.release();
    expect(lease.signal.aborted).toBe(true);
    expect(abortedWhenSent).toBe(false);
    expect(lease.signal.reason).toBeInstanceOf(DOMException);
    expect((lease.signal.reason as DOMException).name).toBe('AbortError');
    expect(lease.signal.reason).not.toBeInstanceOf(SessionSyncError);
    // Past the TTL the reason is still the release's: no expiry fires after it.
    await vi.advanceTimersByTimeAsync(TTL * 3);
    expect((lease.signal.reason as DOMException).name).toBe('AbortError');
    // A second release sends nothing more.
    await lease.release();
    expect(server.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1);
  });

  it('release after the lease was lost keeps the loss as the reason and sends nothing', async () => {
    const server = leaseServer(() => problem(409, 'lease_lost'));
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await expect(lease.renew()).rejects.toMatchObject({ code: 'lease_lost' });
    await lease.release();
    expect(lease.signal.reason).toMatchObject({ code: 'lease_lost' });
    expect(server.requests.filter((r) => r.method === 'DELETE')).toHaveLength(0);
  });
});

describe('renewal timing', () => {
  it('lease.renew() moves the next automatic renewal a whole period on, so renewing by hand adds no extra requests', async () => {
    const server = leaseServer();
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await vi.advanceTimersByTimeAsync(TTL / 6);
    await lease.renew();
    await lease.renew();
    expect(server.renewCalls()).toHaveLength(2);
    // The period (a third of the TTL) now runs from the last renewal: nothing at the old time.
    await vi.advanceTimersByTimeAsync(TTL / 3 - 1);
    expect(server.renewCalls()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.renewCalls()).toHaveLength(3);
    await lease.release();
  });

  it('a failed renewal is tried again a tenth of the TTL later: well before expiry, without hammering a failing server', async () => {
    const server = leaseServer(() => networkFailure());
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: { ...retry, attempts: 1 } });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await vi.advanceTimersByTimeAsync(TTL / 3);
    expect(server.renewCalls()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(TTL / 10 - 1);
    expect(server.renewCalls()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.renewCalls()).toHaveLength(2);
    await lease.release();
  });

  it("renewals ask the server for the lease's TTL again, and expiresAt is the server's answer", async () => {
    const bodies: unknown[] = [];
    // The server's clock runs ahead of this one: its expiry is what it reports.
    const serverExpiry = () => new Date(Date.now() + TTL + 60_000).toISOString();
    const server = leaseServer(() => json({ owner: 'w', fencing_token: 7, expires_at: serverExpiry() }));
    const fetch: typeof globalThis.fetch = (input, init) => {
      if (init?.method === 'PUT') bodies.push(JSON.parse(String(init.body)));
      return server.fetch(input, init);
    };
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await lease.renew();
    expect(bodies).toEqual([{ ttl_ms: TTL }]);
    expect(lease.expiresAt.toISOString()).toBe(serverExpiry());
    await lease.release();
  });

  it('expiry after a slow renewal is counted from when the renewal was sent, not from when its answer came', async () => {
    let renewals = 0;
    const server = leaseServer(async () => {
      // The first renewal is answered half a second late; every later one fails.
      if (renewals++ > 0) networkFailure();
      await new Promise((resolve) => setTimeout(resolve, 500));
      return granted();
    });
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: { ...retry, attempts: 1 } });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await vi.advanceTimersByTimeAsync(TTL / 3);
    const renewalSentAt = server.renewCalls()[0]!.at;
    await vi.advanceTimersByTimeAsync(500);
    expect(lease.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(renewalSentAt + TTL - 1 - Date.now());
    expect(lease.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(lease.signal.aborted).toBe(true);
  });
});

describe('after the end', () => {
  it('once lost, lease.renew() rejects with the loss and sends nothing', async () => {
    const server = leaseServer(() => problem(409, 'lease_lost'));
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await expect(lease.renew()).rejects.toMatchObject({ code: 'lease_lost' });
    expect(server.renewCalls()).toHaveLength(1);
    await expect(lease.renew()).rejects.toBe(lease.signal.reason);
    expect(server.renewCalls()).toHaveLength(1);
  });

  it.each([
    ['answered', () => granted()],
    ['failed', () => networkFailure()],
  ])('a renewal in flight when release is called and %s afterwards starts nothing: no renewal, no expiry, no timer', async (_name, outcome) => {
    let answerRenewal!: () => void;
    const renewalHeld = new Promise<void>((resolve) => (answerRenewal = resolve));
    const server = leaseServer(async () => {
      await renewalHeld;
      return outcome();
    });
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: { ...retry, attempts: 1 } });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await vi.advanceTimersByTimeAsync(TTL / 3);
    expect(server.renewCalls()).toHaveLength(1);
    await lease.release();
    answerRenewal();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(TTL * 3);
    expect(server.renewCalls()).toHaveLength(1);
    // Aborted by the release, not by an expiry or the renewal's answer.
    expect((lease.signal.reason as DOMException).name).toBe('AbortError');
  });

  it('a renewal answered after the lease expired here does not revive it or leave a timer', async () => {
    let answerRenewal!: () => void;
    const renewalHeld = new Promise<void>((resolve) => (answerRenewal = resolve));
    const server = leaseServer(async () => {
      await renewalHeld;
      return granted();
    });
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await vi.advanceTimersByTimeAsync(TTL);
    expect(lease.signal.aborted).toBe(true);
    const reason: unknown = lease.signal.reason;
    answerRenewal();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(lease.signal.reason).toBe(reason);
    expect(server.renewCalls()).toHaveLength(1);
  });

  it.each([
    ['409 lease_lost (it expired or was taken over)', () => problem(409, 'lease_lost'), undefined],
    ['404 (the session, and its lease, were deleted)', () => problem(404, 'session_not_found'), undefined],
    ['500', () => problem(500, 'internal_error'), { status: 500, code: 'internal_error' }],
    ['409 of another kind', () => problem(409, 'idempotency_conflict'), { status: 409, code: 'idempotency_conflict' }],
    ['nothing (the connection failed)', () => networkFailure(), { status: 0, code: 'network_error' }],
  ])('release answered %s: resolves when the lease is gone anyway, rejects when it may still be held', async (_name, answer, failure) => {
    const scripted = scriptedFetch((request) =>
      request.method === 'DELETE' ? answer() : json({ owner: 'w', token: 'tok-1', fencing_token: 7, expires_at: new Date(Date.now() + TTL).toISOString() }, 201),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch: scripted.fetch, retry: { ...retry, attempts: 1 } });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    const released = lease.release().then(
      () => undefined,
      (error: unknown) => error,
    );
    if (failure) expect(await released).toMatchObject(failure);
    else expect(await released).toBeUndefined();
    expect(scripted.requests.map((r) => r.method)).toEqual(['POST', 'DELETE']);
  });
});

describe("the claim's signal", () => {
  it('aborting it while the claim is in flight rejects claimLease with the reason', async () => {
    const scripted = scriptedFetch(
      (request) =>
        new Promise<Response>((resolve, reject) => {
          const answer = setTimeout(() => resolve(granted()), 1000);
          request.signal?.addEventListener('abort', () => {
            clearTimeout(answer);
            reject(request.signal!.reason);
          });
        }),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch: scripted.fetch, retry });
    const controller = new AbortController();
    const claimed = client.claimLease('s', { owner: 'w', ttlMs: TTL, signal: controller.signal }).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(100);
    const reason = new DOMException('worker shutting down', 'AbortError');
    controller.abort(reason);
    await vi.advanceTimersByTimeAsync(TTL * 3);
    expect(await claimed).toBe(reason);
    expect(scripted.requests).toHaveLength(1);
  });

  it('aborting it after the claim stops renewing and leaves no timer and no listener behind', async () => {
    const server = leaseServer();
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const controller = new AbortController();
    await client.claimLease('s', { owner: 'w', ttlMs: TTL, signal: controller.signal });
    controller.abort();
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(TTL * 3);
    expect(server.renewCalls()).toHaveLength(0);
  });

  it('one long-lived signal shared by many leases keeps no listener from those that were released or lost', async () => {
    const server = leaseServer(() => problem(409, 'lease_lost'));
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const shutdown = new AbortController();
    for (let i = 0; i < 12; i++) {
      const lease = await client.claimLease(`s-${i}`, { owner: 'w', ttlMs: TTL, signal: shutdown.signal });
      if (i % 2 === 0) await lease.release();
      else await expect(lease.renew()).rejects.toMatchObject({ code: 'lease_lost' });
    }
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
  });
});
