import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

/** Arbitrary but fixed: every instance of this server agrees on it. */
export const MIGRATION_LOCK_KEY = 0x5e55_1057;

/**
 * Applies pending migrations. Several instances may start at once, so the work
 * runs under a session-level advisory lock on one dedicated connection: the
 * first applies, the others wait and then find nothing to do.
 */
export async function runMigrations(url: string, migrationsFolder = MIGRATIONS_DIR): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: 'session-sync-migrate' } });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    try {
      await migrate(drizzle({ client: sql }), { migrationsFolder });
    } finally /* Stryker disable next-line BlockStatement: the connection ends next, which releases the lock too; unlocking first only spares the instances waiting the time that end takes */ {
      // Stryker disable next-line StringLiteral: as above
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    }
  } finally {
    // Stryker disable next-line ObjectLiteral: every statement on it was awaited, so the end waits for nothing; the bound only matters if one were not
    await sql.end({ timeout: 5 });
  }
}
