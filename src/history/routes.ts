import type { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { uuidv7 } from 'uuidv7';
import { mayWrite } from '../auth/grants.js';
import { Forbidden } from '../auth/plugin.js';
import { PostgresChunks } from '../attachments/bytes.js';
import { SessionNotFound, UnsupportedMediaType } from '../errors.js';
import { parseJsonBody } from '../http/json-body.js';
import { answerUnlessGone, clientBody, readerPacedBody } from '../http/transfers.js';
import { emptyBodyAsObject, IdempotencyHeaders, problems, SessionParams } from '../http/schemas.js';
import type { Services } from '../services.js';
import { Seq, SessionId, Version } from '../shapes.js';
import { getSession, getSessionRecord } from '../sessions/store.js';
import { Metadata, metadataWithin, Session, toSessionView } from '../sessions/view.js';
import { isMediaType } from '../media-type.js';
import { exportLines } from './export.js';
import { forkSession } from './fork.js';
import { importSession } from './import.js';
import { policyOf, trimSession } from './trim.js';
import { HistoryStart } from './view.js';

export const historyRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config, stateContext } = services;
  const deps = { cache: stateContext.cache, batch: config.history.trimBatch };

  app.post(
    '/v1/sessions/:id/compact',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Trim history now, by the retention policy or up to before_seq',
        description:
          'Removes durable events with seq < `before_seq` (or what the retention policy says is due), in bounded batches, ' +
          'and only where the state stays materialisable: a json session gets a checkpoint of its state when needed; a ' +
          'binary session is trimmed no further than its last snapshot. Answers the resulting `history_start`.',
        tags: ['history'],
        params: SessionParams,
        body: Type.Object({ before_seq: Type.Optional(Seq) }, { additionalProperties: false }),
        response: { 200: Type.Object({ history_start: HistoryStart }), ...problems(400, 404) },
      },
      preValidation: emptyBodyAsObject,
    },
    async (request) => {
      const { id } = request.params;
      const { before_seq: beforeSeq } = request.body;
      const goal =
        beforeSeq === undefined ? { policy: policyOf(await getSession(db, id), config.history) } : { upTo: beforeSeq - 1 };
      const historyStart = await trimSession(db, deps, id, goal);
      if (historyStart === undefined) throw new SessionNotFound(id);
      return { history_start: historyStart };
    },
  );

  app.post(
    '/v1/sessions/:id/fork',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Fork a session at a version (default: the head)',
        description:
          'Creates a session whose state is the source\'s state at `at_version`, with `parent_id` the source and ' +
          '`forked_from: {session_id, version}`. Its history starts with `session.forked` and a `state.snapshot` (a binary ' +
          'source\'s deltas after its snapshot follow as `state.delta`). Needs read on the source and write on the new id ' +
          '(admin when the server picks the id). 410 `version_expired` when that version is no longer kept.',
        tags: ['history'],
        params: SessionParams,
        headers: IdempotencyHeaders,
        body: Type.Object(
          { id: Type.Optional(SessionId), at_version: Type.Optional(Version), metadata: Type.Optional(Metadata) },
          { additionalProperties: false },
        ),
        response: { 201: Session, ...problems(400, 403, 404, 409, 410, 413) },
      },
      preValidation: emptyBodyAsObject,
    },
    async (request, reply) => {
      const { body, principal } = request;
      const id = body.id ?? uuidv7();
      if (body.id === undefined ? !principal.admin : !mayWrite(principal, id)) {
        throw new Forbidden(`this token may not create session "${id}" (a fork needs write on the new id; admin when the server picks it)`);
      }
      const metadata = metadataWithin(body.metadata ?? {}, config.limits.maxMetadataBytes);
      const row = await forkSession(services, { sourceId: request.params.id, id, atVersion: body.at_version, metadata });
      reply.header('location', `/v1/sessions/${encodeURIComponent(id)}`);
      return reply.code(201).send(toSessionView(row));
    },
  );
};

const NDJSON = 'application/x-ndjson';

/** Export and import: a plugin of their own, so the import's body stays a stream here and nowhere else. */
export const transferRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config } = services;
  app.addContentTypeParser(NDJSON, (_request, payload, done) => done(null, payload));
  // Any other type reaches the import's own check, whose 415 names what an import takes (the server-wide one asks for JSON).
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  const bytes = new PostgresChunks(config.attachments.chunkBytes);

  app.get(
    '/v1/sessions/:id/export',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Export a session as NDJSON, streamed',
        description:
          'One JSON record a line, read in one consistent snapshot and streamed as it is read: `header` (format ' +
          '`session-sync.export`, `format_version` 1), `session` (the record with its counters), each kept `snapshot` ' +
          '(the state as stored: snapshots and checkpoints, binary bytes in `chunk` lines after it), every kept `event` ' +
          'with its seq, every `message`, `queue_batch`, `turn`, `producer` (a Durable Stream\'s idempotent producers) and ' +
          '`attachment` (its bytes in base64 `chunk` lines), ' +
          'and last `end` with the counts, so a file cut short is told apart. `POST /v1/sessions/import` reads it back. ' +
          'A reader that takes no byte for TRANSFER_IDLE_TIMEOUT_MS is cut off; past MAX_TRANSFERS uploads, imports and ' +
          'exports at once, 503 `too_many_transfers` with Retry-After.',
        tags: ['history'],
        params: SessionParams,
        response: {
          200: { description: 'The export, one record a line.', content: { [NDJSON]: { schema: Type.String() } } },
          ...problems(404, 503),
        },
      },
    },
    async (request, reply) => {
      // The snapshot holds a connection for the whole export: one of the MAX_TRANSFERS slots, given back when the body ends.
      const release = services.transfers.take();
      const lines = exportLines(services.db, request.params.id);
      let first: IteratorResult<string>;
      try {
        // The first lines are read before answering, so an unknown session is a 404 and not a broken stream.
        first = await lines.next();
      } catch (error) {
        release();
        throw error;
      }
      // Stryker disable next-line StringLiteral: never read (exportLines yields its header before it is done)
      const body = readerPacedBody(reply.raw, first.done ? '' : first.value, lines, config.transferIdleTimeoutMs, release);
      reply.header('content-type', NDJSON);
      reply.header('content-disposition', `attachment; filename="${encodeURIComponent(request.params.id)}.ndjson"`);
      return reply.send(body as never);
    },
  );

  app.post(
    '/v1/sessions/import',
    {
      // Stryker disable next-line ObjectLiteral: a route that declares no access is admin-only (auth/plugin.ts); said here for the reader
      config: { access: 'admin' },
      schema: {
        summary: 'Import a session from an export (admin)',
        description:
          'The body is an export file (`application/x-ndjson`), read as it arrives and imported in one transaction: ' +
          'the copy answers reads as the original did (state at every kept version, events with their seqs, ' +
          'messages, queue, attachments, metadata, history_start; a Durable Stream\'s Content-Type, closure, Stream-Seq, ' +
          'expiry and producers). `?id=` gives the copy another id. A malformed, ' +
          'truncated or unknown-format file is 400 `invalid_import` naming the `line`, and nothing is created; 409 ' +
          '`session_exists` when the id is taken. Leases do not move; a batch claimed on the source is pending in the ' +
          'copy; message and batch ids this server already holds (a copy beside its original) get new ones. A file that ' +
          'sends no byte for TRANSFER_IDLE_TIMEOUT_MS is 408 `request_timeout`; past MAX_TRANSFERS uploads, imports and ' +
          'exports at once, 503 `too_many_transfers` with Retry-After.',
        tags: ['history'],
        querystring: Type.Object({ id: Type.Optional(SessionId) }, { additionalProperties: false }),
        consumes: [NDJSON],
        response: { 201: Session, ...problems(400, 403, 409, 415, 503) },
      },
    },
    async (request, reply) => {
      if (!isMediaType(request.headers['content-type'], NDJSON)) {
        throw new UnsupportedMediaType(`an import is an export file: send it as ${NDJSON}`);
      }
      // The transaction holds a connection while the file comes: one of the MAX_TRANSFERS slots, and a file that stalls is cut.
      const release = services.transfers.take();
      return answerUnlessGone(reply, async () => {
        try {
          const id = await importSession(services, {
            body: clientBody(request.body as Readable, reply.raw, config.transferIdleTimeoutMs),
            id: request.query.id,
            // A record wraps what it carries in one object: two levels more than a request body may nest.
            parse: (line) => parseJsonBody(line, config.maxJsonDepth + 2),
            maxLineBytes: 2 * config.limits.maxBodyBytes,
            bytes,
            maxAttachmentBytes: config.attachments.maxBytes,
            limits: { ...config.limits, maxJsonDepth: config.maxJsonDepth, state: services.stateContext.stateLimits },
          });
          reply.header('location', `/v1/sessions/${encodeURIComponent(id)}`);
          return reply.code(201).send(toSessionView(await getSessionRecord(db, id)));
        } finally {
          release();
        }
      });
    },
  );
};
