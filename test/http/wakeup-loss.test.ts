import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, createTestApp, type TestApp } from '../helpers/app.js';
import { append, open, waitForMarker } from '../helpers/streams.js';

// Wakeups are published after their commit (src/wakeups/publisher.ts), so an
// instance can commit and die before it publishes. Instance `mute` plays that
// instance: it commits, and its wakeups go nowhere. Streams on `reader` must
// still deliver what `mute` committed, found by the head poll.
let mute: TestApp;
let reader: TestApp;
let slowPoll: TestApp;
/** Called before each stream read on `slowPoll` (a test holds one there). */
let beforeSlowPollRead: (read: { sid: number; after: number }) => Promise<void> = async () => {};

beforeAll(async () => {
  mute = await createTestApp({ sendWakeups: async () => {} });
  reader = await createTestApp({ databaseUrl: mute.url, env: { STREAM_HEAD_POLL_MS: '200' } });
  slowPoll = await createTestApp({ databaseUrl: mute.url, env: { STREAM_HEAD_POLL_MS: '3600000' }, beforeStreamRead: (read) => beforeSlowPollRead(read) });
  await reader.listen();
  await slowPoll.listen();
});
afterAll(async () => {
  await slowPoll.close();
  await reader.close();
  await mute.close();
});

describe('a commit whose wakeup is never published', () => {
  it('reaches the streams of another instance by its head poll, in order, once', async () => {
    const id = 'wakeup-lost';
    await createSession(mute, id);
    const stream = await open(reader, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(stream);
      await append(mute, id, [{ type: 'one', data: 1 }]);
      await append(mute, id, [{ type: 'two', data: 2 }, { type: 'three', data: 3 }]);
      await stream.waitFor(() => stream.messages.filter((m) => m.id !== undefined).length >= 3, 'three durable events');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(stream.messages.filter((m) => m.id !== undefined).map((m) => [m.id, m.event])).toEqual([
        ['1', 'one'],
        ['2', 'two'],
        ['3', 'three'],
      ]);
    } finally {
      await stream.close();
    }
  });

  it('waits for the poll, not for another wakeup: with the poll an hour away, nothing comes', async () => {
    const id = 'wakeup-lost-unpolled';
    await createSession(mute, id);
    // The stream's tail reads once when its first subscriber joins: held here until `one` has committed, so that read
    // delivers `one`, and once it has, the tail reads again only when woken.
    let releaseFirstRead!: () => void;
    const firstReadHeld = new Promise<void>((resolve) => (releaseFirstRead = resolve));
    let reads = 0;
    beforeSlowPollRead = async () => {
      if (reads++ === 0) await firstReadHeld;
    };
    const stream = await open(slowPoll, `/v1/sessions/${id}/stream`);
    const durable = () => stream.messages.filter((m) => m.id !== undefined).map((m) => m.event);
    try {
      await waitForMarker(stream);
      await append(mute, id, [{ type: 'one', data: 1 }]);
      releaseFirstRead();
      await stream.waitFor(() => durable().length === 1, 'the first event, read when the stream joined its tail');
      await append(mute, id, [{ type: 'two', data: 2 }]);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(durable()).toEqual(['one']);
      // A wakeup that does arrive (from an instance that publishes) still delivers everything.
      await append(reader, id, [{ type: 'three', data: 3 }]);
      await stream.waitFor(() => durable().length >= 3, 'every event');
      expect(durable()).toEqual(['one', 'two', 'three']);
    } finally {
      releaseFirstRead();
      beforeSlowPollRead = async () => {};
      await stream.close();
    }
  });
});

describe('a Durable Streams close whose post-commit wakeups are never published', () => {
  it('still ends a long-poll waiting at the tail on another instance at once, with the head poll an hour away', async () => {
    const path = '/v1/stream/wakeup-lost-close';
    const put = await mute.app.inject({ method: 'PUT', url: path, headers: { 'content-type': 'application/json' } });
    expect(put.statusCode, put.body).toBe(201);
    const tail = String(put.headers['stream-next-offset']);
    const started = Date.now();
    // slowPoll: no head poll to find it, and a long-poll that would wait 30 s.
    const waiting = fetch(`${slowPoll.baseUrl}${path}?offset=${tail}&live=long-poll`);
    // Let the long-poll reach its wait before the close commits.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const close = await mute.app.inject({ method: 'POST', url: path, headers: { 'stream-closed': 'true' } });
    expect(close.statusCode, close.body).toBe(204);
    const answer = await waiting;
    expect({ status: answer.status, closed: answer.headers.get('stream-closed') }).toEqual({ status: 204, closed: 'true' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
