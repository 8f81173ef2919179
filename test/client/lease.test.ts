import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, SessionSyncError } from '../../client/src/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { until } from '../helpers/waits.js';

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
  await t.database.db`update sessions set lease_expires_at = now() - interval '1 second' where id = ${id}`;
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
    // Renewals come every 2 s, and each has the other 4 s of the TTL to be answered (a loaded CI took about 1 s a request).
    // The timer's own rules (a third of the TTL, retries, expiry here) are pinned on a fake clock in lease-faults.test.ts.
    const lease = await client.claimLease(id, { owner: 'a', ttlMs: 6000 });
    const firstExpiry = lease.expiresAt;
    for (let renewal = 0; renewal < 2; renewal++) {
      const before = lease.expiresAt.getTime();
      await until(() => {
        if (lease.signal.aborted) throw new Error(`lease lost: ${String(lease.signal.reason)}`);
        return lease.expiresAt.getTime() > before;
      }, `renewal ${renewal + 1}`);
    }
    expect(lease.signal.aborted).toBe(false);
    // As if the first TTL were over for the server: only the renewals keep the lease running there.
    await t.database.db`
      update sessions set lease_expires_at = lease_expires_at - greatest(${firstExpiry}::timestamptz - now(), interval '0')
      where id = ${id}`;
    expect(await lease.session.appendEvents({ events: [{ type: 'still_mine', data: 1 }] })).toMatchObject({ first_seq: expect.any(Number) });
    expect(lease.signal.aborted).toBe(false);
    await lease.release();
  });

  it("every method of lease.session reaches its route with the Lease-Token and answers the server's answer", async () => {
    const id = 'bound-api';
    const sent: { method: string; path: string; leaseToken: string | null }[] = [];
    const client = createClient({
      baseUrl: t.baseUrl,
      fetch: (input, init) => {
        sent.push({ method: init?.method ?? 'GET', path: new URL(String(input)).pathname, leaseToken: new Headers(init?.headers).get('lease-token') });
        return fetch(input, init);
      },
    });
    await client.createSession({ id });
    const lease = await client.claimLease(id, { owner: 'bound-worker', ttlMs: 60_000, renew: false });
    const s = lease.session;
    sent.length = 0;

    expect(s.id).toBe(id);
    expect(await s.getSession()).toMatchObject({ id, lease: { owner: 'bound-worker', fencing_token: lease.fencingToken } });
    expect((await s.updateSession({ metadata: { title: 'leased' } })).metadata).toEqual({ title: 'leased' });
    expect(await s.putSnapshot({ base_version: 0, schema_version: 1, snapshot: { n: 0 } })).toMatchObject({ version: 1 });
    expect(await s.pushDelta({ base_version: 1, merge_patch: { n: 1 } })).toMatchObject({ version: 2 });
    expect(await s.sync({ have: 1 })).toMatchObject({ mode: 'catch_up', version: 2 });
    const appended = await s.appendEvents({ events: [{ type: 'bound.note', data: 'x' }] });
    expect((await s.listEvents({ after: appended.first_seq - 1 })).events.map((e) => e.type)).toEqual(['bound.note']);
    expect(await s.setActivity({ status: 'thinking' })).toMatchObject({ status: 'thinking' });
    expect(await s.publishLive({ type: 'token', data: 'a' })).toMatchObject({ accepted: 1 });

    const batch = await s.enqueue({ items: ['first'] });
    expect((await s.listQueue()).batches.map((b) => b.batch_id)).toEqual([batch.batch_id]);
    const abandoned = await s.claimQueue({ max_batches: 1, ttl_ms: 10_000 });
    expect(await s.renewClaim(abandoned!.claim_id, { ttl_ms: 20_000 })).toMatchObject({ claim_id: abandoned!.claim_id, status: 'active' });
    expect(await s.abandonClaim(abandoned!.claim_id)).toMatchObject({ claim_id: abandoned!.claim_id, status: 'abandoned' });
    // Abandoned work is pending again and can be claimed and completed.
    const claim = await s.claimQueue({ max_batches: 1, ttl_ms: 10_000 });
    expect(claim?.batches.map((b) => b.batch_id)).toEqual([batch.batch_id]);
    expect(await s.completeClaim(claim!.claim_id)).toMatchObject({ claim_id: claim!.claim_id, status: 'completed' });

    expect((await s.appendMessages({ messages: [{ role: 'user', content: 'hello' }] })).messages).toHaveLength(1);
    expect((await s.listMessages({ role: 'user' })).messages.map((m) => m.content)).toEqual(['hello']);

    const file = await s.uploadAttachment('bound bytes', { contentType: 'text/plain' });
    expect((await s.listAttachments()).attachments.map((a) => [a.attachment_id, a.committed])).toEqual([[file.attachment_id, false]]);
    expect(await s.commitAttachment(file.attachment_id)).toMatchObject({ attachment_id: file.attachment_id, committed: true });
    expect(await (await s.downloadAttachment(file.attachment_id)).text()).toBe('bound bytes');
    expect(await s.commitTurn({ turn_id: 'bound-turn', events: [{ type: 'bound.turn', data: 1 }] })).toMatchObject({ turn_id: 'bound-turn' });

    // One request per call above, none sent without the token.
    expect(sent).toHaveLength(23);
    expect(sent.filter((r) => r.leaseToken !== lease.token)).toEqual([]);
    await lease.release();
  });

  it('the message writes refused on the plain client while the lease is held (replaceMessageKind, trimMessages) go through lease.session, as does getMessagesMeta', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    const id = 'leased-messages';
    await client.createSession({ id });
    const lease = await client.claimLease(id, { owner: 'a', ttlMs: 60_000, renew: false });
    const s = lease.session;
    await s.appendMessages({ messages: [{ role: 'user', content: 'old question' }, { role: 'system', kind: 'summary', content: 'first summary' }] });

    // Without the token: refused, and nothing changes.
    await expect(client.replaceMessageKind(id, 'summary', { role: 'system', content: 'x' })).rejects.toMatchObject({ status: 409, code: 'lease_held' });
    await expect(client.trimMessages(id, { before_seq: 99 })).rejects.toMatchObject({ status: 409, code: 'lease_held' });

    const replaced = await s.replaceMessageKind('summary', { role: 'system', content: 'second summary' });
    expect(replaced).toMatchObject({ message: { role: 'system', kind: 'summary', content: 'second summary' } });
    expect(await s.trimMessages({ before_seq: replaced.message.seq })).toMatchObject({ trimmed: 1 });
    expect(await s.getMessagesMeta()).toMatchObject({ message_count: 1, version: replaced.version + 1 });
    expect((await s.listMessages()).messages.map((m) => m.content)).toEqual(['second summary']);
    await lease.release();
  });

  it('release aborts lease.signal, and a write made after it is refused (the lease is gone)', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    const id = 'released-signal';
    await client.createSession({ id });
    const lease = await client.claimLease(id, { owner: 'a', ttlMs: 60_000 });
    await lease.release();
    expect(lease.signal.aborted).toBe(true);
    expect(() => lease.signal.throwIfAborted()).toThrow(expect.objectContaining({ name: 'AbortError' }));
    expect((await client.getSession(id)).lease).toBeNull();
    await expect(lease.session.pushDelta({ base_version: 0, merge_patch: { late: true } })).rejects.toMatchObject({ code: 'lease_lost' });
    expect((await client.sync(id)).version).toBe(0);
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
