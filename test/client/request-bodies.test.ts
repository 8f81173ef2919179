import { afterEach, describe, expect, it, vi } from 'vitest';
import { createClient, type LiveEvent } from '../../client/src/index.js';
import { json, problem, scriptedFetch } from '../helpers/fake-fetch.js';

// Bodies that are not one JSON document, observed through a scripted
// transport: a publishLive token stream split across requests and stopped
// when its request ends, uploads and imports that are retried only when
// their bytes can be sent again, and export and download answers.
const fast = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

/** A peer that reads the first line of a streamed body, stops reading (cancels it), and answers that one event was taken. */
function readOneLineThenCancel(onRequest: () => void): typeof fetch {
  return async (_input, init) => {
    onRequest();
    const reader = (init!.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel(new Error('the server stopped reading'));
    return json({ accepted: 1, after_seq: 0 });
  };
}

describe('publishLive with a token stream', () => {
  it('the producer is asked for more events in the same request until the request is older than maxRequestMs, then in the next', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const bodies: string[] = [];
    const client = createClient({
      baseUrl: 'http://server.test',
      retry: fast,
      fetch: async (_input, init) => {
        const lines = (await new Response(init?.body).text()).split('\n').filter(Boolean);
        bodies.push(lines.map((line) => (JSON.parse(line) as LiveEvent).data).join(','));
        return json({ accepted: lines.length, after_seq: 7 });
      },
    });
    async function* tokens() {
      yield { type: 'token', data: 'a' };
      vi.advanceTimersByTime(1000);
      yield { type: 'token', data: 'b' };
      // Asked for when the request is exactly maxRequestMs old: still in it.
      yield { type: 'token', data: 'c' };
      vi.advanceTimersByTime(1);
      yield { type: 'token', data: 'd' };
      // Asked for when the request is older than maxRequestMs: in the next one.
      yield { type: 'token', data: 'e' };
    }
    expect(await client.publishLive('s', tokens(), { maxRequestMs: 1000 })).toEqual({ accepted: 5, after_seq: 7 });
    expect(bodies).toEqual(['a,b,c,d', 'e']);
  });

  it('a producer quiet for longer than maxRequestMs: its request ends on time, and the next opens only once there is an event to send', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const bodies: string[] = [];
    let opened = 0;
    const client = createClient({
      baseUrl: 'http://server.test',
      retry: fast,
      fetch: async (_input, init) => {
        opened++;
        const lines = (await new Response(init?.body).text()).split('\n').filter(Boolean);
        bodies.push(lines.map((line) => (JSON.parse(line) as LiveEvent).data).join(','));
        return json({ accepted: lines.length, after_seq: 3 });
      },
    });
    let resume!: () => void;
    const toolCall = new Promise<void>((resolve) => (resume = resolve));
    async function* tokens() {
      yield { type: 'token', data: 'a' };
      // The model calls a tool: nothing for far longer than a request may stay open.
      await toolCall;
      yield { type: 'token', data: 'b' };
    }
    const published = client.publishLive('s', tokens(), { maxRequestMs: 1000 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(bodies).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(opened).toBe(1);
    resume();
    expect(await published).toEqual({ accepted: 2, after_seq: 3 });
    expect(bodies).toEqual(['a', 'b']);
  });

  it('a request whose body is cancelled (its reader stopped) ends the stream: the producer is stopped, nothing more is sent', async () => {
    let stopped = false;
    async function* tokens() {
      try {
        for (let i = 0; i < 3; i++) yield { type: 'token', data: i };
      } finally {
        stopped = true;
      }
    }
    let requests = 0;
    const client = createClient({ baseUrl: 'http://server.test', retry: fast, fetch: readOneLineThenCancel(() => requests++) });
    expect(await client.publishLive('s', tokens())).toEqual({ accepted: 1, after_seq: 0 });
    expect(stopped).toBe(true);
    expect(requests).toBe(1);
  });

  // `return` is optional on an async iterator: a hand-written one may have none.
  const withoutReturn = (): AsyncIterable<LiveEvent> => ({
    [Symbol.asyncIterator]: () => {
      let n = 0;
      return { next: async () => (n < 3 ? { done: false, value: { type: 'token', data: n++ } } : { done: true, value: undefined }) };
    },
  });

  it('an iterator without return() fails with the failure of its request', async () => {
    const { fetch } = scriptedFetch(() => problem(503, 'database_unavailable'));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    await expect(client.publishLive('s', withoutReturn())).rejects.toMatchObject({ status: 503, code: 'database_unavailable' });
  });

  it('an iterator without return() whose request body is cancelled ends with the answer', async () => {
    const client = createClient({ baseUrl: 'http://server.test', retry: fast, fetch: readOneLineThenCancel(() => {}) });
    expect(await client.publishLive('s', withoutReturn())).toEqual({ accepted: 1, after_seq: 0 });
  });
});

describe('uploads and imports', () => {
  const failOnce = () => scriptedFetch((_r, i) => (i === 0 ? problem(502, 'bad_gateway') : json({ attachment_id: 'a', id: 'imported' }, 201)));
  const bodies = {
    Blob: () => new Blob(['bytes']),
    buffer: () => new TextEncoder().encode('bytes'),
    string: () => 'bytes',
  };

  it.each(Object.entries(bodies))('a %s is sent again after a 502, by an upload and by an import', async (_kind, body) => {
    for (const send of [
      (client: ReturnType<typeof createClient>) => client.uploadAttachment('s', body()),
      (client: ReturnType<typeof createClient>) => client.importSession(body()),
    ]) {
      const { fetch, requests } = failOnce();
      await expect(send(createClient({ baseUrl: 'http://server.test', fetch, retry: fast }))).resolves.toMatchObject({ attachment_id: 'a' });
      expect(requests).toHaveLength(2);
    }
  });

});

describe('exports and downloads', () => {
  it('an export asks for NDJSON and a download for any type, not JSON', async () => {
    const { fetch, requests } = scriptedFetch(() => new Response('{"record":"end"}\n', { status: 200 }));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    await new Response(await client.exportSession('s')).text();
    await (await client.downloadAttachment('s', 'a')).text();
    expect(requests.map((r) => [r.url.pathname, r.headers.get('accept')])).toEqual([
      ['/v1/sessions/s/export', 'application/x-ndjson'],
      ['/v1/sessions/s/attachments/a', '*/*'],
    ]);
  });

  it('an export answered without a body is a network_error, tried again like any read', async () => {
    const { fetch, requests } = scriptedFetch((_r, i) => (i === 0 ? new Response(null, { status: 204 }) : new Response('{"record":"end"}\n')));
    const client = createClient({ baseUrl: 'http://server.test', fetch, retry: fast });
    expect(await new Response(await client.exportSession('s')).text()).toBe('{"record":"end"}\n');
    expect(requests).toHaveLength(2);

    const empty = scriptedFetch(() => new Response(null, { status: 204 }));
    const failing = createClient({ baseUrl: 'http://server.test', fetch: empty.fetch, retry: fast });
    await expect(failing.exportSession('s')).rejects.toMatchObject({ status: 0, code: 'network_error', detail: 'the export answered without a body' });
    expect(empty.requests).toHaveLength(fast.attempts);
  });
});
