import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { notify } from '../events/append.js';
import { checkClientType, EventType } from '../events/types.js';
import { jsonWithin } from '../http/limits.js';
import { problems, Seq, SessionParams } from '../http/schemas.js';
import { getSession } from '../sessions/repository.js';
import type { Services } from '../services.js';

export const liveRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config } = services;

  app.post(
    '/v1/sessions/:id/live',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Publish a live event to current subscribers (never stored, never replayed)',
        description:
          'Token fragments, progress. Delivered only to streams open now, after every durable event committed before ' +
          'this request (`after_seq`).',
        tags: ['stream'],
        params: SessionParams,
        body: Type.Object({ type: EventType, data: Type.Unknown() }, { additionalProperties: false }),
        response: {
          202: Type.Object({ after_seq: Seq }, { description: 'Accepted; delivered after durable event `after_seq`.' }),
          ...problems(400, 404, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const { type, data } = request.body;
      checkClientType(type);
      jsonWithin(data, config.limits.maxLiveBytes, 'live data', 'MAX_LIVE_BYTES');
      // The head read here is at least every seq acknowledged before this request,
      // so receivers deliver this event only after those (the causal rule).
      const session = await getSession(db, request.params.id);
      await notify(db, { kind: 'live', session_id: session.id, sid: session.sid, head: session.lastSeq, type, data });
      return reply.code(202).send({ after_seq: session.lastSeq });
    },
  );
};
