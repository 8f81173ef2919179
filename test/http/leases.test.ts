import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settleExpiredLeases } from '../../src/leases/sweeper.js';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';
import { committerOn } from '../helpers/committer.js';

let t: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

async function session(app: TestApp = t): Promise<string> {
  return createSession(app, `lease-${++counter}`);
}

const claim = (id: string, owner: string, ttlMs = 60_000, app: TestApp = t, headers?: Record<string, string>) =>
  call(app.app, 'POST', `/v1/sessions/${id}/lease`, { owner, ttl_ms: ttlMs }, headers);
const token = (tokenValue: string) => ({ 'lease-token': tokenValue });
const sessionOf = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
const eventTypes = async (id: string) =>
  (await call(t.app, 'GET', `/v1/sessions/${id}/events?limit=1000`)).json().events.map((e: { type: string }) => e.type);

/**
 * Time passes for the lease: every expiry is decided by the database's clock
 * (db/clock.ts), so moving its expiry into the past is the lease running out.
 */
async function expireLease(id: string): Promise<void> {
  const sql = postgres(t.url, { max: 1, onnotice: () => {} });
  try {
    await sql`update sessions set lease_expires_at = now() - interval '1 second' where id = ${id}`;
  } finally {
    await sql.end();
  }
}

/** Waits, via the public API, until the lease has run out. */
async function leaseExpired(id: string): Promise<void> {
  await expect.poll(async () => (await sessionOf(id)).lease, { timeout: 10_000, interval: 50 }).toBeNull();
}

describe('POST /v1/sessions/{id}/lease', () => {
  it('grants a lease with a secret token and a fencing token; the session shows the lease, never the token', async () => {
    const id = await session();
    const res = await claim(id, 'worker-a');
    expect(res.statusCode).toBe(201);
    const lease = res.json();
    expect(lease).toMatchObject({ owner: 'worker-a', fencing_token: 1 });
    expect(lease.token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(Date.parse(lease.expires_at)).toBeGreaterThan(Date.now());
    const read = await call(t.app, 'GET', `/v1/sessions/${id}`);
    expect(read.json().lease).toEqual({ owner: 'worker-a', fencing_token: 1, expires_at: lease.expires_at });
    const history = await call(t.app, 'GET', `/v1/sessions/${id}/events`);
    const list = await call(t.app, 'GET', '/v1/sessions?limit=1000');
    for (const body of [read.body, history.body, list.body]) expect(body).not.toContain(lease.token);
    expect(await eventTypes(id)).toEqual(['lease.acquired']);
  });

  it('of ten concurrent claims exactly one wins; the others get lease_held naming the holder', async () => {
    const id = await session();
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => claim(id, `worker-${i}`)));
    const winners = answers.filter((a) => a.statusCode === 201);
    expect(winners).toHaveLength(1);
    const holder = winners[0]!.json();
    for (const loser of answers.filter((a) => a.statusCode !== 201)) {
      const problem = expectProblem(loser, 409, 'lease_held');
      expect(problem).toMatchObject({ owner: holder.owner, expires_at: holder.expires_at });
    }
  });

  it('two server instances racing on one session: one lease', async () => {
    const other = await createTestApp({ databaseUrl: t.url });
    try {
      const id = await session();
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => claim(id, `w${i}`, 60_000, i % 2 ? other : t)),
      );
      expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(1);
      expect(answers.filter((a) => a.statusCode === 409)).toHaveLength(7);
    } finally {
      await other.close();
    }
  });

  it('the fencing token strictly grows over claim, expiry, claim, release, claim', async () => {
    const id = await session();
    const first = (await claim(id, 'a', 150)).json();
    await leaseExpired(id);
    const second = (await claim(id, 'b', 60_000)).json();
    expect(second.fencing_token).toBeGreaterThan(first.fencing_token);
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, token(second.token))).statusCode).toBe(204);
    const third = (await claim(id, 'c')).json();
    expect(third.fencing_token).toBeGreaterThan(second.fencing_token);
    const types = await eventTypes(id);
    expect(types).toEqual(['lease.acquired', 'lease.expired', 'lease.acquired', 'lease.released', 'lease.acquired']);
  });

  it('announces an expired lease on the history by itself', async () => {
    const id = await session();
    await claim(id, 'sleepy', 150);
    await expect.poll(() => eventTypes(id), { timeout: 10_000 }).toEqual(['lease.acquired', 'lease.expired']);
  });

  it('validates the body', async () => {
    const id = await session();
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: '', ttl_ms: 1000 }), 400, 'invalid_request');
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'a', ttl_ms: '1000' }), 400, 'invalid_request');
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'a', ttl_ms: 10 }), 400, 'invalid_request');
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'a' }), 400, 'invalid_request');
    expectProblem(await claim('no-such-session', 'a'), 404, 'session_not_found');
  });

  it('a retried claim with the same Idempotency-Key returns the same lease under a fresh token (the key stores none)', async () => {
    const id = await session();
    const first = await claim(id, 'a', 60_000, t, { 'idempotency-key': 'claim-1' });
    const retry = await claim(id, 'a', 60_000, t, { 'idempotency-key': 'claim-1' });
    expect(retry.statusCode).toBe(201);
    const { token: firstToken, ...lease } = first.json();
    expect(retry.json()).toEqual({ ...lease, token: expect.any(String) });
    expect(retry.json().token).not.toBe(firstToken);
    expect(retry.headers['idempotent-replayed']).toBe('true');
  });
});

describe('a replayed claim (same Idempotency-Key)', () => {
  it('hands out a fresh token that replaces the first: only one token passes the fence', async () => {
    const id = await session();
    const key = { 'idempotency-key': 'claim-replace' };
    const first = (await claim(id, 'a', 60_000, t, key)).json();
    const retry = (await claim(id, 'a', 60_000, t, key)).json();
    const note = (tokenValue: string) => call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 1 }] }, token(tokenValue));
    expectProblem(await note(first.token), 409, 'lease_lost');
    expect((await note(retry.token)).statusCode).toBe(201);
  });

  it('after the lease it claimed has ended (released or expired) is lease_lost, not a second lease', async () => {
    const released = await session();
    const key = { 'idempotency-key': 'claim-ended' };
    const lease = (await claim(released, 'a', 60_000, t, key)).json();
    await call(t.app, 'DELETE', `/v1/sessions/${released}/lease`, undefined, token(lease.token));
    const lost = expectProblem(await claim(released, 'a', 60_000, t, key), 409, 'lease_lost');
    expect(lost.detail).toBe(`the lease this Idempotency-Key claimed (fencing_token ${lease.fencing_token}) has ended; claim again with a new key`);
    const expired = await session();
    await claim(expired, 'a', 60_000, t, key);
    await expireLease(expired);
    expectProblem(await claim(expired, 'a', 60_000, t, key), 409, 'lease_lost');
    // Superseded by another claim: lease_lost too, and the other holder keeps its lease.
    const other = (await claim(expired, 'b')).json();
    expectProblem(await claim(expired, 'a', 60_000, t, key), 409, 'lease_lost');
    expect((await sessionOf(expired)).lease).toMatchObject({ owner: 'b', fencing_token: other.fencing_token });
  });
});

describe('the lease history', () => {
  it('each lease event names the owner and the generation (fencing token)', async () => {
    const id = await session();
    const first = (await claim(id, 'w1')).json();
    const renewed = (await call(t.app, 'PUT', `/v1/sessions/${id}/lease`, { ttl_ms: 120_000 }, token(first.token))).json();
    await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, token(first.token));
    const second = (await claim(id, 'w2')).json();
    await expireLease(id);
    // The sweeper announces the expiry; the next claim must not announce it again.
    await settleExpiredLeases(committerOn(t.database.db));
    const third = (await claim(id, 'w3')).json();
    const events = (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events.map((e: any) => [e.type, e.data]);
    expect(events).toEqual([
      ['lease.acquired', { owner: 'w1', fencing_token: 1, expires_at: first.expires_at }],
      ['lease.renewed', { owner: 'w1', fencing_token: 1, expires_at: renewed.expires_at }],
      ['lease.released', { owner: 'w1', fencing_token: 1 }],
      ['lease.acquired', { owner: 'w2', fencing_token: 2, expires_at: second.expires_at }],
      ['lease.expired', { owner: 'w2', fencing_token: 2 }],
      ['lease.acquired', { owner: 'w3', fencing_token: 3, expires_at: third.expires_at }],
    ]);
  });

  it('lease_held names the holder and until when; a renewal without ttl_ms keeps the ttl of the claim', async () => {
    const id = await session();
    const lease = (await claim(id, 'holder', 600_000)).json();
    expect(expectProblem(await claim(id, 'other'), 409, 'lease_held')).toMatchObject({ owner: 'holder', expires_at: lease.expires_at });
    const write = expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'x', data: 1 }] }), 409, 'lease_held');
    expect(write).toMatchObject({ owner: 'holder', expires_at: lease.expires_at });
    expect(write.detail).toBe(`"holder" holds the lease until ${lease.expires_at}; this write must carry its Lease-Token`);
    const renewed = (await t.app.inject({ method: 'PUT', url: `/v1/sessions/${id}/lease`, headers: token(lease.token) })).json();
    // Renewed later by the same 10 minutes (the default would be 30 s): never earlier than the claim's expiry.
    expect(Date.parse(renewed.expires_at)).toBeGreaterThanOrEqual(Date.parse(lease.expires_at));
  });
});

describe('renew and release', () => {
  it('a renewal with ttl_ms sets the ttl later renewals without one keep', async () => {
    const id = await session();
    const lease = (await claim(id, 'a', 60_000)).json();
    const longer = await call(t.app, 'PUT', `/v1/sessions/${id}/lease`, { ttl_ms: 3_600_000 }, token(lease.token));
    expect(longer.statusCode, longer.body).toBe(200);
    const kept = await t.app.inject({ method: 'PUT', url: `/v1/sessions/${id}/lease`, headers: token(lease.token) });
    expect(kept.statusCode, kept.body).toBe(200);
    // An hour from the renewal, not the claim's minute.
    expect(Date.parse(kept.json().expires_at)).toBeGreaterThan(Date.parse(lease.expires_at) + 30 * 60_000);
  });

  it('renew moves the expiry with the current token; stale or missing tokens are refused', async () => {
    const id = await session();
    const lease = (await claim(id, 'a', 5_000)).json();
    const renewed = await call(t.app, 'PUT', `/v1/sessions/${id}/lease`, { ttl_ms: 60_000 }, token(lease.token));
    expect(renewed.statusCode).toBe(200);
    expect(renewed.json()).toMatchObject({ owner: 'a', fencing_token: lease.fencing_token });
    expect(Date.parse(renewed.json().expires_at)).toBeGreaterThan(Date.parse(lease.expires_at));
    // Without a body the lease is renewed by the ttl of the claim.
    expect((await t.app.inject({ method: 'PUT', url: `/v1/sessions/${id}/lease`, headers: token(lease.token) })).statusCode).toBe(200);
    expectProblem(await call(t.app, 'PUT', `/v1/sessions/${id}/lease`, {}, token('not-the-token')), 409, 'lease_lost');
    expectProblem(await call(t.app, 'PUT', `/v1/sessions/${id}/lease`, {}), 400, 'invalid_request');
  });

  it('a renewal after expiry is lease_lost, even if nobody claimed since', async () => {
    const id = await session();
    const lease = (await claim(id, 'a', 150)).json();
    await leaseExpired(id);
    expectProblem(await call(t.app, 'PUT', `/v1/sessions/${id}/lease`, {}, token(lease.token)), 409, 'lease_lost');
  });

  it('release ends the lease; a released or superseded token is lease_lost', async () => {
    const id = await session();
    const lease = (await claim(id, 'a')).json();
    expectProblem(await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, token('wrong')), 409, 'lease_lost');
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, token(lease.token))).statusCode).toBe(204);
    expect((await sessionOf(id)).lease).toBeNull();
    expectProblem(await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, token(lease.token)), 409, 'lease_lost');
    const next = (await claim(id, 'b')).json();
    expectProblem(await call(t.app, 'PUT', `/v1/sessions/${id}/lease`, {}, token(lease.token)), 409, 'lease_lost');
    expect(next.fencing_token).toBe(lease.fencing_token + 1);
  });

  it('a worker releasing a lease it already lost (expired, superseded) learns it: 409 lease_lost, as the contract says, and nothing changes', async () => {
    const id = await session();
    const expired = (await claim(id, 'a')).json();
    await expireLease(id);
    expectProblem(await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, token(expired.token)), 409, 'lease_lost');
    const current = (await claim(id, 'b')).json();
    const before = await eventTypes(id);
    expectProblem(await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, token(expired.token)), 409, 'lease_lost');
    expect((await sessionOf(id)).lease).toMatchObject({ owner: 'b', fencing_token: current.fencing_token });
    expect(await eventTypes(id)).toEqual(before);

    // The contract a client is written from lists this answer beside the 204.
    const contract = readFileSync(new URL('../../docs/API.md', import.meta.url), 'utf8');
    const releaseEntry = contract.split('\n- ').find((entry) => entry.startsWith('`DELETE /v1/sessions/{id}/lease`'));
    expect(releaseEntry).toMatch(/204/);
    expect(releaseEntry).toMatch(/409\s+`lease_lost`/);
    const document = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'));
    const operation = document.paths['/v1/sessions/{id}/lease'].delete;
    expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['204', '409']));
    expect(operation.description).toMatch(/lease_lost/);
  });
});

describe('fencing: every worker write carries the Lease-Token while a lease runs', () => {
  const HASH = 'a'.repeat(64);
  /** Every worker write route (each operation that takes a Lease-Token header), with a body its schema accepts. */
  const writes = (id: string, version: number): [string, string, unknown][] => [
    ['PUT', `/v1/sessions/${id}/state`, { base_version: version, schema_version: 1, snapshot: { v: version } }],
    ['POST', `/v1/sessions/${id}/deltas`, { base_version: version, merge_patch: { n: version } }],
    ['POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: version }] }],
    ['POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'hi' }] }],
    ['PUT', `/v1/sessions/${id}/messages/kinds/summary`, { role: 'system', content: 'short' }],
    ['POST', `/v1/sessions/${id}/messages/trim`, { before_seq: 1000 }],
    ['POST', `/v1/sessions/${id}/queue/claim`, { max_batches: 1, ttl_ms: 1000 }],
    ['POST', `/v1/sessions/${id}/queue/claims/c-1/complete`, {}],
    ['POST', `/v1/sessions/${id}/queue/claims/c-1/renew`, { ttl_ms: 1000 }],
    ['POST', `/v1/sessions/${id}/queue/claims/c-1/abandon`, {}],
    ['POST', `/v1/sessions/${id}/attachments`, Buffer.from('bytes')],
    ['POST', `/v1/sessions/${id}/attachments/${HASH}/commit`, {}],
    ['POST', `/v1/sessions/${id}/turns`, { turn_id: `turn-${version}`, events: [{ type: 'note', data: version }] }],
  ];
  const send = (method: string, url: string, body: unknown, headers: Record<string, string> = {}) =>
    Buffer.isBuffer(body)
      ? t.app.inject({ method: method as 'POST', url, payload: body, headers: { 'content-type': 'application/octet-stream', ...headers } })
      : call(t.app, method as 'POST', url, body, headers);
  /** What a refused write must leave untouched. */
  const footprint = async (id: string) => ({
    session: await sessionOf(id),
    messages: (await call(t.app, 'GET', `/v1/sessions/${id}/messages/meta`)).json(),
    attachments: (await call(t.app, 'GET', `/v1/sessions/${id}/attachments`)).json().attachments,
  });

  it('the table names every route that takes a Lease-Token, except the lease routes themselves', async () => {
    const document = t.app.swagger() as { paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>> };
    const fenced = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, operation]) => operation.parameters?.some((p) => p.in === 'header' && p.name === 'lease-token'))
        .map(([method]) => `${method.toUpperCase()} ${path.replace(/\{[a-z_]+\}/g, '{}')}`),
    );
    const asTemplate = (url: string) =>
      url.replace('/v1/sessions/S/', '/v1/sessions/{}/').replace(/claims\/c-1\//, 'claims/{}/').replace(HASH, '{}').replace('kinds/summary', 'kinds/{}');
    const table = writes('S', 1).map(([method, url]) => `${method} ${asTemplate(url)}`);
    const leaseRoutes = ['PUT /v1/sessions/{}/lease', 'DELETE /v1/sessions/{}/lease'];
    expect([...table, ...leaseRoutes].sort()).toEqual([...fenced].sort());
  });

  it('no token: lease_held; a wrong token: lease_lost; nothing is stored', async () => {
    const id = await session();
    await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: {} });
    await call(t.app, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'before the lease' }] });
    await call(t.app, 'POST', `/v1/sessions/${id}/queue`, { items: ['waiting'] });
    const lease = (await claim(id, 'a')).json();
    const before = await footprint(id);
    for (const [method, url, body] of writes(id, 1)) {
      const held = expectProblem(await send(method, url, body), 409, 'lease_held');
      expect(held.owner, `${method} ${url}`).toBe('a');
      expectProblem(await send(method, url, body, token(`${lease.token}x`)), 409, 'lease_lost');
    }
    expect(await footprint(id)).toEqual(before);
  });

  it('a lease that ran out without being released no longer fences: a writer without a token writes, the old token is lease_lost', async () => {
    const id = await session();
    const lease = (await claim(id, 'crashed')).json();
    await expireLease(id);
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 1 }] })).statusCode).toBe(201);
    expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: {} })).statusCode).toBe(200);
    expectProblem(
      await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 2 }] }, token(lease.token)),
      409,
      'lease_lost',
    );
    // The next claim is granted and announces the expiry first (unless the sweeper already did).
    expect((await claim(id, 'next')).statusCode).toBe(201);
    const types = await eventTypes(id);
    expect(types.filter((type: string) => type.startsWith('lease.'))).toEqual(['lease.acquired', 'lease.expired', 'lease.acquired']);
  });

  it('a retried write that committed under a lease that has since expired replays its answer instead of lease_lost', async () => {
    const id = await session();
    const lease = (await claim(id, 'a')).json();
    const headers = { ...token(lease.token), 'idempotency-key': 'k-1' };
    const body = { events: [{ type: 'note', data: 'once' }] };
    const first = await call(t.app, 'POST', `/v1/sessions/${id}/events`, body, headers);
    expect(first.statusCode).toBe(201);
    await expireLease(id);
    const retry = await call(t.app, 'POST', `/v1/sessions/${id}/events`, body, headers);
    expect(retry.statusCode).toBe(201);
    expect(retry.json()).toEqual(first.json());
    expect(retry.headers['idempotent-replayed']).toBe('true');
    // A new write under the dead token is still refused.
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/events`, body, { ...token(lease.token), 'idempotency-key': 'k-2' }), 409, 'lease_lost');
    expect((await eventTypes(id)).filter((type: string) => type === 'note')).toHaveLength(1);
  });

  it('the holder writes with its token', async () => {
    const id = await session();
    const lease = (await claim(id, 'a')).json();
    expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: {} }, token(lease.token))).statusCode).toBe(200);
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, merge_patch: { a: 1 } }, token(lease.token))).statusCode).toBe(200);
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 1 }] }, token(lease.token))).statusCode).toBe(201);
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/queue/claim`, { max_batches: 1, ttl_ms: 1000 }, token(lease.token))).statusCode).toBe(204);
  });

  it('without a lease, writes need no token; dashboards enqueue and set activity while a lease runs', async () => {
    const id = await session();
    expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: {} })).statusCode).toBe(200);
    await claim(id, 'busy-worker');
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/queue`, { items: ['hello'] })).statusCode).toBe(201);
    expect((await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'thinking' })).statusCode).toBe(200);
  });

  it('a paused worker that wakes after losing its lease cannot overwrite the new owner', async () => {
    const id = await session();
    const old = (await claim(id, 'paused')).json();
    expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { owner: 'paused' } }, token(old.token))).statusCode).toBe(200);
    await expireLease(id);
    await leaseExpired(id);
    const fresh = (await claim(id, 'new-owner')).json();
    await call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, merge_patch: { owner: 'new-owner' } }, token(fresh.token));
    // The paused worker still believes it is at version 2 and owns the session.
    expectProblem(
      await call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 2, merge_patch: { owner: 'paused' } }, token(old.token)),
      409,
      'lease_lost',
    );
    expectProblem(
      await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 2, schema_version: 1, snapshot: { owner: 'paused' } }, token(old.token)),
      409,
      'lease_lost',
    );
    expect((await call(t.app, 'GET', `/v1/sessions/${id}/state`)).json().snapshot).toEqual({ owner: 'new-owner' });
  });

  it('a token on a session without any lease is lease_lost (the holder must claim again)', async () => {
    const id = await session();
    expectProblem(
      await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'x', data: 1 }] }, token('stale')),
      409,
      'lease_lost',
    );
  });
});

describe('the token stays secret', () => {
  it('never appears in the logs, not even when sent as a header', async () => {
    const log = logSink('trace');
    const { lines } = log;
    const logged = await createTestApp({ databaseUrl: t.url, log });
    const { app } = logged;
    try {
      const id = await session();
      const lease = (await app.inject({ method: 'POST', url: `/v1/sessions/${id}/lease`, payload: { owner: 'a', ttl_ms: 60_000 } })).json();
      await app.inject({ method: 'PUT', url: `/v1/sessions/${id}/lease`, headers: { 'lease-token': lease.token } });
      await app.inject({ method: 'POST', url: `/v1/sessions/${id}/events`, headers: { 'lease-token': `${lease.token}x` }, payload: { events: [{ type: 'x', data: 1 }] } });
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.join('\n')).not.toContain(lease.token);
      expect(metrics).not.toContain(lease.token);
    } finally {
      await logged.close();
    }
  });
});
