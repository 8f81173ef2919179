import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendNotifications } from '../../src/db/statements.js';
import { decodeNotifications, WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { call, createSession, createTestApp, type TestApp } from '../helpers/app.js';
import { type PgProxy, startListenDelayingProxy } from '../helpers/pg-proxy.js';
import { append, eventually, ndjsonRequest, open, waitForMarker } from '../helpers/streams.js';
import { unlessStuck } from '../helpers/waits.js';

// A live event (or an activity) published on an instance reaches that
// instance's own streams without going through Postgres, and exactly once when
// its NOTIFY comes back; other instances get it from the NOTIFY as before.
// Instance `publisher` holds its NOTIFYs at a gate the test opens, so what its
// streams receive meanwhile came the local way; `other` shares its database.
let publisher: TestApp;
let other: TestApp;
/** An instance whose LISTEN connection hears everything 300 ms late (its pool does not). */
let lateListener: TestApp;
let proxy: PgProxy;
let sql: postgres.Sql;
/** Each flush's payloads, as `publisher` sent them. */
const sent: string[][] = [];
const gate = { open: true, failing: false, waiting: [] as (() => void)[] };

beforeAll(async () => {
  publisher = await createTestApp({
    // No head poll in this file's time: a durable event a stream shows came from a wakeup or a read the stream made itself.
    env: { STREAM_HEAD_POLL_MS: '3600000' },
    sendWakeups: async (payloads) => {
      sent.push(payloads);
      if (!gate.open) await new Promise<void>((resolve) => gate.waiting.push(resolve));
      if (gate.failing) throw new Error('NOTIFY failed (test)');
      await sendNotifications(sql, WAKEUP_CHANNEL, payloads);
    },
  });
  sql = postgres(publisher.url, { max: 2, onnotice: () => {} });
  other = await createTestApp({ databaseUrl: publisher.url });
  const direct = new URL(publisher.url);
  proxy = await startListenDelayingProxy({ host: direct.hostname, port: Number(direct.port) }, 300);
  const late = new URL(publisher.url);
  late.port = String(proxy.port);
  lateListener = await createTestApp({ databaseUrl: late.toString() });
  await publisher.listen();
  await other.listen();
  await lateListener.listen();
});
afterAll(async () => {
  await lateListener.close();
  await proxy.close();
  await other.close();
  await publisher.close();
  await sql.end();
});

function hold(): void {
  gate.open = false;
}
function release(): void {
  gate.open = true;
  for (const resolve of gate.waiting.splice(0)) resolve();
}
const sentLive = (type: string) => sent.flat().flatMap((payload) => decodeNotifications(payload) ?? []).filter((n) => n.kind === 'live' && n.type === type);
const live = (t: TestApp, id: string, type: string, data: unknown = {}) => call(t.app, 'POST', `/v1/sessions/${id}/live`, { type, data });

describe('live signals on the instance that publishes them', () => {
  it('reach its streams while their NOTIFY is still held, once, and reach other instances by the NOTIFY', async () => {
    const id = 'live-local-once';
    await createSession(publisher, id);
    const here = await open(publisher, `/v1/sessions/${id}/stream`);
    const there = await open(other, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(here);
      await waitForMarker(there);
      hold();
      // Answered only once its NOTIFY is sent, so not awaited yet.
      const posted = live(publisher, id, 'token', { text: 'hello' });
      await here.waitFor(() => here.ofType('token').length === 1, 'the live event, before its NOTIFY was sent');
      expect(here.ofType('token')[0]?.json).toEqual({ type: 'token', data: { text: 'hello' } });
      expect(there.ofType('token')).toEqual([]);
      // The NOTIFY carries it too, named as this instance's, for the others.
      await eventually(async () => sentLive('token').length, (n) => n === 1, 'the NOTIFY at the gate');
      expect(sentLive('token')[0]).toMatchObject({ from: expect.stringMatching(/^[\w-]{8}$/), data: { text: 'hello' } });
      // Not answered while its NOTIFY is held: what the publisher posts after the answer, through any instance, is sent after it.
      let answered = false;
      void posted.then(() => (answered = true));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(answered).toBe(false);
      release();
      expect((await posted).statusCode).toBe(202);
      await there.waitFor(() => there.ofType('token').length === 1, 'the live event on the other instance');
      // `other` publishes after `publisher`'s NOTIFY was sent, so every LISTEN gets that one first: once this arrives, the first has come back.
      expect((await live(other, id, 'after')).statusCode).toBe(202);
      await here.waitFor(() => here.ofType('after').length === 1, "the other instance's event");
      await there.waitFor(() => there.ofType('after').length === 1, "the other instance's event on its own stream");
      expect(here.ofType('token')).toHaveLength(1);
      expect(there.ofType('token')).toHaveLength(1);
      expect(there.ofType('after')).toHaveLength(1);
    } finally {
      release();
      await here.close();
      await there.close();
    }
  });

  it('still follow the durable events committed before them, whose wakeup has not been sent', async () => {
    const id = 'live-local-causal';
    await createSession(publisher, id);
    const here = await open(publisher, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(here);
      hold();
      await append(publisher, id, [{ type: 'durable', data: 1 }]);
      const posted = live(publisher, id, 'token');
      await here.waitFor(() => here.ofType('token').length === 1, 'the live event');
      // The append's wakeup is still at the gate and no head poll runs: the stream read the row because the live event follows it.
      expect(here.messages.filter((m) => m.event === 'durable' || m.event === 'token').map((m) => [m.event, m.id])).toEqual([
        ['durable', '1'],
        ['token', undefined],
      ]);
      release();
      expect((await posted).statusCode).toBe(202);
    } finally {
      release();
      await here.close();
    }
  });

  it('keep the order they were published in: an activity, then a live event', async () => {
    const id = 'live-local-order';
    await createSession(publisher, id);
    const here = await open(publisher, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(here);
      hold();
      // Answered once committed: its publication waits at the gate.
      expect((await call(publisher.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'thinking' })).statusCode).toBe(200);
      const posted = live(publisher, id, 'token');
      await here.waitFor(() => here.ofType('token').length === 1, 'the live event');
      expect(here.messages.filter((m) => m.event === 'session.activity' || m.event === 'token').map((m) => [m.event, m.json?.status])).toEqual([
        ['session.activity', 'idle'],
        ['session.activity', 'thinking'],
        ['token', undefined],
      ]);
      release();
      expect((await posted).statusCode).toBe(202);
    } finally {
      release();
      await here.close();
    }
  });

  it('wait for what another instance published before them: a publisher that alternates instances keeps its order', async () => {
    const id = 'live-local-alternating';
    await createSession(publisher, id);
    const here = await open(lateListener, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(here);
      // Answered once its NOTIFY has committed; it reaches `lateListener` 300 ms later.
      expect((await live(other, id, 'first')).statusCode).toBe(202);
      expect((await live(lateListener, id, 'second')).statusCode).toBe(202);
      await here.waitFor(() => here.ofType('second').length === 1, 'the second event');
      expect(here.messages.filter((m) => m.event === 'first' || m.event === 'second').map((m) => m.event)).toEqual(['first', 'second']);
    } finally {
      await here.close();
    }
  });

  it('an NDJSON token stream goes on being read and delivered while its NOTIFYs are held, and is answered once they are sent', async () => {
    const id = 'live-local-ndjson';
    await createSession(publisher, id);
    const here = await open(publisher, `/v1/sessions/${id}/stream`);
    const line = (i: number) => `${JSON.stringify({ type: 'token', data: { i } })}\n`;
    try {
      await waitForMarker(here);
      hold();
      const { write, end, response } = ndjsonRequest(publisher.baseUrl, id);
      // Each line arrives on its own; the first group's NOTIFY waits at the gate from the first line on.
      for (let i = 1; i <= 3; i++) {
        write(line(i));
        await here.waitFor(() => here.ofType('token').length === i, `line ${i}`);
      }
      end();
      let answered = false;
      void response.then(() => (answered = true));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(answered).toBe(false);
      release();
      const res = await response;
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({ accepted: 3, after_seq: 0 });
      expect(here.ofType('token').map((m) => m.json.data.i)).toEqual([1, 2, 3]);
    } finally {
      release();
      await here.close();
    }
  });

  it('an NDJSON request reads at most 256 lines ahead of their NOTIFYs, then waits for them', async () => {
    const id = 'live-local-ndjson-bound';
    await createSession(publisher, id);
    const here = await open(publisher, `/v1/sessions/${id}/stream`);
    const lines = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => `${JSON.stringify({ type: 'token', data: { i: from + i } })}\n`).join('');
    const quiet = () => new Promise((resolve) => setTimeout(resolve, 300));
    try {
      await waitForMarker(here);
      hold();
      const { write, end, response } = ndjsonRequest(publisher.baseUrl, id);
      // 256 unsent: still reading.
      write(lines(1, 256));
      await here.waitFor(() => here.ofType('token').length === 256, 'the first 256 lines');
      write(lines(257, 257));
      await here.waitFor(() => here.ofType('token').length === 257, 'line 257, read with 256 unsent');
      // 257 unsent: the request waits for them before reading on.
      write(lines(258, 258));
      await quiet();
      expect(here.ofType('token')).toHaveLength(257);
      release();
      await here.waitFor(() => here.ofType('token').length === 258, 'line 258, once the NOTIFYs were sent');
      end();
      expect((await response).status).toBe(202);
    } finally {
      release();
      await here.close();
    }
  });

  it('a malformed NDJSON line is answered once the lines before it were sent: what is published after the 400, through any instance, comes after them', async () => {
    const id = 'live-local-ndjson-refused';
    await createSession(publisher, id);
    const there = await open(other, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(there);
      hold();
      const { write, end, response } = ndjsonRequest(publisher.baseUrl, id);
      write(`${JSON.stringify({ type: 'before_refusal', data: 1 })}\nnot json\n`);
      end();
      // A worker that, on the answer, publishes its next event through another instance.
      const next = response.then(async (res) => {
        const refusal = { status: res.status, body: await res.json() };
        return { refusal, after: (await live(other, id, 'after_refusal')).statusCode };
      });
      await eventually(async () => sentLive('before_refusal').length, (n) => n === 1, "the good line's NOTIFY at the gate");
      // The answer may not come while that NOTIFY is held; if it does, the next event is published before the gate opens.
      await Promise.race([next, new Promise((resolve) => setTimeout(resolve, 300))]);
      release();
      expect(await next).toEqual({ refusal: { status: 400, body: expect.objectContaining({ code: 'invalid_request', line: 2, accepted: 1 }) }, after: 202 });
      await there.waitFor(() => there.ofType('before_refusal').length === 1 && there.ofType('after_refusal').length === 1, 'both events');
      expect(there.messages.filter((m) => m.event === 'before_refusal' || m.event === 'after_refusal').map((m) => m.event)).toEqual([
        'before_refusal',
        'after_refusal',
      ]);
    } finally {
      release();
      await there.close();
    }
  });

  it('a live request whose NOTIFY fails is not answered 202: NDJSON and JSON alike', async () => {
    const id = 'live-local-notify-fails';
    await createSession(publisher, id);
    gate.failing = true;
    try {
      const { write, end, response } = ndjsonRequest(publisher.baseUrl, id);
      write(`${JSON.stringify({ type: 'token', data: 1 })}\n`);
      end();
      const res = await response;
      expect(res.status).toBe(500);
      expect((await live(publisher, id, 'token')).statusCode).toBe(500);
    } finally {
      gate.failing = false;
    }
    expect((await live(publisher, id, 'token')).statusCode).toBe(202);
  });

  it('an NDJSON request whose NOTIFY failed is answered at its next lines, not read on to its end', async () => {
    const id = 'live-local-notify-fails-midway';
    await createSession(publisher, id);
    gate.failing = true;
    const { write, end, response } = ndjsonRequest(publisher.baseUrl, id);
    try {
      write(`${JSON.stringify({ type: 'lost_midway', data: 1 })}\n`);
      await eventually(async () => sentLive('lost_midway').length, (n) => n === 1, 'the failing NOTIFY');
      // The producer goes on sending; the body stays open. Lines after the lost one would leave a gap in the stream.
      write(`${JSON.stringify({ type: 'after_loss', data: 2 })}\n`);
      const res = await unlessStuck(response, 'the answer to a request whose NOTIFY failed');
      expect(res.status).toBe(500);
    } finally {
      gate.failing = false;
      end();
    }
  });
});
