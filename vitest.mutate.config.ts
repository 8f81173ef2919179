import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The suite as `npm run mutate` runs it under Stryker: one project on
 * PostgreSQL 18 (the embedded server the global setup starts; never a mocked
 * database), without the browser tests, which drive a built inspector bundle
 * and so cannot see Stryker's mutants in src/.
 */
export default defineConfig({
  test: {
    name: 'pg18',
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, 'test/browser/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    retry: 0,
  },
});
