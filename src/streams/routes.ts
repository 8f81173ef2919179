import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { DS_HEADER, DS_LIVE, DS_PARAM, DS_SSE_BASE64 } from 'session-sync/client/protocol';
import { InvalidRequest, SessionDeleted, SessionNotFound, TooManyStreams } from '../errors.js';
import { pageBytesFor } from '../events/read.js';
import { ifNoneMatchHits } from '../http/conditional.js';
import { parseJsonBody } from '../http/json-body.js';
import type { Services } from '../services.js';
import { acquireWhileConnected, releaseWhenSent } from '../stream/budget.js';
import { onResponseGone } from '../stream/connection-close.js';
import { SseWriter } from '../stream/sse.js';
import { responseCursor } from './cursor.js';
import { type AdmittedSse, admitSse, ClientGone, type HeldPage, heldBytes, type LiveContext, longPoll, runSse, SSE_LIFETIME_MS } from './live.js';
import { SharedReads } from './shared-reads.js';
import { bodyOf, contentTypeKey, DEFAULT_CONTENT_TYPE } from './messages.js';
import { offsetOf, parseOffset, type ReadFrom } from './offsets.js';
import { sseDataEncodingFor } from './sse-frames.js';
import { sessionIdOf, STREAM_PREFIX } from './paths.js';
import { streamPathOfUrl } from '../http/request-target.js';
import { parseProducerHeaders, type ProducerClaim, producerResponseHeaders, producerStatus } from './producers.js';
import { parseStreamExpiry } from './expiry.js';
import { expireStream, expiryColumns, expiryHeaders, StreamExpired, type StreamExpiryConfig } from './stream-expiry.js';
import { appendStream, createStream, type StreamHead, streamHead } from './store.js';
import { deleteStream, forkStream } from './fork-store.js';
import { parseForkHeaders } from './fork-offsets.js';
import { isSoftDeleted } from '../sessions/store.js';
import { mayRead } from '../auth/grants.js';
import { Forbidden } from '../auth/plugin.js';

/*
 * The Durable Streams face (PROTOCOL.md of durable-streams/durable-streams):
 * `/v1/stream/<path>` is the session `sessionIdOf(path)`. Every answer is the
 * protocol's: its statuses and headers; refusals are problem documents.
 * Producers: producer-append.ts; forks: fork-store.ts; expiry: stream-expiry.ts.
 */

/** The protocol's headers a browser may send and read (CORS, `http/cors.ts`). */
export const DS_REQUEST_HEADERS = [
  DS_HEADER.seq,
  DS_HEADER.ttl,
  DS_HEADER.expiresAt,
  DS_HEADER.closed,
  DS_HEADER.forkedFrom,
  DS_HEADER.forkOffset,
  DS_HEADER.forkSubOffset,
  DS_HEADER.producerId,
  DS_HEADER.producerEpoch,
  DS_HEADER.producerSeq,
];
export const DS_RESPONSE_HEADERS = [
  DS_HEADER.nextOffset,
  DS_HEADER.cursor,
  DS_HEADER.upToDate,
  DS_HEADER.closed,
  DS_HEADER.sseDataEncoding,
  // HEAD's expiry, as configured.
  DS_HEADER.ttl,
  DS_HEADER.expiresAt,
  DS_HEADER.producerEpoch,
  DS_HEADER.producerSeq,
  DS_HEADER.producerExpectedSeq,
  DS_HEADER.producerReceivedSeq,
];

/**
 * On every answer under the face, its refusals included: a stream's bytes
 * are whatever its writers sent, never to be sniffed as another type, and
 * any origin may load them (the protocol's conformance suite checks both).
 * Set by path for every answer, routed or not (http/answer-headers.ts).
 */
export const STREAM_FACE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'cross-origin',
} as const;

/** A catch-up page that is not the tail never changes: caches may keep it a while. */
const HISTORY_CACHE_CONTROL = 'private, max-age=60, stale-while-revalidate=300';
/** Reconnect hint of an SSE read (the `retry:` field). */
const SSE_RETRY_MS = 1000;

declare module 'fastify' {
  interface FastifyRequest {
    /** The session a Durable Streams path names (set before the grant is checked). */
    streamSessionId?: string;
    /** That path, as sent (`streamPathOfUrl`). */
    streamPath?: string;
  }
}

export const streamsFaceRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  const { config } = services;
  const writer = services;
  const settings = {
    idempotencyTtlMs: config.idempotencyTtlMs,
    maxEventBytes: config.limits.maxEventBytes,
    maxBatchEvents: config.limits.maxBatchEvents,
    parseJson: (raw: Buffer) => parseJsonBody(raw, config.maxJsonDepth),
  };
  const pageBytes = pageBytesFor(config.stream.eventsPageBytes, config.limits.maxEventBytes);

  // Every body is bytes here: the stream's Content-Type, not the request's, decides what they are.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.addHook('onRequest', async (request) => {
    // The path as sent, undecoded: a %-escape is refused rather than read as another path.
    // Stryker disable next-line StringLiteral: unreachable; these routes are under STREAM_PREFIX, which streamPathOfUrl finds as the router does
    const path = streamPathOfUrl(request.url) ?? '';
    const id = sessionIdOf(path);
    request.streamPath = path;
    request.streamSessionId = id;
    // The grant check (auth/plugin.ts) reads the session from `params.id`, as on every native route.
    (request.params as Record<string, unknown>).id = id;
  });
  // A stream found expired answers 404 and is deleted now rather than at the next expiry sweep (writes delete it themselves).
  app.addHook('onError', async (request, _reply, error) => {
    if (!(error instanceof StreamExpired)) return;
    try {
      await expireStream(services.db, sessionOf(request));
    } catch (err) {
      // The 404 stands; the expiry sweep deletes it later.
      request.log.warn({ err, session: sessionOf(request) }, 'deleting an expired stream failed');
    }
  });
  const sessionOf = (request: FastifyRequest) => request.streamSessionId as string;

  // A soft-deleted stream (a forked source deleted, kept for its forks) is not found by the session
  // statements: on this face it is 410 rather than 404 (PROTOCOL §4.2). Only the 404 path pays the look.
  app.setErrorHandler(async (error, request) => {
    const id = request.streamSessionId;
    // Stryker disable next-line ConditionalExpression: equivalent; a SessionNotFound always names its session, so no undefined id matches it (the check is for the type)
    if (error instanceof SessionNotFound && id !== undefined && error.extra.session_id === id && (await isSoftDeleted(services.db, id))) {
      throw new SessionDeleted(id);
    }
    throw error;
  });

  /** The fork a PUT asks for (PROTOCOL §4.2), undefined for none; its source readable by the caller. */
  const forkOf = (request: FastifyRequest) => {
    const raw = (name: string) => singleHeader(request, name);
    const parsed = parseForkHeaders({ forkedFrom: raw(DS_HEADER.forkedFrom), offset: raw(DS_HEADER.forkOffset), subOffset: raw(DS_HEADER.forkSubOffset) });
    if (parsed.kind === 'none') return undefined;
    if (parsed.kind === 'invalid') throw new InvalidRequest(parsed.detail);
    if (!parsed.source.startsWith(STREAM_PREFIX)) {
      throw new InvalidRequest(`Stream-Forked-From must be the source stream's path on this server, ${STREAM_PREFIX}<path>`, [
        { in: 'headers', field: `/${DS_HEADER.forkedFrom}`, message: `does not start with ${STREAM_PREFIX}` },
      ]);
    }
    const sourceId = sessionIdOf(parsed.source.slice(STREAM_PREFIX.length));
    if (!mayRead(request.principal, sourceId)) throw new Forbidden(`this token may not read session "${sourceId}", the fork's source`);
    let offset: ReadFrom | null = null;
    if (parsed.offset !== null) {
      try {
        offset = parseOffset(parsed.offset);
      } catch {
        throw new InvalidRequest(`Stream-Fork-Offset ${JSON.stringify(parsed.offset)} is not an offset of the source`, [
          { in: 'headers', field: `/${DS_HEADER.forkOffset}`, message: 'is not an offset' },
        ]);
      }
    }
    return { sourceId, offset, subOffset: parsed.subOffset };
  };
  const bodyBytes = (request: FastifyRequest) => (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));

  app.put(`${STREAM_PREFIX}*`, { config: { access: 'write' }, schema: { hide: true } }, async (request, reply) => {
    const expiry = expiryOfRequest(request);
    const header = request.headers['content-type'];
    const sent = header === undefined || header.trim() === '' ? undefined : contentTypeKey(header);
    const fork = forkOf(request);
    const { created, head } = fork
      ? await forkStream(
          writer,
          { sessionId: sessionOf(request), ...fork, contentType: sent, closed: closedHeader(request), body: bodyBytes(request), expiry },
          settings,
        )
      : await createStream(
          writer,
          { sessionId: sessionOf(request), contentType: sent ?? DEFAULT_CONTENT_TYPE, closed: closedHeader(request), body: bodyBytes(request), expiry },
          settings,
        );
    streamHeaders(reply, head);
    if (created) reply.header('location', `${request.protocol}://${request.host}${STREAM_PREFIX}${request.streamPath}`);
    return reply.code(created ? 201 : 200).send();
  });

  app.post(`${STREAM_PREFIX}*`, { config: { access: 'write' }, schema: { hide: true } }, async (request, reply) => {
    const body = bodyBytes(request);
    const close = closedHeader(request);
    const contentType = request.headers['content-type'];
    if (body.length === 0 && !close) {
      throw new InvalidRequest('the body is empty: send the messages to append, or Stream-Closed: true to close', [
        { in: 'body', field: '', message: 'is empty' },
      ]);
    }
    if (body.length > 0 && (contentType === undefined || contentType.trim() === '')) {
      throw new InvalidRequest('Content-Type is required with a body: the stream\'s own', [
        { in: 'headers', field: '/content-type', message: 'is required' },
      ]);
    }
    const seq = singleHeader(request, DS_HEADER.seq);
    const producer = producerClaim(request);
    const head = await appendStream(
      writer,
      { sessionId: sessionOf(request), contentType: body.length > 0 ? contentType : undefined, body, close, streamSeq: seq, producer },
      settings,
    );
    reply.header(DS_HEADER.nextOffset, offsetOf(head.lastSeq));
    if (head.closed) reply.header(DS_HEADER.closed, 'true');
    if (head.producer) {
      // §5.2.1: 200 for a new append, 204 for a duplicate, both echoing the epoch and the highest seq accepted.
      reply.headers(producerResponseHeaders(head.producer));
      return reply.code(producerStatus(head.producer, { closeOnly: body.length === 0 })).send();
    }
    return reply.code(204).send();
  });

  // No `schema: { hide: true }`: @fastify/swagger leaves every HEAD route out of the document (its exposeHeadRoutes is off).
  app.head(`${STREAM_PREFIX}*`, { config: { access: 'read' } }, async (request, reply) => {
    const head = await streamHead(services.db, sessionOf(request));
    streamHeaders(reply, head);
    reply.headers(expiryHeaders(head.expiry));
    reply.header('cache-control', 'no-store');
    return reply.code(200).send();
  });

  app.delete(`${STREAM_PREFIX}*`, { config: { access: 'admin' }, schema: { hide: true } }, async (request, reply) => {
    await deleteStream(writer, sessionOf(request), settings);
    return reply.code(204).send();
  });

  const reads = new SharedReads(services.db, () => services.metrics.streamFaceReads.inc());
  const live: LiveContext = {
    reads,
    sessionTails: services.sessionTails,
    admission: services.streamAdmission,
    maxStreams: config.maxStreams,
    page: { limit: config.stream.pageSize, maxBytes: pageBytes },
    pageReservation: 2 * pageBytes,
    longPollMs: config.stream.longPollMs,
  };
  const cursorFor = (query: Record<string, unknown>) => {
    const echoed = query[DS_PARAM.cursor];
    return () => responseCursor(typeof echoed === 'string' ? echoed : undefined, { nowMs: Date.now(), random: Math.random });
  };

  /** A page as a catch-up read answers it (also a long-poll that found data): 200, or 304 for a matching ETag. */
  const sendPage = (request: FastifyRequest, reply: FastifyReply, from: ReadFrom, { page, release }: HeldPage) => {
    try {
      const { head } = page;
      reply.header(DS_HEADER.nextOffset, offsetOf(page.nextSeq));
      if (page.upToDate) reply.header(DS_HEADER.upToDate, 'true');
      const closedAtTail = head.closed && page.upToDate;
      if (closedAtTail) reply.header(DS_HEADER.closed, 'true');
      if ('tail' in from) {
        reply.header('cache-control', 'no-store');
      } else {
        const etag = `"${head.sid}:${offsetOf(page.after)}:${offsetOf(page.nextSeq)}${closedAtTail ? ':c' : ''}"`;
        reply.header('etag', etag);
        reply.header('cache-control', page.upToDate ? 'no-cache' : HISTORY_CACHE_CONTROL);
        if (ifNoneMatchHits(request.headers['if-none-match'], etag)) {
          release();
          return reply.code(304).send();
        }
      }
      // Made before the reservation is handed over: a row that cannot be read back throws here, and the catch gives it back.
      const body = bodyOf(head.contentType, page.rows);
      releaseWhenSent(reply.raw, services.streamAdmission.rowBudget, release);
      return reply.code(200).type(head.contentType).send(body);
    } catch (error) {
      release();
      throw error;
    }
  };

  const readRoute = {
    config: { access: 'read' as const },
    // Stryker disable next-line BooleanLiteral: equivalent while the HEAD route above is declared first: fastify adds no HEAD to a GET whose path has one
    exposeHeadRoute: false,
    schema: { hide: true },
  };
  app.get(`${STREAM_PREFIX}*`, readRoute, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const mode = query[DS_PARAM.live];
    if (mode !== undefined) {
      if (query[DS_PARAM.offset] === undefined) {
        throw new InvalidRequest('a live read needs an offset (-1 for the start, now for the tail)', [
          { in: 'querystring', field: '/offset', message: 'is required' },
        ]);
      }
      const from = parseOffset(query[DS_PARAM.offset]);
      if (mode === DS_LIVE.longPoll) return longPollRead(request, reply, from, cursorFor(query));
      if (mode === DS_LIVE.sse) return sseRead(request, reply, from, cursorFor(query));
      throw new InvalidRequest(`live must be ${DS_LIVE.longPoll} or ${DS_LIVE.sse}`, [
        { in: 'querystring', field: '/live', message: `is not ${DS_LIVE.longPoll} or ${DS_LIVE.sse}` },
      ]);
    }
    const from = parseOffset(query[DS_PARAM.offset]);
    // The page stays in memory until the client has it: its bytes are reserved first, as for a native page.
    const release = await acquireWhileConnected(services.streamAdmission.rowBudget, request.raw.socket, 2 * pageBytes);
    if (request.raw.socket.destroyed) {
      // Gone while it waited (a vanished or pipelined request of a cut connection): no read for nobody.
      release();
      return reply.code(204).send();
    }
    let page;
    try {
      page = await reads.page(sessionOf(request), from, { limit: config.stream.pageSize, maxBytes: pageBytes });
      release.shrinkTo(heldBytes(page));
    } catch (error) {
      release();
      throw error;
    }
    return sendPage(request, reply, from, { page, release });
  });

  /** §5.7: data at once; at the tail a wait, then 204 with the tail offset (and `Stream-Closed` once closed). */
  async function longPollRead(request: FastifyRequest, reply: FastifyReply, from: ReadFrom, cursor: () => string) {
    // The client going away ends the wait (and gives back what it took), however many it pipelined.
    const gone = new AbortController();
    const stopListening = onResponseGone(reply.raw, () => gone.abort());
    let held: HeldPage;
    try {
      held = await longPoll(live, sessionOf(request), from, gone.signal);
    } catch (error) {
      // Nobody to answer: the socket is gone.
      if (error instanceof ClientGone) return reply.code(204).send();
      throw error;
    } finally /* Stryker disable next-line BlockStatement: the listener also goes by itself when the response closes, which the answer just below does */ {
      // Stryker disable next-line CallExpression: as above; this only lets it go before the answer is sent
      stopListening();
    }
    const { page } = held;
    if (!page.head.closed || !page.upToDate) reply.header(DS_HEADER.cursor, cursor());
    if (page.rows.length > 0) return sendPage(request, reply, from, held);
    // Stryker disable next-line CallExpression: a page without rows was shrunk to heldBytes = 0 already; this gives back nothing, but says so
    held.release();
    reply.header(DS_HEADER.nextOffset, offsetOf(page.nextSeq));
    reply.header(DS_HEADER.upToDate, 'true');
    // "Nothing yet" holds only for this moment, and a 204 is heuristically cacheable (RFC 9111 §4.2.2).
    reply.header('cache-control', 'no-store');
    if (page.head.closed) reply.header(DS_HEADER.closed, 'true');
    return reply.code(204).send();
  }

  /** §5.8: data and control events from the offset, then live; ends after the final control of a closed stream. */
  async function sseRead(request: FastifyRequest, reply: FastifyReply, from: ReadFrom, cursor: () => string) {
    const sessionId = sessionOf(request);
    // Taken before any await, so concurrent opens cannot all pass (as a native stream's).
    const releaseSlot = services.streamAdmission.reserveStream();
    if (!releaseSlot) throw new TooManyStreams(config.maxStreams);
    let admitted: AdmittedSse;
    try {
      admitted = await admitSse(live, sessionId, from);
    } catch (error) {
      releaseSlot();
      throw error;
    }
    const { contentType } = admitted.first.page.head;
    // Stryker disable next-line CallExpression: fastify 5 sends nothing for a handler that resolves after the headers went out, and this app sets no handlerTimeout or onTimeout hook that hijack would clear: the response is the route's either way (the log and /metrics alike); this says so
    reply.hijack();
    const writer = new SseWriter(reply.raw, config.stream.maxBufferedBytes, services.streamAdmission.outputLedger);
    const inherited = Object.fromEntries(
      // Stryker disable next-line MethodExpression,ConditionalExpression: every header set before this (security headers, CORS) is a string, so the filter keeps them all; it types them for writer.open
      Object.entries(reply.getHeaders()).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    );
    writer.open(
      {
        ...inherited,
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        ...(sseDataEncodingFor(contentType) === 'base64' ? { [DS_HEADER.sseDataEncoding]: DS_SSE_BASE64 } : {}),
      },
      SSE_RETRY_MS,
    );
    services.streamAdmission.track(writer);
    writer.onClose(() => {
      releaseSlot();
      admitted.cancel();
      if (writer.reason === 'slow reader') services.metrics.slowReaders.inc();
    });
    // No longer than the token that opened it (as a native stream), nor than §10.2's minute.
    const expiresAt = request.principal.expiresAt;
    const lifetimeMs = Math.min(SSE_LIFETIME_MS, expiresAt === undefined ? Infinity : expiresAt - Date.now());
    try {
      await runSse(live, sessionId, admitted, writer, { cursor, lifetimeMs });
    } catch (err) {
      // The client went away while the next page waited for room: the writer is closed already.
      if (err instanceof ClientGone) return;
      // Deleted meanwhile: the read after its wakeup finds no session. The reconnect gets the 404.
      if (err instanceof SessionNotFound) {
        writer.end('session deleted');
        return;
      }
      // The database failed: the client reconnects from its last offset.
      request.log.warn({ err, session: sessionId }, 'stream read failed; closing it');
      writer.destroy('error');
    }
  }
};

function streamHeaders(reply: FastifyReply, head: StreamHead): void {
  reply.type(head.contentType);
  reply.header(DS_HEADER.nextOffset, offsetOf(head.lastSeq));
  if (head.closed) reply.header(DS_HEADER.closed, 'true');
}

/**
 * `Stream-Closed: true` (the value compared case-insensitively); any other value is no close. (Node's parser
 * strips the spaces and tabs around a field value, RFC 9110 §5.5: nothing is left to trim.)
 */
function closedHeader(request: FastifyRequest): boolean {
  const value = request.headers[DS_HEADER.closed];
  return typeof value === 'string' && value.toLowerCase() === 'true';
}

/**
 * A header the protocol takes once: 400 when it is given more than once.
 * Node joins the lines of a repeated field with ", " (RFC 9110 section 5.3),
 * which would pass for one value (`Stream-Seq: 3, 4`): the lines are counted as sent.
 */
function singleHeader(request: FastifyRequest, name: string): string | undefined {
  const raw = request.raw.rawHeaders;
  let lines = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) lines++;
  if (lines > 1) throw new InvalidRequest(`${name} is given more than once`, [{ in: 'headers', field: `/${name}`, message: 'is given more than once' }]);
  // One line: a string (Node makes arrays of set-cookie only).
  return request.headers[name] as string | undefined;
}

/** The request's Producer-Id/Epoch/Seq as a claim (undefined: none sent); 400 unless all three are there and valid. */
function producerClaim(request: FastifyRequest): ProducerClaim | undefined {
  const one = (name: string) => singleHeader(request, name);
  const parsed = parseProducerHeaders({
    id: one(DS_HEADER.producerId),
    epoch: one(DS_HEADER.producerEpoch),
    seq: one(DS_HEADER.producerSeq),
  });
  if (parsed.kind === 'invalid') {
    throw new InvalidRequest(
      parsed.detail,
      parsed.headers.map(({ name, message }) => ({ in: 'headers', field: `/${name}`, message })),
    );
  }
  return parsed.kind === 'producer' ? parsed.claim : undefined;
}

/** `Stream-TTL` / `Stream-Expires-At` of a PUT as stored; 400 naming the rule when malformed, or both are sent. */
function expiryOfRequest(request: FastifyRequest): StreamExpiryConfig {
  const one = (name: string) => singleHeader(request, name);
  const expiry = parseStreamExpiry({ ttl: one(DS_HEADER.ttl), expiresAt: one(DS_HEADER.expiresAt) });
  if (expiry.kind === 'invalid') throw new InvalidRequest(expiry.detail);
  return expiryColumns(expiry);
}

