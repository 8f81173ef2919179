import { READ_ONLY_SNAPSHOT } from '../db/client.js';
import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Base64, SchemaVersion, StringEnum, Version } from '../shapes.js';
import { DeltaBody, PatchOp, SnapshotBody, WriteAck } from './view.js';
import { ifNoneMatchHits } from '../http/conditional.js';
import { problems, SessionParams, WorkerWriteHeaders } from '../http/schemas.js';
import { StateUnreadable } from '../errors.js';
import { replyWithOutcome, writeCaller } from '../http/write-request.js';
import { writeSession } from '../writes/session-write.js';
import { getSession, type SessionRow } from '../sessions/store.js';
import type { Services } from '../services.js';
import { snapshotAnswer, stateAtVersion } from '../history/time-travel.js';
import { checkSyncQuery, syncAnswer } from './sync.js';
import { appendDelta, putSnapshot } from './store.js';

const DeltaItem = Type.Object(
  {
    version: Version,
    patch: Type.Optional(Type.Array(PatchOp)),
    merge_patch: Type.Optional(Type.Unknown()),
    delta_base64: Type.Optional(Base64),
  },
  { description: 'A delta as it was posted, with the version it produced.' },
);

const SyncResponse = Type.Object(
  {
    mode: StringEnum(['new', 'resume', 'catch_up', 'snapshot']),
    version: Version,
    seq: Type.Integer({
      minimum: 0,
      description: 'Seq of the state event that made `version` (0 for `new`): a reader of the history skips `state.*` events up to it.',
    }),
    schema_version: Type.Optional(Type.Union([SchemaVersion, Type.Null()])),
    snapshot_version: Type.Optional(Version),
    snapshot: Type.Optional(Type.Unknown({ description: 'json encoding: the state document.' })),
    snapshot_base64: Type.Optional(Type.String({ description: 'binary encoding: the snapshot bytes.' })),
    deltas: Type.Optional(Type.Array(DeltaItem)),
  },
  { description: 'Exactly one mode: new, resume, catch_up or snapshot.' },
);

/**
 * The state's entity tag: its version and its incarnation. A session deleted
 * and created again under the same id starts again at version 0, so the
 * version alone would answer a poller of the old life with a stale 304. The
 * incarnation is a short digest of the internal key and creation time: opaque,
 * and no new column.
 */
function stateEtag(session: Pick<SessionRow, 'sid' | 'createdAt' | 'version'>): string {
  const incarnation = createHash('sha256').update(`${session.sid}:${session.createdAt.toISOString()}`).digest('hex').slice(0, 8);
  return `"${session.version}-${incarnation}"`;
}

export const stateRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config, stateContext, metrics } = services;
  /** A worker's state write; a failed one drops the document the cache holds for a version that may not have committed. */
  const stateWrite = (id: string) => ({
    sessionId: id,
    idempotencyTtlMs: config.idempotencyTtlMs,
    fenced: true,
    onFailed: () => stateContext.cache.evict(id),
  });

  app.addHook('onError', async (request, _reply, error) => {
    if (!(error instanceof StateUnreadable)) return;
    metrics.stateUnreadable.inc();
    // A 409 is not logged as an error, but this one needs an operator (or points at a bug).
    request.log.warn({ err: error }, 'stored json state cannot be rebuilt');
  });

  app.get(
    '/v1/sessions/:id/state',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Sync handshake: what a worker holding version `have` is missing',
        tags: ['state'],
        params: SessionParams,
        querystring: Type.Object(
          {
            have: Type.Optional(Version),
            schema_version: Type.Optional(SchemaVersion),
            at_version: Type.Optional(
              Type.Integer({
                minimum: 0,
                maximum: Number.MAX_SAFE_INTEGER,
                description:
                  'Time travel: the state as of this version, in `snapshot` mode (`have` is ignored); 410 `version_expired` once it is no longer kept.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: SyncResponse, 304: Type.Null(), ...problems(400, 404, 409, 410) },
      },
    },
    async (request, reply) => {
      const { have, schema_version: schemaVersion, at_version: atVersion } = request.query;
      if (atVersion !== undefined) {
        return db.begin(READ_ONLY_SNAPSHOT, async (tx) => snapshotAnswer(await stateAtVersion(tx, await getSession(tx, request.params.id), atVersion)));
      }
      const answer = await db.begin(READ_ONLY_SNAPSHOT, async (tx) => {
          const session = await getSession(tx, request.params.id);
          checkSyncQuery(session, { have, schemaVersion });
          const etag = stateEtag(session);
          if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return { etag, body: undefined };
          return { etag, body: await syncAnswer(tx, config.state, session, { have, schemaVersion }) };
        });
      reply.header('etag', answer.etag);
      // No payload at all: a 304 carries neither a body nor its Content-Type/-Length.
      return answer.body === undefined ? reply.code(304).send(undefined as never) : answer.body;
    },
  );

  app.put(
    '/v1/sessions/:id/state',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Replace the state with a snapshot',
        tags: ['state'],
        params: SessionParams,
        headers: WorkerWriteHeaders,
        body: SnapshotBody,
        response: { 200: WriteAck, ...problems(400, 404, 409, 413, 422) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const outcome = await writeSession(services, stateWrite(id), writeCaller(request), async (tx, session) => {
        const { ack, pending } = putSnapshot(tx, stateContext, session, request.body);
        return { status: 200, body: ack, pending };
      });
      if (!outcome.replayed) metrics.stateWrites.inc({ kind: 'snapshot' });
      return replyWithOutcome(reply, outcome);
    },
  );

  app.post(
    '/v1/sessions/:id/deltas',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Append a delta against base_version',
        tags: ['state'],
        params: SessionParams,
        headers: WorkerWriteHeaders,
        body: DeltaBody,
        response: { 200: WriteAck, ...problems(400, 404, 409, 413, 422) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const outcome = await writeSession(services, stateWrite(id), writeCaller(request), async (tx, session) => {
        const { ack, pending } = await appendDelta(tx, stateContext, session, request.body);
        return { status: 200, body: ack, pending };
      });
      if (!outcome.replayed) metrics.stateWrites.inc({ kind: 'delta' });
      return replyWithOutcome(reply, outcome);
    },
  );
};
