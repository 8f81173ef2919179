import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listApplications } from '../../src/db/statements.js';
import { createTestDatabase } from '../helpers/db.js';

// Who listens now (src/db/statements.ts listApplications): the changes feeds' peer watch compares the instances it
// saw with these names, so a name must come back exactly as the instance set it, and only its own kind is listed.
let url: string;
let pg: postgres.Sql;
const opened: postgres.Sql[] = [];

beforeAll(async () => {
  url = await createTestDatabase();
  pg = postgres(url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await Promise.all(opened.map((sql) => sql.end()));
  await pg?.end();
});

/** A connection named `name`, held open until the end of the file. */
async function connectAs(name: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: name } });
  opened.push(sql);
  await sql`select 1`;
}

describe('the applications listening now', () => {
  it('are the names that start with the prefix, less the prefix, and only those', async () => {
    const prefix = `list-apps-${process.pid}-`;
    await connectAs(`${prefix}instance-a`);
    await connectAs(`${prefix}instance-b`);
    await connectAs(`other-${prefix}instance-c`);
    await connectAs(prefix.slice(0, -1));
    const names = await listApplications(pg, prefix);
    expect(names.sort()).toEqual(['instance-a', 'instance-b']);
  });
});
