import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../client/src/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { until } from '../helpers/waits.js';

// watchState's start-up against the real server, with a write landing
// between the requests it makes to start (the session read, the state read,
// the stream's opening): the store must end equal to the server's state,
// with that write neither lost nor applied twice.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
});
afterAll(async () => {
  await t?.close();
});

type Items = { items: string[] };

describe('watchState start-up races', () => {
  it.each([
    ['after the answer to its first read arrived, before the client sees it', 0, 'after'],
    ['after the answer to its second read arrived, before the client sees it', 1, 'after'],
    ['just before the stream request goes out', 2, 'before'],
  ] as const)('a write landing %s is in the store exactly once', async (_when, index, moment) => {
    const id = `race-${index}-${moment}`;
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id });
    await writer.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { items: ['first'] } });
    await writer.appendEvents(id, { events: [{ type: 'noise', data: 1 }] });

    // Adding to an array: a delta applied twice shows as a second 'between'.
    const write = () => writer.pushDelta(id, { base_version: 1, patch: [{ op: 'add', path: '/items/-', value: 'between' }] });
    const startRequests: string[] = [];
    let written = false;
    const fetchImpl: typeof fetch = async (input, init) => {
      const url = new URL(String(input));
      const mine = url.pathname.startsWith(`/v1/sessions/${id}`);
      const n = mine ? startRequests.push(url.pathname) - 1 : -1;
      if (n === index && moment === 'before' && !written) {
        written = true;
        await write();
      }
      const response = await fetch(input, init);
      if (n === index && moment === 'after' && !written) {
        written = true;
        await write();
      }
      return response;
    };
    const store = createClient({ baseUrl: t.baseUrl, fetch: fetchImpl }).watchState<Items>(id);
    try {
      // The write committed before the stream opened, so the first consistent snapshot holds it.
      expect(await store.ready).toMatchObject({ status: 'live', version: 2, state: { items: ['first', 'between'] } });
      expect(written).toBe(true);
      await writer.pushDelta(id, { base_version: 2, patch: [{ op: 'add', path: '/items/-', value: 'last' }] });
      await until(() => store.getSnapshot().version >= 3, 'the write after start-up');
      const head = await writer.sync(id);
      expect(store.getSnapshot()).toMatchObject({ status: 'live', version: 3, state: { items: ['first', 'between', 'last'] } });
      expect(store.getSnapshot().state).toEqual(head.snapshot);
      expect(store.getSnapshot().seq).toBe((await writer.getSession(id)).last_seq);
    } finally {
      store.close();
    }
  });

  it('a state.snapshot written while the store starts is read again before ready, and deltas after it apply on top', async () => {
    const id = 'race-snapshot';
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id });
    await writer.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { items: ['old'] } });
    let written = false;
    const fetchImpl: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!written && new URL(String(input)).pathname === `/v1/sessions/${id}/state`) {
        written = true;
        await writer.putSnapshot(id, { base_version: 1, schema_version: 1, snapshot: { items: ['new'] } });
      }
      return response;
    };
    const store = createClient({ baseUrl: t.baseUrl, fetch: fetchImpl }).watchState<Items>(id);
    try {
      expect(await store.ready).toMatchObject({ version: 2, state: { items: ['new'] } });
      await writer.pushDelta(id, { base_version: 2, patch: [{ op: 'add', path: '/items/-', value: 'after' }] });
      await until(() => store.getSnapshot().version >= 3, 'the delta after the snapshot');
      expect(store.getSnapshot()).toMatchObject({ version: 3, state: { items: ['new', 'after'] } });
    } finally {
      store.close();
    }
  });
});
