import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ping } from '../db/statements.js';
import { problems } from './schemas.js';
import type { Services } from '../services.js';

const READY_TIMEOUT_MS = 2000;
// Probes and scrapes come every few seconds: at info their request lines would
// be most of the log. Their answers are counted in /metrics, and a /readyz that
// answers 503 logs a warning with its reason.
const PROBE_LOG_LEVEL = 'warn';

export const opsRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, metrics, listenConnection } = services;

  app.get(
    '/healthz',
    {
      logLevel: PROBE_LOG_LEVEL,
      schema: {
        summary: 'The process is alive',
        tags: ['operations'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      logLevel: PROBE_LOG_LEVEL,
      schema: {
        summary: 'The database is reachable and the LISTEN connection is up',
        tags: ['operations'],
        response: {
          200: Type.Object({ status: Type.Literal('ready') }),
          503: Type.Object({ status: Type.Literal('not_ready'), reason: Type.String() }),
        },
      },
    },
    async (request, reply) => {
      const notReady = (reason: string) => {
        request.log.warn({ reason }, 'not ready');
        return reply.code(503).send({ status: 'not_ready' as const, reason });
      };
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          ping(db),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
          }),
        ]);
        if (!listenConnection.ready) return notReady('LISTEN connection is down');
        return { status: 'ready' as const };
      } catch (error) {
        return notReady(`database: ${(error as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    },
  );

  app.get(
    '/metrics',
    {
      logLevel: PROBE_LOG_LEVEL,
      config: { access: 'admin' },
      schema: {
        summary: 'Prometheus metrics',
        tags: ['operations'],
        produces: ['text/plain'],
        response: {
          200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: Type.String() } } },
          ...problems(401, 403),
        },
      },
    },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
};
