import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../../src/db/client.js';
import { toApiError } from '../../src/http/error-handler.js';
import { createTestDatabase, silentHost } from '../helpers/db.js';
import { unlessStuck } from '../helpers/waits.js';

// What a process costs the database in connections (docs/operations.md, `DB_POOL_MAX`): "A process holds
// DB_POOL_MAX + WRITE_CONCURRENCY connections at most", the pool's and the write transactions' own, and its close
// (at shutdown) gives every one of them back. Counted by the application name each test gives its process.

let url: string;
let admin: postgres.Sql;

beforeAll(async () => {
  url = await createTestDatabase();
  admin = postgres(url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await admin?.end();
});

/** Backends on this test's database opened under `applicationName`. */
async function connectionsOf(applicationName: string): Promise<number> {
  const [row] = await admin<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where application_name = ${applicationName} and datname = current_database()`;
  return row!.n;
}

describe('the connections a process holds', () => {
  it('are at most DB_POOL_MAX + WRITE_CONCURRENCY under more statements than that at once, and none after close', async () => {
    const applicationName = `bounds_${randomBytes(4).toString('hex')}`;
    const database = connectDatabase({ url, poolMax: 3, writeConnections: 2, applicationName });
    let closed = false;
    try {
      // Twice the pool's size of reads at once, and both write connections in a transaction meanwhile: every
      // connection the process may open is opened, and kept (no idle timeout ends one here).
      const reads = Array.from({ length: 6 }, () => database.db`select pg_sleep(0.2)`);
      const writes = database.writeConnections.map((connection) => connection.begin(async (tx) => tx`select pg_sleep(0.2)`));
      await unlessStuck(Promise.all([...reads, ...writes]), 'the reads and writes', 20_000);
      expect(await connectionsOf(applicationName)).toBe(3 + 2);
      await unlessStuck(database.close(), 'the close');
      closed = true;
      // A backend may take a moment to leave pg_stat_activity once its connection ended.
      await expect.poll(() => connectionsOf(applicationName), { timeout: 10_000 }).toBe(0);
    } finally {
      if (!closed) await database.close(0);
    }
  });

  it('wait no longer than DB_CONNECT_TIMEOUT_S for a host that never answers: the request is then 503 database_unavailable', async () => {
    // A black-holed host: it takes the TCP connection and never answers. postgres.js alone would wait 30 s.
    const silent = await silentHost(url);
    const database = connectDatabase({ url: silent.url, poolMax: 2, writeConnections: 1, connectTimeoutSeconds: 1 });
    try {
      const failures = await unlessStuck(
        Promise.all([
          database.db`select 1`.then(() => new Error('answered'), (error: Error) => error),
          database.writeConnections[0]!.begin(async (tx) => tx`select 1`).then(() => new Error('answered'), (error: Error) => error),
        ]),
        'a statement on a host that never answers, past DB_CONNECT_TIMEOUT_S',
        8000,
      );
      for (const failure of failures) {
        expect(toApiError(failure)).toMatchObject({ status: 503, code: 'database_unavailable', headers: { 'retry-after': '1' } });
      }
    } finally {
      await database.close(0);
      await silent.close();
    }
  });
});
