import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('has the contract defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      databaseUrl: undefined,
      dataDir: path.resolve('.data'),
      sseHeartbeatMs: 15_000,
      limits: { maxBodyBytes: 4 * 1024 * 1024, maxEventBytes: 256 * 1024, maxBatchEvents: 1000, maxLiveBytes: 7000 },
    });
    expect(config.idempotencyTtlMs).toBeGreaterThanOrEqual(24 * 3_600_000);
  });

  it('reads the environment', () => {
    const config = loadConfig({ PORT: '9000', HOST: '0.0.0.0', DATABASE_URL: 'postgres://u@h/db', DATA_DIR: '/var/x', LOG_LEVEL: 'debug' });
    expect(config).toMatchObject({ port: 9000, host: '0.0.0.0', databaseUrl: 'postgres://u@h/db', dataDir: '/var/x', logLevel: 'debug' });
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT must be a whole number/],
    [{ PORT: '70000' }, /^PORT must be between 0 and 65535/],
    [{ SSE_HEARTBEAT_MS: '1.5' }, /^SSE_HEARTBEAT_MS /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL must be a postgres/],
    [{ MAX_BODY_BYTES: '2048', MAX_EVENT_BYTES: '4096' }, /^MAX_EVENT_BYTES \(4096\) must not exceed MAX_BODY_BYTES/],
    [{ IDEMPOTENCY_TTL_MS: '1000' }, /^IDEMPOTENCY_TTL_MS must be between/],
  ])('refuses %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('lets the event limit follow a smaller body limit when it is not set', () => {
    expect(loadConfig({ MAX_BODY_BYTES: '2048' }).limits.maxEventBytes).toBe(2048);
  });
});
