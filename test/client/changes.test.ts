import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type SessionChange, type StreamStatus } from '../../client/src/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { TcpProxy } from '../helpers/proxy.js';
import { until } from '../helpers/waits.js';

// client.watchChanges against the real server's changes feed.
let t: TestApp;
let proxy: TcpProxy;

beforeAll(async () => {
  t = await createTestApp();
  const address = new URL(await t.listen());
  proxy = await new TcpProxy(Number(address.port)).listen();
});
afterAll(async () => {
  await proxy?.close();
  await t?.close();
});

describe('watchChanges', () => {
  it('starts with a sweep, reports created and changed sessions, and sweeps again after a reconnect', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    const watcher = createClient({ baseUrl: proxy.url, retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 50 } });
    const changes: SessionChange[] = [];
    const statuses: StreamStatus[] = [];
    let sweeps = 0;
    const feed = watcher.watchChanges({
      onChange: (change) => changes.push(change),
      onSweepRequired: () => sweeps++,
      onStatus: (status) => statuses.push(status),
    });
    try {
      await until(() => sweeps === 1, 'the first sweep_required');
      await writer.createSession({ id: 'feed-1' });
      await writer.appendEvents('feed-1', { events: [{ type: 'x', data: 1 }] });
      await until(() => changes.some((c) => c.session_id === 'feed-1' && c.last_seq === 1), 'the change hint');
      expect(changes.find((c) => c.type === 'session.created')?.session_id).toBe('feed-1');

      proxy.cutAll();
      await until(() => sweeps === 2, 'sweep_required after the reconnect');
      expect(statuses).toContain('reconnecting');
      await writer.appendEvents('feed-1', { events: [{ type: 'x', data: 2 }] });
      await until(() => changes.some((c) => c.session_id === 'feed-1' && c.last_seq === 2), 'a hint after the reconnect');
    } finally {
      feed.close();
      await feed.closed;
    }
    expect(feed.status).toBe('closed');
  });
});
