import path from 'node:path';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { type Config, ConfigError, loadConfig, logFormatFor } from './config.js';
import { connectDatabase } from './db/client.js';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from './db/embedded.js';
import { runMigrations } from './db/migrate.js';

const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Readable lines for a person at a terminal, through pino-pretty (loaded only
 * then); undefined leaves pino's JSON lines. Synchronous, as pino's own
 * writes to stdout are, so nothing logged before an exit is lost.
 */
async function loggerFor(config: Config): Promise<{ stream: NodeJS.WritableStream } | undefined> {
  if (logFormatFor(config.logFormat, process.stdout.isTTY === true) === 'json') return undefined;
  const { default: pretty } = await import('pino-pretty');
  return { stream: pretty({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }) };
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`session-sync: invalid configuration: ${error.message}`);
    process.exit(1);
  }

  let embedded: EmbeddedPostgresHandle | undefined;
  let url = config.databaseUrl;
  if (url === undefined) {
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(config.dataDir, 'pg'),
      database: 'session_sync',
      onWarning: (message) => console.error(`session-sync: ${message}`),
    });
    url = embedded.url;
  }
  await runMigrations(url);
  const database = connectDatabase({
    url,
    poolMax: config.dbPoolMax,
    writeConnections: config.writeConcurrency,
    connectTimeoutSeconds: config.dbConnectTimeoutSeconds,
  });
  const app = await buildApp({ config, database, logger: await loggerFor(config) });
  if (embedded) app.log.info({ dataDir: config.dataDir, port: embedded.port }, 'embedded PostgreSQL started');

  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down');
    // Stops accepting, lets in-flight requests finish, then releases the pool.
    await app.close();
    await database.close();
    await embedded?.stop();
  });

  const address = await app.listen({ host: config.host, port: config.port });
  app.log.info(
    { api: `${address}/v1`, docs: `${address}/docs`, inspect: `${address}/inspect` },
    `session-sync is serving ${address}: session inspector ${address}/inspect, API reference ${address}/docs, API ${address}/v1`,
  );
}

main().catch((error: unknown) => {
  console.error(`session-sync: failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
