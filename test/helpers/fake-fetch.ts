/**
 * A scripted transport for the client's fault tests: each request the client
 * makes is handed to `answer`, which returns the Response it gets (or throws,
 * as fetch does when no answer comes). It injects transport faults only; the
 * server's own behaviour is tested against the real server elsewhere.
 */
export interface SeenRequest {
  method: string;
  url: URL;
  headers: Headers;
  /** Logical time (Date.now(), faked where the test fakes it) when the request went out. */
  at: number;
  signal: AbortSignal | undefined;
}

export function scriptedFetch(answer: (request: SeenRequest, index: number) => Response | Promise<Response>): {
  fetch: typeof fetch;
  requests: SeenRequest[];
} {
  const requests: SeenRequest[] = [];
  const fake = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request: SeenRequest = {
      method: init?.method ?? 'GET',
      url: new URL(String(input)),
      headers: new Headers(init?.headers),
      at: Date.now(),
      signal: init?.signal ?? undefined,
    };
    requests.push(request);
    // Reading a body the client streams (NDJSON) is what a server does; it also lets the producer run.
    if (init?.body instanceof ReadableStream) await new Response(init.body).text().catch(() => '');
    return answer(request, requests.length - 1);
  };
  return { fetch: fake as typeof fetch, requests };
}

export function problem(status: number, code: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: 'about:blank', title: code, status, code, detail: `${code} (scripted)`, ...extra }), {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  });
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** What fetch throws when the connection is refused or cut before an answer. */
export function networkFailure(): never {
  throw new TypeError('fetch failed', { cause: new Error('ECONNRESET (scripted)') });
}

export interface SseFrame {
  id?: number;
  event?: string;
  data: unknown;
}

export function sseText(frames: SseFrame[]): string {
  return frames
    .map((f) => `${f.id === undefined ? '' : `id: ${f.id}\n`}${f.event ? `event: ${f.event}\n` : ''}data: ${JSON.stringify(f.data)}\n\n`)
    .join('');
}

/**
 * A 200 event stream that sends `frames`, then ends (the server closed it) or,
 * with `hold`, stays open sending nothing until the client aborts the request.
 */
export function sseResponse(frames: SseFrame[], options: { hold?: boolean; signal?: AbortSignal | undefined } = {}): Response {
  const bytes = new TextEncoder().encode(sseText(frames));
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (bytes.length > 0) controller.enqueue(bytes);
      if (!options.hold) return controller.close();
      const signal = options.signal;
      const fail = () => controller.error(signal?.reason ?? new DOMException('aborted', 'AbortError'));
      if (signal?.aborted) fail();
      else signal?.addEventListener('abort', fail, { once: true });
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}
