import { HEADER } from 'session-sync/client/protocol';
import { DS_REQUEST_HEADERS, DS_RESPONSE_HEADERS } from '../streams/routes.js';

/** What pages on the `CORS_ORIGINS` origins may send and read; @fastify/cors answers with it. */
export interface CorsRule {
  origin: string[];
  methods: string[];
  allowedHeaders: string[];
  exposedHeaders: string[];
  maxAge: number;
}

export function corsRule(origins: string[]): CorsRule {
  return {
    origin: origins,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: [
      'authorization',
      'content-type',
      HEADER.idempotencyKey,
      HEADER.leaseToken,
      HEADER.lastEventId,
      'if-none-match',
      // A ranged download of an attachment (a suffix range such as `bytes=-500` is not safelisted by browsers).
      'range',
      'if-range',
      // The Durable Streams face's (streams/routes.ts).
      ...DS_REQUEST_HEADERS,
    ],
    exposedHeaders: [
      'etag',
      HEADER.idempotentReplayed,
      'location',
      HEADER.retryAfter,
      'content-type',
      // What a ranged download says of its part, and the file name a download carries.
      'content-range',
      'accept-ranges',
      'content-disposition',
      ...DS_RESPONSE_HEADERS,
    ],
    maxAge: 600,
  };
}

/**
 * The headers @fastify/cors's onRequest hook gives the answer to a request
 * (not a preflight) from `origin`, for the answers that run no hook: those
 * fastify gives before routing. The plugin has no call for this, so it is
 * said again here; test/http/auth.test.ts holds both answers to the same.
 */
export function corsAnswerHeaders(rule: CorsRule, origin: string | undefined): Record<string, string> {
  return {
    // The answer depends on Origin whichever it is, as the plugin says on every answer.
    vary: 'Origin',
    ...(origin !== undefined && rule.origin.includes(origin) ? { 'access-control-allow-origin': origin } : {}),
    'access-control-expose-headers': rule.exposedHeaders.join(', '),
  };
}
