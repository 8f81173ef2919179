import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

import { appendToSession } from '../events/append.js';
import { ifNoneMatchHits } from '../http/conditional.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { AttachmentNotFound, RangeNotSatisfiable } from '../errors.js';
import { emptyBodyAsObject, problems, SessionParams, sessionParamsWith, WorkerWriteHeaders } from '../http/schemas.js';
import { answerUnlessGone, clientBody, readerPacedBody } from '../http/transfers.js';
import { leaseTokenOf, replyWithOutcome, writeCaller } from '../http/write-request.js';
import { Limit, DEFAULT_LIMIT } from '../shapes.js';
import { writeSession } from '../writes/session-write.js';
import { getSession } from '../sessions/store.js';
import type { Services } from '../services.js';
import { BlobGone, PostgresChunks, tooLarge } from './bytes.js';
import { dispositionOf, normaliseContentType, parseRange, SECURITY_HEADERS } from './serving.js';
import { Attachment, AttachmentId } from './view.js';
import { commitAttachments, findAttachment, listAttachments, uploadAttachment } from './store.js';

const AttachmentParams = sessionParamsWith({ attachment_id: AttachmentId });

export const attachmentRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config } = services;
  const { maxBytes, chunkBytes } = config.attachments;
  const bytes = new PostgresChunks(chunkBytes);

  // The upload is its own plugin: every body, whatever its type (JSON included), stays a stream of bytes there.
  await app.register(async (plugin) => {
    const upload = plugin.withTypeProvider<TypeBoxTypeProvider>();
    upload.removeAllContentTypeParsers();
    upload.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    upload.post(
      '/v1/sessions/:id/attachments',
      {
        config: { access: 'write' },
        schema: {
          summary: 'Upload an attachment: the raw bytes are the body, streamed into storage',
          description:
            'Any Content-Type (kept, and served back). Up to MAX_ATTACHMENT_BYTES; the body is stored in chunks as it ' +
            'arrives and never held whole. The same bytes on the same session give the same attachment_id (the SHA-256). ' +
            'The attachment is uncommitted until a turn (or POST .../commit) commits it; uncommitted ones are deleted ' +
            'after ATTACHMENT_INTENT_TTL_MS. A broken upload stores nothing: one that sends no byte for ' +
            'TRANSFER_IDLE_TIMEOUT_MS is 408 `request_timeout`; past MAX_TRANSFERS uploads, imports and exports at once, 503 ' +
            '`too_many_transfers` with Retry-After.',
          tags: ['attachments'],
          params: SessionParams,
          headers: WorkerWriteHeaders,
          consumes: ['*/*'],
          response: { 201: Attachment, ...problems(400, 404, 409, 413, 415, 503) },
        },
      },
      async (request, reply) => {
        const declared = Number(request.headers['content-length']);
        // A declared size over the limit is refused before a byte is read.
        if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes, declared);
        // The COPY holds a connection while the bytes come: one of the MAX_TRANSFERS slots, and a body that stalls is cut.
        const release = services.transfers.take();
        return answerUnlessGone(reply, async () => {
          try {
            const view = await uploadAttachment(db, bytes, {
              sessionId: request.params.id,
              contentType: normaliseContentType(request.headers['content-type']),
              body: clientBody((request.body as Readable | undefined) ?? Readable.from([]), reply.raw, config.transferIdleTimeoutMs),
              maxBytes,
              chunkBytes,
              leaseToken: leaseTokenOf(request),
            });
            return reply.code(201).send(view);
          } finally {
            release();
          }
        });
      },
    );
  });

  app.get(
    '/v1/sessions/:id/attachments',
    {
      config: { access: 'read' },
      schema: {
        summary: "List a session's attachments (committed or not), oldest first",
        tags: ['attachments'],
        params: SessionParams,
        querystring: Type.Object(
          { limit: Type.Optional(Limit), cursor: Type.Optional(Type.String({ description: 'next_cursor from the previous page.' })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ attachments: Type.Array(Attachment), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problems(400, 404),
        },
      },
    },
    async (request) => {
      const session = await getSession(db, request.params.id);
      const afterId = request.query.cursor === undefined ? undefined : Number(decodeCursor('att', request.query.cursor, /^(\d+)$/)[0]);
      const page = await listAttachments(db, session.sid, { limit: request.query.limit ?? DEFAULT_LIMIT, afterId });
      return { attachments: page.attachments, next_cursor: page.nextId === undefined ? null : encodeCursor('att', page.nextId) };
    },
  );

  app.get(
    '/v1/sessions/:id/attachments/:attachment_id',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Download an attachment, streamed, with Range and ETag',
        description:
          'Served with its stored Content-Type, `X-Content-Type-Options: nosniff` and a sandboxing ' +
          'Content-Security-Policy; types a browser would render as a document (HTML, SVG, XML and anything not known ' +
          'to be inert) come with `Content-Disposition: attachment`, so hostile bytes never run in this origin. ' +
          'A single `bytes=` Range gives 206 (416 when outside the file); `If-None-Match` gives 304.',
        tags: ['attachments'],
        params: AttachmentParams,
        response: {
          200: { description: 'The bytes.', content: { '*/*': { schema: Type.String({ format: 'binary' }) } } },
          206: { description: 'The requested range.', content: { '*/*': { schema: Type.String({ format: 'binary' }) } } },
          304: Type.Null(),
          ...problems(400, 404, 416),
        },
      },
    },
    async (request, reply) => {
      const session = await getSession(db, request.params.id);
      const found = await findAttachment(db, session.sid, request.params.attachment_id);
      if (!found) throw new AttachmentNotFound(request.params.attachment_id);
      const etag = `"${found.sha256}"`;
      const served = {
        ...SECURITY_HEADERS,
        etag,
        'accept-ranges': 'bytes',
        'cache-control': 'private, no-cache',
        'content-disposition': dispositionOf(found.content_type, found.attachment_id),
      };
      if (ifNoneMatchHits(request.headers['if-none-match'], etag)) {
        return reply.code(304).headers(served).send(undefined as never);
      }
      const ifRange = request.headers['if-range'];
      const range = ifRange === undefined || ifRange === etag ? parseRange(request.headers.range, found.size) : undefined;
      if (range === 'unsatisfiable') {
        reply.headers(served);
        throw new RangeNotSatisfiable(found.size);
      }
      const [start, end] = range ?? [0, found.size - 1];
      // Paced like an export, so a reader that stops taking bytes is cut after TRANSFER_IDLE_TIMEOUT_MS instead of holding
      // its response and socket for ever. Not a transfer (no slot taken): each slice is its own query, and no pool
      // connection is held while the body waits on the reader.
      // A generator of its own: bytes.read is typed as any AsyncIterable, and the body needs return() to end it early.
      const slices = (async function* () {
        // An empty file's range is [0, -1]: no read at all.
        yield* bytes.read(db, found.blob, start, end);
      })();
      // The first slice is read before the status line goes out, so a failure there (the database gone, the bytes
      // deleted since the lookup above) is answered as what it is, not as a 200 whose body ends short.
      const first = await slices.next().catch((error: unknown) => {
        throw error instanceof BlobGone ? new AttachmentNotFound(found.attachment_id) : error;
      });
      reply.headers(served);
      reply.header('content-type', found.content_type);
      reply.header('content-length', String(Math.max(0, end - start + 1)));
      if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${found.size}`);
      if (first.done) return reply.send(Buffer.alloc(0) as never);
      return reply.send(readerPacedBody(reply.raw, first.value, slices, config.transferIdleTimeoutMs, () => {}) as never);
    },
  );

  app.post(
    '/v1/sessions/:id/attachments/:attachment_id/commit',
    {
      config: { access: 'write' },
      preValidation: emptyBodyAsObject,
      schema: {
        summary: 'Commit an attachment outside a turn (a turn commits those it lists)',
        tags: ['attachments'],
        params: AttachmentParams,
        headers: WorkerWriteHeaders,
        body: Type.Object({}, { additionalProperties: false }),
        response: { 200: Attachment, ...problems(400, 404, 409) },
      },
    },
    async (request, reply) => {
      const { id, attachment_id: attachmentId } = request.params;
      const outcome = await writeSession(services, { sessionId: id, idempotencyTtlMs: config.idempotencyTtlMs, fenced: true }, writeCaller(request), async (tx, session) => {
        await appendToSession(tx, session, await commitAttachments(tx, session, [attachmentId]));
        const found = await findAttachment(tx, session.sid, attachmentId);
        if (!found) throw new AttachmentNotFound(attachmentId);
        const { blob: _blob, ...view } = found;
        return { status: 200, body: view };
      });
      return replyWithOutcome(reply, outcome);
    },
  );
};
