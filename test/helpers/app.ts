import type { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect } from 'vitest';
import { type AppOptions, buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { connectDatabase, type Database } from '../../src/db/client.js';
import { createTestDatabase } from './db.js';

export interface TestApp {
  app: FastifyInstance;
  /** Base URL once `listen()` was called (SSE tests need a real socket). */
  baseUrl: string;
  /** Listens on 127.0.0.1, on `port` when given (a restarted server takes its predecessor's), else on any free port. */
  listen(port?: number): Promise<string>;
  database: Database;
  config: Config;
  url: string;
  close(): Promise<void>;
}

/**
 * Builds the real app against a database of its own (or a shared one, to run
 * several instances on one database). `env` is read exactly like the process
 * environment, so tests exercise the same config parsing as production.
 */
export async function createTestApp(
  options: {
    env?: Record<string, string>;
    databaseUrl?: string;
    logQuery?: (query: string, params: unknown[]) => void;
    /** See `AppOptions.beforeStreamRead`: a test's pause before each stream read. */
    beforeStreamRead?: AppOptions['beforeStreamRead'];
    /** See `AppOptions.sendWakeups`: where the wakeup publisher's NOTIFYs go (a test drops them). */
    sendWakeups?: AppOptions['sendWakeups'];
    /** See `AppOptions.writeLockWaitMs`: how long a write under WRITE_CONCURRENCY waits for a lock. */
    writeLockWaitMs?: number;
    /** See `AppOptions.sweeps`: off when a test counts every query a request makes. */
    sweeps?: boolean;
    /** Keeps the app's log (with the production redaction) at this level: `logSink(level)`. */
    log?: { level: string; stream: Writable };
  } = {},
): Promise<TestApp> {
  const url = options.databaseUrl ?? (await createTestDatabase());
  const config = loadConfig({ LOG_LEVEL: options.log?.level ?? 'silent', ...options.env, DATABASE_URL: url });
  const database = connectDatabase({
    // As main.ts does: the URL as the configuration reads it.
    url: config.databaseUrl ?? url,
    poolMax: config.dbPoolMax,
    writeConnections: config.writeConcurrency,
    ...(options.logQuery ? { onQuery: options.logQuery } : {}),
  });
  const app = await buildApp({
    config,
    database,
    logger: options.log ? { level: options.log.level, stream: options.log.stream } : false,
    beforeStreamRead: options.beforeStreamRead,
    sendWakeups: options.sendWakeups,
    writeLockWaitMs: options.writeLockWaitMs,
    ...(options.sweeps === undefined ? {} : { sweeps: options.sweeps }),
  });
  await app.ready();
  const testApp: TestApp = {
    app,
    database,
    config,
    url,
    baseUrl: '',
    async listen(port = 0) {
      const address = await app.listen({ host: '127.0.0.1', port });
      testApp.baseUrl = address;
      return address;
    },
    async close() {
      await app.close();
      await database.close();
    },
  };
  return testApp;
}

/** inject() with a JSON body and the parsed JSON answer. */
/**
 * Two instances on one database for the whole test file: the first takes the
 * writes and caches what it wrote; the second has cached nothing, so its reads
 * rebuild the state from the stored rows. `use` receives both before the first test.
 */
export function warmAndColdApps(env: Record<string, string>, use: (warm: TestApp, cold: TestApp) => void): void {
  let warm: TestApp | undefined;
  let cold: TestApp | undefined;
  beforeAll(async () => {
    warm = await createTestApp({ env });
    cold = await createTestApp({ databaseUrl: warm.url, env });
    use(warm, cold);
  });
  afterAll(async () => {
    await cold?.close();
    await warm?.close();
  });
}

export async function call(
  app: FastifyInstance,
  method: InjectOptions['method'],
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse & { body: string; json: () => any }> {
  return app.inject({
    method,
    url,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Asserts the response is a problem document with the given status and code, and returns it. */
export function expectProblem(response: LightMyRequestResponse, status: number, code: string): any {
  const problem = response.json();
  if (response.statusCode !== status || problem.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${response.statusCode} ${response.body}`);
  }
  if (!String(response.headers['content-type']).startsWith('application/problem+json')) {
    throw new Error(`expected application/problem+json, got ${response.headers['content-type']}`);
  }
  for (const member of ['type', 'title', 'status', 'detail', 'code']) {
    if (!(member in problem)) throw new Error(`problem lacks "${member}": ${response.body}`);
  }
  return problem;
}

/** Asserts an ISO 8601 timestamp as the API writes them (Date#toISOString). */
export function expectIso(value: unknown): void {
  expect(typeof value).toBe('string');
  expect(new Date(value as string).toISOString()).toBe(value);
}

/** Creates session `id` (with any other create fields in `body`); anything but 201 fails the test. Returns the id. */
export async function createSession(t: TestApp, id: string, body: Record<string, unknown> = {}): Promise<string> {
  const response = await call(t.app, 'POST', '/v1/sessions', { id, ...body });
  expect(response.statusCode, response.body).toBe(201);
  return id;
}
