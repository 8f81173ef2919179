import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { inFlight } from '../db/pipeline.js';
import { startEventAppend } from '../events/append.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { countWithin, jsonWithin } from '../limits.js';
import { Limit, ServerId, StringEnum, Timestamp, DEFAULT_LIMIT } from '../shapes.js';
import { BATCH_STATUSES, CLAIM_ENDINGS } from '../values.js';
import { emptyBodyAsObject, IdempotencyHeaders, problems, SessionParams, sessionParamsWith, WorkerWriteHeaders } from '../http/schemas.js';
import { replyWithOutcome, writeCaller } from '../http/write-request.js';
import { writeSession } from '../writes/session-write.js';
import { getSession } from '../sessions/store.js';
import type { Services } from '../services.js';
import { type ClaimAction, cancelBatch, claimBatches, enqueue, finishClaim, listBatches } from './store.js';
import { Batch, Claim } from './view.js';


const ClaimTtl = Type.Integer({ minimum: 100, maximum: 3_600_000, description: 'Milliseconds until the claim expires unless renewed.' });

export const queueRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config } = services;
  const dashboardWrite = (sessionId: string) => ({ sessionId, idempotencyTtlMs: config.idempotencyTtlMs });
  const workerWrite = (sessionId: string) => ({ ...dashboardWrite(sessionId), fenced: true });

  app.post(
    '/v1/sessions/:id/queue',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Queue input for the worker (needs no lease: dashboards send it while the agent is busy)',
        tags: ['queue'],
        params: SessionParams,
        headers: IdempotencyHeaders,
        body: Type.Object({ items: Type.Array(Type.Unknown(), { minItems: 1 }) }, { additionalProperties: false }),
        response: { 201: Batch, ...problems(400, 404, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const { items } = request.body;
      countWithin(items.length, config.limits.maxBatchEvents, 'items');
      // The items also travel in the batch's queue.enqueued event.
      const itemsJson = jsonWithin(items, config.limits.maxEventBytes, 'items', 'MAX_EVENT_BYTES').json;
      const outcome = await writeSession(services, dashboardWrite(request.params.id), writeCaller(request), async (tx, session) => {
        const { view, events, pending } = enqueue(tx, session, itemsJson);
        return { status: 201, body: view, pending: inFlight([pending, startEventAppend(tx, session, events)?.pending]) };
      });
      return replyWithOutcome(reply, outcome);
    },
  );

  app.post(
    '/v1/sessions/:id/queue/claim',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Claim pending batches in enqueue order (the lease holder only, while a lease exists)',
        tags: ['queue'],
        params: SessionParams,
        headers: WorkerWriteHeaders,
        body: Type.Object(
          { max_batches: Type.Integer({ minimum: 1, maximum: 1000 }), ttl_ms: ClaimTtl },
          { additionalProperties: false },
        ),
        response: {
          200: Claim,
          204: Type.Null({ description: 'Nothing is pending.' }),
          ...problems(400, 404, 409, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const { max_batches: maxBatches, ttl_ms: ttlMs } = request.body;
      const outcome = await writeSession(services, workerWrite(request.params.id), writeCaller(request), async (tx, session) => {
        const { claim, events } = await claimBatches(tx, session, maxBatches, ttlMs);
        const pending = startEventAppend(tx, session, events)?.pending;
        return claim ? { status: 200, body: claim, pending } : { status: 204, body: null, pending };
      });
      return replyWithOutcome(reply, outcome);
    },
  );

  for (const action of ['complete', 'renew', 'abandon'] as const satisfies readonly ClaimAction[]) {
    app.post(
      `/v1/sessions/:id/queue/claims/:claim_id/${action}`,
      {
        config: { access: 'write' },
        schema: {
          summary: {
            complete: 'Complete a claim: its batches are done',
            renew: 'Extend a claim',
            abandon: 'Abandon a claim: its batches become pending again',
          }[action],
          tags: ['queue'],
          params: sessionParamsWith({ claim_id: ServerId }),
          headers: WorkerWriteHeaders,
          body: Type.Object({ ttl_ms: Type.Optional(ClaimTtl) }, { additionalProperties: false, description: 'Optional; renew takes ttl_ms.' }),
          response: {
            200: Type.Object({
              claim_id: Type.String(),
              status: StringEnum(CLAIM_ENDINGS),
              batch_ids: Type.Optional(Type.Array(Type.String())),
              expires_at: Type.Optional(Timestamp),
            }),
            ...problems(400, 404, 409, 415, 422),
          },
        },
        preValidation: emptyBodyAsObject,
      },
      async (request, reply) => {
        const outcome = await writeSession(services, workerWrite(request.params.id), writeCaller(request), async (tx, session) => {
          const { body, events, refusal } = await finishClaim(tx, session, request.params.claim_id, action, request.body.ttl_ms);
          return { status: 200, body, refuseAfterCommit: refusal, pending: startEventAppend(tx, session, events)?.pending };
        });
        return replyWithOutcome(reply, outcome);
      },
    );
  }

  app.delete(
    '/v1/sessions/:id/queue/:batch_id',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Cancel a pending batch',
        tags: ['queue'],
        params: sessionParamsWith({ batch_id: ServerId }),
        headers: IdempotencyHeaders,
        response: { 204: Type.Null(), ...problems(400, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const outcome = await writeSession(services, dashboardWrite(request.params.id), writeCaller(request), async (tx, session) => {
        return { status: 204, body: null, pending: startEventAppend(tx, session, await cancelBatch(tx, session, request.params.batch_id))?.pending };
      });
      return replyWithOutcome(reply, outcome);
    },
  );

  app.get(
    '/v1/sessions/:id/queue',
    {
      config: { access: 'read' },
      schema: {
        summary: 'List queued batches in enqueue order',
        tags: ['queue'],
        params: SessionParams,
        querystring: Type.Object(
          { status: Type.Optional(StringEnum(BATCH_STATUSES)), limit: Type.Optional(Limit), cursor: Type.Optional(Type.String()) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ batches: Type.Array(Batch), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problems(400, 404),
        },
      },
    },
    async (request) => {
      const { status, limit = DEFAULT_LIMIT, cursor } = request.query;
      const session = await getSession(db, request.params.id);
      const page = await listBatches(db, session.sid, {
        status,
        limit,
        afterId: cursor === undefined ? undefined : Number(decodeCursor('q', cursor, /^(\d{1,16})$/)[0]),
      });
      return { batches: page.batches, next_cursor: page.nextId === undefined ? null : encodeCursor('q', page.nextId) };
    },
  );
};
