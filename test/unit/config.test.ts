import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, logFormatFor } from '../../src/config.js';

describe('loadConfig', () => {
  it('has the contract defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      databaseUrl: undefined,
      dataDir: path.resolve('.data'),
      sseHeartbeatMs: 15_000,
      limits: { maxBodyBytes: 4 * 1024 * 1024, maxEventBytes: 256 * 1024, maxBatchEvents: 1000, maxLiveBytes: 7000, maxMetadataBytes: 16 * 1024 },
    });
    expect(config.idempotencyTtlMs).toBeGreaterThanOrEqual(24 * 3_600_000);
  });

  it('reads the environment', () => {
    const secret = 's'.repeat(32);
    const config = loadConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      AUTH_SECRET: secret,
      CORS_ORIGINS: 'https://dash.example.com, http://localhost:5173',
      DATABASE_URL: 'postgres://u@h/db',
      DATA_DIR: '/var/x',
      LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      authSecret: secret,
      corsOrigins: ['https://dash.example.com', 'http://localhost:5173'],
      databaseUrl: 'postgres://u@h/db',
      dataDir: '/var/x',
      logLevel: 'debug',
    });
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT must be a whole number/],
    [{ PORT: '70000' }, /^PORT must be between 0 and 65535/],
    [{ SSE_HEARTBEAT_MS: '1.5' }, /^SSE_HEARTBEAT_MS /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ LOG_FORMAT: 'xml' }, /^LOG_FORMAT must be one of auto, json, pretty, got "xml"/],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL must be a postgres/],
    [{ MAX_BODY_BYTES: '2048', MAX_EVENT_BYTES: '4096' }, /^MAX_EVENT_BYTES \(4096\) must not exceed MAX_BODY_BYTES/],
    [{ MAX_BODY_BYTES: '2048', MAX_METADATA_BYTES: '4096' }, /^MAX_METADATA_BYTES \(4096\) must not exceed MAX_BODY_BYTES/],
    [{ IDEMPOTENCY_TTL_MS: '1000' }, /^IDEMPOTENCY_TTL_MS must be between/],
    [{ AUTH_SECRET: 'too-short' }, /^AUTH_SECRET must be at least 32 bytes/],
    [{ HOST: '0.0.0.0' }, /^AUTH_SECRET is not set, so authentication is off: refusing to listen on non-loopback HOST 0\.0\.0\.0/],
    [{ HOST: '10.1.2.3' }, /^AUTH_SECRET is not set/],
    [{ CORS_ORIGINS: 'not an origin' }, /^CORS_ORIGINS must be/],
    [{ DB_POOL_MAX: '4', MAX_TRANSFERS: '4' }, /^MAX_TRANSFERS \(4\) must be below DB_POOL_MAX \(4\)/],
    [{ DB_POOL_MAX: '10', WRITE_CONCURRENCY: '6' }, /^WRITE_CONCURRENCY \(6\) must be at most DB_POOL_MAX - MAX_TRANSFERS \(5\)/],
    [{ WRITE_CONCURRENCY: '0' }, /^WRITE_CONCURRENCY /],
  ])('refuses %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('logs readable lines on a terminal and JSON anywhere else, unless LOG_FORMAT says which', () => {
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(logFormatFor(loadConfig({}).logFormat, true)).toBe('pretty');
    expect(logFormatFor(loadConfig({}).logFormat, false)).toBe('json');
    // Asked for, either format holds whatever stdout is.
    for (const terminal of [true, false]) {
      expect(logFormatFor(loadConfig({ LOG_FORMAT: 'json' }).logFormat, terminal)).toBe('json');
      expect(logFormatFor(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat, terminal)).toBe('pretty');
    }
  });

  it('serves open on loopback hosts only', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) expect(loadConfig({ HOST: host }).authSecret).toBeUndefined();
  });

  it('keeps transfers to half the pool unless told otherwise, so the rest of the API always has connections', () => {
    expect(loadConfig({}).maxTransfers).toBe(5);
    expect(loadConfig({ DB_POOL_MAX: '4' }).maxTransfers).toBe(2);
    expect(loadConfig({ DB_POOL_MAX: '2' }).maxTransfers).toBe(1);
    expect(loadConfig({ DB_POOL_MAX: '4', MAX_TRANSFERS: '3' }).maxTransfers).toBe(3);
  });

  it('runs two write transactions at once unless told otherwise, fewer when transfers leave fewer connections', () => {
    expect(loadConfig({}).writeConcurrency).toBe(2);
    expect(loadConfig({ DB_POOL_MAX: '20' }).writeConcurrency).toBe(2);
    expect(loadConfig({ DB_POOL_MAX: '2' }).writeConcurrency).toBe(1);
    expect(loadConfig({ DB_POOL_MAX: '10', WRITE_CONCURRENCY: '5' }).writeConcurrency).toBe(5);
  });

  it('lets the event limit follow a smaller body limit when it is not set', () => {
    expect(loadConfig({ MAX_BODY_BYTES: '2048' }).limits.maxEventBytes).toBe(2048);
  });

  it('reads target_session_attrs=read-write as libpq does: never a server in hot standby', () => {
    const url = 'postgres://u:p@db1:5432,db2:5432/app?sslmode=require&target_session_attrs=read-write';
    expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(
      'postgres://u:p@db1:5432,db2:5432/app?sslmode=require&target_session_attrs=primary',
    );
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h/db?sslmode=verify-full' }).databaseUrl).toBe(
      'postgres://u@h/db?sslmode=verify-full',
    );
  });

  it('refuses sslrootcert=<file> in DATABASE_URL and names NODE_EXTRA_CA_CERTS instead', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem' })).toThrow(
      new ConfigError(
        'DATABASE_URL: sslrootcert=/etc/ca.pem is not read by the driver; set NODE_EXTRA_CA_CERTS=/etc/ca.pem and keep sslmode=verify-full',
      ),
    );
  });
});

describe('.env.example', () => {
  const listed = new Map(
    [...readFileSync(new URL('../../.env.example', import.meta.url), 'utf8').matchAll(/^# ([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']),
  );
  // Examples rather than defaults: these have no default value to show.
  const examples = new Set(['DATABASE_URL', 'AUTH_SECRET', 'CORS_ORIGINS']);

  it('lists every variable the server reads', () => {
    const read = new Set<string>();
    loadConfig(new Proxy({}, { get: (_target, name) => (typeof name === 'string' && read.add(name), undefined) }));
    expect([...listed.keys()].sort()).toEqual([...read].sort());
  });

  it('shows the defaults the server really uses', () => {
    const defaults = loadConfig({});
    for (const [name, value] of listed) {
      if (examples.has(name)) continue;
      expect(loadConfig({ [name]: value }), name).toEqual(defaults);
    }
  });
});
