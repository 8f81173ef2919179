import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { appendToSession } from '../events/append.js';
import { InvalidRequest, PayloadTooLarge } from '../http/errors.js';
import { Limit, problems, Seq, SessionParams, StringEnum, Timestamp, Version, WorkerWriteHeaders } from '../http/schemas.js';
import { sendWrite, writeSession } from '../http/write.js';
import { getSession } from '../sessions/repository.js';
import type { Services } from '../services.js';
import { appendMessages, checkExpectedVersion, listMessages, replaceKind, trimMessages } from './store.js';

const ROLES = ['system', 'user', 'assistant', 'tool'] as const;
const Role = StringEnum(ROLES);
const Kind = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
  description: 'A free tag (e.g. `message`, `summary`, `system_prompt`); default `message`.',
});

const Message = Type.Object({
  id: Type.String(),
  seq: Seq,
  role: Role,
  kind: Type.String(),
  content: Type.Unknown(),
  created_at: Timestamp,
  archived_at: Type.Optional(Timestamp),
});

function encodeCursor(order: 'asc' | 'desc', seq: number): string {
  return Buffer.from(`m:${order}:${seq}`).toString('base64url');
}

function decodeCursor(cursor: string, order: 'asc' | 'desc'): number {
  const match = /^m:(asc|desc):(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match || match[1] !== order) {
    throw new InvalidRequest('cursor is not a next_cursor of this listing order; pass next_cursor unchanged, with the same filters', [
      { in: 'querystring', field: '/cursor', message: 'is not a valid cursor' },
    ]);
  }
  return Number(match[2]);
}

export const messageRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config } = services;
  const { maxBatchEvents, maxEventBytes } = config.limits;
  const write = (sessionId: string) => ({ sessionId, idempotencyTtlMs: config.idempotencyTtlMs, fenced: true });

  /** Serialises content once; each message also travels as a message.appended event, so the event limit applies. */
  function contentJson(content: unknown, index: number): string {
    const json = JSON.stringify(content);
    const size = Buffer.byteLength(json);
    if (size > maxEventBytes) {
      throw new PayloadTooLarge(`messages[${index}].content is ${size} bytes; one message may hold ${maxEventBytes} (MAX_EVENT_BYTES)`, {
        limit_bytes: maxEventBytes,
        size,
      });
    }
    return json;
  }

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
      if (messages.length > maxBatchEvents) {
        throw new PayloadTooLarge(`a batch may hold ${maxBatchEvents} messages (MAX_BATCH_EVENTS); this one has ${messages.length}`, {
          limit: maxBatchEvents,
          size: messages.length,
        });
      }
      const inputs = messages.map((m, i) => ({ role: m.role, kind: m.kind, contentJson: contentJson(m.content, i) }));
      const outcome = await writeSession(db, request, write(request.params.id), async (tx, session) => {
        checkExpectedVersion(session, expected);
        const change = await appendMessages(tx, session, inputs);
        await appendToSession(tx, session, change.events);
        return { status: 201, body: { messages: change.messages, version: change.version } };
      });
      return sendWrite(reply, outcome);
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
      const from = q.cursor === undefined ? undefined : decodeCursor(q.cursor, order);
      const session = await getSession(db, request.params.id);
      const page = await listMessages(db, session.sid, {
        role: q.role,
        kind: q.kind,
        afterSeq: q.after_seq,
        beforeSeq: q.before_seq,
        includeArchived: q.include_archived ?? false,
        order,
        limit: q.limit ?? 100,
        from,
      });
      return { messages: page.messages, next_cursor: page.last === undefined ? null : encodeCursor(order, page.last) };
    },
  );

  app.put(
    '/v1/sessions/:id/messages/kinds/:kind',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Replace the singleton of a kind (earlier active messages of the kind are archived)',
        tags: ['messages'],
        params: Type.Object({ id: SessionParams.properties.id, kind: Kind }, { additionalProperties: false }),
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
      const outcome = await writeSession(db, request, write(request.params.id), async (tx, session) => {
        checkExpectedVersion(session, expected);
        const change = await replaceKind(tx, session, input);
        await appendToSession(tx, session, change.events);
        return { status: 200, body: { message: change.message, archived_seqs: change.archived_seqs, version: change.version } };
      });
      return sendWrite(reply, outcome);
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
      const outcome = await writeSession(db, request, write(request.params.id), async (tx, session) => {
        checkExpectedVersion(session, expected);
        const change = await trimMessages(tx, session, beforeSeq, protectedKinds);
        await appendToSession(tx, session, change.events);
        return { status: 200, body: { trimmed: change.trimmed, version: change.version } };
      });
      return sendWrite(reply, outcome);
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
