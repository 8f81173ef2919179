import { expect, it } from 'vitest';
import { createSession, createTestApp, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';
import { until } from '../helpers/waits.js';
import { metric } from '../helpers/metrics.js';

/**
 * A shutdown does not wait for the Durable Streams face's long-polls: each is
 * answered at once as its timeout would answer it (204 at the tail), so its
 * client polls again, elsewhere, from the same offset; as SSE readers are
 * ended cleanly. Otherwise a rolling deploy waits `STREAM_LONG_POLL_MS` per
 * instance, and a client that never lets go holds the drain that long.
 */

/** MAX_STREAMS slots taken: long-polls take one while they wait. */
const openStreams = (t: TestApp) => metric(t.app, 'session_sync_open_streams');

/**
 * Closes the app, and says whether the close took less than `SHUTDOWN_BOUND_MS`; one that did not is then forced
 * (every connection cut) so the test ends with a failure rather than a timeout.
 */
async function closedInTime(t: TestApp): Promise<boolean> {
  const closing = t.app.close();
  const inTime = await Promise.race([closing.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), SHUTDOWN_BOUND_MS))]);
  if (!inTime) t.app.server.closeAllConnections();
  await closing;
  await t.database.close();
  return inTime;
}

/** Far beyond the bound below: an answer within the bound came from the shutdown. */
const LONG_POLL_MS = 120_000;
const SHUTDOWN_BOUND_MS = 10_000;

it('a shutdown answers the waiting long-polls at once (204 at the tail) and closes without waiting for them', async () => {
  const t = await createTestApp({ env: { STREAM_LONG_POLL_MS: String(LONG_POLL_MS) } });
  await t.listen();
  let closed = false;
  try {
    const stream = `${t.baseUrl}/v1/stream/shutdown/1`;
    const created = await fetch(stream, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '[1]' });
    expect(created.status).toBe(201);
    const tail = created.headers.get('stream-next-offset')!;
    const polls = Array.from({ length: 3 }, () => fetch(`${stream}?offset=${tail}&live=long-poll`));
    // Each waits at the tail, holding a stream slot.
    await until(async () => (await openStreams(t)) === 3, 'three long-polls waiting at the tail');
    closed = true;
    expect(await closedInTime(t), 'the close waited for the long-polls').toBe(true);
    for (const answer of await Promise.all(polls)) {
      expect(answer.status).toBe(204);
      expect(answer.headers.get('stream-next-offset')).toBe(tail);
      expect(answer.headers.get('stream-up-to-date')).toBe('true');
    }
  } finally {
    if (!closed) await t.close();
  }
}, 30_000);

it('a shutdown ends the SSE readers of both faces at once', async () => {
  const t = await createTestApp({ env: { STREAM_LONG_POLL_MS: String(LONG_POLL_MS) } });
  await t.listen();
  let closed = false;
  const readers: SseClient[] = [];
  try {
    await createSession(t, 'shutdown-native');
    const face = `${t.baseUrl}/v1/stream/shutdown/2`;
    expect((await fetch(face, { method: 'PUT', headers: { 'content-type': 'application/json' } })).status).toBe(201);
    readers.push(await SseClient.open(`${t.baseUrl}/v1/sessions/shutdown-native/stream`));
    readers.push(await SseClient.open(`${face}?offset=-1&live=sse`));
    await until(async () => (await openStreams(t)) === 2, 'both readers open');
    closed = true;
    expect(await closedInTime(t), 'the close waited for the SSE readers').toBe(true);
    await until(() => readers.every((reader) => reader.ended), 'both readers told the stream ended');
  } finally {
    for (const reader of readers) await reader.close();
    if (!closed) await t.close();
  }
}, 30_000);
