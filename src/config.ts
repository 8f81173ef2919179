import path from 'node:path';

export interface Limits {
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** Largest `data` of one durable event (a state delta is one event), in bytes. */
  maxEventBytes: number;
  /** Most events accepted in one batch. */
  maxBatchEvents: number;
  /**
   * Largest live (never stored) event payload, in bytes. The whole wakeup that
   * carries it (id, type, envelope) is also held to what NOTIFY carries (7999).
   */
  maxLiveBytes: number;
  /** Largest session metadata (its compact JSON text, UTF-8), in bytes: every listing returns it. */
  maxMetadataBytes: number;
}

export interface StateTuning {
  /** Write a materialised checkpoint of a json state after this many deltas... */
  checkpointEveryDeltas: number;
  /** ...or after this many bytes of deltas, whichever comes first. */
  checkpointEveryBytes: number;
  /** Memory budget for materialised json states kept to validate JSON Patch deltas. */
  cacheBytes: number;
  /** A json worker further behind than this gets a snapshot rather than a delta list. */
  catchUpMaxDeltas: number;
}

export interface StreamTuning {
  /** Rows read per query when replaying history or following the tail. */
  pageSize: number;
  /** ...and at most this many bytes of them (one larger row still goes alone). */
  pageBytes: number;
  /** Event rows (and their output) held at once for clients: stream replays and `GET .../events` pages wait for room. */
  rowsMemoryBytes: number;
  /** A subscriber whose unsent output passes this is disconnected. */
  maxBufferedBytes: number;
  /** Unsent output of all streams together; past it, the stream adding to it is disconnected. */
  totalBufferedBytes: number;
  /** Bytes of events in one `GET .../events` page (one larger event still goes alone). */
  eventsPageBytes: number;
  /** How often the heads of sessions with open streams here are read: the most a lost wakeup delays their events. */
  headPollMs: number;
  /** How long a Durable Streams long-poll at the tail waits for an append or a close before answering 204. */
  longPollMs: number;
}

export interface HistoryTuning {
  /** Server default retention (a session's own policy wins); unset: keep everything. */
  maxEvents: number | undefined;
  maxAgeMs: number | undefined;
  /** Events removed per trimming transaction: a writer waits for at most one batch. */
  trimBatch: number;
  /** How often each instance looks for history to trim and for sessions past their ttl_ms. */
  sweepMs: number;
}

export interface AttachmentTuning {
  /** Largest attachment, in bytes (MAX_ATTACHMENT_BYTES). */
  maxBytes: number;
  /** An uncommitted attachment older than this is deleted by the sweep. */
  intentTtlMs: number;
  /** Bytes per stored chunk row: what an upload or download holds in memory at a time. */
  chunkBytes: number;
}

export interface Config {
  host: string;
  port: number;
  /** HS256 secret for bearer tokens; unset means no authentication (loopback only). */
  authSecret: string | undefined;
  /** Origins allowed by CORS (dashboards served elsewhere). */
  corsOrigins: string[];
  /** Time allowed to receive a whole request (headers and body). */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. */
  keepAliveTimeoutMs: number;
  /** Open SSE streams per process; past it a new stream gets 503 with Retry-After. */
  maxStreams: number;
  /** Deepest nesting accepted in a JSON body. */
  maxJsonDepth: number;
  dbConnectTimeoutSeconds: number;
  /** Absent: start an embedded PostgreSQL under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  dbPoolMax: number;
  /**
   * Uploads, imports and exports in progress at once. Each holds a pool
   * connection while it talks to its client (see src/http/transfers.ts), so
   * this stays below `dbPoolMax`: the rest of the API always has connections.
   */
  maxTransfers: number;
  /**
   * Write transactions running at once (`writes/write-groups.ts`): writes
   * that arrive while this many run wait, and the next transaction to start
   * takes them all together (group commit).
   */
  writeConcurrency: number;
  /** An upload, import or export whose client sends (or takes) no byte for this long is cut off, and its connection freed. */
  transferIdleTimeoutMs: number;
  logLevel: string;
  /** LOG_FORMAT: `json` (one pino JSON object a line), `pretty` (for people), or `auto`: pretty when stdout is a terminal. */
  logFormat: LogFormatSetting;
  sseHeartbeatMs: number;
  idempotencyTtlMs: number;
  attachments: AttachmentTuning;
  limits: Limits;
  state: StateTuning;
  stream: StreamTuning;
  history: HistoryTuning;
}

/** Thrown for bad configuration; its message is the one line shown to the operator. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormatSetting = (typeof LOG_FORMATS)[number];

/**
 * The format the logs are written in: `auto` is readable lines on a terminal,
 * where a person reads them, and JSON everywhere else (a pipe, a file, a log
 * collector), where a program does.
 */
export function logFormatFor(setting: LogFormatSetting, stdoutIsTerminal: boolean): 'json' | 'pretty' {
  if (setting !== 'auto') return setting;
  return stdoutIsTerminal ? 'pretty' : 'json';
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name} must be a whole number between ${min} and ${max}, got "${raw}"`);
  }
  const value = Number(raw.trim());
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function optionalInteger(env: Env, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : integer(env, name, 0, min, max);
}

function text(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * DATABASE_URL as the driver (postgres.js) should read it, for the settings it
 * reads differently from libpq. Multi-host URLs (`host1:5432,host2:5432`) are
 * not WHATWG URLs, so only the query string is parsed.
 */
function normaliseDatabaseUrl(raw: string): string {
  const queryAt = raw.indexOf('?');
  if (queryAt < 0) return raw;
  const params = new URLSearchParams(raw.slice(queryAt + 1));
  const rootCert = params.get('sslrootcert');
  if (rootCert !== null && rootCert !== 'system') {
    // postgres.js would send it to the server as a setting, which refuses to start the session.
    throw new ConfigError(
      `DATABASE_URL: sslrootcert=${rootCert} is not read by the driver; set NODE_EXTRA_CA_CERTS=${rootCert} and keep sslmode=verify-full`,
    );
  }
  if (params.get('target_session_attrs') === 'read-write') {
    // postgres.js judges read-write by default_transaction_read_only alone, which
    // is off on a hot standby, so it would write to a standby after a failover.
    // libpq's read-write also refuses a server in hot standby: that is `primary`.
    params.set('target_session_attrs', 'primary');
    return `${raw.slice(0, queryAt)}?${params.toString()}`;
  }
  return raw;
}

const MiB = 1024 * 1024;
const KiB = 1024;

export function loadConfig(env: Env = process.env): Config {
  const rawDatabaseUrl = text(env, 'DATABASE_URL');
  if (rawDatabaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(rawDatabaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const databaseUrl = rawDatabaseUrl === undefined ? undefined : normaliseDatabaseUrl(rawDatabaseUrl);
  const logLevel = text(env, 'LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const logFormat = (text(env, 'LOG_FORMAT') ?? 'auto') as LogFormatSetting;
  if (!LOG_FORMATS.includes(logFormat)) {
    throw new ConfigError(`LOG_FORMAT must be one of ${LOG_FORMATS.join(', ')}, got "${logFormat}"`);
  }
  const maxBodyBytes = integer(env, 'MAX_BODY_BYTES', 4 * MiB, 1 * KiB, 1024 * MiB);
  // Unset, the event limit follows a smaller body limit; set, the two must agree.
  const maxEventBytes = integer(env, 'MAX_EVENT_BYTES', Math.min(256 * KiB, maxBodyBytes), 1 * KiB, 1024 * MiB);
  if (maxEventBytes > maxBodyBytes) {
    throw new ConfigError(`MAX_EVENT_BYTES (${maxEventBytes}) must not exceed MAX_BODY_BYTES (${maxBodyBytes})`);
  }
  const maxMetadataBytes = integer(env, 'MAX_METADATA_BYTES', Math.min(16 * KiB, maxBodyBytes), 2, 1024 * MiB);
  if (maxMetadataBytes > maxBodyBytes) {
    throw new ConfigError(`MAX_METADATA_BYTES (${maxMetadataBytes}) must not exceed MAX_BODY_BYTES (${maxBodyBytes})`);
  }
  const host = text(env, 'HOST') ?? '127.0.0.1';
  const authSecret = env.AUTH_SECRET === undefined || env.AUTH_SECRET === '' ? undefined : env.AUTH_SECRET;
  if (authSecret !== undefined && Buffer.byteLength(authSecret) < 32) {
    throw new ConfigError('AUTH_SECRET must be at least 32 bytes (e.g. `openssl rand -base64 48`)');
  }
  if (authSecret === undefined && !isLoopback(host)) {
    throw new ConfigError(
      `AUTH_SECRET is not set, so authentication is off: refusing to listen on non-loopback HOST ${host}; set AUTH_SECRET or HOST=127.0.0.1`,
    );
  }
  const corsOrigins = (text(env, 'CORS_ORIGINS') ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const origin of corsOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(`CORS_ORIGINS must be comma-separated origins like https://dash.example.com, got "${origin}"`);
    }
  }
  const sseHeartbeatMs = integer(env, 'SSE_HEARTBEAT_MS', 15_000, 100, 3_600_000);
  const maxBufferedBytes = integer(env, 'SSE_MAX_BUFFER_BYTES', 1 * MiB, 16 * KiB, 1024 * MiB);
  // A tail hands a whole page to a subscriber at once: a page must fit in its buffer.
  const pageBytes = integer(env, 'STREAM_PAGE_BYTES', Math.min(256 * KiB, maxBufferedBytes / 2), 8 * KiB, 1024 * MiB);
  if (pageBytes > maxBufferedBytes / 2) {
    throw new ConfigError(`STREAM_PAGE_BYTES (${pageBytes}) must be at most half of SSE_MAX_BUFFER_BYTES (${maxBufferedBytes})`);
  }
  const dbPoolMax = integer(env, 'DB_POOL_MAX', 10, 2, 1000);
  // Half the pool by default (5 of the default 10): transfers get connections, and the other half serves every
  // other request however many clients stall (a request of the API holds one for a few milliseconds).
  const maxTransfers = integer(env, 'MAX_TRANSFERS', Math.floor(dbPoolMax / 2), 1, 1000);
  if (maxTransfers >= dbPoolMax) {
    throw new ConfigError(`MAX_TRANSFERS (${maxTransfers}) must be below DB_POOL_MAX (${dbPoolMax}): the rest of the API needs connections too`);
  }
  // 2: more write transactions at once only split the writes into smaller groups. Measured in `npm run bench`
  // (scenarios 1 and 8, 2 cores, pool of 20), deltas/s at 1, 2, 5 and 10: 16 writers 1743, 1536, 1317, 1166;
  // 256 writers with the database 1 ms away 1707, 2581, 2524, 2308 (one transaction per request: 1113 and 973).
  const writeConcurrency = integer(env, 'WRITE_CONCURRENCY', Math.min(2, dbPoolMax - maxTransfers), 1, 1000);
  if (writeConcurrency > dbPoolMax - maxTransfers) {
    throw new ConfigError(`WRITE_CONCURRENCY (${writeConcurrency}) must be at most DB_POOL_MAX - MAX_TRANSFERS (${dbPoolMax - maxTransfers})`);
  }
  return {
    host,
    authSecret,
    corsOrigins,
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 30_000, 1000, 3_600_000),
    keepAliveTimeoutMs: integer(env, 'KEEP_ALIVE_TIMEOUT_MS', 65_000, 1000, 3_600_000),
    maxStreams: integer(env, 'MAX_STREAMS', 20_000, 1, 1_000_000),
    // JSON.stringify overflows the stack a few thousand levels down: stay well below.
    maxJsonDepth: integer(env, 'MAX_JSON_DEPTH', 64, 2, 1000),
    dbConnectTimeoutSeconds: integer(env, 'DB_CONNECT_TIMEOUT_S', 5, 1, 300),
    port: integer(env, 'PORT', 8080, 0, 65535),
    databaseUrl,
    dataDir: path.resolve(text(env, 'DATA_DIR') ?? './.data'),
    dbPoolMax,
    maxTransfers,
    writeConcurrency,
    // 10 s: a client that is sending or reading moves bytes every round trip (well under a second even on a
    // poor mobile link); one that moved none for 10 s has stalled, and its open transaction holds back vacuum.
    transferIdleTimeoutMs: integer(env, 'TRANSFER_IDLE_TIMEOUT_MS', 10_000, 100, 3_600_000),
    logLevel,
    logFormat,
    sseHeartbeatMs,
    idempotencyTtlMs: integer(env, 'IDEMPOTENCY_TTL_MS', 24 * 3_600_000, 24 * 3_600_000, 365 * 24 * 3_600_000),
    limits: {
      maxBodyBytes,
      maxEventBytes,
      maxBatchEvents: integer(env, 'MAX_BATCH_EVENTS', 1000, 1, 100_000),
      // NOTIFY payloads are shorter than 8000 bytes; the whole payload is checked too (src/wakeups/wakeups.ts, notify).
      maxLiveBytes: integer(env, 'MAX_LIVE_BYTES', 7000, 1, 7999),
      maxMetadataBytes,
    },
    stream: {
      pageSize: integer(env, 'STREAM_PAGE_SIZE', 500, 1, 10_000),
      pageBytes,
      rowsMemoryBytes: integer(env, 'ROWS_MEMORY_BYTES', 64 * MiB, 1 * MiB, 64 * 1024 * MiB),
      maxBufferedBytes,
      totalBufferedBytes: integer(env, 'SSE_TOTAL_BUFFER_BYTES', 128 * MiB, 1 * MiB, 64 * 1024 * MiB),
      eventsPageBytes: integer(env, 'EVENTS_PAGE_BYTES', 1 * MiB, 16 * KiB, 1024 * MiB),
      headPollMs: integer(env, 'STREAM_HEAD_POLL_MS', 1000, 10, 3_600_000),
      longPollMs: integer(env, 'STREAM_LONG_POLL_MS', 30_000, 100, 600_000),
    },
    attachments: {
      maxBytes: integer(env, 'MAX_ATTACHMENT_BYTES', 32 * MiB, 1, 1024 * 1024 * MiB),
      intentTtlMs: integer(env, 'ATTACHMENT_INTENT_TTL_MS', 3_600_000, 1000, 365 * 24 * 3_600_000),
      chunkBytes: integer(env, 'ATTACHMENT_CHUNK_BYTES', 256 * KiB, 1 * KiB, 64 * MiB),
    },
    state: {
      checkpointEveryDeltas: integer(env, 'STATE_CHECKPOINT_DELTAS', 200, 1, 1_000_000),
      checkpointEveryBytes: integer(env, 'STATE_CHECKPOINT_BYTES', 1 * MiB, 1 * KiB, 1024 * MiB),
      cacheBytes: integer(env, 'STATE_CACHE_BYTES', 64 * MiB, 0, 64 * 1024 * MiB),
      catchUpMaxDeltas: integer(env, 'STATE_CATCHUP_MAX_DELTAS', 1000, 1, 1_000_000),
    },
    history: {
      maxEvents: optionalInteger(env, 'HISTORY_MAX_EVENTS', 0, Number.MAX_SAFE_INTEGER),
      maxAgeMs: optionalInteger(env, 'HISTORY_MAX_AGE_MS', 1, Number.MAX_SAFE_INTEGER),
      trimBatch: integer(env, 'HISTORY_TRIM_BATCH', 1000, 1, 1_000_000),
      sweepMs: integer(env, 'HISTORY_SWEEP_MS', 10_000, 100, 86_400_000),
    },
  };
}
