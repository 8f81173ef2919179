import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import { getTableName, is } from 'drizzle-orm';
import { PgTable } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { MIGRATION_LOCK_KEY, MIGRATIONS_DIR, runMigrations } from '../../src/db/migrate.js';
import * as schema from '../../src/db/schema.js';
import { createEmptyDatabase } from '../helpers/db.js';

interface Journal {
  entries: { idx: number; tag: string }[];
}

async function readJournal(): Promise<Journal> {
  return JSON.parse(await readFile(path.join(MIGRATIONS_DIR, 'meta/_journal.json'), 'utf8')) as Journal;
}

describe('migrations', () => {
  it('match the drizzle schema: `npm run db:generate` has nothing to add', async () => {
    const journal = await readJournal();
    const last = journal.entries.at(-1);
    expect(last, 'migrations/meta/_journal.json has no entries').toBeDefined();
    const snapshotFile = path.join(MIGRATIONS_DIR, `meta/${String(last!.idx).padStart(4, '0')}_snapshot.json`);
    const previous = JSON.parse(await readFile(snapshotFile, 'utf8'));
    const current = generateDrizzleJson(schema, previous.id);
    const pending = await generateMigration(previous, current);
    expect(pending, 'the schema changed without a migration: run `npm run db:generate` and commit it').toEqual([]);
  });

  it('every journal entry has its SQL file', async () => {
    for (const entry of (await readJournal()).entries) {
      await expect(readFile(path.join(MIGRATIONS_DIR, `${entry.tag}.sql`), 'utf8')).resolves.toMatch(/\b(CREATE|ALTER)\b/);
    }
  });

  it('several instances starting at once on an empty database all come up, and migrate once', async () => {
    const url = await createEmptyDatabase();
    await Promise.all([runMigrations(url), runMigrations(url), runMigrations(url)]);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const applied = await sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
      expect(applied[0]?.n).toBe((await readJournal()).entries.length);
      const tables = await sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`;
      const declared = (Object.values(schema) as unknown[])
        .filter((value): value is PgTable => is(value, PgTable))
        .map((table) => getTableName(table))
        .sort();
      expect(tables.map((t) => t.table_name)).toEqual(declared);
      // Running again later is a no-op.
      await runMigrations(url);
      const again = await sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
      expect(again[0]?.n).toBe(applied[0]?.n);
    } finally {
      await sql.end();
    }
  });

  describe('the migration connection', () => {
    const migrators = (sql: postgres.Sql) =>
      sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where application_name = 'session-sync-migrate' and datname = current_database()`;

    it('waits for another instance\'s migration under the advisory lock, named for an operator, and is gone once done', async () => {
      const url = await createEmptyDatabase();
      const other = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await other`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
        const migrating = runMigrations(url);
        // An operator looking at a start that hangs sees who waits, and on what.
        await expect
          .poll(async () => (await other`select count(*)::int as n from pg_stat_activity where application_name = 'session-sync-migrate' and wait_event_type = 'Lock'`)[0]?.n)
          .toBe(1);
        expect((await other`select count(*)::int as n from information_schema.tables where table_name = 'sessions'`)[0]?.n).toBe(0);
        await other`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
        await migrating;
        await expect.poll(async () => (await migrators(other))[0]?.n).toBe(0);
        expect((await other`select pg_try_advisory_lock(${MIGRATION_LOCK_KEY}) as got`)[0]?.got).toBe(true);
      } finally {
        await other.end();
      }
    });

    it('a migration that fails is reported, and leaves neither its connection nor its lock behind', async () => {
      const url = await createEmptyDatabase();
      const folder = await mkdtemp(path.join(os.tmpdir(), 'migrations-'));
      try {
        await mkdir(path.join(folder, 'meta'));
        await writeFile(
          path.join(folder, 'meta/_journal.json'),
          JSON.stringify({ version: '7', dialect: 'postgresql', entries: [{ idx: 0, version: '7', when: 1, tag: '0000_broken', breakpoints: true }] }),
        );
        await writeFile(path.join(folder, '0000_broken.sql'), 'create tabel broken (n int);');
        await expect(runMigrations(url, folder)).rejects.toThrow('create tabel broken');
        const sql = postgres(url, { max: 1, onnotice: () => {} });
        try {
          await expect.poll(async () => (await migrators(sql))[0]?.n).toBe(0);
          expect((await sql`select pg_try_advisory_lock(${MIGRATION_LOCK_KEY}) as got`)[0]?.got).toBe(true);
        } finally {
          await sql.end();
        }
        // The real migrations then apply as on any empty database.
        await runMigrations(url);
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    });
  });
});
