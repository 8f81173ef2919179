import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';
import { killListenBackends } from '../helpers/db.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
});
afterAll(async () => {
  await t.close();
});

async function create(app: TestApp, id: string): Promise<void> {
  expect((await call(app.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
}

describe('MAX_STREAMS under concurrent opens', () => {
  it('200 concurrent opens with 50 allowed: exactly 50 streams, 150 refused, and the slots come back', async () => {
    const small = await createTestApp({ databaseUrl: t.url, env: { MAX_STREAMS: '50' } });
    await small.listen();
    await create(small, 'crowd');
    const clients = await Promise.all(Array.from({ length: 200 }, () => SseClient.open(`${small.baseUrl}/v1/sessions/crowd/stream`)));
    try {
      const opened = clients.filter((c) => c.status === 200);
      const refused = clients.filter((c) => c.status === 503);
      expect(opened.length).toBe(50);
      expect(refused.length).toBe(150);
      // Refused requests (and failed ones) hand their slot back.
      const missing = await call(small.app, 'GET', '/v1/sessions/no-such-session/stream');
      expectProblem(missing, 503, 'too_many_streams');
      await Promise.all(opened.map((c) => c.close()));
      await expect.poll(async () => (await call(small.app, 'GET', '/v1/sessions/no-such-session/stream')).statusCode).toBe(404);
      const again = await SseClient.open(`${small.baseUrl}/v1/sessions/crowd/stream`);
      expect(again.status).toBe(200);
      await again.close();
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await small.close();
    }
  }, 30_000);
});

describe('pages bounded by bytes (EVENTS_PAGE_BYTES=16384)', () => {
  it('a large `limit` page ends at the byte budget with an honest has_more and last_seq, and paging gets everything once', async () => {
    const small = await createTestApp({ databaseUrl: t.url, env: { EVENTS_PAGE_BYTES: '16384' } });
    try {
      await create(small, 'paged');
      const blob = 'é'.repeat(2500); // 5,000 bytes of UTF-8
      const events = Array.from({ length: 20 }, (_, i) => ({ type: i === 7 ? 'huge' : 'step', data: i === 7 ? { blob: blob.repeat(8) } : { i, blob } }));
      expect((await call(small.app, 'POST', '/v1/sessions/paged/events', { events })).statusCode).toBe(201);

      const first = (await call(small.app, 'GET', '/v1/sessions/paged/events?limit=1000')).json();
      // 16 KiB holds three 5 KB events, not 20.
      expect(first.events.map((e: { seq: number }) => e.seq)).toEqual([1, 2, 3]);
      expect(first).toMatchObject({ last_seq: 3, has_more: true });

      const seen: number[] = [];
      const pages: number[][] = [];
      let after = 0;
      for (;;) {
        const page = (await call(small.app, 'GET', `/v1/sessions/paged/events?limit=1000&after=${after}`)).json();
        const seqs = page.events.map((e: { seq: number }) => e.seq);
        pages.push(seqs);
        seen.push(...seqs);
        expect(page.last_seq).toBe(page.has_more ? seqs[seqs.length - 1] : 20);
        after = page.last_seq;
        if (!page.has_more) break;
      }
      expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      // The 40 KB event (seq 8) is larger than a page: it comes alone, and paging moves on.
      expect(pages).toContainEqual([8]);
      // Data comes back as stored, multi-byte text included.
      const eight = (await call(small.app, 'GET', '/v1/sessions/paged/events?after=7&limit=1')).json();
      expect(eight.events[0].data.blob).toBe(blob.repeat(8));
      expect(eight).toMatchObject({ last_seq: 8, has_more: true });
    } finally {
      await small.close();
    }
  });

  it('a stream replays a history far larger than its page and buffer bounds, in order, once', async () => {
    const small = await createTestApp({ databaseUrl: t.url, env: { STREAM_PAGE_BYTES: '8192', SSE_MAX_BUFFER_BYTES: '16384' } });
    await small.listen();
    try {
      await create(small, 'replayed');
      const events = Array.from({ length: 60 }, (_, i) => ({ type: 'step', data: { i, blob: 'x'.repeat(3000 + 97 * i) } }));
      expect((await call(small.app, 'POST', '/v1/sessions/replayed/events', { events })).statusCode).toBe(201);
      const client = await SseClient.open(`${small.baseUrl}/v1/sessions/replayed/stream?live=false`);
      await client.waitForEnd();
      expect(client.durable.map((m) => Number(m.id))).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(client.durable.map((m) => m.json.data.i)).toEqual(Array.from({ length: 60 }, (_, i) => i));
      await client.close();
    } finally {
      await small.close();
    }
  });
});

describe('a session deleted while the LISTEN connection is down', () => {
  /** Terminates this database's LISTEN backends: every instance on it loses its wakeups until it reconnects. */
  async function killListeners(): Promise<void> {
    const admin = postgres(t.url, { max: 1, onnotice: () => {} });
    try {
      expect(await killListenBackends(admin)).toBeGreaterThanOrEqual(1);
    } finally {
      await admin.end();
    }
  }

  it('its streams get session.deleted and end after the reconnect', async () => {
    await create(t, 'gone-quietly');
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/gone-quietly/stream`);
    try {
      await stream.waitFor(() => stream.ofType('session.activity').length === 1, 'the activity marker');
      await killListeners();
      expect((await call(t.app, 'DELETE', '/v1/sessions/gone-quietly')).statusCode).toBe(204);
      await stream.waitForEnd();
      expect(stream.messages.at(-1)).toMatchObject({ event: 'session.deleted', json: { session_id: 'gone-quietly' } });
    } finally {
      await stream.close();
    }
  });

  it('deleted and created again: the old stream ends with session.deleted and never takes the new life\'s signals', async () => {
    await create(t, 'reborn');
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/reborn/stream`);
    try {
      await stream.waitFor(() => stream.ofType('session.activity').length === 1, 'the activity marker');
      await killListeners();
      expect((await call(t.app, 'DELETE', '/v1/sessions/reborn')).statusCode).toBe(204);
      await create(t, 'reborn');
      expect((await call(t.app, 'PUT', '/v1/sessions/reborn/activity', { status: 'new-life' })).statusCode).toBe(200);
      await stream.waitForEnd();
      expect(stream.messages.at(-1)).toMatchObject({ event: 'session.deleted', json: { session_id: 'reborn' } });
      expect(stream.ofType('session.activity').map((m) => m.json.status)).not.toContain('new-life');

      // A stream of the new life is a stream like any other, and the old life's end is not its end.
      const fresh = await SseClient.open(`${t.baseUrl}/v1/sessions/reborn/stream`);
      await fresh.waitFor(() => fresh.ofType('session.activity').length === 1, 'the activity marker');
      expect(fresh.ofType('session.activity')[0]?.json.status).toBe('new-life');
      await call(t.app, 'POST', '/v1/sessions/reborn/events', { events: [{ type: 'step', data: 1 }] });
      await fresh.waitForDurable(1);
      expect(fresh.ended).toBe(false);
      await fresh.close();
    } finally {
      await stream.close();
    }
  });

  it('a stream of the new life ends the streams of the old one, even when no deletion notice ever came', async () => {
    await create(t, 'replaced');
    const old = await SseClient.open(`${t.baseUrl}/v1/sessions/replaced/stream`);
    try {
      await old.waitFor(() => old.ofType('session.activity').length === 1, 'the activity marker');
      // Removed behind the API's back (an operator, a script): no notice is sent at all.
      const admin = postgres(t.url, { max: 1, onnotice: () => {} });
      await admin`delete from sessions where id = 'replaced'`;
      await admin.end();
      await create(t, 'replaced');
      const fresh = await SseClient.open(`${t.baseUrl}/v1/sessions/replaced/stream`);
      await old.waitForEnd();
      expect(old.messages.at(-1)).toMatchObject({ event: 'session.deleted', json: { session_id: 'replaced' } });
      await fresh.waitFor(() => fresh.ofType('session.activity').length === 1, 'the activity marker');
      await call(t.app, 'POST', '/v1/sessions/replaced/events', { events: [{ type: 'step', data: 1 }] });
      await fresh.waitForDurable(1);
      expect(fresh.ended).toBe(false);
      await fresh.close();
    } finally {
      await old.close();
    }
  });
});
