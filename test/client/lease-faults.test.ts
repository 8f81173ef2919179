import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createClient, SessionSyncError } from '../../client/src/index.js';
import { json, networkFailure, problem, scriptedFetch, type SeenRequest } from '../helpers/fake-fetch.js';

// claimLease's rules from shared/CLIENT.md ("Leases") against a scripted
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
    expect(lease.signal.reason).toMatchObject({ status: 409, code: 'lease_lost' });
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

  // CLIENT.md: the signal aborts on "renewal refused". A session deleted under the worker answers its
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
  });

  it('release stops renewing and gives the lease back with its token', async () => {
    const server = leaseServer();
    const client = createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry });
    const lease = await client.claimLease('s', { owner: 'w', ttlMs: TTL });
    await lease.release();
    await vi.advanceTimersByTimeAsync(TTL * 3);
    expect(server.renewCalls()).toHaveLength(0);
    expect(server.requests.filter((r) => r.method === 'DELETE').map((r) => r.headers.get('lease-token'))).toEqual(['tok-1']);
  });
});
