import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { uuidv7 } from 'uuidv7';
import { readableScope } from '../auth/grants.js';
import { readActivities, readActivity } from '../activity/store.js';
import { appendToSession } from '../events/append.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { Limit, SessionId, StringEnum, DEFAULT_LIMIT } from '../shapes.js';
import { ENCODINGS } from '../values.js';
import { emptyBodyAsObject, IdempotencyHeaders, problems, SessionParams } from '../http/schemas.js';
import { replyWithOutcome, writeCaller } from '../http/write-request.js';
import { createSession, writeSession } from '../writes/session-write.js';
import type { Services } from '../services.js';
import { applyMergePatch } from '../state/merge-patch.js';
import { RetentionPolicy, TtlMs } from '../history/view.js';
import { deleteSession, getSessionRecord, insertSession, listSessions, readMetadata, updateMetadata } from './store.js';
import { Metadata, metadataWithin, Session, toSessionView } from './view.js';
import { EVENT } from 'session-sync/client/protocol';


const CreateSessionBody = Type.Object(
  {
    id: Type.Optional(SessionId),
    parent_id: Type.Optional(SessionId),
    metadata: Type.Optional(Metadata),
    encoding: Type.Optional(StringEnum(ENCODINGS, { description: 'How state is stored; default json.' })),
    retention: Type.Optional(RetentionPolicy),
    ttl_ms: Type.Optional(TtlMs),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object(
  {
    parent_id: Type.Optional(SessionId),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Type.String({ description: 'next_cursor from the previous page.' })),
  },
  { additionalProperties: false },
);


export const sessionRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config } = services;

  app.post(
    '/v1/sessions',
    {
      config: { access: 'create' },
      schema: {
        summary: 'Create a session',
        tags: ['sessions'],
        headers: IdempotencyHeaders,
        body: CreateSessionBody,
        response: { 201: Session, ...problems(400, 404, 409, 413, 415, 422) },
      },
      preValidation: emptyBodyAsObject,
    },
    async (request, reply) => {
      const { body } = request;
      const id = body.id ?? uuidv7();
      const create = { sessionId: id, named: body.id !== undefined, idempotencyTtlMs: config.idempotencyTtlMs };
      const outcome = await createSession(services, create, writeCaller(request), async (tx) => {
        const row = await insertSession(tx, {
          id,
          parentId: body.parent_id ?? null,
          metadata: metadataWithin(body.metadata ?? {}, config.limits.maxMetadataBytes),
          encoding: body.encoding ?? 'json',
          retention: body.retention ?? null,
          ttlMs: body.ttl_ms ?? null,
        });
        return row && { status: 201, body: toSessionView(row) };
      });
      if (!outcome.replayed) reply.header('location', `/v1/sessions/${encodeURIComponent(id)}`);
      return replyWithOutcome(reply, outcome);
    },
  );

  app.get(
    '/v1/sessions',
    {
      config: { access: 'list' },
      schema: {
        summary: 'List sessions, newest first',
        tags: ['sessions'],
        querystring: ListQuery,
        response: {
          200: Type.Object({ sessions: Type.Array(Session), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problems(400),
        },
      },
    },
    async (request) => {
      const { parent_id, limit = DEFAULT_LIMIT, cursor } = request.query;
      const page = await listSessions(db, {
        parentId: parent_id,
        limit,
        beforeSid: cursor === undefined ? undefined : Number(decodeCursor('s', cursor, /^(\d{1,16})$/)[0]),
        readable: readableScope(request.principal),
      });
      const activities = await readActivities(db, page.rows.map((row) => row.sid));
      return {
        sessions: page.rows.map((row) => toSessionView(row, activities.get(row.sid))),
        next_cursor: page.nextSid === undefined ? null : encodeCursor('s', page.nextSid),
      };
    },
  );

  app.get(
    '/v1/sessions/:id',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Read a session',
        tags: ['sessions'],
        params: SessionParams,
        response: { 200: Session, ...problems(400, 404) },
      },
    },
    async (request) => {
      const row = await getSessionRecord(db, request.params.id);
      return toSessionView(row, await readActivity(db, row.sid));
    },
  );

  app.patch(
    '/v1/sessions/:id',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Merge-patch (RFC 7396) the session metadata; set its retention policy',
        tags: ['sessions'],
        params: SessionParams,
        headers: IdempotencyHeaders,
        body: Type.Object(
          { metadata: Type.Optional(Metadata), retention: Type.Optional(RetentionPolicy), ttl_ms: Type.Optional(TtlMs) },
          { additionalProperties: false },
        ),
        response: { 200: Session, ...problems(400, 404, 413, 422) },
      },
    },
    async (request, reply) => {
      const write = { sessionId: request.params.id, idempotencyTtlMs: config.idempotencyTtlMs };
      const outcome = await writeSession(services, write, writeCaller(request), async (tx, session) => {
        const { retention, ttl_ms: ttlMs } = request.body;
        const metadata = metadataWithin(
          applyMergePatch(await readMetadata(tx, session.sid), request.body.metadata ?? {}) as Record<string, unknown>,
          config.limits.maxMetadataBytes,
        );
        // Durable, so streams, the changes feed and a later reader of the history all see a rename.
        // What the PATCH left out is undefined here, and JSON leaves it out of the event (a null it sent stays).
        const updated = { metadata, retention, ttl_ms: ttlMs };
        await appendToSession(tx, session, [{ type: EVENT.sessionUpdated, dataJson: JSON.stringify(updated) }]);
        const row = await updateMetadata(tx, session.sid, metadata, retention, ttlMs);
        return { status: 200, body: toSessionView(row, await readActivity(tx, row.sid)) };
      });
      return replyWithOutcome(reply, outcome);
    },
  );

  app.delete(
    '/v1/sessions/:id',
    {
      // Stryker disable next-line ObjectLiteral: equivalent; a /v1 route that declares no access is admin-only (accessOf in auth/plugin.ts), and this one says so
      config: { access: 'admin' },
      schema: {
        summary: 'Delete a session, its state and its history',
        tags: ['sessions'],
        params: SessionParams,
        headers: IdempotencyHeaders,
        response: { 204: Type.Null(), ...problems(400, 404, 422) },
      },
    },
    async (request, reply) => {
      const write = { sessionId: request.params.id, idempotencyTtlMs: config.idempotencyTtlMs, lifecycle: true };
      const outcome = await writeSession(services, write, writeCaller(request), async (tx, session) => {
        await deleteSession(tx, session);
        return { status: 204, body: null };
      });
      return replyWithOutcome(reply, outcome);
    },
  );
};
