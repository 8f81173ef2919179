import http from 'node:http';
import { createParser } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

// Trimming under open streams: a stream either sends every event in order or
// says `session.cursor_expired` and ends; it never skips one silently.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000' } });
  await t.listen();
});
afterAll(() => t.close());

interface Frame {
  id?: string;
  event: string;
  data: any;
}

/** Opens a stream whose body is not read until `resume()`: the server blocks once the socket is full. */
function pausedStream(path: string): Promise<{ resume: () => Promise<Frame[]> }> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${t.baseUrl}${path}`, { headers: { accept: 'text/event-stream' } }, (response) => {
      response.pause();
      resolve({
        resume: () =>
          new Promise((done, fail) => {
            const frames: Frame[] = [];
            const parser = createParser({
              onEvent: (m) => frames.push({ ...(m.id ? { id: m.id } : {}), event: m.event ?? 'message', data: JSON.parse(m.data) }),
            });
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => parser.feed(chunk));
            response.on('end', () => done(frames));
            response.on('error', fail);
            response.resume();
          }),
      });
    });
    request.on('error', reject);
  });
}

describe('a trim while a stream replays', () => {
  it('the stream sends a gapless prefix, then session.cursor_expired with the new start, and ends; reconnecting is 410', async () => {
    const id = 'replaying';
    await call(t.app, 'POST', '/v1/sessions', { id });
    // 120 events of 200 KB: far more than the socket buffers hold, so the replay is still running when the trim lands.
    const big = 'x'.repeat(200_000);
    for (let batch = 0; batch < 8; batch++) {
      const res = await call(t.app, 'POST', `/v1/sessions/${id}/events`, {
        events: Array.from({ length: 15 }, () => ({ type: 'blob', data: big })),
      });
      expect(res.statusCode).toBe(201);
    }
    const stream = await pausedStream(`/v1/sessions/${id}/stream?after=0`);
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/compact`, { before_seq: 100 })).json()).toEqual({ history_start: 99 });
    const frames = await stream.resume();

    const durable = frames.filter((f) => f.id !== undefined).map((f) => Number(f.id));
    expect(durable.length).toBeGreaterThan(0);
    expect(durable.length).toBeLessThan(99);
    expect(durable).toEqual(durable.map((_, i) => i + 1));
    expect(frames.at(-1)).toEqual({
      event: 'session.cursor_expired',
      data: { cursor: durable.length, history_start: 99 },
    });
    const again = await fetch(`${t.baseUrl}/v1/sessions/${id}/stream`, {
      headers: { accept: 'text/event-stream', 'last-event-id': String(durable.length) },
    });
    expect(again.status).toBe(410);
    expect(await again.json()).toMatchObject({ code: 'cursor_expired', history_start: 99 });
  });
});

describe('a trim while writers append and a live stream follows', () => {
  it('every event is either delivered in order or announced as trimmed, and writers lose nothing', async () => {
    const id = 'appending';
    await call(t.app, 'POST', '/v1/sessions', { id });
    await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream?after=now`);
    await stream.waitFor(() => stream.messages.some((m) => m.event === 'session.activity'), 'the marker');
    const writes: Promise<unknown>[] = [];
    for (let n = 1; n <= 20; n++) {
      writes.push(call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: n }] }));
      if (n % 5 === 0) writes.push(call(t.app, 'POST', `/v1/sessions/${id}/compact`, { before_seq: 1_000 }));
    }
    const answers = (await Promise.all(writes)) as { statusCode: number }[];
    expect(answers.every((a) => a.statusCode === 200 || a.statusCode === 201)).toBe(true);
    // The writers' state and seqs are intact.
    const session = (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
    expect(session.last_seq).toBe(21);
    expect((await call(t.app, 'GET', `/v1/sessions/${id}/state`)).json()).toMatchObject({ version: 1, snapshot: { n: 0 } });

    await stream.waitFor(
      () => stream.ended || stream.durable.at(-1)?.id === '21',
      'every event, or the end of the stream',
    );
    const seqs = stream.durable.map((m) => Number(m.id));
    expect(seqs).toEqual(seqs.map((_, i) => i + 2));
    if (seqs.at(-1) !== 21) {
      const last = stream.messages.at(-1);
      expect(last?.event).toBe('session.cursor_expired');
      expect(last?.json.history_start).toBeGreaterThan(seqs.at(-1) ?? 1);
    }
    await stream.close();
  });
});
