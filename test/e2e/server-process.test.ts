import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { spawnServer as start, waitServerReady as waitReady } from '../helpers/server-process.js';

// The server as users start it: a separate process running src/main.ts (test/helpers/server-process.ts).

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of the embedded Postgres serving `dataDir`, from its lock file. */
async function postmasterPid(dataDir: string): Promise<number> {
  return Number((await readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

describe('the server process', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'session-sync-e2e-'));
    await chmod(dataDir, 0o755);
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses bad configuration with one line naming the variable', async () => {
    const running = start({ PORT: 'eighty' });
    expect(await running.exited).toBe(1);
    const lines = running.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/PORT must be a whole number/);
  });

  it('refuses to start open (no AUTH_SECRET) on a public HOST, with one line naming AUTH_SECRET', async () => {
    const running = start({ HOST: '0.0.0.0', DATA_DIR: dataDir });
    expect(await running.exited).toBe(1);
    const lines = running.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/AUTH_SECRET is not set.*refusing to listen on non-loopback HOST 0\.0\.0\.0/);
  });

  it('serves with an embedded database, drains on SIGTERM, and keeps its data across restarts', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { PORT: String(port), DATA_DIR: dataDir };

    const first = start(env);
    await waitReady(base, first);
    const created = await fetch(`${base}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'survivor' }),
    });
    expect(created.status).toBe(201);
    await fetch(`${base}/v1/sessions/survivor/state`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ base_version: 0, schema_version: 1, snapshot: { kept: true } }),
    });
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = start(env);
    await waitReady(base, second);
    const state = await fetch(`${base}/v1/sessions/survivor/state`).then((r) => r.json());
    expect(state).toMatchObject({ mode: 'snapshot', version: 1, snapshot: { kept: true } });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 90_000);

  // Issue 12, defect 4.
  describe('after a crash (SIGKILL) on the embedded default', () => {
    let crashDir: string;
    const leftovers: number[] = [];
    beforeAll(async () => {
      crashDir = await mkdtemp(path.join(os.tmpdir(), 'session-sync-crash-'));
      await chmod(crashDir, 0o755);
    });
    afterAll(async () => {
      // Whatever a failed run left behind must not outlive the test.
      for (const pid of leftovers) if (isAlive(pid)) process.kill(pid, 'SIGQUIT');
      await rm(crashDir, { recursive: true, force: true });
    });

    it('the next start stops the Postgres the dead server left running, and serves the same data', async () => {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const env = { PORT: String(port), DATA_DIR: crashDir };

      const first = start(env);
      await waitReady(base, first);
      await fetch(`${base}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"crash"}' });
      const put = await fetch(`${base}/v1/sessions/crash/state`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ base_version: 0, schema_version: 1, snapshot: { before: 'crash' } }),
      });
      expect(put.status).toBe(200);
      const orphan = await postmasterPid(crashDir);
      leftovers.push(orphan);
      first.child.kill('SIGKILL');
      await first.exited;
      // The situation a crash leaves: the server is gone, its Postgres is not.
      expect(isAlive(orphan)).toBe(true);

      const second = start(env);
      await waitReady(base, second);
      leftovers.push(await postmasterPid(crashDir));
      expect(isAlive(orphan)).toBe(false);
      expect(second.output()).toContain(`stopping PostgreSQL (pid ${orphan}) left running`);
      const state = await fetch(`${base}/v1/sessions/crash/state`).then((r) => r.json());
      expect(state).toMatchObject({ mode: 'snapshot', version: 1, snapshot: { before: 'crash' } });

      // A server that is alive keeps its Postgres: a second start on its data directory is refused.
      const intruder = start({ PORT: String(await freePort()), DATA_DIR: crashDir });
      expect(await intruder.exited).toBe(1);
      expect(intruder.output()).toMatch(new RegExp(`another server \\(pid ${second.child.pid}\\) is running PostgreSQL`));
      expect((await fetch(`${base}/v1/sessions/crash`)).status).toBe(200);

      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }, 120_000);
  });
});
