import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, SessionSyncError } from '../../client/src/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

// client.claimLease against the real server: renewal, loss noticed, writes fenced.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
});
afterAll(async () => {
  await t?.close();
});

/** What a paused worker (a long GC, a partition) looks like to the server: its lease ran out. */
async function expireLeaseOnServer(id: string): Promise<void> {
  await t.database.sql`update sessions set lease_expires_at = now() - interval '1 second' where id = ${id}`;
}

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

describe('claimLease', () => {
  it('a lease taken over by another worker aborts the first worker\'s signal, and its next write is refused', async () => {
    const first = createClient({ baseUrl: t.baseUrl });
    const second = createClient({ baseUrl: t.baseUrl });
    const id = 'takeover';
    await first.createSession({ id });
    const leaseA = await first.claimLease(id, { owner: 'worker-a', ttlMs: 60_000 });
    await leaseA.session.putSnapshot({ base_version: 0, schema_version: 1, snapshot: { by: 'a' } });
    // While A holds it, B is refused.
    await expect(second.claimLease(id, { owner: 'worker-b', ttlMs: 60_000 })).rejects.toMatchObject({ code: 'lease_held' });

    await expireLeaseOnServer(id);
    const leaseB = await second.claimLease(id, { owner: 'worker-b', ttlMs: 60_000 });
    expect(leaseB.fencingToken).toBeGreaterThan(leaseA.fencingToken);
    expect(leaseA.signal.aborted).toBe(false);

    // A's next write is refused, and that aborts A's signal: work in progress stops.
    const refused = await leaseA.session.pushDelta({ base_version: 1, merge_patch: { by: 'a again' } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SessionSyncError);
    expect(refused).toMatchObject({ status: 409, code: 'lease_lost' });
    expect(((await aborted(leaseA.signal)) as SessionSyncError).code).toBe('lease_lost');

    // B writes on; A's refused write changed nothing.
    expect(await leaseB.session.pushDelta({ base_version: 1, merge_patch: { by: 'b' } })).toMatchObject({ version: 2 });
    expect(await first.sync(id)).toMatchObject({ version: 2, snapshot: { by: 'b' } });
    await leaseA.release();
    await leaseB.release();
    expect((await first.getSession(id)).lease).toBeNull();
  });

  it('a renewal refused after a takeover aborts the signal', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    const id = 'renewal-refused';
    await client.createSession({ id });
    const lease = await client.claimLease(id, { owner: 'a', ttlMs: 60_000 });
    await lease.renew();
    expect(lease.signal.aborted).toBe(false);
    await expireLeaseOnServer(id);
    const other = await client.claimLease(id, { owner: 'b', ttlMs: 60_000 });
    await expect(lease.renew()).rejects.toMatchObject({ code: 'lease_lost' });
    expect(lease.signal.aborted).toBe(true);
    await other.release();
  });

  it('renews by itself well before expiry, so a worker that keeps working keeps its lease', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    const id = 'renewing';
    await client.createSession({ id });
    const lease = await client.claimLease(id, { owner: 'a', ttlMs: 1500 });
    const firstExpiry = lease.expiresAt.getTime();
    // Several TTLs pass; each renewal moves the expiry on.
    for (let i = 0; i < 4; i++) {
      const before = lease.expiresAt.getTime();
      await new Promise<void>((resolve, reject) => {
        const poll = setInterval(() => {
          if (lease.signal.aborted) reject(new Error(`lease lost: ${String(lease.signal.reason)}`));
          else if (lease.expiresAt.getTime() > before) resolve();
          else return;
          clearInterval(poll);
        }, 10);
      });
    }
    expect(lease.expiresAt.getTime()).toBeGreaterThan(firstExpiry);
    expect(lease.signal.aborted).toBe(false);
    expect(await lease.session.appendEvents({ events: [{ type: 'still_mine', data: 1 }] })).toMatchObject({ first_seq: expect.any(Number) });
    await lease.release();
  });

  it('queue claims through the bound session carry the lease token', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    const id = 'leased-queue';
    await client.createSession({ id });
    const lease = await client.claimLease(id, { owner: 'a', ttlMs: 60_000 });
    await client.enqueue(id, { items: ['hello'] });
    // Without the token the claim is refused while the lease exists.
    await expect(client.claimQueue(id, { max_batches: 1, ttl_ms: 10_000 })).rejects.toMatchObject({ code: 'lease_held' });
    const claim = await lease.session.claimQueue({ max_batches: 1, ttl_ms: 10_000 });
    expect(claim?.batches[0]?.items).toEqual(['hello']);
    await lease.session.completeClaim(claim!.claim_id);
    await lease.release();
  });
});
