import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNotification, INSTANCE_ID_LENGTH, MAX_WAKEUP_BYTES, type Notification, stampFrom } from '../../src/wakeups/wakeups.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

// Live events and activity reach other instances inside one NOTIFY payload,
// which Postgres refuses at 8000 bytes. Whatever the inputs (a long id, a status
// of control characters that JSON escapes six-fold, multi-byte text), one that
// fits is delivered and one byte more is a 413, never a 500.
let t: TestApp;
/** The session's incarnation, which its wakeups name. */
let sid: number;
const ID = `w${'x'.repeat(127)}`; // the longest id
const STATUS = '\u0001'.repeat(64); // 64 characters, 384 bytes once escaped
const ISO = '2026-01-01T00:00:00.000Z';

beforeAll(async () => {
  t = await createTestApp({ env: { MAX_LIVE_BYTES: '7999' } });
  await t.listen();
  expect((await call(t.app, 'POST', '/v1/sessions', { id: ID })).statusCode).toBe(201);
  const sql = postgres(t.url, { max: 1, onnotice: () => {} });
  sid = Number((await sql`select sid from sessions where id = ${ID}`)[0]?.sid);
  await sql.end();
});
afterAll(async () => {
  await t.close();
});

const bytes = (text: string) => Buffer.byteLength(text);
/** The payload's bytes as it is sent: with the id of the instance that published it. */
const sentBytes = (notification: Notification) => bytes(stampFrom(encodeNotification(notification), 'i'.repeat(INSTANCE_ID_LENGTH)));

/** Text of `n` bytes ending in a multi-byte character; `over` swaps its last 'a' for 'é' (one byte more, same length). */
function textOf(n: number, over = false): string {
  const text = `${'é'.repeat(Math.floor((n - 1) / 2))}${'a'.repeat(n - 2 * Math.floor((n - 1) / 2))}`;
  return over ? `${text.slice(0, -1)}é` : text;
}

describe('what a wakeup carries', () => {
  it('an activity whose wakeup is exactly 7999 bytes is set and streamed; one byte more is 413 and changes nothing', async () => {
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/${ID}/stream`);
    try {
      await stream.waitFor(() => stream.ofType('session.activity').length === 1, 'the activity marker');
      const size = (detail: string) =>
        sentBytes({ kind: 'activity', session_id: ID, sid, head: 0, activity: { status: STATUS, detail, updated_at: ISO } });
      const room = MAX_WAKEUP_BYTES - size('');
      const fits = textOf(room);
      expect(size(fits)).toBe(MAX_WAKEUP_BYTES);

      const over = await call(t.app, 'PUT', `/v1/sessions/${ID}/activity`, { status: STATUS, detail: textOf(room, true) });
      const problem = expectProblem(over, 413, 'payload_too_large');
      expect(problem).toMatchObject({ limit_bytes: MAX_WAKEUP_BYTES, size: MAX_WAKEUP_BYTES + 1 });
      // The detail says what was counted and against which bound, for the person who reads it.
      expect(problem.detail).toContain(
        `travels to other instances as ${MAX_WAKEUP_BYTES + 1} bytes (session id, type, data and envelope, JSON-escaped); a Postgres NOTIFY carries at most ${MAX_WAKEUP_BYTES}`,
      );
      expect((await call(t.app, 'GET', `/v1/sessions/${ID}`)).json().activity).toEqual({ status: 'idle' });

      const ok = await call(t.app, 'PUT', `/v1/sessions/${ID}/activity`, { status: STATUS, detail: fits });
      expect(ok.statusCode).toBe(200);
      await stream.waitFor(() => stream.ofType('session.activity').length === 2, 'the activity change');
      expect(stream.ofType('session.activity')[1]?.json).toMatchObject({ status: STATUS, detail: fits });
    } finally {
      await stream.close();
    }
  });

  it('a live event whose wakeup is exactly 7999 bytes is delivered; one byte more is 413', async () => {
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/${ID}/stream?after=now`);
    try {
      await stream.waitFor(() => stream.ofType('session.activity').length === 1, 'the activity marker');
      const type = `t${'.x'.repeat(63)}`; // 127 characters
      const size = (data: unknown) => sentBytes({ kind: 'live', session_id: ID, sid, head: 0, type, data });
      const room = MAX_WAKEUP_BYTES - size({ text: '' });
      const fits = { text: textOf(room) };
      expect(size(fits)).toBe(MAX_WAKEUP_BYTES);

      const over = await call(t.app, 'POST', `/v1/sessions/${ID}/live`, { type, data: { text: textOf(room, true) } });
      expect(expectProblem(over, 413, 'payload_too_large')).toMatchObject({ limit_bytes: MAX_WAKEUP_BYTES, size: MAX_WAKEUP_BYTES + 1 });
      // Control characters escape six-fold in the payload: counted as sent, not as typed.
      const escaped = await call(t.app, 'POST', `/v1/sessions/${ID}/live`, { type, data: { text: '\u0002'.repeat(1400) } });
      expectProblem(escaped, 413, 'payload_too_large');

      const ok = await call(t.app, 'POST', `/v1/sessions/${ID}/live`, { type, data: fits });
      expect(ok.statusCode).toBe(202);
      await stream.waitFor(() => stream.ofType(type).length === 1, 'the live event');
      expect(stream.ofType(type)[0]?.json).toEqual({ type, data: fits });
      expect(stream.ofType(type)).toHaveLength(1);
    } finally {
      await stream.close();
    }
  });
});
