import http from 'node:http';
import { createParser } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { Gate } from '../helpers/gate.js';
import { SseClient } from '../helpers/sse.js';
import { metric } from '../helpers/metrics.js';
import { unlessStuck } from '../helpers/waits.js';

// Trimming under open streams: a stream either sends every event in order or
// says `session.cursor_expired` and ends; it never skips one silently.
let t: TestApp;
/** Holds a stream's read of durable events (its replay, or its session's tail) where a test says. */
const reads = new Gate<{ sid: number; after: number }>();

beforeAll(async () => {
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000', STREAM_PAGE_SIZE: '3' }, beforeStreamRead: reads.pass });
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
  // Trimmed to seq 99, or past every event: then the stream's next read finds no event after its cursor at all.
  for (const [id, beforeSeq, historyStart] of [['replaying', 100, 99], ['replaying-all-trimmed', 121, 120]] as const) {
  it(`the stream sends a gapless prefix, then session.cursor_expired with the new start, and ends; reconnecting is 410 (before_seq ${beforeSeq})`, async () => {
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
    // The trim lands once the replay holds its first page (its rows stay reserved while the paused socket is full):
    // trimmed before that read, the stream would rightly send no event at all.
    const rowsHeld = () => metric(t.app, 'session_sync_rows_memory_bytes');
    await expect.poll(rowsHeld, { timeout: 10_000, interval: 20 }).toBeGreaterThan(0);
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/compact`, { before_seq: beforeSeq })).json()).toEqual({ history_start: historyStart });
    // A stream that missed the trim would wait for events that never come: named, not vitest's 30 s.
    const frames = await unlessStuck(stream.resume(), 'the stream after the trim', 20_000);

    const durable = frames.filter((f) => f.id !== undefined).map((f) => Number(f.id));
    expect(durable.length).toBeGreaterThan(0);
    expect(durable.length).toBeLessThan(historyStart);
    expect(durable).toEqual(durable.map((_, i) => i + 1));
    expect(frames.at(-1)).toEqual({
      event: 'session.cursor_expired',
      data: { cursor: durable.length, history_start: historyStart },
    });
    const again = await fetch(`${t.baseUrl}/v1/sessions/${id}/stream`, {
      headers: { accept: 'text/event-stream', 'last-event-id': String(durable.length) },
    });
    expect(again.status).toBe(410);
    expect(await again.json()).toMatchObject({ code: 'cursor_expired', history_start: historyStart });
  });
  }
});

const append = (id: string, n: number) =>
  call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: Array.from({ length: n }, (_, i) => ({ type: 'note', data: i })) });

const seqsOf = (stream: SseClient) => stream.durable.map((m) => Number(m.id));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Every kept event, read page by page from history_start: what a recovering reader gets. */
async function keptSeqs(id: string): Promise<{ historyStart: number; seqs: number[] }> {
  const { history_start: historyStart, last_seq: lastSeq } = (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
  const seqs: number[] = [];
  let after = historyStart;
  while (after < lastSeq) {
    const page = (await call(t.app, 'GET', `/v1/sessions/${id}/events?after=${after}&limit=7`)).json();
    seqs.push(...page.events.map((e: { seq: number }) => e.seq));
    after = page.last_seq;
  }
  return { historyStart, seqs };
}

// The same races, held in one order by the read gate: a failure here is a real one, every run.
describe('a trim between two pages of a replay, while writers append', () => {
  it('the replaying stream sends 1..3 and session.cursor_expired; a stream above the trim and the writers lose nothing', async () => {
    const id = 'held-replay';
    await call(t.app, 'POST', '/v1/sessions', { id });
    expect((await append(id, 10)).statusCode).toBe(201);

    // Replay from 0 in pages of 3: held before its second page (after seq 3).
    const second = reads.hold((r) => r.after === 3);
    const behind = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream?after=0`);
    await second.reached;
    // A stream whose cursor is past the trim, held before its first page.
    const first = reads.hold((r) => r.after === 8);
    const ahead = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream?after=8`);
    await first.reached;

    // While both are held: writers append, and a trim removes 1..7.
    expect((await append(id, 2)).statusCode).toBe(201);
    expect((await append(id, 3)).statusCode).toBe(201);
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/compact`, { before_seq: 8 })).json()).toEqual({ history_start: 7 });
    second.release();
    first.release();

    await behind.waitFor(() => behind.ended || seqsOf(behind).includes(15), 'the end of the stream, or seq 15');
    expect(seqsOf(behind)).toEqual([1, 2, 3]);
    expect(behind.messages.at(-1)).toMatchObject({ event: 'session.cursor_expired', json: { cursor: 3, history_start: 7 } });
    expect(behind.messages.at(-1)?.id).toBeUndefined();

    // Nothing lost for the stream above the trim, nor for the writers.
    await ahead.waitFor(() => seqsOf(ahead).at(-1) === 15, 'seq 15');
    expect(seqsOf(ahead)).toEqual(range(9, 15));
    expect(ahead.ofType('session.cursor_expired')).toEqual([]);
    await ahead.close();
    expect(await keptSeqs(id)).toEqual({ historyStart: 7, seqs: range(8, 15) });

    // The cut stream's reconnect is told, and the recovery reads on from history_start.
    const again = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream`, { 'last-event-id': '3' });
    expect(again.status).toBe(410);
    await again.close();
    const resumed = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream?after=7&live=false`);
    await resumed.waitForEnd();
    expect(seqsOf(resumed)).toEqual(range(8, 15));
  });
});

describe("a trim while a live stream's tail reads, while writers append", () => {
  it('the stream ends with session.cursor_expired at its own cursor instead of skipping to what is kept', async () => {
    const id = 'held-tail';
    await call(t.app, 'POST', '/v1/sessions', { id });
    await append(id, 4);
    const live = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream?after=4`);
    await live.waitFor(() => live.ofType('session.activity').length > 0, 'the marker');
    // The next read is the tail's, woken by the next append.
    const tail = reads.hold((r) => r.after === 4);
    expect((await append(id, 1)).statusCode).toBe(201);
    await tail.reached;
    expect((await append(id, 2)).statusCode).toBe(201);
    expect((await append(id, 2)).statusCode).toBe(201);
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/compact`, { before_seq: 8 })).json()).toEqual({ history_start: 7 });
    tail.release();

    await live.waitFor(() => live.ended || seqsOf(live).includes(9), 'the end of the stream, or seq 9');
    expect(seqsOf(live)).toEqual([]);
    expect(live.messages.at(-1)).toMatchObject({ event: 'session.cursor_expired', json: { cursor: 4, history_start: 7 } });
    expect(await keptSeqs(id)).toEqual({ historyStart: 7, seqs: range(8, 9) });
  });

  it('a live stream at the head when history below it is trimmed goes on without a notice', async () => {
    const id = 'held-tail-above';
    await call(t.app, 'POST', '/v1/sessions', { id });
    await append(id, 6);
    const live = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream?after=6`);
    await live.waitFor(() => live.ofType('session.activity').length > 0, 'the marker');
    const tail = reads.hold((r) => r.after === 6);
    expect((await append(id, 1)).statusCode).toBe(201);
    await tail.reached;
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/compact`, { before_seq: 6 })).json()).toEqual({ history_start: 5 });
    expect((await append(id, 2)).statusCode).toBe(201);
    tail.release();

    await live.waitFor(() => seqsOf(live).at(-1) === 9, 'seq 9');
    expect(seqsOf(live)).toEqual([7, 8, 9]);
    expect(live.ended).toBe(false);
    await live.close();
  });
});
