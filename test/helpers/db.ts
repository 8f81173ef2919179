import { randomBytes } from 'node:crypto';
import net from 'node:net';
import postgres from 'postgres';
import { inject } from 'vitest';

/** A fresh database cloned from the migrated template; returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const adminUrl = inject('pgAdminUrl');
  const name = `${inject('pgDatabasePrefix')}t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name} template ${inject('pgTemplate')}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** An empty database with no migrations applied (for migration tests). */
export async function createEmptyDatabase(): Promise<string> {
  const adminUrl = inject('pgAdminUrl');
  const name = `${inject('pgDatabasePrefix')}e_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Terminates every server's LISTEN connection on `database` (the one `admin`
 * is connected to, by default), as a network cut or a database restart would;
 * returns how many it ended.
 */
export async function killListenBackends(admin: postgres.Sql, database?: string): Promise<number> {
  const killed = await admin`
    select pg_terminate_backend(pid) from pg_stat_activity
    where application_name like 'session-sync-listen%' and datname = ${database ?? admin`current_database()`}`;
  return killed.length;
}

/** How many of the database's backends wait for a lock (a row another transaction holds), whichever instance sent them. */
export async function lockWaiters(db: postgres.Sql): Promise<number> {
  const [row] = await db<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
  return row?.n ?? 0;
}

/** Moves a session's last write `ms` back in time, and its next expiry check with it, as the sweeps judge by the database clock. */
export function ageSession(db: postgres.Sql, id: string, ms: number) {
  return db`
    update sessions set updated_at = now() - ${ms} * interval '1 millisecond',
      expiry_check_at = now() - ${ms} * interval '1 millisecond' + ttl_ms * interval '1 millisecond'
    where id = ${id}`;
}

/**
 * A black-holed database host: it takes the TCP connection and never answers (a dead machine behind a load
 * balancer, a firewall that drops rather than refuses). `url` is `databaseUrl` pointed at it.
 */
export async function silentHost(databaseUrl: string): Promise<{ url: string; close: () => Promise<void> }> {
  const held = new Set<net.Socket>();
  const silent = net.createServer((socket) => void held.add(socket.on('error', () => {})));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const target = new URL(databaseUrl);
  target.hostname = '127.0.0.1';
  target.port = String((silent.address() as net.AddressInfo).port);
  return {
    url: target.toString(),
    close: async () => {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    },
  };
}
