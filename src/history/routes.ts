import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { uuidv7 } from 'uuidv7';
import { mayWrite } from '../auth/grants.js';
import { Forbidden } from '../auth/plugin.js';
import { SessionNotFound } from '../errors.js';
import { emptyBodyAsObject, IdempotencyHeaders, problems, SessionParams } from '../http/schemas.js';
import type { Services } from '../services.js';
import { Seq, SessionId, Version } from '../shapes.js';
import { getSession } from '../sessions/repository.js';
import { Metadata, metadataWithin, Session, toSessionView } from '../sessions/view.js';
import { forkSession } from './fork.js';
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
      const row = await forkSession(db, { sourceId: request.params.id, id, atVersion: body.at_version, metadata });
      reply.header('location', `/v1/sessions/${encodeURIComponent(id)}`);
      return reply.code(201).send(toSessionView(row));
    },
  );
};
