import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { listen, sendNotification } from './statements.js';

export const LISTEN_CHECK_TIMEOUT_MS = 5000;

const POOLER_HINT =
  'a pooler in transaction mode (PgBouncer pool_mode=transaction, transaction pooling in Supavisor or RDS Proxy) cannot carry LISTEN: point DATABASE_URL at PostgreSQL directly or at a session-mode pool';

/**
 * Streams are woken by LISTEN/NOTIFY. Behind a transaction-mode pooler LISTEN
 * is accepted and then silently dropped with the server connection it ran on,
 * so streams would stall with no error anywhere. Before serving, prove the
 * round trip the server relies on: LISTEN on a connection of its own, NOTIFY
 * through the pool (another connection, as a write does), and see it arrive.
 * Throws an Error whose message is one line for the operator.
 */
export async function checkListenWorks(
  url: string,
  pool: postgres.Sql,
  timeoutMs = LISTEN_CHECK_TIMEOUT_MS,
): Promise<void> {
  const channel = `session_sync_check_${randomBytes(6).toString('hex')}`;
  const payload = randomBytes(8).toString('hex');
  let arrived!: () => void;
  const arrival = new Promise<void>((resolve) => (arrived = resolve));
  const listener = postgres(url, {
    max: 1,
    idle_timeout: 0,
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: 'session-sync-listen-check' },
    onnotify: (name: string, received: string) => {
      if (name === channel && received === payload) arrived();
    },
  } as postgres.Options<Record<string, postgres.PostgresType>>);
  let timer: NodeJS.Timeout | undefined;
  try {
    try {
      await listen(listener, channel);
    } catch (error) {
      throw new Error(`LISTEN failed on DATABASE_URL (${(error as Error).message}); ${POOLER_HINT}`, { cause: error });
    }
    await sendNotification(pool, channel, payload);
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    if ((await Promise.race([arrival.then(() => true), timedOut])) === false) {
      throw new Error(
        `LISTEN does not work on DATABASE_URL: a notification sent through it did not arrive within ${timeoutMs} ms; ${POOLER_HINT}`,
      );
    }
  } finally {
    clearTimeout(timer);
    await listener.end({ timeout: 1 });
  }
}
