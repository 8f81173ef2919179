import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PROBLEM } from 'session-sync/client/protocol';
import { ApiError } from '../errors.js';
import { mayRead, mayWrite, OPEN_ACCESS, type Principal } from './grants.js';
import { TokenRejected, verifyToken } from './tokens.js';

/**
 * What a route needs, declared in its `config.access`:
 * read / write: that grant on the session in the `:id` path parameter;
 * create: write on the `id` in the body, or admin when the server picks it,
 *   and read on the `parent_id` if one is named;
 * list: any valid token (the handler shows only what the caller may read);
 * admin: an admin token; public: nothing.
 */
export type Access = 'public' | 'read' | 'write' | 'create' | 'list' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /** EventSource cannot send headers: this route also takes `?access_token=`. */
    sse?: boolean;
  }
  interface FastifyRequest {
    principal: Principal;
  }
}

export class Unauthorized extends ApiError {
  readonly status = 401;
  readonly code = PROBLEM.unauthorized;
  readonly title = 'Unauthorized';
  constructor(detail: string) {
    super(detail);
    this.headers['www-authenticate'] = `Bearer realm="session-sync", error="invalid_token"`;
  }
}

export class Forbidden extends ApiError {
  readonly status = 403;
  readonly code = PROBLEM.forbidden;
  readonly title = 'Forbidden';
}

function accessOf(request: FastifyRequest): Access {
  if (request.is404) return 'public';
  // A /v1 route that forgot to declare its access is admin-only: closed by default. Judged by the route, not the
  // request target, which may be in absolute form (`GET http://host/v1/...`, RFC 9112 §3.2.2) and is routed all the same.
  return request.routeOptions.config.access ?? (request.routeOptions.url?.startsWith('/v1/') ? 'admin' : 'public');
}

function tokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new Unauthorized('the Authorization header must be "Bearer <token>"');
    return match[1];
  }
  if (request.routeOptions.config.sse) {
    const token = (request.query as Record<string, unknown> | undefined)?.access_token;
    if (typeof token === 'string' && token !== '') return token;
  }
  return undefined;
}

export function registerAuth(app: FastifyInstance, secret: string | undefined): void {
  // Stryker disable next-line CallExpression,StringLiteral: only declares the property's shape up front; the onRequest hook below sets request.principal on every request (404s included) before anything reads it
  app.decorateRequest('principal', null as unknown as Principal);

  app.addHook('onRequest', async (request) => {
    const access = accessOf(request);
    if (secret === undefined || access === 'public') {
      request.principal = OPEN_ACCESS;
      return;
    }
    const token = tokenOf(request);
    if (token === undefined) {
      throw new Unauthorized(`this route needs a token: send "Authorization: Bearer <token>"${request.routeOptions.config.sse ? ' or ?access_token=' : ''}`);
    }
    try {
      request.principal = await verifyToken(secret, token);
    } catch (error) {
      if (error instanceof TokenRejected) throw new Unauthorized(error.message);
      throw error;
    }
  });

  app.addHook('preValidation', async (request) => {
    const principal = request.principal;
    const sessionId = (request.params as Record<string, unknown> | undefined)?.id;
    const deny = (detail: string) => new Forbidden(detail);
    switch (accessOf(request)) {
      case 'public':
      case 'list':
        return;
      case 'read':
        if (typeof sessionId === 'string' && mayRead(principal, sessionId)) return;
        throw deny(`this token may not read session "${String(sessionId)}"`);
      case 'write':
        if (typeof sessionId === 'string' && mayWrite(principal, sessionId)) return;
        throw deny(`this token may not write session "${String(sessionId)}"`);
      case 'create': {
        const body = request.body as Record<string, unknown> | undefined;
        const id = body?.id;
        if (!(typeof id === 'string' ? mayWrite(principal, id) : principal.admin)) {
          throw deny(typeof id === 'string' ? `this token may not create session "${id}"` : 'only an admin token may create a session without an id');
        }
        // Naming a parent reads it (404 when it is missing): decided before any
        // lookup, so a parent the token may not read is a 403 whether it exists or not.
        const parent = body?.parent_id;
        if (typeof parent === 'string' && !mayRead(principal, parent)) {
          throw deny(`this token may not read session "${parent}", so it may not name it as parent_id`);
        }
        return;
      }
      case 'admin':
        if (principal.admin) return;
        throw deny('this route needs an admin token');
    }
  });
}
