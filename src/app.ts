import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import { eventRoutes } from './events/routes.js';
import { frameworkErrorHandler, registerErrorHandlers } from './http/error-handler.js';
import { opsRoutes } from './http/ops-routes.js';
import { createValidatorCompiler } from './http/validation.js';
import { deleteExpiredKeys } from './idempotency/keys.js';
import { Metrics } from './metrics/metrics.js';
import type { Services } from './services.js';
import { sessionRoutes } from './sessions/routes.js';
import { StateCache } from './state/cache.js';
import { stateRoutes } from './state/routes.js';

export interface AppOptions {
  config: Config;
  database: Database;
  /** Defaults to pino at `config.logLevel`; tests pass false. */
  logger?: FastifyServerOptions['logger'];
}

const IDEMPOTENCY_SWEEP_MS = 10 * 60_000;

export const OPENAPI_INFO = {
  title: 'session-sync',
  version: '1.0.0',
  description: 'Durable, live state for AI agent sessions: state sync for workers, SSE streams for dashboards.',
};

/** Builds the whole HTTP app around an already-migrated database; `main.ts` only adds listening. */
export async function buildApp({ config, database, logger }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: logger ?? {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers["lease-token"]'],
    },
    bodyLimit: config.limits.maxBodyBytes,
    frameworkErrors: frameworkErrorHandler,
    // Longer than any valid id (128), so a too-long id gets the schema's 400, not the router's 414.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(createValidatorCompiler());
  // JSON only: a text/plain body is a 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');

  const metrics = new Metrics();
  const services: Services = {
    config,
    db: database.db,
    sql: database.sql,
    metrics,
    stateContext: { cache: new StateCache(config.state.cacheBytes), tuning: config.state, limits: config.limits },
  };

  registerErrorHandlers(app, metrics);
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: OPENAPI_INFO,
      tags: [
        { name: 'sessions', description: 'Create, list, read, update and delete sessions.' },
        { name: 'state', description: 'Worker state sync: snapshots, deltas and the handshake.' },
        { name: 'events', description: 'Durable per-session history.' },
        { name: 'operations', description: 'Health, readiness and metrics.' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(opsRoutes, { services });
  await app.register(sessionRoutes, { services });
  await app.register(stateRoutes, { services });
  await app.register(eventRoutes, { services });

  let sweeper: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    sweeper = setInterval(() => {
      deleteExpiredKeys(database.db, config.idempotencyTtlMs).catch((err: unknown) =>
        app.log.warn({ err }, 'idempotency key sweep failed'),
      );
    }, IDEMPOTENCY_SWEEP_MS).unref();
  });
  app.addHook('onClose', async () => clearInterval(sweeper));

  return app;
}
