import { afterAll, beforeAll, expect } from 'vitest';
import { call, createSession, createTestApp, type TestApp } from './app.js';
import { type SseClient as SseClientType, SseClient } from './sse.js';

// Shared by the stream, live, activity and changes tests.

/** One app listening on a real port for the whole test file; `use` receives it before the first test. */
export function listeningApp(use: (app: TestApp) => void): void {
  let app: TestApp | undefined;
  beforeAll(async () => {
    app = await createTestApp();
    await app.listen();
    use(app);
  });
  afterAll(async () => {
    await app?.close();
  });
}

export async function append(app: TestApp, id: string, events: { type: string; data: unknown }[]): Promise<{ first_seq: number; last_seq: number }> {
  const res = await call(app.app, 'POST', `/v1/sessions/${id}/events`, { events });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

/** A session holding `n` events of type `e<seq>` with data `{n: seq}`. */
export async function sessionWithEvents(app: TestApp, id: string, n: number): Promise<void> {
  await createSession(app, id);
  if (n > 0) await append(app, id, Array.from({ length: n }, (_, i) => ({ type: `e${i + 1}`, data: { n: i + 1 } })));
}

export async function history(app: TestApp, id: string): Promise<{ events: any[]; last_seq: number; has_more: boolean }> {
  const res = await call(app.app, 'GET', `/v1/sessions/${id}/events?limit=1000`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

export async function getSession(app: TestApp, id: string): Promise<any> {
  const res = await call(app.app, 'GET', `/v1/sessions/${id}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

export function open(app: TestApp, path: string, headers: Record<string, string> = {}): Promise<SseClientType> {
  return SseClient.open(`${app.baseUrl}${path}`, headers);
}

export function markers(client: SseClientType) {
  return client.ofType('session.activity');
}

/** Waits for the one `session.activity` marker that ends the replay. */
export async function waitForMarker(client: SseClientType): Promise<void> {
  await client.waitFor(() => markers(client).length >= 1, 'the session.activity marker');
}

/** Polls `read` until `done` holds (a bounded wait, not an assertion on time). */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

/** A POST of NDJSON live lines whose body the test writes while the request is open. */
export function ndjsonRequest(baseUrl: string, id: string) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  const encoder = new TextEncoder();
  const response = fetch(`${baseUrl}/v1/sessions/${id}/live`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body,
    duplex: 'half',
  } as RequestInit);
  return {
    /** Text, or bytes as they are (a chunk may end inside a character). */
    write: (chunk: string | Uint8Array) => controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk),
    end: () => controller.close(),
    response,
  };
}
