import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type SessionSyncClient, SessionSyncError } from '../../client/src/index.js';
import { freePort } from '../../src/db/embedded.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { seededRandom, TcpProxy } from '../helpers/proxy.js';
import { until } from '../helpers/waits.js';

// client.watchState against the real server: the store equals GET .../state.
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

/** Optimistic writes: read the head, write against it, and on version_conflict read again. */
async function writeAgainstHead(client: SessionSyncClient, id: string, write: (version: number, state: any) => Promise<unknown>) {
  for (;;) {
    const head = await client.sync(id);
    try {
      return await write(head.version, head.snapshot);
    } catch (error) {
      if (!(error instanceof SessionSyncError && error.code === 'version_conflict')) throw error;
    }
  }
}

describe('watchState', () => {
  it('equals GET .../state after concurrent writers mixing JSON Patch and merge patch, snapshots between, and reconnects', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    const id = 'mirror';
    await writer.createSession({ id });
    await writer.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { items: [], counters: { a: 0, b: 0 }, meta: {} } });

    const watcher = createClient({ baseUrl: proxy.url, retry: { attempts: 30, baseDelayMs: 5, maxDelayMs: 50 } });
    proxy.cutRandomly(42, 2500);
    const cutsBefore = proxy.cuts;
    const store = watcher.watchState<any>(id);
    let notifications = 0;
    const unsubscribe = store.subscribe(() => notifications++);
    try {
      const first = await store.ready;
      expect(first.status).toBe('live');

      const random = seededRandom(3);
      const patcher = async () => {
        for (let i = 0; i < 25; i++) {
          await writeAgainstHead(writer, id, (version, state) =>
            writer.pushDelta(id, {
              base_version: version,
              patch: [
                { op: 'test', path: '/counters/a', value: state.counters.a },
                { op: 'replace', path: '/counters/a', value: state.counters.a + 1 },
                { op: 'add', path: '/items/-', value: { by: 'patch', i } },
                ...(state.items.length > 6 ? [{ op: 'remove' as const, path: '/items/0' }] : []),
              ],
            }),
          );
        }
      };
      const merger = async () => {
        for (let i = 0; i < 25; i++) {
          await writeAgainstHead(writer, id, (version, state) =>
            writer.pushDelta(id, {
              base_version: version,
              merge_patch: { counters: { b: state.counters.b + 1 }, meta: { [`k${i % 4}`]: random() < 0.3 ? null : i } },
            }),
          );
        }
      };
      const snapshotter = async () => {
        for (let i = 0; i < 5; i++) {
          await writeAgainstHead(writer, id, (version, state) =>
            writer.putSnapshot(id, { base_version: version, schema_version: 1, snapshot: { ...state, items: state.items.slice(-2), snapshot: i } }),
          );
        }
      };
      await Promise.all([patcher(), merger(), snapshotter()]);

      const head = await writer.sync(id);
      await until(() => store.getSnapshot().version === head.version, `version ${head.version}`);
      const snapshot = store.getSnapshot();
      expect(snapshot.state).toEqual(head.snapshot);
      expect(snapshot.state.counters).toEqual({ a: 25, b: 25 });
      expect(proxy.cuts - cutsBefore).toBeGreaterThan(5);
      // useSyncExternalStore's contract: the same object until something changes, and frozen state.
      expect(store.getSnapshot()).toBe(snapshot);
      expect(Object.isFrozen(snapshot.state.items)).toBe(true);
      expect(notifications).toBeGreaterThan(0);
    } finally {
      proxy.calm();
      unsubscribe();
      store.close();
    }
    expect(store.getSnapshot().status).toBe('closed');
  });

  it('waits out a server that cannot be reached when it starts, then is exactly the server\'s state', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id: 'late' });
    await writer.putSnapshot('late', { base_version: 0, schema_version: 1, snapshot: { n: 1 } });
    const dead = await new TcpProxy(await freePort()).listen();
    const client = createClient({ baseUrl: dead.url, retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 20 } });
    const store = client.watchState('late');
    try {
      // Every connection is refused; the store keeps trying far past its request retries.
      await until(() => dead.connections > 10, 'many refused attempts');
      expect(store.getSnapshot().status).toBe('loading');
      dead.retarget(Number(new URL(t.baseUrl).port));
      expect(await store.ready).toMatchObject({ status: 'live', version: 1, state: { n: 1 } });
    } finally {
      store.close();
      await dead.close();
    }
  });

  it('follows activity and reads a session with no state as version 0, state null', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    await client.createSession({ id: 'empty' });
    const store = client.watchState('empty');
    try {
      expect(await store.ready).toMatchObject({ status: 'live', version: 0, state: null, activity: { status: 'idle' } });
      await client.setActivity('empty', { status: 'thinking' });
      await until(() => store.getSnapshot().activity?.status === 'thinking', 'the activity');
      await client.putSnapshot('empty', { base_version: 0, schema_version: 1, snapshot: { hello: 'world' } });
      await until(() => store.getSnapshot().version === 1, 'the first snapshot');
      expect(store.getSnapshot().state).toEqual({ hello: 'world' });
    } finally {
      store.close();
    }
  });

  it('applies merge patches as the server does (RFC 7396): null removes a member, an object replaces what is not one, a patch that is not an object replaces the state', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    const id = 'merge-rules';
    await client.createSession({ id });
    await client.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { gone: 1, empty: null, list: [1, 2], text: 'x', kept: { deep: [1] } } });
    const store = client.watchState<any>(id);
    const stateAt = async (version: number) => {
      await until(() => store.getSnapshot().version === version || store.getSnapshot().status === 'closed', `version ${version}`);
      expect(store.getSnapshot()).toMatchObject({ status: 'live', version });
      expect(store.getSnapshot().state).toEqual((await client.sync(id)).snapshot);
      return store.getSnapshot().state;
    };
    try {
      await store.ready;
      await client.pushDelta(id, { base_version: 1, merge_patch: { gone: null, empty: { a: 1 }, list: { b: 2 }, text: { c: 3 }, kept: { more: true } } });
      const merged = await stateAt(2);
      expect(merged).toEqual({ empty: { a: 1 }, list: { b: 2 }, text: { c: 3 }, kept: { deep: [1], more: true } });
      expect(Object.keys(merged)).toEqual(['empty', 'list', 'text', 'kept']);
      expect(Object.isFrozen(merged.kept.deep)).toBe(true);
      await client.pushDelta(id, { base_version: 2, merge_patch: null });
      expect(await stateAt(3)).toBeNull();
      await client.pushDelta(id, { base_version: 3, merge_patch: { fresh: { n: 1 } } });
      expect(await stateAt(4)).toEqual({ fresh: { n: 1 } });
    } finally {
      store.close();
    }
  });

  it('a binary session is an error that says to use sync; a missing session closes with 404', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    await client.createSession({ id: 'bytes', encoding: 'binary' });
    const store = client.watchState('bytes');
    await expect(store.ready).rejects.toThrow(/use sync\(\)/);
    expect(store.getSnapshot()).toMatchObject({ status: 'closed', error: { status: 409, code: 'encoding_mismatch', problem: { title: 'Binary session' } } });
    const missing = client.watchState('no-such-session');
    await expect(missing.ready).rejects.toMatchObject({ status: 404 });
    expect(missing.getSnapshot().status).toBe('closed');
  });
});
