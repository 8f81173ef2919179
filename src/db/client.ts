import type { Logger } from 'drizzle-orm/logger';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema.js';

export type Db = PostgresJsDatabase<typeof schema>;
/** A transaction handle; functions that must run inside the route's transaction take this. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** Either handle: plain reads work on both. */
export type DbOrTx = Db | Tx;

export interface Database {
  /** Where it is: the stream hub opens its own LISTEN connection there. */
  url: string;
  db: Db;
  /** The raw postgres.js client, for LISTEN and health checks. */
  sql: postgres.Sql;
  close(timeoutSeconds?: number): Promise<void>;
}

export interface DatabaseOptions {
  url: string;
  poolMax: number;
  applicationName?: string;
  /** Fail fast when the database cannot be reached (seconds). */
  connectTimeoutSeconds?: number;
  /** Sees every query drizzle sends (tests use it to count what a write reads). */
  logger?: Logger;
}

export function connectDatabase({
  url,
  poolMax,
  applicationName = 'session-sync',
  connectTimeoutSeconds = 5,
  logger,
}: DatabaseOptions): Database {
  const sql = postgres(url, {
    max: poolMax,
    connect_timeout: connectTimeoutSeconds,
    onnotice: () => {},
    connection: { application_name: applicationName },
  });
  const db = drizzle({ client: sql, schema, ...(logger ? { logger } : {}) });
  return {
    url,
    db,
    sql,
    close: (timeout = 5) => sql.end({ timeout }),
  };
}
