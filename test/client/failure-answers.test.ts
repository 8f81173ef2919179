import { describe, expect, it } from 'vitest';
import { createClient, SessionSyncError } from '../../client/src/index.js';
import { problem, scriptedFetch } from '../helpers/fake-fetch.js';

// What a failed call rejects with (docs/client.md: "Every failure is a
// SessionSyncError with status, code, detail and the whole problem
// document"), for every kind of answer a server, proxy or connection can
// give: a problem document, a page or JSON that is not one, an empty or cut
// body, or no answer at all.
const once = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 };

async function failureOf(answer: () => Response | never): Promise<SessionSyncError> {
  const { fetch } = scriptedFetch(answer);
  const client = createClient({ baseUrl: 'http://server.test', fetch, retry: once });
  const error = await client.getSession('x').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SessionSyncError);
  return error as SessionSyncError;
}

/** A body that breaks off after `text`, as when the connection drops while an answer is read. */
function cutBody(text: string): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.error(new TypeError('terminated'));
    },
  });
}

describe('a failed answer as a SessionSyncError', () => {
  it('a problem document is the error: its code and detail, the status of the answer, a message naming both', async () => {
    const error = await failureOf(() => problem(409, 'version_conflict', { expected_version: 5 }));
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ status: 409, code: 'version_conflict', detail: 'version_conflict (scripted)' });
    expect(error.problem).toEqual({
      type: 'about:blank',
      title: 'version_conflict',
      status: 409,
      code: 'version_conflict',
      detail: 'version_conflict (scripted)',
      expected_version: 5,
    });
    // What a log line or an uncaught rejection shows.
    expect(error.name).toBe('SessionSyncError');
    expect(String(error)).toBe('SessionSyncError: 409 version_conflict: version_conflict (scripted)');
  });

  it('no answer at all is status 0 network_error, with what fetch threw as its cause', async () => {
    const thrown = new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') });
    const error = await failureOf(() => {
      throw thrown;
    });
    expect(error.problem).toEqual({ status: 0, code: 'network_error', title: 'Network error', detail: 'fetch failed' });
    expect(error.cause).toBe(thrown);
    expect(error.message).toBe('network_error: fetch failed');
  });

  const page = '<html><body><h1>500 Internal Server Error</h1></body></html>';
  const long = `${'x'.repeat(500)}${'y'.repeat(1500)}`;
  it.each([
    ['an HTML page from a proxy', () => new Response(page, { status: 500, statusText: 'Internal Server Error' }), 500, page],
    // A gateway's JSON that has no problem `code` (AWS API Gateway answers this way).
    ['JSON that is not a problem document', () => new Response('{"message":"Internal server error"}', { status: 500, statusText: 'Oops' }), 500, '{"message":"Internal server error"}'],
    ['JSON null', () => new Response('null', { status: 500, statusText: 'Oops' }), 500, 'null'],
    ['a long body, cut to its first 500 characters', () => new Response(long, { status: 400, statusText: 'Bad Request' }), 400, 'x'.repeat(500)],
    ['an empty body: the status text', () => new Response(null, { status: 404, statusText: 'Not Found' }), 404, 'Not Found'],
    ['an empty body and no status text: the status', () => new Response(null, { status: 418 }), 418, 'HTTP 418'],
    ['a body cut off while it was read: the status text', () => new Response(cutBody('{"code":"ha'), { status: 500, statusText: 'Internal Server Error' }), 500, 'Internal Server Error'],
  ])('%s is code http_<status> with the body as its detail', async (_name, answer, status, detail) => {
    const error = await failureOf(answer);
    expect(error).toMatchObject({ status, code: `http_${status}`, detail });
    expect(error.problem).toEqual({ status, code: `http_${status}`, title: answer().statusText, detail });
  });
});
