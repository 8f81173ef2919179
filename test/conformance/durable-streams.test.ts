import { runConformanceTests } from '@durable-streams/server-conformance-tests';
import { afterAll, beforeAll } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';

/**
 * The Durable Streams protocol's official server conformance suite
 * (`@durable-streams/server-conformance-tests`, pinned), run as shipped over
 * HTTP against the whole app on a fresh database. Every case it registers
 * runs; none is patched or filtered. The app runs in this process so that
 * `npm run mutate` switches its mutants on for these cases too.
 */

// Well below vitest's 30 s testTimeout: the suite's offset=now long-poll cases wait for the 204.
const LONG_POLL_MS = 2000;
// Read by each case when it runs, after beforeAll has set the URL.
const config = { baseUrl: '', longPollTimeoutMs: LONG_POLL_MS };
let app: TestApp | undefined;

beforeAll(async () => {
  // The suite's CORS cases send this Origin.
  app = await createTestApp({ env: { STREAM_LONG_POLL_MS: String(LONG_POLL_MS), CORS_ORIGINS: 'https://example.com' } });
  config.baseUrl = (await app.listen()).replace(/\/$/, '');
});
afterAll(async () => app?.close());

runConformanceTests(config);
