import { buildApp } from '../app.js';
import { loadConfig } from '../config.js';
import { connectDatabase } from '../db/client.js';

/**
 * The OpenAPI document as the route schemas define it, independent of the
 * environment. postgres.js connects lazily, so no database is needed.
 */
export async function buildOpenApiDocument(): Promise<string> {
  const config = loadConfig({});
  const database = connectDatabase({ url: 'postgres://openapi@127.0.0.1:1/none', poolMax: 2 });
  const app = await buildApp({ config, database, logger: false, listen: false, sweeps: false });
  try {
    await app.ready();
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
    await database.close();
  }
}
