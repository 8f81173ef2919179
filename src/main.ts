import path from 'node:path';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { connectDatabase } from './db/client.js';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from './db/embedded.js';
import { runMigrations } from './db/migrate.js';

const SHUTDOWN_GRACE_MS = 10_000;

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
  const database = connectDatabase({ url, poolMax: config.dbPoolMax, connectTimeoutSeconds: config.dbConnectTimeoutSeconds });
  const app = await buildApp({ config, database });
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
  app.log.info({ api: `${address}/v1`, docs: `${address}/docs` }, `session-sync is serving ${address} (API reference: ${address}/docs)`);
}

main().catch((error: unknown) => {
  console.error(`session-sync: failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
