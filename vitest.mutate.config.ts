import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

/** The server imports the protocol's names by the package's own name; tests take them from the source (tsconfig.json "paths"). */
const PROTOCOL = { 'session-sync/client/protocol': fileURLToPath(new URL('./client/src/protocol.ts', import.meta.url)) };

/**
 * The suite as `npm run mutate` runs it under Stryker: one project on
 * PostgreSQL 18 (the embedded server the global setup starts; never a mocked
 * database), without the tests that cannot see a mutant: the browser tests
 * drive a built inspector bundle, and these e2e tests run the server in a
 * child process, where Stryker never switches a mutant on. They still run in
 * `npm test`.
 */
const OUT_OF_PROCESS = [
  'test/browser/**',
  'test/e2e/attachments-large.test.ts',
  'test/e2e/listen-check.test.ts',
  'test/e2e/memory-attack.test.ts',
  'test/e2e/server-process.test.ts',
  'test/e2e/tls.test.ts',
  'test/e2e/turn-crash.test.ts',
];

export default defineConfig({
  resolve: { alias: PROTOCOL },
  test: {
    name: 'pg18',
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...OUT_OF_PROCESS],
    // The Durable Streams conformance suite runs against the app in this process, where mutants are switched on.
    env: { CONFORMANCE_IN_PROCESS: '1' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    retry: 0,
  },
});
