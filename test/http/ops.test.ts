import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { until } from '../helpers/waits.js';
import { createTestDatabase, killListenBackends } from '../helpers/db.js';
import { startPassThroughProxy } from '../helpers/pg-proxy.js';
import { mintToken } from '../../src/auth/tokens.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  await t?.close();
});

/** The value of one sample line (`name{labels} value`) in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const match = /^[^{]+\{([^}]*)\} (\S+)$/.exec(line);
    if (!match) continue;
    const present = Object.fromEntries(
      [...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]] as [string, string]),
    );
    if (Object.entries(labels).every(([k, v]) => present[k] === v)) return Number(match[2]);
  }
  return undefined;
}

async function metricsText(): Promise<string> {
  const response = await call(t.app, 'GET', '/metrics');
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain/);
  return response.body;
}

describe('GET /healthz', () => {
  it('answers 200 {status: "ok"}', async () => {
    const response = await call(t.app, 'GET', '/healthz');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });
});

describe('GET /readyz', () => {
  it('answers 200 {status: "ready"} while the database is reachable', async () => {
    const response = await call(t.app, 'GET', '/readyz');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ready' });
  });

  it('answers 503 {status: "not_ready"} naming the LISTEN connection while it is down, and 200 again once it is back', async () => {
    // An app on a database of its own: its connections are cut below, never t's.
    const own = await createTestApp();
    const database = new URL(own.url).pathname.slice(1);
    const admin = postgres(inject('pgAdminUrl'), { max: 1, onnotice: () => {} });
    const readiness = async () => {
      const res = await call(own.app, 'GET', '/readyz');
      return { status: res.statusCode, body: res.json() };
    };
    try {
      expect(await readiness()).toEqual({ status: 200, body: { status: 'ready' } });
      // The pool's open connections still answer the ping; the LISTEN connection, cut, cannot come back.
      await admin.unsafe(`alter database "${database}" allow_connections false`);
      await killListenBackends(admin, database);
      await expect
        .poll(readiness, { timeout: 10_000 })
        .toEqual({ status: 503, body: { status: 'not_ready', reason: 'LISTEN connection is down' } });
      await admin.unsafe(`alter database "${database}" allow_connections true`);
      await expect.poll(readiness, { timeout: 10_000 }).toEqual({ status: 200, body: { status: 'ready' } });
    } finally {
      await admin.unsafe(`alter database "${database}" allow_connections true`);
      await admin.end();
      await own.close();
    }
  });

  it('answers 503 within its 2 s when the database takes the ping and gives no answer, naming the wait', async () => {
    // Every pool connection held by a transaction that waits: the ping queues behind them, as behind a stuck database.
    const own = await createTestApp({ env: { DB_POOL_MAX: '2', MAX_TRANSFERS: '1', WRITE_CONCURRENCY: '1' }, sweeps: false });
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const holders = [0, 1].map(() => own.database.db.begin(() => held));
    try {
      const started = Date.now();
      const response = await call(own.app, 'GET', '/readyz');
      const waited = Date.now() - started;
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({ status: 'not_ready', reason: 'database: no answer within 2000 ms' });
      expect(waited).toBeGreaterThanOrEqual(1_900);
      expect(waited).toBeLessThan(10_000);
    } finally {
      release();
      await Promise.all(holders);
      await own.close();
    }
  }, 20_000);
});

describe('a database that cannot be reached', () => {
  it('a request is 503 database_unavailable with Retry-After: 1, and /readyz is 503 not_ready naming the database', async () => {
    const direct = new URL(await createTestDatabase());
    const proxy = await startPassThroughProxy({ host: direct.hostname, port: Number(direct.port) });
    const proxied = new URL(direct);
    proxied.port = String(proxy.port);
    const cut = await createTestApp({ databaseUrl: proxied.toString() });
    try {
      await createSession(cut, 'ops-unreachable');
      await proxy.close();
      for (const [method, url, body] of [
        ['GET', '/v1/sessions/ops-unreachable', undefined],
        ['POST', '/v1/sessions/ops-unreachable/events', { events: [{ type: 'step', data: 1 }] }],
      ] as const) {
        const refused = await call(cut.app, method, url, body);
        expect(refused.statusCode, `${method} ${url}: ${refused.body}`).toBe(503);
        expectProblem(refused, 503, 'database_unavailable');
        expect(refused.headers['retry-after']).toBe('1');
      }
      const ready = await call(cut.app, 'GET', '/readyz');
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ status: 'not_ready', reason: expect.stringMatching(/^database: /) });
    } finally {
      await cut.close();
    }
  }, 20_000);
});

describe('GET /metrics', () => {
  it('serves Prometheus text with the request duration histogram', async () => {
    await call(t.app, 'GET', '/healthz');
    const text = await metricsText();
    expect(text).toContain('# TYPE session_sync_http_request_duration_seconds histogram');
    expect(text).toMatch(/^session_sync_http_request_duration_seconds_count\{[^}]*route="\/healthz"[^}]*\} [1-9]/m);
  });

  it('counts accepted state writes by kind', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'metered' })).statusCode).toBe(201);
    const before = await metricsText();
    const snapshotsBefore = sample(before, 'session_sync_state_writes_total', { kind: 'snapshot' }) ?? 0;
    const deltasBefore = sample(before, 'session_sync_state_writes_total', { kind: 'delta' }) ?? 0;

    const put = await call(t.app, 'PUT', '/v1/sessions/metered/state', { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
    expect(put.statusCode, put.body).toBe(200);
    for (const n of [1, 2]) {
      const delta = await call(t.app, 'POST', '/v1/sessions/metered/deltas', { base_version: n, merge_patch: { n } });
      expect(delta.statusCode, delta.body).toBe(200);
    }

    const after = await metricsText();
    expect(after).toContain('# TYPE session_sync_state_writes_total counter');
    expect(sample(after, 'session_sync_state_writes_total', { kind: 'snapshot' })).toBe(snapshotsBefore + 1);
    expect(sample(after, 'session_sync_state_writes_total', { kind: 'delta' })).toBe(deltasBefore + 2);
  });

  it('counts version conflicts', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'conflicted' })).statusCode).toBe(201);
    const put = await call(t.app, 'PUT', '/v1/sessions/conflicted/state', { base_version: 0, schema_version: 1, snapshot: {} });
    expect(put.statusCode, put.body).toBe(200);
    const before = sample(await metricsText(), 'session_sync_conflicts_total', { code: 'version_conflict' }) ?? 0;

    const stale = await call(t.app, 'POST', '/v1/sessions/conflicted/deltas', { base_version: 0, merge_patch: { a: 1 } });
    expectProblem(stale, 409, 'version_conflict');

    const text = await metricsText();
    expect(text).toContain('session_sync_conflicts_total{code="version_conflict"}');
    expect(sample(text, 'session_sync_conflicts_total', { code: 'version_conflict' })).toBe(before + 1);
  });

  it('counts a 409 of every write method, by code, and no refused read (operations.md: writes refused with a 409)', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'ops-conflicts-put' })).statusCode).toBe(201);
    const first = await call(t.app, 'PUT', '/v1/sessions/ops-conflicts-put/state', { base_version: 0, schema_version: 1, snapshot: {} });
    expect(first.statusCode, first.body).toBe(200);
    const before = await metricsText();
    const conflicts = (text: string, code: string) => sample(text, 'session_sync_conflicts_total', { code }) ?? 0;

    // A snapshot PUT against a stale version: a write refused with a 409.
    const stale = await call(t.app, 'PUT', '/v1/sessions/ops-conflicts-put/state', { base_version: 0, schema_version: 1, snapshot: { a: 1 } });
    expectProblem(stale, 409, 'version_conflict');
    // A read refused with a 409 (a cursor above the head) is no write.
    expectProblem(await call(t.app, 'GET', '/v1/sessions/ops-conflicts-put/events?after=99'), 409, 'cursor_ahead');

    const after = await metricsText();
    expect(conflicts(after, 'version_conflict')).toBe(conflicts(before, 'version_conflict') + 1);
    expect(conflicts(after, 'cursor_ahead')).toBe(conflicts(before, 'cursor_ahead'));
  });

  it('counts the runs of each background sweep by outcome, and times them', async () => {
    // The expiry sweeps run every 500 ms: two runs of each are a second away.
    await until(async () => (sample(await metricsText(), 'session_sync_sweep_runs_total', { sweep: 'activity_expiry', outcome: 'ok' }) ?? 0) >= 2, 'two expiry sweeps');
    const text = await metricsText();
    expect(sample(text, 'session_sync_sweep_runs_total', { sweep: 'lease_expiry', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'session_sync_sweep_runs_total', { sweep: 'claim_expiry', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'session_sync_sweep_runs_total', { sweep: 'activity_expiry', outcome: 'failed' })).toBeUndefined();
    expect(sample(text, 'session_sync_sweep_duration_seconds_count', { sweep: 'activity_expiry' })).toBeGreaterThanOrEqual(2);
  });
});

describe('with AUTH_SECRET set (API.md, Access: /healthz and /readyz are open; /metrics needs admin)', () => {
  const SECRET = 'an-ops-test-secret-that-is-at-least-32-bytes';
  let secured: TestApp;
  beforeAll(async () => {
    secured = await createTestApp({ env: { AUTH_SECRET: SECRET } });
  });
  afterAll(async () => {
    await secured?.close();
  });
  const bearer = async (grants: { sessions: string[]; read?: boolean; write?: boolean; admin?: boolean }) => ({
    authorization: `Bearer ${await mintToken(SECRET, { ...grants, ttlSeconds: 600 })}`,
  });

  it('the probes answer without a token', async () => {
    expect((await call(secured.app, 'GET', '/healthz')).statusCode).toBe(200);
    expect((await call(secured.app, 'GET', '/readyz')).statusCode).toBe(200);
  });

  it('/metrics is 401 without a token, 403 for a token that reads and writes every session but is not admin, 200 for admin', async () => {
    const anonymous = await call(secured.app, 'GET', '/metrics');
    expect(anonymous.statusCode).toBe(401);
    expectProblem(anonymous, 401, 'unauthorized');
    const notAdmin = await call(secured.app, 'GET', '/metrics', undefined, await bearer({ sessions: ['*'], read: true, write: true }));
    expect(notAdmin.statusCode).toBe(403);
    expectProblem(notAdmin, 403, 'forbidden');
    const admin = await call(secured.app, 'GET', '/metrics', undefined, await bearer({ sessions: [], admin: true }));
    expect(admin.statusCode).toBe(200);
    expect(admin.body).toContain('session_sync_');
  });
});

describe('wakeup metrics', () => {
  /** An unlabelled sample (`name value`), 0 before its first increment. */
  const plain = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

  it('count the wakeups published after commits, their payloads and NOTIFY transactions, and time each flush', async () => {
    const before = await metricsText();
    await call(t.app, 'POST', '/v1/sessions', { id: 'metered-wakeups' });
    const published = (text: string, kind: string) =>
      (sample(text, 'session_sync_wakeups_published_total', { kind }) ?? 0) - (sample(before, 'session_sync_wakeups_published_total', { kind }) ?? 0);
    for (let i = 0; i < 3; i++) {
      const res = await call(t.app, 'POST', '/v1/sessions/metered-wakeups/events', { events: [{ type: 'note', data: i }] });
      expect(res.statusCode, res.body).toBe(201);
      // Published after each commit, without the request waiting for it. The next append waits for it: appends
      // to one session that commit while a flush is on its way coalesce into one wakeup (counted once), which a
      // loaded machine makes happen and this count must not depend on.
      await until(async () => published(await metricsText(), 'append') >= i + 1, `wakeup ${i + 1} published`);
    }
    // A live event's request is answered once its NOTIFY is sent.
    expect((await call(t.app, 'POST', '/v1/sessions/metered-wakeups/live', { type: 'token', data: 'x' })).statusCode).toBe(202);
    const after = await metricsText();
    // Three appends, one wakeup each (the created notice travels in its own transaction, not through the publisher), and the live event.
    expect(published(after, 'append')).toBe(3);
    expect(published(after, 'live')).toBe(1);
    expect(published(after, 'activity')).toBe(0);
    const transactions = (text: string) => sample(text, 'session_sync_wakeup_notify_transactions_total', { outcome: 'ok' }) ?? 0;
    const sent = transactions(after) - transactions(before);
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(sent).toBeLessThanOrEqual(4);
    expect(plain(after, 'session_sync_wakeup_payloads_total') - plain(before, 'session_sync_wakeup_payloads_total')).toBe(sent);
    expect(plain(after, 'session_sync_wakeup_flush_seconds_count') - plain(before, 'session_sync_wakeup_flush_seconds_count')).toBe(sent);
    expect(plain(after, 'session_sync_wakeup_delay_seconds_count') - plain(before, 'session_sync_wakeup_delay_seconds_count')).toBe(sent);
  });
});

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document describing the session, state and event routes', async () => {
    const response = await call(t.app, 'GET', '/openapi.json');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const doc = response.json();
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info.title).toEqual(expect.any(String));
    const paths = Object.keys(doc.paths);
    for (const path of [
      '/v1/sessions',
      '/v1/sessions/{id}',
      '/v1/sessions/{id}/state',
      '/v1/sessions/{id}/deltas',
      '/v1/sessions/{id}/events',
    ]) {
      expect(paths).toContain(path);
    }
    expect(Object.keys(doc.paths['/v1/sessions'])).toEqual(expect.arrayContaining(['get', 'post']));
    expect(Object.keys(doc.paths['/v1/sessions/{id}'])).toEqual(expect.arrayContaining(['get', 'patch', 'delete']));
    expect(Object.keys(doc.paths['/v1/sessions/{id}/state'])).toEqual(expect.arrayContaining(['get', 'put']));
    expect(Object.keys(doc.paths['/v1/sessions/{id}/deltas'])).toContain('post');
    expect(Object.keys(doc.paths['/v1/sessions/{id}/events'])).toContain('get');
  });
});

describe('GET /docs', () => {
  it('serves the rendered API documentation as HTML', async () => {
    let response = await call(t.app, 'GET', '/docs');
    for (let hops = 0; response.statusCode >= 300 && response.statusCode < 400 && hops < 5; hops++) {
      const location = String(response.headers.location);
      response = await call(t.app, 'GET', new URL(location, 'http://localhost/docs/').pathname);
    }
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body.toLowerCase()).toContain('<html');
  });
});

describe('unknown routes', () => {
  it.each([
    ['GET', '/nowhere'],
    ['GET', '/v1/nothing'],
    ['POST', '/v1/sessions/x/nothing'],
    // The face's routes take a path of one character or more: none is routed here for any method.
    ['PUT', '/v1/stream/'],
    ['GET', '/v1/stream/'],
  ] as const)('%s %s answers 404 problem+json not_found', async (method, url) => {
    const problem = expectProblem(await call(t.app, method, url), 404, 'not_found');
    expect(problem.status).toBe(404);
  });

  it.each([
    ['PUT', '/v1/sessions', 'GET, HEAD, POST'],
    ['POST', '/v1/sessions/x/state', 'GET, HEAD, PUT'],
    ['PATCH', '/v1/sessions/x/lease', 'DELETE, POST, PUT'],
    ['DELETE', '/v1/sessions/x/events?after=1', 'GET, HEAD, POST'],
  ] as const)('%s %s on a path that exists answers 405 with Allow: %s', async (method, url, allow) => {
    const response = await call(t.app, method, url);
    const problem = expectProblem(response, 405, 'method_not_allowed');
    expect(response.headers.allow).toBe(allow);
    expect(problem.allowed).toEqual(allow.split(', '));
    expect(problem.detail).toContain(`${method} is not allowed`);
  });
});

describe('validation messages', () => {
  it('say in words what a pattern wants, never the regex', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'words', encoding: 'binary' });
    const cases: [string, string, unknown, string, RegExp][] = [
      ['POST', '/v1/sessions', { id: '-leading-dash' }, '/id', /must be letters, digits and \. _ : - only, starting with a letter or digit/],
      ['PUT', '/v1/sessions/words/state', { base_version: 0, schema_version: 1, snapshot_base64: 'abc' }, '/snapshot_base64', /must be standard padded base64/],
      ['POST', '/v1/sessions/words/events', { events: [{ type: 'Tool.Call', data: 1 }] }, '/events/0/type', /must be a lowercase dotted name/],
    ];
    for (const [method, url, body, field, words] of cases) {
      const problem = expectProblem(await call(t.app, method as 'POST', url, body), 400, 'invalid_request');
      expect(problem.errors[0].field).toBe(field);
      expect(problem.errors[0].message).toMatch(words);
      expect(problem.detail).toMatch(words);
      expect(problem.detail).not.toMatch(/pattern|\^|\$/);
    }
  });

  it('name the values an enumeration takes', async () => {
    const problem = expectProblem(await call(t.app, 'POST', '/v1/sessions', { id: 'ops-enum-words', encoding: 'xml' }), 400, 'invalid_request');
    expect(problem.errors).toEqual([{ in: 'body', field: '/encoding', message: 'must be one of "json", "binary"' }]);
    expect(problem.detail).toBe('body field encoding must be one of "json", "binary"');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/ops-enum-words'), 404, 'session_not_found');
  });

  it('say where the offending value is: a header, a query parameter', async () => {
    const header = expectProblem(
      await call(t.app, 'POST', '/v1/sessions', { id: 'ops-where-header' }, { 'idempotency-key': 'has a space' }),
      400,
      'invalid_request',
    );
    expect(header.errors).toEqual([{ in: 'headers', field: '/idempotency-key', message: 'must be 1-255 visible ASCII characters (no spaces)' }]);
    expectProblem(await call(t.app, 'GET', '/v1/sessions/ops-where-header'), 404, 'session_not_found');
    const query = expectProblem(await call(t.app, 'GET', '/v1/sessions?limit=0'), 400, 'invalid_request');
    expect(query.errors).toEqual([expect.objectContaining({ in: 'querystring', field: '/limit' })]);
  });
});

describe('a body in another media type', () => {
  it('is 415 unsupported_media_type on a JSON route, and nothing is stored', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/sessions', headers: { 'content-type': 'text/plain' }, payload: '{"id":"ops-415"}' });
    expectProblem(res, 415, 'unsupported_media_type');
    const form = await t.app.inject({ method: 'POST', url: '/v1/sessions', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'id=ops-415' });
    expectProblem(form, 415, 'unsupported_media_type');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/ops-415'), 404, 'session_not_found');
  });
});

describe('body size limit', () => {
  let small: TestApp;

  beforeAll(async () => {
    small = await createTestApp({ env: { MAX_BODY_BYTES: '2048' } });
  });

  afterAll(async () => {
    await small?.close();
  });

  it('answers 413 payload_too_large for a create over MAX_BODY_BYTES and stores nothing', async () => {
    const body = { id: 'too-big', metadata: { blob: 'x'.repeat(3000) } };
    const problem = expectProblem(await call(small.app, 'POST', '/v1/sessions', body), 413, 'payload_too_large');
    expect(problem.limit_bytes).toBe(2048);
    expectProblem(await call(small.app, 'GET', '/v1/sessions/too-big'), 404, 'session_not_found');
    expect((await call(small.app, 'GET', '/v1/sessions')).json().sessions).toEqual([]);
  });

  it('answers 413 for a state write over MAX_BODY_BYTES and leaves the state and history unchanged', async () => {
    expect((await call(small.app, 'POST', '/v1/sessions', { id: 'small' })).statusCode).toBe(201);
    const big = await call(small.app, 'PUT', '/v1/sessions/small/state', {
      base_version: 0,
      schema_version: 1,
      snapshot: { blob: 'x'.repeat(3000) },
    });
    expectProblem(big, 413, 'payload_too_large');
    const session = (await call(small.app, 'GET', '/v1/sessions/small')).json();
    expect(session.version).toBe(0);
    expect(session.last_seq).toBe(0);
    expect((await call(small.app, 'GET', '/v1/sessions/small/events')).json().events).toEqual([]);
  });

  it('still accepts a body under the limit', async () => {
    const response = await call(small.app, 'POST', '/v1/sessions', { id: 'fits', metadata: { blob: 'x'.repeat(1000) } });
    expect(response.statusCode, response.body).toBe(201);
  });

  it('starts with MAX_BODY_BYTES alone, the event data limit following the smaller body limit', () => {
    expect(small.config.limits.maxBodyBytes).toBe(2048);
    expect(small.config.limits.maxEventBytes).toBeLessThanOrEqual(2048);
  });
});
