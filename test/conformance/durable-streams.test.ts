import { runConformanceTests } from '@durable-streams/server-conformance-tests';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { createTestDatabase } from '../helpers/db.js';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.js';

/**
 * The Durable Streams protocol's official server conformance suite
 * (`@durable-streams/server-conformance-tests`, pinned), run as shipped
 * against the server as users start it: a process of its own on a fresh
 * database. Every case it registers runs; none is patched or filtered.
 */

// Well below vitest's 30 s testTimeout: the suite's offset=now long-poll cases wait for the 204.
const LONG_POLL_MS = 2000;
// Read by each case when it runs, after beforeAll has set the URL.
const config = { baseUrl: '', longPollTimeoutMs: LONG_POLL_MS };
let server: ServerProcess | undefined;

beforeAll(async () => {
  server = await startServerProcess({
    port: await freePort(),
    databaseUrl: await createTestDatabase(),
    // The suite's CORS cases send this Origin.
    env: { STREAM_LONG_POLL_MS: String(LONG_POLL_MS), CORS_ORIGINS: 'https://example.com' },
  });
  config.baseUrl = server.url;
});
afterAll(async () => server?.kill());

runConformanceTests(config);
