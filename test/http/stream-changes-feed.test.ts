import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

// GET /v1/changes (docs/API.md, "Changes feed"; docs/operations.md): an SSE stream like the session
// streams, so it gets their heartbeats and their clean end at shutdown, and `sweep_required` comes
// again whenever hints may have been missed.

const sweeps = (feed: SseClient) => feed.ofType('sweep_required').length;

describe('the changes feed is a stream like the others', () => {
  it('sends `: keepalive` comments while idle (SSE_HEARTBEAT_MS), and nothing else', async () => {
    const t = await createTestApp({ env: { SSE_HEARTBEAT_MS: '200' } });
    try {
      await t.listen();
      const feed = await SseClient.open(`${t.baseUrl}/v1/changes`);
      try {
        expect(feed.status).toBe(200);
        await feed.waitFor(() => feed.comments.filter((c) => c.trim() === 'keepalive').length >= 3, 'three keepalive comments', 5000);
        expect(feed.raw).toContain(': keepalive\n\n');
        expect(feed.messages.map((m) => m.event)).toEqual(['sweep_required']);
        expect(feed.ended).toBe(false);
      } finally {
        await feed.close();
      }
    } finally {
      await t.close();
    }
  });

  it('shutting the instance down ends its changes feed cleanly', async () => {
    const t = await createTestApp();
    await t.listen();
    const feed = await SseClient.open(`${t.baseUrl}/v1/changes`);
    let closing: Promise<void> | undefined;
    try {
      await feed.waitFor(() => sweeps(feed) === 1, 'sweep_required');
      closing = t.close();
      await feed.waitForEnd(5000);
      // Ended by the server, not cut: the client reconnects (elsewhere) as after any clean end.
      expect(feed.error).toBeUndefined();
    } finally {
      // Whatever happened, the feed's connection goes, so the close can finish.
      await feed.close();
      await (closing ?? t.close());
    }
  });
});

describe('an instance going away', () => {
  const POLL_MS = 100;
  let a: TestApp;
  beforeAll(async () => {
    a = await createTestApp({ env: { STREAM_HEAD_POLL_MS: String(POLL_MS) } });
    await a.listen();
  });
  afterAll(() => a.close());

  it('sends sweep_required again within STREAM_HEAD_POLL_MS or so of a peer leaving the database', async () => {
    // A peer on the same database: it may have died between a commit and its wakeup.
    const peer = await createTestApp({ databaseUrl: a.url });
    let peerClosed = false;
    const feed = await SseClient.open(`${a.baseUrl}/v1/changes`);
    try {
      await feed.waitFor(() => sweeps(feed) === 1, 'the first sweep_required');
      // The peer is listed by a's polls while the feed is open; nothing a client sees says when a poll
      // ran, so give it several intervals. No other sweep comes meanwhile: nothing went away.
      await new Promise((resolve) => setTimeout(resolve, POLL_MS * 20));
      expect(sweeps(feed)).toBe(1);
      await peer.close();
      peerClosed = true;
      await feed.waitFor(() => sweeps(feed) === 2, 'sweep_required after the peer went away', 5000);
      expect(feed.ended).toBe(false);
    } finally {
      await feed.close();
      if (!peerClosed) await peer.close();
    }
  });
});
