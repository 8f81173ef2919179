import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { runMigrations } from '../src/db/migrate.js';

export const TEMPLATE_DATABASE = 'session_sync_template';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
  }
}

/**
 * One embedded PostgreSQL for the whole run. Migrations run once into a
 * template database; each test file clones it (CREATE DATABASE ... TEMPLATE),
 * which is much faster than migrating per file and keeps files isolated.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'session-sync-test-'));
  // mkdtemp makes 0700 directories; the postgres user must be able to traverse them.
  await chmod(root, 0o755);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(root, 'pg'), database: TEMPLATE_DATABASE });
  await runMigrations(pg.url);
  // Nobody may stay connected to a template while it is cloned.
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${TEMPLATE_DATABASE} and pid <> pg_backend_pid()`;
  await admin.end();
  project.provide('pgAdminUrl', pg.adminUrl);
  project.provide('pgTemplate', TEMPLATE_DATABASE);
  return async () => {
    await pg.stop();
    await rm(root, { recursive: true, force: true });
  };
}
