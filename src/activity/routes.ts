import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { jsonWithin } from '../http/limits.js';
import { IdempotencyHeaders, problems, SessionParams, Timestamp } from '../http/schemas.js';
import { sendWrite, writeSession } from '../http/write.js';
import type { Services } from '../services.js';
import { setActivity } from './store.js';

export const Activity = Type.Object(
  {
    status: Type.String(),
    detail: Type.Optional(Type.Unknown()),
    expired: Type.Optional(Type.Literal(true)),
    updated_at: Type.Optional(Timestamp),
    expires_at: Type.Optional(Timestamp),
  },
  { description: 'What the agent is doing now; `{status: "idle"}` if never set, `expired: true` once its TTL passed.' },
);

export const activityRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config } = services;

  app.put(
    '/v1/sessions/:id/activity',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Set the current activity (a current value, never history)',
        tags: ['stream'],
        params: SessionParams,
        headers: IdempotencyHeaders,
        body: Type.Object(
          {
            status: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\r\\n]*$', 'x-pattern-message': 'one line (no CR or LF)', examples: ['thinking'] }),
            detail: Type.Optional(Type.Unknown()),
            ttl_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'Reads as idle (expired) after this.' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Activity, ...problems(400, 404, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const { detail } = request.body;
      // The activity travels to other instances inside a NOTIFY payload.
      if (detail !== undefined) jsonWithin(detail, config.limits.maxLiveBytes, 'detail', 'MAX_LIVE_BYTES');
      const write = { sessionId: request.params.id, idempotencyTtlMs: config.idempotencyTtlMs };
      const outcome = await writeSession(db, request, write, async (tx, session) => ({
        status: 200,
        body: await setActivity(tx, session, request.body),
      }));
      return sendWrite(reply, outcome);
    },
  );
};
