import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CursorAhead } from '../http/errors.js';
import { Limit, problems, Seq, SessionParams, Timestamp, Version } from '../http/schemas.js';
import { getSession } from '../sessions/repository.js';
import type { Services } from '../services.js';
import { readEvents } from './read.js';

export const EVENT_TYPE_PATTERN = '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$';

export const EventType = Type.String({ pattern: EVENT_TYPE_PATTERN, maxLength: 128 });

export const Event = Type.Object({
  seq: Seq,
  type: Type.String(),
  data: Type.Unknown(),
  version: Type.Optional(Version),
  created_at: Timestamp,
});

export const eventRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db } = services;

  app.get(
    '/v1/sessions/:id/events',
    {
      schema: {
        summary: 'Read durable history after a cursor',
        description:
          'Pages forward through the history. `last_seq` is where this page ends: pass it as `after` for the next page. ' +
          'When `has_more` is false it is the session head, so a filtered reader skips what it has scanned.',
        tags: ['events'],
        params: SessionParams,
        querystring: Type.Object(
          {
            after: Type.Optional(Seq),
            limit: Type.Optional(Limit),
            type: Type.Optional(EventType),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ events: Type.Array(Event), last_seq: Seq, has_more: Type.Boolean() }),
          ...problems(400, 404, 409),
        },
      },
    },
    async (request) => {
      const { after = 0, limit = 100, type } = request.query;
      return db.transaction(
        async (tx) => {
          const session = await getSession(tx, request.params.id);
          if (after > session.lastSeq) throw new CursorAhead(after, session.lastSeq);
          const page = await readEvents(tx, session.sid, { after, limit, type });
          const lastSeq = page.hasMore ? (page.events[page.events.length - 1]?.seq ?? after) : session.lastSeq;
          return { events: page.events, last_seq: lastSeq, has_more: page.hasMore };
        },
        { isolationLevel: 'repeatable read', accessMode: 'read only' },
      );
    },
  );
};
