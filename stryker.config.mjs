// @ts-check
import { readdirSync, readFileSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';
// The inspector's DOM-free modules, the ones its Node tests (test/unit/inspector-*.test.ts) import:
// those tsconfig.mutate.json compiles without the DOM's types. The rest of inspector/src draws
// (its tests run in a browser on the built bundle, out of Stryker's reach), so it is never mutated.
const INSPECTOR_LOGIC = JSON.parse(readFileSync(new URL('./tsconfig.mutate.json', import.meta.url), 'utf8').replace(/^\s*\/\/.*$/gm, '')).include.filter(
  (/** @type {string} */ path) => path.startsWith('inspector/'),
);
const INSPECTOR_DOM = readdirSync(new URL('./inspector/src/', import.meta.url))
  .map((file) => `inspector/src/${file}`)
  .filter((path) => path.endsWith('.ts') && !INSPECTOR_LOGIC.includes(path));
// Never mutated, whatever the area asked for: generated types (client/src/openapi.ts, a test checks
// its text), the inspector's drawing, and the server's process entry (src/main.ts: it starts the
// process when loaded and exits it, so only child processes run it, where Stryker never switches a
// mutant on; test/e2e/server-process.test.ts and log-format.test.ts pin what it does).
const NEVER = ['!client/src/openapi.ts', '!src/main.ts', ...INSPECTOR_DOM.map((path) => `!${path}`)];
// The whole scope: every module of the server and the client, and the inspector's logic.
const DEFAULT_SCOPE = ['src/**/*.ts', 'client/src/**/*.ts', ...INSPECTOR_LOGIC, ...NEVER];
// scripts/mutate.ts passes the paths it was given (globs, comma-separated) and a report folder.
const scope = process.env.MUTATE_GLOBS ? [...process.env.MUTATE_GLOBS.split(','), ...NEVER] : DEFAULT_SCOPE;
const reports = process.env.MUTATE_REPORTS ?? 'reports/mutation/all';

/**
 * Mutation testing (`npm run mutate [-- PATH...]`, see scripts/mutate.ts):
 * small bugs are put into the code one at a time and the tests that cover each
 * are run against it. A mutant that survives is code no test would notice
 * breaking. Not part of `npm test`: a folder takes minutes, the scope below
 * an hour or more.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts', related: true },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.mutate.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  // The machine's two cores: one TypeScript checker and one test runner (scripts/mutate.ts starts the PostgreSQL they share).
  concurrency: 2,
  ignorePatterns: ['dist', 'reports', 'mutation', 'bench/out', '.data', 'coverage'],
  // Everything, unless scripts/mutate.ts narrows it to the areas it was given.
  mutate: scope,
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: `${reports}/index.html` },
  jsonReporter: { fileName: `${reports}/mutation.json` },
  // Stryker marks mutated files @ts-nocheck in its sandbox; not client/src/openapi.ts,
  // which is not mutated and whose text a test compares with the generator's.
  disableTypeChecks: '{src/**/*.ts,client/src/!(openapi).ts,inspector/src/*.ts}',
  // Reruns only what changed (mutants, or the tests covering them) since the last run of the same scope.
  incremental: true,
  incrementalFile: `${reports}/incremental.json`,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  // A mutant that hangs a test is killed once it takes this much longer than the
  // test did unmutated (times timeoutFactor); each costs a runner restart, so
  // a long grace made hangs the bulk of a run.
  timeoutMS: 5_000,
  // Static mutants (code run once at module load: schema objects, constants)
  // have no per-test coverage, so each would run the whole suite (four
  // minutes here). They are reported as ignored and left out of the score;
  // docs/mutation.md says how many there are. MUTATE_STATIC=run runs them (with --testFiles, to keep it short).
  ignoreStatic: process.env.MUTATE_STATIC !== 'run',
  // The first run is the suite less the out-of-process tests (vitest.mutate.config.ts): 4 minutes idle here, more when loaded.
  dryRunTimeoutMinutes: 60,
};
