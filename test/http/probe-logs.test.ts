import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';

// An orchestrator probes /healthz and /readyz and Prometheus scrapes /metrics
// every few seconds: at the default level (info) their request lines would bury
// everything else. They log nothing while they answer 200; a 503 from /readyz
// is a warning that says why.
let t: TestApp;
const log = logSink('info');

beforeAll(async () => {
  t = await createTestApp({ log });
});

afterAll(async () => {
  await t?.close();
});

/** The URLs of the requests the log has lines for (pino's `incoming request` carries `req.url`). */
const loggedUrls = () => log.entries().flatMap((entry) => (entry.req?.url ? [entry.req.url as string] : []));

it('probes and scrapes leave no request lines at info; API requests keep theirs', async () => {
  for (const url of ['/healthz', '/readyz', '/metrics']) {
    expect((await t.app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
  }
  expect((await t.app.inject({ method: 'GET', url: '/v1/sessions' })).statusCode).toBe(200);
  expect(loggedUrls()).toEqual(['/v1/sessions']);
  expect(log.entries().filter((entry) => entry.msg === 'request completed')).toHaveLength(1);
});

it('a /readyz that answers 503 logs a warning with its reason', async () => {
  // The pool gone: the readiness ping fails as it would with the database unreachable.
  await t.database.db.end({ timeout: 0 });
  const response = await t.app.inject({ method: 'GET', url: '/readyz' });
  expect(response.statusCode).toBe(503);
  const reason = response.json().reason as string;
  expect(reason).toMatch(/^database: /);
  const warning = log.entries().find((entry) => entry.msg === 'not ready');
  expect(warning).toMatchObject({ level: 40, reason });
});
