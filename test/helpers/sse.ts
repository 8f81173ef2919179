import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface SseMessage {
  /** SSE `id:` (durable events only). */
  id?: string;
  event: string;
  data: string;
  /** `data` parsed as JSON. */
  json: any;
}

/**
 * A test client for one SSE response over fetch, parsed by eventsource-parser.
 * Collects every message and comment; `waitFor` waits (bounded) for a condition.
 */
export class SseClient {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  status = 0;
  headers = new Headers();
  /** Raw text received, for assertions on framing. */
  raw = '';
  ended = false;
  /** Why the stream ended, if not cleanly. */
  error: Error | undefined;
  private readonly controller = new AbortController();
  private readonly done: Promise<void>;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly url: string,
    init: RequestInit,
    ready: (value: void) => void,
  ) {
    this.done = this.run(init, ready);
  }

  /** Opens a stream and resolves once its status and headers are in. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    let client!: SseClient;
    await new Promise<void>((resolve) => {
      client = new SseClient(url, { headers: { accept: 'text/event-stream', ...headers } }, resolve);
    });
    return client;
  }

  private async run(init: RequestInit, ready: (value: void) => void): Promise<void> {
    try {
      const response = await fetch(this.url, { ...init, signal: this.controller.signal });
      this.status = response.status;
      this.headers = response.headers;
      ready();
      const parser = createParser({
        onEvent: (message: EventSourceMessage) => {
          this.messages.push({
            ...(message.id === undefined ? {} : { id: message.id }),
            event: message.event ?? 'message',
            data: message.data,
            json: safeJson(message.data),
          });
          this.notify();
        },
        onComment: (comment) => {
          this.comments.push(comment);
          this.notify();
        },
        onRetry: (retry) => {
          this.retry = retry;
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        const text = decoder.decode(chunk, { stream: true });
        this.raw += text;
        parser.feed(text);
      }
    } catch (error) {
      // The server cutting the connection (e.g. a slow reader) ends the stream too.
      if ((error as Error).name !== 'AbortError') this.error = error as Error;
    } finally {
      this.ended = true;
      ready();
      this.notify();
    }
  }

  private notify(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Durable events (frames with an id). */
  get durable(): SseMessage[] {
    return this.messages.filter((m) => m.id !== undefined);
  }

  ofType(event: string): SseMessage[] {
    return this.messages.filter((m) => m.event === event);
  }

  async waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (condition()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages.map((m) => [m.id, m.event]))}`));
      }, timeoutMs);
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  /** Waits until `count` durable events have arrived. */
  waitForDurable(count: number, timeoutMs?: number): Promise<void> {
    return this.waitFor(() => this.durable.length >= count, `${count} durable events`, timeoutMs);
  }

  /** Waits for the server to end the stream. */
  waitForEnd(timeoutMs?: number): Promise<void> {
    return this.waitFor(() => this.ended, 'the stream to end', timeoutMs);
  }

  async close(): Promise<void> {
    this.controller.abort();
    await this.done.catch(() => {});
  }
}

function safeJson(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}
