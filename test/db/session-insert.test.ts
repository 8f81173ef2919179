import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../src/db/client.js';
import { ParentNotFound } from '../../src/errors.js';
import { insertSession } from '../../src/sessions/store.js';
import { createTestDatabase } from '../helpers/db.js';

// Creating a session's row against a real database: only a parent that does
// not exist is `parent_not_found`; any other failure stays what it is.
let database: Database;

beforeAll(async () => {
  database = connectDatabase({ url: await createTestDatabase(), poolMax: 2 });
});
afterAll(async () => {
  await database.close();
});

const session = (id: string, parentId: string | null) => ({ id, parentId, metadata: {}, encoding: 'json' as const });

describe('insertSession', () => {
  it('refuses a parent that does not exist with 404 parent_not_found', async () => {
    const attempt = database.db.begin((tx) => insertSession(tx, session('orphan', 'no-such-parent')));
    await expect(attempt).rejects.toBeInstanceOf(ParentNotFound);
    await expect(attempt).rejects.toThrow('no-such-parent');
  });

  it('lets any other failure through as it is, even with a parent named', async () => {
    // Postgres refuses a NUL in text (22021), before the foreign key is ever checked.
    const attempt = database.db.begin((tx) => insertSession(tx, session('nul\u0000id', 'no-such-parent')));
    await expect(attempt).rejects.toMatchObject({ code: '22021' });
    await expect(attempt).rejects.not.toBeInstanceOf(ParentNotFound);
  });
});
