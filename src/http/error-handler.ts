import { type OutgoingHttpHeaders, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Metrics } from '../metrics/metrics.js';
import { PgError, isDatabaseUnavailable, pgErrorOf } from '../db/pg-errors.js';
import { AllowedMethods } from './allowed-methods.js';
import { pathOfTarget, streamPathOfUrl } from './request-target.js';
import { notAMediaType, parseMediaType } from '../media-type.js';
import { undecodableStreamPath } from '../streams/paths.js';
import {
  ApiError,
  DatabaseUnavailable,
  type FieldError,
  HeadersTooLarge,
  InternalError,
  InvalidRequest,
  MethodNotAllowed,
  PayloadTooLarge,
  RequestTimeout,
  RouteNotFound,
  UnsupportedMediaType,
} from '../errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
  parentSchema?: { 'x-pattern-message'?: string };
}

function describeValidation(error: FastifyError): InvalidRequest {
  // Stryker disable next-line StringLiteral: fastify names the part it validated (body, querystring, params, headers) on every validation error
  const where = error.validationContext ?? 'body';
  const errors: FieldError[] = (error.validation as AjvError[] | undefined ?? []).map((e) => {
    let field = e.instancePath;
    // Stryker disable next-line StringLiteral: Ajv gives every error a message (its `messages` option is on); the words only guard the type
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'required') {
      field += `/${String(e.params.missingProperty)}`;
      message = 'is required';
    }
    if (e.keyword === 'additionalProperties') {
      field += `/${String(e.params.additionalProperty)}`;
      message = 'is not a known field';
    }
    if (e.keyword === 'pattern') {
      const words = e.parentSchema?.['x-pattern-message'];
      // Stryker disable next-line StringLiteral: every pattern of a route has its words (test/unit/openapi.test.ts); these guard a new one without
      message = words ? `must be ${words}` : 'has characters or a form that is not allowed here';
    }
    if (e.keyword === 'enum' && Array.isArray(e.params.allowedValues)) {
      message = `must be one of ${e.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    return { in: where, field, message };
  });
  const first = errors[0];
  const detail = first
    ? `${where}${first.field ? ` field ${first.field.slice(1).replaceAll('/', '.')}` : ''} ${first.message}`
    : // Stryker disable next-line StringLiteral: fastify raises a validation error only with Ajv's errors in it
      `${where} is invalid`;
  return new InvalidRequest(detail, errors);
}

/**
 * A route that needs a body got none (no bytes, whatever the Content-Type):
 * said in those words, not as a value of the wrong type. fastify validates a
 * missing body as null, so only the request tells it from a JSON `null`.
 */
function missingBody(error: FastifyError, request: FastifyRequest): InvalidRequest | undefined {
  if (!error.validation || error.validationContext !== 'body' || request.body !== undefined) return undefined;
  return bodyRequired('a JSON object');
}

/** The refusal of a request that came with no body where its route needs one; `send` says what it takes. */
export function bodyRequired(send: string): InvalidRequest {
  return new InvalidRequest(`body is required: send ${send}`, [{ in: 'body', field: '', message: 'is required' }]);
}

/** Maps anything thrown in a request to a problem document; the single place that does. */
export function toApiError(error: FastifyError | Error, bodyLimit?: number, contentType?: string): ApiError {
  if (error instanceof ApiError) return error;
  const fe = error as FastifyError;
  if (fe.validation) return describeValidation(fe);
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return bodyLimit === undefined
        ? new PayloadTooLarge('request body is larger than the configured limit (MAX_BODY_BYTES)', {})
        : new PayloadTooLarge(`request body is larger than ${bodyLimit} bytes (MAX_BODY_BYTES)`, { limit_bytes: bodyLimit });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      // Routes that take any type (attachment uploads) refuse only a header that is not a media type at all.
      return contentType === undefined || parseMediaType(contentType) !== undefined
        ? new UnsupportedMediaType('send the body as application/json')
        : notAMediaType(contentType);
    // (No FST_ERR_CTP_*_JSON_BODY: JSON bodies are parsed by parseJsonBody, which refuses in its own words.)
  }
  if (isDatabaseUnavailable(error)) return new DatabaseUnavailable();
  const pg = pgErrorOf(error);
  if (pg) {
    switch (pg.code) {
      case PgError.UNTRANSLATABLE_CHARACTER:
      case PgError.CHARACTER_NOT_IN_REPERTOIRE:
        return new InvalidRequest(`a string cannot be stored: ${pg.message} (\\u0000 and lone surrogates are not allowed)`);
      case PgError.STATEMENT_TOO_COMPLEX:
        return new InvalidRequest('JSON is nested too deeply to store');
      case PgError.NUMERIC_VALUE_OUT_OF_RANGE:
      case PgError.INVALID_TEXT_REPRESENTATION:
        return new InvalidRequest(`a value cannot be stored: ${pg.message}`);
    }
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new InvalidRequest(fe.message);
  }
  return new InternalError('the server failed to handle this request; it has been logged');
}

/** `target`: the request target as sent, in either form; `instance` is its path. */
function problemDocument(problem: ApiError, target: string) {
  return {
    // Extensions first: they can never override the standard members.
    ...problem.extra,
    type: `urn:session-sync:problem:${problem.code}`,
    title: problem.title,
    status: problem.status,
    detail: problem.message,
    code: problem.code,
    instance: pathOfTarget(target),
  };
}

export function replyWithProblem(reply: FastifyReply, request: FastifyRequest, problem: ApiError): FastifyReply {
  return reply.code(problem.status).headers(problem.headers).type(PROBLEM_CONTENT_TYPE).send(problemDocument(problem, request.url));
}

/**
 * For answers written outside fastify's lifecycle (a timeout while the body
 * is still being read): with the headers the hooks set on the reply (CORS,
 * nosniff), which only fastify's send would otherwise write.
 */
export function writeRawProblem(reply: FastifyReply, url: string, problem: ApiError): void {
  const body = JSON.stringify(problemDocument(problem, url));
  const set: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) set[name] = value;
  reply.raw.writeHead(problem.status, {
    ...set,
    ...problem.headers,
    'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`,
    'content-length': Buffer.byteLength(body),
  });
  reply.raw.end(body);
}

/** How long a refused connection may still take its answer before it is destroyed. */
const CLIENT_ERROR_LINGER_MS = 1000;

/**
 * A request Node's HTTP parser refuses before fastify sees it (a header value
 * with a control character, a malformed or doubled Content-Length, a raw
 * space or non-ASCII byte in the path, headers past Node's size limit, Node's
 * backstop request timeout) is answered with a problem document like every
 * other refusal, instead of fastify's default JSON; then the socket closes,
 * since what follows on it cannot be parsed. It has no CORS headers: the
 * request's headers were never parsed, so its Origin is unknown (Node hands
 * over only the last bytes read). Of these refusals a browser meets only
 * headers past the limit, and sees them as a network error.
 */
export function clientErrorHandler(requestTimeoutMs: number) {
  return (error: Error & { code?: string; reason?: string }, socket: Duplex): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const problem =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? new HeadersTooLarge()
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new RequestTimeout(requestTimeoutMs)
          : // Stryker disable next-line StringLiteral: Node's parser errors all carry a code (HPE_*), so the last word is never reached
            new InvalidRequest(`the request is not valid HTTP/1.1 (${error.reason ?? error.code ?? 'unreadable'}); nothing was done`);
    if (socket.writable) {
      const { instance: _none, ...document } = problemDocument(problem, '');
      const body = JSON.stringify(document);
      const headers = {
        ...problem.headers,
        'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`,
        'content-length': String(Buffer.byteLength(body)),
        'x-content-type-options': 'nosniff',
        connection: 'close',
      };
      const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
      socket.write(`HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n${head}\r\n${body}`);
    }
    // A peer still sending gets a second to take the answer before the socket goes (closed at once, it could be reset unread).
    socket.end();
    setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS).unref();
  };
}

/**
 * Errors fastify raises before routing (bad URL encoding, oversized params):
 * problem+json too. No hook runs for them, so `headers` gives what the hooks
 * would have set (CORS, nosniff).
 */
export function frameworkErrorHandler(headers: (request: FastifyRequest) => Record<string, string>) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    void replyWithProblem(reply.headers(headers(request)), request, beforeRouting(error, request.url));
  };
}

function beforeRouting(error: FastifyError, url: string): ApiError {
  // A %-escape the router cannot decode in a Durable Streams path: the face's refusal of that path, as for any other %.
  if (error.code === 'FST_ERR_BAD_URL') {
    const streamPath = streamPathOfUrl(url);
    if (streamPath !== undefined) return undecodableStreamPath(streamPath);
  }
  return toApiError(error);
}

export function registerErrorHandlers(app: FastifyInstance, metrics: Metrics): void {
  const allowed = new AllowedMethods();
  app.addHook('onRoute', (route) => {
    // A route on every path (@fastify/cors's OPTIONS * answering preflights) says nothing about which paths exist:
    // counted, it made every unknown path a 405 allowing only OPTIONS.
    if (route.url !== '*') allowed.add(route.method, route.url);
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem =
      missingBody(error, request) ?? toApiError(error, request.routeOptions.bodyLimit, request.headers['content-type']);
    if (problem.status === 409 && request.method !== 'GET') metrics.conflicts.inc({ code: problem.code });
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    // The detail can quote the request (a JSON parse error quotes the body): the client has it, the log gets the code.
    else request.log.debug({ status: problem.status, code: problem.code }, 'request refused');
    // fastify closes the connection after any refusal of its body parser (a 413 over MAX_BODY_BYTES, JSON that does
    // not parse), as the client may still be sending. The rest of the body is read before the answer goes
    // (unread-body.ts), which says Connection: close only when it could not be: read to its end, the connection is
    // fit for the next request (docs/API.md). fastify's is the only `connection` header set before this handler.
    reply.removeHeader('connection');
    return replyWithProblem(reply, request, problem);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = pathOfTarget(request.url);
    const methods = allowed.for(path);
    return replyWithProblem(
      reply,
      request,
      methods.length > 0 ? new MethodNotAllowed(request.method, path, methods) : new RouteNotFound(`no route for ${request.method} ${path}`),
    );
  });
}
