import net from 'node:net';
import postgres from 'postgres';
import type { Db } from './handles.js';
import { WriteConnection } from './write-connection.js';

export type { Db, Sql, Tx } from './handles.js';

/**
 * How a read of several statements begins (`db.begin(READ_ONLY_SNAPSHOT, ...)`):
 * every statement sees the same snapshot, so a page and the head it is judged
 * against agree, and nothing in it can write.
 */
export const READ_ONLY_SNAPSHOT = 'isolation level repeatable read read only';

export interface Database {
  /** Where it is: the stream side opens its own LISTEN connection there. */
  url: string;
  /** The pool every statement of the app runs on, or begins its transaction on. */
  db: Db;
  /** Connections of their own for write transactions, besides the pool's (see `WriteConnection`). */
  writeConnections: WriteConnection[];
  close(timeoutSeconds?: number): Promise<void>;
}

export interface DatabaseOptions {
  url: string;
  poolMax: number;
  /**
   * Connections write transactions have to themselves (`WRITE_CONCURRENCY`),
   * besides the pool's: the pool stays whole for reads, transfers and writes
   * that run again alone, and no stalled transfer can take a write's. None by
   * default.
   */
  writeConnections?: number;
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

/**
 * Sockets with Nagle's algorithm off (TCP_NODELAY, as libpq sets it), for a
 * client of one connection (`WriteConnection`). postgres.js writes 1 KiB of a
 * wave of statements at once and the rest at the end of the event loop's
 * turn; with Nagle's algorithm on, the kernel holds that rest until the
 * database acknowledges the first part, which it does with its answers. So a
 * group's writes and COMMIT past 1 KiB (eight deltas) took two round trips
 * instead of one (test/http/round-trips.test.ts). postgres.js sets no socket
 * option; its `socket` option makes the socket instead, as postgres.js does:
 * the hosts of a multi-host URL in turn (one connection, so its turn is the
 * client's), and the host name kept on the socket, where postgres.js reads the
 * name a TLS certificate must carry.
 */
function socketsWithoutDelay(): (options: { host: string[]; port: number[]; path?: string | false }) => net.Socket {
  let next = 0;
  return ({ host, port, path }) => {
    if (path) return net.connect(path);
    const index = next;
    next = (next + 1) % port.length;
    const socket = net.connect({ host: host[index], port: port[index]!, noDelay: true });
    return Object.assign(socket, { host: host[index] });
  };
}

export function connectDatabase({
  url,
  poolMax,
  writeConnections = 0,
  applicationName = 'session-sync',
  connectTimeoutSeconds = 5,
  onQuery,
}: DatabaseOptions): Database {
  // Every statement is prepared (postgres.js's default) and cached per connection by its text, which saves a
  // round trip and a plan each time: statement texts keep a fixed shape (a list is one array parameter).
  const options = {
    connect_timeout: connectTimeoutSeconds,
    backoff: reconnectBackoff,
    onnotice: () => {},
    connection: { application_name: applicationName },
    types,
    // Rows come back with camelCase keys, the names the schema gives the columns: `select last_seq` reads as `row.lastSeq`.
    transform: { column: { from: postgres.toCamel } },
    ...(onQuery ? { debug: (_connection: number, query: string, parameters: unknown[]) => onQuery(query, parameters) } : {}),
  };
  const db = postgres(url, { ...options, max: poolMax });
  const writes = Array.from(
    { length: writeConnections },
    () =>
      new WriteConnection((onclose) =>
        // Open until it closes: postgres.js ends an idle or old connection on its own otherwise, and `WriteConnection`
        // must see every end of its connection as a close (see its comment).
        // (`socket` is in postgres.js's documentation, not in its types.)
        postgres(url, { ...options, max: 1, idle_timeout: 0, max_lifetime: 0, onclose, ...({ socket: socketsWithoutDelay() } as object) }),
      ),
  );
  return {
    url,
    db,
    writeConnections: writes,
    close: async (timeout = 5) => {
      await Promise.all([db.end({ timeout }), ...writes.map((connection) => connection.end(timeout))]);
    },
  };
}
