import { DurableStream, IdempotentProducer, type JsonBatch, type LiveMode, stream } from '@durable-streams/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';
import { unlessStuck } from '../helpers/waits.js';

// The Durable Streams face spoken to by the official client (@durable-streams/client 0.2.7), not by
// hand-made requests: its producer, its catch-up, long-poll and SSE readers, against our native faces
// and across two instances. What the conformance suite does not pin: the mapping between the faces.
const LONG_POLL_MS = 20_000;
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  // A long-poll timeout far longer than any wait below, and no head poll (the backstop for lost wakeups)
  // in the file's time: an answer that came in time came by a wakeup.
  const env = { STREAM_LONG_POLL_MS: String(LONG_POLL_MS), STREAM_HEAD_POLL_MS: '3600000' };
  a = await createTestApp({ env });
  await a.listen();
  b = await createTestApp({ databaseUrl: a.url, env });
  await b.listen();
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

const dsUrl = (app: TestApp, path: string) => `${app.baseUrl}/v1/stream/${path}`;

async function nativeEvents(id: string): Promise<{ seq: number; type: string; data: unknown }[]> {
  const res = await call(a.app, 'GET', `/v1/sessions/${id}/events?limit=1000`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().events;
}

/** Follows a stream with the client until `until` holds of what came, then stops; every item with the time it came. */
async function follow<T>(url: string, live: LiveMode, until: (items: T[]) => boolean, offset = '-1') {
  const items: T[] = [];
  const arrived: number[] = [];
  const batches: JsonBatch<T>[] = [];
  const controller = new AbortController();
  const res = await stream<T>({ url, live, offset, signal: controller.signal });
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  res.subscribeJson((batch) => {
    batches.push(batch);
    for (const item of batch.items) {
      items.push(item);
      arrived.push(Date.now());
    }
    if (until(items)) done();
  });
  return {
    items,
    arrived,
    batches,
    finished,
    stop: () => {
      controller.abort();
      res.cancel();
    },
  };
}


describe('an idempotent producer of the official client, a native subscriber', () => {
  it('the native SSE stream sees each message as a stream.message event with its data, in order, with seqs', async () => {
    const handle = await DurableStream.create({ url: dsUrl(a, 'interop/prod-1'), contentType: 'application/json' });
    const native = await SseClient.open(`${a.baseUrl}/v1/sessions/interop:prod-1/stream`);
    try {
      expect(native.status).toBe(200);
      const errors: Error[] = [];
      const producer = new IdempotentProducer(handle, 'writer-1', { autoClaim: true, lingerMs: 1, onError: (error) => errors.push(error) });
      const messages = Array.from({ length: 40 }, (_, i) => ({ n: i, text: `message ${i} é ✓ 🙂` }));
      // 0.2.7 takes strings or bytes only (its README's objects are refused): a JSON text per message.
      for (const message of messages) producer.append(JSON.stringify(message));
      await producer.flush();
      // Some more after a pause: a second flush is a later request, its seq the next.
      for (const message of messages.slice(0, 5)) producer.append(JSON.stringify({ ...message, again: true }));
      await producer.flush();
      await producer.detach();
      expect(errors).toEqual([]);
      await native.waitForDurable(45);
      const frames = native.durable;
      expect(frames.map((f) => f.event)).toEqual(Array(45).fill('stream.message'));
      expect(frames.map((f) => Number(f.id))).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
      expect(frames.map((f) => f.json.seq)).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
      expect(frames.map((f) => f.json.data)).toEqual([...messages, ...messages.slice(0, 5).map((m) => ({ ...m, again: true }))]);
      // And the stored history is the same.
      expect((await nativeEvents('interop:prod-1')).map((e) => e.data)).toEqual(frames.map((f) => f.json.data));
    } finally {
      await native.close();
    }
  });

  it('a producer closing with a final message: the native stream has it, the client reader sees EOF', async () => {
    const handle = await DurableStream.create({ url: dsUrl(a, 'interop/prod-2'), contentType: 'application/json' });
    const producer = new IdempotentProducer(handle, 'writer-2', { lingerMs: 1 });
    producer.append(JSON.stringify({ step: 1 }));
    const result = await producer.close(JSON.stringify({ done: true }));
    expect(result.finalOffset).toBe(`0000000000000000_${String(2).padStart(16, '0')}`);
    expect((await nativeEvents('interop:prod-2')).map((e) => [e.type, e.data])).toEqual([
      ['stream.message', { step: 1 }],
      ['stream.message', { done: true }],
    ]);
    const res = await stream<unknown>({ url: dsUrl(b, 'interop/prod-2'), live: true });
    expect(await unlessStuck(res.json(), 'the closed stream read')).toEqual([{ step: 1 }, { done: true }]);
    expect(res.streamClosed).toBe(true);
    // A native write to it is refused, as any write to a closed session.
    const refused = await call(a.app, 'POST', '/v1/sessions/interop:prod-2/events', { events: [{ type: 'note', data: 1 }] });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('session_closed');
  });
});

describe('a native writer, the official client reading', () => {
  /** What docs/API.md says a DS reader sees of a native event: a stream.message's data, else {type, data}. */
  const asMessage = (e: { type: string; data: unknown }) => (e.type === 'stream.message' ? e.data : { type: e.type, data: e.data });

  async function nativeSession(id: string) {
    await createSession(a, id);
    const events = await call(a.app, 'POST', `/v1/sessions/${id}/events`, {
      events: [
        { type: 'note', data: { text: 'héllo 🙂' } },
        { type: 'tool.call', data: [1, 'two', null] },
        { type: 'flag', data: true },
      ],
    });
    expect(events.statusCode, events.body).toBe(201);
    const state = await call(a.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { count: 0 } });
    expect(state.statusCode, state.body).toBe(200);
    const delta = await call(a.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, patch: [{ op: 'replace', path: '/count', value: 1 }] });
    expect(delta.statusCode, delta.body).toBe(200);
  }

  it('catch-up: every native event, typed events and state writes, as docs/API.md maps them, in seq order', async () => {
    await nativeSession('interop:native-1');
    const events = await nativeEvents('interop:native-1');
    expect(events.map((e) => e.type)).toEqual(['note', 'tool.call', 'flag', 'state.snapshot', 'state.delta']);
    const handle = await DurableStream.connect({ url: dsUrl(b, 'interop/native-1') });
    expect(handle.contentType).toBe('application/json');
    const res = await handle.stream<unknown>({ live: false });
    expect(await res.json()).toEqual(events.map(asMessage));
    expect(res.offset).toBe(`0000000000000000_${String(events.length).padStart(16, '0')}`);
    expect(res.upToDate).toBe(true);
  });

  for (const live of ['long-poll', 'sse'] as const) {
    it(`${live}: the history, then native writes as they commit, each once, in order`, async () => {
      const id = `interop:native-${live}`;
      await nativeSession(id);
      const before = (await nativeEvents(id)).length;
      const reader = await follow<unknown>(dsUrl(b, `interop/native-${live}`), live, (items) => items.length >= before + 6);
      try {
        await expect.poll(() => reader.items.length).toBe(before);
        for (let i = 0; i < 5; i++) {
          const res = await call(a.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'tick', data: { i } }] });
          expect(res.statusCode).toBe(201);
        }
        const delta = await call(a.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 2, patch: [{ op: 'replace', path: '/count', value: 2 }] });
        expect(delta.statusCode, delta.body).toBe(200);
        await unlessStuck(reader.finished, `the ${live} reader catching the native writes`);
        expect(reader.items).toEqual((await nativeEvents(id)).map(asMessage));
      } finally {
        reader.stop();
      }
    });
  }
});

describe('two instances: appended through one, followed through the other', () => {
  for (const live of ['long-poll', 'sse'] as const) {
    it(`${live}: every message once, in order, each by the wakeup of its append`, async () => {
      const path = `interop/twin-${live}`;
      const handle = await DurableStream.create({ url: dsUrl(a, path), contentType: 'application/json' });
      const N = 30;
      const reader = await follow<{ n: number }>(dsUrl(b, path), live, (items) => items.length >= N);
      try {
        await expect.poll(() => reader.batches.length).toBeGreaterThanOrEqual(1);
        const appended: number[] = [];
        for (let n = 0; n < N; n++) {
          // One at a time, some in bursts: a wakeup may cover several appends.
          await handle.append(JSON.stringify({ n }));
          appended.push(Date.now());
          if (n % 7 === 6) await new Promise((resolve) => setTimeout(resolve, 150));
        }
        await unlessStuck(reader.finished, `the ${live} reader on the other instance`);
        expect(reader.items.map((item) => item.n)).toEqual(Array.from({ length: N }, (_, n) => n));
        // By the wakeup: with no head poll, only the long-poll timeout (20 s) would bring a message otherwise.
        // Bounded well below it, not by the machine's speed.
        const lags = reader.arrived.map((at, n) => at - appended[n]!);
        expect(Math.max(...lags)).toBeLessThan(LONG_POLL_MS / 2);
      } finally {
        reader.stop();
      }
    });
  }
});

describe('closing through one instance, reading through the other', () => {
  for (const live of ['long-poll', 'sse'] as const) {
    it(`${live}: a reader following at the tail gets the last messages and streamClosed, then stops`, async () => {
      const path = `interop/close-${live}`;
      const handle = await DurableStream.create({ url: dsUrl(a, path), contentType: 'application/json' });
      await handle.append(JSON.stringify({ n: 0 }));
      const reader = await follow<{ n: number }>(dsUrl(b, path), live, () => false);
      try {
        await expect.poll(() => reader.items.length).toBe(1);
        const producer = new IdempotentProducer(handle, `closer-${live}`, { lingerMs: 1 });
        producer.append(JSON.stringify({ n: 1 }));
        await producer.close(JSON.stringify({ n: 2 }));
        await expect.poll(() => reader.batches.at(-1)?.streamClosed, { timeout: 5000 }).toBe(true);
        expect(reader.items).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
      } finally {
        reader.stop();
      }
    });
  }
});

describe('byte streams round-trip exactly through the client', () => {
  const text = 'plain ASCII, then é ü ß, then 漢字, then 🙂👍🏽\nsecond line\n';

  it('text/plain: appends split inside multibyte characters read back as the same bytes and text', async () => {
    const handle = await DurableStream.create({ url: dsUrl(a, 'interop/text'), contentType: 'text/plain; charset=utf-8', batching: false });
    const bytes = new TextEncoder().encode(text);
    // Cut at every 5th byte: most cuts fall inside a character of two, three or four bytes.
    for (let at = 0; at < bytes.length; at += 5) await handle.append(bytes.slice(at, at + 5));
    const caught = await stream({ url: dsUrl(b, 'interop/text'), live: false });
    expect(await caught.text()).toBe(text);
    const raw = await stream({ url: dsUrl(b, 'interop/text'), live: false });
    expect(Buffer.from(await raw.body())).toEqual(Buffer.from(bytes));
  });

  for (const live of ['long-poll', 'sse'] as const) {
    it(`${live}: text appended while a reader follows arrives as the same text`, async () => {
      const path = `interop/text-${live}`;
      const handle = await DurableStream.create({ url: dsUrl(a, path), contentType: 'text/plain', batching: false });
      await handle.append('first 🙂\n');
      const controller = new AbortController();
      const res = await stream({ url: dsUrl(b, path), live, signal: controller.signal });
      let got = '';
      const enough = new Promise<void>((resolve) => {
        res.subscribeText((chunk) => {
          got += chunk.text;
          if (got.length >= text.length + 'first 🙂\n'.length) resolve();
        });
      });
      try {
        await expect.poll(() => got).toBe('first 🙂\n');
        await handle.append(text);
        await unlessStuck(enough, `the ${live} text reader`);
        expect(got).toBe(`first 🙂\n${text}`);
      } finally {
        controller.abort();
        res.cancel();
      }
    });
  }

  it('text over SSE: CR and CRLF read back as LF (SSE has no CR in a data line: PROTOCOL and the reference server alike); long-poll keeps them', async () => {
    const path = 'interop/text-crlf';
    const handle = await DurableStream.create({ url: dsUrl(a, path), contentType: 'text/plain', batching: false });
    await handle.append('x');
    const readers = await Promise.all(
      (['long-poll', 'sse'] as const).map(async (live) => {
        const controller = new AbortController();
        const res = await stream({ url: dsUrl(b, path), live, offset: `0000000000000000_${'1'.padStart(16, '0')}`, signal: controller.signal });
        const reader = { got: '', stop: () => (controller.abort(), res.cancel()) };
        res.subscribeText((chunk) => void (reader.got += chunk.text));
        return reader;
      }),
    );
    try {
      // Both at the tail first: what follows comes by long-poll and by SSE respectively, not by a catch-up read.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await handle.append('a\r\nb\rc\n\nd\r\n');
      await expect.poll(() => readers.map((r) => r.got)).toEqual(['a\r\nb\rc\n\nd\r\n', 'a\nb\nc\n\nd\n']);
    } finally {
      for (const reader of readers) reader.stop();
    }
  });

  it('application/octet-stream: every byte value, catch-up and SSE (base64), byte for byte', async () => {
    const path = 'interop/octets';
    const handle = await DurableStream.create({ url: dsUrl(a, path), contentType: 'application/octet-stream', batching: false });
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    await handle.append(all.slice(0, 100));
    await handle.append(all.slice(100));
    const caught = await stream({ url: dsUrl(b, path), live: false });
    expect(Buffer.from(await caught.body())).toEqual(Buffer.from(all));

    const controller = new AbortController();
    const res = await stream({ url: dsUrl(b, path), live: 'sse', signal: controller.signal });
    const chunks: Uint8Array[] = [];
    const total = () => chunks.reduce((sum, c) => sum + c.length, 0);
    res.subscribeBytes((chunk) => void chunks.push(chunk.data));
    try {
      await expect.poll(total).toBe(256);
      await handle.append(all.slice().reverse());
      await expect.poll(total).toBe(512);
      expect(Buffer.concat(chunks)).toEqual(Buffer.concat([Buffer.from(all), Buffer.from(all).reverse()]));
    } finally {
      controller.abort();
      res.cancel();
    }
  });
});
