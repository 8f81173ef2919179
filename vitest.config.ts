import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** The server imports the protocol's names by the package's own name; tests take them from the source (tsconfig.json "paths"). */
const PROTOCOL = { 'session-sync/client/protocol': fileURLToPath(new URL('./client/src/protocol.ts', import.meta.url)) };

/** Supported PostgreSQL majors (README "Supported versions"). */
const MAJORS = ['15', '16', '17', '18'];
/** The major the whole suite runs on; the others run the SQL-touching files. */
const FULL = process.env.TEST_PG_MAJOR ?? '18';
if (!MAJORS.includes(FULL)) throw new Error(`TEST_PG_MAJOR must be one of ${MAJORS.join(', ')}, got ${FULL}`);
/**
 * What depends on the server's SQL: migrations, the write path (sessions,
 * events, state deltas, messages, queue, leases), streams (LISTEN/NOTIFY,
 * replay by cursor) and the database-fault tests.
 */
const SQL_FILES = [
  'test/db/**/*.test.ts',
  'test/e2e/database-outage.test.ts',
  'test/http/deltas.test.ts',
  'test/http/events-append.test.ts',
  'test/http/events-stream.test.ts',
  'test/http/history*.test.ts',
  'test/http/leases.test.ts',
  'test/http/messages.test.ts',
  'test/http/queue.test.ts',
  'test/http/sessions.test.ts',
  'test/http/state-sync.test.ts',
  'test/http/stream*.test.ts',
  // Split out of stream.test.ts (issue 13): same coverage on every major.
  'test/http/live.test.ts',
  'test/http/activity.test.ts',
  'test/http/changes.test.ts',
];

export default defineConfig({
  resolve: { alias: PROTOCOL },
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Failures should be reproducible: no retries hiding a race.
    retry: 0,
    // expect.poll waits for something the server does (a wakeup delivered, a socket's close seen); vitest's
    // default of 1 s is a bet on the machine's speed that CI's loaded runs lose. Bounded as SseClient.waitFor is.
    expect: { poll: { timeout: 10_000 } },
    // The project's name picks the PostgreSQL major its global setup starts.
    projects: MAJORS.map((major) => ({
      extends: true,
      test: { name: `pg${major}`, include: major === FULL ? ['test/**/*.test.ts'] : SQL_FILES },
    })),
  },
});
