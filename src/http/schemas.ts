import { type TProperties, type TSchema, Type } from '@sinclair/typebox';
import { HEADER, PROBLEM_CODES, type ProblemCode } from 'session-sync/client/protocol';
import { SessionId } from '../shapes.js';

export const SessionParams = Type.Object({ id: SessionId }, { additionalProperties: false });

/** Path parameters of a route below /v1/sessions/{id}/ that names one more thing (a claim, a batch, a kind). */
export function sessionParamsWith<T extends TProperties>(more: T) {
  return Type.Object({ id: SessionId, ...more }, { additionalProperties: false });
}

export const IdempotencyHeaders = Type.Object({
  [HEADER.idempotencyKey]: Type.Optional(
    Type.String({
      pattern: '^[\\x21-\\x7E]{1,255}$',
      'x-pattern-message': '1-255 visible ASCII characters (no spaces)',
      description: 'Makes a retry safe: a repeat with the same key and request replays the first response.',
    }),
  ),
});

const LeaseTokenHeader = Type.String({
  pattern: '^[\\x21-\\x7E]{1,255}$',
  'x-pattern-message': 'the token from POST .../lease: 1-255 visible ASCII characters',
  description: 'The token from POST .../lease; required while an unexpired lease exists.',
});

/** Headers of a worker's write: idempotency plus the lease fence. */
export const WorkerWriteHeaders = Type.Object({
  [HEADER.idempotencyKey]: IdempotencyHeaders.properties[HEADER.idempotencyKey],
  [HEADER.leaseToken]: Type.Optional(LeaseTokenHeader),
});

/** Headers of a lease holder's own lease operations (renew, release). */
export const LeaseHolderHeaders = Type.Object({
  [HEADER.idempotencyKey]: IdempotencyHeaders.properties[HEADER.idempotencyKey],
  [HEADER.leaseToken]: LeaseTokenHeader,
});

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    // An enum in the OpenAPI document, so a client's generated types know every code.
    code: Type.Unsafe<ProblemCode>({ type: 'string', enum: [...PROBLEM_CODES], description: 'Stable, machine-readable error code.' }),
    instance: Type.Optional(Type.String()),
  },
  { additionalProperties: true, description: 'RFC 9457 problem details (application/problem+json).' },
);

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: the problem names the offending field.',
  404: 'Not found.',
  409: 'Conflict with the current state (see `code`).',
  413: 'Over a configured size limit; nothing was stored.',
  415: 'Body is not application/json.',
  401: 'Missing, malformed, badly signed or expired token (WWW-Authenticate: Bearer).',
  403: 'The token does not grant this.',
  410: 'History no longer kept (retention); the problem says where it starts (`history_start`).',
  422: 'Well-formed but cannot be applied (see `code`).',
  503: 'Database unavailable; retry after the Retry-After delay.',
};

/** Response map entries for the problem statuses a route can answer with, as application/problem+json. */
export function problems(...statuses: number[]): Record<number, { description: string; content: Record<string, { schema: TSchema }> }> {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: PROBLEM_DESCRIPTIONS[status] ?? 'Problem details.', content: { 'application/problem+json': { schema: Problem } } },
    ]),
  );
}

/**
 * For routes whose body is optional as a whole: no body reads as `{}`, so
 * `curl -X POST url` without a body works and the schema still checks fields.
 */
export async function emptyBodyAsObject(request: { body: unknown }): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {};
}
