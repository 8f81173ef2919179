import { describe, expect, it } from 'vitest';
import { createClient, SessionSyncError } from '../../client/src/index.js';
import { json, scriptedFetch, type SeenRequest } from '../helpers/fake-fetch.js';

// What the client's transport puts on the wire and how a call ends when its
// answer is odd: a 304, a body that is not JSON, a body cut off or aborted
// while it is read, an abort with no attempts left (docs/client.md,
// "createClient" and "Requests").
const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 };
const session = { id: 'x', version: 0, last_seq: 0 };

/** A scripted transport that also keeps the RequestInit of every request, as a caller's own `fetch` sees it. */
function recording(answer: (request: SeenRequest, index: number) => Response | Promise<Response>) {
  const scripted = scriptedFetch(answer);
  const inits: (RequestInit & { duplex?: string })[] = [];
  const fetch: typeof globalThis.fetch = (input, init) => {
    inits.push(init ?? {});
    return scripted.fetch(input, init);
  };
  return { fetch, requests: scripted.requests, inits };
}

const bytes = (text: string) => new TextEncoder().encode(text);

/** A 200 whose body stops halfway: the connection died while the answer came in. */
function cutOff(): Response {
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(bytes('{"version": 1, "se'));
      controller.error(new TypeError('terminated'));
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
}

describe('what a request carries', () => {
  it('a read asks for JSON, sends no body and no Idempotency-Key, and leaves out the query parameters it was not given', async () => {
    const { fetch, requests, inits } = recording(() => json({ events: [], next_after: null }));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    // A first page: the caller has no cursor yet.
    const cursor: number | undefined = undefined;
    await client.listEvents('s', { after: cursor, limit: 5 });
    expect(requests[0]!.url.search).toBe('?limit=5');
    expect(requests[0]!.headers.get('accept')).toBe('application/json');
    expect(requests[0]!.headers.get('idempotency-key')).toBeNull();
    expect(inits[0]!.body).toBeUndefined();
  });

  it('a streamed body is sent with duplex "half" (fetch refuses a stream without it); other bodies and reads are not', async () => {
    const { fetch, inits } = recording((request) => (request.method === 'GET' ? json(session) : json({ attachment_id: 'a' }, 201)));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    await client.uploadAttachment('s', new Blob(['streamed']).stream());
    await client.uploadAttachment('s', new Blob(['whole']));
    await client.pushDelta('s', { base_version: 0, merge_patch: {} });
    await client.getSession('s');
    expect(inits.map((init) => init.duplex)).toEqual(['half', undefined, undefined, undefined]);
  });
});

describe('answers that are not the usual JSON', () => {
  it("a 304 (from a caller's fetch that revalidates its cache with If-None-Match) is an answer, not a failure", async () => {
    const { fetch, requests } = recording(() => new Response(null, { status: 304, headers: { etag: '"abc"' } }));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    const answer = await client.downloadAttachment('s', 'abc');
    expect(answer.status).toBe(304);
    expect(requests).toHaveLength(1);
  });

  // docs/client.md: "Every failure is a SessionSyncError". A 200 that is not JSON (a baseUrl that points
  // at a web server answering its index.html, a captive portal) is the same answer every time:
  // it is not retried, and it fails as a SessionSyncError that says what came, not as a bare SyntaxError.
  it('a 200 whose body is not JSON fails at once as a SessionSyncError with that status', async () => {
    const { fetch, requests } = recording((_r, i) =>
      i === 0 ? new Response('<!doctype html><title>app</title>', { status: 200, headers: { 'content-type': 'text/html' } }) : json(session),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    const error = await client.getSession('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionSyncError);
    expect(error).toMatchObject({ status: 200, code: 'invalid_response', problem: { title: 'Invalid response' } });
    expect((error as SessionSyncError).detail).toContain('not JSON');
    expect((error as SessionSyncError).cause).toBeInstanceOf(SyntaxError);
    expect(requests).toHaveLength(1);
  });

  it('an answer cut off mid-body is retried when the call has options without a signal', async () => {
    const { fetch, requests } = recording((_r, i) => (i === 0 ? cutOff() : json({ version: 1, seq: 1 })));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    expect(await client.pushDelta('s', { base_version: 0, merge_patch: {} }, { idempotencyKey: 'cut-1' })).toEqual({ version: 1, seq: 1 });
    expect(requests.map((r) => r.headers.get('idempotency-key'))).toEqual(['cut-1', 'cut-1']);
  });

  it('an answer cut off mid-body with no attempts left fails as a network_error after one request', async () => {
    const { fetch, requests } = recording((_r, i) => (i === 0 ? cutOff() : json(session)));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: { ...fast, attempts: 1 } });
    await expect(client.getSession('x')).rejects.toMatchObject({ status: 0, code: 'network_error' });
    expect(requests).toHaveLength(1);
  });
});

describe('an abort with no attempts left', () => {
  it('while the request is in flight: the call rejects with the abort reason, not a network_error', async () => {
    const controller = new AbortController();
    const reason = new DOMException('user gave up', 'AbortError');
    const { fetch } = recording(
      (request) =>
        new Promise<Response>((_resolve, reject) => {
          request.signal?.addEventListener('abort', () => reject(new TypeError('fetch failed')), { once: true });
          controller.abort(reason);
        }),
    );
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: { ...fast, attempts: 1 } });
    expect(await client.getSession('x', { signal: controller.signal }).catch((e: unknown) => e)).toBe(reason);
  });

  it('while the answer is read: the call rejects with the abort reason, not a network_error', async () => {
    const controller = new AbortController();
    const reason = new DOMException('user gave up', 'AbortError');
    const { fetch } = recording(() => {
      const body = new ReadableStream<Uint8Array>({
        pull(stream) {
          stream.enqueue(bytes('{"id": "x", "ver'));
          controller.abort(reason);
          stream.error(reason);
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    });
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: { ...fast, attempts: 1 } });
    expect(await client.getSession('x', { signal: controller.signal }).catch((e: unknown) => e)).toBe(reason);
  });
});
