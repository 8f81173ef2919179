import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { checkClientType, EventType } from '../events/types.js';
import { countWithin, jsonWithin } from '../limits.js';
import { problems, SessionParams, WorkerWriteHeaders } from '../http/schemas.js';
import { leaseTokenOf, replyWithOutcome, writeCaller } from '../http/write-request.js';
import { Version } from '../shapes.js';
import { Kind, Role } from '../messages/view.js';
import { writeSession } from '../writes/session-write.js';
import type { Services } from '../services.js';
import { AttachmentId } from '../attachments/view.js';
import { InvalidRequest } from '../errors.js';
import type { Tx } from '../db/client.js';
import { asPartSync, commitTurn, lookUpTurn, type TurnLookup, turnHash } from './commit.js';
import type { TurnInput } from './input.js';
import { checkTurnSummaryFits } from './summary.js';
import { TurnAnswer, TurnId, TurnState, TurnUsage } from './view.js';

const ClaimId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$', 'x-pattern-message': 'a claim_id as the server returned it' });

const TurnBody = Type.Object(
  {
    turn_id: TurnId,
    base_version: Type.Optional(Version),
    state: Type.Optional(TurnState),
    events: Type.Optional(Type.Array(Type.Object({ type: EventType, data: Type.Unknown() }, { additionalProperties: false }))),
    messages: Type.Optional(
      Type.Array(Type.Object({ role: Role, kind: Type.Optional(Kind), content: Type.Unknown() }, { additionalProperties: false })),
    ),
    complete_claims: Type.Optional(Type.Array(ClaimId)),
    attachments: Type.Optional(Type.Array(AttachmentId)),
    usage: Type.Optional(Type.Array(TurnUsage)),
    release_lease: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const turnRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { config, stateContext } = services;
  const { maxBatchEvents, maxEventBytes } = config.limits;

  app.post(
    '/v1/sessions/:id/turns',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Commit one agent turn atomically: state, events, messages, claims, attachments, usage, lease release',
        description:
          'All parts commit together or none does, in this order: the state change (CAS on base_version), the events, the ' +
          'messages, the claims completed, the attachments committed, the usage, the lease released; then one ' +
          '`turn.committed` event. The same turn_id with the same body replays the answer (Idempotent-Replayed: true), ' +
          'even after the turn released the lease; with another body it is 409 `turn_conflict`. A refused part refuses ' +
          'the whole turn with that part\'s error plus `part` and, for list parts, `index`. Its lists (events, messages, ' +
          'complete_claims, attachments, usage) hold at most MAX_BATCH_EVENTS items together, a claim or attachment is named ' +
          'once, and its turn.committed event must fit MAX_EVENT_BYTES (413 otherwise).',
        tags: ['turns'],
        params: SessionParams,
        headers: WorkerWriteHeaders,
        body: TurnBody,
        response: { 201: TurnAnswer, ...problems(400, 404, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const events = body.events ?? [];
      const messages = body.messages ?? [];
      const claims = body.complete_claims ?? [];
      const attachments = body.attachments ?? [];
      const usage = body.usage ?? [];
      // One turn is at most one batch: the work it does under the session lock grows with its lists.
      countWithin(
        events.length + messages.length + claims.length + attachments.length + usage.length,
        maxBatchEvents,
        'items across events, messages, complete_claims, attachments and usage',
      );
      refuseRepeats('complete_claims', claims);
      refuseRepeats('attachments', attachments);
      const input: TurnInput = {
        turn_id: body.turn_id,
        base_version: body.base_version,
        state: body.state,
        events: events.map((event, index) =>
          asPartSync('events', index, () => {
            checkClientType(event.type, index);
            return { type: event.type, dataJson: jsonWithin(event.data, maxEventBytes, `events[${index}].data`, 'MAX_EVENT_BYTES').json };
          }),
        ),
        messages: messages.map((message, index) =>
          asPartSync('messages', index, () => ({
            role: message.role,
            kind: message.kind,
            contentJson: jsonWithin(message.content, maxEventBytes, `messages[${index}].content`, 'MAX_EVENT_BYTES').json,
          })),
        ),
        complete_claims: claims,
        attachments,
        usage,
        release_lease: body.release_lease === true,
        hash: turnHash(body),
      };
      checkTurnSummaryFits(input, maxEventBytes);
      const id = request.params.id;
      // Stryker disable next-line BooleanLiteral: the write sets it before it is read; when the write does not run (an Idempotency-Key replay), the outcome is replayed either way
      let replayedTurn = false;
      // Not `fenced` here: commitTurn fences after looking up the turn, so a retry finds its answer. A failed
      // turn drops the document the state cache holds for a version that may not have committed.
      let committed!: TurnLookup;
      const write = {
        sessionId: id,
        idempotencyTtlMs: config.idempotencyTtlMs,
        behindLock: (tx: Tx) => void (committed = lookUpTurn(tx, id, input)),
        onFailed: () => stateContext.cache.evict(id),
      };
      const outcome = await writeSession(services, write, writeCaller(request), async (tx, session) => {
        const result = await commitTurn(tx, stateContext, session, input, leaseTokenOf(request), committed);
        replayedTurn = result.replayed;
        return { status: result.status, body: result.body, pending: result.pending };
      });
      return replyWithOutcome(reply, { ...outcome, replayed: outcome.replayed || replayedTurn });
    },
  );
};

/** Completing a claim or committing an attachment twice in one turn is a mistake in the turn: said before the lock. */
function refuseRepeats(part: 'complete_claims' | 'attachments', ids: string[]): void {
  const firstIndex = new Map<string, number>();
  for (const [index, id] of ids.entries()) {
    const first = firstIndex.get(id);
    if (first !== undefined) {
      asPartSync(part, index, () => {
        throw new InvalidRequest(`${part}[${index}] is ${part}[${first}] again; name each once`, [
          { in: 'body', field: `/${part}/${index}`, message: `repeats ${part}[${first}]` },
        ]);
      });
    }
    firstIndex.set(id, index);
  }
}
