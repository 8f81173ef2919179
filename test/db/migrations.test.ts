import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import { getTableName, is } from 'drizzle-orm';
import { PgTable } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, runMigrations } from '../../src/db/migrate.js';
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
});
