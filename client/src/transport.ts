import { DEFAULT_RETRY, newKey, retryAfterMs, retryDelay, type RetryOptions, sleep } from './backoff.js';
import { isRetryable, SessionSyncError } from './errors.js';
import { CLIENT_ERROR, HEADER } from './protocol.js';

type Body = NonNullable<RequestInit['body']>;

/** A bearer token, or a function giving one; a function is asked again before every request and reconnect. */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

export interface ClientOptions {
  /** Where the server is, e.g. `http://127.0.0.1:8080` (no `/v1`). */
  baseUrl: string;
  token?: TokenSource;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  retry?: Partial<RetryOptions>;
}

/** Options every request method takes last. */
export interface RequestOptions {
  /** Reused on every retry of this call; one is generated per call when absent. */
  idempotencyKey?: string;
  /** Sent as `Lease-Token` (a lease's bound `session` sets it for you). */
  leaseToken?: string;
  signal?: AbortSignal;
}

export interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined> | undefined;
  /** JSON body, serialised once so every retry sends the same bytes. */
  body?: unknown;
  /** A body sent as is (NDJSON streams); such a call is never retried. */
  rawBody?: { body: Body; contentType: string; replayable?: boolean };
  headers?: Record<string, string>;
  options?: RequestOptions | undefined;
}

export type Query = Record<string, string | number | boolean | undefined>;

/** The HTTP half of the client: URLs, tokens, idempotency keys, retries, problem documents. */
export class Transport {
  readonly baseUrl: string;
  readonly retry: RetryOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly token: TokenSource | undefined;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    // Called unbound: some browsers refuse `fetch` with a `this` that is not the window.
    const f = options.fetch ?? globalThis.fetch;
    this.fetchImpl = (input, init) => f(input, init);
    this.token = options.token;
  }

  url(path: string, query?: Query): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) params.set(key, String(value));
    const search = params.toString();
    return `${this.baseUrl}${path}${search ? `?${search}` : ''}`;
  }

  async authHeaders(): Promise<Record<string, string>> {
    const token = typeof this.token === 'function' ? await this.token() : this.token;
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  /** One fetch; a failure to get any answer becomes a `network_error`. */
  async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchImpl(url, init);
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw SessionSyncError.network(error);
    }
  }

  /**
   * Sends a call and reads its answer, retrying network errors and 502/503/504
   * with jittered backoff, waiting no less than an answer's `Retry-After`
   * (and never more than `maxDelayMs`). A write carries the same
   * `Idempotency-Key` on every attempt, so an attempt that committed but whose
   * answer was lost (before or while its body was read) is answered with the
   * original result, never applied twice. A successful answer that is not
   * JSON fails as `invalid_response` with its status, and is not retried.
   */
  async send<T>(call: Call, read: (response: Response) => Promise<T>): Promise<T> {
    const { options } = call;
    const write = call.method !== 'GET';
    const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
    if (write) headers[HEADER.idempotencyKey] = options?.idempotencyKey ?? newKey();
    if (options?.leaseToken) headers[HEADER.leaseToken] = options.leaseToken;
    let body: Body | undefined;
    if (call.rawBody) {
      body = call.rawBody.body;
      headers['content-type'] = call.rawBody.contentType;
    } else if (call.body !== undefined) {
      body = JSON.stringify(call.body);
      headers['content-type'] = 'application/json';
    }
    const attempts = call.rawBody && !call.rawBody.replayable ? 1 : Math.max(1, this.retry.attempts);
    const url = this.url(call.path, call.query);
    for (let attempt = 0; ; attempt++) {
      let serverWaitMs = 0;
      try {
        const init: RequestInit & { duplex?: 'half' } = {
          method: call.method,
          headers: { ...headers, ...(await this.authHeaders()) },
          // Stryker disable next-line ConditionalExpression: fetch reads a body member that is undefined as no body, so leaving the key out only keeps the init tidy
          ...(body === undefined ? {} : { body }),
          ...(options?.signal ? { signal: options.signal } : {}),
        };
        // Only a raw body can be a stream (a JSON body is a string); the client needs a global ReadableStream anyway (docs/client.md, "Where it runs").
        if (body instanceof ReadableStream) init.duplex = 'half';
        const response = await this.fetch(url, init);
        if (!response.ok && response.status !== 304) {
          serverWaitMs = retryAfterMs(response.headers.get(HEADER.retryAfter));
          throw await SessionSyncError.fromResponse(response);
        }
        try {
          return await read(response);
        } catch (error) {
          if (options?.signal?.aborted) throw options.signal.reason;
          // A whole answer that is not JSON (a web page where the API should be) is the same on every attempt.
          if (error instanceof SyntaxError) throw notJson(response, error);
          // The connection died while the answer was coming in.
          throw SessionSyncError.network(error);
        }
      } catch (error) {
        if (attempt + 1 >= attempts || !isRetryable(error)) throw error;
        // The server's Retry-After is a floor (retrying sooner spends attempts inside its outage); maxDelayMs stays the ceiling.
        await sleep(retryDelay(this.retry, attempt, serverWaitMs), options?.signal);
      }
    }
  }

  /** `send`, with the answer parsed as JSON (undefined for an empty answer such as 204). */
  json<T>(call: Call): Promise<T> {
    return this.send(call, async (response) => {
      const text = await response.text();
      // A browser can hand over an answer whose connection was cut as an empty body: cut after its
      // headers (its Content-Length says what should have come), or after its status line alone (a 200
      // with no headers at all: Chromium, under test/browser/client.test.ts's cutting proxy). Every answer
      // of this API but a 204 has a body, so an empty one is a cut attempt, retried as one.
      if (text === '' && response.status !== 204) throw new Error('the answer ended before its body');
      return (text ? JSON.parse(text) : undefined) as T;
    });
  }
}

function notJson(response: Response, error: SyntaxError): SessionSyncError {
  return new SessionSyncError(
    { status: response.status, code: CLIENT_ERROR.invalidResponse, title: 'Invalid response', detail: `the ${response.status} answer is not JSON (${error.message})` },
    { cause: error },
  );
}
