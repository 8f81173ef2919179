import type { Sql } from '../db/client.js';

/*
 * The one statement of the wakeups feature: what every writer sends the
 * instances' listeners.
 */

/**
 * Queues `payload` on `channel`: in a transaction it is delivered when that
 * commits (never if it rolls back); on the pool, at once.
 */
export async function sendNotification(pg: Sql, channel: string, payload: string): Promise<void> {
  await pg`select pg_notify(${channel}, ${payload})`;
}
