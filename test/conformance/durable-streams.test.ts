import { runConformanceTests } from '@durable-streams/server-conformance-tests';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { createTestApp } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/db.js';
import { startServerProcess } from '../helpers/server-process.js';

/**
 * The Durable Streams protocol's official server conformance suite
 * (`@durable-streams/server-conformance-tests`, pinned), run as shipped over
 * HTTP against the server as users start it: a process of its own on a fresh
 * database. Every case it registers runs; none is patched or filtered.
 * Under `npm run mutate` (vitest.mutate.config.ts sets
 * CONFORMANCE_IN_PROCESS) the app runs in this process instead, where Stryker
 * switches its mutants on, so the suite's cases judge them too.
 */

// Well below vitest's 30 s testTimeout: the suite's offset=now long-poll cases wait for the 204.
const LONG_POLL_MS = 2000;
// The suite's CORS cases send this Origin.
const env = { STREAM_LONG_POLL_MS: String(LONG_POLL_MS), CORS_ORIGINS: 'https://example.com' };
// Read by each case when it runs, after beforeAll has set the URL.
const config = { baseUrl: '', longPollTimeoutMs: LONG_POLL_MS };
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  if (process.env.CONFORMANCE_IN_PROCESS === '1') {
    const app = await createTestApp({ env });
    config.baseUrl = (await app.listen()).replace(/\/$/, '');
    stop = () => app.close();
  } else {
    const server = await startServerProcess({ port: await freePort(), databaseUrl: await createTestDatabase(), env });
    config.baseUrl = server.url;
    stop = () => server.kill();
  }
});
afterAll(async () => stop?.());

runConformanceTests(config);
