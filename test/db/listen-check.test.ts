import { spawn } from 'node:child_process';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkListenWorks } from '../../src/db/listen-check.js';
import { createTestDatabase } from '../helpers/db.js';
import { unlessStuck, until } from '../helpers/waits.js';

// The start-up check that LISTEN/NOTIFY works on DATABASE_URL (src/db/listen-check.ts): it proves the round trip
// with a listener of its own and leaves nothing behind, and a notification that never arrives stops the start in
// time with a line for the operator. NOTIFY reaches listeners of its own database only, so a pool on another
// database stands for a connection that cannot carry it.

let url: string;
let pool: postgres.Sql;
let admin: postgres.Sql;

beforeAll(async () => {
  url = await createTestDatabase();
  pool = postgres(url, { max: 2, onnotice: () => {} });
  admin = postgres(url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await pool?.end();
  await admin?.end();
});

/** Connections of the check's listener on this test's database. */
async function checkListeners(): Promise<number> {
  const [row] = await admin<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where application_name = 'session-sync-listen-check' and datname = current_database()`;
  return row!.n;
}

describe('the LISTEN check at start-up', () => {
  it('passes where notifications arrive, and closes its listener: no connection is left held after it', async () => {
    for (let i = 0; i < 3; i++) await expect(checkListenWorks(url, pool)).resolves.toBeUndefined();
    // The listener's end is awaited by the check; its backend may take a moment to leave pg_stat_activity.
    await expect.poll(checkListeners, { timeout: 10_000 }).toBe(0);
  });

  it('leaves nothing running once it passed: a process that checks and closes its pool exits at once', async () => {
    // In a process of its own, as main.ts runs it, with a bound far past the test's: anything of the check still armed
    // (its timer, its listener) would keep that process alive.
    const script = [
      "const { checkListenWorks } = await import('./src/db/listen-check.ts');",
      "const { default: postgres } = await import('postgres');",
      'const pool = postgres(process.env.CHECK_URL, { max: 1, onnotice: () => {} });',
      'await checkListenWorks(process.env.CHECK_URL, pool, 600_000);',
      'await pool.end();',
      "console.log('checked');",
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, CHECK_URL: url },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await unlessStuck(until(() => output.includes('checked') || child.exitCode !== null, 'the check to pass', 20_000), 'the check', 25_000);
      expect(output).toContain('checked');
      await expect(unlessStuck(exited, 'the process exiting after its check passed and its pool closed', 5000)).resolves.toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('fails within its timeout when the notification never arrives, naming the cause and the fix, and closes its listener too', async () => {
    const elsewhere = postgres(await createTestDatabase(), { max: 1, onnotice: () => {} });
    try {
      await expect(checkListenWorks(url, elsewhere, 300)).rejects.toThrow(
        /^LISTEN does not work on DATABASE_URL: a notification sent through it did not arrive within 300 ms; .*transaction mode.*session-mode pool$/,
      );
      await expect.poll(checkListeners, { timeout: 10_000 }).toBe(0);
    } finally {
      await elsewhere.end();
    }
  });
});
