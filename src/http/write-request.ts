import type { FastifyReply, FastifyRequest } from 'fastify';
import { requestHash } from '../idempotency/keys.js';
import { pathOfTarget } from './request-target.js';
import type { WriteCaller, WriteOutcome } from '../writes/session-write.js';
import { HEADER } from 'session-sync/client/protocol';

/**
 * The caller of a write as the domain sees it (`writeSession`): the
 * Idempotency-Key (already validated by the route schema) with the token's
 * subject and a fingerprint of the request, and the lease token it writes under.
 */
export function writeCaller(request: FastifyRequest): WriteCaller {
  const key = request.headers[HEADER.idempotencyKey];
  const leaseToken = leaseTokenOf(request);
  return {
    ...(leaseToken === undefined ? {} : { leaseToken }),
    ...(typeof key === 'string'
      ? {
          idempotency: {
            key,
            callerScope: request.principal.caller,
            fingerprint: requestHash(request.method, pathOfTarget(request.url), request.body),
          },
        }
      : {}),
  };
}

export function leaseTokenOf(request: FastifyRequest): string | undefined {
  const token = request.headers[HEADER.leaseToken];
  return typeof token === 'string' ? token : undefined;
}

/** Answers with a write's outcome, marking a replayed Idempotency-Key. */
export function replyWithOutcome(reply: FastifyReply, outcome: WriteOutcome): FastifyReply {
  if (outcome.replayed) reply.header(HEADER.idempotentReplayed, 'true');
  reply.code(outcome.status);
  return outcome.status === 204 ? reply.send() : reply.send(outcome.body);
}
