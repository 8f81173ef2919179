import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema.js';

export type Db = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };
/** A transaction handle; functions that must run inside the route's transaction take this. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** Either handle: plain reads work on both. */
export type DbOrTx = Db | Tx;
/**
 * A postgres.js handle, the pool or a transaction's connection: what every
 * statement function (`<feature>/statements.ts`) takes, so the caller decides
 * whether the statement is part of a transaction.
 */
export type Sql = postgres.Sql | postgres.TransactionSql;

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
  /** Sees every statement sent, with its parameters (tests use it to count what a write reads). */
  onQuery?: (query: string, parameters: unknown[]) => void;
}

/**
 * How values cross the driver, for every statement. postgres.js's defaults,
 * except:
 * - int8 comes back as a number, not a string: seqs, versions and ids stay far
 *   below 2^53.
 * - a json or jsonb parameter is JSON text the caller has serialised (event
 *   data is kept as the text the client sent), so it is sent as it is; the
 *   default would JSON.stringify the text into a JSON string.
 * - a timestamptz parameter given as text is sent as it is, so a timestamp
 *   read from an import file keeps its microseconds.
 */
const types = {
  bigint: { to: 20, from: [20], serialize: (n: number | string) => String(n), parse: (text: string) => Number(text) },
  json: { to: 114, from: [114, 3802], serialize: (text: string) => text, parse: (text: string): unknown => JSON.parse(text) },
  date: {
    to: 1184,
    from: [1082, 1114, 1184],
    serialize: (at: Date | string) => (at instanceof Date ? at.toISOString() : at),
    parse: (text: string) => new Date(text),
  },
};

/**
 * Seconds before a connection is tried again after failures. postgres.js
 * grows this to 20 s, and a query waits that long for its connection: with a
 * multi-host DATABASE_URL during a failover (a standby is tried and refused
 * until it is promoted) writes would hang instead of failing fast with 503,
 * and the server would find the promoted standby up to 20 s late.
 */
export function reconnectBackoff(retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 1);
}

export function connectDatabase({
  url,
  poolMax,
  applicationName = 'session-sync',
  connectTimeoutSeconds = 5,
  onQuery,
}: DatabaseOptions): Database {
  const sql = postgres(url, {
    max: poolMax,
    connect_timeout: connectTimeoutSeconds,
    backoff: reconnectBackoff,
    onnotice: () => {},
    connection: { application_name: applicationName },
    types,
    // Rows come back with camelCase keys, the names the schema gives the columns: `select last_seq` reads as `row.lastSeq`.
    transform: { column: { from: postgres.toCamel } },
    ...(onQuery ? { debug: (_connection: number, query: string, parameters: unknown[]) => onQuery(query, parameters) } : {}),
  });
  const db = drizzle({ client: forDrizzle(sql), schema });
  return {
    url,
    db,
    sql,
    close: (timeout = 5) => sql.end({ timeout }),
  };
}

/**
 * The client as drizzle's query builder sees it, while statements move from it
 * to postgres.js (issue 26). drizzle rewrites the client's parsers and
 * serializers when it is built (timestamps as text, JSON passed through);
 * here it rewrites a copy, so every statement, drizzle's or not, crosses the
 * driver as `types` above says. drizzle's column mappers take those values as
 * they are (a Date for a timestamp, a number for an int8), and it sends JSON
 * already serialised, which the json serializer above passes through.
 */
function forDrizzle(client: postgres.Sql): postgres.Sql {
  const options = { ...client.options, parsers: { ...client.options.parsers }, serializers: { ...client.options.serializers } };
  return preparingStatements(new Proxy(client, { get: (target, property, receiver) => (property === 'options' ? options : Reflect.get(target, property, receiver)) }));
}

/**
 * drizzle sends every query unprepared (`prepare: false`), and postgres.js
 * then spends an extra round trip per parameterised query (Parse/Describe,
 * wait, Bind/Execute) while Postgres parses and plans it every time. A write
 * that locks its session and appends costs twice the round trips of the same
 * SQL written against postgres.js. Named statements are cached per connection
 * and keyed by the SQL text, so queries must keep a fixed shape: pass lists as
 * one array parameter (`= any(...)`), never as a variable-length `in (...)`.
 * Transactions and savepoints hand drizzle their own client: wrapped too.
 */
function preparingStatements<T extends postgres.Sql | postgres.TransactionSql>(client: T): T {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'unsafe') {
        return (query: string, parameters?: never[], options?: postgres.UnsafeQueryOptions) =>
          target.unsafe(query, parameters, { ...options, prepare: true });
      }
      if (property === 'begin' || property === 'savepoint') {
        const start = Reflect.get(target, property, receiver) as (...args: unknown[]) => Promise<unknown>;
        return (...args: unknown[]) => {
          const body = args.pop() as (tx: postgres.TransactionSql) => unknown;
          return start.call(target, ...args, (tx: postgres.TransactionSql) => body(preparingStatements(tx)));
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

/**
 * The postgres.js client under a drizzle transaction, for the few hot-path
 * statements written as postgres.js tagged templates (drizzle's own query
 * building costs more CPU than those writes). It is the transaction's own
 * connection, so these statements are part of the transaction.
 */
/**
 * The postgres.js handle under a drizzle handle, for statement functions
 * called by code that still passes drizzle's (the bridge goes when the last
 * caller does, issue 26): a transaction's own connection, or the pool.
 */
export function pgOf(handle: DbOrTx): Sql {
  return '$client' in handle ? handle.$client : transactionSql(handle);
}

export function transactionSql(tx: Tx): postgres.TransactionSql {
  const client = (tx as unknown as { session?: { client?: postgres.TransactionSql } }).session?.client;
  if (typeof client !== 'function') throw new Error('drizzle transaction without its postgres.js client');
  return client;
}
