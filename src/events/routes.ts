import { READ_ONLY_SNAPSHOT } from '../db/client.js';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CursorAhead, CursorExpired, SeqConflict } from '../errors.js';
import { countWithin, jsonWithin } from '../limits.js';
import { Limit, Seq, Timestamp, Version, DEFAULT_LIMIT } from '../shapes.js';
import { problems, SessionParams, WorkerWriteHeaders } from '../http/schemas.js';
import { replyWithOutcome, writeCaller } from '../http/write-request.js';
import { writeSession } from '../writes/session-write.js';
import { getSession } from '../sessions/store.js';
import type { Services } from '../services.js';
import { startEventAppend } from './append.js';
import { acquireWhileConnected, releaseWhenSent } from '../stream/budget.js';
import { pageBytesFor, readEvents } from './read.js';
import { checkClientType, EventType } from './types.js';

export const Event = Type.Object({
  seq: Seq,
  type: Type.String(),
  data: Type.Unknown(),
  version: Type.Optional(Version),
  created_at: Timestamp,
});

export const eventRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config } = services;
  const { maxBatchEvents, maxEventBytes } = config.limits;
  const { eventsPageBytes } = config.stream;

  app.post(
    '/v1/sessions/:id/events',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Append a batch of durable events atomically',
        tags: ['events'],
        params: SessionParams,
        headers: WorkerWriteHeaders,
        body: Type.Object(
          {
            events: Type.Array(Type.Object({ type: EventType, data: Type.Unknown() }, { additionalProperties: false }), {
              minItems: 1,
            }),
            expected_seq: Type.Optional(Seq),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ first_seq: Seq, last_seq: Seq }),
          ...problems(400, 404, 409, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const { events, expected_seq: expectedSeq } = request.body;
      countWithin(events.length, maxBatchEvents, 'events');
      const prepared = events.map((event, index) => {
        // `data` is required: JSON has no undefined, so a missing member is refused by the schema.
        checkClientType(event.type, index);
        return { type: event.type, dataJson: jsonWithin(event.data, maxEventBytes, `events[${index}].data`, 'MAX_EVENT_BYTES').json };
      });
      const write = { sessionId: request.params.id, idempotencyTtlMs: config.idempotencyTtlMs, fenced: true };
      const outcome = await writeSession(services, write, writeCaller(request), async (tx, session) => {
        if (expectedSeq !== undefined && expectedSeq !== session.lastSeq) throw new SeqConflict(expectedSeq, session.lastSeq);
        const sent = startEventAppend(tx, session, prepared);
        return { status: 201, body: { first_seq: sent?.firstSeq, last_seq: sent?.lastSeq }, pending: sent?.pending };
      });
      return replyWithOutcome(reply, outcome);
    },
  );

  app.get(
    '/v1/sessions/:id/events',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Read durable history after a cursor',
        description:
          'Pages forward through the history. `last_seq` is where this page ends: pass it as `after` for the next page. ' +
          'When `has_more` is false it is the session head, so a filtered reader skips what it has scanned. A page ends ' +
          'early at `EVENTS_PAGE_BYTES` of events (one larger event comes alone), with `has_more: true`. `after` below ' +
          '`history_start` (history trimmed by retention) is 410 `cursor_expired` `{history_start}`.',
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
          ...problems(400, 404, 409, 410),
        },
      },
    },
    async (request, reply) => {
      const { after = 0, limit = DEFAULT_LIMIT, type } = request.query;
      // The page and its answer stay in memory until the client has taken them: their bytes are reserved first.
      const budget = services.streamAdmission.rowBudget;
      const release = await acquireWhileConnected(budget, request.raw.socket, 2 * pageBytesFor(eventsPageBytes, maxEventBytes));
      if (request.raw.socket.destroyed) {
        // Gone while it waited (a pipelined request of a connection cut for not reading): no read for nobody,
        // and nothing to send: fastify is told the answer is not its to send.
        release();
        return reply.hijack();
      }
      try {
        const body = await db.begin(READ_ONLY_SNAPSHOT, async (tx) => {
            const session = await getSession(tx, request.params.id);
            if (after > session.lastSeq) throw new CursorAhead(after, session.lastSeq);
            if (after < session.historyStart) throw new CursorExpired(after, session.historyStart);
            const page = await readEvents(tx, session.sid, { after, limit, type, maxBytes: eventsPageBytes });
            const lastSeq = page.hasMore ? (page.lastSeq ?? after) : session.lastSeq;
            // Spliced from the stored JSON text: parsing and re-serialising a page would hold it twice more.
            return `{"events":[${page.eventsJson.join(',')}],"last_seq":${lastSeq},"has_more":${page.hasMore}}`;
          });
        releaseWhenSent(reply.raw, budget, release);
        // Already JSON text, so the response schema's serializer is not asked to serialise it again.
        return reply.type('application/json; charset=utf-8').send(body as never);
      } catch (error) {
        release();
        throw error;
      }
    },
  );
};
