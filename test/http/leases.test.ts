import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { connectDatabase } from '../../src/db/client.js';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

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

describe('renew and release', () => {
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
});

describe('fencing: every worker write carries the Lease-Token while a lease runs', () => {
  const writes = (id: string, version: number): [string, string, unknown][] => [
    ['PUT', `/v1/sessions/${id}/state`, { base_version: version, schema_version: 1, snapshot: { v: version } }],
    ['POST', `/v1/sessions/${id}/deltas`, { base_version: version, merge_patch: { n: version } }],
    ['POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: version }] }],
    ['POST', `/v1/sessions/${id}/queue/claim`, { max_batches: 1, ttl_ms: 1000 }],
  ];

  it('no token: lease_held; a wrong token: lease_lost; nothing is stored', async () => {
    const id = await session();
    await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: {} });
    const lease = (await claim(id, 'a')).json();
    const before = await sessionOf(id);
    for (const [method, url, body] of writes(id, 1)) {
      const held = expectProblem(await call(t.app, method as 'PUT', url, body), 409, 'lease_held');
      expect(held.owner).toBe('a');
      expectProblem(await call(t.app, method as 'PUT', url, body, token(`${lease.token}x`)), 409, 'lease_lost');
    }
    const after = await sessionOf(id);
    expect(after.version).toBe(before.version);
    expect(after.last_seq).toBe(before.last_seq);
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
    const old = (await claim(id, 'paused', 150)).json();
    await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { owner: 'paused' } }, token(old.token));
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
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const config = loadConfig({ DATABASE_URL: t.url, LOG_LEVEL: 'trace' });
    const database = connectDatabase({ url: t.url, poolMax: 2 });
    const app = await buildApp({ config, database, logger: { level: 'trace', stream: sink } as never, listen: false });
    try {
      await app.ready();
      const id = await session();
      const lease = (await app.inject({ method: 'POST', url: `/v1/sessions/${id}/lease`, payload: { owner: 'a', ttl_ms: 60_000 } })).json();
      await app.inject({ method: 'PUT', url: `/v1/sessions/${id}/lease`, headers: { 'lease-token': lease.token } });
      await app.inject({ method: 'POST', url: `/v1/sessions/${id}/events`, headers: { 'lease-token': `${lease.token}x` }, payload: { events: [{ type: 'x', data: 1 }] } });
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.join('\n')).not.toContain(lease.token);
      expect(metrics).not.toContain(lease.token);
    } finally {
      await app.close();
      await database.close();
    }
  });
});
