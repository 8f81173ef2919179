import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type DurableEvent } from '../../client/src/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { TcpProxy } from '../helpers/proxy.js';
import { until } from '../helpers/waits.js';

// The client's 410 recovery against a server that trims: onReset, then the
// history after history_start; watchState reads the state again.
let t: TestApp;
let proxy: TcpProxy;

beforeAll(async () => {
  t = await createTestApp({ env: { HISTORY_SWEEP_MS: '86400000' } });
  const address = new URL(await t.listen());
  proxy = await new TcpProxy(Number(address.port)).listen();
});
afterAll(async () => {
  await proxy?.close();
  await t?.close();
});

describe('410 cursor_expired recovery', () => {
  it('subscribe from a trimmed cursor calls onReset with history_start, then delivers every kept event in order', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    await client.createSession({ id: 'reset-sub' });
    await client.appendEvents('reset-sub', { events: Array.from({ length: 10 }, (_, i) => ({ type: 'note', data: i + 1 })) });
    expect(await client.compactSession('reset-sub', { before_seq: 6 })).toEqual({ history_start: 5 });
    const resets: number[] = [];
    const seen: number[] = [];
    const sub = client.subscribe(
      'reset-sub',
      { after: 2, live: false },
      { onReset: (r) => resets.push(r.history_start), onEvent: (e: DurableEvent) => seen.push(e.seq) },
    );
    await sub.closed;
    expect(resets).toEqual([5]);
    expect(seen).toEqual([6, 7, 8, 9, 10]);
  });

  it('watchState, cut off while its history is trimmed, reads the state again and follows on', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id: 'reset-watch' });
    await writer.putSnapshot('reset-watch', { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
    const reader = createClient({ baseUrl: proxy.url, retry: { attempts: 10, baseDelayMs: 5, maxDelayMs: 50 } });
    const store = reader.watchState<{ n: number; m?: number }>('reset-watch');
    await store.ready;
    // The reader hears nothing more while the session moves on and its history is trimmed past the reader's cursor.
    proxy.freezeAll();
    for (let v = 1; v <= 3; v++) await writer.pushDelta('reset-watch', { base_version: v, merge_patch: { n: v } });
    expect(await writer.compactSession('reset-watch', { before_seq: 5 })).toEqual({ history_start: 4 });
    proxy.cutAll();
    await until(() => store.getSnapshot().version === 4, 'the store to read the state again');
    expect(store.getSnapshot().state).toEqual({ n: 3 });
    await writer.pushDelta('reset-watch', { base_version: 4, merge_patch: { m: 1 } });
    await until(() => store.getSnapshot().version === 5, 'the next delta');
    expect(store.getSnapshot().state).toEqual({ n: 3, m: 1 });
    expect(store.getSnapshot().state).toEqual((await writer.sync('reset-watch')).snapshot);
    store.close();
  });
});
