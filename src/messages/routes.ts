import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { inFlight } from '../db/pipeline.js';
import { startEventAppend } from '../events/append.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { countWithin, jsonWithin } from '../limits.js';
import { Limit, Seq, StringEnum, Version, DEFAULT_LIMIT } from '../shapes.js';
import { problems, SessionParams, sessionParamsWith, WorkerWriteHeaders } from '../http/schemas.js';
import { replyWithOutcome, writeCaller } from '../http/write-request.js';
import { writeSession } from '../writes/session-write.js';
import { getSession } from '../sessions/store.js';
import type { Services } from '../services.js';
import { appendMessages, checkExpectedVersion, listMessages, replaceKind, trimMessages } from './store.js';
import { Kind, Message, Role } from './view.js';

export const messageRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config } = services;
  const { maxBatchEvents, maxEventBytes } = config.limits;
  const write = (sessionId: string) => ({ sessionId, idempotencyTtlMs: config.idempotencyTtlMs, fenced: true });

  /** Each message also travels as a message.appended event, so the event limit applies to its content. */
  const contentJson = (content: unknown, index: number) => jsonWithin(content, maxEventBytes, `messages[${index}].content`, 'MAX_EVENT_BYTES').json;

  app.post(
    '/v1/sessions/:id/messages',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Append conversation messages atomically',
        tags: ['messages'],
        params: SessionParams,
        headers: WorkerWriteHeaders,
        body: Type.Object(
          {
            messages: Type.Array(
              Type.Object({ role: Role, kind: Type.Optional(Kind), content: Type.Unknown() }, { additionalProperties: false }),
              { minItems: 1 },
            ),
            expected_version: Type.Optional(Version),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ messages: Type.Array(Message), version: Version }), ...problems(400, 404, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const { messages, expected_version: expected } = request.body;
      countWithin(messages.length, maxBatchEvents, 'messages');
      const inputs = messages.map((m, i) => ({ role: m.role, kind: m.kind, contentJson: contentJson(m.content, i) }));
      const outcome = await writeSession(services, write(request.params.id), writeCaller(request), async (tx, session) => {
        checkExpectedVersion(session, expected);
        const change = appendMessages(tx, session, inputs);
        const pending = inFlight([change.pending, startEventAppend(tx, session, change.events)?.pending]);
        return { status: 201, body: { messages: change.messages, version: change.version }, pending };
      });
      return replyWithOutcome(reply, outcome);
    },
  );

  app.get(
    '/v1/sessions/:id/messages',
    {
      config: { access: 'read' },
      schema: {
        summary: 'List messages with filters, in stable keyset pages',
        tags: ['messages'],
        params: SessionParams,
        querystring: Type.Object(
          {
            role: Type.Optional(Role),
            kind: Type.Optional(Kind),
            after_seq: Type.Optional(Seq),
            before_seq: Type.Optional(Seq),
            limit: Type.Optional(Limit),
            order: Type.Optional(StringEnum(['asc', 'desc'], { default: 'asc' })),
            include_archived: Type.Optional(Type.Boolean({ default: false })),
            cursor: Type.Optional(Type.String({ description: 'next_cursor of the previous page (same filters and order).' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ messages: Type.Array(Message), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problems(400, 404),
        },
      },
    },
    async (request) => {
      const q = request.query;
      const order = q.order ?? 'asc';
      const from = q.cursor === undefined ? undefined : Number(decodeCursor('m', q.cursor, new RegExp(`^${order}:(\\d{1,16})$`))[0]);
      const session = await getSession(db, request.params.id);
      const page = await listMessages(db, session.sid, {
        role: q.role,
        kind: q.kind,
        afterSeq: q.after_seq,
        beforeSeq: q.before_seq,
        // Stryker disable next-line BooleanLiteral: unreachable; the query schema's default (useDefaults) always sets include_archived
        includeArchived: q.include_archived ?? false,
        order,
        limit: q.limit ?? DEFAULT_LIMIT,
        from,
      });
      return { messages: page.messages, next_cursor: page.last === undefined ? null : encodeCursor('m', order, page.last) };
    },
  );

  app.put(
    '/v1/sessions/:id/messages/kinds/:kind',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Replace the singleton of a kind (earlier active messages of the kind are archived)',
        tags: ['messages'],
        params: sessionParamsWith({ kind: Kind }),
        headers: WorkerWriteHeaders,
        body: Type.Object(
          { role: Role, content: Type.Unknown(), expected_version: Type.Optional(Version) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ message: Message, archived_seqs: Type.Array(Seq), version: Version }),
          ...problems(400, 404, 409, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const { role, content, expected_version: expected } = request.body;
      const input = { role, kind: request.params.kind, contentJson: contentJson(content, 0) };
      const outcome = await writeSession(services, write(request.params.id), writeCaller(request), async (tx, session) => {
        checkExpectedVersion(session, expected);
        const change = await replaceKind(tx, session, input);
        const pending = inFlight([change.pending, startEventAppend(tx, session, change.events)?.pending]);
        return { status: 200, body: { message: change.message, archived_seqs: change.archived_seqs, version: change.version }, pending };
      });
      return replyWithOutcome(reply, outcome);
    },
  );

  app.post(
    '/v1/sessions/:id/messages/trim',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Archive active messages before a seq, except protected kinds',
        tags: ['messages'],
        params: SessionParams,
        headers: WorkerWriteHeaders,
        body: Type.Object(
          {
            before_seq: Seq,
            protected_kinds: Type.Optional(Type.Array(Kind, { maxItems: 100 })),
            expected_version: Type.Optional(Version),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ trimmed: Type.Integer(), version: Version }), ...problems(400, 404, 409, 415, 422) },
      },
    },
    async (request, reply) => {
      const { before_seq: beforeSeq, protected_kinds: protectedKinds = [], expected_version: expected } = request.body;
      const outcome = await writeSession(services, write(request.params.id), writeCaller(request), async (tx, session) => {
        checkExpectedVersion(session, expected);
        const change = await trimMessages(tx, session, beforeSeq, protectedKinds);
        const pending = inFlight([change.pending, startEventAppend(tx, session, change.events)?.pending]);
        return { status: 200, body: { trimmed: change.trimmed, version: change.version }, pending };
      });
      return replyWithOutcome(reply, outcome);
    },
  );

  app.get(
    '/v1/sessions/:id/messages/meta',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Conversation metadata',
        tags: ['messages'],
        params: SessionParams,
        response: {
          200: Type.Object({
            version: Version,
            last_seq: Seq,
            message_count: Type.Integer({ description: 'Active (not archived) messages.' }),
            archived_count: Type.Integer(),
          }),
          ...problems(400, 404),
        },
      },
    },
    async (request) => {
      const session = await getSession(db, request.params.id);
      return {
        version: session.messageVersion,
        last_seq: session.messageSeq,
        message_count: session.messageCount,
        archived_count: session.archivedCount,
      };
    },
  );
};
