import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkListenWorks } from '../../src/db/listen-check.js';
import { createTestDatabase } from '../helpers/db.js';
import { type PgProxy, startNotificationDroppingProxy } from '../helpers/pg-proxy.js';
import { spawnServer } from '../helpers/server-process.js';

let url: string;
let proxy: PgProxy;
let proxiedUrl: string;

beforeAll(async () => {
  url = await createTestDatabase();
  const direct = new URL(url);
  proxy = await startNotificationDroppingProxy({ host: direct.hostname, port: Number(direct.port) });
  const proxied = new URL(url);
  proxied.port = String(proxy.port);
  proxiedUrl = proxied.toString();
});
afterAll(async () => {
  await proxy?.close();
});

describe('a DATABASE_URL whose connections cannot LISTEN (a transaction-mode pooler)', () => {
  it('passes the check on a direct connection', async () => {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await expect(checkListenWorks(url, sql)).resolves.toBeUndefined();
    } finally {
      await sql.end();
    }
  });

  it('stops the server at start with one line that names the cause and the fix', async () => {
    // Queries work through the stand-in (migrations run); only notifications never arrive.
    const server = spawnServer({ PORT: '0', DATABASE_URL: proxiedUrl });
    try {
      expect(await server.exited).toBe(1);
      const lines = server.output().trim().split('\n');
      expect(lines, server.output()).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^session-sync: failed to start: LISTEN does not work on DATABASE_URL: .*transaction mode.*session-mode pool$/,
      );
    } finally {
      server.child.kill('SIGKILL');
    }
  }, 60_000);
});
