import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READ_ONLY_SNAPSHOT } from '../../src/db/client.js';
import { beginOn, rollback } from '../../src/db/statements.js';
import { createTestDatabase } from '../helpers/db.js';

// A read that spans awaits of its own on a held connection (an export, src/history/export.ts) begins with
// `beginOn(pg, READ_ONLY_SNAPSHOT)`: every statement sees one snapshot, so a write that commits meanwhile is
// either wholly in what it reads or not at all, and nothing in it can write.

let pool: postgres.Sql;
let other: postgres.Sql;

beforeAll(async () => {
  const url = await createTestDatabase();
  pool = postgres(url, { max: 2, onnotice: () => {} });
  other = postgres(url, { max: 1, onnotice: () => {} });
  await other`create table lines (n int)`;
  await other`insert into lines values (1)`;
});
afterAll(async () => {
  await pool?.end();
  await other?.end();
});

describe('a read begun on a held connection', () => {
  it('sees one snapshot: what commits after its first statement is not in its later ones', async () => {
    const held = await pool.reserve();
    try {
      await beginOn(held, READ_ONLY_SNAPSHOT);
      const count = async () => (await held<{ n: number }[]>`select count(*)::int as n from lines`)[0]!.n;
      expect(await count()).toBe(1);
      await other`insert into lines values (2)`;
      expect(await count()).toBe(1);
      await rollback(held);
      expect(await count()).toBe(2);
    } finally {
      held.release();
    }
  });

  it('cannot write', async () => {
    const held = await pool.reserve();
    try {
      await beginOn(held, READ_ONLY_SNAPSHOT);
      await expect(held`insert into lines values (3)`).rejects.toMatchObject({ code: '25006' });
      await rollback(held);
    } finally {
      held.release();
    }
  });
});
