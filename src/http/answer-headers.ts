import type { FastifyInstance, FastifyRequest } from 'fastify';
import { streamPathOfUrl } from './request-target.js';
import { STREAM_FACE_HEADERS } from '../streams/routes.js';
import { type CorsRule, corsAnswerHeaders } from './cors.js';

/**
 * On every answer: a browser never takes one for another type than it says
 * (a problem's detail can quote the request).
 */
export const NOSNIFF = { 'x-content-type-options': 'nosniff' } as const;

/** The security headers of the answer to `url`: nosniff, and the Durable Streams face's under its paths. */
export function securityHeaders(url: string): Record<string, string> {
  return streamPathOfUrl(url) === undefined ? { ...NOSNIFF } : { ...NOSNIFF, ...STREAM_FACE_HEADERS };
}

/**
 * Every answer that runs hooks gets them: routed ones, 404 and 405, and the
 * refusals hooks give. Set on the request rather than at send, so answers
 * written past fastify's send (streams taken over, the body timeout's 408)
 * take them from the reply's headers as they take the CORS ones.
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(securityHeaders(request.url));
  });
}

/**
 * What the hooks (registerSecurityHeaders and @fastify/cors's) set on the
 * answer to `request`, for the answers fastify gives before routing, which
 * run none: a refusal a cross-origin page cannot read is a network error to it.
 */
export function headersWithoutHooks(request: FastifyRequest, cors: CorsRule | undefined): Record<string, string> {
  return { ...(cors === undefined ? {} : corsAnswerHeaders(cors, request.headers.origin)), ...securityHeaders(request.url) };
}
