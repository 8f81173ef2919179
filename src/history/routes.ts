import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SessionNotFound } from '../http/errors.js';
import { emptyBodyAsObject, problems, Seq, SessionParams } from '../http/schemas.js';
import type { Services } from '../services.js';
import { getSession } from '../sessions/repository.js';
import { HistoryStart } from './schemas.js';
import { policyOf, trimSession } from './trim.js';

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
};
