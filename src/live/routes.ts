import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { checkClientType, EventType } from '../events/types.js';
import { ApiError, InvalidRequest, PayloadTooLarge } from '../errors.js';
import { bodyRequired } from '../http/error-handler.js';
import { parseJsonBody } from '../http/json-body.js';
import { answerUnlessGone, clientBody } from '../http/transfers.js';
import { countWithin, jsonWithin } from '../limits.js';
import { isMediaType } from '../media-type.js';
import { Seq } from '../shapes.js';
import { problems, SessionParams } from '../http/schemas.js';
import type { Services } from '../services.js';
import { LiveHeads } from './heads.js';

const LiveEvent = Type.Object({ type: EventType, data: Type.Unknown() }, { additionalProperties: false });
type LiveEvent = Static<typeof LiveEvent>;
const LiveBatch = Type.Object({ events: Type.Array(LiveEvent, { minItems: 1 }) }, { additionalProperties: false });
const checkLine = TypeCompiler.Compile(LiveEvent);

export const NDJSON = 'application/x-ndjson';
/** Lines of one NDJSON request queued for NOTIFY and not yet sent, at most (`ingestNdjson`). */
const NDJSON_UNSENT_EVENTS = 256;

export const liveRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { db, config } = services;
  const { maxLiveBytes, maxBatchEvents, maxBodyBytes } = config.limits;
  const heads = new LiveHeads(db);

  // Scoped to this plugin: the body stays a stream so each line is published as it arrives.
  app.addContentTypeParser(NDJSON, (_request, payload, done) => done(null, payload));

  const checkEvent = ({ type, data }: LiveEvent, index?: number): void => {
    checkClientType(type, index);
    jsonWithin(data, maxLiveBytes, index === undefined ? 'live data' : `events[${index}].data`, 'MAX_LIVE_BYTES');
  };

  /**
   * The head read here is at least every seq acknowledged before these events
   * were sent, so receivers deliver them only after those (the causal rule).
   * The publisher sends in the order it is given; a refused event (413) ends
   * the batch, after the ones before it were queued. `sent` settles once
   * the NOTIFYs carrying them have been sent.
   */
  const publish = async (sessionId: string, events: LiveEvent[]): Promise<{ afterSeq: number; sent: Promise<unknown> }> => {
    const session = await heads.read(sessionId);
    const sent: Promise<void>[] = [];
    try {
      for (const { type, data } of events) {
        sent.push(services.wakeups.publish({ kind: 'live', session_id: session.id, sid: session.sid, head: session.lastSeq, type, data }));
      }
    } catch (error) {
      await Promise.all(sent);
      throw error;
    }
    return { afterSeq: session.lastSeq, sent: Promise.all(sent) };
  };

  app.post(
    '/v1/sessions/:id/live',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Publish live events to current subscribers (never stored, never replayed)',
        description:
          'Token fragments, progress. Delivered only to streams open now, in the order posted, each after every durable ' +
          'event committed before it was sent (`after_seq`). The body is one `{type, data}`, a batch `{events}`, or ' +
          '`application/x-ndjson` with one `{type, data}` per line, each line delivered as it arrives (a model\'s token ' +
          'stream in one request). A malformed line ends the request with 400 naming the `line`; lines before it were delivered.',
        tags: ['stream'],
        params: SessionParams,
        body: {
          content: {
            'application/json': { schema: Type.Union([LiveEvent, LiveBatch]) },
            [NDJSON]: {
              schema: Type.Unknown({ description: 'One `{type, data}` JSON object per line (blank lines are skipped).' }),
            },
          },
        },
        response: {
          202: Type.Object(
            { accepted: Type.Integer({ minimum: 0 }), after_seq: Seq },
            { description: 'Accepted: `accepted` events, the last of them delivered after durable event `after_seq`.' },
          ),
          ...problems(400, 404, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (isMediaType(request.headers['content-type'], NDJSON)) {
        // No connection is held while the lines come (each group of lines borrows one to publish): this is no
        // transfer, a token stream may pause between lines, and only REQUEST_TIMEOUT_MS (whose 408 ends the reading) bounds it.
        return answerUnlessGone(reply, async () => reply.code(202).send(await ingestNdjson(clientBody(request.body as Readable, reply.raw), id)));
      }
      // With a schema per content type, fastify checks a body only when one came with its type: none at all arrives here.
      if (request.body === undefined) throw bodyRequired(`a JSON object {type, data} or {events}, or ${NDJSON} lines`);
      const body = request.body as Static<typeof LiveEvent> | Static<typeof LiveBatch>;
      const events = 'events' in body ? body.events : [body];
      if ('events' in body) countWithin(events.length, maxBatchEvents, 'live events');
      events.forEach((event, index) => checkEvent(event, 'events' in body ? index : undefined));
      const { afterSeq, sent } = await publish(id, events);
      // Answered once sent, so an event posted after this answer, through any instance, is sent after it.
      await sent;
      return reply.code(202).send({ accepted: events.length, after_seq: afterSeq });
    },
  );

  /**
   * Reads the body line by line; the lines that arrived together are checked,
   * then published with one head read. A bad line stops the request after the
   * good lines before it were published.
   *
   * The next lines are read while the NOTIFYs of the last ones are on the
   * wire (one request's lines stay in order: the publisher sends in the
   * order it queues), up to `NDJSON_UNSENT_EVENTS` of them; past that, and
   * before answering, the request waits for them. Awaiting each group's NOTIFY
   * before reading on held a token stream to one group per NOTIFY
   * transaction: under load (2 cores, 16 streams of 1,300 lines/s each) lines
   * waited in the socket about 1.7 s at p50 (bench scenario 9).
   */
  async function ingestNdjson(body: AsyncIterable<Buffer>, sessionId: string): Promise<{ accepted: number; after_seq: number }> {
    let afterSeq = (await heads.read(sessionId)).lastSeq;
    let accepted = 0;
    let lineNo = 0;
    let pending = '';
    let unsent: Promise<unknown>[] = [];
    let unsentEvents = 0;
    let sendFailure: { error: unknown } | undefined;
    const awaitSent = async (): Promise<void> => {
      const waiting = unsent;
      unsent = [];
      unsentEvents = 0;
      await Promise.all(waiting);
      if (sendFailure) throw sendFailure.error;
    };
    const take = async (lines: string[]): Promise<void> => {
      const ready: LiveEvent[] = [];
      let failure: unknown;
      for (const text of lines) {
        lineNo += 1;
        if (text.trim() === '') continue;
        try {
          ready.push(parseLine(text, lineNo));
        } catch (error) {
          failure = withLine(error, lineNo, accepted + ready.length);
          break;
        }
      }
      if (ready.length) {
        const published = await publish(sessionId, ready);
        afterSeq = published.afterSeq;
        accepted += ready.length;
        unsent.push(published.sent.catch((error: unknown) => (sendFailure ??= { error })));
        unsentEvents += ready.length;
      }
      if (failure !== undefined) {
        await awaitSent();
        throw failure;
      }
      if (unsentEvents > NDJSON_UNSENT_EVENTS || sendFailure) await awaitSent();
    };
    const text = new StringDecoder('utf8');
    for await (const chunk of body) {
      pending += text.write(chunk);
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      // The whole lines before an unfinished one that is already too long are delivered first, as before any bad line.
      if (lines.length) await take(lines.map((line) => line.replace(/\r$/, '')));
      if (Buffer.byteLength(pending) > maxBodyBytes) {
        throw withLine(new PayloadTooLarge(`a line is longer than ${maxBodyBytes} bytes (MAX_BODY_BYTES)`, { limit_bytes: maxBodyBytes }), lineNo + 1, accepted);
      }
    }
    pending += text.end();
    if (pending !== '') await take([pending.replace(/\r$/, '')]);
    await awaitSent();
    return { accepted, after_seq: afterSeq };
  }

  function parseLine(text: string, lineNo: number): LiveEvent {
    // A line obeys the rules of any JSON body (what Postgres cannot carry, numbers, depth);
    // its refusal speaks of the line, which is a body of one line.
    let value: unknown;
    try {
      value = parseJsonBody(Buffer.from(text), config.maxJsonDepth);
    } catch (error) {
      if (error instanceof InvalidRequest) {
        // Stryker disable next-line Regex: every message parseJsonBody throws starts with "body", so its first "body" is the leading one
        error.message = error.message.replace(/^body/, `line ${lineNo}`).replace(/ at line 1, column /, ' at column ');
      }
      throw error;
    }
    if (!checkLine.Check(value)) {
      const first = checkLine.Errors(value).First();
      // A line's members are top-level ({type, data}; data is any JSON), so a path is one name or none.
      const field = first?.path ? ` field ${first.path.slice(1)}` : '';
      throw new InvalidRequest(`line ${lineNo}${field} ${first?.message ?? 'is invalid'}; each line is {type, data}`);
    }
    checkEvent(value);
    return value;
  }
};

/** The problem names the line (1-based) that ended the request, and how many lines before it were delivered. */
function withLine(error: unknown, line: number, accepted: number): unknown {
  if (error instanceof ApiError) {
    if (!error.message.startsWith('line ')) error.message = `line ${line}: ${error.message}`;
    Object.assign(error.extra, { line, accepted });
  }
  return error;
}
