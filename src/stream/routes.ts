import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { pageBytesFor } from '../events/read.js';
import { InvalidRequest, TooManyStreams } from '../errors.js';
import { mayRead } from '../auth/grants.js';
import { Seq } from '../shapes.js';
import { problems, SessionParams } from '../http/schemas.js';
import type { Services } from '../services.js';
import { ChangesSubscriber } from './changes-feed.js';
import { liveFrame, type OutputLedger, SseWriter } from './sse.js';
import { admitSessionStream, runSessionStream, type SessionStreamContext } from './session-stream.js';
import { CHANGE_EVENT, HEADER, LIVE_EVENT } from 'session-sync/client/protocol';

const AccessTokenQuery = Type.String({ description: 'The bearer token, for EventSource (which cannot send headers).' });

/** Reconnect hint sent to EventSource clients. */
const RETRY_MS = 1000;

function lastEventId(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  if (!/^\d{1,15}$/.test(header.trim())) {
    throw new InvalidRequest('Last-Event-ID must be the seq of an event this stream sent', [
      { in: 'headers', field: '/last-event-id', message: 'must be a non-negative integer' },
    ]);
  }
  // Stryker disable next-line MethodExpression: Number() skips surrounding whitespace itself; the trim only mirrors the test above
  return Number(header.trim());
}

/** Longest delay a Node timer takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A stream lives no longer than the token that opened it: at its expiry the
 * stream gets `session.token_expired` and ends, so the client reconnects (with
 * its Last-Event-ID) with a fresh token, and a revoked grant cannot outlive it.
 */
function endAtExpiry(writer: SseWriter, expiresAt: number | undefined): void {
  if (expiresAt === undefined) return;
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = expiresAt - Date.now();
    if (left > MAX_TIMER_MS) {
      timer = globalThis.setTimeout(arm, MAX_TIMER_MS).unref();
      return;
    }
    timer = globalThis.setTimeout(() => {
      writer.push(liveFrame(LIVE_EVENT.tokenExpired, { expired_at: new Date(expiresAt).toISOString() }));
      writer.end('token expired');
    }, Math.max(left, 0)).unref();
  };
  arm();
  writer.onClose(() => clearTimeout(timer));
}

/** Takes over the raw response for streaming; headers set on the reply so far (e.g. CORS) are kept. */
function openStream(reply: FastifyReply, maxBufferedBytes: number, ledger: OutputLedger): SseWriter {
  reply.hijack();
  const writer = new SseWriter(reply.raw, maxBufferedBytes, ledger);
  const inherited = Object.fromEntries(
    Object.entries(reply.getHeaders()).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
  writer.open(inherited, RETRY_MS);
  return writer;
}

export const streamRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, sessionTails, changesFeed, streamAdmission, config } = services;

  const sessionStreams: SessionStreamContext = {
    db,
    sessionTails,
    admission: streamAdmission,
    readEventRows: services.readEventRows,
    pageSize: config.stream.pageSize,
    // A page and its frames are held until the socket takes them, so their bytes
    // are reserved first; one row may be larger than a page (it then comes alone).
    pageReservation: 2 * pageBytesFor(config.stream.pageBytes, config.limits.maxEventBytes),
  };

  app.get(
    '/v1/sessions/:id/stream',
    {
      config: { access: 'read', sse: true },
      schema: {
        summary: 'Follow a session: durable history after a cursor, then live (Server-Sent Events)',
        description:
          'Cursor: Last-Event-ID, else `after`, else 0 (exclusive); `after=now` starts at the head. Sends the history up to ' +
          'the head B, then one `session.activity` carrying `cursor: B`, then durable events as they commit, live events and ' +
          'activity changes. `live=false` ends after the activity marker. Ends with `session.deleted` when the session is ' +
          'deleted, and with `session.token_expired` when the token that opened it expires (reconnect with a fresh one). A cursor ' +
          'below `history_start` is 410 `cursor_expired`; history trimmed under an open stream before it was sent ends the ' +
          'stream with `session.cursor_expired` `{cursor, history_start}` (reconnecting gets the 410).',
        tags: ['stream'],
        // Stryker disable next-line ArrayDeclaration,StringLiteral: OpenAPI 3 output takes the response's own `content` (below); `produces` is a Swagger 2 field and the generated document is the same without it
        produces: ['text/event-stream'],
        params: SessionParams,
        headers: Type.Object({ [HEADER.lastEventId]: Type.Optional(Type.String()) }),
        querystring: Type.Object(
          {
            after: Type.Optional(Type.Union([Type.Literal('now'), Seq])),
            live: Type.Optional(Type.Boolean({ default: true })),
            access_token: Type.Optional(AccessTokenQuery),
          },
          { additionalProperties: false },
        ),
        response: {
          200: { description: 'An event stream (text/event-stream).', content: { 'text/event-stream': { schema: Type.String() } } },
          ...problems(400, 401, 403, 404, 409, 410, 503),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const requested = lastEventId(request.headers[HEADER.lastEventId]) ?? request.query.after ?? 0;
      // Stryker disable next-line BooleanLiteral: unreachable; the query schema's default (useDefaults) always sets live
      const live = request.query.live ?? true;
      const release = streamAdmission.reserveStream();
      if (!release) throw new TooManyStreams(config.maxStreams);
      let stream;
      try {
        stream = await admitSessionStream(sessionStreams, id, requested);
      } catch (error) {
        release();
        throw error;
      }

      const writer = openStream(reply, config.stream.maxBufferedBytes, streamAdmission.outputLedger);
      endAtExpiry(writer, request.principal.expiresAt);
      streamAdmission.track(writer);
      writer.onClose(() => {
        release();
        stream.cancel();
        if (writer.reason === 'slow reader') services.metrics.slowReaders.inc();
      });
      try {
        await runSessionStream(sessionStreams, stream, writer, live);
      } catch (err) {
        request.log.warn({ err, session: id }, 'stream failed; closing it');
        writer.destroy('error');
      }
    },
  );

  app.get(
    '/v1/changes',
    {
      config: { access: 'list', sse: true },
      schema: {
        summary: 'Watch many sessions over one connection (Server-Sent Events, live only)',
        description:
          'First `sweep_required` (re-list what you watch), then coalesced `session.changed` hints ' +
          '`{session_id, last_seq, version}` and `session.created`, `session.deleted`, `session.activity`. ' +
          '`sweep_required` is sent again whenever hints may have been missed. Ends with `session.token_expired` when ' +
          'the token that opened it expires.',
        tags: ['stream'],
        // Stryker disable next-line ArrayDeclaration,StringLiteral: OpenAPI 3 output takes the response's own `content` (below); `produces` is a Swagger 2 field and the generated document is the same without it
        produces: ['text/event-stream'],
        querystring: Type.Object({ access_token: Type.Optional(AccessTokenQuery) }, { additionalProperties: false }),
        response: {
          200: { description: 'An event stream (text/event-stream).', content: { 'text/event-stream': { schema: Type.String() } } },
          ...problems(401, 403),
        },
      },
    },
    async (request, reply) => {
      const release = streamAdmission.reserveStream();
      if (!release) throw new TooManyStreams(config.maxStreams);
      const { principal } = request;
      const writer = openStream(reply, config.stream.maxBufferedBytes, streamAdmission.outputLedger);
      writer.onClose(release);
      endAtExpiry(writer, principal.expiresAt);
      writer.push(liveFrame(CHANGE_EVENT.sweepRequired, {}));
      streamAdmission.track(writer);
      changesFeed.add(new ChangesSubscriber(writer, (sessionId) => mayRead(principal, sessionId)));
    },
  );
};
