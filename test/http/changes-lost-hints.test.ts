import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { sendNotifications } from '../../src/db/statements.js';
import { WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { createSession, createTestApp } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/db.js';
import { append, open } from '../helpers/streams.js';

// A changes feed has no cursor to re-read from: when the wakeups behind its
// hints are lost (an instance dies between its commit and its NOTIFY, or its
// publication fails), it must be told to sweep (API.md: "sweep_required is
// sent again whenever hints may have been missed").
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a changes feed whose hints were lost', () => {
  it('sweeps once an instance that committed without announcing it has gone', async () => {
    // `doomed` commits and its wakeups go nowhere: it dies before publishing them.
    const doomed = await createTestApp({ sendWakeups: async () => {} });
    const watcher = await createTestApp({ databaseUrl: doomed.url, env: { STREAM_HEAD_POLL_MS: '100' } });
    await doomed.listen();
    await watcher.listen();
    const feed = await open(watcher, '/v1/changes');
    try {
      await feed.waitFor(() => feed.ofType('sweep_required').length === 1, 'the first sweep_required');
      const id = 'lost-hint';
      await createSession(doomed, id);
      await feed.waitFor(() => feed.ofType('session.created').length === 1, 'session.created');
      await append(doomed, id, [{ type: 'one', data: 1 }]);
      await sleep(500);
      // The hint is lost, and nothing says so while every instance stays.
      expect(feed.ofType('session.changed')).toEqual([]);
      expect(feed.ofType('sweep_required')).toHaveLength(1);
      await doomed.close();
      await feed.waitFor(() => feed.ofType('sweep_required').length === 2, 'a sweep_required once the instance is gone');
    } finally {
      await feed.close();
      await watcher.close();
    }
  });

  it('sweeps when an instance failed to publish wakeups and publishes again, on every instance', async () => {
    const url = await createTestDatabase();
    const sender = postgres(url, { max: 1, onnotice: () => {} });
    let failing = true;
    const flaky = await createTestApp({
      databaseUrl: url,
      sendWakeups: async (payloads) => {
        if (failing) throw new Error('connection lost');
        await sendNotifications(sender, WAKEUP_CHANNEL, payloads);
      },
    });
    const other = await createTestApp({ databaseUrl: url });
    await flaky.listen();
    await other.listen();
    const feeds = [await open(flaky, '/v1/changes'), await open(other, '/v1/changes')];
    try {
      for (const feed of feeds) await feed.waitFor(() => feed.ofType('sweep_required').length === 1, 'the first sweep_required');
      const id = 'unpublished-hint';
      await createSession(flaky, id);
      await append(flaky, id, [{ type: 'one', data: 1 }]);
      await sleep(300);
      for (const feed of feeds) expect(feed.ofType('session.changed')).toEqual([]);
      failing = false;
      for (const feed of feeds) await feed.waitFor(() => feed.ofType('sweep_required').length === 2, 'a sweep_required once it publishes again');
    } finally {
      for (const feed of feeds) await feed.close();
      await other.close();
      await flaky.close();
      await sender.end();
    }
  });
});
