/**
 * `npm run mutate [-- PATH...]`: Stryker over the given files or folders of
 * src/, client/src/ or the inspector's logic (default: the whole scope in
 * stryker.config.mjs, which never mutates the inspector's drawing), on the pg18 vitest project
 * without the browser tests (vitest.mutate.config.ts). Only the tests that
 * cover a mutant run against it. Reports go to reports/mutation/<scope>/
 * (git-ignored): index.html to browse survivors, mutation.json for tools.
 * The scope's incremental file is also kept, gzipped, as
 * mutation/<scope>.incremental.json.gz (tracked): committed after a run, it
 * lets a fresh checkout resume where the run stopped, since a whole-scope run
 * takes longer than one sitting (docs/mutation.md).
 * Arguments starting with `--` go to Stryker as they are, e.g. `--testFiles
 * test/unit/byte-budget.test.ts` to see what one test file alone kills; but
 * `--own`, which runs only the given areas' own test files (scripts/own-tests.ts).
 * Stryker 10 needs Node 22 or later: an older Node running this script hands
 * over to the node-22 package (optionalDependencies), as `npm test` does.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SHARED_POSTGRES_ENV, startTemplatePostgres } from '../test/global-setup.js';
import { ownTestFiles } from './own-tests.js';

const given = process.argv.slice(2);
// `--own`: only the areas' own test files (scripts/own-tests.ts), so what survives is what those files let through.
const own = given.includes('--own');
const args = given.filter((arg) => arg !== '--own');
const firstOption = args.findIndex((arg) => arg.startsWith('--'));
const paths = (firstOption < 0 ? args : args.slice(0, firstOption)).map((arg) => arg.replace(/\/+$/, ''));
for (const path of paths) {
  if (!existsSync(path)) throw new Error(`npm run mutate: no such file or folder: ${path}`);
}
if (own && paths.length === 0) throw new Error('npm run mutate: --own needs the areas, e.g. npm run mutate -- src/events --own');
const ownFiles = own ? [...new Set(paths.flatMap((path) => ownTestFiles(path) ?? missingArea(path)))] : [];
const strykerArgs = [...(firstOption < 0 ? [] : args.slice(firstOption)), ...(own ? ['--testFiles', ownFiles.join(',')] : [])];
const globs = paths.map((path) => (statSync(path).isDirectory() ? `${path}/**/*.ts` : path));
const slug = (paths.length === 0 ? 'all' : paths.map((path) => path.replace(/^src\//, '').replace(/[/.]/g, '-')).join('+')) + (own ? '+own' : '');

function missingArea(path: string): never {
  throw new Error(`npm run mutate: --own: no area owns ${path} (scripts/own-tests.ts names each area's own test files)`);
}

const currentMajor = Number(process.versions.node.split('.')[0]);
const node22 = path.resolve('node_modules/node-22/bin/node');
const node = currentMajor >= 22 ? process.execPath : existsSync(node22) ? node22 : undefined;
if (!node) throw new Error(`Stryker needs Node 22 or later (this is ${process.version}) and node_modules/node-22 is missing`);

// One PostgreSQL for the whole run, migrated once; every test run Stryker starts reuses it (test/global-setup.ts).
// (The pg18 project, as vitest.mutate.config.ts runs.)
const pg = await startTemplatePostgres(18);

const reports = `reports/mutation/${slug}`;
const incremental = `${reports}/incremental.json`;
const kept = `mutation/${slug}.incremental.json.gz`;
if (!existsSync(incremental) && existsSync(kept)) {
  mkdirSync(reports, { recursive: true });
  writeFileSync(incremental, gunzipSync(readFileSync(kept)));
  console.log(`npm run mutate: resuming from ${kept}`);
}

const child = spawn(node, [path.resolve('node_modules/@stryker-mutator/core/bin/stryker.js'), 'run', 'stryker.config.mjs', ...strykerArgs], {
  stdio: 'inherit',
  env: {
    ...process.env,
    ...(globs.length > 0 ? { MUTATE_GLOBS: globs.join(',') } : {}),
    MUTATE_REPORTS: reports,
    // An area's own files are few, so its static and hybrid mutants (route schemas and hooks registered while a
    // file's beforeAll builds its app) run against all of them, as the audits' measure would: otherwise a route's
    // schema survives every own file that builds its app in beforeAll (docs/mutation.md).
    ...(own ? { MUTATE_STATIC: 'run' } : {}),
    [SHARED_POSTGRES_ENV]: pg.adminUrl,
  },
});
const stop = async (code: number) => {
  // Stryker writes the incremental file at the end of a run, and of one stopped by SIGINT, with what it judged.
  if (existsSync(incremental)) {
    mkdirSync(path.dirname(kept), { recursive: true });
    writeFileSync(kept, gzipSync(readFileSync(incremental), { level: 9 }));
    console.log(`npm run mutate: the incremental file kept as ${kept} (commit it to resume from another checkout)`);
  }
  await pg.stop();
  process.exit(code);
};
process.once('SIGINT', () => child.kill('SIGINT'));
child.on('close', (code) => void stop(code ?? 1));
