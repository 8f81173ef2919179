import type { Call, RequestOptions, Transport } from './transport.js';
import type { AnswerOf, BodyOf, LiveAnswer, LiveEvent, QueryOf } from './types.js';

const enc = encodeURIComponent;

/** What `uploadAttachment` sends: anything fetch takes as a body of bytes. */
export type AttachmentBody = Blob | ArrayBuffer | Uint8Array | string | ReadableStream<Uint8Array>;
const session = (id: string) => `/v1/sessions/${enc(id)}`;

/**
 * One method per route (names as in docs/client.md and the OpenAPI
 * `operationId`s): the session id first, then the body or query, then
 * `{ idempotencyKey?, leaseToken?, signal? }`.
 */
export class Requests {
  constructor(protected readonly transport: Transport) {}

  protected call<T>(call: Call): Promise<T> {
    return this.transport.json<T>(call);
  }

  // Sessions
  createSession(body: BodyOf<'createSession'> = {}, options?: RequestOptions): Promise<AnswerOf<'createSession'>> {
    return this.call({ method: 'POST', path: '/v1/sessions', body, options });
  }
  listSessions(query: QueryOf<'listSessions'> = {}, options?: RequestOptions): Promise<AnswerOf<'listSessions'>> {
    return this.call({ method: 'GET', path: '/v1/sessions', query, options });
  }
  getSession(id: string, options?: RequestOptions): Promise<AnswerOf<'getSession'>> {
    return this.call({ method: 'GET', path: session(id), options });
  }
  updateSession(id: string, body: BodyOf<'updateSession'>, options?: RequestOptions): Promise<AnswerOf<'updateSession'>> {
    return this.call({ method: 'PATCH', path: session(id), body, options });
  }
  async deleteSession(id: string, options?: RequestOptions): Promise<void> {
    await this.call({ method: 'DELETE', path: session(id), options });
  }

  // State
  /** The sync handshake: what a holder of version `have` is missing (`GET .../state`). */
  sync(id: string, query: QueryOf<'sync'> = {}, options?: RequestOptions): Promise<AnswerOf<'sync'>> {
    return this.call({ method: 'GET', path: `${session(id)}/state`, query, options });
  }
  putSnapshot(id: string, body: BodyOf<'putSnapshot'>, options?: RequestOptions): Promise<AnswerOf<'putSnapshot'>> {
    return this.call({ method: 'PUT', path: `${session(id)}/state`, body, options });
  }
  pushDelta(id: string, body: BodyOf<'pushDelta'>, options?: RequestOptions): Promise<AnswerOf<'pushDelta'>> {
    return this.call({ method: 'POST', path: `${session(id)}/deltas`, body, options });
  }

  // Durable events, activity, live events
  appendEvents(id: string, body: BodyOf<'appendEvents'>, options?: RequestOptions): Promise<AnswerOf<'appendEvents'>> {
    return this.call({ method: 'POST', path: `${session(id)}/events`, body, options });
  }
  listEvents(id: string, query: QueryOf<'listEvents'> = {}, options?: RequestOptions): Promise<AnswerOf<'listEvents'>> {
    return this.call({ method: 'GET', path: `${session(id)}/events`, query, options });
  }
  setActivity(id: string, body: BodyOf<'setActivity'>, options?: RequestOptions): Promise<AnswerOf<'setActivity'>> {
    return this.call({ method: 'PUT', path: `${session(id)}/activity`, body, options });
  }
  /**
   * Live events for whoever watches now. One event or an array is one JSON
   * request (retried like any write). An async iterable (a model's token
   * stream) is streamed as NDJSON, each event sent as it is produced; it
   * cannot be replayed, so it is not retried. A long stream continues in a
   * new request after `maxRequestMs` (default 20 s), because servers bound
   * how long one request may take to arrive (REQUEST_TIMEOUT_MS), also while
   * the producer is quiet; the next request opens with the next event. The
   * answer adds up the requests.
   */
  async publishLive(
    id: string,
    events: LiveEvent | Iterable<LiveEvent> | AsyncIterable<LiveEvent>,
    options?: RequestOptions & { maxRequestMs?: number },
  ): Promise<LiveAnswer> {
    const path = `${session(id)}/live`;
    if (Symbol.iterator in events) return this.call({ method: 'POST', path, body: { events: [...events] }, options });
    if (!(Symbol.asyncIterator in events)) return this.call({ method: 'POST', path, body: events, options });
    const source = new PendingEvents(events[Symbol.asyncIterator]());
    const maxMs = options?.maxRequestMs ?? 20_000;
    const total: LiveAnswer = { accepted: 0, after_seq: 0 };
    try {
      for (let ended = false; !ended; ) {
        const body = ndjsonStream(source, maxMs, () => (ended = true));
        const answer = await this.call<LiveAnswer>({ method: 'POST', path, rawBody: { body, contentType: 'application/x-ndjson' }, options });
        total.accepted += answer.accepted;
        total.after_seq = answer.after_seq;
        // Ended by the clock while the producer was quiet (a model calling a tool): the next request opens only
        // once there is something to send, so a pause of any length holds no request open.
        if (!ended && (await source.peek()).done) break;
      }
    } catch (error) {
      // The producer is told to stop (a generator's finally blocks run).
      await source.iterator.return?.();
      throw error;
    }
    return total;
  }

  // Leases (claimLease with renewal and a loss signal is on the client: `SessionSyncClient.claimLease`)
  claimLeaseOnce(id: string, body: BodyOf<'claimLease'>, options?: RequestOptions): Promise<AnswerOf<'claimLease'>> {
    return this.call({ method: 'POST', path: `${session(id)}/lease`, body, options });
  }
  renewLease(id: string, body: BodyOf<'renewLease'>, options: RequestOptions & { leaseToken: string }): Promise<AnswerOf<'renewLease'>> {
    return this.call({ method: 'PUT', path: `${session(id)}/lease`, body, options });
  }
  async releaseLease(id: string, options: RequestOptions & { leaseToken: string }): Promise<void> {
    await this.call({ method: 'DELETE', path: `${session(id)}/lease`, options });
  }

  // Queued input
  enqueue(id: string, body: BodyOf<'enqueue'>, options?: RequestOptions): Promise<AnswerOf<'enqueue'>> {
    return this.call({ method: 'POST', path: `${session(id)}/queue`, body, options });
  }
  listQueue(id: string, query: QueryOf<'listQueue'> = {}, options?: RequestOptions): Promise<AnswerOf<'listQueue'>> {
    return this.call({ method: 'GET', path: `${session(id)}/queue`, query, options });
  }
  /** Pending batches in enqueue order, or null when nothing is pending (204). */
  async claimQueue(id: string, body: BodyOf<'claimQueue'>, options?: RequestOptions): Promise<AnswerOf<'claimQueue'> | null> {
    return (await this.call<AnswerOf<'claimQueue'> | undefined>({ method: 'POST', path: `${session(id)}/queue/claim`, body, options })) ?? null;
  }
  completeClaim(id: string, claimId: string, options?: RequestOptions): Promise<AnswerOf<'completeClaim'>> {
    return this.call({ method: 'POST', path: `${session(id)}/queue/claims/${enc(claimId)}/complete`, body: {}, options });
  }
  renewClaim(id: string, claimId: string, body: BodyOf<'renewClaim'> = {}, options?: RequestOptions): Promise<AnswerOf<'renewClaim'>> {
    return this.call({ method: 'POST', path: `${session(id)}/queue/claims/${enc(claimId)}/renew`, body, options });
  }
  abandonClaim(id: string, claimId: string, options?: RequestOptions): Promise<AnswerOf<'abandonClaim'>> {
    return this.call({ method: 'POST', path: `${session(id)}/queue/claims/${enc(claimId)}/abandon`, body: {}, options });
  }
  async cancelBatch(id: string, batchId: string, options?: RequestOptions): Promise<void> {
    await this.call({ method: 'DELETE', path: `${session(id)}/queue/${enc(batchId)}`, options });
  }

  // Conversation messages
  appendMessages(id: string, body: BodyOf<'appendMessages'>, options?: RequestOptions): Promise<AnswerOf<'appendMessages'>> {
    return this.call({ method: 'POST', path: `${session(id)}/messages`, body, options });
  }
  listMessages(id: string, query: QueryOf<'listMessages'> = {}, options?: RequestOptions): Promise<AnswerOf<'listMessages'>> {
    return this.call({ method: 'GET', path: `${session(id)}/messages`, query, options });
  }
  replaceMessageKind(
    id: string,
    kind: string,
    body: BodyOf<'replaceMessageKind'>,
    options?: RequestOptions,
  ): Promise<AnswerOf<'replaceMessageKind'>> {
    return this.call({ method: 'PUT', path: `${session(id)}/messages/kinds/${enc(kind)}`, body, options });
  }
  trimMessages(id: string, body: BodyOf<'trimMessages'>, options?: RequestOptions): Promise<AnswerOf<'trimMessages'>> {
    return this.call({ method: 'POST', path: `${session(id)}/messages/trim`, body, options });
  }
  getMessagesMeta(id: string, options?: RequestOptions): Promise<AnswerOf<'getMessagesMeta'>> {
    return this.call({ method: 'GET', path: `${session(id)}/messages/meta`, options });
  }
  /** A new session whose state is this one's at `at_version` (default: the head). */
  forkSession(id: string, body: BodyOf<'forkSession'> = {}, options?: RequestOptions): Promise<AnswerOf<'forkSession'>> {
    return this.call({ method: 'POST', path: `${session(id)}/fork`, body, options });
  }
  /** Trims history now (by the retention policy, or below `before_seq`); answers the new `history_start`. */
  compactSession(id: string, body: BodyOf<'compactSession'> = {}, options?: RequestOptions): Promise<AnswerOf<'compactSession'>> {
    return this.call({ method: 'POST', path: `${session(id)}/compact`, body, options });
  }

  /**
   * The session as an export file (`GET .../export`): its NDJSON bytes as
   * they stream, to save or to pass to `importSession` on another server.
   * The last line is `{"record":"end",...}`: a file without it was cut short.
   */
  exportSession(id: string, options?: RequestOptions): Promise<ReadableStream<Uint8Array>> {
    return this.transport.send({ method: 'GET', path: `${session(id)}/export`, headers: { accept: 'application/x-ndjson' }, options }, async (response) => {
      if (!response.body) throw new TypeError('the export answered without a body');
      return response.body;
    });
  }
  /**
   * Recreates a session from an export file (`POST /v1/sessions/import`,
   * admin), streamed; `query.id` gives the copy another id. A stream is sent
   * once and never retried (a Blob, buffer or string is).
   */
  importSession(body: AttachmentBody, query: QueryOf<'importSession'> = {}, options?: RequestOptions): Promise<AnswerOf<'importSession'>> {
    const replayable = !(body instanceof ReadableStream);
    return this.call({
      method: 'POST',
      path: '/v1/sessions/import',
      query,
      rawBody: { body: body as NonNullable<RequestInit['body']>, contentType: 'application/x-ndjson', replayable },
      options,
    });
  }

  // Turns
  /**
   * One agent turn, all or nothing (`POST .../turns`). Retried like any write,
   * and the server also answers a repeat of the same `turn_id` and body with
   * the first answer: a worker restarted after a crash sends its turn again.
   */
  commitTurn(id: string, body: BodyOf<'commitTurn'>, options?: RequestOptions): Promise<AnswerOf<'commitTurn'>> {
    return this.call({ method: 'POST', path: `${session(id)}/turns`, body, options });
  }

  // Attachments
  /**
   * Uploads a file; its bytes are the body, streamed (`POST .../attachments`).
   * A Blob, buffer or string is retried like any write (the same bytes give
   * the same attachment); a ReadableStream is sent once and never retried.
   * `contentType` defaults to the Blob's type, else application/octet-stream.
   */
  uploadAttachment(
    id: string,
    bytes: AttachmentBody,
    options?: RequestOptions & { contentType?: string },
  ): Promise<AnswerOf<'uploadAttachment'>> {
    const contentType = options?.contentType || (bytes instanceof Blob && bytes.type) || 'application/octet-stream';
    const replayable = !(bytes instanceof ReadableStream);
    return this.call({ method: 'POST', path: `${session(id)}/attachments`, rawBody: { body: bytes as NonNullable<RequestInit['body']>, contentType, replayable }, options });
  }
  listAttachments(id: string, query: QueryOf<'listAttachments'> = {}, options?: RequestOptions): Promise<AnswerOf<'listAttachments'>> {
    return this.call({ method: 'GET', path: `${session(id)}/attachments`, query, options });
  }
  commitAttachment(id: string, attachmentId: string, options?: RequestOptions): Promise<AnswerOf<'commitAttachment'>> {
    return this.call({ method: 'POST', path: `${session(id)}/attachments/${enc(attachmentId)}/commit`, body: {}, options });
  }
  /**
   * The file as a fetch `Response` (stream it from `body`, or read it whole
   * with `arrayBuffer()`/`blob()`); `range` asks for bytes `start` to `end`
   * inclusive (206). Failures are SessionSyncErrors like any call's.
   */
  downloadAttachment(
    id: string,
    attachmentId: string,
    options?: RequestOptions & { range?: { start: number; end?: number } },
  ): Promise<Response> {
    const range = options?.range;
    return this.transport.send(
      {
        method: 'GET',
        path: `${session(id)}/attachments/${enc(attachmentId)}`,
        headers: { accept: '*/*', ...(range ? { range: `bytes=${range.start}-${range.end ?? ''}` } : {}) },
        options,
      },
      async (response) => response,
    );
  }
}

/** An iterator whose next result, once asked for, is kept until taken: a request that ends while waiting for it leaves it to the next. */
class PendingEvents {
  private pending: Promise<IteratorResult<LiveEvent>> | undefined;
  constructor(readonly iterator: AsyncIterator<LiveEvent>) {}
  peek(): Promise<IteratorResult<LiveEvent>> {
    this.pending ??= this.iterator.next();
    return this.pending;
  }
  take(): void {
    this.pending = undefined;
  }
}

/**
 * NDJSON, one event a line, pulled from the producer as the body is sent. It
 * ends with the producer, or once it is `maxMs` old, also while waiting for
 * the producer: a body that waited on without sending would outlast the
 * server's REQUEST_TIMEOUT_MS and fail the whole call with a 408.
 */
function ndjsonStream(source: PendingEvents, maxMs: number, onEnd: () => void): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const started = Date.now();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const left = maxMs - (Date.now() - started);
      if (left < 0) return controller.close();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), left)));
      const next = await Promise.race([source.peek(), late]).finally(() => clearTimeout(timer));
      if (next === undefined) return controller.close();
      source.take();
      if (next.done) {
        onEnd();
        controller.close();
      } else controller.enqueue(encoder.encode(`${JSON.stringify(next.value)}\n`));
    },
    async cancel(reason) {
      onEnd();
      await source.iterator.return?.(reason);
    },
  });
}
