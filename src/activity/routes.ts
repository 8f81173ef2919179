import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { jsonWithin } from '../limits.js';
import { IdempotencyHeaders, problems, SessionParams } from '../http/schemas.js';
import { replyWithOutcome, writeCaller } from '../http/write-request.js';
import { writeSession } from '../writes/session-write.js';
import type { Services } from '../services.js';
import { setActivity } from './store.js';
import { Activity, ActivityBody } from './view.js';

export const activityRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { config } = services;

  app.put(
    '/v1/sessions/:id/activity',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Set the current activity (a current value, never history)',
        tags: ['stream'],
        params: SessionParams,
        headers: IdempotencyHeaders,
        body: ActivityBody,
        response: { 200: Activity, ...problems(400, 404, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const { detail } = request.body;
      // The activity travels to other instances inside a NOTIFY payload.
      if (detail !== undefined) jsonWithin(detail, config.limits.maxLiveBytes, 'detail', 'MAX_LIVE_BYTES');
      const write = { sessionId: request.params.id, idempotencyTtlMs: config.idempotencyTtlMs };
      const outcome = await writeSession(services, write, writeCaller(request), async (tx, session) => ({
        status: 200,
        body: await setActivity(tx, session, request.body),
      }));
      return replyWithOutcome(reply, outcome);
    },
  );
};
